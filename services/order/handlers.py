"""Order use cases: one function per command or event."""
from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, case, cast, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from contracts import OrderCancelled, OrderMoved, OrderPlaced, OrderReturned, OrderShipped
from contracts.events import OrderLineRef, PlacedLine, ReturnedSaleLine, SoldLine
from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc, changed, dialect_insert
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from hubkit.inbox import on_behalf_of
from hubkit.sql import chunks, once_per_dialect
from services.order import domain, holds, merge, parcels, refunds, reservation, review, rma
from services.order.models import (
    order_holds,
    order_lines,
    order_return_lines,
    order_returns,
    orders,
    review_decisions,
    waybills,
)
from services.order.waybills import parcel_key

log = logging.getLogger(__name__)


def place_order(uow: UnitOfWork, cmd: domain.PlaceOrder, review_first: bool = False,
                channel: tuple[int, str] | None = None) -> tuple[str, bool]:
    """Create the order and emit order_placed; an order already known by
    (channel, shop, external id) is returned as it is, with created=False. With review_first (the
    review stage before_reservation, services.order.reservation) the new order is reviewed now and
    emits order_placed only when approved (a held one when it is released). `channel`: the channel's
    (version, status) of the order, for one pulled from a shop."""
    order_id, written = _place(uow, cmd, review_first, channel)
    return order_id, written is not None


def placed_order(uow: UnitOfWork, cmd: domain.PlaceOrder, review_first: bool = False) -> tuple[dict, bool]:
    """place_order, answering with the order as read_order gives it: built from what was written when
    it was placed now (no read-back; read back after a review at placement), read when it was known already."""
    order_id, written = _place(uow, cmd, review_first)
    return (written, True) if written is not None else (read_order(uow.session, order_id), False)


@once_per_dialect
def _insert_order(s):
    return dialect_insert(s, orders).on_conflict_do_nothing(index_elements=["channel", "shop", "external_order_id"])


_INSERT_LINES = order_lines.insert()
_KNOWN_ORDER = select(orders.c.id).where(orders.c.channel == bindparam("channel"), orders.c.shop == bindparam("shop"),
                                         orders.c.external_order_id == bindparam("external_order_id"))


def _place(uow: UnitOfWork, cmd: domain.PlaceOrder, review_first: bool = False,
           channel: tuple[int, str] | None = None) -> tuple[str, dict | None]:
    """(order id, the order as written) of a new order; (its id, None) of one known already."""
    domain.validate(cmd)
    s, now = uow.session, clock.now()
    order_id = uuid.uuid4().hex
    lines: list[dict[str, Any]] = [dict(order_id=order_id, line_no=i + 1, sku=l.sku, quantity=l.quantity,
                  unit_price=l.unit_price, amount=domain.line_amount(l), reservation=domain.PENDING,
                  refund_status=l.refund_status)
             for i, l in enumerate(cmd.lines)]
    total = sum((l["amount"] for l in lines), start=domain.Decimal("0.00"))
    buyer, address = json.dumps(cmd.buyer, ensure_ascii=False), json.dumps(cmd.shipping_address, ensure_ascii=False)
    order = dict(id=order_id, channel=cmd.channel, shop=cmd.shop, external_order_id=cmd.external_order_id,
                 buyer=buyer, shipping_address=address,
                 currency=cmd.currency, exchange_rate=cmd.exchange_rate, total=total, status=domain.PENDING,
                 buyer_message=cmd.buyer_message,
                 customer_key=domain.customer_key(cmd.channel, cmd.buyer),
                 merge_key=domain.merge_key(cmd.channel, cmd.shop, domain.customer_key(cmd.channel, cmd.buyer),
                                            cmd.shipping_address),
                 placed_priority=cmd.priority, ship_by=cmd.ship_by,
                 reservation_requested_at=None if review_first else now,
                 created_by=uow.actor, created_at=now, updated_by=uow.actor, updated_at=now)
    if channel is not None:
        order["channel_version"], order["channel_status"] = channel
    if not changed(s, _insert_order(s), order):
        existing = s.execute(_KNOWN_ORDER, {"channel": cmd.channel, "shop": cmd.shop,
                                            "external_order_id": cmd.external_order_id}).scalar_one()
        return existing, None
    s.execute(_INSERT_LINES, lines)
    if review_first:  # reviewed now; order_placed once approved, or once a held order is released
        review.review_placed(uow, order_id)
        reservation.request(uow, order_id)
        return order_id, read_order(s, order_id)
    uow.emit(OrderPlaced(
        order_id=order_id, channel=cmd.channel, shop=cmd.shop, external_order_id=cmd.external_order_id,
        currency=cmd.currency, total=total, placed_at=now, buyer=cmd.buyer, shipping_address=cmd.shipping_address,
        lines=[PlacedLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"], unit_price=l["unit_price"])
               for l in lines],
        # set only when given, so the event stays as it was for orders without them
        **({"priority": cmd.priority} if cmd.priority else {}), **({"ship_by": cmd.ship_by} if cmd.ship_by else {})),
        order_id)
    # the row as read back: the columns left to their defaults, the JSON columns parsed
    order.update(buyer=json.loads(buyer), shipping_address=json.loads(address),
                 carrier=None, tracking_number=None, shipped_at=None,
                 channel_version=channel[0] if channel else 0, channel_status=channel[1] if channel else None,
                 merge_group=None, merged_with=[], holds=[], parcels=[],
                 lines=[{**l, "warehouse": None, "returned_quantity": 0} for l in lines])
    return order_id, order


def apply_channel_order(uow: UnitOfWork, co: domain.ChannelOrder,
                        review_first: bool = False) -> tuple[str | None, str]:
    """A channel's view of an order (from a shop connector or a storefront webhook), applied
    once per version: a new paid order is placed; a newer version cancels it before shipping
    (its reservation is released), records refunds and address changes; an older or repeated
    version changes nothing. Returns (order id or None, what happened)."""
    cmd = co.order
    row = uow.session.execute(select(orders).where(orders.c.channel == cmd.channel, orders.c.shop == cmd.shop,
                                                   orders.c.external_order_id == cmd.external_order_id)).first()
    return _apply_channel_order(uow, co, row, review_first)


