"""A merchant moving in through the gateway (/imports) on the PostgreSQL hub: a file of 2,000 SKUs
with a handful of bad rows is refused with exactly those rows and writes nothing (the dry run's
report, every row back with an errors column, is shown on the opening stock); the corrected file imports
whole; the same file again changes nothing; opening stock arrives in its bins and lots and the books
hold exactly its value (the opening-stock vouchers); customers the customer service refuses one row of write
nothing, and a file a service refused is applied when sent again once put right; a 200 MB upload is refused
before it is read."""
from __future__ import annotations

import io
import select
import socket
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from openpyxl import Workbook, load_workbook

from tests.e2e.helpers import unique
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title)
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _csv(header: list[str], rows: list[list]) -> bytes:
    return "\r\n".join(",".join(str(x) for x in r) for r in [header, *rows]).encode()


def _post(client, kind: str, body: bytes, dry_run: bool, media=XLSX):
    return client.post(f"/imports/{kind}", params={"dry_run": str(dry_run).lower()}, content=body,
                       headers={"content-type": media}, timeout=120)


def test_a_merchant_moves_in_from_excel_row_by_row_all_or_nothing_and_once(pg_hub):
    tag = unique("")[1:9].upper()
    w = f"IM{tag}"[:12]
    header = ["code", "name", "base_unit", "category", "lot_tracked", "costing", "barcodes", "components"]
    skus = [[f"IM{tag}-{i:04d}", f"Item {i}", "pcs", "tea", "yes" if i % 10 == 0 else "no", "fifo",
             f"69{tag}{i:05d}", ""] for i in range(2000)]
    skus[1999][7] = f"{skus[0][0]}*2;{skus[1][0]}"  # a kit of two SKUs of the same file
    with pg_hub.client("admin") as admin:
        taken = f"69{tag}X"
        assert admin.post("/skus", json={"code": f"IM{tag}-OLD", "name": "Old", "barcodes": [taken]}).status_code == 201
        bad = [list(r) for r in skus]
        bad[10][1] = ""                       # row 12: name missing
        bad[500][5] = "lifo"                  # row 502: no such costing method
        bad[900][6] = bad[899][6]             # row 902: a barcode row 901 already has
        bad[1200][7] = f"IM{tag}-NONE*1"      # row 1202: a kit of a SKU nobody has
        bad[1500][6] = taken                  # row 1502: a barcode another SKU has already (the service says)
        refused = _post(admin, "skus", _xlsx("skus", header, bad), dry_run=False)
        assert refused.status_code == 422 and refused.json()["type"].endswith("import-refused")
        assert refused.json()["title"].startswith("5 row(s) of 2000 have problems")
        assert [(e["field"], e["message"].split(":")[0]) for e in refused.json()["errors"]] == [
            ("rows[12].name", "required"), ("rows[502].costing", "bad_choice"),
            ("rows[902].barcodes", "duplicate_barcode"), ("rows[1202].components", "kit_component_missing"),
            ("rows[1502].barcodes", "refused")]
        assert admin.get(f"/stock/{skus[0][0]}").status_code == 404  # not one row was written

        good = _xlsx("skus", header, skus)
        done = _post(admin, "skus", good, dry_run=False)
        assert done.status_code == 200, done.text
        assert (done.json()["applied"], done.json()["unchanged"], done.json()["replayed"]) == (2000, 0, False)
        again = _post(admin, "skus", good, dry_run=False).json()
        assert (again["replayed"], again["applied"]) == (True, 0)  # the same file: its first answer, no change
        as_csv = _post(admin, "skus", _csv(header, skus), dry_run=False, media="text/csv").json()
        assert (as_csv["replayed"], as_csv["applied"], as_csv["unchanged"]) == (False, 0, 2000)  # same rows

        # the warehouse, its bins, then its opening stock
        assert _post(admin, "warehouses", _csv(["code", "name", "priority"], [[w, "Import DC", 5]]),
                     False, "text/csv").json()["applied"] == 1
        assert _post(admin, "bins", _csv(["warehouse", "bin"], [[w, "A-01"], [w, "A-02"]]),
                     False, "text/csv").json()["applied"] == 2
        stock_header = ["sku", "warehouse", "quantity", "unit_cost", "bin", "lot", "expires_on"]
        stock = [[skus[i][0], w, 1 + i % 7, f"{1 + i % 5}.25", "A-01" if i % 2 else "A-02",
                  f"L{i}" if i % 10 == 0 else "", "2099-06-30" if i % 10 == 0 else ""] for i in range(40)]
        bad_stock = [list(r) for r in stock] + [[f"IM{tag}-NONE", w, 1, "1.00", "", "", ""]]
        bad_stock[3][3] = "1.2345678"
        dry = admin.post("/imports/opening_stock", params={"dry_run": "true", "report": "xlsx"},
                         files={"file": ("stock.xlsx", _xlsx("opening_stock", stock_header, bad_stock), XLSX)})
        assert dry.status_code == 200 and dry.headers["content-type"] == XLSX
        sheet = [r for r in load_workbook(io.BytesIO(dry.content))["opening_stock"].iter_rows(values_only=True)]
        assert sheet[0][-1] == "errors" and len(sheet) == 42  # the header and every row, as sent
        assert [(i + 1, r[-1].split(":")[0]) for i, r in enumerate(sheet) if i and r[-1]] == [
            (5, "row 5 unit_cost"), (42, "row 42 sku")]
        refused = _post(admin, "opening_stock", _xlsx("opening_stock", stock_header, bad_stock), dry_run=False)
        assert refused.status_code == 422
        assert {e["field"] for e in refused.json()["errors"]} == {"rows[5].unit_cost", "rows[42].sku"}
        assert admin.get(f"/stock/{skus[1][0]}").json()["levels"] == []

        opening = _post(admin, "opening_stock", _xlsx("opening_stock", stock_header, stock), dry_run=False)
        assert opening.status_code == 200 and opening.json()["applied"] == 40, opening.text
        expected = sum((Decimal(r[3]) * r[2] for r in stock), Decimal("0"))
        value = admin.get("/stock-value", params={"warehouse": w}).json()
        assert Decimal(value["total"]) == expected
        lot = admin.get(f"/stock/{skus[10][0]}", params={"warehouse": w}).json()["levels"][0]
        assert lot["on_hand"] == 1 + 10 % 7

        # the books: the opening-stock vouchers put exactly that value on the warehouse's inventory account
        def books_row():
            rows = [r for r in admin.get("/audit/books").json()["inventory"] if r["warehouse"] == w]
            return rows[0] if rows and rows[0]["status"] == "agrees" else None
        row = wait_for(books_row, 60, 0.5, "the opening stock in the books")
        assert Decimal(row["books"]) == Decimal(row["stock"]) == expected
        # the same rows again (another file: a different day's export): each place received once
        twice = _post(admin, "opening_stock", _csv(stock_header, stock), dry_run=False, media="text/csv").json()
        assert (twice["applied"], twice["unchanged"]) == (0, 40)
        assert Decimal(admin.get("/stock-value", params={"warehouse": w}).json()["total"]) == expected


