"""The sales KPIs through the gateway, worked to the cent: a storefront order with a discount, shipped
and partly refunded (仅退款), a Taobao order of the same shop and a Taobao settlement keeping a
commission; the margin is net revenue less the cost inventory issued, and the month's totals are the
trial balance's revenue, cost of goods and platform fees. Bad requests are problem+json 422s."""
from __future__ import annotations

import json
import time
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook

from gateway import webhooks
from tests.e2e.helpers import order_body, posted_vouchers, stock_sku, unique, wait_settled

pytestmark = pytest.mark.e2e
D = Decimal


def _storefront_order(hub, name: str, secret: str, sku: str, external_id: str) -> httpx.Response:
    body = {"external_order_id": external_id, "version": 1, "status": "paid",
            "buyer": {"external_id": "kpi-buyer", "name": "Kpi Buyer"},
            "shipping_address": {"recipient": "Kpi Buyer", "province": "浙江", "street": "1 Kpi Road"},
            "lines": [{"sku": sku, "quantity": 2, "unit_price": "30.00", "amount": "55.00"}]}  # 5.00 off
    raw, stamp = json.dumps(body).encode(), str(int(time.time()))
    return httpx.post(f"{hub.stack.gateway_url}/webhooks/storefront/{name}", content=raw, timeout=30,
                      headers={"content-type": "application/json", "X-Hub-Timestamp": stamp,
                               "X-Hub-Signature": "sha256=" + webhooks.signature(secret, stamp, raw)})


def _ship(client, order_id: str, tracking: str) -> None:
    shipped = client.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": tracking})
    assert shipped.status_code == 200, shipped.text
    posted_vouchers(client, order_id, 2)  # the sale and its cost of goods


def _month() -> tuple[str, str, str]:
    today = date.today()  # the hub's business day is Shanghai's; a run at a month's edge may straddle
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first.isoformat(), last.isoformat(), first.strftime("%Y-%m")


def test_sales_and_margin_to_the_cent_agree_with_the_trial_balance(pg_hub):
    shop, sku, warehouse = unique("kpi").lower(), unique("KTEA"), unique("WHK")[:12]
    secret = webhooks.add_storefront(pg_hub.gateway_db, shop)
    start, end, period = _month()
    with pg_hub.client("admin") as admin, pg_hub.client("finance") as finance, pg_hub.client("sales") as sales:
        stock_sku(admin, sku, warehouse=warehouse, quantity=5, cost="12.00", priority=0)
        placed = _storefront_order(pg_hub, shop, secret, sku, unique("KWEB"))
        assert placed.status_code == 200, placed.text
        web_id = placed.json()["order"]["id"]
        body = order_body(sku, unique("KTB"), quantity=1, price="45.20")
        body["shop"] = shop
        taobao = admin.post("/orders", json=body)
        assert taobao.status_code == 201, taobao.text
        taobao_id = taobao.json()["id"]
        assert {o["status"] for o in wait_settled(admin, [web_id, taobao_id])} == {"reserved"}
        _ship(admin, web_id, "SF8800000001")
        _ship(admin, taobao_id, "SF8800000002")
        refund = finance.post(f"/orders/{web_id}/refunds", json={"lines": [{"line_no": 1, "amount": "11.30"}]})
        assert refund.status_code == 201 and refund.json()["kind"] == "refund_only", refund.text
        posted_vouchers(admin, refund.json()["refund_id"], 1)
        settled = finance.post("/accounting/settlements", json={
            "channel": "taobao", "shop": shop, "reference": unique("STL"), "business_date": date.today().isoformat(),
            "gross": "45.20", "commission": "2.26", "fees": "0.50"})
        assert settled.status_code == 201, settled.text

        period_args = {"from": start, "to": end}
        report = sales.get("/kpis/sales", params={**period_args, "by": "channel", "shop": shop})
        assert report.status_code == 200, report.text
        rows = {r["key"]: r for r in report.json()["rows"]}
        web, tb, total = rows["storefront"], rows["taobao"], report.json()["total"]
        # storefront: 2 x 30.00 listed (53.10 net), paid 55.00 (48.67 net): 4.43 off; 11.30 refunded (10.00 net);
        # cost 2 x 12.00 as inventory issued it
        assert (web["list_sales"], web["discounts"], web["sales"], web["refunds"]) == \
            ("53.10", "4.43", "48.67", "10.00")
        assert (web["revenue"], web["cogs"], web["margin"], web["units"], web["orders"]) == \
            ("38.67", "24.00", "14.67", 2, 1)
        # taobao: 45.20 (40.00 net) at cost 12.00, less the settlement's commission and fees 2.76
        assert (tb["revenue"], tb["commissions"], tb["net_revenue"], tb["cogs"], tb["margin"], tb["margin_pct"]) == \
            ("40.00", "2.76", "37.24", "12.00", "25.24", "67.78")
        assert (total["revenue"], total["cogs"], total["margin"]) == ("78.67", "36.00", "39.91")
        assert D(total["margin"]) == D(total["net_revenue"]) - D(total["cogs"])

        by_region = sales.get("/kpis/sales", params={**period_args, "by": "region", "shop": shop}).json()["rows"]
        assert {r["key"]: r["cogs"] for r in by_region}["浙江"] == "24.00"

        workbook = sales.get("/kpis/sales.xlsx", params={**period_args, "by": "channel", "shop": shop})
        assert workbook.status_code == 200 and "attachment" in workbook.headers["content-disposition"]
        sheet = load_workbook(BytesIO(workbook.content)).active
        assert [c.value for c in sheet[1]][:2] == ["channel", "orders"]

        abc = sales.get("/kpis/customers/abc", params={**period_args, "by": "margin", "a": "50", "b": "90",
                                                       "channel": "storefront", "shop": shop})
        assert abc.status_code == 200, abc.text
        assert [(r["customer"], r["margin"], r["grade"]) for r in abc.json()["rows"]] == \
            [("storefront:kpi-buyer", "14.67", "A")]

        # the month's totals, every order of this hub included, are the trial balance's
        pg_hub.wait_quiet()
        month = finance.get("/kpis/sales", params={**period_args, "by": "month"}).json()["total"]
        tb_rows = {r["account"]: r for r in finance.get("/accounting/trial-balance",
                                                        params={"period": period}).json()["rows"]}

        def net(account: str, credit: bool) -> Decimal:
            row = tb_rows.get(account, {"debit": "0", "credit": "0"})
            return (D(row["credit"]) - D(row["debit"])) * (1 if credit else -1)
        assert (D(month["revenue"]), D(month["cogs"]), D(month["commissions"])) == \
            (net("6001", True), net("6401", False), net("6601", False))
        assert D(month["revenue"]) >= D("78.67")


@pytest.mark.parametrize("path,params,field", [
    ("/kpis/sales", {"from": "2026-03-31", "to": "2026-03-01"}, "to"),
    ("/kpis/sales.xlsx", {"to": "2026-03-01"}, "from"),
    ("/kpis/customers/abc", {"from": "2026-03-01", "to": "2026-03-31", "a": "95", "b": "80"}, "b"),
])
def test_a_bad_kpi_request_is_a_problem_naming_the_field(pg_hub, path, params, field):
    with pg_hub.client("sales") as sales:
        refused = sales.get(path, params=params)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].endswith(field) for e in refused.json()["errors"]), refused.text  # query.from, to


def test_a_warehouse_user_may_not_read_the_sales_kpis(pg_hub):
    with pg_hub.client("warehouse") as floor:
        refused = floor.get("/kpis/sales", params={"from": "2026-03-01", "to": "2026-03-31"})
    assert refused.status_code == 403, refused.text
