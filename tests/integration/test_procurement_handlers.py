"""Procurement on PostgreSQL and SQLite: suppliers, purchase orders, receipts and the
purchase_received events they write to the outbox, in one transaction each."""
from __future__ import annotations

import json
import threading
import uuid
from concurrent import futures
from datetime import datetime

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from hub import components
from hubapi.procurement.v1 import procurement_service_pb2 as pb
from hubapi.procurement.v1 import procurement_service_pb2_grpc as pb_grpc
from hubkit import grpc_server as hub_grpc
from hubkit.db import Database, UnitOfWork
from hubkit.errors import Conflict, HubError, InvalidArgument, NotFound
from services.procurement import domain, handlers
from services.procurement.grpc_server import ProcurementServicer
from services.procurement.models import metadata, purchase_order_lines, purchase_orders, receipt_lines, receipts, suppliers
from tests.support import infra
from tests.support.approvals import approve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url():
    prefix = infra.session_name()
    urls = infra.create_databases(prefix, ["procurement"])
    yield urls["procurement"]
    infra.drop_databases(prefix, ["procurement"])


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'procurement.db'}"


@pytest.fixture
def db(url):
    components.migrate("procurement", url)
    database = Database(url, metadata, pool_size=8)
    yield database
    database.dispose()


def _uow(db, actor="alice"):
    return UnitOfWork(db, "procurement", actor, "corr-1")


def _code(prefix="SUP"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _supplier(db, name="Acme Trading"):
    code = _code()
    with _uow(db, "buyer") as uow:
        handlers.upsert_supplier(uow, code, name)
    return code


def _po(db, supplier, lines, actor="buyer", currency=""):
    cmd = domain.CreatePurchaseOrder(supplier=supplier, warehouse="WH-SH", currency=currency,
                                     lines=[domain.LineInput(*l) for l in lines])
    with _uow(db, actor) as uow:
        po_id = handlers.create_purchase_order(uow, cmd)
    approve(db, po_id)
    return po_id


def _receive(db, po_id, lines=(), reference="DN-1", actor="keeper"):
    with _uow(db, actor) as uow:
        return handlers.receive_purchase_order(uow, po_id, list(lines), reference)


def _events(db, po_id) -> list[dict]:
    outbox = metadata.tables["outbox"]
    with db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "purchase_received")
                           .order_by(outbox.c.id)).scalars().all()
    return [e for e in map(json.loads, bodies) if e["payload"]["purchase_order_id"] == po_id]


def _state(db, po_id) -> dict:
    """Everything a receipt could change, for 'nothing changed' checks."""
    outbox = metadata.tables["outbox"]
    with db.reader() as s:
        ids = s.execute(select(receipts.c.id).where(receipts.c.purchase_order_id == po_id)).scalars().all()
        lines = s.execute(select(purchase_order_lines.c.line_no, purchase_order_lines.c.received)
                          .where(purchase_order_lines.c.purchase_order_id == po_id)
                          .order_by(purchase_order_lines.c.line_no)).all()
        return {
            "status": s.execute(select(purchase_orders.c.status, purchase_orders.c.updated_by)
                                .where(purchase_orders.c.id == po_id)).one().tuple(),
            "received": [tuple(r) for r in lines],
            "receipts": s.execute(select(func.count()).select_from(receipts)).scalar(),
            "receipt_lines": s.execute(select(func.count()).select_from(receipt_lines)).scalar(),
            "outbox": s.execute(select(func.count()).select_from(outbox)).scalar(),
            "po_receipts": sorted(ids),
        }


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_a_supplier_is_created_then_updated_and_records_who(db):
    code = _code()
    with _uow(db, "alice") as uow:
        assert handlers.upsert_supplier(uow, code, "Acme") is True
    with _uow(db, "bob") as uow:
        assert handlers.upsert_supplier(uow, code, "Acme Ltd") is False
    with db.reader() as s:
        row = s.execute(select(suppliers).where(suppliers.c.code == code)).one()
    assert (row.name, row.created_by, row.updated_by) == ("Acme Ltd", "alice", "bob")
    with pytest.raises(InvalidArgument) as caught, _uow(db) as uow:
        handlers.upsert_supplier(uow, "bad code", "")
    assert {f["field"] for f in caught.value.fields} == {"supplier.code", "supplier.name"}


