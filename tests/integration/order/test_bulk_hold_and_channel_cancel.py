"""On PostgreSQL and SQLite: the bulk hold (HoldOrders) holds each order as HoldOrder would, with one
reason and note, each in its own savepoint, an order in the wrong state refused on its own and left
unchanged; and a shop platform's order cancelled in the hub (reject, cancel, an abandoned
reservation) is audited and shown with what the operator must do, since no platform API cancels a
paid trade for the seller, until the platform reports the trade closed."""
from __future__ import annotations

import dataclasses
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from hubapi.order.v1 import order_service_pb2 as pb
from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from services.order import domain, handlers, holds
from services.order.grpc_server import OrderServicer
from services.order.models import metadata, order_audit, order_holds

pytestmark = pytest.mark.integration


class Context:
    def invocation_metadata(self):
        return (("x-hub-actor", "desk-ann"),)


def uow(db, actor="ops"):
    return UnitOfWork(db, "order", actor, "test")


def placed(db, channel="web", reservation=domain.RESERVED) -> str:
    cmd = domain.PlaceOrder(channel=channel, shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            lines=[domain.LineInput(sku="TEA", quantity=2, unit_price=Decimal("9.90"))])
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, cmd)
    with uow(db) as u:
        handlers.apply_stock_answer(u, Envelope(
            type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1, correlation_id="c",
            actor="inventory", payload={"order_id": order_id,
                                        "lines": [{"line_no": 1, "status": reservation, "warehouse": "WH1"}]}))
    return order_id


def channel_order(db, platform: str, version: int = 1, status: str = "paid") -> tuple[str, domain.ChannelOrder]:
    """An order as a shop connector publishes it (channel_order_changed), applied and reserved."""
    cmd = domain.PlaceOrder(channel=platform, shop="tb-main", external_order_id=str(uuid.uuid4().int)[:16],
                            lines=[domain.LineInput(sku="TEA", quantity=1, unit_price=Decimal("20.00"))],
                            buyer={"id": "buyer-1"}, shipping_address={"recipient": "Li", "street": "1 Road"})
    co = domain.ChannelOrder(order=cmd, version=version, status=status)
    with uow(db, "shops-" + platform) as u:
        order_id, outcome = handlers.apply_channel_order(u, co)
    assert outcome == "created"
    return order_id, co


def audit(db, order_id) -> list[dict]:
    with db.reader() as s:
        return holds.audit_of(s, order_id)


def test_hold_orders_holds_each_with_the_reason_and_refuses_the_wrong_state_alone(db):
    reserved, backordered, other = placed(db), placed(db, reservation=domain.BACKORDERED), placed(db)
    shipped = placed(db)
    with uow(db) as u:
        handlers.ship_order(u, shipped, "SF", "SF0001")
    with uow(db) as u:
        handlers.cancel_order(u, other, "buyer asked")
    reply = OrderServicer(db).HoldOrders(pb.HoldOrdersRequest(items=[
        pb.HoldOrderRequest(order_id=i, reason="address_check", note="verify the street")
        for i in (reserved, shipped, backordered, other, "no-such-order")]), Context())
    results = list(reply.results)
    assert [r.HasField("error") for r in results] == [False, True, False, True, True]
    assert [r.error.code for r in results if r.HasField("error")] == [
        "FAILED_PRECONDITION", "FAILED_PRECONDITION", "NOT_FOUND"]
    assert "shipped" in results[1].error.message and "cancelled" in results[3].error.message
    assert results[0].order.status == results[2].order.status == domain.HELD
    with db.reader() as s:
        open_ = s.execute(select(order_holds).where(order_holds.c.order_id.in_(
            [reserved, backordered, shipped, other]))).all()
    assert {(h.order_id, h.reason, h.note, h.placed_by, h.rule) for h in open_} == {
        (reserved, "address_check", "verify the street", "desk-ann", None),
        (backordered, "address_check", "verify the street", "desk-ann", None)}
    assert {h.id for h in open_} == {results[0].hold_id, results[2].hold_id}
    # the same audit as the single hold: who, why, the status before
    [entry] = [e for e in audit(db, backordered) if e["action"] == "hold"]
    assert (entry["actor"], entry["note"], entry["detail"]["reason"], entry["detail"]["status_before"]) == (
        "desk-ann", "verify the street", "address_check", domain.BACKORDERED)
    # refused ones are unchanged
    assert handlers.get_order(db, shipped)["status"] == "shipped"
    assert handlers.get_order(db, other)["status"] == domain.CANCELLED
    assert not [e for e in audit(db, shipped) if e["action"] == "hold"]
    # holding again with the same reason holds once (the same hold), and release restores the lines' status
    again = OrderServicer(db).HoldOrders(pb.HoldOrdersRequest(items=[
        pb.HoldOrderRequest(order_id=reserved, reason="address_check")]), Context())
    assert again.results[0].hold_id == results[0].hold_id
    with uow(db) as u:
        assert holds.release(u, backordered, "street verified")["status"] == domain.BACKORDERED


