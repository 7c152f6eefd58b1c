"""Accounting reports on PostgreSQL and SQLite, worked examples to the cent: ageing (FIFO
settlement into buckets), account detail (明细账), general ledger (总账), the period export."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, update

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import InvalidArgument, NotFound
from services.accounting import chart, export, reports
from services.accounting.domain import Line, Rules
from services.accounting.handlers import post
from services.accounting.models import accounts, metadata, periods, voucher_counters, voucher_lines, vouchers
from tests.support import infra

pytestmark = pytest.mark.integration
RULES = Rules(accounts=dict(chart.DEFAULT_ACCOUNTS), vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")
D = Decimal
_ids = itertools.count(1)

A, B, C = "customer:taobao:b-1", "customer:jd:c-9", "customer:pdd:p-3"
ACME, BETA, GAMMA = "supplier:ACME", "supplier:BETA", "supplier:GAMMA"


@pytest.fixture(scope="module")
def pg_accounting_url():
    prefix = infra.session_name()
    url = infra.create_databases(prefix, ["accounting"])["accounting"]
    components.migrate("accounting", url)
    yield url
    infra.drop_databases(prefix, ["accounting"])


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_accounting_url")
    url = f"sqlite:///{tmp_path / 'accounting.db'}"
    components.migrate("accounting", url)
    return url


@pytest.fixture
def db(url):
    database = Database(url, metadata, pool_size=4)
    with database.session() as s:  # the PostgreSQL database is shared by the module's tests
        for table in (voucher_lines, vouchers, voucher_counters, periods, accounts):
            s.execute(delete(table))
        s.execute(accounts.insert(), [{"code": a.code, "name": a.name, "category": a.category,
                                       "normal_balance": a.normal_balance} for a in chart.DEFAULT_CHART])
    yield database
    database.dispose()


def book(db, day: str, *lines: Line, kind="manual", at="02:00:00") -> dict:
    """Post one voucher dated `day` in Shanghai (02:00 UTC is 10:00 there, the same day)."""
    n = next(_ids)
    env = Envelope(type="test_event", source="test", aggregate_id=f"doc-{n}", sequence=1, payload={},
                   correlation_id="c", actor="tester")
    with UnitOfWork(db, "accounting", "tester", "c") as uow:
        voucher = post(uow, kind, env, f"doc-{n}", f"{day}T{at}+00:00", list(lines), RULES)
    assert voucher is not None
    return voucher


def dr(account, amount, aux="", summary="test"):
    return Line(account, summary, debit=D(amount), aux=aux)


def cr(account, amount, aux="", summary="test"):
    return Line(account, summary, credit=D(amount), aux=aux)


def invoice(db, day, aux, gross, net, vat):
    return book(db, day, dr("1122", gross, aux, f"Sale {aux}"), cr("6001", net, "", f"Sale {aux}"),
                cr("22210105", vat, "", f"Sale {aux}"))


def receipt(db, day, aux, amount):
    return book(db, day, dr("1002", amount, "", f"Receipt {aux}"), cr("1122", amount, aux, f"Receipt {aux}"))


def receivables(db):
    invoice(db, "2024-03-15", A, "1130.00", "1000.00", "130.00")
    invoice(db, "2024-04-20", A, "565.50", "500.44", "65.06")
    invoice(db, "2024-06-10", A, "339.99", "300.88", "39.11")
    receipt(db, "2024-05-10", A, "1300.00")           # settles 03-15 (1130.00) and 170.00 of 04-20
    invoice(db, "2024-01-05", B, "250.00", "221.24", "28.76")
    invoice(db, "2024-05-25", B, "88.88", "78.65", "10.23")
    invoice(db, "2024-02-01", C, "100.00", "88.50", "11.50")
    receipt(db, "2024-02-10", C, "100.00")           # C is settled: not listed
    invoice(db, "2024-07-02", A, "999.99", "884.95", "115.04")  # after as_of: ignored


def _buckets(row):
    return [row["0-30"], row["31-60"], row["61-90"], row["over-90"]]


# -- ageing --------------------------------------------------------------------
def test_receivable_ageing_settles_fifo_into_buckets(db):
    receivables(db)
    rows = reports.ageing(db, "1122", date(2024, 6, 30))
    assert [r["aux"] for r in rows] == [A, B]  # by balance, descending; C is settled
    a, b = rows
    # A: 03-15 settled in full, 04-20 has 565.50 - 170.00 = 395.50 open at 71 days, 06-10 339.99 at 20 days
    assert _buckets(a) == [D("339.99"), D("0.00"), D("395.50"), D("0.00")]
    assert a["balance"] == D("735.49") and a["oldest_date"] == date(2024, 4, 20)
    # B: 05-25 at 36 days, 01-05 at 177 days
    assert _buckets(b) == [D("0.00"), D("88.88"), D("0.00"), D("250.00")]
    assert b["balance"] == D("338.88") and b["oldest_date"] == date(2024, 1, 5)
    assert all(isinstance(v, Decimal) for r in rows for k, v in r.items() if k not in ("aux", "oldest_date"))

    # before the payment: everything of A still open
    a = reports.ageing(db, "1122", date(2024, 5, 9))[0]
    assert a["aux"] == A and _buckets(a) == [D("565.50"), D("1130.00"), D("0.00"), D("0.00")]
    assert a["balance"] == D("1695.50")


def test_bucket_boundaries_and_custom_buckets(db):
    receivables(db)
    by_aux = lambda rows: {r["aux"]: r for r in rows}  # noqa: E731
    b = by_aux(reports.ageing(db, "1122", date(2024, 6, 24)))[B]  # 05-25 is 30 days old
    assert b["0-30"] == D("88.88") and b["31-60"] == D("0.00")
    b = by_aux(reports.ageing(db, "1122", date(2024, 6, 25)))[B]  # 31 days
    assert b["0-30"] == D("0.00") and b["31-60"] == D("88.88")
    a = by_aux(reports.ageing(db, "1122", date(2024, 6, 30), buckets=(15, 45)))[A]
    assert {k: a[k] for k in ("0-15", "16-45", "over-45")} == \
        {"0-15": D("0.00"), "16-45": D("339.99"), "over-45": D("395.50")}
    with pytest.raises(InvalidArgument) as err:
        reports.ageing(db, "1122", date(2024, 6, 30), buckets=(60, 30))
    assert err.value.fields[0]["field"] == "buckets"
    with pytest.raises(NotFound):
        reports.ageing(db, "9999", date(2024, 6, 30))


def test_payable_ageing_is_credit_normal(db):
    book(db, "2024-02-01", dr("1405", "2000.00", "warehouse:SH"), dr("22210101", "260.00"), cr("2202", "2260.00", ACME))
    book(db, "2024-03-20", dr("1405", "900.00", "warehouse:SH"), dr("22210101", "117.00"), cr("2202", "1017.00", ACME))
    book(db, "2024-04-15", dr("2202", "2500.00", ACME), cr("1002", "2500.00"))  # 2260.00 + 240.00 of 03-20
    book(db, "2024-04-28", dr("1405", "40.42", "warehouse:BJ"), dr("22210101", "5.25"), cr("2202", "45.67", BETA))
    book(db, "2024-04-01", dr("2202", "100.00", GAMMA), cr("1002", "100.00"))  # an advance to GAMMA
    book(db, "2024-04-10", dr("1405", "53.10"), dr("22210101", "6.90"), cr("2202", "60.00", GAMMA))
    rows = reports.ageing(db, "2202", date(2024, 4, 30))
    assert [(r["aux"], r["balance"]) for r in rows] == [(ACME, D("777.00")), (BETA, D("45.67")),
                                                        (GAMMA, D("-40.00"))]
    acme, beta, gamma = rows
    assert _buckets(acme) == [D("0.00"), D("777.00"), D("0.00"), D("0.00")]  # 03-20 is 41 days old
    assert acme["oldest_date"] == date(2024, 3, 20)
    assert _buckets(beta) == [D("45.67"), D("0.00"), D("0.00"), D("0.00")]
    # the advance settles the later purchase; 40.00 of it stays unapplied, dated 04-01
    assert _buckets(gamma) == [D("-40.00"), D("0.00"), D("0.00"), D("0.00")] and gamma["oldest_date"] is None


def test_a_reversal_settles_the_item_it_reverses(db):
    first = invoice(db, "2024-03-01", A, "500.00", "442.48", "57.52")
    second = invoice(db, "2024-04-01", A, "200.00", "176.99", "23.01")
    reversal = book(db, "2024-04-05", dr("6001", "176.99"), dr("22210105", "23.01"), cr("1122", "200.00", A))
    with db.session() as s:
        s.execute(update(vouchers).where(vouchers.c.id == reversal["id"]).values(reverses=second["id"]))
    [a] = reports.ageing(db, "1122", date(2024, 6, 15))
    assert a["balance"] == D("500.00") and a["oldest_date"] == first["business_date"]
    assert _buckets(a) == [D("0.00"), D("0.00"), D("0.00"), D("500.00")]  # not FIFO against 03-01


# -- account detail (明细账) -----------------------------------------------------
def test_account_detail_running_balance_from_the_opening(db):
    receivables(db)
    d = reports.account_detail(db, "1122", "2024-05")
    # before May: 1130.00 + 565.50 + 250.00 + 100.00 - 100.00
    assert d["opening"] == D("1945.50") and d["name"] == "应收账款 Accounts receivable" and d["aux"] == ""
    assert [(l["business_date"], l["debit"], l["credit"], l["balance"], l["aux"]) for l in d["lines"]] == [
        (date(2024, 5, 10), D("0.00"), D("1300.00"), D("645.50"), A),
        (date(2024, 5, 25), D("88.88"), D("0.00"), D("734.38"), B),
    ]
    assert (d["debit"], d["credit"], d["closing"]) == (D("88.88"), D("1300.00"), D("734.38"))
    first = d["lines"][0]
    assert first["summary"] == f"Receipt {A}" and first["voucher_number"].startswith("记-2024-05-")
    assert first["voucher_id"] and first["cost_centre"] == ""

    d = reports.account_detail(db, "1122", "2024-05", aux=A)
    assert (d["opening"], d["closing"], d["aux"]) == (D("1695.50"), D("395.50"), A)
    assert [l["balance"] for l in d["lines"]] == [D("395.50")]

    d = reports.account_detail(db, "1122", "2024-08")  # a quiet period: opening carried to closing
    assert d["lines"] == [] and d["opening"] == d["closing"] == D("2074.36")  # 734.38 + 339.99 + 999.99

    d = reports.account_detail(db, "6001", "2024-03")  # credit-normal: the balance runs negative
    assert d["opening"] == D("-309.74")  # 221.24 (January) + 88.50 (February) of revenue
    assert [l["balance"] for l in d["lines"]] == [D("-1309.74")]


def test_account_detail_orders_by_date_then_number_and_keeps_cost_centre(db):
    late = book(db, "2024-03-20", dr("6602", "10.00", summary="late"), cr("1002", "10.00"))
    early = book(db, "2024-03-05", dr("6602", "0.10", summary="early"), cr("1002", "0.10"))
    same_day = book(db, "2024-03-20", dr("6602", "5.05", summary="same day, later number"), cr("1002", "5.05"))
    # posted 2024-03-31 18:00 UTC = 2024-04-01 02:00 in Shanghai: April's
    book(db, "2024-03-31", dr("6602", "1.00", summary="april"), cr("1002", "1.00"), at="18:00:00")
    with db.session() as s:
        s.execute(update(voucher_lines).where(voucher_lines.c.voucher_id == late["id"], voucher_lines.c.line_no == 1)
                  .values(cost_centre="warehouse:SH"))
    d = reports.account_detail(db, "6602", "2024-03")
    assert [l["summary"] for l in d["lines"]] == ["early", "late", "same day, later number"]
    assert [l["voucher_number"] for l in d["lines"]] == [early["number"], late["number"], same_day["number"]]
    assert [l["balance"] for l in d["lines"]] == [D("0.10"), D("10.10"), D("15.15")]
    assert [l["cost_centre"] for l in d["lines"]] == ["", "warehouse:SH", ""]
    april = reports.account_detail(db, "6602", "2024-04")
    assert april["opening"] == D("15.15") and april["closing"] == D("16.15")
    assert april["lines"][0]["business_date"] == date(2024, 4, 1)


def test_account_detail_refuses_unknown_accounts_and_bad_periods(db):
    with pytest.raises(NotFound):
        reports.account_detail(db, "9999", "2024-05")
    for bad in ("2024-13", "2024/05", "24-05", "", "2024-5"):
        with pytest.raises(InvalidArgument) as err:
            reports.account_detail(db, "1122", bad)
        assert [f["field"] for f in err.value.fields] == ["period"]


# -- general ledger (总账) --------------------------------------------------------
def ledger(db):
    book(db, "2023-11-10", dr("1122", "1000.00", A), cr("6001", "1000.00"))
    book(db, "2024-01-15", dr("1002", "400.00"), cr("1122", "400.00", A))
    book(db, "2024-03-05", dr("1122", "250.25", A), cr("6001", "250.25"))
    book(db, "2024-03-31", dr("1002", "100.10"), cr("1122", "100.10", A), at="18:00:00")  # April in Shanghai
    book(db, "2024-05-20", dr("6602", "33.33"), cr("1002", "33.33"))


def _gl(rows):
    return [(r["period"], r["opening"], r["debit"], r["credit"], r["closing"]) for r in rows]


def test_general_ledger_months_and_carried_balance(db):
    ledger(db)
    rows = reports.general_ledger(db, 2024, "1122")
    assert {r["name"] for r in rows} == {"应收账款 Accounts receivable"}
    assert _gl(rows) == [  # months run to May, the ledger's latest
        ("2024-01", D("1000.00"), D("0.00"), D("400.00"), D("600.00")),
        ("2024-02", D("600.00"), D("0.00"), D("0.00"), D("600.00")),
        ("2024-03", D("600.00"), D("250.25"), D("0.00"), D("850.25")),
        ("2024-04", D("850.25"), D("0.00"), D("100.10"), D("750.15")),
        ("2024-05", D("750.15"), D("0.00"), D("0.00"), D("750.15")),
    ]
    assert [(r["year_debit"], r["year_credit"]) for r in rows][-2:] == [(D("250.25"), D("500.10"))] * 2

    everything = reports.general_ledger(db, 2024)
    assert sorted({r["account"] for r in everything}) == ["1002", "1122", "6001", "6602"]
    assert [r for r in everything if r["account"] == "1122"] == rows
    assert _gl(r for r in everything if r["account"] == "6602") == [
        ("2024-05", D("0.00"), D("33.33"), D("0.00"), D("33.33"))]
    assert _gl(r for r in everything if r["account"] == "6001")[-1] == \
        ("2024-05", D("-1250.25"), D("0.00"), D("0.00"), D("-1250.25"))
    for month in ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05"):  # the ledger balances every month
        assert sum((r["closing"] for r in everything if r["period"] == month), D("0")) == 0

    earlier = reports.general_ledger(db, 2023, "1122")  # a past year runs to December
    assert _gl(earlier) == [("2023-11", D("0.00"), D("1000.00"), D("0.00"), D("1000.00")),
                            ("2023-12", D("1000.00"), D("0.00"), D("0.00"), D("1000.00"))]
    assert reports.general_ledger(db, 2025) == []
    assert reports.general_ledger(db, 2022) == []


def test_general_ledger_errors(db):
    with pytest.raises(NotFound):
        reports.general_ledger(db, 2024, "9999")
    with pytest.raises(InvalidArgument) as err:
        reports.general_ledger(db, 0)
    assert err.value.fields[0]["field"] == "year"


# -- export of a period -------------------------------------------------------------
def test_period_workbook_has_every_line_of_the_period(db, monkeypatch):
    receivables(db)
    monkeypatch.setattr(export, "_CHUNK", 2)  # several chunks
    may = export.period_vouchers(db, "2024-05")
    assert [v["number"] for v in may] == ["记-2024-05-0001", "记-2024-05-0002"]
    data = export.period_workbook(db, "2024-06")
    ws = load_workbook(BytesIO(data))[export.VOUCHERS_SHEET]
    body = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(body) == 3 and {r[7] for r in body} == {"1122", "6001", "22210105"}
    assert sum((D(str(r[10])) for r in body), D("0")) == D("339.99")
    data = export.period_workbook(db, "2024-03")
    assert len(list(load_workbook(BytesIO(data))[export.VOUCHERS_SHEET].iter_rows(min_row=2))) == 3
    with pytest.raises(InvalidArgument):
        export.period_workbook(db, "March")
