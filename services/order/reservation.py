"""The request to reserve: order_placed asks inventory to reserve an order's lines (and tells the customer
service of the order). When it is emitted is the review stage (HUB_ORDER_REVIEW_STAGE):

- after_reservation (the default): when the order is placed; review follows inventory's first answer, so
  no channel oversells while an order waits for a person, and a held order that is cancelled releases
  its stock (order_cancelled).
- before_reservation: the order is reviewed when it is placed. Approved, it asks at once (and is not
  reviewed again when inventory answers); held, it asks only when its last hold is released; rejected or
  cancelled while held, it never asked, so nothing goes to inventory or the customer service (no
  order_placed, no order_cancelled).

Either way order_placed is emitted exactly once per order: orders.reservation_requested_at is set by a
conditional update in the transaction whose outbox carries the event."""
from __future__ import annotations

import json

from sqlalchemy import bindparam, select, update

from contracts import OrderPlaced
from contracts.events import PlacedLine
from hubkit import clock
from hubkit.db import UnitOfWork, as_utc, changed
from services.order import domain
from services.order.models import order_lines, orders

# an order not held (pending until inventory answers) that has not asked yet
_REQUEST = (update(orders).where(orders.c.id == bindparam("p_order_id"),
                                 orders.c.reservation_requested_at.is_(None),
                                 orders.c.status.in_((domain.PENDING, domain.RESERVED, domain.BACKORDERED)))
            .values(reservation_requested_at=bindparam("now")))


def requested(s, order_id: str) -> bool:
    """Whether the order has asked inventory to reserve (order_placed emitted)."""
    return s.execute(select(orders.c.reservation_requested_at).where(orders.c.id == order_id)).scalar() is not None


def request(uow: UnitOfWork, order_id: str) -> bool:
    """Ask inventory to reserve an order reviewed before reservation and not (or no longer) held: emit
    order_placed as it would have been emitted when the order was placed (its placing time, the channel's
    priority or the one review raised it to, whichever is higher, and its ship-by). An order that asked
    already, or is held, shipped or cancelled, changes nothing: False."""
    s = uow.session
    if not changed(s, _REQUEST, {"p_order_id": order_id, "now": clock.now()}):
        return False
    order = s.execute(select(orders).where(orders.c.id == order_id)).one()
    lines = s.execute(select(order_lines).where(order_lines.c.order_id == order_id)
                      .order_by(order_lines.c.line_no)).all()
    priority = max(order.placed_priority or 0, order.priority or 0)
    uow.emit(OrderPlaced(
        order_id=order_id, channel=order.channel, shop=order.shop, external_order_id=order.external_order_id,
        currency=order.currency, total=order.total, placed_at=as_utc(order.created_at),
        buyer=json.loads(order.buyer), shipping_address=json.loads(order.shipping_address),
        lines=[PlacedLine(line_no=l.line_no, sku=l.sku, quantity=l.quantity, unit_price=l.unit_price) for l in lines
               if l.reservation != domain.REFUNDED],  # a line refunded while held never asks
        **({"priority": priority} if priority else {}),
        **({"ship_by": as_utc(order.ship_by)} if order.ship_by else {})), order_id)
    return True
