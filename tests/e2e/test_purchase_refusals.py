"""A request the hub accepts is applied (issue 11): a purchase receipt or a return to the supplier
that inventory would refuse is refused at the gateway, before anything is written anywhere; one that
inventory refuses later (the state changed in between) is compensated visibly, and the books still
equal the stock."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.helpers import amounts, order_body, posted_vouchers, quiet_row_counts, row_counts, unique, wait_settled
from tests.e2e.test_books import _inventory_of
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def _purchase_order(admin, warehouse, lines, hub) -> dict:
    supplier = unique("SUP")
    _ok(admin.post("/suppliers", json={"code": supplier, "name": "Supplier"}))
    po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": warehouse, "lines": [
        {"sku": sku, "quantity": quantity, "unit_cost": cost} for sku, quantity, cost in lines]}))
    return approve_through_gateway(hub, po["id"])


def _setup(admin, serial_tracked=False) -> tuple[str, str, str]:
    """A warehouse with bin A-01, another warehouse, and a new SKU."""
    wh, other, sku = unique("WQ")[:12], unique("WO")[:12], unique("QSK")
    for code, priority in ((wh, 0), (other, 50)):
        _ok(admin.post("/warehouses", json={"code": code, "name": code, "priority": priority}))
    _ok(admin.post(f"/warehouses/{wh}/bins", json={"codes": ["A-01"]}))
    _ok(admin.post("/skus", json={"code": sku, "name": "Item", "serial_tracked": serial_tracked}))
    return wh, other, sku


def test_a_receipt_inventory_would_refuse_is_refused_before_anything_is_written(pg_hub):
    with pg_hub.client("admin") as admin:
        wh, other, tea = _setup(admin)
        phone = unique("PHN")
        _ok(admin.post("/skus", json={"code": phone, "name": "Phone", "serial_tracked": True}))
        po = _purchase_order(admin, wh, [(tea, 6, "5.00"), (phone, 2, "900.00")], pg_hub)
        taken = unique("SN")
        _ok(admin.post("/stock/receipts", json={"sku": phone, "warehouse": other, "quantity": 1,
                                                "unit_cost": "900.00", "serials": [taken]}))
        before = quiet_row_counts(pg_hub)
        unknown_bin = admin.post(f"/purchase-orders/{po['id']}/receipts", json={"lines": [
            {"line_no": 1, "quantity": 6, "bin": "Z-99"}]})
        in_stock_elsewhere = admin.post(f"/purchase-orders/{po['id']}/receipts", json={"lines": [
            {"line_no": 1, "quantity": 6, "bin": "A-01"}, {"line_no": 2, "quantity": 2, "serials": [taken, "NEW-1"]}]})
        after = row_counts(pg_hub)
        unchanged = admin.get(f"/purchase-orders/{po['id']}").json()
    assert unknown_bin.status_code == 422, unknown_bin.text
    assert unknown_bin.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in unknown_bin.json()["errors"]] == ["lines[0].bin"]
    assert in_stock_elsewhere.status_code == 409, in_stock_elsewhere.text
    assert [e["field"] for e in in_stock_elsewhere.json()["errors"]] == ["lines[1].serials"]
    assert after == before
    assert (unchanged["status"], unchanged["receipts"]) == ("open", [])


def test_goods_reserved_for_orders_are_not_sent_back_to_the_supplier(pg_hub):
    with pg_hub.client("admin") as admin:
        wh, _, tea = _setup(admin)
        po = _purchase_order(admin, wh, [(tea, 6, "5.00")], pg_hub)
        _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={}))
        wait_for(lambda: admin.get(f"/stock/{tea}", params={"warehouse": wh}).json()["levels"][0]["on_hand"] == 6,
                 60, 0.2, "the goods in stock")
        order = _ok(admin.post("/orders", json=order_body(tea, unique("EXT"), quantity=5)))
        assert wait_settled(admin, [order["id"]])[0]["status"] == "reserved"
        before = quiet_row_counts(pg_hub)
        reserved = admin.post(f"/purchase-orders/{po['id']}/returns", json={"lines": [{"line_no": 1, "quantity": 3}]})
        after = row_counts(pg_hub)
        free = admin.post(f"/purchase-orders/{po['id']}/returns", json={"lines": [{"line_no": 1, "quantity": 1}]})
    assert reserved.status_code == 409, reserved.text
    assert [e["field"] for e in reserved.json()["errors"]] == ["lines[0].quantity"]
    assert after == before
    assert free.status_code == 201, free.text  # the one unit no order was promised may go


def test_a_receipt_inventory_refuses_when_it_applies_it_is_reversed_visibly_and_the_books_equal_the_stock(pg_hub):
    with pg_hub.client("admin") as admin:
        wh, other, phone = _setup(admin, serial_tracked=True)
        po = _purchase_order(admin, wh, [(phone, 2, "900.00")], pg_hub)
        serials = [unique("SN"), unique("SN")]
        pg_hub.stack.stop("inventory-worker")  # inventory applies the receipt only after ...
        try:
            receipt = _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={"lines": [
                {"line_no": 1, "quantity": 2, "bin": "A-01", "serials": serials}]}))["receipt"]
            # ... one of its serials arrived in another warehouse
            _ok(admin.post("/stock/receipts", json={"sku": phone, "warehouse": other, "quantity": 1,
                                                    "unit_cost": "900.00", "serials": serials[:1]}))
        finally:
            pg_hub.restart("inventory-worker")
        refused = wait_for(lambda: (lambda p: p if p["receipts"][0]["status"] == "refused" else None)(
            admin.get(f"/purchase-orders/{po['id']}").json()), 60, 0.3, "the receipt refused")
        [purchase] = posted_vouchers(admin, receipt["id"], 1)
        [reversal] = posted_vouchers(admin, purchase["id"], 1)
        stock = admin.get(f"/stock/{phone}", params={"warehouse": wh}).json()["levels"]
        value = admin.get("/stock-value", params={"warehouse": wh}).json()
        books = _inventory_of(admin, wh, reversal["period"])
    assert serials[0] in refused["receipts"][0]["refused_reason"]
    assert (refused["status"], refused["lines"][0]["received"]) == ("open", 0)
    assert reversal["reverses"] == purchase["id"]
    net = {k: amounts(purchase)[k] + amounts(reversal)[k] for k in amounts(purchase)}
    assert set(net.values()) == {Decimal("0.00")}  # nothing owed to the supplier (2202), nothing in stock (1405)
    assert [l["on_hand"] for l in stock] in ([], [0])
    assert books == Decimal(value["total"]) == Decimal("0.00")