def test_hold_orders_with_an_unknown_reason_refuses_each_and_holds_none(db):
    order_id = placed(db)
    reply = OrderServicer(db).HoldOrders(pb.HoldOrdersRequest(items=[
        pb.HoldOrderRequest(order_id=order_id, reason="because")]), Context())
    assert reply.results[0].error.code == "INVALID_ARGUMENT"
    assert [f.field for f in reply.results[0].error.fields] == ["reason"]
    assert handlers.get_order(db, order_id)["status"] == domain.RESERVED


@pytest.mark.parametrize("platform, closes_as", [("taobao", "TRADE_CLOSED"), ("jd", "TRADE_CANCELED")])
def test_a_rejected_shop_order_is_audited_and_shown_as_still_open_on_the_platform(db, platform, closes_as):
    order_id, co = channel_order(db, platform)
    with uow(db) as u:
        holds.place(u, order_id, "fraud_suspicion", note="odd address")
    with uow(db, "desk-bob") as u:
        order = handlers.reject_order(u, order_id, "fraud confirmed")
    assert order["status"] == domain.CANCELLED
    notice = order["channel_notice"]
    assert notice.startswith("cancelled in the hub only") and closes_as in notice and "refund" in notice
    assert co.order.external_order_id in notice
    [entry] = [e for e in audit(db, order_id) if e["action"] == "channel_notice"]
    assert entry["actor"] == "desk-bob" and entry["note"] == notice
    assert entry["detail"]["told"] is False and entry["detail"]["closed_by"] == "buyer_refund"
    assert (entry["detail"]["channel"], entry["detail"]["closes_as"], entry["detail"]["platform_status"]) == (
        platform, closes_as, "paid")
    # inventory hears order_cancelled as for any cancel: it releases the stock (and pushes stock_changed)
    outbox = metadata.tables["outbox"]
    with db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_cancelled")).scalars().all()
    assert [Envelope.from_json(b).payload["order_id"] for b in bodies].count(order_id) == 1
    # the buyer's refund closes the trade; the connector pulls it as cancelled: the notice is gone
    closed = domain.ChannelOrder(order=co.order, version=co.version + 1, status=domain.CANCELLED)
    with uow(db, "shops-" + platform) as u:
        assert handlers.apply_channel_order(u, closed) == (order_id, "updated")
    assert handlers.get_order(db, order_id)["channel_notice"] == ""
    assert [e["action"] for e in audit(db, order_id)].count("channel_notice") == 1


def test_a_cancel_the_platform_made_and_an_order_of_another_channel_get_no_notice(db):
    order_id, co = channel_order(db, "taobao")
    cancelled = domain.ChannelOrder(order=co.order, version=co.version + 1, status=domain.CANCELLED)
    with uow(db, "shops-taobao") as u:
        assert handlers.apply_channel_order(u, cancelled) == (order_id, "cancelled")
    web = placed(db)
    with uow(db) as u:
        handlers.cancel_order(u, web, "buyer asked")
    for i in (order_id, web):
        assert handlers.get_order(db, i)["status"] == domain.CANCELLED
        assert handlers.get_order(db, i)["channel_notice"] == ""
        assert "channel_notice" not in [e["action"] for e in audit(db, i)]
    with db.reader() as s:
        assert json.loads(s.execute(select(order_audit.c.detail).where(
            order_audit.c.order_id == web, order_audit.c.action == "cancel")).scalar())["status_before"] == "reserved"