def test_a_purchase_order_is_created_open_with_exact_amounts(db):
    supplier = _supplier(db)
    po_id = _po(db, supplier, [("SKU-A", 10, "10.00", "0.13"), ("SKU-B", 3, "3.333333", "")], actor="pat")
    po = handlers.get_purchase_order(db, po_id)
    assert len(po_id) == 32 and po["status"] == "open" and po["currency"] == "CNY"
    assert (po["supplier"], po["warehouse"], po["created_by"]) == (supplier, "WH-SH", "pat")
    assert po["supplier_name"] == "Acme Trading"  # what a printed purchase order names
    assert [(l["line_no"], l["sku"], l["quantity"], l["received"], str(l["unit_cost"]), str(l["vat_rate"]),
             str(l["amount"])) for l in po["lines"]] == [
        (1, "SKU-A", 10, 0, "10.000000", "0.1300", "100.00"),
        (2, "SKU-B", 3, 0, "3.333333", "0.1300", "10.00"),
    ]
    assert po["receipts"] == [] and _events(db, po_id) == []


def test_an_unknown_supplier_or_bad_lines_are_refused_and_nothing_is_written(db):
    with db.reader() as s:
        before = s.execute(select(func.count()).select_from(purchase_orders)).scalar()
    with pytest.raises(NotFound) as caught:
        _po(db, "NO-SUCH-SUPPLIER", [("SKU-A", 1, "1.00", "")])
    assert [f["field"] for f in caught.value.fields] == ["supplier"]
    with pytest.raises(InvalidArgument) as caught:
        _po(db, _supplier(db), [("SKU-A", 1, "1.00", ""), ("SKU B", 0, "-1", "1")])
    assert {f["field"] for f in caught.value.fields} == {
        "lines[1].sku", "lines[1].quantity", "lines[1].unit_cost", "lines[1].vat_rate"}
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(purchase_orders)).scalar() == before


def test_receiving_partly_then_the_rest(db):
    supplier = _supplier(db, "Acme Trading")
    po_id = _po(db, supplier, [("SKU-A", 10, "10.00", "0.13"), ("SKU-B", 3, "3.333333", "0.06")])

    first = _receive(db, po_id, [(1, 4)], reference="DN-1", actor="keeper1")
    po = handlers.get_purchase_order(db, po_id)
    assert po["status"] == "partially_received" and po["updated_by"] == "keeper1"
    assert [l["received"] for l in po["lines"]] == [4, 0]

    second = _receive(db, po_id, [], reference="DN-2", actor="keeper2")  # everything still open
    po = handlers.get_purchase_order(db, po_id)
    assert po["status"] == "received"
    assert [l["received"] for l in po["lines"]] == [10, 3]
    assert [(r["id"], r["reference"], r["received_by"], [(l["line_no"], l["quantity"]) for l in r["lines"]])
            for r in po["receipts"]] == [(first, "DN-1", "keeper1", [(1, 4)]),
                                         (second, "DN-2", "keeper2", [(1, 6), (2, 3)])]
    r1, r2 = po["receipts"]
    assert (str(r1["total_net"]), str(r1["total_tax"]), str(r1["total"])) == ("40.00", "5.20", "45.20")
    assert (str(r2["total_net"]), str(r2["total_tax"]), str(r2["total"])) == ("70.00", "8.40", "78.40")

    events = _events(db, po_id)
    # each receipt is its own aggregate, so neither is ever taken for a stale version of the other
    assert [(e["type"], e["source"], e["aggregate_id"], e["sequence"], e["actor"], e["correlation_id"])
            for e in events] == [("purchase_received", "procurement", first, 1, "keeper1", "corr-1"),
                                 ("purchase_received", "procurement", second, 1, "keeper2", "corr-1")]
    for event, receipt in zip(events, po["receipts"]):
        at = event["payload"]["received_at"]
        assert at.endswith("+00:00") and datetime.fromisoformat(at) == receipt["received_at"]
    supplier_doc = {"code": supplier, "name": "Acme Trading"}
    assert events[0]["payload"] == {
        "purchase_order_id": po_id, "receipt_id": first, "supplier": supplier_doc, "warehouse": "WH-SH",
        "currency": "CNY", "received_at": events[0]["payload"]["received_at"], "reference": "DN-1",
        "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": 4, "unit_cost": "10.000000", "vat_rate": "0.1300",
                   "amount": "40.00", "tax": "5.20"}],
        "total_net": "40.00", "total_tax": "5.20", "total": "45.20", "invoice_pending": False}
    assert events[1]["payload"] == {
        "purchase_order_id": po_id, "receipt_id": second, "supplier": supplier_doc, "warehouse": "WH-SH",
        "currency": "CNY", "received_at": events[1]["payload"]["received_at"], "reference": "DN-2",
        "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": 6, "unit_cost": "10.000000", "vat_rate": "0.1300",
                   "amount": "60.00", "tax": "7.80"},
                  {"line_no": 2, "sku": "SKU-B", "quantity": 3, "unit_cost": "3.333333", "vat_rate": "0.0600",
                   "amount": "10.00", "tax": "0.60"}],
        "total_net": "70.00", "total_tax": "8.40", "total": "78.40", "invoice_pending": False}