def test_rows_the_owning_service_refuses_write_nothing_and_the_put_right_file_imports_once(pg_hub):
    tag = unique("")[1:9]
    header = ["channel", "external_id", "tier", "credit_limit", "name", "phone"]
    buyers = [["taobao", f"im{tag}a", "vip", "5000.00", "Li Lei", "+86 138 0013 8000"],
              ["taobao", f"im{tag}b", "not-a-tier!", "", "", ""],  # well formed, but the customer service refuses it
              ["taobao", f"im{tag}c", "wholesale", "", "", ""]]

    def found(buyer: str) -> list:
        return admin.get("/customers", params={"channel": "taobao", "external_id": buyer}).json()["customers"]
    with pg_hub.client("admin") as admin:
        refused = _post(admin, "customers", _csv(header, buyers), False, "text/csv")
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["rows[3].tier"]
        assert found(f"im{tag}a") == [] and found(f"im{tag}c") == []  # not the rows before or after it
        buyers[1][2] = "standard"
        done = _post(admin, "customers", _csv(header, buyers), False, "text/csv").json()
        assert (done["applied"], done["unchanged"], done["replayed"]) == (3, 0, False)
        assert _post(admin, "customers", _csv(header, buyers), False, "text/csv").json()["replayed"] is True
        a = found(f"im{tag}a")[0]
        assert (a["name"], a["phone"], a["tier"], a["credit_limit"]) == ("Li Lei", "+8613800138000", "vip", "5000.00")

        # a file refused by inventory alone (a barcode another SKU has) is not recorded as done: once the
        # other SKU lets go of the barcode, the very same file imports
        taken = f"69{tag}T"
        assert admin.post("/skus", json={"code": f"IM{tag}-HAS", "name": "Has", "barcodes": [taken]}).status_code == 201
        skus = _csv(["code", "name", "barcodes"], [[f"IM{tag}-N1", "New 1", ""], [f"IM{tag}-N2", "New 2", taken]])
        first = _post(admin, "skus", skus, False, "text/csv")
        assert first.status_code == 422 and first.json()["errors"][0]["field"] == "rows[3].barcodes", first.text
        assert admin.post("/skus", json={"code": f"IM{tag}-HAS", "name": "Has", "barcodes": [taken + "2"]}).is_success
        second = _post(admin, "skus", skus, False, "text/csv")
        assert second.status_code == 200 and second.json()["applied"] == 2, second.text


def _answer(s: socket.socket) -> str:
    """The whole HTTP answer: its head and as much body as it announces (they may come in two reads)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        more = s.recv(65536)
        if not more:
            break
        data += more
    return data.decode(errors="replace")


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").lower()
    return next((int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.startswith("content-length:")), 0)


def test_a_200_mb_upload_is_refused_413_before_it_is_read(pg_hub):
    key = pg_hub.key("admin")
    url = urlsplit(str(pg_hub.client("admin").base_url))
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall((f"POST /imports/skus HTTP/1.1\r\nHost: {url.hostname}\r\nX-API-Key: {key}\r\n"
                   f"Content-Type: text/csv\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n").encode()
                  + b"code,name\r\n" * 1000)
        answer = _answer(s)
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "payload-too-large" in answer
    # sent without a length (chunked): refused once past HUB_IMPORT_MAX_BYTES, long before 200 MB
    sent = 0
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall((f"POST /imports/skus HTTP/1.1\r\nHost: {url.hostname}\r\nX-API-Key: {key}\r\n"
                   "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            if select.select([s], [], [], 0.05)[0]:  # the answer came: stop sending
                break
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
        answer = _answer(s)
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert sent < 100 * 1024 * 1024