def apply_channel_orders(uow: UnitOfWork, batch: list[tuple[domain.ChannelOrder, Envelope]],
                         review_first: bool = False) -> None:
    """apply_channel_order for a delivery of them, each on behalf of its own envelope: the orders the hub
    knows are read in one query (an order a second time in the batch is read again: the first may have
    placed or changed it)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for co, _ in batch:
        wanted.setdefault((co.order.channel, co.order.shop), set()).add(co.order.external_order_id)
    known: dict[tuple[str, str, str], Any] = {}
    for (channel, shop), ids in wanted.items():
        for chunk in chunks(sorted(ids)):
            for row in uow.session.execute(select(orders).where(
                    orders.c.channel == channel, orders.c.shop == shop, orders.c.external_order_id.in_(chunk))):
                known[(row.channel, row.shop, row.external_order_id)] = row
    seen: set[tuple[str, str, str]] = set()
    for co, envelope in batch:
        key = (co.order.channel, co.order.shop, co.order.external_order_id)
        with on_behalf_of(uow, envelope):
            if key in seen:
                apply_channel_order(uow, co, review_first)
            else:
                _apply_channel_order(uow, co, known.get(key), review_first)
        seen.add(key)


def _apply_channel_order(uow: UnitOfWork, co: domain.ChannelOrder, row, review_first: bool) -> tuple[str | None, str]:
    """apply_channel_order, given the order's row as the hub has it (None: not known)."""
    domain.validate_channel(co)
    cmd, s, now = co.order, uow.session, clock.now()
    if row is None:
        if co.status == "awaiting_payment":
            return None, "waiting for payment"
        order_id, created = place_order(uow, cmd, review_first, (co.version, co.status))
        if not created:  # placed meanwhile by another transaction
            s.execute(update(orders).where(orders.c.id == order_id)
                      .values(channel_version=co.version, channel_status=co.status))
        if co.status == "cancelled":  # paid and cancelled before we ever saw it
            _cancel(uow, order_id, now)
        else:  # lines the buyer was refunded before we saw the order never ship
            _channel_refunds(uow, order_id, cmd.lines)
        return order_id, "created"
    if co.version <= row.channel_version:
        return row.id, "stale"
    changes = {"channel_version": co.version, "channel_status": co.status, "updated_by": uow.actor, "updated_at": now}
    new_address = json.dumps(cmd.shipping_address, ensure_ascii=False)
    readdressed = row.status in domain.OPEN and json.loads(new_address) != json.loads(row.shipping_address)
    if row.status in domain.OPEN:
        changes["shipping_address"] = new_address
    s.execute(update(orders).where(orders.c.id == row.id).values(**changes))
    if "shipping_address" in changes and json.loads(row.shipping_address) != cmd.shipping_address:
        merge.rekey(uow, row.id)
    if cmd.lines:  # every line's refund status in one statement
        s.execute(update(order_lines).where(order_lines.c.order_id == row.id,
                                            order_lines.c.line_no.between(1, len(cmd.lines)))
                  .values(refund_status=case({n: line.refund_status for n, line in enumerate(cmd.lines, start=1)},
                                             value=order_lines.c.line_no)))
    if co.status == "cancelled" and row.status in domain.OPEN:
        _cancel(uow, row.id, now)
        return row.id, "cancelled"
    if row.status in domain.OPEN and _channel_refunds(uow, row.id, cmd.lines):
        return row.id, "cancelled"
    if readdressed:  # the address facts changed: the rules decide again
        review.review_again(uow, row.id, f"the channel's version {co.version} changed the shipping address")
    return row.id, "updated"


def _channel_refunds(uow: UnitOfWork, order_id: str, lines) -> bool:
    """Lines of an open order the platform reports refunded are intercepted (services.order.refunds) as a
    refund through the gateway is; returns whether that cancelled the order (every line refunded). After
    shipment the platform's refund status is only recorded: its money comes with the platform's refunds."""
    wanted = refunds.channel_refunded(uow.session, order_id, lines)
    if not wanted:
        return False
    _, _, whole = refunds.refund(uow, order_id, wanted, "refunded on the platform", refunds.CHANNEL)
    return whole and _cancel(uow, order_id, clock.now(), "every line refunded on the platform")


def refund_order(uow: UnitOfWork, order_id: str, lines: list[refunds.RefundLine], reason: str = "",
                 channel: bool = False) -> tuple[str, str]:
    """An operator's refund of lines of an order (services.order.refunds): before shipment the lines are
    intercepted, and an order refunded whole is cancelled (order_cancelled releases what is left); after
    shipment the money goes back without goods (order_refunded). Returns (refund id, kind).
    `channel`: the platform refunded the buyer (a shop connector's pulled refund): recorded with source
    channel, and before shipment its lines are intercepted whole whatever amounts it names."""
    refund_id, kind, whole = refunds.refund(uow, order_id, lines, reason,
                                            refunds.CHANNEL if channel else refunds.OPERATOR)
    if whole and not _cancel(uow, order_id, clock.now(), reason or "every line refunded"):
        raise Conflict(f"order {order_id} changed meanwhile; try again")
    return refund_id, kind


def channel_order_id(s, channel: str, shop: str, external_order_id: str) -> str:
    """The hub's id of a channel's order; NotFound while the hub has not seen it (yet), InvalidArgument
    when no channel, shop and external id name it."""
    if not (channel and shop and external_order_id):
        errors = FieldErrors()
        errors.add("order_id", "the order's id, or its channel, shop and external_order_id")
        errors.raise_if_any("the refund names no order")
    found = s.execute(select(orders.c.id).where(orders.c.channel == channel, orders.c.shop == shop,
                                                orders.c.external_order_id == external_order_id)).scalar()
    if found is None:
        raise NotFound(f"no order {external_order_id} of {channel} shop {shop} in the hub")
    return found


def _cancel(uow: UnitOfWork, order_id: str, now, note: str = "", finance: bool = True) -> bool:
    """Cancel an order that has not shipped and emit order_cancelled (inventory releases what it
    reserved; an order reviewed before reservation and held never asked, and emits nothing); its open holds
    are closed as rejected. One conditional update, so a concurrent shipment
    or cancel wins cleanly: False, and nothing emitted, when the order was no longer open."""
    s = uow.session
    cancelled = changed(s, update(orders).where(orders.c.id == order_id, orders.c.status.in_(domain.OPEN))
                          .values(status=domain.CANCELLED, updated_at=now, updated_by=uow.actor))
    if not cancelled:
        return False
    holds.close_for_cancel(uow, order_id, note, finance)
    merge.cancelled(uow, order_id)
    _notice_channel(uow, order_id)
    if not reservation.requested(s, order_id):  # held before it asked inventory: nothing to release
        return True
    lines = s.execute(select(order_lines).where(order_lines.c.order_id == order_id)).all()
    uow.emit(OrderCancelled(order_id=order_id, cancelled_at=now,
                            lines=[OrderLineRef(line_no=l.line_no, sku=l.sku, quantity=l.quantity) for l in lines]),
             order_id)
    return True


