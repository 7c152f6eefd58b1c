"""Real lists and reports downloaded through the gateway as CSV and as an Excel workbook, read back
with csv and openpyxl and compared with the JSON the same request answers: the orders (one row per
line, Chinese text), stock on hand and the trial balance (with its Total row)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from hubkit import clock
from tests.e2e.helpers import order_body, posted_vouchers, unique, wait_settled
from tests.e2e.test_books import _bought

pytestmark = pytest.mark.e2e
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _three_ways(client, path: str, params: dict, hub) -> tuple[dict, list[dict], list[dict]]:
    """The JSON answer, and the CSV's and the workbook's first sheet's rows (header -> cell), taken
    while the hub is quiet so that the three see the same data."""
    hub.wait_quiet()
    answer = client.get(path, params=params)
    as_csv = client.get(path, params={**params, "format": "csv"})
    as_xlsx = client.get(path, params=params, headers={"Accept": XLSX})
    assert answer.status_code == as_csv.status_code == as_xlsx.status_code == 200, (as_csv.text, as_xlsx.text)
    assert as_csv.content.startswith(b"\xef\xbb\xbf") and as_csv.headers["content-type"].startswith("text/csv")
    assert as_xlsx.headers["content-disposition"].startswith('attachment; filename="')
    text = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"), newline="")))
    sheet = list(load_workbook(io.BytesIO(as_xlsx.content)).worksheets[0].iter_rows(values_only=True))
    assert list(sheet[0]) == text[0]
    return (answer.json(), [dict(zip(text[0], r)) for r in text[1:]], [dict(zip(sheet[0], r)) for r in sheet[1:]])


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_real_lists_download_as_csv_and_xlsx_with_what_the_json_says(pg_hub):
    with pg_hub.client("admin") as admin:
        sku, warehouse = _bought(admin, 10, "10.00")
        body = order_body(sku, unique("EXP"), quantity=3, price="22.60", channel="storefront")
        body["buyer"]["name"] = body["shipping_address"]["recipient"] = "李雷"
        order_id = admin.post("/orders", json=body).json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7777"})
        assert shipped.status_code == 200, shipped.text
        period = posted_vouchers(admin, order_id, 2)[0]["period"]

        orders, csv_rows, xlsx_rows = _three_ways(admin, "/orders", {"page_size": 20}, pg_hub)
        [mine] = [o for o in orders["orders"] if o["id"] == order_id]
        [line] = mine["lines"]
        zone = clock.zone().key
        for row, kind in ((next(r for r in csv_rows if r["ID"] == order_id), str),
                          (next(r for r in xlsx_rows if r["ID"] == order_id), object)):
            assert (row["Status"], row["Buyer name"], row["Shipping address recipient"]) == ("shipped", "李雷", "李雷")
            assert _money(row["Total"]) == _money(row["Amount"]) == Decimal(mine["total"]) == Decimal("67.80")
            assert (row["SKU"], int(row["Quantity"]), _money(row["Unit price"])) == (sku, 3, Decimal("22.60"))
            created = clock.local(datetime.fromisoformat(mine["created_at"].replace("Z", "+00:00"))).replace(tzinfo=None)
            if kind is str:
                assert row["Quantity"] == "3" and row["Total"] == "67.80"
                assert row[f"Created at ({zone})"] == created.isoformat(sep=" ", timespec="seconds")
            else:
                assert row["Quantity"] == 3 and isinstance(row[f"Created at ({zone})"], datetime)
                assert abs((row[f"Created at ({zone})"] - created).total_seconds()) < 0.01
        assert line["sku"] == sku and len([r for r in csv_rows if r["ID"] == order_id]) == 1  # one line, one row

        on_hand, csv_rows, xlsx_rows = _three_ways(admin, "/stock/reports/on-hand", {"sku": sku, "by": "lot"}, pg_hub)
        assert [r["quantity"] for r in on_hand["rows"]] == [7]
        for rows in (csv_rows, xlsx_rows):
            assert [(r["Warehouse"], r["SKU"], int(r["Quantity"])) for r in rows] == \
                [(r["warehouse"], r["sku"], r["quantity"]) for r in on_hand["rows"]] == [(warehouse, sku, 7)]

        tb, csv_rows, xlsx_rows = _three_ways(admin, "/accounting/trial-balance", {"period": period}, pg_hub)
        assert tb["balanced"] and tb["rows"]
        for rows in (csv_rows, xlsx_rows):
            *accounts, total = rows
            assert [(r["Account"], r["Name"], _money(r["Debit"]), _money(r["Credit"]), _money(r["Closing"]))
                    for r in accounts] == [(r["account"], r["name"], Decimal(r["debit"]), Decimal(r["credit"]),
                                            Decimal(r["closing"])) for r in tb["rows"]]
            assert total["Account"] == "Total"
            assert (_money(total["Debit"]), _money(total["Credit"])) == (Decimal(tb["total_debit"]),
                                                                          Decimal(tb["total_credit"]))
        book = load_workbook(io.BytesIO(admin.get("/accounting/trial-balance",
                                                  params={"period": period, "format": "xlsx"}).content))
        assert book.sheetnames == ["Trial balance", "Summary"]
        assert dict(list(book["Summary"].iter_rows(values_only=True))[1:])["Balanced"] is True
