"""Refunds (售后): money given back for lines of an order, by an operator (the gateway) or the platform.

Before shipment a refund intercepts the line: the whole line (a platform refunds an unshipped sub-order
whole) is taken out of fulfilment (its reservation `refunded`), inventory releases what it reserved
(order_lines_released; the channels' sellable stock goes up from inventory's stock_changed), and the
order ships, and is invoiced, without it. The refund of an order's last line cancels the order
(order_cancelled, by the caller). After shipment a refund moves no goods (仅退款): order_refunded, and
accounting reverses the sale at the refunded amount. A refund never exceeds what was paid for a line and
not yet given back (returns and refunds); a cancelled order is refunded on the platform, not here."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update

from contracts import OrderLinesReleased, OrderRefunded
from contracts.events import OrderLineRef, RefundedSaleLine
from hubkit import clock
from hubkit.db import UnitOfWork, changed
from hubkit.errors import Conflict, FieldErrors, NotFound
from hubkit.money import cents, share
from services.order import domain, holds, reservation
from services.order.models import order_lines, order_refund_lines, order_refunds, orders

INTERCEPT, REFUND_ONLY = "intercept", "refund_only"
OPERATOR, CHANNEL = "operator", "channel"
MAX_REASON = 200


@dataclass(frozen=True)
class RefundLine:
    line_no: int
    quantity: int | None = None   # before shipment: the line's quantity (a line is refunded whole)
    amount: Decimal | None = None  # None: what is left to refund of the line


def refundable(line) -> Decimal:
    """What was paid for a line and not yet given back: by returns (their share of the line's amount)
    or refunds."""
    return line.amount - share(line.amount, line.returned_quantity, line.quantity) - line.refunded_amount


def refund(uow: UnitOfWork, order_id: str, wanted: list[RefundLine], reason: str = "",
           source: str = OPERATOR) -> tuple[str, str, bool]:
    """Refund lines of an order: intercepted before shipment, refund only after it (see the module).
    Returns (refund id, kind, whether every line of the order is now refunded: the caller cancels it).
    Bad input (an unknown line, an amount above what was paid and not yet given back, a partial line
    before shipment) is InvalidArgument; a cancelled order, or a line refunded whole already, a Conflict.
    Nothing changes on either."""
    s, now = uow.session, clock.now()
    order = s.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if order.status == domain.CANCELLED:
        raise Conflict(f"order {order_id} is cancelled; nothing of it ships or is invoiced, so nothing is refunded "
                       "here (the platform refunds the buyer)")
    if order.status == domain.PARTLY_SHIPPED:  # some lines invoiced, some not: neither kind fits yet
        raise Conflict(f"order {order_id} is partly shipped (services.order.parcels); refund it once its last "
                       "parcel has shipped")
    kind = INTERCEPT if order.status in domain.OPEN else REFUND_ONLY
    if kind == INTERCEPT and source == CHANNEL:  # the platform refunds an unshipped line whole
        wanted = [RefundLine(line_no=w.line_no) for w in wanted]
    current = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == order_id))}
    amounts = _validate(order_id, kind, wanted, current, reason)
    refund_id = uuid.uuid4().hex
    s.execute(order_refunds.insert().values(id=refund_id, order_id=order_id, kind=kind, source=source,
                                            reason=reason or "", created_by=uow.actor, created_at=now))
    refunded = []
    for line_no, amount in sorted(amounts.items()):
        line = current[line_no]
        if kind == INTERCEPT:
            taken = changed(s, update(order_lines).where(
                order_lines.c.order_id == order_id, order_lines.c.line_no == line_no,
                order_lines.c.reservation != domain.REFUNDED).values(
                reservation=domain.REFUNDED, refunded_amount=amount))
        else:
            taken = changed(s, update(order_lines).where(
                order_lines.c.order_id == order_id, order_lines.c.line_no == line_no,
                order_lines.c.refunded_amount == line.refunded_amount).values(
                refunded_amount=line.refunded_amount + amount))
        if not taken:
            raise Conflict(f"line {line_no} was refunded concurrently; try again")
        s.execute(order_refund_lines.insert().values(refund_id=refund_id, line_no=line_no, amount=amount,
                                                     quantity=line.quantity if kind == INTERCEPT else 0))
        refunded.append(line)
    holds.audit(uow, order_id, "refund", reason or "", refund_id=refund_id, kind=kind, source=source,
                lines=[{"line_no": n, "amount": str(a)} for n, a in sorted(amounts.items())])
    if kind == REFUND_ONLY:
        _refunded_after_shipment(uow, order, refund_id, reason, refunded, amounts, now)
        return refund_id, kind, False
    left = [l for n, l in current.items() if n not in amounts and l.reservation != domain.REFUNDED]
    if not left:
        return refund_id, kind, True
    if reservation.requested(s, order_id):  # inventory reserved (or will): it releases these lines
        uow.emit(OrderLinesReleased(order_id=order_id, released_at=now, reason=reason or "",
                                    lines=[OrderLineRef(line_no=l.line_no, sku=l.sku, quantity=l.quantity)
                                           for l in refunded]), order_id)
    if order.status != domain.HELD:  # the rest decides: e.g. a backordered order whose short line went is reserved
        s.execute(update(orders).where(orders.c.id == order_id).values(
            status=domain.order_status([l.reservation for l in left]), updated_by=uow.actor, updated_at=now))
    return refund_id, kind, False


def _validate(order_id: str, kind: str, wanted: list[RefundLine], current: dict, reason: str) -> dict[int, Decimal]:
    """The amount refunded per line, or InvalidArgument / Conflict naming what is wrong."""
    errors, amounts = FieldErrors(), {}
    if not wanted:
        errors.add("lines", "at least one line to refund")
    if len({w.line_no for w in wanted}) != len(wanted):
        errors.add("lines", "each line at most once")
    if len(reason or "") > MAX_REASON:
        errors.add("reason", f"at most {MAX_REASON} characters")
    conflicts = []
    for i, w in enumerate(wanted):
        line = current.get(w.line_no)
        if line is None:
            errors.add(f"lines[{i}].line_no", f"order has no line {w.line_no}")
            continue
        amount = w.amount
        if amount is not None:
            try:
                if not amount.is_finite() or amount <= 0 or cents(amount) != amount:
                    raise InvalidOperation
            except (InvalidOperation, AttributeError):
                errors.add(f"lines[{i}].amount", "an amount > 0 with at most two decimal places")
                continue
        if line.reservation == domain.REFUNDED:
            conflicts.append(f"line {w.line_no} was refunded before shipment already")
            continue
        if kind == INTERCEPT:
            if w.quantity is not None and w.quantity != line.quantity:
                errors.add(f"lines[{i}].quantity", f"before shipment a line is refunded whole: {line.quantity}")
            if amount is not None and amount > line.amount:
                errors.add(f"lines[{i}].amount", f"larger than what was paid for the line: {line.amount}")
            elif amount is not None and amount != line.amount:
                errors.add(f"lines[{i}].amount", f"before shipment a line is refunded whole: {line.amount}")
            amounts[w.line_no] = line.amount
        else:
            left = refundable(line)
            if w.quantity:
                errors.add(f"lines[{i}].quantity", "a refund after shipment moves no goods (no quantity); "
                                                   "goods sent back are a return (POST /orders/{id}/returns)")
            if left <= 0:
                conflicts.append(f"line {w.line_no} has nothing left to refund: all it was paid was given back")
            elif amount is not None and amount > left:
                errors.add(f"lines[{i}].amount", f"larger than what was paid and not yet refunded or returned: "
                                                 f"at most {left}")
            amounts[w.line_no] = left if amount is None else amount
    errors.raise_if_any("the refund is invalid")
    if conflicts:
        raise Conflict(f"order {order_id}: " + "; ".join(conflicts))
    return amounts


def _refunded_after_shipment(uow: UnitOfWork, order, refund_id: str, reason: str, lines: list,
                             amounts: dict[int, Decimal], now) -> None:
    """order_refunded: the sale reversed at the refunded amounts, no stock moved."""
    uow.emit(OrderRefunded(
        order_id=order.id, refund_id=refund_id, channel=order.channel, shop=order.shop,
        external_order_id=order.external_order_id, buyer=json.loads(order.buyer), reason=reason or "",
        refunded_at=now, kind="refund_only", currency=order.currency,
        lines=[RefundedSaleLine(line_no=l.line_no, sku=l.sku, amount=amounts[l.line_no],
                                amount_reversed_before=l.amount - refundable(l)) for l in lines],
        **({} if order.exchange_rate is None else {"exchange_rate": order.exchange_rate})), order.id)


def channel_refunded(s, order_id: str, lines) -> list[RefundLine]:
    """The lines of an open order the platform reports refunded (domain.CHANNEL_REFUNDED) and the hub has
    not intercepted yet, as a refund of them."""
    if not any((line.refund_status or "").lower() in domain.CHANNEL_REFUNDED for line in lines):
        return []  # the usual order: nothing to look up
    current = {l.line_no: l.reservation for l in s.execute(
        select(order_lines.c.line_no, order_lines.c.reservation).where(order_lines.c.order_id == order_id))}
    return [RefundLine(line_no=n) for n, line in enumerate(lines, start=1)
            if (line.refund_status or "").lower() in domain.CHANNEL_REFUNDED
            and current.get(n) not in (None, domain.REFUNDED)]
