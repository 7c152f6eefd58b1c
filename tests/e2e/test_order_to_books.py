"""One order's whole journey: purchased at two costs, sold, shipped -> FIFO cost of goods,
balanced vouchers, a zero trial balance and the customer's history."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.accounting.models import vouchers
from tests.e2e.helpers import amounts, order_body, posted_vouchers, stock_sku, unique, wait_settled
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _purchase(client, supplier, warehouse, sku, quantity, unit_cost, hub=None) -> dict:
    po = client.post("/purchase-orders", json={"supplier": supplier, "warehouse": warehouse,
                                               "lines": [{"sku": sku, "quantity": quantity, "unit_cost": unit_cost}]})
    assert po.status_code == 201, po.text
    approve_through_gateway(hub or client, po.json()["id"])
    received = client.post(f"/purchase-orders/{po.json()['id']}/receipts", json={"reference": unique("DN")})
    assert received.status_code == 201, received.text
    return received.json()


def _balanced(voucher) -> bool:
    return sum(Decimal(l["debit"]) for l in voucher["lines"]) == sum(Decimal(l["credit"]) for l in voucher["lines"]) \
        == Decimal(voucher["total"])


def test_purchase_at_two_costs_sell_and_ship_fifteen(pg_hub):
    sku, warehouse, supplier = unique("BOOK"), unique("WHB")[:12], unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        assert admin.post("/suppliers", json={"code": supplier, "name": "Tea Garden Co."}).status_code == 201
        first = _purchase(admin, supplier, warehouse, sku, 10, "10.00", pg_hub)
        second = _purchase(admin, supplier, warehouse, sku, 10, "8.00", pg_hub)
        wait_for(lambda: [l["on_hand"] for l in admin.get(f"/stock/{sku}").json()["levels"]] == [20], 60, 0.2,
                 "20 on hand")

        order = admin.post("/orders", json=order_body(sku, unique("SALE"), quantity=15, price="20.00"))
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF1234567890"})
        assert shipped.status_code == 200 and shipped.json()["status"] == "shipped", shipped.text

        books = {v["kind"]: v for v in posted_vouchers(admin, order_id, 2)}
        purchase_one = posted_vouchers(admin, first["receipt"]["id"], 1)[0]
        purchase_two = posted_vouchers(admin, second["receipt"]["id"], 1)[0]
        value = admin.get("/stock-value", params={"warehouse": warehouse}).json()
        tb = admin.get("/accounting/trial-balance", params={"period": books["sale"]["period"]}).json()
        [customer] = admin.get("/customers", params={"order_id": order_id}).json()["customers"]
        history = admin.get(f"/customers/{customer['id']}").json()["orders"]

    # FIFO: 10 at 10.00 and 5 at 8.00
    assert amounts(books["cost_of_goods"]) == {"6401": Decimal("140.00"), "1405": Decimal("-140.00")}
    [row] = value["warehouses"][0]["skus"]
    assert (row["quantity"], row["value"]) == (5, "40.00")
    # 15 x 20.00 = 300.00 VAT-inclusive: net 265.49, VAT 34.51
    assert amounts(books["sale"]) == {"1122": Decimal("300.00"), "6001": Decimal("-265.49"),
                                       "22210105": Decimal("-34.51")}
    assert amounts(purchase_one) == {"1405": Decimal("100.00"), "22210101": Decimal("13.00"),
                                      "2202": Decimal("-113.00")}
    assert amounts(purchase_two) == {"1405": Decimal("80.00"), "22210101": Decimal("10.40"),
                                      "2202": Decimal("-90.40")}
    for voucher in (*books.values(), purchase_one, purchase_two):
        assert _balanced(voucher), voucher
        assert voucher["number"].startswith(f"记-{voucher['period']}-")
    assert tb["balanced"] and tb["total_debit"] == tb["total_credit"]
    assert [h["status"] for h in history if h["order_id"] == order_id] == ["shipped"]


def test_an_order_ships_once(pg_hub):
    sku = unique("ONCE")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=2)
        order_id = c.post("/orders", json=order_body(sku, unique("O"))).json()["id"]
        wait_settled(c, [order_id])
        body = {"carrier": "ZTO", "tracking_number": "ZTO-0001"}
        first = c.post(f"/orders/{order_id}/shipment", json=body)
        same = c.post(f"/orders/{order_id}/shipment", json=body)  # a retry whose answer was lost: the same shipment
        again = c.post(f"/orders/{order_id}/shipment", json={**body, "tracking_number": "ZTO-0002"})
    assert first.status_code == same.status_code == 200 and same.json()["shipment"] == first.json()["shipment"]
    assert again.status_code == 409
    assert "already shipped" in again.json()["title"]


def test_a_backordered_order_cannot_ship(pg_hub):
    sku = unique("SHORT")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=1)
        order_id = c.post("/orders", json=order_body(sku, unique("O"), quantity=3)).json()["id"]
        assert wait_settled(c, [order_id])[0]["status"] == "backordered"
        refused = c.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF0001"})
    assert refused.status_code == 409


def test_accounting_worker_killed_mid_flight_posts_each_voucher_exactly_once(pg_hub):
    sku = unique("ACCT")
    with pg_hub.client("admin") as c:
        stock_sku(c, sku, quantity=30, cost="7.50")
        ids = [c.post("/orders", json=order_body(sku, f"{sku}-{n}")).json()["id"] for n in range(30)]
        wait_settled(c, ids)

    def ship(order_id):
        with pg_hub.client("warehouse") as w:
            reply = w.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": f"SF{order_id[:10]}"})
            assert reply.status_code == 200, reply.text

    def posted(kind=None):
        with pg_hub.dbs["accounting"].reader() as s:
            query = select(vouchers.c.kind, vouchers.c.source_id, func.count()).where(vouchers.c.source_id.in_(ids))
            return s.execute(query.group_by(vouchers.c.kind, vouchers.c.source_id)).all()

    shipping = threading.Thread(target=lambda: list(ThreadPoolExecutor(8).map(ship, ids)))
    shipping.start()
    wait_for(lambda: len(posted()) >= 4, 60, 0.05, "the first vouchers")
    pg_hub.stack.kill("accounting-worker")
    shipping.join()
    assert len(posted()) < 60  # the kill left shipments unposted
    pg_hub.restart("accounting-worker")
    rows = wait_for(lambda: (lambda r: r if len(r) == 60 else None)(posted()), 90, 0.3, "60 vouchers")
    assert {(kind, n) for kind, _, n in rows} == {("sale", 1), ("cost_of_goods", 1)}
    assert {source for _, source, _ in rows} == set(ids)
    with pg_hub.client("finance") as f:
        for order_id in ids[:3]:
            kinds = sorted(v["kind"] for v in f.get(f"/orders/{order_id}/vouchers").json()["vouchers"])
            assert kinds == ["cost_of_goods", "sale"]
