"""An operator moves an order to another warehouse: the order service (ChangeWarehouse) asks inventory
(MoveOrder) over gRPC, both real and in-process; inventory's refusal is the call's and changes
nothing; the order's lines learn the warehouse from inventory's usual answer, and the order's audit
records the move from inventory's order_moved (through the order worker's inbox: exactly once), so a
failure of the order's own transaction after inventory moved leaves no move unaudited. The order
database on PostgreSQL and SQLite."""
from __future__ import annotations

import uuid
from concurrent import futures
from decimal import Decimal

import grpc
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from hub import components
from hubapi.inventory.v1 import inventory_service_pb2_grpc as invpb_grpc
from hubapi.order.v1 import order_service_pb2 as pb
from hubapi.order.v1 import order_service_pb2_grpc as pb_grpc
from hubkit.commands import COMMAND_KEY
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.grpc_server import ACTOR_KEY
from services.inventory import catalog, movements, reservations
from services.inventory.grpc_server import InventoryServicer
from services.inventory.models import metadata as inventory_metadata
from services.order import domain, handlers, holds
from services.order.grpc_server import OrderServicer
from services.order.worker import Worker

pytestmark = pytest.mark.integration


class FailingAfterTheMove(OrderServicer):
    """The order api whose own transaction fails once right after inventory moved (its database went
    away, say): the boundary the move must survive."""
    failures = 1

    def _move(self, *args, **kwargs):
        lines = super()._move(*args, **kwargs)
        if FailingAfterTheMove.failures:
            FailingAfterTheMove.failures -= 1
            raise RuntimeError("the order database went away")
        return lines