def _notice_channel(uow: UnitOfWork, order_id: str) -> None:
    """A shop platform's order cancelled here while its trade is open there: audited (channel_notice)
    with what the operator must do, since no platform API cancels a paid trade for the seller
    (domain.CLOSED_BY_BUYER_REFUND). The order shows the same notice until the platform closes it."""
    row = uow.session.execute(select(orders.c.channel, orders.c.shop, orders.c.external_order_id,
                                     orders.c.channel_status).where(orders.c.id == order_id)).one()
    notice = domain.channel_notice(row.channel, row.external_order_id, domain.CANCELLED, row.channel_status)
    if notice:
        holds.audit(uow, order_id, "channel_notice", notice, channel=row.channel, shop=row.shop,
                    external_order_id=row.external_order_id, platform_status=row.channel_status, told=False,
                    closed_by="buyer_refund", closes_as=domain.CLOSED_BY_BUYER_REFUND[row.channel],
                    stock="released by inventory; the channels' sellable stock is pushed from its stock_changed")


def cancel_order(uow: UnitOfWork, order_id: str, note: str = "", finance: bool = False) -> dict:
    """An operator cancels an order not yet shipped (pending, reserved, backordered or held): order_cancelled,
    inventory releases what it reserved, its open holds are closed as rejected. A second cancel, or one
    after shipment, is a Conflict that changes nothing (a retry with its Idempotency-Key gets the first
    answer from the gateway). Returns the order as read_order gives it."""
    validate_note(note)
    status = _status(uow.session, order_id)
    if not _cancel(uow, order_id, clock.now(), note, finance):
        raise Conflict(f"order {order_id} is {status}; only an order not yet shipped or cancelled can be cancelled")
    holds.audit(uow, order_id, "cancel", note, status_before=status)
    return read_order(uow.session, order_id)


def reject_order(uow: UnitOfWork, order_id: str, note: str = "", finance: bool = False) -> dict:
    """Reject a held order: it is cancelled as cancel_order cancels it. An order that is not held is a
    Conflict that changes nothing."""
    validate_note(note)
    status = _status(uow.session, order_id)
    if status != domain.HELD:
        raise Conflict(f"order {order_id} is {status}; only a held order can be rejected")
    if not _cancel(uow, order_id, clock.now(), note, finance):
        raise Conflict(f"order {order_id} is no longer held")
    return read_order(uow.session, order_id)


def change_shipping_address(uow: UnitOfWork, order_id: str, address: dict, note: str = "") -> dict:
    """A new shipping address for an order not yet shipped or cancelled (audited with the old one).
    The channel's next version of the order sets it again, as before."""
    validate_note(note)
    s = uow.session
    old = s.execute(select(orders.c.shipping_address, orders.c.status).where(orders.c.id == order_id)).first()
    if old is None:
        raise NotFound(f"order {order_id} not found")
    new = json.dumps(address, ensure_ascii=False)
    if not changed(s, update(orders).where(orders.c.id == order_id, orders.c.status.in_(domain.OPEN))
                   .values(shipping_address=new, updated_by=uow.actor, updated_at=clock.now())):
        raise Conflict(f"order {order_id} is {old.status}; the address of a shipped or cancelled order is final")
    holds.audit(uow, order_id, "edit_address", note, old=json.loads(old.shipping_address), new=address)
    merge.rekey(uow, order_id)
    if json.loads(old.shipping_address) != address:  # the address facts changed: the rules decide again
        review.review_again(uow, order_id, "an operator changed the shipping address")
    return read_order(s, order_id)


def change_warehouse(uow: UnitOfWork, order_id: str, warehouse: str, move, note: str = "") -> dict:
    """An operator moves an order not yet shipped or cancelled to another warehouse. Inventory owns the
    stock: `move(order_id, warehouse, note)` asks it (MoveOrder, synchronously) to release what the
    order holds and reserve every line whole in `warehouse` in one transaction; its refusal (too little
    free stock, naming the SKU; an unknown warehouse; an order being picked) is this call's, and nothing
    changes. The order row is locked meanwhile, so a shipment of the order waits for the answer. The
    lines learn the new warehouse from inventory's usual answer (stock_reserved), as every reservation
    does, and the move is audited from inventory's order_moved (record_move), emitted in the move's own
    transaction: not here, where a failure after inventory moved would leave the move unaudited.
    Returns the order."""
    validate_note(note)
    if not isinstance(warehouse, str) or not warehouse.strip() or len(warehouse) > 32:
        raise InvalidArgument("the warehouse is invalid", [{"field": "warehouse", "message": "a warehouse code"}])
    s = uow.session
    order = s.execute(select(orders.c.status, orders.c.reservation_requested_at)
                      .where(orders.c.id == order_id).with_for_update()).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if order.status not in domain.OPEN:
        raise Conflict(f"order {order_id} is {order.status}; only an order not yet shipped or cancelled can move")
    if order.reservation_requested_at is None:
        raise Conflict(f"order {order_id} is held for review before reservation and has reserved nothing; "
                       "release it first")
    move(order_id, warehouse, note)
    return read_order(s, order_id)


def record_move(uow: UnitOfWork, event: OrderMoved, envelope: Envelope) -> None:
    """order_moved: inventory moved the order to another warehouse (an operator's ChangeWarehouse); the
    order's audit records it (change_warehouse: who, when, why, the warehouses before, inventory's
    lines), once per event by the inbox. Recorded for an order in any state: the move happened."""
    holds.audit(uow, event.order_id, "change_warehouse", event.note, at=event.moved_at, actor=envelope.actor,
                warehouse=event.warehouse, before=event.before,
                lines=[line.model_dump(mode="json") for line in event.lines])


def double_check(uow: UnitOfWork, order_id: str, note: str = "") -> dict:
    """The first of the outbound double check's two people confirms the picked goods of an order a review
    rule flagged (orders.double_check): who and when are kept on the order and audited, and the shipment
    is then accepted only from another user (ship_order). The order must be fully reserved (reserved, or
    held with every line reserved); checking it again records the newer check. An order not flagged, or
    not in that state, is a Conflict that changes nothing."""
    validate_note(note)
    s = uow.session
    order = s.execute(select(orders.c.status, orders.c.double_check).where(orders.c.id == order_id)).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if not order.double_check:
        raise Conflict(f"order {order_id} is not flagged for a double check at outbound")
    reservations = s.execute(_RESERVATIONS, {"p_order_id": order_id}).scalars().all()
    picked = all(r in (domain.RESERVED, domain.REFUNDED) for r in reservations)
    parcel = order.status in (domain.BACKORDERED, domain.PARTLY_SHIPPED) and s.execute(
        select(order_lines.c.line_no).where(order_lines.c.order_id == order_id,
                                            order_lines.c.reservation == domain.RESERVED,
                                            order_lines.c.shipped_quantity < order_lines.c.quantity)).first()
    if not parcel and (order.status not in (domain.RESERVED, domain.HELD) or not picked):
        raise Conflict(f"order {order_id} is {order.status}; only an order with every line reserved, "
                       "not yet shipped or cancelled, can be double-checked")
    if not changed(s, update(orders).where(orders.c.id == order_id, orders.c.status == order.status)
                   .values(double_checked_by=uow.actor, double_checked_at=clock.now(),
                           updated_by=uow.actor, updated_at=clock.now())):
        raise Conflict(f"order {order_id} changed meanwhile; try again")
    holds.audit(uow, order_id, "double_check", note, status=order.status)
    return read_order(s, order_id)


