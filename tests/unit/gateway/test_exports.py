"""The CSV and Excel exports of lists and reports (gateway.common.exports): the converter on models of
its own (types, nested rows, totals, formula injection, the BOM, Chinese text read back with openpyxl
and csv), content negotiation and its refusals, and every exporting operation of the gateway answering
both formats with the rows of its JSON (services faked, every field filled)."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pydantic import Field

from gateway.common import exports
from gateway.common.schemas import Money, Reply
from tests.unit.gateway.test_responses import PATH_VALUES, QUERIES, hub  # noqa: F401  (the filled-fakes gateway)

XLSX = exports.XLSX


class Buyer(Reply):
    name: str
    phone: str


class Hold(Reply):
    id: str
    reason: str


class Line(Reply):
    line_no: int
    sku: str
    quantity: int
    amount: Money
    shipped_at: str | None


class Doc(Reply):
    id: str
    note: str
    business_date: str
    paid: bool
    buyer: Buyer
    tags: list[str]
    buckets: dict[str, Money]
    holds: list[Hold]
    lines: list[Line]
    amount: Money


class Page(Reply):
    period: str
    total_amount: Money = Field(description="the documents' amounts together")
    docs: list[Doc]


def _doc(doc_id, note, lines, holds=(), **more):
    return {"id": doc_id, "note": note, "business_date": "2026-03-01", "paid": True,
            "buyer": {"name": "李雷", "phone": "13800000000"}, "tags": ["vip", "新客"],
            "buckets": more.get("buckets", {"0-30": "1.00"}), "holds": list(holds),
            "lines": lines, "amount": more.get("amount", "0.00")}


ANSWER = {"period": "2026-03", "total_amount": "-2.50", "docs": [
    _doc("D1", "=HYPERLINK(\"http://evil\",\"x\")", [
        {"line_no": 1, "sku": "茶-TEA", "quantity": 3, "amount": "12.5", "shipped_at": "2026-03-01T16:30:00Z"},
        {"line_no": 2, "sku": "CUP", "quantity": 1, "amount": "-15.00", "shipped_at": None}],
        holds=[{"id": "H1", "reason": "manual"}, {"id": "H2", "reason": "fraud"}], amount="-2.50",
        buckets={"0-30": "1.00", "31-60": "2.00"}),
    _doc("D2", "a, \"quoted\"\nnext line", [], buckets={"over-90": "3.00"}),
]}


@pytest.fixture(scope="module")
def plan():
    found = exports._plan(Page, "")
    assert found is not None
    return found


def _sheet(data: bytes, title: str) -> list[tuple]:
    return list(load_workbook(io.BytesIO(data))[title].iter_rows(values_only=True))


def _csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_model_without_a_list_of_models_offers_no_export():
    assert exports._plan(Buyer, "") is None and exports._plan(Line, "") is None
    assert exports._plan(Doc, "") is not None  # a document with lines: they are its table


def test_a_route_is_found_from_its_model_and_one_with_a_format_of_its_own_is_left_alone():
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/pages", response_model=Page)
    def pages():
        return ANSWER

    @router.get("/printed", response_model=Page)
    def printed(format: str = "pdf"):  # its own `format` (a print's): the export steps aside
        return ANSWER

    @router.post("/pages", response_model=Page)
    def post_page():
        return ANSWER

    listed, own, write = router.routes
    assert exports.plan_for(listed) is not None
    assert exports.plan_for(own) is None and exports.plan_for(write) is None


def test_rows_unfold_the_nested_lines_and_keep_the_row_columns(plan):
    tables, summary = exports.tables(plan, ANSWER)
    main = tables[0]
    headers = [c.header for c in main.columns]
    assert headers == ["ID", "Note", "Business date", "Paid", "Buyer name", "Buyer phone", "Tags", "Buckets 0-30",
                       "Buckets 31-60", "Buckets over-90", "Amount", "Line no", "SKU", "Quantity", "Line amount",
                       "Shipped at"]
    # D1 twice (one row per line), D2 once with empty line columns, then the totals row
    assert [r[0] for r in main.rows] == ["D1", "D1", "D2", "Total"]
    assert main.rows[2][11:] == [None] * 5
    assert main.rows[0][6] == "vip, 新客" and main.rows[2][7:10] == [None, None, Decimal("3.00")]
    assert main.rows[-1][headers.index("Amount")] == Decimal("-2.50")
    assert main.rows[-1][headers.index("Line amount")] is None  # the answer has no total of the lines
    holds = tables[1]
    assert holds.title == "Docs holds" and [c.header for c in holds.columns] == ["ID", "Hold ID", "Reason"]
    assert holds.rows == [["D1", "H1", "manual"], ["D1", "H2", "fraud"]]
    assert summary is not None and summary.rows == [["Period", "2026-03"], ["Total amount", Decimal("-2.50")]]


def test_the_workbook_has_typed_cells(plan):
    data = exports.workbook(plan, ANSWER)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Docs", "Docs holds", "Summary"]
    ws = book["Docs"]
    header = [c.value for c in ws[1]]
    assert header[-1] == "Shipped at (Asia/Shanghai)"
    row = {h: c for h, c in zip(header, ws[2])}
    assert row["Line amount"].value == Decimal("12.50") and row["Line amount"].number_format == "#,##0.00"
    assert row["Line amount"].data_type == "n"
    assert row["Quantity"].value == 3 and row["Quantity"].number_format == "0"
    assert row["Business date"].is_date and row["Business date"].value == datetime(2026, 3, 1)
    assert row["Business date"].number_format == "yyyy-mm-dd"
    # 16:30 UTC is half past midnight the next day in Shanghai
    assert row["Shipped at (Asia/Shanghai)"].value == datetime(2026, 3, 2, 0, 30)
    assert row["Paid"].value is True
    assert row["SKU"].value == "茶-TEA" and row["Buyer name"].value == "李雷"
    # text that looks like a formula is stored as text and read back exactly
    assert row["Note"].data_type == "s" and row["Note"].value == ANSWER["docs"][0]["note"]
    second = {h: c.value for h, c in zip(header, ws[3])}
    assert second["Line amount"] == Decimal("-15") and second["Shipped at (Asia/Shanghai)"] is None
    assert [c.value for c in ws[5]][:1] == ["Total"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:P5"
    assert dict(_sheet(data, "Summary")[1:]) == {"Period": "2026-03", "Total amount": -2.5}


def test_csv_is_rfc4180_with_a_bom_and_guards_formulas(plan):
    data = exports.csv_bytes(plan, ANSWER)
    assert data.count(b"\r\n") == 5  # the header and 4 rows; D2's note keeps its own line break, quoted
    rows = _csv(data)
    header = rows[0]
    assert len(rows) == 5 and all(len(r) == len(header) for r in rows)
    first, second, third = (dict(zip(header, r)) for r in rows[1:4])
    assert first["Note"] == "'" + ANSWER["docs"][0]["note"]  # leading apostrophe: never a formula
    assert first["SKU"] == "茶-TEA" and first["Buyer name"] == "李雷" and first["Tags"] == "vip, 新客"
    assert first["Line amount"] == "12.50" and second["Line amount"] == "-15.00"  # a number, not guarded
    assert first["Shipped at (Asia/Shanghai)"] == "2026-03-02 00:30:00" and first["Business date"] == "2026-03-01"
    assert first["Paid"] == "true" and first["Quantity"] == "3"
    assert third["Note"] == "a, \"quoted\"\nnext line"  # quoted as RFC 4180 says, read back whole
    assert rows[4][0] == "Total" and rows[4][header.index("Amount")] == "-2.50"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_prefix_is_guarded_in_csv(text):
    assert exports.csv_text(text) == "'" + text
    assert exports.csv_text("1-2") == "1-2" and exports.csv_text(Decimal("-1.00")) == "-1.00"


def test_chinese_text_round_trips_through_both_formats(plan):
    answer = {**ANSWER, "docs": [_doc("单据-1", "备注：客户要求周五前发货，谢谢！", [
        {"line_no": 1, "sku": "龙井茶", "quantity": 2, "amount": "99.90", "shipped_at": None}])]}
    rows = _csv(exports.csv_bytes(plan, answer))
    assert rows[1][:2] == ["单据-1", "备注：客户要求周五前发货，谢谢！"] and "龙井茶" in rows[1]
    sheet = _sheet(exports.workbook(plan, answer), "Docs")
    assert sheet[1][:2] == ("单据-1", "备注：客户要求周五前发货，谢谢！") and "龙井茶" in sheet[1]


def test_values_that_are_not_what_the_column_says_stay_text():
    assert exports.typed(exports.MONEY, "n/a") == "n/a"
    assert exports.typed(exports.DAY, "2026-03") == "2026-03"  # a period is no day
    assert exports.typed(exports.DAY, "2026-03-05") == date(2026, 3, 5)
    assert exports.typed(exports.DAY, "1899-12-31") == "1899-12-31"  # before Excel's first day
    assert exports.typed(exports.MONEY, "NaN") == "NaN"
    assert exports.typed(exports.INTEGER, 2**62) == str(2**62)  # Excel would lose digits
    assert exports.typed(exports.DATA, {"a": "b"}) == '{"a": "b"}'


@pytest.mark.parametrize("accept, chosen", [
    ("", "json"), ("*/*", "json"), ("application/json", "json"), ("text/csv", "csv"), (XLSX, "xlsx"),
    ("text/csv, */*", "csv"), ("text/*", "csv"), ("application/json;q=0.5, text/csv", "csv"),
    ("text/csv;q=0.4, application/*;q=0.8", "json"), (f"{XLSX};q=0.9, text/csv;q=0.1", "xlsx"),
    ("application/xml", None), ("text/html, image/png", None), ("text/csv;q=0", None),
])
def test_accept_picks_the_representation_by_weight_and_exactness(accept, chosen):
    assert exports._accepted(accept) == chosen


# -- through the gateway ---------------------------------------------------------------------------
def _exporting(app) -> list[str]:
    return [path for path, item in app.openapi()["paths"].items()
            if any(p["name"] == "format" and "csv" in p["schema"].get("enum", [])
                   for p in item.get("get", {}).get("parameters", []))]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m[1], "SH"), path)


def test_every_exporting_operation_answers_csv_and_a_workbook_with_the_same_rows(hub):  # noqa: F811
    app, http, admin, _ = hub
    paths = _exporting(app)
    assert len(paths) >= 40
    plans = {r.path_format: exports.plan_for(r) for r in exports.api_routes(app.routes) if "GET" in r.methods}
    for path in paths:
        params = QUERIES.get(f"GET {path}", {})
        items = exports._get(http.get(_url(path), params=params, headers=admin).json(), plans[path].main.path)
        as_csv = http.get(_url(path), params={**params, "format": "csv"}, headers=admin)
        as_xlsx = http.get(_url(path), headers={**admin, "Accept": XLSX}, params=params)
        assert as_csv.status_code == as_xlsx.status_code == 200, (path, as_csv.text, as_xlsx.text)
        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert as_xlsx.headers["content-type"] == XLSX
        assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+\.csv"', as_csv.headers["content-disposition"])
        rows = _csv(as_csv.content)
        sheet = list(load_workbook(io.BytesIO(as_xlsx.content)).worksheets[0].iter_rows(values_only=True))
        assert len(sheet) == len(rows) >= 1 + len(items), path  # the header, a row per item at least
        assert list(sheet[0]) == rows[0], path
        for got, want in zip(sheet[1:], rows[1:]):
            assert [_as_csv(v, text) for v, text in zip(got, want)] == want, path


def _as_csv(value, text: str) -> str:
    """A cell read back from the workbook as the CSV writes it (a date comes back as a datetime, a
    number as a float)."""
    if isinstance(value, datetime) and len(text) == 10:
        value = value.date()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return text if Decimal(text) == Decimal(str(value)) else str(value)
    return exports.csv_text(value)


def test_the_file_is_named_after_the_path_and_query_and_a_page_gives_the_next_token(hub):  # noqa: F811
    _, http, admin, _ = hub
    reply = http.get("/stock/reports/turnover", params={"date_from": "2024-01-01", "date_to": "2024-01-31",
                                                        "format": "xlsx"}, headers=admin)
    assert reply.headers["content-disposition"] == \
        'attachment; filename="stock-reports-turnover-2024-01-01-2024-01-31.xlsx"'
    page = http.get("/orders", params={"format": "csv"}, headers=admin)  # a paged list: the next page's token
    assert page.headers["x-next-page-token"] == http.get("/orders", headers=admin).json()["next_page_token"]
    reply = http.get("/stock/reports/movements/茶", params={"format": "csv"}, headers=admin)
    assert reply.headers["content-disposition"] == \
        "attachment; filename=\"stock-reports-movements.csv\"; filename*=UTF-8''stock-reports-movements-%E8%8C%B6.csv"


def test_json_stays_the_default_and_format_wins_over_accept(hub):  # noqa: F811
    _, http, admin, _ = hub
    plain = http.get("/accounting/accounts", headers=admin)
    assert plain.headers["content-type"] == "application/json" and "accounts" in plain.json()
    assert http.get("/accounting/accounts", params={"format": "json"},
                    headers={**admin, "Accept": "text/csv"}).headers["content-type"] == "application/json"
    assert http.get("/accounting/accounts", params={"format": "csv"},
                    headers={**admin, "Accept": XLSX}).headers["content-type"].startswith("text/csv")


def test_an_unknown_format_is_a_422_and_an_unacceptable_accept_a_406(hub):  # noqa: F811
    _, http, admin, _ = hub
    for params in ({"format": "pdf"}, {"format": ""}, [("format", "csv"), ("format", "xlsx")]):
        reply = http.get("/accounting/accounts", params=params, headers=admin)
        assert (reply.status_code, reply.headers["content-type"]) == (422, "application/problem+json"), params
        assert reply.json()["errors"] == [{"field": "query.format", "message": "expected one of json, csv, xlsx"}]
    refused = http.get("/accounting/accounts", headers={**admin, "Accept": "application/xml"})
    assert (refused.status_code, refused.headers["content-type"]) == (406, "application/problem+json")
    assert refused.json()["type"].endswith("/not-acceptable")
    # an operation that exports nothing answers JSON whatever is asked, as before
    single = http.get("/purchasing/inspections/SH", params={"format": "pdf"}, headers={**admin, "Accept": "text/csv"})
    assert single.status_code == 200 and single.headers["content-type"] == "application/json"


def test_a_refusal_stays_problem_json(hub):  # noqa: F811
    from gateway import auth

    app, http, admin, _ = hub
    key = auth.add_user(app.state.keys.db, "export-clerk", "warehouse")
    refused = http.get("/accounting/trial-balance", params={"format": "csv"}, headers={"X-API-Key": key})
    assert (refused.status_code, refused.headers["content-type"]) == (403, "application/problem+json")
    invalid = http.get("/accounting/trial-balance", params={"format": "xlsx", "period": "March"}, headers=admin)
    assert (invalid.status_code, invalid.headers["content-type"]) == (422, "application/problem+json")


def test_the_purpose_built_workbooks_answer_as_before(hub):  # noqa: F811
    """vouchers.xlsx (the ledger import layout) and scorecard.xlsx are the services' own workbooks."""
    _, http, admin, _ = hub
    for path, params in (("/accounting/vouchers.xlsx", {}), ("/purchasing/scorecard.xlsx", QUERIES[
            "GET /purchasing/scorecard.xlsx"])):
        reply = http.get(path, params=params, headers=admin)
        assert (reply.status_code, reply.headers["content-type"], reply.content) == (200, XLSX, b"PK"), path


def test_rates_and_ratios_are_numbers_and_totals_end_the_report(hub):  # noqa: F811
    _, http, admin, _ = hub
    params = {**QUERIES["GET /stock/reports/turnover"], "format": "xlsx"}
    ws = load_workbook(io.BytesIO(http.get("/stock/reports/turnover", params=params, headers=admin).content))["Turnover"]
    header = [c.value for c in ws[1]]
    row, total = ({h: c for h, c in zip(header, r)} for r in ws.iter_rows(min_row=2))
    assert row["Turnover"].data_type == "n" and row["Turnover"].value == 1.5  # a Number: no amount, still a number
    assert row["COGS"].number_format == "#,##0.00" and row["Turnover"].number_format == "General"
    assert total["Key"].value == "Total" and total["COGS"].value == 1.5  # the answer's `total`
