"""The supplier scorecard from known purchase orders, receipts and inspection results, on
PostgreSQL and SQLite; and inspection_recorded with failed goods to return raising the purchase return."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from contracts import InspectionRecorded
from hub import components
from hubkit import clock
from hubkit.db import Database, UnitOfWork
from hubkit.errors import InvalidArgument
from services.procurement import domain, handlers
from services.procurement.models import metadata, purchase_returns, scorecard_config
from tests.support import infra
from tests.support.approvals import approve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url():
    prefix = infra.session_name() + "_sc"
    urls = infra.create_databases(prefix, ["procurement"])
    yield urls["procurement"]
    infra.drop_databases(prefix, ["procurement"])


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path):
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'p.db'}"
    components.migrate("procurement", url)
    database = Database(url, metadata, pool_size=4)
    yield database
    database.dispose()


def _at(monkeypatch, day: str) -> None:
    moment = datetime.fromisoformat(f"{day}T04:00:00+00:00")  # noon in Shanghai
    monkeypatch.setattr(clock, "now", lambda: moment)


def _uow(db):
    return UnitOfWork(db, "procurement", "buyer", "corr")


def test_a_scorecard_from_known_orders_receipts_and_inspections(db, monkeypatch):
    supplier = f"SUP-{uuid.uuid4().hex[:8]}"
    with _uow(db) as uow:
        handlers.upsert_supplier(uow, supplier, "Acme")
    _at(monkeypatch, "2026-02-01")
    with _uow(db) as uow:  # the earlier price: 10.00
        old = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(supplier, "WH", [
            domain.LineInput("TEA", 10, "10.00", "", "2026-02-05")]))
    _at(monkeypatch, "2026-03-01")
    with _uow(db) as uow:
        po = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(supplier, "WH", [
            domain.LineInput("TEA", 40, "11.00", "", "2026-03-05"),
            domain.LineInput("CUP", 60, "2.00", "", "2026-03-06")]))
    approve(db, po)
    _at(monkeypatch, "2026-03-05")
    with _uow(db) as uow:
        handlers.receive_purchase_order(uow, po, [(1, 40)])            # on time
    _at(monkeypatch, "2026-03-09")
    with _uow(db) as uow:
        receipt = handlers.receive_purchase_order(uow, po, [(2, 20)])  # 3 days late
        handlers.record_inspection(uow, InspectionRecorded(
            inspection_id=uuid.uuid4().hex, receipt_id=receipt, purchase_order_id=po, line_no=2, supplier=supplier,
            warehouse="WH", sku="CUP", lot="L1", quantity=20, passed=18, failed=2, disposition="scrap",
            return_lot="", note="", inspected_by="qc", inspected_at=clock.now()))

    report = handlers.supplier_scorecard(db, "2026-03-01", "2026-03-31", supplier)
    [row] = report["rows"]
    assert (row["on_time_rate"], row["fill_rate"], row["quality_pass_rate"]) == (
        Decimal("66.67"), Decimal("60.00"), Decimal("90.00"))  # 40 of 60 on time; 60 of 100 due; 18 of 20
    assert row["price_variance"] == Decimal("10.00")  # TEA at 11.00 against 10.00; CUP never bought before
    assert row["lead_time_days"] == Decimal("6.0")    # 4 and 8 days
    # 0.4 x 66.67 + 0.3 x 60 + 0.3 x 90 = 71.67: C
    assert (row["score"], row["grade"], row["received_units"]) == (Decimal("71.67"), "C", 60)
    assert handlers.supplier_scorecard(db, "2026-03-01", "2026-03-31", supplier, "A")["rows"] == []
    february = handlers.supplier_scorecard(db, "2026-02-01", "2026-02-28", supplier)["rows"]
    assert [(r["fill_rate"], r["received_units"]) for r in february] == [(Decimal("0.00"), 0)]
    assert old

    # the on-time KPI is the scorecard's rate, with its inputs, per ISO week and over the period
    on_time = handlers.on_time_report(db, "2026-03-01", "2026-03-31", supplier, "week")
    figures = ("period", "on_time_rate", "lines", "promised_units", "on_time_units", "late_units", "late_lines",
               "days_late_max")
    assert [tuple(r[k] for k in figures) for r in on_time["rows"]] == [
        ("2026-W10", Decimal("100.00"), 1, 40, 40, 0, 0, 0), ("2026-W11", Decimal("0.00"), 1, 20, 0, 20, 1, 3)]
    assert [tuple(r[k] for k in figures) for r in on_time["suppliers"]] == [
        ("2026-03-01~2026-03-31", row["on_time_rate"], 2, 60, 40, 20, 1, 3)]
    assert [r["period"] for r in handlers.on_time_report(db, "2026-03-01", "2026-03-31", supplier)["rows"]] == [
        "2026-03"]
    with pytest.raises(InvalidArgument) as exc:
        handlers.on_time_report(db, "2026-03-01", "2026-03-31", supplier, "quarter")
    assert exc.value.fields == [{"field": "group", "message": "expected one of month, week, period"}]


def test_bad_bands_or_an_upside_down_period_are_refused_and_change_nothing(db):
    with pytest.raises(InvalidArgument):
        handlers.supplier_scorecard(db, "2026-03-31", "2026-03-01")
    with pytest.raises(InvalidArgument) as gap:
        with _uow(db) as uow:
            handlers.set_scorecard_config(uow, '{"weights": {"on_time": 1, "fill": 0, "quality": 0}, '
                                               '"bands": [{"grade": "A", "min": 50, "max": 100}]}')
    assert gap.value.fields[0]["field"] == "bands[0].min"
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(scorecard_config)).scalar() == 0
    with _uow(db) as uow:
        handlers.set_scorecard_config(uow, '{"weights": {"on_time": 1, "fill": 0, "quality": 0}, '
                                           '"bands": [{"grade": "OK", "min": 50, "max": 100}, '
                                           '{"grade": "BAD", "min": 0, "max": 50}]}')
    config, by, _ = handlers.get_scorecard_config(db)
    assert [b.grade for b in config.bands] == ["OK", "BAD"] and by == "buyer"


def test_failed_goods_to_return_raise_one_purchase_return_from_the_reject_lot(db):
    supplier = f"SUP-{uuid.uuid4().hex[:8]}"
    with _uow(db) as uow:
        handlers.upsert_supplier(uow, supplier, "Acme")
        po = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(supplier, "WH", [
            domain.LineInput("TEA", 10, "5.00")]))
    approve(db, po)
    with _uow(db) as uow:
        receipt = handlers.receive_purchase_order(uow, po, [])
    event = InspectionRecorded(
        inspection_id=uuid.uuid4().hex, receipt_id=receipt, purchase_order_id=po, line_no=1, supplier=supplier,
        warehouse="WH", sku="TEA", lot="L1", quantity=10, passed=7, failed=3, disposition="return",
        return_lot="L1.REJ", note="", inspected_by="qc", inspected_at=datetime.now(timezone.utc))
    with _uow(db) as uow:
        return_id = handlers.record_inspection(uow, event)
    with _uow(db) as uow:
        assert handlers.record_inspection(uow, event) is None  # once
    po_doc = handlers.get_purchase_order(db, po)
    assert po_doc["lines"][0]["returned"] == 3 and [r["id"] for r in po_doc["returns"]] == [return_id]
    with db.reader() as s:
        assert s.execute(select(purchase_returns.c.reason)).scalar_one() == f"failed inspection {event.inspection_id}"


def test_delivery_timeliness_counts_units_on_time_and_late_over_a_trailing_window(db, monkeypatch):
    """What hub_procurement_received_units sums: the scorecard's on-time units over the last days."""
    supplier = f"SUP-{uuid.uuid4().hex[:8]}"
    with _uow(db) as uow:
        handlers.upsert_supplier(uow, supplier, "Acme")
    _at(monkeypatch, "2026-03-01")
    with _uow(db) as uow:
        po = handlers.create_purchase_order(uow, domain.CreatePurchaseOrder(supplier, "WH", [
            domain.LineInput("TEA", 40, "11.00", "", "2026-03-05"),
            domain.LineInput("CUP", 60, "2.00", "", "2026-03-06"),
            domain.LineInput("MUG", 5, "3.00", "", "")]))  # no expected date: not measured
    approve(db, po)
    _at(monkeypatch, "2026-03-05")
    with _uow(db) as uow:
        handlers.receive_purchase_order(uow, po, [(1, 40), (3, 5)])  # on time
    _at(monkeypatch, "2026-03-09")
    with _uow(db) as uow:
        handlers.receive_purchase_order(uow, po, [(2, 20)])  # 3 days late

    _at(monkeypatch, "2026-03-10")
    assert handlers.delivery_timeliness(db, 30)[supplier] == {"on_time": 40, "late": 20}
    assert handlers.delivery_timeliness(db, 3)[supplier] == {"on_time": 0, "late": 20}  # since 03-07