@pytest.fixture(params=[OrderServicer])
def hub(db, tmp_path, request):
    """(order stub, inventory database): inventory's api and the order's, the order's asking inventory's."""
    settings = components.settings({"HUB_VAR_DIR": str(tmp_path)})
    components.migrate("inventory", settings.db_url("inventory"))
    inventory_db = Database(settings.db_url("inventory"), inventory_metadata)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    port = server.add_insecure_port("127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    invpb_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(inventory_db, settings["inventory"]), server)
    pb_grpc.add_OrderServiceServicer_to_server(request.param(db, None, invpb_grpc.InventoryServiceStub(channel)),
                                               server)
    server.start()
    yield pb_grpc.OrderServiceStub(channel), inventory_db
    server.stop(None)
    channel.close()
    inventory_db.dispose()


def _outbox(database, event_type: str) -> list[Envelope]:
    outbox = database.metadata.tables["outbox"]
    with database.reader() as s:
        return [Envelope.from_json(b) for b in s.execute(select(outbox.c.body).where(outbox.c.event_type == event_type)
                                                         .order_by(outbox.c.id)).scalars()]


def _answer_last(db, inventory_db, order_id) -> None:
    """The order applies inventory's newest answer for it, as its worker does."""
    answer = [e for e in _outbox(inventory_db, "stock_reserved") + _outbox(inventory_db, "stock_short")
              if e.aggregate_id == order_id]
    with UnitOfWork(db, "order", "inventory", "t") as u:
        handlers.apply_stock_answer(u, max(answer, key=lambda e: e.sequence))


def _audit_moves(db, inventory_db, order_id) -> list[bool]:
    """The order worker applies inventory's order_moved events of the order (through its inbox)."""
    worker = worker_factory(Worker, db=db)
    return [worker.on_order_moved(e) for e in _outbox(inventory_db, "order_moved") if e.aggregate_id == order_id]


def _level(inventory_db, sku, warehouse) -> int:
    return catalog.get_stock(inventory_db, sku, warehouse)[0]["reserved"]


def test_an_order_moves_to_another_warehouse_or_is_refused_changing_nothing(db, hub):
    stub, inventory_db = hub
    tag = uuid.uuid4().hex[:6]
    sku, near, far, bare = f"TEA-{tag}", f"N-{tag}", f"F-{tag}", f"B-{tag}"
    with UnitOfWork(inventory_db, "inventory", "admin", "t") as u:
        catalog.upsert_sku(u, sku, "Tea")
        for priority, code in enumerate((near, far, bare)):
            catalog.upsert_warehouse(u, code, code, priority)
    for warehouse, qty in ((near, 5), (far, 2)):
        with UnitOfWork(inventory_db, "inventory", "admin", "t") as u:
            movements.receive(u, sku, warehouse, qty, "3.00")
    cmd = domain.PlaceOrder(channel="web", shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            lines=[domain.LineInput(sku=sku, quantity=2, unit_price=Decimal("9.90"))])
    with UnitOfWork(db, "order", "sales", "t") as u:
        order_id, _ = handlers.place_order(u, cmd)
    [placed] = [e for e in _outbox(db, "order_placed") if e.aggregate_id == order_id]
    with UnitOfWork(inventory_db, "inventory", "order", "t") as u:
        reservations.reserve_order(u, placed)
    _answer_last(db, inventory_db, order_id)
    assert handlers.get_order(db, order_id)["lines"][0]["warehouse"] == near
    desk = [(ACTOR_KEY, "desk")]

    with pytest.raises(grpc.RpcError) as lacking:  # BARE has no TEA
        stub.ChangeWarehouse(pb.ChangeWarehouseRequest(order_id=order_id, warehouse=bare), metadata=desk)
    with pytest.raises(grpc.RpcError) as unknown:
        stub.ChangeWarehouse(pb.ChangeWarehouseRequest(order_id=order_id, warehouse=f"X-{tag}"), metadata=desk)
    assert lacking.value.code() == grpc.StatusCode.FAILED_PRECONDITION and sku in lacking.value.details()
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("x-hub-field-errors", '[{"field": "warehouse", "message": "unknown warehouse"}]') in \
        unknown.value.trailing_metadata()
    assert (_level(inventory_db, sku, near), _level(inventory_db, sku, far)) == (2, 0)
    with db.reader() as s:
        assert [e["action"] for e in holds.audit_of(s, order_id)] == []

    reply = stub.ChangeWarehouse(pb.ChangeWarehouseRequest(order_id=order_id, warehouse=far, note="nearer the buyer"),
                                 metadata=desk)
    assert reply.order.status == domain.RESERVED
    assert (_level(inventory_db, sku, near), _level(inventory_db, sku, far)) == (0, 2)
    _answer_last(db, inventory_db, order_id)  # inventory's usual answer tells the lines
    assert handlers.get_order(db, order_id)["lines"][0]["warehouse"] == far
    assert _audit_moves(db, inventory_db, order_id) == [True]  # the audit, from inventory's order_moved
    with db.reader() as s:
        [moved] = holds.audit_of(s, order_id)
    assert (moved["action"], moved["actor"], moved["note"]) == ("change_warehouse", "desk", "nearer the buyer")
    assert moved["detail"]["before"] == [near] and moved["detail"]["lines"][0]["allocations"] == \
        [{"warehouse": far, "quantity": 2}]

    with UnitOfWork(db, "order", "floor", "t") as u:
        handlers.ship_order(u, order_id, "SF", "SF" + tag)
    with pytest.raises(grpc.RpcError) as shipped:  # refused by the order service: inventory is not asked
        stub.ChangeWarehouse(pb.ChangeWarehouseRequest(order_id=order_id, warehouse=near), metadata=desk)
    assert shipped.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "shipped" in shipped.value.details()
    assert _level(inventory_db, sku, far) == 2


def _placed_and_reserved(db, inventory_db, tag: str) -> tuple[str, str, str, str]:
    """An order of 2 TEA reserved in NEAR; FAR has 2 free. (order id, sku, near, far)"""
    sku, near, far = f"TEA-{tag}", f"N-{tag}", f"F-{tag}"
    with UnitOfWork(inventory_db, "inventory", "admin", "t") as u:
        catalog.upsert_sku(u, sku, "Tea")
        for priority, code in enumerate((near, far)):
            catalog.upsert_warehouse(u, code, code, priority)
    for warehouse in (near, far):
        with UnitOfWork(inventory_db, "inventory", "admin", "t") as u:
            movements.receive(u, sku, warehouse, 2, "3.00")
    cmd = domain.PlaceOrder(channel="web", shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            lines=[domain.LineInput(sku=sku, quantity=2, unit_price=Decimal("9.90"))])
    with UnitOfWork(db, "order", "sales", "t") as u:
        order_id, _ = handlers.place_order(u, cmd)
    [placed] = [e for e in _outbox(db, "order_placed") if e.aggregate_id == order_id]
    with UnitOfWork(inventory_db, "inventory", "order", "t") as u:
        reservations.reserve_order(u, placed)
    _answer_last(db, inventory_db, order_id)
    return order_id, sku, near, far


@pytest.mark.parametrize("hub", [FailingAfterTheMove], indirect=True)
def test_a_move_whose_order_transaction_failed_after_inventory_moved_is_still_audited_exactly_once(db, hub):
    stub, inventory_db = hub
    FailingAfterTheMove.failures = 1
    order_id, sku, near, far = _placed_and_reserved(db, inventory_db, uuid.uuid4().hex[:6])
    call = [(ACTOR_KEY, "desk"), (COMMAND_KEY, uuid.uuid4().hex)]  # the gateway's command id for the user's key

    with pytest.raises(grpc.RpcError) as failed:  # inventory moved; then the order's own transaction failed
        stub.ChangeWarehouse(pb.ChangeWarehouseRequest(order_id=order_id, warehouse=far, note="nearer"), metadata=call)
    assert failed.value.code() not in (grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION)
    assert (_level(inventory_db, sku, near), _level(inventory_db, sku, far)) == (0, 2)  # the move stands
    with db.reader() as s:
        assert holds.audit_of(s, order_id) == []  # nothing of the order's failed transaction remains

    # inventory's order_moved, committed with the move, audits it; delivered twice, it counts once
    assert _audit_moves(db, inventory_db, order_id) == [True]
    assert _audit_moves(db, inventory_db, order_id) == [False]
    with db.reader() as s:
        [moved] = holds.audit_of(s, order_id)
    assert (moved["action"], moved["actor"], moved["note"]) == ("change_warehouse", "desk", "nearer")
    assert (moved["detail"]["warehouse"], moved["detail"]["before"]) == (far, [near])
    assert moved["detail"]["lines"][0]["allocations"] == [{"warehouse": far, "quantity": 2}]

    # the caller retries with its Idempotency-Key: inventory answers the move it made, and moves nothing again
    reply = stub.ChangeWarehouse(pb.ChangeWarehouseRequest(order_id=order_id, warehouse=far, note="nearer"),
                                 metadata=call)
    assert reply.order.id == order_id
    assert len([e for e in _outbox(inventory_db, "order_moved") if e.aggregate_id == order_id]) == 1
    assert (_level(inventory_db, sku, near), _level(inventory_db, sku, far)) == (0, 2)
    assert _audit_moves(db, inventory_db, order_id) == [False]
    with db.reader() as s:
        assert [e["action"] for e in holds.audit_of(s, order_id)] == ["change_warehouse"]
