"""Documents in another currency than the books': accepted at the hub's rate of their day, posted
converted with the rate on the voucher, or refused (nothing written) when the hub has no rate."""
from __future__ import annotations

from decimal import Decimal

import pytest

from hubkit import clock
from tests.e2e.helpers import amounts, order_body, posted_vouchers, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.e2e.test_order_to_books import _balanced
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def test_an_order_in_usd_is_posted_converted_at_the_rate_it_was_accepted_at(pg_hub):
    sku = unique("FX")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, quantity=5)
        for valid_from, rate in (("2020-01-01", "6.5"), (clock.today().isoformat(), "7.1234"), ("2099-01-01", "9.9")):
            entered = admin.post("/accounting/exchange-rates", json={"currency": "USD", "valid_from": valid_from,
                                                                     "rate": rate})
            assert entered.status_code == 201, entered.text
        body = {**order_body(sku, unique("USD"), quantity=2, price="10.00", channel="storefront"), "currency": "USD"}
        placed = admin.post("/orders", json=body)
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF8888"})
        assert shipped.status_code == 200, shipped.text
        sale = {v["kind"]: v for v in posted_vouchers(admin, order_id, 2)}["sale"]
        reversals = []
        for _ in range(2):
            returned = admin.post(f"/orders/{order_id}/returns", json={"lines": [{"line_no": 1, "quantity": 1}]})
            assert returned.status_code == 201, returned.text
            reversals += [v for v in posted_vouchers(admin, returned.json()["return_id"], 2) if v["kind"] == "sales_return"]
    assert (placed.json()["currency"], placed.json()["exchange_rate"]) == ("USD", "7.1234")
    # 20.00 USD at 7.1234 = 142.47 CNY (142.468): 126.08 revenue + 16.39 output VAT
    assert (sale["currency"], sale["exchange_rate"]) == ("USD", "7.1234")
    assert amounts(sale) == {"1122": Decimal("142.47"), "6001": Decimal("-126.08"), "22210105": Decimal("-16.39")}
    assert all(_balanced(v) and (v["currency"], v["exchange_rate"]) == ("USD", "7.1234") for v in reversals)
    assert [amounts(v)["1122"] for v in reversals] == [Decimal("-71.23"), Decimal("-71.24")]
    for account in ("1122", "6001", "22210105"):
        assert sum(amounts(v)[account] for v in reversals) == -amounts(sale)[account]


def test_a_purchase_in_usd_enters_stock_and_books_at_the_same_converted_value(pg_hub):
    sku, warehouse, supplier = unique("FXP"), unique("WFX")[:12], unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        assert admin.post("/suppliers", json={"code": supplier, "name": "Overseas"}).status_code == 201
        assert admin.post("/accounting/exchange-rates", json={"currency": "USD", "valid_from": "2020-01-01",
                                                              "rate": "6.5"}).status_code == 201
        po = admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": warehouse, "currency": "USD",
                                                  "lines": [{"sku": sku, "quantity": 3, "unit_cost": "1.05"}]})
        assert po.status_code == 201, po.text
        approve_through_gateway(pg_hub, po.json()["id"])
        received = admin.post(f"/purchase-orders/{po.json()['id']}/receipts", json={"reference": unique("DN")})
        assert received.status_code == 201, received.text
        [voucher] = posted_vouchers(admin, received.json()["receipt"]["id"], 1)
        value = wait_for(lambda: (lambda v: v if v["total"] != "0.00" else None)(
            admin.get("/stock-value", params={"warehouse": warehouse}).json()), 60, 0.3, "the goods in stock")
    rate = po.json()["exchange_rate"]
    assert rate is not None and voucher["exchange_rate"] == rate and voucher["currency"] == "USD"
    # 3 x 1.05 = 3.15 USD net, 0.41 VAT, 3.56 payable; inventory = the stock's value
    inventory = amounts(voucher)["1405"]
    assert inventory == (Decimal("3.15") * Decimal(rate)).quantize(Decimal("0.01"))
    assert Decimal(value["total"]) == inventory
    assert -amounts(voucher)["2202"] == (Decimal("3.56") * Decimal(rate)).quantize(Decimal("0.01"))
    assert _balanced(voucher)


@pytest.mark.parametrize("currency", ["CHF", "XYZ"], ids=["no rate", "no such currency"])
def test_an_order_or_purchase_order_in_a_currency_without_a_rate_is_refused_and_nothing_is_written(pg_hub, currency):
    sku, supplier = unique("FXN"), unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, quantity=2)
        assert admin.post("/suppliers", json={"code": supplier, "name": "Overseas"}).status_code == 201
        before = quiet_row_counts(pg_hub)
        order = admin.post("/orders", json={**order_body(sku, unique("CHF")), "currency": currency})
        po = admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": "WH-MAIN", "currency": currency,
                                                  "lines": [{"sku": sku, "quantity": 1, "unit_cost": "1.00"}]})
    for reply in (order, po):
        assert reply.status_code == 422, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in reply.json()["errors"]] == ["currency"], reply.json()
    assert row_counts(pg_hub) == before


def test_rates_are_imported_from_a_file_all_or_none(pg_hub, tmp_path):
    import subprocess
    import sys

    from hub import components

    good, bad = tmp_path / "rates.csv", tmp_path / "bad.csv"
    good.write_text("currency,date,rate\nGBP,2021-01-01,8.95\nGBP,2021-06-01,9.05\nHKD,2021-01-01,0.8312\n",
                    encoding="utf-8")
    bad.write_text("currency,date,rate\nSEK,2021-01-01,0.7\nSEK,2021-02-30,0.7\n", encoding="utf-8")

    def run(path):
        return subprocess.run([sys.executable, "-m", "hub.cli", "accounting", "import-rates", str(path)],
                              env=pg_hub.stack.env, capture_output=True, text=True, timeout=60,
                              cwd=components.PROJECT_ROOT)
    refused, imported = run(bad), run(good)
    assert refused.returncode != 0 and "valid_from" in refused.stderr, refused.stderr
    assert imported.returncode == 0 and "3 exchange rate(s) imported" in imported.stdout, imported.stderr
    with pg_hub.client("finance") as finance:
        rates = finance.get("/accounting/exchange-rates").json()["rates"]
    kept = {(r["currency"], r["valid_from"], r["rate"]) for r in rates}
    assert {("GBP", "2021-06-01", "9.05"), ("GBP", "2021-01-01", "8.95"), ("HKD", "2021-01-01", "0.8312")} <= kept
    assert not [r for r in rates if r["currency"] == "SEK"]
