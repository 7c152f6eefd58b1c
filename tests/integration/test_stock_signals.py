"""Inventory's stock signals on PostgreSQL and SQLite: low_stock becomes one open purchase suggestion per SKU
and warehouse, lot_expiring / lot_hold_changed become stock alerts (procurement), and reservation_expired
cancels an abandoned order (order). Each event is applied through handle_once, as the workers do."""
from __future__ import annotations

import json
import uuid
from concurrent import futures
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import grpc
import pytest
from sqlalchemy import func, select

from hub import components
from hubapi.procurement.v1 import procurement_service_pb2 as pb
from hubapi.procurement.v1 import procurement_service_pb2_grpc as pb_grpc
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, InvalidArgument, NotFound
from hubkit.grpc_server import ACTOR_KEY
from hubkit.inbox import handle_once
from services.order import domain as order_domain
from services.order import handlers as order_handlers
from services.order.models import metadata as order_metadata
from services.order.models import orders
from services.procurement import domain, handlers
from services.procurement.grpc_server import ProcurementServicer
from services.procurement.models import metadata, purchase_suggestions
from tests.support import infra

pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pg_urls():
    prefix = infra.session_name()
    urls = infra.create_databases(prefix, ["procurement", "order"])
    for name, url in urls.items():
        components.migrate(name, url)
    yield urls
    infra.drop_databases(prefix, ["procurement", "order"])


@pytest.fixture(params=["postgresql", "sqlite"])
def urls(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_urls")
    found = {name: f"sqlite:///{tmp_path / (name + '.db')}" for name in ("procurement", "order")}
    for name, url in found.items():
        components.migrate(name, url)
    return found


@pytest.fixture
def db(urls):
    database = Database(urls["procurement"], metadata, pool_size=4)
    yield database
    database.dispose()


@pytest.fixture
def order_db(urls):
    database = Database(urls["order"], order_metadata, pool_size=4)
    yield database
    database.dispose()


def _sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


def _at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def low_stock(sku, warehouse, sequence, available, minimum=10, maximum=50, minutes=None, event_id=None):
    kw = {"event_id": event_id} if event_id else {}
    return Envelope(type="low_stock", source="inventory", aggregate_id=f"stock:{sku}@{warehouse}",
                    sequence=sequence, correlation_id="corr-ls", actor="system", **kw,
                    payload={"sku": sku, "warehouse": warehouse, "available": available, "minimum": minimum,
                             "maximum": maximum, "shortfall": maximum - available,
                             "occurred_at": _at(sequence if minutes is None else minutes)})


def apply_low_stock(db, envelope) -> bool:
    return handle_once(db, "procurement", "procurement.low_stock", envelope, handlers.apply_low_stock)


def record_alert(db, envelope) -> bool:
    return handle_once(db, "procurement", f"procurement.{envelope.type}", envelope, handlers.record_stock_alert)


def _suggestions(db, sku) -> list:
    with db.reader() as s:
        return s.execute(select(purchase_suggestions).where(purchase_suggestions.c.sku == sku)
                         .order_by(purchase_suggestions.c.created_at)).all()


def _dismiss(db, sku, warehouse, actor="pam"):
    with UnitOfWork(db, "procurement", actor, "corr-d") as uow:
        return handlers.dismiss_suggestion(uow, sku, warehouse)


# -- purchase suggestions ------------------------------------------------------------
def test_repeated_low_stock_updates_one_open_suggestion(db):
    sku = _sku()
    assert apply_low_stock(db, low_stock(sku, "WH-SH", 1, available=10))
    assert apply_low_stock(db, low_stock(sku, "WH-SH", 2, available=7))
    assert apply_low_stock(db, low_stock(sku, "WH-SH", 3, available=4, minimum=12, maximum=60))
    [row] = _suggestions(db, sku)
    assert (row.status, row.available, row.minimum, row.maximum, row.quantity) == ("open", 4, 12, 60, 56)
    assert row.closed_by is None and row.closed_at is None and row.purchase_order_id is None
    # a redelivered event and an older version change nothing
    first = low_stock(sku, "WH-SH", 4, available=2)
    assert apply_low_stock(db, first) is True
    assert apply_low_stock(db, first) is False
    assert apply_low_stock(db, low_stock(sku, "WH-SH", 2, available=9)) is False
    [row] = _suggestions(db, sku)
    assert (row.available, row.quantity) == (2, 48)
    # the same SKU in another warehouse is a suggestion of its own
    assert apply_low_stock(db, low_stock(sku, "WH-BJ", 1, available=5))
    assert sorted((r.warehouse, r.quantity) for r in _suggestions(db, sku)) == [("WH-BJ", 45), ("WH-SH", 48)]


def test_a_dismissed_suggestion_stays_dismissed_until_a_later_signal(db):
    sku = _sku()
    apply_low_stock(db, low_stock(sku, "WH-SH", 1, available=8))
    suggestion_id = _dismiss(db, sku, "WH-SH", actor="pam")
    [row] = _suggestions(db, sku)
    assert (row.id, row.status, row.closed_by) == (suggestion_id, "dismissed", "pam") and row.closed_at
    with pytest.raises(Conflict):
        _dismiss(db, sku, "WH-SH")
    with pytest.raises(NotFound):
        _dismiss(db, sku, "WH-NONE")
    # a signal from before the decision (delivered late) does not reopen it
    late = low_stock(sku, "WH-SH", 2, available=6)  # occurred at T0 + 2 minutes, long before now
    assert apply_low_stock(db, late) is True
    assert [r.status for r in _suggestions(db, sku)] == ["dismissed"]
    # a signal after the decision opens a new suggestion; the dismissed one is kept
    later = (datetime.now(timezone.utc) + timedelta(minutes=1) - T0) // timedelta(minutes=1)
    fresh = low_stock(sku, "WH-SH", 3, available=3, minutes=later + 1)
    assert apply_low_stock(db, fresh)
    rows = _suggestions(db, sku)
    assert [(r.status, r.quantity) for r in rows] == [("dismissed", 42), ("open", 47)]
    open_only = handlers.list_suggestions(db, status="open", warehouse="WH-SH", limit=1000)
    assert [s["id"] for s in open_only if s["sku"] == sku] == [rows[1].id]
    with pytest.raises(InvalidArgument):
        handlers.list_suggestions(db, status="maybe")


def test_a_purchase_order_for_the_sku_and_warehouse_marks_the_suggestion_ordered(db):
    sku = _sku()
    apply_low_stock(db, low_stock(sku, "WH-SH", 1, available=1))
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        handlers.upsert_supplier(uow, "SUP-SIG", "Signal Supplies")
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        po_id = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(
            supplier="SUP-SIG", warehouse="WH-SH", lines=[domain.LineInput(sku, 49, "2.50")]))
    [row] = _suggestions(db, sku)
    assert (row.status, row.purchase_order_id, row.closed_by) == ("ordered", po_id, "pam")