def test_ten_at_ten_with_thirteen_percent_vat_is_113_and_three_at_3_333333_is_ten(db):
    po_id = _po(db, _supplier(db), [("SKU-A", 10, "10.00", "0.13")], currency="usd")
    _receive(db, po_id)
    (event,) = _events(db, po_id)
    p = event["payload"]
    assert p["currency"] == "USD"
    assert (p["lines"][0]["amount"], p["lines"][0]["tax"]) == ("100.00", "13.00")
    assert (p["total_net"], p["total_tax"], p["total"]) == ("100.00", "13.00", "113.00")

    po_id = _po(db, _supplier(db), [("SKU-B", 3, "3.333333", "0")])
    _receive(db, po_id)
    p = _events(db, po_id)[0]["payload"]
    assert (p["lines"][0]["unit_cost"], p["lines"][0]["vat_rate"], p["lines"][0]["amount"]) == \
        ("3.333333", "0.0000", "10.00")
    assert (p["total_net"], p["total_tax"], p["total"]) == ("10.00", "0.00", "10.00")


def test_over_receiving_or_an_unknown_line_is_refused_and_changes_nothing(db):
    po_id = _po(db, _supplier(db), [("SKU-A", 10, "10.00", ""), ("SKU-B", 2, "1", "")])
    _receive(db, po_id, [(1, 8)])
    before = _state(db, po_id)
    with pytest.raises(InvalidArgument) as caught:
        _receive(db, po_id, [(2, 1), (1, 3)], actor="mallory")  # line 1 has only 2 open
    assert [f["field"] for f in caught.value.fields] == ["lines[1].quantity"]
    with pytest.raises(InvalidArgument) as caught:
        _receive(db, po_id, [(3, 1)], actor="mallory")
    assert [f["field"] for f in caught.value.fields] == ["lines[0].line_no"]
    with pytest.raises(InvalidArgument) as caught:
        _receive(db, po_id, [(2, 0), (2, 1)], actor="mallory")
    assert {f["field"] for f in caught.value.fields} == {"lines[0].quantity", "lines[1].line_no"}
    with pytest.raises(NotFound):
        _receive(db, uuid.uuid4().hex, [(1, 1)])
    assert _state(db, po_id) == before
    assert len(_events(db, po_id)) == 1


def test_receiving_a_fully_received_order_is_refused(db):
    po_id = _po(db, _supplier(db), [("SKU-A", 2, "5", "")])
    _receive(db, po_id, [(1, 2)])
    before = _state(db, po_id)
    assert before["status"][0] == "received"
    for lines in ([], [(1, 1)]):
        with pytest.raises(Conflict):
            _receive(db, po_id, lines, actor="mallory")
    assert _state(db, po_id) == before
    assert len(_events(db, po_id)) == 1


def test_the_database_refuses_received_above_ordered(db):
    po_id = _po(db, _supplier(db), [("SKU-A", 2, "5", "")])
    with pytest.raises(IntegrityError), db.session() as s:
        s.execute(update(purchase_order_lines).where(purchase_order_lines.c.purchase_order_id == po_id)
                  .values(received=3))
    assert handlers.get_purchase_order(db, po_id)["lines"][0]["received"] == 0


def test_concurrent_receipts_never_receive_more_than_ordered(db):
    po_id = _po(db, _supplier(db), [("SKU-A", 5, "2.50", "")])
    start = threading.Barrier(10)

    def receive_one(i):
        start.wait()
        try:
            _receive(db, po_id, [(1, 1)], reference=f"DN-{i}", actor=f"k{i}")
            return "ok"
        except HubError as exc:
            return type(exc).__name__

    with futures.ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(receive_one, range(10)))
    assert outcomes.count("ok") == 5
    assert set(outcomes) - {"ok"} <= {"InvalidArgument", "Conflict"}
    po = handlers.get_purchase_order(db, po_id)
    assert po["status"] == "received" and po["lines"][0]["received"] == 5 and len(po["receipts"]) == 5
    events = _events(db, po_id)
    assert sorted(e["aggregate_id"] for e in events) == sorted(r["id"] for r in po["receipts"])
    assert {e["payload"]["receipt_id"] for e in events} == {r["id"] for r in po["receipts"]}


