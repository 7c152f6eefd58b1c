"""Platform-neutral core of the shop connectors: a platform's order becomes the hub's channel
order (SKUs mapped, combinations exploded, amounts allocated), or is held as an exception."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from connectors.shops.allocate import allocate
from hubkit.money import cents


@dataclass(frozen=True)
class PlatformLine:
    line_id: str
    outer_sku: str
    quantity: int
    price: Decimal        # list price per unit
    paid: Decimal         # what the buyer paid for the line, order-level discounts and shipping allocated
    refund_status: str | None = None


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
    if not po.address.get("recipient") or not po.address.get("street"):
        raise Held("unparseable_address", "the shipping address has no recipient or street")
    if sum((l.paid for l in po.lines), Decimal(0)) != cents(po.paid_total):
        raise Held("amount_mismatch", f"lines add up to {sum((l.paid for l in po.lines), Decimal(0))}, "
                                      f"the buyer paid {po.paid_total}")
    unmapped = sorted({l.outer_sku for l in po.lines if l.outer_sku not in mappings})
    if unmapped:
        raise Held("unmapped_sku", f"no hub SKU for platform SKU(s) {', '.join(unmapped)}")
    lines, line_ids = [], []
    for line in po.lines:
        components = mappings[line.outer_sku]
        units = [c["quantity"] * line.quantity for c in components]
        for component, qty, paid in zip(components, units, allocate([Decimal(u) for u in units], line.paid)):
            lines.append({"sku": component["sku"], "quantity": qty, "unit_price": str(cents(paid / qty)),
                          "amount": str(paid), "refund_status": line.refund_status})
            line_ids.append(line.line_id)
    return {"channel": po.platform, "shop": po.shop, "external_order_id": po.external_order_id,
            "version": po.version, "status": po.status, "currency": "CNY", "buyer": po.buyer,
            "shipping_address": po.address, "lines": lines, "platform_line_ids": line_ids}


def components_json(components: list[dict]) -> str:
    return json.dumps([{"sku": c["sku"], "quantity": int(c["quantity"])} for c in components])
