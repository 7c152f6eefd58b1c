"""Return documents (RMA, 退货退款 and 换货): goods a buyer sends back after shipment, step by step.

requested (by an operator, or a shop connector's platform refund-with-return: `external_id` makes it
idempotent) -> received (scanned at a warehouse: a SKU the RMA does not ask back, or more than it asks,
is refused) -> inspected (per line: resellable units back to sellable stock, damaged ones quarantined or
scrapped; order_returned with `refund_deferred`, so inventory restocks at the cost the units left with and
accounting waits for the refund) -> refunded (a return: the returned units' share of what was paid,
order_refunded, the credit to the receivable) or exchanged (an exchange: a replacement order of the
requested SKUs at zero price, reserved and shipped as any order; no money moves).

An RMA holds its units of the order's lines from its creation: a return or another RMA cannot take them.
Every step is audited on the order (`rma_<step>`, with the RMA's id) and shown on the RMA."""
from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update

from contracts import OrderRefunded, OrderReturned
from contracts.events import RefundedSaleLine, ReturnedSaleLine
from hubkit import clock
from hubkit.db import UnitOfWork, changed
from hubkit.errors import Conflict, FieldErrors, NotFound
from services.order import domain, holds
from services.order.models import order_audit, order_lines, orders, rma_lines, rmas

RETURN, EXCHANGE = "return", "exchange"
REQUESTED, RECEIVED, INSPECTED, REFUNDED, EXCHANGED = "requested", "received", "inspected", "refunded", "exchanged"
QUARANTINE, SCRAP = "quarantine", "scrap"
MAX_REASON, MAX_SCANS = 200, 1000
# an RMA holds its units until it has reversed them (refunded: the line's returned_quantity took them)
HOLDING = (REQUESTED, RECEIVED, INSPECTED)


@dataclass(frozen=True)
class RmaLine:
    line_no: int
    quantity: int
    replacement_sku: str = ""  # an exchange: the SKU sent instead (empty: the same SKU)


@dataclass(frozen=True)
class Scan:
    sku: str
    serial: str = ""
    quantity: int = 1


@dataclass(frozen=True)
class Inspection:
    line_no: int
    resellable: int
    damaged: int = 0
    disposition: str = ""  # of the damaged units: quarantine | scrap


def held_by_rmas(s, order_id: str) -> dict[int, int]:
    """Units of each line of an order that open RMAs (and every exchange, whose units stay sold) hold."""
    rows = s.execute(select(rma_lines.c.line_no, func.sum(rma_lines.c.quantity))
                     .select_from(rma_lines.join(rmas, rmas.c.id == rma_lines.c.rma_id))
                     .where(rmas.c.order_id == order_id,
                            (rmas.c.status.in_(HOLDING)) | (rmas.c.kind == EXCHANGE))
                     .group_by(rma_lines.c.line_no)).all()
    return {n: int(q) for n, q in rows}