def test_concurrent_receipts_of_different_lines_leave_the_right_status(db):
    po_id = _po(db, _supplier(db), [(f"SKU-{i}", 1, "1", "") for i in range(6)])
    start = threading.Barrier(6)

    def receive_line(line_no):
        start.wait()
        return _receive(db, po_id, [(line_no, 1)])

    with futures.ThreadPoolExecutor(6) as pool:
        assert len(set(pool.map(receive_line, range(1, 7)))) == 6
    po = handlers.get_purchase_order(db, po_id)
    assert po["status"] == "received" and [l["received"] for l in po["lines"]] == [1] * 6


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


def test_the_grpc_api(stub):
    md = ((hub_grpc.ACTOR_KEY, "grpc-user"), (hub_grpc.CORRELATION_KEY, "req-7"))
    code = _code()
    answer = stub.UpsertSupplier(pb.UpsertSupplierRequest(supplier=pb.Supplier(code=code, name="Acme")),
                                 metadata=md)
    assert answer.created
    po = stub.CreatePurchaseOrder(pb.CreatePurchaseOrderRequest(
        supplier=code, warehouse="WH-SH",
        lines=[pb.PurchaseOrderLineInput(sku="SKU-A", quantity=10, unit_cost="10", vat_rate="0.13"),
               pb.PurchaseOrderLineInput(sku="SKU-B", quantity=3, unit_cost="3.333333")]),
        metadata=md).purchase_order
    assert (po.status, po.currency, po.created_by, po.approval) == ("open", "CNY", "grpc-user", "pending")
    with pytest.raises(grpc.RpcError) as unapproved:
        stub.ReceivePurchaseOrder(pb.ReceivePurchaseOrderRequest(purchase_order_id=po.id), metadata=md)
    assert unapproved.value.code() == grpc.StatusCode.FAILED_PRECONDITION, unapproved.value
    manager = ((hub_grpc.ACTOR_KEY, "grpc-manager"), (hub_grpc.CORRELATION_KEY, "req-8"))
    decided = stub.DecideApproval(pb.DecideApprovalRequest(document_kind="purchase_order", document_id=po.id,
                                                           approve=True, role="dept_manager", comment="fine"),
                                  metadata=manager)
    assert decided.approval == "approved" and decided.purchase_order.approval_steps[0].decided_by == "grpc-manager"
    assert [(l.unit_cost, l.vat_rate, l.amount.units, l.amount.nanos, l.amount.currency_code)
            for l in po.lines] == [("10.000000", "0.1300", 100, 0, "CNY"), ("3.333333", "0.1300", 10, 0, "CNY")]

    with pytest.raises(grpc.RpcError) as caught:
        stub.ReceivePurchaseOrder(pb.ReceivePurchaseOrderRequest(
            purchase_order_id=po.id, lines=[pb.ReceiveLineInput(line_no=1, quantity=11)]), metadata=md)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = json.loads(dict(caught.value.trailing_metadata())[hub_grpc.FIELD_ERRORS_KEY])
    assert [f["field"] for f in fields] == ["lines[0].quantity"]

    answer = stub.ReceivePurchaseOrder(pb.ReceivePurchaseOrderRequest(
        purchase_order_id=po.id, lines=[pb.ReceiveLineInput(line_no=1, quantity=4)], reference="DN-9"),
        metadata=md)
    assert answer.purchase_order.status == "partially_received"
    assert (answer.receipt.reference, answer.receipt.received_by) == ("DN-9", "grpc-user")
    assert [(l.line_no, l.sku, l.quantity) for l in answer.receipt.lines] == [(1, "SKU-A", 4)]
    assert answer.receipt.received_at.endswith("+00:00")
    answer = stub.ReceivePurchaseOrder(pb.ReceivePurchaseOrderRequest(purchase_order_id=po.id), metadata=md)
    assert answer.purchase_order.status == "received"
    assert [l.received for l in answer.purchase_order.lines] == [10, 3]
    got = stub.GetPurchaseOrder(pb.GetPurchaseOrderRequest(id=po.id)).purchase_order
    assert [r.id for r in got.receipts] == [r.id for r in answer.purchase_order.receipts] and len(got.receipts) == 2

    with pytest.raises(grpc.RpcError) as caught:
        stub.ReceivePurchaseOrder(pb.ReceivePurchaseOrderRequest(purchase_order_id=po.id), metadata=md)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreatePurchaseOrder(pb.CreatePurchaseOrderRequest(
            supplier="NOPE", warehouse="WH-SH", lines=[pb.PurchaseOrderLineInput(sku="S", quantity=1,
                                                                                 unit_cost="1")]))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetPurchaseOrder(pb.GetPurchaseOrderRequest(id="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
