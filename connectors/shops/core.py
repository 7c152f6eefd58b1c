"""Platform-neutral core of the shop connectors: a platform's order becomes the hub's channel
order (SKUs mapped, combinations exploded, amounts allocated), or is held as an exception."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from connectors.shops.allocate import allocate
from hubkit.money import cents, to_decimal


@dataclass(frozen=True)
class PlatformLine:
    line_id: str
    outer_sku: str
    quantity: int
    price: Decimal        # list price per unit
    paid: Decimal         # what the buyer paid for the line, order-level discounts and shipping allocated
    refund_status: str | None = None
    shipping: Decimal = Decimal(0)  # the part of `paid` that is the order's shipping, allocated to the line


@dataclass(frozen=True)
class PlatformOrder:
    """What a platform adapter makes of one of its orders."""
    platform: str
    shop: str
    external_order_id: str
    modified: datetime    # aware; its milliseconds are the version
    status: str           # awaiting_payment | paid | shipped | completed | cancelled
    paid_total: Decimal   # what the buyer paid for the whole order
    lines: list[PlatformLine]
    buyer: dict = field(default_factory=dict)
    address: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)
    buyer_message: str = ""  # what the buyer wrote to the seller (Taobao buyer_message, JD orderRemark)
    problem: Held | None = None  # why the platform's record cannot be read (normalize found it broken)

    @property
    def version(self) -> int:
        return int(self.modified.timestamp() * 1000)


@dataclass(frozen=True)
class PlatformRefund:
    """What a platform adapter makes of one of its refunds (售后 / 退款单) of one line."""
    platform: str
    shop: str
    refund_id: str
    external_order_id: str
    line_id: str          # the platform's line, as PlatformLine.line_id
    amount: Decimal       # what the platform gives back
    status: str           # waiting | success | closed | broken (unreadable: held)
    goods_return: bool    # the buyer sends goods back (退货退款)
    platform_status: str  # as the platform says it
    modified: datetime    # aware; its milliseconds are the version
    raw: dict = field(default_factory=dict)

    @property
    def version(self) -> int:
        return int(self.modified.timestamp() * 1000)


class Held(Exception):
    """The order cannot go to the hub as it is: held in the exception list, never guessed."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def hub_order(po: PlatformOrder, mappings: dict[str, list[dict]]) -> dict:
    """The channel_order_changed payload for `po`; raises Held when a person must decide."""
    if po.problem is not None:
        raise po.problem
    if not po.address.get("recipient") or not po.address.get("street"):
        raise Held("unparseable_address", "the shipping address has no recipient or street")
    if sum((l.paid for l in po.lines), Decimal(0)) != cents(po.paid_total):
        raise Held("amount_mismatch", f"lines add up to {sum((l.paid for l in po.lines), Decimal(0))}, "
                                      f"the buyer paid {po.paid_total}")
    unmapped = sorted({l.outer_sku for l in po.lines if l.outer_sku not in mappings})
    if unmapped:
        raise Held("unmapped_sku", f"no hub SKU for platform SKU(s) {', '.join(unmapped)}")
    lines, line_ids, line_goods = [], [], []
    for line in po.lines:
        components = mappings[line.outer_sku]
        units = [c["quantity"] * line.quantity for c in components]
        weights = [Decimal(u) for u in units]
        for component, qty, paid, goods in zip(components, units, allocate(weights, line.paid),
                                               allocate(weights, line.paid - line.shipping)):
            lines.append({"sku": component["sku"], "quantity": qty, "unit_price": str(cents(paid / qty)),
                          "amount": str(paid), "refund_status": line.refund_status})
            line_ids.append(line.line_id)
            line_goods.append(str(goods))
    order = {"channel": po.platform, "shop": po.shop, "external_order_id": po.external_order_id,
             "version": po.version, "status": po.status, "currency": "CNY", "buyer": po.buyer,
             "shipping_address": po.address, "lines": lines, "platform_line_ids": line_ids,
             "platform_line_goods": line_goods}
    if po.buyer_message.strip():  # only when there is one, so the event stays as it was without
        order["buyer_message"] = po.buyer_message.strip()[:500]
    return order


def amount(record: dict, *names: str) -> Decimal:
    """The first of `names` that `record` has (not None or ""), exactly: a string, an int or a Decimal
    parsed from the JSON text (connectors.shops.platform); a float is refused (hubkit.money). 0 if none."""
    value = next((record[n] for n in names if record.get(n) not in (None, "")), "0")
    return to_decimal(value)


def missing_field(raw: dict, required: tuple[str, ...], lines_key: tuple[str, ...] = (),
                  line_required: tuple[str, ...] = ()) -> str | None:
    """The first required field absent (or empty) from a platform record, as a path such as
    `modified` or `orders.order[1].oid`; "a|b" is satisfied by either. None when all are there."""
    def absent(record: dict, name: str) -> bool:
        return all(record.get(n) in (None, "") for n in name.split("|"))

    for name in required:
        if absent(raw, name):
            return name
    items: object = raw
    for key in lines_key:
        items = (items or {}).get(key) if isinstance(items, dict) else None
    for n, item in enumerate(items if isinstance(items, list) else []):
        for name in line_required:
            if not isinstance(item, dict) or absent(item, name):
                return f"{'.'.join(lines_key)}[{n}].{name}"
    return None


def broken_order(platform: str, shop: str, raw: dict, id_fields: tuple[str, ...], modified: datetime,
                 reason: str, detail: str) -> PlatformOrder:
    """A platform record that cannot be normalised, as an order to hold (never guessed into the hub).
    Without an order id it is named after its content; without a modified time it is versioned now."""
    order_id = next((str(raw[f]) for f in id_fields if raw.get(f) not in (None, "")), None)
    if order_id is None:
        order_id = "unknown-" + hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return PlatformOrder(platform=platform, shop=shop, external_order_id=order_id, modified=modified,
                         status="paid", paid_total=Decimal(0), lines=[], raw=raw, problem=Held(reason, detail))


def broken_refund(platform: str, shop: str, raw: dict, id_field: str, missing: str) -> PlatformRefund:
    """A platform refund that cannot be read (a required field absent), to hold as an exception rather
    than fail every pull of the shop; named after its id, or its content without one."""
    refund_id = str(raw[id_field]) if raw.get(id_field) not in (None, "") else \
        "unknown-" + hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return PlatformRefund(platform=platform, shop=shop, refund_id=refund_id, external_order_id="", line_id="",
                          amount=Decimal(0), status="broken", goods_return=False,
                          platform_status=f"no {missing}", modified=datetime.now().astimezone(), raw=raw)


def components_json(components: list[dict]) -> str:
    return json.dumps([{"sku": c["sku"], "quantity": int(c["quantity"])} for c in components])