def create(uow: UnitOfWork, order_id: str, kind: str, wanted: list[RmaLine], reason: str = "",
           external_id: str = "") -> tuple[str, bool]:
    """A new RMA (requested) of shipped units of an order; (its id, created). The same `external_id` again
    is that RMA (created False); an unknown order is NotFound, one not shipped a Conflict, more than
    was shipped and not yet returned (or held by another RMA) InvalidArgument. Nothing changes on those."""
    s, now = uow.session, clock.now()
    # the order row first: a concurrent request with the same external id waits, then finds that RMA
    order = s.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    if external_id:
        known = s.execute(select(rmas.c.id, rmas.c.order_id).where(rmas.c.external_id == external_id)).first()
        if known is not None:
            if known.order_id != order_id:
                raise Conflict(f"RMA external id {external_id} belongs to order {known.order_id}")
            return known.id, False
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if order.status not in (domain.SHIPPED, domain.RETURNED):
        raise Conflict(f"order {order_id} is {order.status}; only shipped goods can come back")
    current = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == order_id))}
    held, errors = held_by_rmas(s, order_id), FieldErrors()
    if kind not in (RETURN, EXCHANGE):
        errors.add("kind", f"one of {RETURN}, {EXCHANGE}")
    if not wanted:
        errors.add("lines", "at least one line")
    if len({w.line_no for w in wanted}) != len(wanted):
        errors.add("lines", "each line at most once")
    if len(reason or "") > MAX_REASON:
        errors.add("reason", f"at most {MAX_REASON} characters")
    if external_id and (len(external_id) > 64 or not domain.CODE.match(external_id)):
        errors.add("external_id", "1-64 letters, digits, '.', '_' or '-'")
    for i, w in enumerate(wanted):
        line = current.get(w.line_no)
        if line is None:
            errors.add(f"lines[{i}].line_no", f"order has no line {w.line_no}")
            continue
        left = 0 if line.reservation == domain.REFUNDED else \
            line.quantity - line.returned_quantity - held.get(w.line_no, 0)
        if not 0 < w.quantity <= left:
            errors.add(f"lines[{i}].quantity", f"from 1 to {left} (shipped, not yet returned nor in another RMA)"
                       if left > 0 else "nothing of this line is left to come back")
        if w.replacement_sku and (kind != EXCHANGE or not domain.CODE.match(w.replacement_sku)):
            errors.add(f"lines[{i}].replacement_sku", "a SKU code, for an exchange only")
    errors.raise_if_any("the RMA is invalid")
    rma_id = uuid.uuid4().hex
    s.execute(rmas.insert().values(id=rma_id, order_id=order_id, external_id=external_id or None, kind=kind,
                                   status=REQUESTED, reason=reason or "", created_by=uow.actor, created_at=now,
                                   updated_at=now))
    s.execute(rma_lines.insert(), [dict(rma_id=rma_id, line_no=w.line_no, sku=current[w.line_no].sku,
                                        quantity=w.quantity, replacement_sku=w.replacement_sku) for w in wanted])
    holds.audit(uow, order_id, "rma_requested", reason or "", rma_id=rma_id, kind=kind, external_id=external_id,
                lines=[{"line_no": w.line_no, "quantity": w.quantity} for w in wanted])
    return rma_id, True


