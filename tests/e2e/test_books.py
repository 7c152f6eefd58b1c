"""Worked examples of the books, to the cent, through the whole hub; the trial balance stays
balanced after each."""
from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import webhooks
from hub import components
from tests.e2e.helpers import amounts, order_body, posted_vouchers, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.e2e.test_order_to_books import _balanced, _purchase
from tests.e2e.test_storefront_webhook import _deliver
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _trial_balance_ok(client, period):
    tb = client.get("/accounting/trial-balance", params={"period": period}).json()
    assert tb["balanced"] and tb["total_debit"] == tb["total_credit"], tb


def _bought(admin, units=10, cost="10.00"):
    sku, warehouse, supplier = unique("RET"), unique("WHR")[:12], unique("SUP")
    stock_sku(admin, sku, warehouse=warehouse, priority=0)
    assert admin.post("/suppliers", json={"code": supplier, "name": "Supplier"}).status_code == 201
    _purchase(admin, supplier, warehouse, sku, units, cost)
    wait_for(lambda: [l["on_hand"] for l in admin.get(f"/stock/{sku}").json()["levels"]] == [units], 60, 0.2,
             "goods received")
    return sku, warehouse


def _sold_and_shipped(admin, sku, quantity, price, channel="storefront", shop="test-shop"):
    body = order_body(sku, unique("S"), quantity=quantity, price=price, channel=channel)
    body["shop"] = shop
    order_id = admin.post("/orders", json=body).json()["id"]
    assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
    assert admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF9999"}).status_code == 200
    return order_id, {v["kind"]: v for v in posted_vouchers(admin, order_id, 2)}


def test_a_sales_return_is_restocked_at_its_original_cost(pg_hub):
    with pg_hub.client("admin") as admin:
        sku, warehouse = _bought(admin, 10, "10.00")
        order_id, _ = _sold_and_shipped(admin, sku, 3, "22.60")
        returned = admin.post(f"/orders/{order_id}/returns", json={"lines": [{"line_no": 1, "quantity": 2}],
                                                                    "reason": "damaged box"})
        assert returned.status_code == 201, returned.text
        return_id = returned.json()["return_id"]
        books = {v["kind"]: v for v in posted_vouchers(admin, return_id, 2)}
        value = admin.get("/stock-value", params={"warehouse": warehouse}).json()
        level = admin.get(f"/stock/{sku}").json()["levels"][0]
        too_many = admin.post(f"/orders/{order_id}/returns", json={"lines": [{"line_no": 1, "quantity": 2}]})
        _trial_balance_ok(admin, books["sales_return"]["period"])
    # 2 x 22.60 = 45.20 gross -> 40.00 net + 5.20 VAT, reversed; 2 units back at 10.00
    assert amounts(books["sales_return"]) == {"6001": Decimal("40.00"), "22210105": Decimal("5.20"),
                                               "1122": Decimal("-45.20")}
    assert amounts(books["return_cost"]) == {"1405": Decimal("20.00"), "6401": Decimal("-20.00")}
    assert all(_balanced(v) for v in books.values())
    assert value["total"] == "90.00" and level["on_hand"] == 9
    assert too_many.status_code == 422  # only 1 unit is left to return
    assert "lines[0].quantity" in [e["field"] for e in too_many.json()["errors"]]


def test_returns_reverse_what_the_buyer_paid_and_partial_returns_add_up_to_the_sale(pg_hub):
    """A storefront line discounted (2 x 30.00 paid 55.00) and one up-adjusted by the shipping fee
    spread over it (3 x 19.90 paid 64.00), sent back in two partial returns: the reversals are the
    returned units' shares of what was paid and together reverse exactly the sale, VAT included."""
    name = unique("web").lower()
    secret = webhooks.add_storefront(pg_hub.gateway_db, name)
    with pg_hub.client("admin") as admin:
        discounted, _ = _bought(admin, 10, "10.00")
        adjusted, _ = _bought(admin, 10, "10.00")
        body = {"external_order_id": unique("W"), "version": 1000, "status": "paid",
                "buyer": {"external_id": "web-ret"}, "shipping_address": {"recipient": "R", "street": "1 Road"},
                "lines": [{"sku": discounted, "quantity": 2, "unit_price": "30.00", "amount": "55.00"},
                          {"sku": adjusted, "quantity": 3, "unit_price": "19.90", "amount": "64.00"}]}
        placed = _deliver(pg_hub, name, secret, body)
        assert placed.status_code == 200, placed.text
        order_id = placed.json()["order"]["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7777"})
        assert shipped.status_code == 200, shipped.text
        sale = {v["kind"]: v for v in posted_vouchers(admin, order_id, 2)}["sale"]
        reversals = []
        for lines in ([{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 1}],
                      [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 2}]):
            returned = admin.post(f"/orders/{order_id}/returns", json={"lines": lines})
            assert returned.status_code == 201, returned.text
            [books] = [v for v in posted_vouchers(admin, returned.json()["return_id"], 2) if v["kind"] == "sales_return"]
            reversals.append(amounts(books))
        _trial_balance_ok(admin, sale["period"])
    # 55.00 / 2 = 27.50 per unit; 64.00 / 3: 21.33 for the first unit, 42.67 for the next two
    assert [r["1122"] for r in reversals] == [Decimal("-48.83"), Decimal("-70.17")]
    sold = amounts(sale)
    assert sold["1122"] == Decimal("119.00")
    for account in ("1122", "6001", "22210105"):
        assert sum(r[account] for r in reversals) == -sold[account], account