def test_a_malformed_low_stock_is_refused_and_nothing_is_recorded(db):
    sku = _sku()
    bad = low_stock(sku, "WH-SH", 1, available=1)
    bad.payload["shortfall"] = "many"
    with pytest.raises(InvalidArgument):
        apply_low_stock(db, bad)
    assert _suggestions(db, sku) == []
    with db.reader() as s:  # the inbox record was rolled back with it: a retry will apply it
        inbox = metadata.tables["inbox"]
        assert s.execute(select(func.count()).select_from(inbox).where(inbox.c.event_id == bad.event_id)).scalar() == 0


# -- stock alerts --------------------------------------------------------------------
def lot_expiring(sku, lot, sequence=1):
    return Envelope(type="lot_expiring", source="inventory", aggregate_id=f"lot:{sku}/{lot}", sequence=sequence,
                    correlation_id="corr-le", actor="system",
                    payload={"sku": sku, "lot": lot, "expires_on": "2025-03-20", "days_left": 19,
                             "quantities": [{"warehouse": "WH-SH", "quantity": 30},
                                            {"warehouse": "WH-BJ", "quantity": 5}],
                             "occurred_at": _at(1)})


def lot_hold(sku, lot, held, reason, sequence=1, minutes=2):
    return Envelope(type="lot_hold_changed", source="inventory", aggregate_id=f"lot:{sku}/{lot}@WH-SH",
                    sequence=sequence, correlation_id="corr-lh", actor="qa",
                    payload={"sku": sku, "lot": lot, "warehouse": "WH-SH", "held": held, "reason": reason,
                             "quantity": 30, "note": "smells odd" if held else "", "occurred_at": _at(minutes)})