def _locked(s, rma_id: str, *allowed: str):
    row = s.execute(select(rmas).where(rmas.c.id == rma_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"RMA {rma_id} not found")
    if row.status not in allowed:
        raise Conflict(f"RMA {rma_id} is {row.status}; this step needs it {' or '.join(allowed)}")
    return row, {l.line_no: l for l in s.execute(select(rma_lines).where(rma_lines.c.rma_id == rma_id))}


def receive(uow: UnitOfWork, rma_id: str, warehouse: str, scans: list[Scan]) -> None:
    """Goods scanned in at a warehouse (more scans may follow while it is received). A SKU the RMA does not
    ask back, or more units than it asks, is InvalidArgument, and nothing is received."""
    s, now = uow.session, clock.now()
    rma, lines = _locked(s, rma_id, REQUESTED, RECEIVED)
    errors = FieldErrors()
    if not scans:
        errors.add("scans", "at least one scan")
    if len(scans) > MAX_SCANS:
        errors.add("scans", f"at most {MAX_SCANS}")
    if not warehouse or not domain.CODE.match(warehouse):
        errors.add("warehouse", "the warehouse the goods arrived at")
    elif rma.warehouse and rma.warehouse != warehouse:
        errors.add("warehouse", f"the RMA's goods are received at {rma.warehouse}")
    left_from = set(s.execute(select(order_lines.c.warehouse).where(
        order_lines.c.order_id == rma.order_id, order_lines.c.line_no.in_(list(lines)))).scalars()) - {None}
    if warehouse and left_from and warehouse not in left_from:  # restocked where they left from
        errors.add("warehouse", f"the goods left from {', '.join(sorted(left_from))}: receive them there")
    room = {n: l.quantity - l.received for n, l in lines.items()}
    got: dict[int, int] = defaultdict(int)
    serials: dict[int, list[str]] = defaultdict(list)
    for i, scan in enumerate(scans):
        if scan.quantity <= 0 or (scan.serial and scan.quantity != 1):
            errors.add(f"scans[{i}].quantity", "at least 1 (exactly 1 with a serial)")
            continue
        matching = [n for n, l in sorted(lines.items()) if l.sku == scan.sku]
        if not matching:
            errors.add(f"scans[{i}].sku", f"{scan.sku} is not on this RMA (it asks back "
                                          f"{', '.join(sorted({l.sku for l in lines.values()}))})")
            continue
        left = scan.quantity
        for n in matching:
            take = min(left, room[n] - got[n])
            got[n] += take
            left -= take
            if scan.serial and take:
                serials[n].append(scan.serial)
        if left:
            errors.add(f"scans[{i}].quantity", f"more {scan.sku} than the RMA asks back "
                                               f"({sum(lines[n].quantity for n in matching)})")
    errors.raise_if_any("the scans are refused")
    for n, q in got.items():
        if q:
            s.execute(update(rma_lines).where(rma_lines.c.rma_id == rma_id, rma_lines.c.line_no == n).values(
                received=rma_lines.c.received + q, serials=json.dumps(json.loads(lines[n].serials) + serials[n])))
    s.execute(update(rmas).where(rmas.c.id == rma_id).values(status=RECEIVED, warehouse=warehouse, updated_at=now))
    holds.audit(uow, rma.order_id, "rma_received", "", rma_id=rma_id, warehouse=warehouse,
                lines=[{"line_no": n, "quantity": q} for n, q in sorted(got.items()) if q])


def inspect(uow: UnitOfWork, rma_id: str, inspections: list[Inspection], note: str = "") -> None:
    """Each received line judged: resellable + damaged = received (more is InvalidArgument: nothing is
    inspected). order_returned (refund_deferred) carries the units to inventory: the resellable back to
    sellable stock, the damaged into quarantine or scrapped, all at the cost they left with."""
    s, now = uow.session, clock.now()
    rma, lines = _locked(s, rma_id, RECEIVED)
    errors = FieldErrors()
    given = {i.line_no for i in inspections}
    if len(given) != len(inspections):
        errors.add("lines", "each line at most once")
    for n, l in sorted(lines.items()):
        if l.received and n not in given:
            errors.add("lines", f"line {n} received {l.received}: inspect it")
    for i, insp in enumerate(inspections):
        line = lines.get(insp.line_no)
        if line is None:
            errors.add(f"lines[{i}].line_no", f"the RMA has no line {insp.line_no}")
            continue
        if insp.resellable < 0 or insp.damaged < 0 or insp.resellable + insp.damaged != line.received:
            errors.add(f"lines[{i}]", f"resellable + damaged must be the {line.received} received "
                                      f"(not {insp.resellable} + {insp.damaged})")
        if insp.damaged and insp.disposition not in (QUARANTINE, SCRAP):
            errors.add(f"lines[{i}].disposition", f"the damaged units go to {QUARANTINE} or {SCRAP}")
        if not insp.damaged and insp.disposition:
            errors.add(f"lines[{i}].disposition", "only with damaged units")
    if len(note or "") > MAX_REASON:
        errors.add("note", f"at most {MAX_REASON} characters")
    errors.raise_if_any("the inspection is invalid")
    order = s.execute(select(orders).where(orders.c.id == rma.order_id)).first()
    current = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == rma.order_id))}
    returned = []
    for insp in sorted(inspections, key=lambda x: x.line_no):
        s.execute(update(rma_lines).where(rma_lines.c.rma_id == rma_id, rma_lines.c.line_no == insp.line_no)
                  .values(resellable=insp.resellable, damaged=insp.damaged, disposition=insp.disposition))
        qty = insp.resellable + insp.damaged
        if qty:
            line = current[insp.line_no]
            returned.append(ReturnedSaleLine(
                line_no=line.line_no, sku=line.sku, quantity=qty, unit_price=line.unit_price, warehouse=line.warehouse,
                damaged=insp.damaged, disposition=insp.disposition, **domain.returned_amounts(line, qty)))
    s.execute(update(rmas).where(rmas.c.id == rma_id).values(status=INSPECTED, updated_at=now))
    holds.audit(uow, rma.order_id, "rma_inspected", note or "", rma_id=rma_id,
                lines=[{"line_no": i.line_no, "resellable": i.resellable, "damaged": i.damaged,
                        "disposition": i.disposition} for i in inspections])
    if returned:
        uow.emit(OrderReturned(
            order_id=order.id, return_id=rma_id, channel=order.channel, shop=order.shop,
            external_order_id=order.external_order_id, buyer=json.loads(order.buyer), reason=rma.reason,
            returned_at=now, lines=returned, currency=order.currency, refund_deferred=True,
            **({} if order.exchange_rate is None else {"exchange_rate": order.exchange_rate})), order.id)