def test_a_stock_count_loss_is_posted_at_its_fifo_cost(pg_hub):
    with pg_hub.client("admin") as admin:
        sku, warehouse = _bought(admin, 10, "7.25")
        lost = admin.post("/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "quantity": -2,
                                                     "reason": "count", "note": "cycle count"})
        assert lost.status_code == 201, lost.text
        [voucher] = posted_vouchers(admin, lost.json()["adjustment_id"], 1)
        too_much = admin.post("/stock/adjustments", json={"sku": sku, "warehouse": warehouse, "quantity": -50,
                                                         "reason": "scrap"})
        _trial_balance_ok(admin, voucher["period"])
    assert lost.json()["value"] == "-14.50" and lost.json()["level"]["on_hand"] == 8
    assert amounts(voucher) == {"1901": Decimal("14.50"), "1405": Decimal("-14.50")}
    assert too_much.status_code == 409


def test_a_marketplace_order_is_owed_by_the_platform_and_settled_with_commission(pg_hub):
    shop = unique("shop").lower()
    with pg_hub.client("admin") as admin:
        sku, _ = _bought(admin, 10, "50.00")
        order_id, books = _sold_and_shipped(admin, sku, 2, "113.00", channel="taobao", shop=shop)
        settled = admin.post("/accounting/settlements", json={
            "channel": "taobao", "shop": shop, "reference": unique("STL"), "business_date": books["sale"]["business_date"],
            "gross": "226.00", "commission": "11.30", "fees": "1.00"})
        assert settled.status_code == 201, settled.text
        ageing = admin.get("/accounting/ageing/1122").json()
        _trial_balance_ok(admin, books["sale"]["period"])
    receivable = [l for l in books["sale"]["lines"] if l["account"] == "1122"]
    assert [l["aux"] for l in receivable] == [f"platform:taobao/{shop}"]
    assert amounts(settled.json()) == {"1002": Decimal("213.70"), "6601": Decimal("12.30"),
                                        "1122": Decimal("-226.00")}
    assert _balanced(settled.json())
    # the platform owes nothing more for this shop
    assert not [r for r in ageing["rows"] if r["counterparty"] == f"platform:taobao/{shop}"]


def test_posting_into_a_closed_period_is_refused_and_changes_nothing(pg_hub):
    with pg_hub.client("finance") as finance:
        closed = finance.post("/accounting/periods/2019-12/close")
        assert closed.status_code == 200, closed.text
        before = quiet_row_counts(pg_hub)
        refused = finance.post("/accounting/payments", json={
            "direction": "paid", "counterparty": "supplier:ACME", "amount": "100.00", "business_date": "2019-12-15",
            "reference": unique("BANK")})
        again = finance.post("/accounting/periods/2019-12/close")
        assert row_counts(pg_hub) == before
        accepted = finance.post("/accounting/payments", json={
            "direction": "paid", "counterparty": "supplier:ACME", "amount": "100.00", "business_date": "2020-01-15",
            "reference": unique("BANK")})
    assert refused.status_code == 409
    assert "2019-12 is closed" in refused.json()["title"]
    assert again.status_code == 409
    assert accepted.status_code == 201 and amounts(accepted.json()) == {"2202": Decimal("100.00"),
                                                                          "1002": Decimal("-100.00")}