def test_lot_signals_are_listed_as_alerts(db):
    sku = _sku()
    assert record_alert(db, lot_expiring(sku, "L1"))
    assert record_alert(db, lot_hold(sku, "L1", True, "quarantine", sequence=1, minutes=2))
    assert record_alert(db, lot_hold(sku, "L1", False, "released", sequence=2, minutes=3))
    repeated = lot_hold(sku, "L1", True, "quarantine", sequence=3, minutes=4)
    assert record_alert(db, repeated) and not record_alert(db, repeated)

    alerts = handlers.list_stock_alerts(db, sku=sku)  # newest first
    assert [(a["kind"], a["warehouse"], a["details"].get("held")) for a in alerts[:3]] == [
        ("lot_hold_changed", "WH-SH", True), ("lot_hold_changed", "WH-SH", False),
        ("lot_hold_changed", "WH-SH", True)]
    assert sorted((a["kind"], a["warehouse"]) for a in alerts[3:]) == [
        ("lot_expiring", "WH-BJ"), ("lot_expiring", "WH-SH")]
    assert [a["occurred_at"] for a in alerts] == sorted((a["occurred_at"] for a in alerts), reverse=True)
    assert all(a["lot"] == "L1" and a["sku"] == sku for a in alerts)
    assert alerts[0]["details"] == {"held": True, "reason": "quarantine", "quantity": 30, "note": "smells odd"}
    expiring = handlers.list_stock_alerts(db, kind="lot_expiring", sku=sku)
    assert sorted((a["warehouse"], a["details"]["quantity"], a["details"]["expires_on"], a["details"]["days_left"])
                  for a in expiring) == [("WH-BJ", 5, "2025-03-20", 19), ("WH-SH", 30, "2025-03-20", 19)]
    assert len(handlers.list_stock_alerts(db, kind="lot_hold_changed", sku=sku)) == 3
    assert handlers.list_stock_alerts(db, sku=_sku()) == []
    with pytest.raises(InvalidArgument):
        handlers.list_stock_alerts(db, kind="low_stock")
    bad = lot_hold(sku, "L2", True, "bored")
    with pytest.raises(InvalidArgument):
        record_alert(db, bad)
    assert len(handlers.list_stock_alerts(db, sku=sku)) == 5