def settle(uow: UnitOfWork, rma_id: str, place) -> None:
    """The last step of an inspected RMA. A return is refunded: each line's returned units' share of what
    was paid (cumulative, so a line's returns add up to exactly its amount) goes back, order_refunded,
    the credit to the receivable; the order's lines count the units returned. An exchange places the
    replacement order (`place(uow, cmd)` -> order id) of the requested SKUs at zero price."""
    s, now = uow.session, clock.now()
    rma, lines = _locked(s, rma_id, INSPECTED)
    order = s.execute(select(orders).where(orders.c.id == rma.order_id).with_for_update()).first()
    current = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == order.id))}
    if rma.kind == EXCHANGE:
        cmd = domain.PlaceOrder(
            channel=order.channel, shop=order.shop, external_order_id=f"{order.external_order_id}-X{rma_id[:8]}"[-64:],
            buyer=json.loads(order.buyer), shipping_address=json.loads(order.shipping_address),
            currency=order.currency, exchange_rate=order.exchange_rate,
            lines=[domain.LineInput(sku=l.replacement_sku or l.sku, quantity=l.received, unit_price=Decimal("0.00"))
                   for _, l in sorted(lines.items()) if l.received])
        replacement = place(uow, cmd)
        s.execute(update(rmas).where(rmas.c.id == rma_id).values(status=EXCHANGED, replacement_order_id=replacement,
                                                                 updated_at=now))
        holds.audit(uow, order.id, "rma_exchanged", "", rma_id=rma_id, replacement_order_id=replacement)
        return
    refunded, amounts = [], {}
    for n, l in sorted(lines.items()):
        if not l.received:
            continue
        line = current[n]
        paid = domain.returned_amounts(line, l.received)
        if not changed(s, update(order_lines).where(
                order_lines.c.order_id == order.id, order_lines.c.line_no == n,
                order_lines.c.returned_quantity == line.returned_quantity)
                .values(returned_quantity=line.returned_quantity + l.received)):
            raise Conflict(f"line {n} was returned concurrently; try again")
        s.execute(update(rma_lines).where(rma_lines.c.rma_id == rma_id, rma_lines.c.line_no == n)
                  .values(amount=paid["amount"]))
        amounts[n] = paid["amount"]
        refunded.append(RefundedSaleLine(line_no=n, sku=line.sku, amount=paid["amount"],
                                         amount_reversed_before=paid["amount_returned_before"] + line.refunded_amount))
    left = s.execute(select(func.sum(order_lines.c.quantity - order_lines.c.returned_quantity))
                     .where(order_lines.c.order_id == order.id, order_lines.c.reservation != domain.REFUNDED)).scalar()
    s.execute(update(orders).where(orders.c.id == order.id).values(
        status=domain.RETURNED if not left else domain.SHIPPED, updated_by=uow.actor, updated_at=now))
    s.execute(update(rmas).where(rmas.c.id == rma_id).values(status=REFUNDED, updated_at=now))
    holds.audit(uow, order.id, "rma_refunded", "", rma_id=rma_id,
                lines=[{"line_no": n, "amount": str(a)} for n, a in sorted(amounts.items())])
    if refunded:
        uow.emit(OrderRefunded(
            order_id=order.id, refund_id=rma_id, channel=order.channel, shop=order.shop,
            external_order_id=order.external_order_id, buyer=json.loads(order.buyer), reason=rma.reason,
            refunded_at=now, kind="rma", currency=order.currency, lines=refunded,
            **({} if order.exchange_rate is None else {"exchange_rate": order.exchange_rate})), order.id)


def read(s, rma_id: str) -> dict:
    """The RMA, its lines and its steps (who, when, what) from the order's audit."""
    rma = s.execute(select(rmas).where(rmas.c.id == rma_id)).first()
    if rma is None:
        raise NotFound(f"RMA {rma_id} not found")
    lines = s.execute(select(rma_lines).where(rma_lines.c.rma_id == rma_id).order_by(rma_lines.c.line_no)).all()
    steps = [dict(e._mapping) for e in s.execute(
        select(order_audit).where(order_audit.c.order_id == rma.order_id, order_audit.c.action.like("rma_%"))
        .order_by(order_audit.c.at, order_audit.c.id))]
    steps = [e for e in steps if json.loads(e["detail"]).get("rma_id") == rma_id]
    return {**dict(rma._mapping), "lines": [dict(l._mapping, serials=json.loads(l.serials)) for l in lines],
            "steps": [{"step": e["action"][4:], "actor": e["actor"], "at": e["at"], "note": e["note"],
                       "detail": json.loads(e["detail"])} for e in steps]}