def test_a_voucher_is_corrected_by_reversal_and_exported(pg_hub):
    with pg_hub.client("finance") as finance:
        payment = finance.post("/accounting/payments", json={
            "direction": "received", "counterparty": "customer:storefront:b-9", "amount": "50.00",
            "business_date": "2020-02-03", "reference": unique("BANK")}).json()
        reversal = finance.post(f"/accounting/vouchers/{payment['id']}/reversal", json={"business_date": "2020-02-04"})
        workbook = finance.get("/accounting/vouchers.xlsx", params={"period": "2020-02"})
        detail = finance.get("/accounting/accounts/1002/detail", params={"period": "2020-02"}).json()
    assert reversal.status_code == 201
    assert reversal.json()["reverses"] == payment["id"]
    assert amounts(reversal.json()) == {"1002": Decimal("-50.00"), "1122": Decimal("50.00")}
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"  # an xlsx (zip) file
    assert detail["closing"] == str(Decimal(detail["opening"]))  # received and reversed: back where it was


def test_goods_sent_back_to_the_supplier_reverse_the_purchase_at_their_cost(pg_hub):
    sku, warehouse, supplier = unique("PRT"), unique("WHP")[:12], unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        assert admin.post("/suppliers", json={"code": supplier, "name": "Supplier"}).status_code == 201
        received = _purchase(admin, supplier, warehouse, sku, 10, "10.00")
        po_id = received["purchase_order"]["id"]
        wait_for(lambda: [l["on_hand"] for l in admin.get(f"/stock/{sku}").json()["levels"]] == [10], 60, 0.2,
                 "goods received")
        sent = admin.post(f"/purchase-orders/{po_id}/returns", json={"lines": [{"line_no": 1, "quantity": 4}],
                                                                     "reason": "wrong grade"})
        assert sent.status_code == 201, sent.text
        [voucher] = posted_vouchers(admin, sent.json()["return_id"], 1)
        value = admin.get("/stock-value", params={"warehouse": warehouse}).json()
        too_many = admin.post(f"/purchase-orders/{po_id}/returns", json={"lines": [{"line_no": 1, "quantity": 7}]})
        _trial_balance_ok(admin, voucher["period"])
    assert amounts(voucher) == {"2202": Decimal("45.20"), "22210101": Decimal("-5.20"), "1405": Decimal("-40.00")}
    assert value["total"] == "60.00"
    assert sent.json()["purchase_order"]["lines"][0]["returned"] == 4
    assert too_many.status_code == 422


def test_opening_balances_are_imported_from_a_file_and_must_balance(pg_hub, tmp_path):
    import subprocess
    import sys


    good, bad = tmp_path / "opening.csv", tmp_path / "unbalanced.csv"
    good.write_text("account,debit,credit,aux\n1002,50000.00,,\n1122,5000.00,,platform:taobao/flagship\n"
                    "2202,,7000.00,supplier:TEA-GARDEN\n4001,,48000.00,\n", encoding="utf-8")
    bad.write_text("account,debit,credit\n1002,100.00,\n4001,,99.00\n", encoding="utf-8")
    # opening stock is received into its warehouse (reason opening), never booked on 1405 without it
    stock = tmp_path / "stock.csv"
    stock.write_text("account,debit,credit,aux\n1405,12000.00,,\n4001,,12000.00,\n", encoding="utf-8")

    def run(path):
        return subprocess.run([sys.executable, "-m", "hub.cli", "accounting", "import-opening", str(path),
                               "--date", "2021-01-01"], env=pg_hub.stack.env, capture_output=True, text=True,
                              timeout=60, cwd=components.PROJECT_ROOT)
    refused = run(bad)
    assert refused.returncode != 0 and "does not balance" in refused.stderr
    refused = run(stock)
    assert refused.returncode != 0 and "POST /stock/receipts, reason opening" in refused.stderr, refused.stderr
    posted = run(good)
    assert posted.returncode == 0, posted.stderr
    with pg_hub.client("finance") as finance:
        [voucher] = finance.get("/accounting/vouchers", params={"source_id": "opening:2021-01-01"}).json()["vouchers"]
        tb = finance.get("/accounting/trial-balance", params={"period": "2021-01"}).json()
    assert voucher["kind"] == "opening" and voucher["total"] == "55000.00"
    assert tb["balanced"]
    assert {r["account"]: r["debit"] for r in tb["rows"]}["1002"] == "50000.00"


