"""Partial shipment: an order ships in parcels, each of reserved units of its lines (line by line and by
quantity), each with its own carrier and tracking number (its own electronic waybill, parcel key
`<order id>-P<n>`); what is not reserved (backordered) stays behind and ships in a later parcel.

Each parcel emits its own order_shipped (`parcel`, `shipment_id` = its parcel key, `completes_order`)
carrying only its units and their share of each line's amount (domain.parcel_amount: cumulative, to the
cent, so an order's parcels add up to exactly its total): inventory issues those units, accounting posts
the parcel's sale and cost under its key, the shop connectors confirm the parcel's lines on the platform.
The order is `partly_shipped` until the last parcel carries its last unit, then `shipped`.

Refused with nothing changed: a line the order does not have, one not reserved (backordered, pending,
refunded), more units than reserved and not yet shipped, a packing scan of a SKU or quantity the parcel
does not hold or a serial scanned twice (422); an order held, cancelled or shipped whole, one of a merge
group, one in another currency than the books', an order flagged for the double check and not checked
by another user than the shipper (409). A flagged order needs a new check for each parcel.
"""
from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import bindparam, or_, select, update

from contracts import OrderShipped
from contracts.events import SoldLine
from hubkit import clock
from hubkit.db import UnitOfWork, changed
from hubkit.errors import Conflict, FieldErrors, NotFound
from services.order import domain, holds
from services.order.models import order_lines, order_parcel_lines, order_parcels, orders, sku_categories, waybills
from services.order.waybills import parcel_key

SHIPPABLE = (domain.RESERVED, domain.BACKORDERED, domain.PARTLY_SHIPPED)

_LINE_SHIPPED = (update(order_lines)
                 .where(order_lines.c.order_id == bindparam("p_order_id"), order_lines.c.line_no == bindparam("p_line_no"),
                        order_lines.c.reservation == domain.RESERVED,
                        order_lines.c.shipped_quantity == bindparam("p_before"))
                 .values(shipped_quantity=bindparam("p_after")))


def shipped_lines(s, order_id: str) -> dict[int, list[tuple[int, int]]]:
    """Per parcel number, its (line_no, quantity) sorted."""
    found: dict[int, list[tuple[int, int]]] = {}
    for r in s.execute(select(order_parcel_lines).where(order_parcel_lines.c.order_id == order_id)
                       .order_by(order_parcel_lines.c.parcel_no, order_parcel_lines.c.line_no)):
        found.setdefault(r.parcel_no, []).append((r.line_no, r.quantity))
    return found