_STATUS = select(orders.c.status).where(orders.c.id == bindparam("p_order_id"))


def _status(s, order_id: str) -> str:
    status = s.execute(_STATUS, {"p_order_id": order_id}).scalar()
    if status is None:
        raise NotFound(f"order {order_id} not found")
    return status


def validate_note(note: str) -> None:
    if len(note or "") > domain.MAX_NOTE:
        raise InvalidArgument("the note is too long", [{"field": "note",
                                                        "message": f"at most {domain.MAX_NOTE} characters"}])


def expire_reservation(uow: UnitOfWork, envelope: Envelope) -> bool:
    """reservation_expired from inventory: the buyer abandoned the order, so an order not yet shipped
    or cancelled is cancelled exactly as any other cancel is (order_cancelled). A shipped, returned or
    already cancelled order ignores it. The orders table has no place for a reason: it goes to the log.
    Returns whether the order was cancelled."""
    s, order_id = uow.session, envelope.payload.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidArgument("reservation_expired without an order_id")
    status = s.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar()
    if status is None:
        raise NotFound(f"order {order_id} is unknown")
    if status in domain.OPEN and _cancel(uow, order_id, clock.now()):
        log.info("order %s cancelled as abandoned: reservation expired (at %s)", order_id,
                 envelope.payload.get("expired_at", envelope.occurred_at))
        return True
    log.info("order %s is %s; its expired reservation changes nothing", order_id, status)
    return False


# a stock answer's statements, built once (values at execute): building them per answer cost more than running them
_LINE_ANSWERED = update(order_lines).where(order_lines.c.order_id == bindparam("p_order_id"),
                                           order_lines.c.line_no == bindparam("p_line_no"),
                                           order_lines.c.reservation != domain.REFUNDED)  # refunded: stays out
_RESERVATIONS = select(order_lines.c.reservation).where(order_lines.c.order_id == bindparam("p_order_id"))
_ANSWERED = update(orders).where(orders.c.id == bindparam("p_order_id"),
                                 orders.c.status.notin_((domain.CANCELLED, domain.HELD, domain.PARTLY_SHIPPED)))
# A batch's stock answers on PostgreSQL, one statement (psycopg2 plans each statement it sends, and the
# answers of a batch were three or more each): the lines answered (a refunded one stays out), each
# order's status from its lines as domain.order_status gives it (the lines answered as RETURNING gives
# them, the others as they were), set where the order is not cancelled, held or partly shipped, by its
# answer's actor; the orders that have lines are named (one without: unknown here).
_ANSWERS_PG = text(f"""
WITH a AS (
  SELECT * FROM unnest(CAST(:p_orders AS VARCHAR[]), CAST(:p_actors AS VARCHAR[])) AS a(order_id, actor)),
v AS (
  SELECT * FROM unnest(CAST(:p_line_orders AS VARCHAR[]), CAST(:p_line_nos AS INTEGER[]),
                       CAST(:p_reservations AS VARCHAR[]), CAST(:p_warehouses AS VARCHAR[]))
         AS v(order_id, line_no, reservation, warehouse)),
answered AS (
  UPDATE order_lines SET reservation = v.reservation, warehouse = v.warehouse FROM v
  WHERE order_lines.order_id = v.order_id AND order_lines.line_no = v.line_no
    AND order_lines.reservation != '{domain.REFUNDED}'
  RETURNING order_lines.order_id, order_lines.line_no, order_lines.reservation),
lines AS (
  SELECT order_id, reservation FROM answered
  UNION ALL
  SELECT l.order_id, l.reservation FROM order_lines l JOIN a ON a.order_id = l.order_id
  WHERE NOT EXISTS (SELECT 1 FROM answered x WHERE x.order_id = l.order_id AND x.line_no = l.line_no)),
s AS (
  SELECT order_id, CASE min(CASE reservation WHEN '{domain.REFUNDED}' THEN NULL WHEN '{domain.PENDING}' THEN 0
                                             WHEN '{domain.BACKORDERED}' THEN 1 ELSE 2 END)
                   WHEN 0 THEN '{domain.PENDING}' WHEN 1 THEN '{domain.BACKORDERED}' ELSE '{domain.RESERVED}' END AS status
  FROM lines GROUP BY order_id),
moved AS (
  UPDATE orders SET status = s.status, updated_by = a.actor, updated_at = :p_now
  FROM s JOIN a ON a.order_id = s.order_id
  WHERE orders.id = s.order_id
    AND orders.status NOT IN ('{domain.CANCELLED}', '{domain.HELD}', '{domain.PARTLY_SHIPPED}'))
SELECT order_id FROM s""")


def apply_stock_answer(uow: UnitOfWork, envelope: Envelope, merge_window: timedelta | None = None) -> None:
    """One stock answer (apply_stock_answers)."""
    apply_stock_answers(uow, [(None, envelope)], merge_window)


def apply_stock_answers(uow: UnitOfWork, batch, merge_window: timedelta | None = None) -> None:
    """stock_reserved / stock_short from inventory, for each (event, envelope) of a batch in delivery order:
    set each line's reservation and the order's status from its lines (a cancelled order stays cancelled:
    inventory releases what it had reserved; a held one stays held until released, its lines updated so
    the release finds their answer). The batch's orders are then reviewed together and, with a merge
    window (the worker's settings; None: merge is off), grouped (services.order.merge). On PostgreSQL one
    statement for the lot (a later answer of the same order, or of the same line, wins, as applying them
    one after the other would). An order unknown here raises NotFound (nothing of the batch stays)."""
    envelopes = [envelope for _, envelope in batch]
    for envelope in envelopes:
        for line in envelope.payload["lines"]:
            if line["status"] not in (domain.RESERVED, domain.BACKORDERED):
                raise InvalidArgument(f"unknown reservation status {line['status']!r}")
    s = uow.session
    if s.get_bind().dialect.name == "postgresql":
        actors: dict[str, str] = {}
        answers: dict[tuple[str, int], tuple[str, str | None]] = {}
        for envelope in envelopes:
            order_id = envelope.payload["order_id"]
            actors[order_id] = envelope.actor
            for line in envelope.payload["lines"]:
                answers[order_id, line["line_no"]] = (line["status"], line.get("warehouse"))
        known = set(s.execute(_ANSWERS_PG, {
            "p_orders": list(actors), "p_actors": list(actors.values()),
            "p_line_orders": [o for o, _ in answers], "p_line_nos": [n for _, n in answers],
            "p_reservations": [r for r, _ in answers.values()], "p_warehouses": [w for _, w in answers.values()],
            "p_now": clock.now()}).scalars())
        unknown = [order_id for order_id in actors if order_id not in known]
        if unknown:  # every order has a line: none is an order unknown here
            raise NotFound(f"order {unknown[0]} is unknown")
    else:
        for envelope in envelopes:
            _apply_answer(s, envelope)
    # reviewed once inventory has answered (stock_covers is known), then grouped: the transaction's orders together
    answered = uow.gather("order.answered", lambda ids: _review_and_group(uow, ids, merge_window))
    answered.update(envelope.payload["order_id"] for envelope in envelopes)