# -- the gRPC servicer and the gateway --------------------------------------------------
@pytest.fixture
def stub(db):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_ProcurementServiceServicer_to_server(ProcurementServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield pb_grpc.ProcurementServiceStub(channel)
    channel.close()
    server.stop(0)


def test_the_servicer_lists_and_dismisses(db, stub):
    sku, warehouse = _sku(), f"WH-{uuid.uuid4().hex[:6]}"
    apply_low_stock(db, low_stock(sku, warehouse, 1, available=3))
    record_alert(db, lot_expiring(sku, "L9"))
    [g] = stub.ListSuggestions(pb.ListSuggestionsRequest(status="open", warehouse=warehouse)).suggestions
    assert (g.sku, g.warehouse, g.status, g.available, g.quantity, g.closed_by, g.closed_at) == (
        sku, warehouse, "open", 3, 47, "", "")
    assert g.signalled_at == _at(1)
    md = [(ACTOR_KEY, "pam")]
    done = stub.DismissSuggestion(pb.DismissSuggestionRequest(sku=sku, warehouse=warehouse), metadata=md)
    assert (done.suggestion.id, done.suggestion.status, done.suggestion.closed_by) == (g.id, "dismissed", "pam")
    with pytest.raises(grpc.RpcError) as caught:
        stub.DismissSuggestion(pb.DismissSuggestionRequest(sku=sku, warehouse=warehouse), metadata=md)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # Conflict: already dismissed
    with pytest.raises(grpc.RpcError) as caught:
        stub.DismissSuggestion(pb.DismissSuggestionRequest(sku=sku, warehouse="WH-NONE"), metadata=md)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    alerts = stub.ListStockAlerts(pb.ListStockAlertsRequest(kind="lot_expiring", sku=sku)).alerts
    assert sorted((a.warehouse, a.quantity, a.expires_on, a.days_left) for a in alerts) == [
        ("WH-BJ", 5, "2025-03-20", 19), ("WH-SH", 30, "2025-03-20", 19)]
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListStockAlerts(pb.ListStockAlertsRequest(kind="nonsense"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_gateway_routes(db, stub, tmp_path):
    from fastapi.testclient import TestClient

    from gateway import auth
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.models import metadata as gateway_metadata
    from hubkit import settings as hubsettings

    gateway_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    components.migrate("gateway", gateway_url)
    gateway_db = Database(gateway_url, gateway_metadata)
    buyer = auth.add_user(gateway_db, "pam", "purchasing")
    seller = auth.add_user(gateway_db, "sal", "sales")
    settings = hubsettings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path), "HUB_GATEWAY_DB_URL": gateway_url})
    client = TestClient(create_app(settings, clients=SimpleNamespace(procurement=stub)))

    sku, warehouse = _sku(), f"WH-{uuid.uuid4().hex[:6]}"
    apply_low_stock(db, low_stock(sku, warehouse, 1, available=6))
    record_alert(db, lot_hold(sku, "L1", True, "quarantine"))

    got = client.get("/purchasing/suggestions", params={"status": "open", "warehouse": warehouse},
                     headers={"X-API-Key": seller})
    assert got.status_code == 200, got.text
    [g] = got.json()["suggestions"]
    assert (g["sku"], g["status"], g["available"], g["minimum"], g["maximum"], g["quantity"], g["closed_by"]) == (
        sku, "open", 6, 10, 50, 44, None)
    assert client.get("/purchasing/suggestions", params={"status": "bogus"},
                      headers={"X-API-Key": buyer}).status_code == 422

    url = f"/purchasing/suggestions/{sku}/{warehouse}/dismiss"
    assert client.post(url, headers={"X-API-Key": seller}).status_code == 403
    done = client.post(url, headers={"X-API-Key": buyer})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["closed_by"]) == ("dismissed", "pam")
    assert client.post(url, headers={"X-API-Key": buyer}).status_code == 409
    assert client.post(f"/purchasing/suggestions/{sku}/WH-NONE/dismiss",
                       headers={"X-API-Key": buyer}).status_code == 404

    got = client.get("/purchasing/stock-alerts", params={"sku": sku}, headers={"X-API-Key": buyer})
    assert got.status_code == 200, got.text
    [a] = got.json()["alerts"]
    assert {k: a[k] for k in ("kind", "sku", "lot", "warehouse", "held", "reason", "quantity", "note")} == {
        "kind": "lot_hold_changed", "sku": sku, "lot": "L1", "warehouse": "WH-SH", "held": True,
        "reason": "quarantine", "quantity": 30, "note": "smells odd"}
    assert client.get("/purchasing/stock-alerts", params={"kind": "low_stock"},
                      headers={"X-API-Key": buyer}).status_code == 422
    gateway_db.dispose()


# -- the procurement worker ------------------------------------------------------------
def test_the_procurement_worker_applies_each_signal_once(db):
    from nameko.testing.services import worker_factory

    from services.procurement.worker import Worker

    worker = worker_factory(Worker, db=db)
    sku = _sku()
    event = low_stock(sku, "WH-SH", 1, available=2)
    assert worker.on_low_stock(event) is True and worker.on_low_stock(event) is False
    assert worker.on_lot_expiring(lot_expiring(sku, "L1")) is True
    assert worker.on_lot_hold_changed(lot_hold(sku, "L1", True, "expired")) is True
    assert [r.quantity for r in _suggestions(db, sku)] == [48]
    assert sorted(a["kind"] for a in handlers.list_stock_alerts(db, sku=sku)) == [
        "lot_expiring", "lot_expiring", "lot_hold_changed"]


# -- reservation_expired (order) ---------------------------------------------------------
def _place(order_db) -> str:
    cmd = order_domain.PlaceOrder(channel="web", shop="shop-1", external_order_id=f"E-{uuid.uuid4().hex[:10]}",
                                  lines=[order_domain.LineInput("SKU-1", 2, Decimal("9.90")),
                                         order_domain.LineInput("SKU-2", 1, Decimal("5.00"))],
                                  buyer={"name": "Li Lei"})
    with UnitOfWork(order_db, "order", "shop", "corr-o") as uow:
        order_id, _ = order_handlers.place_order(uow, cmd)
    return order_id


def _reserve(order_db, order_id) -> None:
    env = Envelope(type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1,
                   correlation_id="corr-o", actor="system",
                   payload={"order_id": order_id, "lines": [
                       {"line_no": 1, "sku": "SKU-1", "quantity": 2, "status": "reserved", "warehouse": "WH-SH"},
                       {"line_no": 2, "sku": "SKU-2", "quantity": 1, "status": "reserved", "warehouse": "WH-SH"}]})
    assert handle_once(order_db, "order", "order.stock_answer", env, order_handlers.apply_stock_answer)