def test_an_abandoned_shop_order_is_noted_too(db):
    order_id, _ = channel_order(db, "jd")
    with uow(db, "inventory") as u:
        assert handlers.expire_reservation(u, Envelope(
            type="reservation_expired", source="inventory", aggregate_id=order_id, sequence=1, correlation_id="c",
            actor="inventory", payload={"order_id": order_id, "expired_at": "2026-12-06T00:00:00+00:00", "lines": []}))
    [entry] = [e for e in audit(db, order_id) if e["action"] == "channel_notice"]
    assert entry["actor"] == "inventory" and "TRADE_CANCELED" in entry["note"]
    assert handlers.get_order(db, order_id)["channel_notice"] == entry["note"]


def test_a_delivery_of_channel_orders_is_applied_in_one_transaction_as_each_alone_would_be(db):
    """The order worker's batch (apply_channel_orders): a new order; the same new order again, cancelled; a
    known order's newer version (a line's refund requested, another's address) and a stale version of it."""
    known_id, known = channel_order(db, "taobao")
    two = domain.PlaceOrder(channel="taobao", shop="tb-main", external_order_id=str(uuid.uuid4().int)[:16],
                            lines=[domain.LineInput(sku="TEA", quantity=1, unit_price=Decimal("20.00")),
                                   domain.LineInput(sku="CUP", quantity=1, unit_price=Decimal("5.00"),
                                                    refund_status="wait_seller_agree")],
                            buyer={"id": "buyer-2"}, shipping_address={"recipient": "Wu", "street": "2 Road"})
    new = domain.PlaceOrder(channel="taobao", shop="tb-main", external_order_id=str(uuid.uuid4().int)[:16],
                            lines=[domain.LineInput(sku="TEA", quantity=3, unit_price=Decimal("20.00"))],
                            buyer={"id": "buyer-3"}, shipping_address={"recipient": "Ma", "street": "3 Road"})
    moved = dataclasses.replace(known.order, shipping_address={"recipient": "Li", "street": "9 Road"})
    batch = [domain.ChannelOrder(order=two, version=1, status="paid"),
             domain.ChannelOrder(order=new, version=1, status="paid"),
             domain.ChannelOrder(order=new, version=2, status=domain.CANCELLED),
             domain.ChannelOrder(order=moved, version=known.version + 1, status="paid"),
             domain.ChannelOrder(order=known.order, version=known.version, status="paid")]
    envelopes = [Envelope(type="channel_order_changed", source="shops_taobao", aggregate_id=co.order.external_order_id,
                          sequence=co.version, correlation_id=f"c{n}", actor="connector:taobao", payload={})
                 for n, co in enumerate(batch)]
    with uow(db, "shops-taobao") as u:
        handlers.apply_channel_orders(u, list(zip(batch, envelopes, strict=True)))
    with db.reader() as s:
        ids = dict(s.execute(select(metadata.tables["orders"].c.external_order_id, metadata.tables["orders"].c.id)
                             .where(metadata.tables["orders"].c.external_order_id.in_(
                                 [two.external_order_id, new.external_order_id]))).all())
    placed_two, placed_new = (handlers.get_order(db, ids[o.external_order_id]) for o in (two, new))
    assert (placed_two["status"], placed_two["channel_version"], placed_two["channel_status"]) == (
        domain.PENDING, 1, "paid")
    assert [line["refund_status"] for line in placed_two["lines"]] == [None, "wait_seller_agree"]
    assert (placed_new["status"], placed_new["channel_version"]) == (domain.CANCELLED, 2)
    changed_known = handlers.get_order(db, known_id)
    assert changed_known["shipping_address"] == {"recipient": "Li", "street": "9 Road"}
    assert changed_known["channel_version"] == known.version + 1  # the stale version changed nothing
    # what each emitted carries its own envelope's correlation id
    outbox = metadata.tables["outbox"]
    with db.reader() as s:
        placed_events = [Envelope.from_json(b) for b in s.execute(select(outbox.c.body).where(
            outbox.c.event_type == "order_placed")).scalars()]
    correlation = {e.payload["external_order_id"]: e.correlation_id for e in placed_events}
    assert (correlation[two.external_order_id], correlation[new.external_order_id]) == ("c0", "c1")
