"""The sales KPIs on PostgreSQL and SQLite: the facts each posting writes beside its voucher, worked
examples to the cent, and the report's totals against the trial balance of the same period."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.accounting import chart, handlers, kpis
from services.accounting.domain import Rules
from services.accounting.models import (
    accounts,
    metadata,
    periods,
    sales_facts,
    voucher_counters,
    voucher_lines,
    vouchers,
)
from tests.support import infra

pytestmark = pytest.mark.integration
RULES = Rules(accounts=dict(chart.DEFAULT_ACCOUNTS), vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")
D = Decimal
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def pg_accounting_url():
    prefix = infra.session_name()
    url = infra.create_databases(prefix, ["accounting"])["accounting"]
    components.migrate("accounting", url)
    yield url
    infra.drop_databases(prefix, ["accounting"])


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_accounting_url")
    else:
        url = f"sqlite:///{tmp_path / 'accounting.db'}"
        components.migrate("accounting", url)
    database = Database(url, metadata, pool_size=4)
    with database.session() as s:
        for table in (sales_facts, voucher_lines, vouchers, voucher_counters, periods, accounts):
            s.execute(delete(table))
    handlers.ensure_chart(database, chart.DEFAULT_CHART)
    yield database
    database.dispose()


def deliver(db, posting, type_: str, payload: dict):
    env = Envelope(type=type_, source="test", aggregate_id=payload.get("order_id", "x"), sequence=next(_ids),
                   payload=payload, correlation_id="c", actor="tester")
    with UnitOfWork(db, "accounting", "tester", "c") as uow:
        return posting(uow, env, RULES)


BUYER = {"external_id": "b-1"}


def shipped(order_id, lines, channel="taobao", shop="T1", region="浙江", buyer=BUYER, day="2026-11-10"):
    return {"order_id": order_id, "channel": channel, "shop": shop, "external_order_id": f"E{order_id}",
            "currency": "CNY", "buyer": buyer, "carrier": "SF", "tracking_number": f"SF{order_id}",
            "shipped_at": f"{day}T02:00:00+00:00", "total": str(sum(D(l["amount"]) for l in lines)),
            "region": region, "lines": [{"warehouse": "SH", **l} for l in lines]}


def issued(order_id, lines, channel="taobao", day="2026-11-10"):
    return {"order_id": order_id, "channel": channel, "issued_at": f"{day}T02:00:01+00:00",
            "total_cost": str(sum(D(l["cost"]) for l in lines)), "lines": [{"warehouse": "SH", **l} for l in lines]}


def refunded(order_id, refund_id, lines, kind="refund_only", channel="taobao", shop="T1", day="2026-11-12"):
    return {"order_id": order_id, "refund_id": refund_id, "channel": channel, "shop": shop,
            "external_order_id": f"E{order_id}", "buyer": BUYER, "reason": "", "refunded_at": f"{day}T03:00:00+00:00",
            "currency": "CNY", "kind": kind, "lines": lines}


def trial(db, period="2026-11") -> dict[str, Decimal]:
    rows = {r["account"]: r for r in handlers.trial_balance(db, period)["rows"]}
    def net(code, credit_positive):
        r = rows.get(code)
        return D("0.00") if r is None else (r["credit"] - r["debit"] if credit_positive else r["debit"] - r["credit"])
    return {"revenue": net("6001", True), "cogs": net("6401", False), "commissions": net("6601", False)}


def _month_of_books(db):
    """Order 1: two lines, a discount on line 1 (2 x 100.00 listed, paid 180.00) and line 2 at list
    (1 x 50.00), cost 60.00 + 20.00 (FIFO, as inventory issued it); a refund of 20.00 on line 1 (仅退款);
    order 2 (JD, 广东): 1 x 113.00 at cost 40.00, returned whole (goods back, restocked at cost); a Taobao
    settlement keeping a commission of 9.00 and fees of 1.00."""
    deliver(db, handlers.post_sale, "order_shipped", shipped("o1", [
        {"line_no": 1, "sku": "TEA", "quantity": 2, "unit_price": "100.00", "amount": "180.00", "category": "drinks"},
        {"line_no": 2, "sku": "CUP", "quantity": 1, "unit_price": "50.00", "amount": "50.00", "category": "ware"}]))
    deliver(db, handlers.post_cost_of_goods, "goods_issued", issued("o1", [
        {"line_no": 1, "sku": "TEA", "quantity": 2, "cost": "60.00"},
        {"line_no": 2, "sku": "CUP", "quantity": 1, "cost": "20.00"}]))
    deliver(db, handlers.post_sales_refund, "order_refunded", refunded("o1", "r1", [
        {"line_no": 1, "sku": "TEA", "amount": "20.00", "amount_reversed_before": "0.00"}]))
    # order 2's cost arrives before its sale: its facts wait for the sale's dimensions
    deliver(db, handlers.post_cost_of_goods, "goods_issued", issued("o2", [
        {"line_no": 1, "sku": "TEA", "quantity": 1, "cost": "40.00"}], channel="jd"))
    deliver(db, handlers.post_sale, "order_shipped", shipped("o2", [
        {"line_no": 1, "sku": "TEA", "quantity": 1, "unit_price": "113.00", "amount": "113.00", "category": "drinks"}],
        channel="jd", shop="J1", region="广东", buyer={"external_id": "c-9"}))
    deliver(db, handlers.post_sales_return, "order_returned", {
        "order_id": "o2", "return_id": "ret2", "channel": "jd", "shop": "J1", "external_order_id": "Eo2",
        "buyer": {"external_id": "c-9"}, "reason": "", "returned_at": "2026-11-15T02:00:00+00:00", "currency": "CNY",
        "lines": [{"line_no": 1, "sku": "TEA", "quantity": 1, "unit_price": "113.00", "amount": "113.00",
                   "warehouse": "SH", "amount_returned_before": "0.00"}]})
    deliver(db, handlers.post_return_cost, "goods_returned", {
        "order_id": "o2", "return_id": "ret2", "channel": "jd", "returned_at": "2026-11-15T02:00:01+00:00",
        "lines": [{"line_no": 1, "sku": "TEA", "warehouse": "SH", "quantity": 1, "cost": "40.00"}]})
    with UnitOfWork(db, "accounting", "finance", "c") as uow:
        handlers.record_settlement(uow, "taobao", "T1", "S-1", "2026-11-20", "160.00", "9.00", "1.00", RULES)


def test_the_report_works_to_the_cent_and_its_totals_are_the_trial_balance(db):
    _month_of_books(db)
    report = kpis.sales_report(db, "2026-11-01", "2026-11-30", "channel", {})
    total = report["total"]
    # order 1: 180.00 -> net 159.29 (VAT 20.71), 50.00 -> 44.25; listed 200.00 -> 176.99; refund 20.00 -> 17.70
    # order 2: 113.00 -> 100.00, returned whole
    assert total["list_sales"] == D("176.99") + D("44.25") + D("100.00")
    assert total["sales"] == D("159.29") + D("44.25") + D("100.00")
    assert total["discounts"] == D("17.70")
    assert (total["refunds"], total["returns"], total["rma_refunds"]) == (D("17.70"), D("100.00"), D("0.00"))
    assert total["revenue"] == D("185.84")
    assert total["commissions"] == D("10.00")
    assert total["net_revenue"] == D("175.84")
    assert total["cogs"] == D("80.00")  # 60 + 20 + 40 - 40 restocked
    assert total["margin"] == D("95.84")
    assert total["margin_pct"] == D("54.50")
    assert (total["orders"], total["units"]) == (2, 3)  # 2 + 1 + 1 sold, 1 back
    books = trial(db)
    assert (total["revenue"], total["cogs"], total["commissions"]) == (books["revenue"], books["cogs"],
                                                                       books["commissions"])
    rows = {r["key"]: r for r in report["rows"]}
    assert rows["taobao"]["revenue"] == D("185.84") and rows["taobao"]["commissions"] == D("10.00")
    assert rows["jd"]["revenue"] == D("0.00") and rows["jd"]["cogs"] == D("0.00")


def test_every_dimension_adds_up_to_the_same_total_and_costs_take_their_sales_dimensions(db):
    _month_of_books(db)
    totals = set()
    for by in kpis.TIME_GRAINS + kpis.DIMENSIONS:
        report = kpis.sales_report(db, "2026-11-01", "2026-11-30", by, {})
        assert sum((r["revenue"] for r in report["rows"]), D(0)) == report["total"]["revenue"]
        assert sum((r["cogs"] for r in report["rows"]), D(0)) == report["total"]["cogs"]
        totals.add((report["total"]["revenue"], report["total"]["cogs"]))
    assert totals == {(D("185.84"), D("80.00"))}
    region = {r["key"]: r for r in kpis.sales_report(db, "2026-11-01", "2026-11-30", "region", {})["rows"]}
    # o2's cost came before its sale and still counts under 广东; the commission has no region
    assert region["广东"]["cogs"] == D("0.00") and region["广东"]["returns"] == D("100.00")
    assert region["浙江"]["cogs"] == D("80.00") and region[""]["commissions"] == D("10.00")
    category = {r["key"]: r for r in kpis.sales_report(db, "2026-11-01", "2026-11-30", "category", {})["rows"]}
    assert category["drinks"]["cogs"] == D("60.00") and category["ware"]["margin"] == D("24.25")
    weeks = kpis.sales_report(db, "2026-11-01", "2026-11-30", "week", {})["rows"]
    assert [w["key"] for w in weeks] == ["2026-11-09", "2026-11-16"]  # Mondays
    assert kpis.sales_report(db, "2026-11-01", "2026-11-30", "month", {})["rows"][0]["key"] == "2026-11"
    only = kpis.sales_report(db, "2026-11-01", "2026-11-30", "sku", {"channel": "taobao", "sku": "TEA"})
    assert [(r["key"], r["revenue"], r["cogs"]) for r in only["rows"]] == [("TEA", D("141.59"), D("60.00"))]
    with db.reader() as s:
        assert not s.execute(select(sales_facts).where(sales_facts.c.dims_pending)).first()


def test_a_reversal_takes_back_its_facts_and_the_books_still_agree(db):
    _month_of_books(db)
    with db.reader() as s:
        sale = s.execute(select(vouchers.c.id).where(vouchers.c.kind == "sale", vouchers.c.source_id == "o1")).scalar()
    with UnitOfWork(db, "accounting", "finance", "c") as uow:
        handlers.reverse_voucher(uow, sale, "2026-11-25")
    total = kpis.sales_report(db, "2026-11-01", "2026-11-30", "day", {})["total"]
    assert total["revenue"] == D("185.84") - D("203.54") and total["sales"] == D("100.00")
    assert (total["revenue"], total["cogs"]) == (trial(db)["revenue"], trial(db)["cogs"])


def test_a_period_outside_the_facts_is_empty_and_an_other_month_agrees_with_its_trial_balance(db):
    _month_of_books(db)
    deliver(db, handlers.post_sale, "order_shipped", shipped("o3", [
        {"line_no": 1, "sku": "CUP", "quantity": 3, "unit_price": "33.33", "amount": "99.99"}], day="2026-12-01"))
    nov = kpis.sales_report(db, "2026-11-01", "2026-11-30", "day", {})["total"]
    dec = kpis.sales_report(db, "2026-12-01", "2026-12-31", "day", {})["total"]
    assert nov["revenue"] == trial(db, "2026-11")["revenue"] and dec["revenue"] == trial(db, "2026-12")["revenue"]
    assert dec["revenue"] == D("88.49") and dec["margin_pct"] == D("100.00")
    empty = kpis.sales_report(db, "2025-01-01", "2025-01-31", "day", {})
    assert empty["rows"] == [] and empty["total"]["revenue"] == D("0.00") and empty["total"]["margin_pct"] is None


def test_customer_abc_classes_by_revenue_and_margin_and_the_workbooks(db):
    _month_of_books(db)
    for n, amount in enumerate(("113.00", "56.50", "11.30"), start=3):
        deliver(db, handlers.post_sale, "order_shipped", shipped(f"o{n}", [
            {"line_no": 1, "sku": "CUP", "quantity": 1, "unit_price": amount, "amount": amount}],
            buyer={"external_id": f"k-{n}"}))
    report = kpis.customer_abc(db, "2026-11-01", "2026-11-30", "revenue", "60", "90", {})
    got = [(r["customer"], r["value"], r["grade"]) for r in report["rows"]]
    # taobao:b-1 185.84, k-3 100.00, k-4 50.00, k-5 10.00; jd:c-9 0.00 (sold and returned)
    assert got == [("taobao:b-1", D("185.84"), "A"), ("taobao:k-3", D("100.00"), "A"),
                   ("taobao:k-4", D("50.00"), "B"), ("taobao:k-5", D("10.00"), "C"), ("jd:c-9", D("0.00"), "C")]
    assert report["rows"][0]["share"] == D("53.74") and report["rows"][-2]["cumulative_share"] == D("100.00")
    assert [c["customers"] for c in report["classes"]] == [2, 1, 2]
    by_margin = kpis.customer_abc(db, "2026-11-01", "2026-11-30", "margin", "80", "95", {"channel": "taobao"})
    assert by_margin["rows"][0]["value"] == D("105.84")  # 185.84 - 80.00 cost of goods
    sheet = load_workbook(BytesIO(kpis.abc_workbook(report))).active
    assert sheet["A2"].value == "taobao:b-1" and sheet["B2"].value == "A"
    sales = load_workbook(BytesIO(kpis.sales_workbook(kpis.sales_report(db, "2026-11-01", "2026-11-30", "sku", {}))))
    last = list(sales.active.iter_rows(values_only=True))[-1]
    assert last[0] == "total" and D(str(last[9])) == D("345.84")


def test_a_sale_dated_in_a_closed_period_counts_where_its_voucher_is_posted(db):
    with UnitOfWork(db, "accounting", "finance", "c") as uow:
        uow.session.execute(periods.insert().values(period="2026-11", status="closed", closed_by="finance",
                                                    closed_at=datetime(2026, 12, 1, tzinfo=timezone.utc)))
    deliver(db, handlers.post_sale, "order_shipped", shipped("o9", [
        {"line_no": 1, "sku": "TEA", "quantity": 1, "unit_price": "113.00", "amount": "113.00"}], day="2026-11-20"))
    assert kpis.sales_report(db, "2026-11-01", "2026-11-30", "day", {})["rows"] == []
    [row] = kpis.sales_report(db, "2026-12-01", "2026-12-31", "day", {})["rows"]
    assert (row["key"], row["revenue"]) == ("2026-12-01", trial(db, "2026-12")["revenue"]) == ("2026-12-01", D("100.00"))


def test_the_worker_writes_a_batch_of_vouchers_together_numbered_in_order_and_each_announced(db):
    """The accounting worker's order_shipped and goods_issued batches: posted already and closed periods
    asked once, one counter step per period, the vouchers, lines and facts written with one statement
    each; numbered in the order of the batch, a shipment posted already (or twice in the batch) not
    again, one dated in a closed period on the first day of the next; each voucher announced on behalf
    of its own event; the costs booked before their sales take the sales' dimensions."""
    from sqlalchemy import event as sa_event

    from services.accounting import worker

    w = worker.Worker()
    w.db, w.rules = db, RULES
    with UnitOfWork(db, "accounting", "finance", "c") as uow:
        handlers.close_period(uow, "2026-10")

    def env(type_, payload, n):
        return Envelope(type=type_, source="test", aggregate_id=payload["order_id"], sequence=n, payload=payload,
                        correlation_id=f"corr-{n}", actor=f"actor-{n}")
    tea = {"line_no": 1, "sku": "TEA", "quantity": 1, "unit_price": "113.00", "amount": "113.00", "category": "drinks"}
    costs = [env("goods_issued", issued(o, [{"line_no": 1, "sku": "TEA", "quantity": 1, "cost": "40.00"}]), i)
             for i, o in enumerate(("b1", "b2"), 1)]
    assert w.on_goods_issued(costs) == [True, True]
    statements: list[str] = []
    sa_event.listen(db.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(" ".join(sql.split())))
    sales = [env("order_shipped", shipped("b1", [tea], region="广东"), 3),
             env("order_shipped", shipped("b2", [tea], region="江苏", day="2026-10-20"), 4),
             env("order_shipped", shipped("b1", [tea], region="广东"), 5)]  # b1 again, another event
    assert w.on_order_shipped(sales) == [True, True, True]
    for table in ("voucher_counters", "vouchers", "voucher_lines", "sales_facts"):
        assert len([sql for sql in statements if sql.startswith(f"INSERT INTO {table} ")]) == 1, (table, statements)
    with db.reader() as s:
        posted = s.execute(select(vouchers.c.kind, vouchers.c.source_id, vouchers.c.number, vouchers.c.business_date,
                                  vouchers.c.posted_by).order_by(vouchers.c.number)).all()
        outbox = db.metadata.tables["outbox"]
        announced = {e.aggregate_id: e.correlation_id for e in (Envelope.from_json(body) for (body,) in s.execute(
            select(outbox.c.body).where(outbox.c.event_type == "voucher_posted")))}
        pending = s.execute(select(sales_facts).where(sales_facts.c.dims_pending)).all()
        regions = {(r.order_id, r.kind): r.region for r in s.execute(select(sales_facts))}
    assert [(k, src, num, str(day), by) for k, src, num, day, by in posted] == [
        ("cost_of_goods", "b1", "记-2026-11-0001", "2026-11-10", "actor-1"),
        ("cost_of_goods", "b2", "记-2026-11-0002", "2026-11-10", "actor-2"),
        ("sale", "b1", "记-2026-11-0003", "2026-11-10", "actor-3"),
        ("sale", "b2", "记-2026-11-0004", "2026-11-01", "actor-4")]  # October is closed
    with db.reader() as s:
        ids = dict(s.execute(select(vouchers.c.number, vouchers.c.id)).tuples().all())
    assert [announced[ids[f"记-2026-11-000{n}"]] for n in range(1, 5)] == [f"corr-{n}" for n in range(1, 5)]
    assert not pending and regions[("b1", "cost")] == "广东" and regions[("b2", "cost")] == "江苏"
    assert w.on_order_shipped([env("order_shipped", shipped("b2", [tea], region="江苏", day="2026-10-20"), 6)]) == [True]
    with db.reader() as s:
        assert len(s.execute(select(vouchers.c.id).where(vouchers.c.kind == "sale")).all()) == 2