def expired(order_id, sequence=2):
    return Envelope(type="reservation_expired", source="inventory", aggregate_id=order_id, sequence=sequence,
                    correlation_id="corr-x", actor="system",
                    payload={"order_id": order_id, "expired_at": _at(30),
                             "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 2},
                                       {"line_no": 2, "sku": "SKU-2", "quantity": 1}]})


def expire(order_db, envelope) -> bool:
    return handle_once(order_db, "order", "order.reservation_expired", envelope, order_handlers.expire_reservation)


def _status(order_db, order_id) -> str:
    with order_db.reader() as s:
        return s.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar_one()


def _cancelled_events(order_db, order_id) -> list[dict]:
    outbox = order_metadata.tables["outbox"]
    with order_db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_cancelled")
                           .order_by(outbox.c.id)).scalars().all()
    return [e for e in map(json.loads, bodies) if e["aggregate_id"] == order_id]


def test_reservation_expired_cancels_a_reserved_order_and_emits_order_cancelled(order_db):
    order_id = _place(order_db)
    _reserve(order_db, order_id)
    assert _status(order_db, order_id) == "reserved"
    event = expired(order_id)
    assert expire(order_db, event) is True
    assert expire(order_db, event) is False  # redelivered: applied once
    assert _status(order_db, order_id) == "cancelled"
    [cancelled] = _cancelled_events(order_db, order_id)
    assert (cancelled["source"], cancelled["aggregate_id"], cancelled["sequence"], cancelled["actor"],
            cancelled["correlation_id"]) == ("order", order_id, 2, "system", "corr-x")
    payload = cancelled["payload"]
    assert set(payload) == {"order_id", "cancelled_at", "lines"} and payload["order_id"] == order_id
    assert sorted((l["line_no"], l["sku"], l["quantity"]) for l in payload["lines"]) == [
        (1, "SKU-1", 2), (2, "SKU-2", 1)]
    # a late stock answer does not reopen it; another expiry of the same order changes nothing
    assert expire(order_db, expired(order_id, sequence=3)) is True
    assert _status(order_db, order_id) == "cancelled" and len(_cancelled_events(order_db, order_id)) == 1


def test_the_cancel_is_the_same_as_a_channel_cancel(order_db):
    """order_cancelled from an expiry carries exactly what a cancel by the channel does."""
    order_id = _place(order_db)
    _reserve(order_db, order_id)
    expire(order_db, expired(order_id))
    other = _place(order_db)
    with UnitOfWork(order_db, "order", "shop", "corr-c") as uow:
        order_handlers._cancel(uow, other, datetime.now(timezone.utc))
    [mine], [theirs] = _cancelled_events(order_db, order_id), _cancelled_events(order_db, other)
    assert set(mine) == set(theirs) and set(mine["payload"]) == set(theirs["payload"])
    assert mine["type"] == theirs["type"] == "order_cancelled"


def test_reservation_expired_is_ignored_by_a_shipped_order(order_db):
    order_id = _place(order_db)
    _reserve(order_db, order_id)
    with UnitOfWork(order_db, "order", "keeper", "corr-s") as uow:
        order_handlers.ship_order(uow, order_id, "SF", "SF123456789")
    assert expire(order_db, expired(order_id)) is True  # applied (recorded in the inbox), no effect
    assert _status(order_db, order_id) == "shipped"
    assert _cancelled_events(order_db, order_id) == []


def test_the_same_shipment_asked_again_succeeds_once_and_another_is_refused(order_db):
    """A retry whose first answer was lost (a 5xx, a gateway that died) gets the shipment it made."""
    order_id = _place(order_db)
    _reserve(order_db, order_id)
    for _ in range(2):
        with UnitOfWork(order_db, "order", "keeper", "corr-s") as uow:
            order_handlers.ship_order(uow, order_id, "SF", "SF123456789")
    with pytest.raises(Conflict, match="already shipped"), UnitOfWork(order_db, "order", "keeper", "c") as uow:
        order_handlers.ship_order(uow, order_id, "SF", "SF000000001")
    outbox = order_metadata.tables["outbox"]
    with order_db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_shipped")).scalars().all()
    assert [json.loads(b)["payload"]["tracking_number"] for b in bodies
            if json.loads(b)["aggregate_id"] == order_id] == ["SF123456789"]
    assert _status(order_db, order_id) == "shipped"


