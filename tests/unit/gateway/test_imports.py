"""Imports without services: each row check names its row, column and kind of problem; a file that
cannot be read as a whole (not a spreadsheet, no such sheet, a missing or unknown column, formulas,
merged cells, too large) is a clear 4xx through the gateway, and nothing reaches a service."""
from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from gateway.areas.imports import engine
from gateway.areas.imports.kinds import KINDS, Problem, check_kits, check_rows
from hubkit.sheets import SheetError, open_sheet


def _problems(kind: str, rows: list[dict]) -> list[tuple[int, str, str]]:
    problems: list[Problem] = []
    checked = list(check_rows(KINDS[kind], [(n + 2, r) for n, r in enumerate(rows)], problems))
    if kind == "skus":
        check_kits(checked, problems, known={"KNOWN-1"})
    return sorted((p.row, p.column, p.code) for p in problems)


SKU = {"code": "A-1", "name": "Tea"}
STOCK = {"sku": "A-1", "warehouse": "W1", "quantity": "5", "unit_cost": "1.50"}


@pytest.mark.parametrize("kind, row, expected", [
    ("skus", {"code": "A-1"}, (2, "name", "required")),
    ("skus", {**SKU, "code": "bad code!"}, (2, "code", "bad_code")),
    ("skus", {**SKU, "lot_tracked": "maybe"}, (2, "lot_tracked", "bad_bool")),
    ("skus", {**SKU, "costing": "lifo"}, (2, "costing", "bad_choice")),
    ("skus", {**SKU, "barcodes": "690;690"}, (2, "barcodes", "duplicate_in_row")),
    ("skus", {**SKU, "components": "A-1*1"}, (2, "components", "kit_contains_itself")),
    ("skus", {**SKU, "components": "B*x"}, (2, "components", "bad_component")),
    ("skus", {**SKU, "components": "MISSING*2"}, (2, "components", "kit_component_missing")),
    ("opening_stock", {**STOCK, "quantity": "1.5"}, (2, "quantity", "bad_number")),
    ("opening_stock", {**STOCK, "quantity": "0"}, (2, "quantity", "out_of_range")),
    ("opening_stock", {**STOCK, "unit_cost": "1.1234567"}, (2, "unit_cost", "too_many_decimals")),
    ("opening_stock", {**STOCK, "unit_cost": "abc"}, (2, "unit_cost", "bad_number")),
    ("opening_stock", {**STOCK, "lot": "L1", "expires_on": "2026-02-30"}, (2, "expires_on", "bad_date")),
    ("opening_stock", {**STOCK, "expires_on": "2027-01-01"}, (2, "expires_on", "expiry_without_lot")),
    ("opening_stock", {**STOCK, "serials": "S1;S2"}, (2, "serials", "serials_count")),
    ("stock_limits", {"sku": "A", "warehouse": "W", "minimum": "9", "maximum": "3"}, (2, "maximum", "out_of_range")),
    ("customers", {"channel": "taobao", "external_id": "b1", "credit_limit": "10.005"},
     (2, "credit_limit", "too_many_decimals")),
    ("warehouses", {"code": "W1", "name": "W", "priority": "20000"}, (2, "priority", "out_of_range")),
])
def test_each_row_check_names_its_row_column_and_problem(kind, row, expected):
    assert _problems(kind, [row]) == [expected]


def test_a_kit_of_a_component_in_the_file_or_known_passes():
    rows = [{**SKU, "components": "B-1*2;KNOWN-1"}, {"code": "B-1", "name": "Cup"}]
    assert _problems("skus", rows) == []


def test_duplicates_within_the_file_name_the_row_that_has_it_first():
    rows = [{**SKU, "barcodes": "690"}, {"code": "B-1", "name": "Cup", "barcodes": "691;690"}, SKU]
    assert _problems("skus", rows) == [(3, "barcodes", "duplicate_barcode"), (4, "code", "duplicate_in_file")]
    stock = [{**STOCK, "serials": "S1"} | {"quantity": "1"}, {**STOCK, "bin": "B", "quantity": "1", "serials": "S1"}]
    assert _problems("opening_stock", stock) == [(3, "serials", "duplicate_serial")]


