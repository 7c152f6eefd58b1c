"""`hub orders hold` against the order api's OrderService (a real gRPC server on SQLite): many orders
held with one reason and note, by id or by a filter, one line per order; an order in the wrong state
is reported and left unchanged."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from hub import apis, cli, components
from hub.supervisor import free_port
from hubapi.order.v1 import order_service_pb2_grpc as pb_grpc
from hubkit import grpc_server
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.order import domain, handlers
from services.order.grpc_server import OrderServicer
from services.order.models import metadata

pytestmark = pytest.mark.integration


@pytest.fixture
def order_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'order.db'}"
    components.migrate("order", url)
    db = Database(url, metadata, pool_size=2)
    port = free_port()
    server, health = grpc_server.start("order", port, lambda s: pb_grpc.add_OrderServiceServicer_to_server(
        OrderServicer(db), s))
    target = f"127.0.0.1:{port}"
    monkeypatch.setattr(apis.components, "settings", lambda: type("S", (), {"grpc_target": lambda self, _: target})())
    monkeypatch.setenv("USER", "olga")
    yield db
    server.stop(0).wait()
    db.dispose()


def placed(db, reservation: str) -> str:
    cmd = domain.PlaceOrder(channel="web", shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            lines=[domain.LineInput(sku="TEA", quantity=1, unit_price=Decimal("9.90"))])
    with UnitOfWork(db, "order", "ops", "t") as u:
        order_id, _ = handlers.place_order(u, cmd)
    with UnitOfWork(db, "order", "ops", "t") as u:
        handlers.apply_stock_answer(u, Envelope(
            type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1, correlation_id="c",
            actor="inventory", payload={"order_id": order_id,
                                        "lines": [{"line_no": 1, "status": reservation, "warehouse": "WH1"}]}))
    return order_id


def test_hold_by_ids_and_by_a_filter_prints_one_line_per_order(order_db, capsys):
    reserved, backordered, cancelled = (placed(order_db, r) for r in ("reserved", "backordered", "reserved"))
    with UnitOfWork(order_db, "order", "ops", "t") as u:
        handlers.cancel_order(u, cancelled)
    cli.main(["orders", "hold", reserved, cancelled, "--reason", "address_check", "--note", "check the street"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{reserved}: held (hold ") and out[0].endswith(")")
    assert out[1].startswith(f"{cancelled}: failed_precondition: ") and "cancelled" in out[1]
    assert out[2] == "1 held, 1 refused"
    order = handlers.get_order(order_db, reserved)
    assert [(h["reason"], h["note"], h["placed_by"]) for h in order["holds"]] == [
        ("address_check", "check the street", "cli:olga")]
    assert handlers.get_order(order_db, cancelled)["holds"] == []

    cli.main(["orders", "hold", "--status", "backordered", "--reason", "out_of_stock"])
    out = capsys.readouterr().out.splitlines()
    assert out == [out[0], "1 held, 0 refused"] and out[0].startswith(f"{backordered}: held")
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["orders", "hold", reserved, "--status", "held"])