def test_reservation_expired_never_raises_for_an_already_cancelled_order(order_db):
    order_id = _place(order_db)
    with UnitOfWork(order_db, "order", "shop", "corr-c") as uow:
        assert order_handlers._cancel(uow, order_id, datetime.now(timezone.utc)) is True
    assert expire(order_db, expired(order_id, sequence=1)) is True
    assert _status(order_db, order_id) == "cancelled" and len(_cancelled_events(order_db, order_id)) == 1


def test_reservation_expired_for_an_unknown_order_is_refused(order_db):
    with pytest.raises(NotFound):
        expire(order_db, expired(uuid.uuid4().hex))


def test_the_order_worker_handles_reservation_expired(order_db):
    from nameko.testing.services import worker_factory

    from services.order.worker import Worker

    order_id = _place(order_db)
    _reserve(order_db, order_id)
    worker = worker_factory(Worker, db=order_db)
    assert worker.on_reservation_expired(expired(order_id)) is True
    assert _status(order_db, order_id) == order_domain.CANCELLED


# -- replenishment that follows demand (issue 15) ----------------------------------------
def test_demand_velocity_without_a_stretch_out_of_stock_terms_and_a_partial_order(db):
    from hubkit import clock
    from services.procurement import planning, replenish
    sku, today = _sku(), clock.now().date()
    issued = [SimpleNamespace(issued_at=datetime.combine(today - timedelta(days=n), datetime.min.time(),
                                                         tzinfo=timezone.utc) + timedelta(hours=12),
                              lines=[SimpleNamespace(sku=sku, warehouse="WH-DM", quantity=10)]) for n in range(11, 21)]
    with UnitOfWork(db, "procurement", "system", "c") as uow:
        handlers.record_sales(uow, issued)  # 10 a day for 10 days; nothing known of the stock yet: no suggestion
        planning.record_levels(uow, [(sku, "WH-DM", 0, 0)], today - timedelta(days=10))   # sold out
        planning.record_levels(uow, [(sku, "WH-DM", 50, 0)], today)                       # stock again today
    with db.reader() as s:
        plan = planning.explain(s, sku, "WH-DM", today)
    assert plan["window"] == {"days": 30, "days_counted": 20, "days_out_of_stock": 10} and plan["velocity"] == 5.0
    assert (plan["days_of_cover"], plan["reorder_point"], plan["quantity"]) == (10.0, 35, 0)  # 50 covers 7 days
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        handlers.upsert_supplier(uow, "SUP-DM", "Demand Supplies")
        suggestion_id = planning.set_terms(uow, sku, "WH-DM", replenish.Terms(
            lead_time_days=10, review_period_days=4, safety_stock=10, min_order_quantity=30, order_multiple=12,
            supplier="SUP-DM"))
    # reorder point 5 x 10 + 10 = 60 >= 50: up to 5 x 14 + 10 = 80, need 30 -> at least 30 -> 36 (3 x 12)
    [row] = _suggestions(db, sku)
    assert (row.id, row.basis, row.quantity, row.supplier, row.last_price) == (
        suggestion_id, "velocity", 36, "SUP-DM", None)
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        po_id = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(
            supplier="SUP-DM", warehouse="WH-DM", lines=[domain.LineInput(sku, 20, "3.10")]))
    [row] = _suggestions(db, sku)
    assert (row.status, row.quantity) == ("open", 16)
    assert json.loads(row.terms)["covered"] == [{"purchase_order_id": po_id, "quantity": 20, "rest": 16}]
    with db.reader() as s:
        netted = planning.explain(s, sku, "WH-DM", today)
        assert planning.preferred(s, sku, "WH-DM", None) == ("SUP-DM", Decimal("3.1"))
    # netted with the order, 70 is above the reorder point (60): a new evaluation would suggest nothing more
    assert (netted["on_order"], netted["net_position"], netted["basis"], netted["quantity"]) == (20, 70, None, 0)
    # the rest as one purchase order at the last price
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        ordered_id = handlers.order_suggestions(uow, "WH-DM", "SUP-DM", [])
        po = handlers.read_purchase_order(uow.session, ordered_id)
    assert [(l["sku"], l["quantity"], Decimal(l["unit_cost"])) for l in po["lines"]] == [(sku, 16, Decimal("3.1"))]
    [row] = _suggestions(db, sku)
    assert (row.status, row.purchase_order_id) == ("ordered", ordered_id)