def _inventory_of(admin, warehouse, period) -> Decimal:
    """The inventory account (1405) on the warehouse's cost centre, from the books."""
    detail = admin.get("/accounting/accounts/1405/detail", params={"period": period}).json()
    return sum((Decimal(l["debit"]) - Decimal(l["credit"]) for l in detail["lines"]
                if l["cost_centre"] == f"warehouse:{warehouse}"), start=Decimal("0.00"))


def test_every_receipt_outside_a_purchase_is_booked_against_its_reason_and_the_books_equal_the_stock(pg_hub):
    sku, warehouse = unique("RCV"), unique("WHV")[:12]
    barcode = "69" + unique("")[1:9].replace("-", "0")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        assert admin.post(f"/warehouses/{warehouse}/bins", json={"codes": ["A-01"]}).status_code in (200, 201)
        assert admin.post("/skus", json={"code": sku, "name": "Tea", "barcodes": [barcode]}).status_code in (200, 201)
        receipts = {}
        for reason, quantity, cost in (("opening", 10, "2.50"), ("other", 3, "3.3333"), ("found", 1, "4.00")):
            reply = admin.post("/stock/receipts", json={"sku": sku, "warehouse": warehouse, "quantity": quantity,
                                                        "unit_cost": cost, "reason": reason})
            assert reply.status_code == 201, reply.text
            receipts[reason] = reply.json()["document_id"]
        scanned = admin.post("/scan/receive", json={"warehouse": warehouse, "bin": "A-01", "code": barcode,
                                                    "quantity": 4, "unit_cost": "5.125", "reason": "production"})
        assert scanned.status_code == 201, scanned.text
        assert scanned.json()["reason"] == "production"
        receipts["production"] = scanned.json()["document_id"]
        default = admin.post("/stock/receipts", json={"sku": sku, "warehouse": warehouse, "quantity": 2,
                                                      "unit_cost": "1.00"})
        assert default.status_code == 201, default.text
        books = {reason: posted_vouchers(admin, document, 1)[0] for reason, document in receipts.items()}
        opening_by_default = posted_vouchers(admin, default.json()["document_id"], 1)[0]
        period = books["opening"]["period"]
        after_receipts = (_inventory_of(admin, warehouse, period),
                          admin.get("/stock-value", params={"warehouse": warehouse}).json()["total"])
        # a sale takes cost out again; the books still equal the stock
        order_id, _ = _sold_and_shipped(admin, sku, 11, "30.00")
        after_sale = (_inventory_of(admin, warehouse, period),
                      admin.get("/stock-value", params={"warehouse": warehouse}).json()["total"])
        audit = admin.get("/stock/audit").json()
        _trial_balance_ok(admin, period)
    assert amounts(books["opening"]) == {"1405": Decimal("25.00"), "4001": Decimal("-25.00")}
    assert amounts(books["other"]) == {"1405": Decimal("10.00"), "1901": Decimal("-10.00")}
    assert amounts(books["found"]) == {"1405": Decimal("4.00"), "1901": Decimal("-4.00")}
    assert amounts(books["production"]) == {"1405": Decimal("20.50"), "5001": Decimal("-20.50")}
    assert amounts(opening_by_default) == {"1405": Decimal("2.00"), "4001": Decimal("-2.00")}
    assert all(_balanced(v) and v["kind"] == "stock_receipt" for v in (*books.values(), opening_by_default))
    assert after_receipts == (Decimal("61.50"), "61.50")
    # FIFO: 10 x 2.50 + 1 x 3.3333.. (10.00 / 3) -> the stock keeps what the sale did not take
    assert after_sale[0] == Decimal(after_sale[1]) and after_sale[0] < Decimal("61.50")
    assert audit["ok"], audit


def test_a_receipt_with_an_unknown_reason_is_refused_and_writes_nothing(pg_hub):
    sku, warehouse = unique("RCX"), unique("WHX")[:12]
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        before = quiet_row_counts(pg_hub)
        replies = [admin.post("/stock/receipts", json={"sku": sku, "warehouse": warehouse, "quantity": 1,
                                                       "unit_cost": "1.00", "reason": reason})
                   for reason in ("gift", "purchase", "")]
        scan = admin.post("/scan/receive", json={"warehouse": warehouse, "bin": "", "code": sku, "quantity": 1,
                                                 "unit_cost": "1.00", "reason": "gift"})
        after = row_counts(pg_hub)
    for reply in (*replies, scan):
        assert reply.status_code == 422, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")
        [error] = [e for e in reply.json()["errors"] if e["field"] == "reason"]
        assert "opening" in error["message"], error
    assert after == before
