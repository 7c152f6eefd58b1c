"""The order service's batch calls on PostgreSQL and SQLite: PlaceOrders and ShipOrders apply each
item as the single call would, in one transaction with a savepoint per item, so an item refused even
after it wrote leaves nothing behind and the others are kept. The orders they answer with are built
from what was written, not read back: they equal what a read gives."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from hubapi.common.v1 import money_pb2
from hubapi.order.v1 import order_service_pb2 as pb
from hubkit.db import Database
from hubkit.errors import Conflict
from hubkit.grpc_server import CORRELATION_KEY
from services.order import handlers
from services.order.grpc_server import OrderServicer
from services.order.models import orders

pytestmark = pytest.mark.integration


class Context:
    def invocation_metadata(self):
        return (("x-hub-actor", "tester"),)


def place(external_id: str, quantity: int = 1) -> pb.PlaceOrderRequest:
    return pb.PlaceOrderRequest(
        channel="web", shop="s1", external_order_id=external_id,
        shipping_address=pb.Address(recipient="Li Lei", street="1 Road"),
        lines=[pb.OrderLineInput(sku="TEA", quantity=quantity,
                                 unit_price=money_pb2.Money(currency_code="CNY", units=9, nanos=900_000_000))])


def stored(db: Database, external_ids) -> set[str]:
    with db.reader() as s:
        return set(s.execute(select(orders.c.external_order_id)
                             .where(orders.c.external_order_id.in_(list(external_ids)))).scalars())


def test_place_orders_answers_each_item_as_place_order_would(db):
    a, bad, b = (f"E-{uuid.uuid4().hex[:8]}" for _ in range(3))
    reply = OrderServicer(db).PlaceOrders(pb.PlaceOrdersRequest(orders=[place(a), place(bad, 0), place(b), place(a)]),
                                          Context())
    results = list(reply.results)
    assert [r.HasField("error") for r in results] == [False, True, False, False]
    assert [r.created for r in results] == [True, False, True, False]
    assert results[1].error.code == "INVALID_ARGUMENT"
    assert [f.field for f in results[1].error.fields] == ["lines[0].quantity"]
    assert results[3].order.id == results[0].order.id
    assert results[0].order.created_by == "tester"
    assert stored(db, [a, bad, b]) == {a, b}


def test_place_orders_applies_in_key_order_answers_in_request_order_each_with_its_correlation_id(db):
    """As the gateway sends single POST /orders on together: each order's event carries its own request's
    correlation id (the call's when it has none), and the orders are written in the order of their keys
    (two batches naming the same orders never lock them in opposite orders) but answered as asked."""
    run = uuid.uuid4().hex[:8]
    asked = [f"E-{run}-c", f"E-{run}-a", f"E-{run}-b"]
    items = [place(asked[0]), place(asked[1]), place(asked[2])]
    items[0].correlation_id, items[2].correlation_id = "request-c", "request-b"

    class Call(Context):
        def invocation_metadata(self):
            return (*super().invocation_metadata(), (CORRELATION_KEY, "the-call"))
    reply = OrderServicer(db).PlaceOrders(pb.PlaceOrdersRequest(orders=items), Call())
    assert [r.order.external_order_id for r in reply.results] == asked
    outbox = db.metadata.tables["outbox"]
    with db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_placed",
                                                       outbox.c.body.contains(run))
                           .order_by(outbox.c.id)).scalars().all()
    events = [(e["payload"]["external_order_id"], e["correlation_id"]) for e in map(json.loads, bodies)]
    assert events == [(f"E-{run}-a", "the-call"), (f"E-{run}-b", "request-b"), (f"E-{run}-c", "request-c")]


def test_an_item_refused_after_it_wrote_leaves_nothing_and_the_others_stay(db, monkeypatch):
    first, second, third = (f"E-{uuid.uuid4().hex[:8]}" for _ in range(3))
    placed_order = handlers.placed_order

    def refuse_second(uow, cmd, review_first=False):  # a refusal after the order and its event were written
        order, created = placed_order(uow, cmd, review_first)
        if order["external_order_id"] == second:
            raise Conflict("refused after writing")
        return order, created
    monkeypatch.setattr(handlers, "placed_order", refuse_second)
    reply = OrderServicer(db).PlaceOrders(pb.PlaceOrdersRequest(orders=[place(first), place(second), place(third)]),
                                          Context())
    assert [r.error.code for r in reply.results] == ["", "FAILED_PRECONDITION", ""]
    assert stored(db, [first, second, third]) == {first, third}
    with db.reader() as s:
        events = s.execute(select(db.metadata.tables["outbox"].c.body)).scalars().all()
    assert sum(second in body for body in events) == 0 and sum(first in body for body in events) == 1


def test_ship_orders_ships_each_reserved_order_and_refuses_the_rest_alone(db):
    ready, pending = (f"E-{uuid.uuid4().hex[:8]}" for _ in range(2))
    servicer = OrderServicer(db)
    placed = servicer.PlaceOrders(pb.PlaceOrdersRequest(orders=[place(ready), place(pending)]), Context()).results
    with db.session() as s:
        s.execute(orders.update().where(orders.c.id == placed[0].order.id).values(status="reserved"))
    wave = [pb.ShipOrderRequest(order_id=placed[0].order.id, carrier="SF", tracking_number="SF100001"),
            pb.ShipOrderRequest(order_id=placed[1].order.id, carrier="SF", tracking_number="SF100002"),
            pb.ShipOrderRequest(order_id="nope", carrier="SF", tracking_number="SF100003")]
    reply = servicer.ShipOrders(pb.ShipOrdersRequest(shipments=wave), Context())
    assert [r.error.code for r in reply.results] == ["", "FAILED_PRECONDITION", "NOT_FOUND"]
    assert reply.results[0].order.status == "shipped"
    with db.reader() as s:
        statuses = dict(s.execute(select(orders.c.external_order_id, orders.c.status)
                                  .where(orders.c.external_order_id.in_([ready, pending]))).all())
    assert statuses == {ready: "shipped", pending: "pending"}


def test_the_orders_answered_are_the_orders_as_read(db):
    """PlaceOrder and ShipOrder answer with the order built from what they wrote (no read-back): the
    same message as GetOrder gives, on both dialects; so does an order placed again (read, created
    False) and a shipment asked again."""
    servicer, external_id = OrderServicer(db), f"E-{uuid.uuid4().hex[:8]}"
    request = place(external_id, quantity=3)
    request.buyer.CopyFrom(pb.Buyer(name="韩梅梅", phone="13900000000"))
    request.exchange_rate = "0.91234567"
    placed = servicer.PlaceOrder(request, Context())
    read = servicer.GetOrder(pb.GetOrderRequest(id=placed.order.id), Context()).order
    assert placed.created and placed.order == read
    again = servicer.PlaceOrder(request, Context())
    assert not again.created and again.order == read
    with db.session() as s:
        s.execute(orders.update().where(orders.c.id == read.id).values(status="reserved"))
    shipment = pb.ShipOrderRequest(order_id=read.id, carrier="SF", tracking_number="SF200001")
    shipped = servicer.ShipOrder(shipment, Context()).order
    assert shipped.status == "shipped" and shipped.tracking_number == "SF200001"
    assert shipped == servicer.GetOrder(pb.GetOrderRequest(id=read.id), Context()).order
    assert servicer.ShipOrder(shipment, Context()).order == shipped


def test_a_waves_plain_shipments_are_set_based_and_answer_as_ship_order_would(db):
    """A wave of whole reserved orders ships in a fixed number of statements, not about ten per order;
    each is answered as GetOrder reads it and emits its order_shipped. An order named twice, one not
    reserved, and one with a bad tracking number take the one-by-one path and answer as before."""
    from sqlalchemy import event as sa_event

    servicer = OrderServicer(db)
    external = [f"E-{uuid.uuid4().hex[:8]}" for _ in range(7)]
    placed = [r.order for r in servicer.PlaceOrders(pb.PlaceOrdersRequest(orders=[place(e) for e in external]),
                                                     Context()).results]
    with db.session() as s:
        s.execute(orders.update().where(orders.c.id.in_([o.id for o in placed[:6]])).values(status="reserved"))
    wave = [pb.ShipOrderRequest(order_id=o.id, carrier="SF", tracking_number=f"SF30000{n}")
            for n, o in enumerate(placed[:5])]
    wave += [pb.ShipOrderRequest(order_id=placed[0].id, carrier="SF", tracking_number="SF300000"),  # again
             pb.ShipOrderRequest(order_id=placed[5].id, carrier="SF", tracking_number="?"),
             pb.ShipOrderRequest(order_id=placed[6].id, carrier="SF", tracking_number="SF300006")]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        reply = servicer.ShipOrders(pb.ShipOrdersRequest(shipments=wave), Context())
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    assert [r.error.code for r in reply.results] == ["", "", "", "", "", "", "INVALID_ARGUMENT", "FAILED_PRECONDITION"]
    for result in reply.results[1:5]:
        assert result.order == servicer.GetOrder(pb.GetOrderRequest(id=result.order.id), Context()).order
        assert result.order.status == "shipped"
    assert reply.results[5].order == reply.results[0].order  # the same shipment asked again
    with db.reader() as s:
        events = s.execute(select(db.metadata.tables["outbox"].c.body)
                           .where(db.metadata.tables["outbox"].c.event_type == "order_shipped")).scalars().all()
    assert sorted(o.id for o in placed[:5]) == sorted(o.id for o in placed[:5] if sum(o.id in b for b in events) == 1)
    # four plain orders (the first is named twice) set-based; the other three items one by one as before
    assert len(statements) <= 45, "\n".join(statements)  # 77-81 one by one