def parcels_of(s, order_ids) -> dict[str, list[dict]]:
    """Per order, its parcels oldest first, each with its lines."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    lines: dict[tuple[str, int], list[dict]] = {}
    for r in s.execute(select(order_parcel_lines).where(order_parcel_lines.c.order_id.in_(ids))
                       .order_by(order_parcel_lines.c.line_no)):
        lines.setdefault((r.order_id, r.parcel_no), []).append(
            {"line_no": r.line_no, "quantity": r.quantity, "amount": r.amount})
    found: dict[str, list[dict]] = {}
    for p in s.execute(select(order_parcels).where(order_parcels.c.order_id.in_(ids))
                       .order_by(order_parcels.c.order_id, order_parcels.c.parcel_no)):
        found.setdefault(p.order_id, []).append({
            "parcel_no": p.parcel_no, "parcel_key": parcel_key(p.order_id, p.parcel_no), "carrier": p.carrier,
            "tracking_number": p.tracking_number, "amount": p.amount, "shipped_by": p.shipped_by,
            "shipped_at": p.shipped_at, "lines": lines.get((p.order_id, p.parcel_no), [])})
    return found


def _refuse(order, actor: str) -> None:
    """Conflict when the order cannot ship a parcel now (its state, its merge group, the double check)."""
    if order.merge_group and order.status in domain.OPEN:
        raise Conflict(f"order {order.id} ships with its merge group {order.merge_group} as a whole; "
                       "take it out of the group (unmerge) to ship it in parcels")
    if order.status not in SHIPPABLE:
        why = "held for review; release its holds first" if order.status == domain.HELD else order.status
        raise Conflict(f"order {order.id} is {why}; a parcel ships from an order reserved, backordered or "
                       "partly shipped")
    if order.exchange_rate is not None:
        raise Conflict(f"order {order.id} is in {order.currency}, not the books' currency: it ships whole")
    if order.double_check and order.double_checked_by is None:
        raise Conflict(f"order {order.id} needs a double check at outbound before each parcel: one user checks "
                       "it (POST /orders/{id}/double-check), another ships it")
    if order.double_check and order.double_checked_by == actor:
        raise Conflict(f"order {order.id} was double-checked by {actor}; the parcel must be shipped by another user")


def validate(current: dict, wanted: list[tuple[int, int]], scans: list[tuple[str, str]]) -> None:
    """422 naming the field: a line twice, unknown, not reserved, more units than reserved and not yet
    shipped; a packing scan of a SKU the parcel does not hold, other quantities than the parcel's, or a
    serial scanned twice."""
    errors = FieldErrors()
    if not wanted:
        errors.add("lines", "at least one line with units reserved and not yet shipped")
    if len({n for n, _ in wanted}) != len(wanted):
        errors.add("lines", "each line at most once")
    for i, (line_no, qty) in enumerate(wanted):
        line = current.get(line_no)
        if line is None:
            errors.add(f"lines[{i}].line_no", f"the order has no line {line_no}")
        elif line.reservation != domain.RESERVED:
            errors.add(f"lines[{i}].line_no", f"line {line_no} is {line.reservation}, not reserved: it cannot ship")
        elif not 0 < qty <= line.quantity - line.shipped_quantity:
            left = line.quantity - line.shipped_quantity
            errors.add(f"lines[{i}].quantity", f"from 1 to {left} (reserved and not yet shipped)" if left
                       else f"line {line_no} has shipped whole")
    if scans and not errors.items:
        expected = Counter({current[n].sku: 0 for n, _ in wanted})
        for n, q in wanted:
            expected[current[n].sku] += q
        scanned, serials = Counter(), set()
        for i, (sku, serial) in enumerate(scans):
            if sku not in expected:
                errors.add(f"scans[{i}].sku", f"{sku} is not in this parcel: wrong item scanned")
            scanned[sku] += 1
            if serial and serial in serials:
                errors.add(f"scans[{i}].serial", f"serial {serial} scanned twice")
            serials.add(serial)
        for sku, q in sorted(expected.items()):
            if scanned[sku] != q:
                errors.add("scans", f"{scanned[sku]} units of {sku} scanned, the parcel holds {q}")
    errors.raise_if_any("the parcel is invalid")


_CATEGORIES = select(sku_categories.c.sku, sku_categories.c.category).where(
    sku_categories.c.sku.in_(bindparam("p_skus", expanding=True)))


def sold_dimensions(s, order, skus) -> tuple[str, dict[str, str]]:
    """What the books' sales facts group an order_shipped by, beyond its channel and shop: the region
    (the shipping address's province) and each SKU's category as the order service knows it now."""
    return region_of(order), categories_of(s, skus)


def region_of(order) -> str:
    return str(json.loads(order.shipping_address or "{}").get("province") or "")


def categories_of(s, skus) -> dict[str, str]:
    return dict(s.execute(_CATEGORIES, {"p_skus": sorted(set(skus))}).tuples().all()) if skus else {}


def ship_parcel(uow: UnitOfWork, order_id: str, carrier: str, tracking_number: str,
                lines: list[tuple[int, int]] | None, scans: list[tuple[str, str]]) -> None:
    """Ship a parcel of reserved units (`lines`: (line_no, quantity); None: every reserved unit not yet
    shipped) and emit its order_shipped; the same parcel again (its carrier and tracking number, its
    lines) changes nothing. The order row is locked first, so parcels of an order are serialised."""
    s, now = uow.session, clock.now()
    order = s.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    before = shipped_lines(s, order_id)
    known = {(p.carrier, p.tracking_number): p.parcel_no for p in s.execute(
        select(order_parcels.c.parcel_no, order_parcels.c.carrier, order_parcels.c.tracking_number)
        .where(order_parcels.c.order_id == order_id))}
    if (carrier, tracking_number) in known:  # this very parcel, asked again
        if lines is None or sorted(lines) == before[known[(carrier, tracking_number)]]:
            return
        raise Conflict(f"{carrier} {tracking_number} is parcel {known[(carrier, tracking_number)]} of order "
                       f"{order_id}, with other lines")
    _refuse(order, uow.actor)
    current = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == order_id))}
    if lines is None:
        lines = [(n, l.quantity - l.shipped_quantity) for n, l in sorted(current.items())
                 if l.reservation == domain.RESERVED and l.quantity > l.shipped_quantity]
        if not lines:
            raise Conflict(f"order {order_id} has no reserved units left to ship")
    validate(current, lines, scans)
    parcel_no = max(before, default=0) + 1
    key = parcel_key(order_id, parcel_no)
    waybill = s.execute(select(waybills.c.carrier, waybills.c.tracking_number)
                        .where(waybills.c.parcel_key == key, waybills.c.status == "issued",
                               or_(waybills.c.claimed_until.is_(None), waybills.c.claimed_until < now))).first()
    if waybill is not None and not carrier and not tracking_number:  # ships on the parcel's waybill
        carrier, tracking_number = waybill.carrier, waybill.tracking_number
    elif waybill is not None and (carrier, tracking_number) != (waybill.carrier, waybill.tracking_number):
        raise Conflict(f"parcel {parcel_no} of order {order_id} holds the {waybill.carrier} waybill "
                       f"{waybill.tracking_number}; it ships with that one (send no carrier and tracking number)")
    domain.validate_shipment(carrier, tracking_number)
    sold, rows, total = [], [], domain.Decimal("0.00")
    for line_no, qty in sorted(lines):
        line = current[line_no]
        if not changed(s, _LINE_SHIPPED, {"p_order_id": order_id, "p_line_no": line_no,
                                          "p_before": line.shipped_quantity, "p_after": line.shipped_quantity + qty}):
            raise Conflict(f"line {line_no} of order {order_id} changed concurrently; try again")
        amount, amount_before = domain.parcel_amount(line.amount, line.quantity, line.shipped_quantity, qty)
        total += amount
        rows.append({"order_id": order_id, "parcel_no": parcel_no, "line_no": line_no, "quantity": qty,
                     "amount": amount})
        sold.append(SoldLine(line_no=line_no, sku=line.sku, quantity=qty, unit_price=line.unit_price, amount=amount,
                             warehouse=line.warehouse, amount_shipped_before=amount_before))
    region, categories = sold_dimensions(s, order, [l.sku for l in sold])
    sold = [l.model_copy(update={"category": categories.get(l.sku, "")}) for l in sold]
    shipped_now = dict(lines)
    complete = all(l.quantity == l.shipped_quantity + shipped_now.get(n, 0)
                   for n, l in current.items() if l.reservation != domain.REFUNDED)
    s.execute(order_parcels.insert().values(order_id=order_id, parcel_no=parcel_no, carrier=carrier,
                                            tracking_number=tracking_number, amount=total, shipped_by=uow.actor,
                                            shipped_at=now))
    s.execute(order_parcel_lines.insert(), rows)
    values: dict = {"status": domain.SHIPPED if complete else domain.PARTLY_SHIPPED, "updated_by": uow.actor,
                    "updated_at": now}
    if complete:
        values.update(carrier=carrier, tracking_number=tracking_number, shipped_at=now)
    elif order.double_check:  # the next parcel is checked again
        values.update(double_checked_by=None, double_checked_at=None)
    if not changed(s, update(orders).where(orders.c.id == order_id, orders.c.status == order.status).values(**values)):
        raise Conflict(f"order {order_id} changed concurrently; try again")
    holds.audit(uow, order_id, "ship_parcel", "", parcel=parcel_no, parcel_key=key, carrier=carrier,
                tracking_number=tracking_number, lines=[[n, q] for n, q in sorted(lines)], completes_order=complete)
    uow.emit(OrderShipped(
        order_id=order_id, channel=order.channel, shop=order.shop, external_order_id=order.external_order_id,
        currency=order.currency, buyer=json.loads(order.buyer), carrier=carrier, tracking_number=tracking_number,
        shipped_at=now, total=total, lines=sold, parcel=parcel_no, shipment_id=key, completes_order=complete,
        region=region),
        order_id)