# the answered orders, read once for review and merge, with whether review decided on them already
_ANSWERED_ORDERS = (select(orders, select(review_decisions.c.id).where(review_decisions.c.order_id == orders.c.id)
                           .exists().label("reviewed"))
                    .where(orders.c.id.in_(bindparam("p_ids", expanding=True))).order_by(orders.c.id))


def _review_and_group(uow: UnitOfWork, order_ids: set[str], merge_window: timedelta | None) -> None:
    """The transaction's answered orders: reviewed, then (with a merge window) grouped, from one read of
    them (review only holds, prioritises and flags: what merge reads of them does not change)."""
    answered = uow.session.execute(_ANSWERED_ORDERS, {"p_ids": sorted(order_ids)}).all()
    review.review_answered(uow, answered)
    if merge_window:
        merge.group(uow, answered, merge_window)


def _apply_answer(s, envelope: Envelope) -> None:
    """One answer's lines and its order's status, statement by statement (SQLite)."""
    payload = envelope.payload
    order_id = payload["order_id"]
    if payload["lines"]:  # one executemany: an unknown order's lines are none, so it changes nothing
        s.execute(_LINE_ANSWERED, [{"p_order_id": order_id, "p_line_no": line["line_no"],
                                    "reservation": line["status"], "warehouse": line.get("warehouse")}
                                   for line in payload["lines"]])
    statuses = s.execute(_RESERVATIONS, {"p_order_id": order_id}).scalars().all()
    if not statuses:  # every order has a line: none is an order unknown here (nothing was written)
        raise NotFound(f"order {order_id} is unknown")
    s.execute(_ANSWERED, {"p_order_id": order_id, "status": domain.order_status(list(statuses)),
                          "updated_by": envelope.actor, "updated_at": clock.now()})


# an order flagged for the outbound double check ships only after a check, and from another user than the checker
_CHECKED = ~orders.c.double_check | (orders.c.double_checked_by.is_not(None) &
                                      (orders.c.double_checked_by != bindparam("actor")))
_SHIP = (update(orders).where(orders.c.id == bindparam("order_id"), orders.c.status == domain.RESERVED,
                              orders.c.merge_group.is_(None), _CHECKED)
         .values(status=domain.SHIPPED, carrier=bindparam("new_carrier"),
                 tracking_number=bindparam("new_tracking_number"), shipped_at=bindparam("now"),
                 updated_by=bindparam("actor"), updated_at=bindparam("now"))
         .returning(*orders.c))
_LINES = select(order_lines).where(order_lines.c.order_id == bindparam("order_id")).order_by(order_lines.c.line_no)
_ALL_SHIPPED = (update(order_lines).where(order_lines.c.order_id == bindparam("p_order_id"),
                                          order_lines.c.reservation != domain.REFUNDED)
                .values(shipped_quantity=order_lines.c.quantity))


_ISSUED_WAYBILL = select(waybills.c.carrier, waybills.c.tracking_number).where(
    waybills.c.parcel_key == bindparam("p_parcel_key"), waybills.c.status == "issued",
    # not one being cancelled right now (waybills.WaybillIssuer.cancel)
    or_(waybills.c.claimed_until.is_(None), waybills.c.claimed_until < bindparam("p_now")))


def ship_order(uow: UnitOfWork, order_id: str, carrier: str, tracking_number: str,
               lines: list[tuple[int, int]] | None = None, scans: list[tuple[str, str]] | None = None) -> dict:
    """Ship a fully reserved order as a whole and emit order_shipped (inventory issues the
    goods, accounting posts the sale, the customer's history records it). The same shipment
    again (same carrier and tracking number: a retry whose first answer was lost) changes nothing
    and succeeds; another shipment of a shipped order is a conflict. An order that holds an issued
    electronic waybill (services.order.waybills) ships with it: no carrier and tracking number given
    take the waybill's, other ones are a conflict. Returns the order as read_order gives it (the
    shipped row as the update returned it, not read back).

    With `lines` ((line_no, quantity)) or packing `scans` ((sku, serial)), or for an order partly shipped
    already, the shipment is a parcel (services.order.parcels): reserved units only, the rest ships later."""
    s, now = uow.session, clock.now()
    if lines or scans or _status(s, order_id) == domain.PARTLY_SHIPPED:
        parcels.ship_parcel(uow, order_id, carrier, tracking_number, lines or None, scans or [])
        return read_order(s, order_id)
    waybill = s.execute(_ISSUED_WAYBILL, {"p_parcel_key": parcel_key(order_id), "p_now": now}).first()
    if waybill is not None and not carrier and not tracking_number:  # ships on the carrier's waybill
        carrier, tracking_number = waybill.carrier, waybill.tracking_number
    elif waybill is not None and (carrier, tracking_number) != (waybill.carrier, waybill.tracking_number):
        raise Conflict(f"order {order_id} holds the {waybill.carrier} waybill {waybill.tracking_number}; it ships "
                       "with that one (send no carrier and tracking number, or these)")
    domain.validate_shipment(carrier, tracking_number)
    order = s.execute(_SHIP, {"order_id": order_id, "new_carrier": carrier, "new_tracking_number": tracking_number,
                              "now": now, "actor": uow.actor}).first()
    if order is None:
        order = s.execute(select(orders.c.status, orders.c.carrier, orders.c.tracking_number, orders.c.shipped_at,
                                 orders.c.merge_group, orders.c.double_check, orders.c.double_checked_by)
                          .where(orders.c.id == order_id)).first()
        if order is None:
            raise NotFound(f"order {order_id} not found")
        if order.merge_group and order.status in domain.OPEN:
            return _ship_group(uow, order_id, order.merge_group, carrier, tracking_number)
        if order.shipped_at is not None and (order.carrier, order.tracking_number) == (carrier, tracking_number):
            return read_order(s, order_id)  # this very shipment, asked again
        if order.shipped_at is not None:
            raise Conflict(f"order {order_id} has already shipped")
        if order.status == domain.HELD:
            raise Conflict(f"order {order_id} is held for review; release its holds before it ships")
        if order.status == domain.RESERVED and order.double_check and order.double_checked_by is None:
            raise Conflict(f"order {order_id} needs a double check at outbound: one user checks it "
                           "(POST /orders/{id}/double-check), another ships it")
        if order.status == domain.RESERVED and order.double_check:
            raise Conflict(f"order {order_id} was double-checked by {order.double_checked_by}; "
                           "the shipment must come from another user")
        raise Conflict(f"order {order_id} is {order.status}; only a fully reserved order can ship")
    return _shipped(uow, order, carrier, tracking_number, now)