def _signals(tag: str, today) -> list[list[Envelope]]:
    """One scenario's stock signals, in three rounds (sales of the past days, stock changes, sales of
    today), for SKUs named after `tag`: sales falling on the same SKU, warehouse and day, two warehouses
    of a SKU in one stock_changed, stretches out of stock opened and closed, a SKU on order under its
    terms, a SKU that never sold. Stock only falls while sales rise, so every evaluation of a SKU that
    sells suggests (each one updates the suggestion the one before opened)."""
    noon = datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=12)
    sequence = iter(range(1, 1000))

    def issued(at, *lines):
        order_id = f"{tag}-{uuid.uuid4().hex[:8]}"
        return Envelope(type="goods_issued", source="inventory", aggregate_id=order_id, sequence=1,
                        correlation_id="corr-gi", actor="system", occurred_at=at.isoformat(),
                        payload={"order_id": order_id, "channel": "web", "issued_at": at.isoformat(),
                                 "total_cost": "1.00", "lines": [
                                     {"line_no": n + 1, "sku": f"{tag}-{sku}", "warehouse": warehouse,
                                      "quantity": quantity, "cost": "1.00"}
                                     for n, (sku, warehouse, quantity) in enumerate(lines)]})

    def changed(minutes, sku, *levels):
        at = noon + timedelta(minutes=minutes)
        return Envelope(type="stock_changed", source="inventory", aggregate_id=f"sku:{tag}-{sku}",
                        sequence=next(sequence), correlation_id="corr-sc", actor="system", occurred_at=at.isoformat(),
                        payload={"sku": f"{tag}-{sku}", "available": sum(a for _, a in levels), "levels": [
                            {"sku": f"{tag}-{sku}", "warehouse": warehouse, "on_hand": available, "reserved": 0,
                             "held": 0, "in_transit": 0, "available": available} for warehouse, available in levels]})

    past = [issued(noon - timedelta(days=d), ("A", "WH-1", 30), ("B", "WH-1", 12), ("B", "WH-2", 9),
                   *([("C", "WH-1", 25)] if d > 3 else [])) for d in range(1, 11)]  # C: out of stock since
    levels = [changed(1, "A", ("WH-1", 60)), changed(2, "B", ("WH-1", 40), ("WH-2", 30)),
              changed(3, "A", ("WH-1", 0)), changed(4, "C", ("WH-1", 0)), changed(5, "D", ("WH-1", 500)),
              changed(6, "B", ("WH-1", 20), ("WH-2", 0)), changed(7, "C", ("WH-1", 0)),
              changed(8, "A", ("WH-1", 0)), changed(9, "C", ("WH-1", 3))]
    sold = [issued(noon + timedelta(minutes=10 + n), ("A", "WH-1", 2), ("B", "WH-2", 1), ("A", "WH-1", 1))
            for n in range(4)]
    return [past, levels, sold]


def test_a_batch_of_stock_signals_suggests_what_the_signals_one_by_one_do(db):
    from nameko.testing.services import worker_factory

    from hubkit import clock
    from services.procurement import planning, replenish
    from services.procurement.worker import Worker

    worker, today = worker_factory(Worker, db=db), clock.now().date()
    handle = {"goods_issued": worker.on_goods_issued, "stock_changed": worker.on_stock_changed}
    outcome = {}
    for mode, tag in (("batched", _sku()), ("one by one", _sku())):
        with UnitOfWork(db, "procurement", "pam", "c") as uow:
            handlers.upsert_supplier(uow, "SUP-BATCH", "Batch Supplies")
            planning.set_terms(uow, f"{tag}-B", "WH-1", replenish.Terms(
                lead_time_days=10, review_period_days=5, safety_stock=4, min_order_quantity=10, order_multiple=5,
                supplier="SUP-BATCH"))
            handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(
                supplier="SUP-BATCH", warehouse="WH-1", lines=[domain.LineInput(f"{tag}-B", 7, "2.50")]))
            planning.record_levels(uow, [(f"{tag}-C", "WH-1", 0, 0)], today - timedelta(days=3))  # sold out then
        for signals in _signals(tag, today):
            batches = [signals] if mode == "batched" else [[e] for e in signals]
            for batch in batches:
                assert handle[batch[0].type](batch) == [True] * len(batch)
        with db.reader() as s:
            rows = s.execute(select(purchase_suggestions).where(purchase_suggestions.c.sku.like(f"{tag}-%"))).all()
        outcome[mode] = sorted((r.sku[len(tag):], r.warehouse, r.status, r.quantity, r.basis, r.available,
                                r.supplier, r.last_price,
                                json.loads(r.terms)) for r in rows)
    assert outcome["batched"] == outcome["one by one"]
    # what makes it a test of every path: a suggestion per SKU and warehouse that sells, the stretch
    # out of stock marked, the open order and the terms netted in
    assert [(sku, warehouse) for sku, warehouse, *_ in outcome["batched"]] == [
        ("-A", "WH-1"), ("-B", "WH-1"), ("-B", "WH-2"), ("-C", "WH-1")]
    plans = {(sku, warehouse): terms for sku, warehouse, *_, terms in outcome["batched"]}
    assert plans[("-C", "WH-1")]["window"]["days_out_of_stock"] == 3  # closed today: the 3 days before
    assert (plans[("-B", "WH-1")]["on_order"], plans[("-B", "WH-1")]["terms"]["lead_time_days"]) == (7, 10)