def test_excel_values_are_read_as_the_merchant_typed_them():
    wb = Workbook()
    ws = wb.active
    ws.title = "opening_stock"
    ws.append(["sku", "warehouse", "quantity", "unit_cost", "lot", "expires_on"])
    from datetime import datetime
    ws.append([6901234567892, "W1", 12, 3.5, "L1", datetime(2027, 3, 31)])
    problems: list[Problem] = []
    rows = engine.read(KINDS["opening_stock"], _xlsx_bytes(wb), problems)
    assert problems == []
    assert rows[0].values | {} == {"sku": "6901234567892", "warehouse": "W1", "quantity": 12, "unit_cost": "3.5",
                                   "bin": "", "lot": "L1", "expires_on": "2027-03-31", "serials": []}


def _xlsx_bytes(wb) -> io.BytesIO:
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


def _sheet(kind: str, rows: list[list], title: str | None = None):
    wb = Workbook()
    ws = wb.active
    ws.title = title or kind
    for r in rows:
        ws.append(r)
    return wb, ws


def _open(data, kind="skus"):
    k = KINDS[kind]
    sheet = open_sheet(data, kind, k.required, k.known, ignored=("errors",))
    return list(sheet.rows)


def _damaged() -> bytes:
    import zipfile
    wb, _ = _sheet("skus", [["code", "name"], ["A-1", "Tea"]])
    whole, out = zipfile.ZipFile(_xlsx_bytes(wb)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in whole.namelist():
            data = whole.read(name)
            z.writestr(name, data[: len(data) // 2] if name == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


def test_file_level_problems_are_sheet_errors():
    with pytest.raises(SheetError) as not_sheet:
        _open(io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00binary"))
    assert not_sheet.value.kind == "not-a-spreadsheet"
    with pytest.raises(SheetError) as zip_not_xlsx:
        _open(io.BytesIO(b"PK\x03\x04 not really a zip"))
    assert zip_not_xlsx.value.kind == "not-a-spreadsheet"
    with pytest.raises(SheetError) as damaged:  # a workbook whose sheet's XML is cut in half
        _open(io.BytesIO(_damaged()))
    assert damaged.value.kind == "not-a-spreadsheet"

    wb, _ = _sheet("skus", [["code", "name"]], title="Sheet1")
    wb.create_sheet("other")
    with pytest.raises(SheetError) as missing:
        _open(_xlsx_bytes(wb))
    assert missing.value.kind == "missing-sheet"

    with pytest.raises(SheetError) as columns:
        _open(io.BytesIO(b"code,nmae\r\nA,B\r\n"))
    assert columns.value.kind == "bad-columns"
    assert {(p["field"], p["message"][:14]) for p in columns.value.problems} == {
        ("name", "required colum"), ("nmae", "unknown column")}

    wb, ws = _sheet("skus", [["code", "name"], ["A-1", "Tea"], ["A-2", "Cup"]])
    ws["B3"] = "=B2"
    with pytest.raises(SheetError) as formulas:
        _open(_xlsx_bytes(wb))
    assert (formulas.value.kind, formulas.value.problems) == ("formulas", [{"field": "B3", "message": "a formula"}])

    wb, ws = _sheet("skus", [["code", "name"], ["A-1", "Tea"], ["A-2", "Cup"]])
    ws.merge_cells("A2:A3")
    with pytest.raises(SheetError) as merged:
        _open(_xlsx_bytes(wb))
    assert (merged.value.kind, merged.value.problems) == ("merged-cells", [{"field": "A2:A3",
                                                                             "message": "merged cells"}])


def test_templates_read_back_as_one_valid_example_row_and_describe_every_column():
    for kind in KINDS:
        for data in (engine.template_xlsx(kind), engine.template_csv(kind)):
            problems: list[Problem] = []
            assert len(engine.read(KINDS[kind], io.BytesIO(data), problems)) == 1 and problems == [], kind
        notes = load_workbook(io.BytesIO(engine.template_xlsx(kind)))["notes"]
        assert [r[0] for r in notes.iter_rows(min_row=2, values_only=True)] == KINDS[kind].known


def test_the_report_is_the_sheet_back_with_an_errors_column():
    outcome = engine.Outcome("skus", True, "x")
    outcome.rows = list(check_rows(KINDS["skus"], [(2, {"code": "A-1", "name": "Tea"}), (3, {"code": "A-2"})],
                                   outcome.problems))
    ws = load_workbook(io.BytesIO(engine.report_xlsx(outcome)))["skus"]
    table = list(ws.iter_rows(values_only=True))
    assert table[0][-1] == "errors" and table[1][0] == "A-1" and table[1][-1] is None
    assert table[2][-1] == "row 3 name: required"


# -- through the gateway (fake services: nothing may reach them) ------------------------------
@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from gateway import auth
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.models import metadata as gateway_metadata
    from hubkit import settings as hub_settings
    from hubkit.db import Database

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path_factory.mktemp("imports")),
                                                           "HUB_IMPORT_MAX_BYTES": str(1 << 20),
                                                           "HUB_IMPORT_MAX_ROWS": "5"})
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    admin = {"X-API-Key": auth.add_user(gateway_db, "admin", "admin")}
    clients = _refusing_clients()
    with TestClient(create_app(settings, clients)) as http:
        yield http, admin, clients
    gateway_db.dispose()


class _Refusing:
    """A service that must not be called: every call is recorded and fails the test's assertion."""

    def __init__(self):
        self.calls: list[str] = []

    def __getattr__(self, name):
        def call(*_a, **_k):
            self.calls.append(name)
            raise AssertionError(f"{name} was called")
        return call


def _refusing_clients():
    from types import SimpleNamespace
    services = {n: _Refusing() for n in ("order", "inventory", "procurement", "customer", "accounting")}
    return SimpleNamespace(**services, ledger=_Refusing(), shops={}, channels=[], inventory_reports=_Refusing(),
                           review=_Refusing(), notify=_Refusing(), close=lambda: None)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_file_level_refusals_are_clear_4xx_and_reach_no_service(gateway):
    http, admin, clients = gateway
    wb, ws = _sheet("skus", [["code", "name"], ["A-1", "Tea"]])
    ws.merge_cells("A1:B1")
    formula_wb, fws = _sheet("skus", [["code", "name"], ["A-1", "=1+1"]])
    cases = [
        (b"\x00\x01\x02 not text", 415, "not-a-spreadsheet"),
        (_damaged(), 415, "not-a-spreadsheet"),
        (b"", 422, "not-a-spreadsheet"),
        (b"code\r\nA-1\r\n", 422, "bad-columns"),  # name missing
        (_two_sheets(), 422, "missing-sheet"),
        (_xlsx_bytes(wb).getvalue(), 422, "merged-cells"),
        (_xlsx_bytes(formula_wb).getvalue(), 422, "formulas"),
    ]
    for body, status, kind in cases:
        for dry in ("true", "false"):
            reply = http.post("/imports/skus", params={"dry_run": dry}, content=body,
                              headers={**admin, "content-type": XLSX_TYPE})
            assert reply.status_code == status, (kind, reply.text)
            assert reply.headers["content-type"] == "application/problem+json"
            assert reply.json()["type"].endswith(kind), reply.text
    assert all(c.calls == [] for c in (clients.inventory, clients.procurement, clients.customer))


def _two_sheets() -> bytes:
    wb, _ = _sheet("a", [["code", "name"]], title="a")
    wb.create_sheet("b")
    return _xlsx_bytes(wb).getvalue()


def test_a_file_above_the_limit_is_refused_413_before_it_is_read(gateway):
    http, admin, clients = gateway
    # declared: 200 MB announced, a few bytes sent: refused on the header alone
    reply = http.post("/imports/opening_stock", content=b"sku,warehouse\r\n",
                      headers={**admin, "content-type": "text/csv", "content-length": str(200 * 1024 * 1024)})
    assert reply.status_code == 413 and reply.json()["type"].endswith("payload-too-large")
    # streamed without a length: refused once the limit (1 MiB here) is passed, not at the end
    sent = []

    def chunks():
        for _ in range(200):  # 200 MiB if it were read whole
            sent.append(1)
            yield b"x" * (1 << 20)
    reply = http.post("/imports/opening_stock", content=chunks(), headers={**admin, "content-type": "text/csv"})
    assert reply.status_code == 413, reply.text
    assert clients.inventory.calls == []


def test_a_multipart_upload_is_read_as_its_file_part(gateway):
    http, admin, _ = gateway
    reply = http.post("/imports/skus", params={"dry_run": "true"}, headers=admin,
                      files={"file": ("skus.csv", b"code,nmae\r\nA,B\r\n", "text/csv")})
    assert reply.status_code == 422 and reply.json()["errors"][-1]["field"] == "nmae", reply.text


def test_templates_are_served_per_kind_and_an_unknown_kind_is_422(gateway):
    http, admin, _ = gateway
    xlsx = http.get("/imports/opening_stock/template.xlsx", headers=admin)
    assert xlsx.status_code == 200 and xlsx.headers["content-type"] == XLSX_TYPE
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames == ["opening_stock", "notes"]
    csv = http.get("/imports/skus/template.csv", headers=admin)
    assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("code,name,base_unit")
    assert http.get("/imports/prices/template.csv", headers=admin).status_code == 422


def test_more_rows_than_the_limit_are_refused_413(gateway):
    http, admin, clients = gateway
    body = "code,name\r\n" + "".join(f"A-{i},Tea\r\n" for i in range(6))
    reply = http.post("/imports/skus", content=body.encode(), headers={**admin, "content-type": "text/csv"})
    assert reply.status_code == 413 and reply.json()["type"].endswith("too-many-rows"), reply.text
    assert clients.inventory.calls == []


class _Recording:
    """A service stub that records each call (and its metadata) and answers what `replies` builds."""

    def __init__(self, replies: dict):
        self.calls: list[tuple[str, object]] = []
        self.metadata: list[dict] = []
        self.replies = replies

    def __getattr__(self, name):
        def call(request, metadata=None, timeout=None):
            self.calls.append((name, request))
            self.metadata.append(dict(metadata or []))
            return self.replies[name](request)
        return call


def _importing(refuse: str = "", recorded: bool = False):
    """A service's import RPC: an empty (replay-only) request answers nothing unless `recorded`;
    a row whose key is `refuse` is refused; every other row counts as applied."""
    from hubapi.common.v1 import imports_pb2 as imp

    def reply(request):
        if not request.rows:
            return imp.ImportResult(applied=3) if recorded else imp.ImportResult()
        refused = [imp.ImportRowError(row=r.row, column="name", message="no") for r in request.rows
                   if refuse and refuse in str(r)]
        return imp.ImportResult(errors=refused, applied=0 if refused else len(request.rows), dry_run=request.dry_run)
    return reply


def _stubs(**kw):
    from types import SimpleNamespace
    return SimpleNamespace(procurement=_Recording({"ImportSuppliers": _importing(**kw)}),
                           customer=_Recording({"ImportCustomers": _importing(**kw)}), inventory=_Recording({}))


def test_suppliers_are_one_command_of_the_whole_file_named_by_its_content():
    from gateway.areas.imports.engine import import_id
    from hubkit.commands import COMMAND_KEY
    good = b"code,name\r\nSUP-1,Hangzhou Tea\r\nSUP-2,Ningbo Cups\r\n"
    stubs = _stubs()
    dry = engine.run("suppliers", io.BytesIO(good), "d1", stubs, [], dry_run=True)
    assert [(n, r.dry_run, [x.supplier.code for x in r.rows]) for n, r in stubs.procurement.calls] == [
        ("ImportSuppliers", True, ["SUP-1", "SUP-2"])]
    assert (dry.problems, dry.applied, COMMAND_KEY in stubs.procurement.metadata[0]) == ([], 0, False)

    stubs = _stubs()
    done = engine.run("suppliers", io.BytesIO(good), "d1", stubs, [], dry_run=False)
    assert [(len(r.rows), r.dry_run) for _, r in stubs.procurement.calls] == [(0, False), (2, False)]  # replay?, apply
    assert {m[COMMAND_KEY] for m in stubs.procurement.metadata} == {import_id("suppliers", "d1")}
    assert (done.problems, done.applied, done.replayed) == ([], 2, False)

    again = engine.run("suppliers", io.BytesIO(good), "d1", _stubs(recorded=True), [], dry_run=False)
    assert (again.replayed, again.unchanged, again.applied) == (True, 3, 0)

    refused = engine.run("suppliers", io.BytesIO(good), "d1", _stubs(refuse="SUP-2"), [], dry_run=False)
    assert ([(p.row, p.column, p.code) for p in refused.problems], refused.applied) == ([(3, "name", "refused")], 0)


def test_a_customers_file_with_a_problem_of_its_own_is_only_checked_by_the_service():
    stubs = _stubs()
    bad = b"channel,external_id,tier,credit_limit,name,phone\r\ntaobao,b1,vip,100,Li Lei,+86 138 0013 8000\r\n" \
          b"taobao,b2,,1.001,,\r\n"
    refused = engine.run("customers", io.BytesIO(bad), "d2", stubs, [], dry_run=False)
    assert [(p.row, p.column, p.code) for p in refused.problems] == [(3, "credit_limit", "too_many_decimals")]
    assert [(len(r.rows), r.dry_run) for _, r in stubs.customer.calls] == [(0, False), (1, True)]  # nothing applied
    fixed = engine.run("customers", io.BytesIO(bad.replace(b"1.001", b"1.00")), "d3", stubs, [], dry_run=False)
    sent = stubs.customer.calls[-1][1]
    assert [(r.row, r.external_id, r.tier, r.name, r.phone) for r in sent.rows] == [
        (2, "b1", "vip", "Li Lei", "+86 138 0013 8000"), (3, "b2", "standard", "", "")]
    assert (sent.dry_run, fixed.applied) == (False, 2)


def test_channel_sku_mappings_of_two_platforms_are_all_checked_before_any_is_applied():
    from hubapi.inventory.v1 import inventory_service_pb2 as inv
    stubs = _stubs()
    stubs.inventory = _Recording({"GetSkus": lambda r: inv.GetSkusResponse(
        skus=[inv.Sku(code=c) for c in r.codes if c != "GONE"])})
    stubs.shops = {"taobao": _Recording({"ImportSkuMappings": _importing()}),
                   "jd": _Recording({"ImportSkuMappings": _importing(refuse="JD-9")})}
    body = b"platform,outer_sku,components\r\ntaobao,TB-1,TEA*2;CUP\r\ntaobao,TB-2,GONE\r\njd,JD-9,TEA\r\n"
    refused = engine.run("channel_sku_mappings", io.BytesIO(body), "d4", stubs, [], dry_run=False)
    assert [(p.row, p.column, p.code) for p in refused.problems] == [(3, "components", "unknown_sku"),
                                                                     (4, "name", "refused")]
    assert [r.dry_run for s in stubs.shops.values() for _, r in s.calls if r.rows] == [True, True]

    stubs.shops["jd"] = _Recording({"ImportSkuMappings": _importing(refuse="JD-9")})
    body = body.replace(b"GONE", b"TEA")
    refused = engine.run("channel_sku_mappings", io.BytesIO(body), "d5", stubs, [], dry_run=False)
    assert [(p.row, p.code) for p in refused.problems] == [(4, "refused")]
    assert [r.dry_run for _, r in stubs.shops["taobao"].calls if r.rows][-1] is True  # taobao's rows not applied

    stubs.shops = {"taobao": _Recording({"ImportSkuMappings": _importing()}),
                   "jd": _Recording({"ImportSkuMappings": _importing()})}
    done = engine.run("channel_sku_mappings", io.BytesIO(body), "d5", stubs, [], False)
    taobao = [r for _, r in stubs.shops["taobao"].calls if r.rows]
    assert [(r.dry_run, [(x.mapping.outer_sku, [(c.sku, c.quantity) for c in x.mapping.components]) for x in r.rows])
            for r in taobao] == [(dry, [("TB-1", [("TEA", 2), ("CUP", 1)]), ("TB-2", [("TEA", 1)])])
                                 for dry in (True, False)]
    assert len({m["x-hub-command-id"] for s in stubs.shops.values() for m in s.metadata if "x-hub-command-id" in m}) == 2
    assert done.applied == 3


def test_price_lists_rows_go_to_the_order_service_with_unknown_skus_and_bad_prices_named():
    from hubapi.inventory.v1 import inventory_service_pb2 as inv
    from hubkit import money
    body = (b"code,name,currency,channel,tier,valid_from,valid_to,sku,unit_price,min_quantity\r\n"
            b"RETAIL,Retail 2026,,,,2026-01-01,,TEA-001,59.90,\r\n"
            b"RETAIL,,,,,,,TEA-001,49.90,10\r\n"
            b"VIP,VIP,,,vip,2026-02-01,2026-01-01,CUP-01,0,\r\n"
            b"VIP,VIP,,,vip,,,GHOST,5.00,\r\n"
            b"RETAIL,,,,,,,TEA-001,45.00,10\r\n")
    stubs = _stubs()
    stubs.order = _Recording({"ImportPriceLists": _importing()})
    stubs.inventory = _Recording({"GetSkus": lambda r: inv.GetSkusResponse(
        skus=[inv.Sku(code=c) for c in r.codes if c != "GHOST"])})
    refused = engine.run("price_lists", io.BytesIO(body), "p1", stubs, [], dry_run=False)
    assert sorted((p.row, p.column, p.code) for p in refused.problems) == [
        (4, "unit_price", "out_of_range"), (4, "valid_to", "out_of_range"), (5, "sku", "unknown_sku"),
        (6, "code", "duplicate_in_file")]
    # replayed before?, then the good rows checked by the service (a dry run), never applied
    assert [(len(r.rows), r.dry_run) for _, r in stubs.order.calls] == [(0, False), (2, True)]

    good = b"\r\n".join(body.split(b"\r\n")[:3]) + b"\r\n"
    stubs = _stubs()
    stubs.order = _Recording({"ImportPriceLists": _importing()})
    stubs.inventory = _Recording({"GetSkus": lambda r: inv.GetSkusResponse(skus=[inv.Sku(code=c) for c in r.codes])})
    done = engine.run("price_lists", io.BytesIO(good), "p2", stubs, [], dry_run=False)
    assert (done.problems, done.applied) == ([], 2)
    sent = stubs.order.calls[-1][1].rows
    assert [(r.row, r.header.code, r.header.name, r.header.valid_from, r.line.sku, str(money.from_proto(
        r.line.unit_price)), r.line.min_quantity) for r in sent] == [
        (2, "RETAIL", "Retail 2026", "2026-01-01", "TEA-001", "59.9", 1),
        (3, "RETAIL", "", "", "TEA-001", "49.9", 10)]
    assert b"min_quantity" in engine.template_csv("price_lists") and engine.template_xlsx("price_lists")