def _shipped(uow: UnitOfWork, order, carrier: str, tracking_number: str, now) -> dict:
    """order_shipped for an order just shipped (its row as the update returned it)."""
    s, order_id = uow.session, order.id
    s.execute(_ALL_SHIPPED, {"p_order_id": order_id})  # every unit not refunded left: shipped_quantity
    lines = s.execute(_LINES, {"order_id": order_id}).all()
    sold = [l for l in lines if l.reservation != domain.REFUNDED]  # a line refunded before shipment stays behind
    categories = parcels.categories_of(s, [l.sku for l in sold])
    uow.emit(_order_shipped(order, carrier, tracking_number, now, sold, categories), order_id)
    return _as_dict(order, lines, holds.holds_of(s, [order_id]).get(order_id))  # a released hold stays on it


def _order_shipped(order, carrier: str, tracking_number: str, now, sold, categories: dict[str, str]) -> OrderShipped:
    """The order_shipped of a whole order shipped (its row as shipped, its lines not refunded)."""
    return OrderShipped(
        order_id=order.id, channel=order.channel, shop=order.shop, external_order_id=order.external_order_id,
        currency=order.currency, buyer=json.loads(order.buyer), carrier=carrier, tracking_number=tracking_number,
        shipped_at=now, total=sum((l.amount for l in sold), start=domain.Decimal("0.00")), **_conversion(order),
        region=parcels.region_of(order),
        lines=[SoldLine(line_no=l.line_no, sku=l.sku, quantity=l.quantity, unit_price=l.unit_price, amount=l.amount,
                        warehouse=l.warehouse, category=categories.get(l.sku, "")) for l in sold])


# a wave's plain shipments, set-based (ship_many)
_SHIP_STATE = select(orders.c.id, orders.c.status, orders.c.merge_group, orders.c.double_check,
                     orders.c.double_checked_by).where(orders.c.id.in_(bindparam("p_ids", expanding=True)))
_WAYBILLS_OF = select(waybills.c.parcel_key).where(waybills.c.parcel_key.in_(bindparam("p_keys", expanding=True)),
                                                   waybills.c.status == "issued")
_SHIP_ONE = (update(orders).where(orders.c.id == bindparam("order_id"), orders.c.status == domain.RESERVED,
                                  orders.c.merge_group.is_(None), _CHECKED)
             .values(status=domain.SHIPPED, carrier=bindparam("new_carrier"),
                     tracking_number=bindparam("new_tracking_number"), shipped_at=bindparam("now"),
                     updated_by=bindparam("actor"), updated_at=bindparam("now")))
_WAVE = func.unnest(cast(bindparam("p_ids"), ARRAY(String)), cast(bindparam("p_carriers"), ARRAY(String)),
                    cast(bindparam("p_tracking"), ARRAY(String))).table_valued(
    "order_id", "carrier", "tracking_number").render_derived(name="v")
_SHIP_MANY_PG = (update(orders).where(orders.c.id == _WAVE.c.order_id, orders.c.status == domain.RESERVED,
                                      orders.c.merge_group.is_(None), _CHECKED)
                 .values(status=domain.SHIPPED, carrier=_WAVE.c.carrier, tracking_number=_WAVE.c.tracking_number,
                         shipped_at=bindparam("now"), updated_by=bindparam("actor"), updated_at=bindparam("now"))
                 .returning(*orders.c))
_SHIPPED_NOW = select(orders).where(orders.c.id.in_(bindparam("p_ids", expanding=True)),
                                    orders.c.status == domain.SHIPPED, orders.c.shipped_at == bindparam("p_now"),
                                    orders.c.updated_by == bindparam("p_actor"))
_ALL_SHIPPED_OF = (update(order_lines).where(order_lines.c.order_id.in_(bindparam("p_ids", expanding=True)),
                                             order_lines.c.reservation != domain.REFUNDED)
                   .values(shipped_quantity=order_lines.c.quantity))
_LINES_OF = (select(order_lines).where(order_lines.c.order_id.in_(bindparam("p_ids", expanding=True)))
             .order_by(order_lines.c.order_id, order_lines.c.line_no))


def ship_many(uow: UnitOfWork, shipments: list[tuple[str, str, str]]) -> dict[str, dict]:
    """A wave's plain shipments ((order_id, carrier, tracking_number): a whole order, reserved, in no merge
    group, holding no issued waybill, checked by another user where flagged, named once in the wave), set-
    based: one read of their states and one of their waybills, the updates (on PostgreSQL one statement that
    returns the rows shipped; on SQLite an executemany and a read of those rows), one update and one read
    of their lines, one of their SKUs' categories and one of
    their holds, then each order's order_shipped as ship_order emits it. Returns order id -> the order as
    ship_order returns it, for those it shipped; the others (any that is not plain, or changed under it)
    are the caller's to ship one by one with ship_order, which answers each its own error."""
    s, now = uow.session, clock.now()
    wanted: dict[str, tuple[str, str]] = {}
    for order_id, carrier, tracking_number in shipments:
        try:
            domain.validate_shipment(carrier, tracking_number)
        except InvalidArgument:
            continue
        wanted[order_id] = (carrier, tracking_number)
    if not wanted:
        return {}
    ids = sorted(wanted)
    waybilled = set(s.execute(_WAYBILLS_OF, {"p_keys": [parcel_key(i) for i in ids]}).scalars())
    plain = [r.id for r in s.execute(_SHIP_STATE, {"p_ids": ids})
             if r.status == domain.RESERVED and r.merge_group is None and parcel_key(r.id) not in waybilled
             and (not r.double_check or (r.double_checked_by is not None and r.double_checked_by != uow.actor))]
    if not plain:
        return {}
    ship = sorted(plain)
    if s.get_bind().dialect.name == "postgresql":  # one statement: the rows updated are the rows shipped
        shipped = {r.id: r for r in s.execute(_SHIP_MANY_PG, {
            "p_ids": ship, "p_carriers": [wanted[i][0] for i in ship], "p_tracking": [wanted[i][1] for i in ship],
            "now": now, "actor": uow.actor})}
    else:
        s.execute(_SHIP_ONE, [{"order_id": i, "new_carrier": wanted[i][0], "new_tracking_number": wanted[i][1],
                               "now": now, "actor": uow.actor} for i in ship])
        shipped = {r.id: r for r in s.execute(_SHIPPED_NOW, {"p_ids": plain, "p_now": now, "p_actor": uow.actor})}
    if not shipped:
        return {}
    done = sorted(shipped)
    s.execute(_ALL_SHIPPED_OF, {"p_ids": done})
    lines: dict[str, list] = {}
    for line in s.execute(_LINES_OF, {"p_ids": done}):
        lines.setdefault(line.order_id, []).append(line)
    sold = {i: [l for l in lines.get(i, []) if l.reservation != domain.REFUNDED] for i in done}
    categories = parcels.categories_of(s, [l.sku for own in sold.values() for l in own])
    held = holds.holds_of(s, done)
    out = {}
    for order_id in done:
        order, carrier, tracking_number = shipped[order_id], *wanted[order_id]
        uow.emit(_order_shipped(order, carrier, tracking_number, now, sold[order_id], categories), order_id)
        out[order_id] = _as_dict(order, lines.get(order_id, []), held.get(order_id))
    return out