# -- requisitions from suggestions, and approvals waiting too long ----------------------------------
def test_a_requisition_of_open_suggestions_is_approved_ordered_and_takes_the_suggestions_up(db):
    from services.procurement import approvals, requisitions
    from tests.support.approvals import approve

    sku = _sku()
    apply_low_stock(db, low_stock(sku, "WH-SH", 1, available=1))  # suggests 49
    [suggestion] = _suggestions(db, sku)
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        handlers.upsert_supplier(uow, "SUP-REQ", "Requisition Supplies")
    blank = requisitions.NewRequisition(warehouse="", lines=[], currency="CNY", project="P-1")
    with pytest.raises(InvalidArgument) as refused, UnitOfWork(db, "procurement", "pam", "c") as uow:
        requisitions.from_suggestions(uow, [{"suggestion_id": "0" * 32, "supplier": "SUP-REQ", "unit_cost": "1"}],
                                      blank)
    assert refused.value.fields[0]["field"] == "suggestions[0].suggestion_id"
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        rid = requisitions.from_suggestions(uow, [{"suggestion_id": suggestion.id, "supplier": "SUP-REQ",
                                                   "unit_cost": "2.00", "vat_rate": "0"}], blank)
    with db.reader() as s:
        doc = requisitions.read(s, rid)
    assert (doc["warehouse"], doc["total"], doc["project"], doc["lines"][0]["quantity"]) == (
        "WH-SH", Decimal("98.00"), "P-1", 49)
    approve(db, rid, "requisition")
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        [po_id] = requisitions.order(uow, [rid])
    [row] = _suggestions(db, sku)
    assert (row.status, row.purchase_order_id) == ("ordered", po_id)
    with db.reader() as s:
        assert handlers.read_purchase_order(s, po_id)["approval"] == "approved"
        assert approvals.read(s, "requisition", rid)["log"][-1]["action"] == "ordered"


def test_a_step_waiting_longer_than_the_chain_allows_is_announced_once_as_overdue(db):
    from services.procurement import approvals

    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        handlers.upsert_supplier(uow, "SUP-LATE", "Late Supplies")
    with UnitOfWork(db, "procurement", "pam", "c") as uow:
        po_id = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(
            supplier="SUP-LATE", warehouse="WH-SH", lines=[domain.LineInput(_sku(), 1, "10.00")]))
    outbox = metadata.tables["outbox"]

    def announced() -> list[dict]:
        with db.reader() as s:
            bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "approval_waiting")).scalars()
            return [p for p in (json.loads(b)["payload"] for b in bodies) if p["document_id"] == po_id]
    later = datetime.now(timezone.utc) + timedelta(hours=25)  # the default chain: overdue after 24 hours
    with UnitOfWork(db, "procurement", "procurement-worker", "c") as uow:
        approvals.scan_overdue(uow, later - timedelta(hours=2))
    assert [p["overdue"] for p in announced()] == [False]
    for _ in range(2):  # once only
        with UnitOfWork(db, "procurement", "procurement-worker", "c") as uow:
            approvals.scan_overdue(uow, later)
    assert [(p["overdue"], p["role"], p["step"]) for p in announced()] == [
        (False, "dept_manager", "department-manager"), (True, "dept_manager", "department-manager")]