_SHIP_MEMBER = (update(orders).where(orders.c.id == bindparam("order_id"), orders.c.status == domain.RESERVED,
                                     orders.c.merge_group == bindparam("group"), _CHECKED)
                .values(status=domain.SHIPPED, carrier=bindparam("new_carrier"),
                        tracking_number=bindparam("new_tracking_number"), shipped_at=bindparam("now"),
                        updated_by=bindparam("actor"), updated_at=bindparam("now"))
                .returning(*orders.c))


def _ship_group(uow: UnitOfWork, order_id: str, group_id: str, carrier: str, tracking_number: str) -> dict:
    """Ship a merge group as one shipment: every open order of it, each with its own order_shipped and
    the same carrier and tracking number, only when every one can ship (reserved, no open hold, checked
    by another user where flagged for the double check); otherwise a Conflict naming the order that
    blocks, and nothing changes."""
    s, now = uow.session, clock.now()
    group = s.execute(select(orders.c.id, orders.c.status, orders.c.double_check, orders.c.double_checked_by)
                      .where(orders.c.merge_group == group_id, orders.c.status.in_(domain.OPEN))
                      .order_by(orders.c.created_at, orders.c.id)).all()
    for m in group:
        why = None
        if m.status != domain.RESERVED:
            why = "held for review; release its holds" if m.status == domain.HELD else \
                f"{m.status}; it must be fully reserved"
        elif m.double_check and m.double_checked_by is None:
            why = "flagged for the double check at outbound and not yet checked; check it"
        elif m.double_check and m.double_checked_by == uow.actor:
            why = f"double-checked by {uow.actor}; another user must ship the group"
        if why:
            raise Conflict(f"order {order_id} ships with its merge group {group_id}, and order {m.id} of the "
                           f"group is {why}, or take it out of the group (unmerge)")
    answer: dict = {}
    for m in group:
        row = s.execute(_SHIP_MEMBER, {"order_id": m.id, "group": group_id, "new_carrier": carrier,
                                       "new_tracking_number": tracking_number, "now": now,
                                       "actor": uow.actor}).first()
        if row is None:
            raise Conflict(f"order {m.id} of merge group {group_id} changed concurrently; try again")
        holds.audit(uow, m.id, "ship_merged", "", group=group_id, orders=[g.id for g in group],
                    carrier=carrier, tracking_number=tracking_number)
        shipped = _shipped(uow, row, carrier, tracking_number, now)
        if m.id == order_id:
            answer = shipped
    uow.after_commit(merge.GROUPS_SHIPPED.inc)
    answer["merged_with"] = [g.id for g in group if g.id != order_id]
    return answer


def _conversion(order) -> dict:
    """The rate an order in another currency than the books' was accepted at, for the books."""
    return {} if order.exchange_rate is None else {"exchange_rate": order.exchange_rate}


def return_order(uow: UnitOfWork, order_id: str, lines: list[tuple[int, int]], reason: str) -> str:
    """Record goods sent back after shipment (all not yet returned when `lines` is empty) and emit
    order_returned: inventory restocks them at their original cost, accounting reverses the sale."""
    s, now = uow.session, clock.now()
    order = s.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    if order.status not in (domain.SHIPPED, domain.RETURNED):
        raise Conflict(f"order {order_id} is {order.status}; only shipped goods can be returned")
    current = {l.line_no: l for l in s.execute(select(order_lines).where(order_lines.c.order_id == order_id)).all()
               if l.reservation != domain.REFUNDED}  # a line refunded before shipment never shipped
    held = rma.held_by_rmas(s, order_id)  # units an RMA takes back (or exchanged) are not returned here

    def open_units(n: int, l) -> int:
        return l.quantity - l.returned_quantity - held.get(n, 0)
    wanted = lines or [(n, open_units(n, l)) for n, l in current.items() if open_units(n, l) > 0]
    errors = FieldErrors()
    if not wanted:
        errors.add("lines", "everything on this order has been returned already")
    if len({n for n, _ in wanted}) != len(wanted):
        errors.add("lines", "each line at most once")
    for i, (line_no, qty) in enumerate(wanted):
        line = current.get(line_no)
        if line is None:
            errors.add(f"lines[{i}].line_no", f"order has no shipped line {line_no}")
        elif not 0 < qty <= open_units(line_no, line):
            errors.add(f"lines[{i}].quantity", f"from 1 to {open_units(line_no, line)} "
                                               "(shipped and not yet returned nor on an RMA)")
    if len(reason or "") > 200:
        errors.add("reason", "at most 200 characters")
    errors.raise_if_any("the return is invalid")
    return_id = uuid.uuid4().hex
    s.execute(order_returns.insert().values(id=return_id, order_id=order_id, reason=reason or "",
                                            created_by=uow.actor, created_at=now))
    returned = []
    for line_no, qty in sorted(wanted):
        line = current[line_no]
        # the units returned before are the ones priced below: a concurrent return of the line loses
        taken = changed(s, update(order_lines)
                          .where(order_lines.c.order_id == order_id, order_lines.c.line_no == line_no,
                                 order_lines.c.returned_quantity == line.returned_quantity)
                          .values(returned_quantity=line.returned_quantity + qty))
        if not taken:
            raise Conflict(f"line {line_no} was returned concurrently; try again")
        s.execute(order_return_lines.insert().values(return_id=return_id, line_no=line_no, quantity=qty))
        returned.append(ReturnedSaleLine(line_no=line_no, sku=line.sku, quantity=qty, unit_price=line.unit_price,
                                         warehouse=line.warehouse, **domain.returned_amounts(line, qty)))
    left = s.execute(select(func.sum(order_lines.c.quantity - order_lines.c.returned_quantity))
                     .where(order_lines.c.order_id == order_id, order_lines.c.reservation != domain.REFUNDED)).scalar()
    s.execute(update(orders).where(orders.c.id == order_id).values(
        status=domain.RETURNED if not left else domain.SHIPPED, updated_by=uow.actor, updated_at=now))
    uow.emit(OrderReturned(
        order_id=order_id, return_id=return_id, channel=order.channel, shop=order.shop,
        external_order_id=order.external_order_id, buyer=json.loads(order.buyer), reason=reason or "",
        returned_at=now, lines=returned, currency=order.currency, **_conversion(order)), order_id)
    return return_id


# -- queries ---------------------------------------------------------------
def _as_dict(row, lines, held: list | None = None) -> dict:
    order = dict(row._mapping)
    order["buyer"] = json.loads(order["buyer"])
    order["shipping_address"] = json.loads(order["shipping_address"])
    order["lines"] = [dict(l._mapping) for l in lines]
    order["holds"] = held or []
    order["merged_with"] = []
    order.setdefault("parcels", [])
    order["channel_notice"] = domain.channel_notice(order["channel"], order["external_order_id"], order["status"],
                                                    order.get("channel_status"))
    return order


def get_order(db: Database, order_id: str) -> dict:
    with db.reader() as s:
        return read_order(s, order_id)


_ORDER = select(orders).where(orders.c.id == bindparam("order_id"))


def read_order(s, order_id: str) -> dict:
    """An order as the session sees it (inside a unit of work: with its own changes)."""
    row = s.execute(_ORDER, {"order_id": order_id}).first()
    if row is None:
        raise NotFound(f"order {order_id} not found")
    order = _as_dict(row, s.execute(_LINES, {"order_id": order_id}).all(), holds.holds_of(s, [order_id]).get(order_id))
    order["parcels"] = parcels.parcels_of(s, [order_id]).get(order_id, [])
    if row.merge_group:
        order["merged_with"] = [m for m in merge.members(s, row.merge_group) if m != order_id]
    return order


def list_orders(db: Database, status: str = "", page_size: int = 50, page_token: str = "",
                reason: str = "", merge_group: str = "") -> tuple[list, str]:
    """Newest first, keyset-paged by (created_at, id). The review queue (status held, or a hold reason:
    orders with an open hold of that reason) is oldest first, the order it is worked in."""
    page_size = max(1, min(page_size or 50, 500))
    if reason and reason not in domain.HOLD_REASONS:
        raise InvalidArgument("unknown hold reason", [{"field": "reason",
                                                       "message": f"one of {', '.join(domain.HOLD_REASONS)}"}])
    queue = status == domain.HELD or bool(reason)
    order_by = (orders.c.created_at, orders.c.id) if queue else (orders.c.created_at.desc(), orders.c.id.desc())
    query = select(orders).order_by(*order_by).limit(page_size + 1)
    if status:
        query = query.where(orders.c.status == status)
    if merge_group:
        query = query.where(orders.c.merge_group == merge_group)
    if reason:
        query = query.where(orders.c.id.in_(select(order_holds.c.order_id).where(
            order_holds.c.reason == reason, order_holds.c.released_at.is_(None))))
    if page_token:
        try:
            created_at, last_id = json.loads(base64.urlsafe_b64decode(page_token))
            created_at = datetime.fromisoformat(created_at)
        except (ValueError, TypeError):
            raise InvalidArgument("invalid page token", [{"field": "page_token", "message": "invalid"}])
        if queue:
            query = query.where((orders.c.created_at > created_at) |
                                ((orders.c.created_at == created_at) & (orders.c.id > last_id)))
        else:
            query = query.where((orders.c.created_at < created_at) |
                                ((orders.c.created_at == created_at) & (orders.c.id < last_id)))
    with db.reader() as s:
        rows = s.execute(query).all()
        more = len(rows) > page_size
        rows = rows[:page_size]
        ids = [r.id for r in rows]
        lines = s.execute(select(order_lines).where(order_lines.c.order_id.in_(ids))
                          .order_by(order_lines.c.line_no)).all() if ids else []
        held = holds.holds_of(s, ids)
        groups = merge.members_of(s, {r.merge_group for r in rows if r.merge_group})
        shipped = parcels.parcels_of(s, [r.id for r in rows if r.status in (domain.PARTLY_SHIPPED, domain.SHIPPED,
                                                                            domain.RETURNED)])
    by_order: dict[str, list] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(line)
    token = ""
    if more:
        last = rows[-1]
        token = base64.urlsafe_b64encode(json.dumps([as_utc(last.created_at).isoformat(), last.id]).encode()).decode()
    found = [_as_dict(r, by_order.get(r.id, []), held.get(r.id)) for r in rows]
    for o in found:
        o["parcels"] = shipped.get(o["id"], [])
        o["merged_with"] = [m for m in groups.get(o["merge_group"], ()) if m != o["id"]] if o["merge_group"] else []
    return found, token


def count_by_status(db: Database) -> dict[tuple[str, str], int]:
    """(channel, status) -> orders: channels are the merchant's few shops' platforms, a bounded label."""
    with db.reader() as s:
        return {(channel, status): count for channel, status, count in s.execute(
            select(orders.c.channel, orders.c.status, func.count()).group_by(orders.c.channel, orders.c.status))}


def awaiting_inventory(db: Database) -> tuple[int, float]:
    """The orders accepted and not yet answered by inventory (pending), and how long the oldest of them
    has waited (seconds): the backpressure signal. One statement over the status index (held orders,
    few, count while a line of theirs is pending and they asked inventory to reserve); backpressure
    keeps the pending orders few."""
    pending_line = select(order_lines.c.line_no).where(order_lines.c.order_id == orders.c.id,
                                                       order_lines.c.reservation == domain.PENDING).exists()
    waiting = orders.c.status.in_((domain.PENDING, domain.HELD)) & (  # a held order inventory has not answered
        (orders.c.status == domain.PENDING) | (pending_line &           # waits too; one held before it asked
                                               orders.c.reservation_requested_at.is_not(None)))  # does not
    with db.reader() as s:
        count, oldest = s.execute(select(func.count(), func.min(orders.c.created_at)).where(waiting)).one()
    return count, max(0.0, (clock.now() - as_utc(oldest)).total_seconds()) if oldest else 0.0
