"""Goods before invoice (先货后票) and landed costs (issue 15), through the gateway: a receipt without its
invoice books a provisional payable; the supplier invoice reverses it and books the payable and input VAT,
its price difference split between the goods still held and cost of goods; a landed cost is shared over a
receipt's lines into their cost layers (FIFO and moving average), the part of units already sold to cost
of goods. To the cent, the vouchers checked; the books-against-stock audit runs after each test."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.helpers import amounts, order_body, posted_vouchers, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.e2e.test_order_to_books import _balanced
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e
D = Decimal


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def _on_hand(admin, sku, warehouse, units):
    wait_for(lambda: [l["on_hand"] for l in admin.get(f"/stock/{sku}", params={"warehouse": warehouse})
                      .json()["levels"]] == [units], 60, 0.2, f"{units} of {sku} on hand")


def _sell(admin, warehouse_sku_quantities: list[tuple[str, int]]) -> str:
    body = order_body(warehouse_sku_quantities[0][0], unique("SALE"))
    body["lines"] = [{"sku": sku, "quantity": quantity, "unit_price": "30.00"} for sku, quantity in
                     warehouse_sku_quantities]
    order_id = _ok(admin.post("/orders", json=body))["id"]
    assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
    _ok(admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": unique("SF")}))
    posted_vouchers(admin, order_id, 2)  # the sale and its cost of goods: the units are gone from the layers
    return order_id


def _value(admin, warehouse) -> dict:
    [row] = admin.get("/stock-value", params={"warehouse": warehouse}).json()["warehouses"]
    return {s["sku"]: (s["quantity"], s["value"]) for s in row["skus"]}


def _problem(reply, status, fields=None):
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    if fields is not None:
        assert sorted(e["field"] for e in reply.json()["errors"]) == sorted(fields), reply.text


def _stock_audit(hub, client, sku: str) -> list[dict]:
    """The stock audit's differences (ledger against running balances) for one SKU, once the hub is quiet."""
    hub.wait_quiet()
    return [d for d in client.get("/stock/audit").json()["differences"] if d["key"].startswith(f"{sku}/")]


def test_goods_before_invoice_the_price_difference_splits_between_stock_and_cost_of_goods(pg_hub):
    sku, warehouse, supplier = unique("GBI"), unique("WGB")[:12], unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, priority=0)
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Tea Garden"}))
        po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": warehouse, "lines": [
            {"sku": sku, "quantity": 10, "unit_cost": "10.00"}]}))
        approve_through_gateway(pg_hub, po["id"])
        receipt = _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={"invoice_pending": True}))["receipt"]
        assert receipt["invoice_pending"] is True
        [provisional_voucher] = posted_vouchers(admin, receipt["id"], 1)
        _on_hand(admin, sku, warehouse, 10)
        _sell(admin, [(sku, 6)])
        listed = [l for l in admin.get("/purchasing/provisional").json()["lines"] if l["receipt_id"] == receipt["id"]]

        before = quiet_row_counts(pg_hub)
        invoices = f"/purchase-orders/{po['id']}/invoices"
        refused = {
            "outside tolerance": admin.post(invoices, json={"supplier": supplier, "lines": [
                {"line_no": 1, "quantity": 10, "unit_price": "10.51"}]}),
            "matches nothing": admin.post(invoices, json={"supplier": supplier, "lines": [
                {"line_no": 2, "quantity": 1, "unit_price": "10.00"}, {"line_no": 1, "quantity": 11,
                                                                       "unit_price": "10.00"}]}),
            "another supplier": admin.post(invoices, json={"supplier": "NOBODY", "lines": [
                {"line_no": 1, "quantity": 10, "unit_price": "10.00"}]}),
            "negative price": admin.post(invoices, json={"supplier": supplier, "lines": [
                {"line_no": 1, "quantity": 10, "unit_price": "-10.00"}]}),
            "no such order": admin.post("/purchase-orders/nope/invoices", json={"supplier": supplier, "lines": [
                {"line_no": 1, "quantity": 10, "unit_price": "10.00"}]}),
        }
        after = row_counts(pg_hub)

        bill = _ok(admin.post(invoices, json={"supplier": supplier, "reference": "INV-0001", "lines": [
            {"line_no": 1, "quantity": 10, "unit_price": "10.40"}]}), 201)
        [voucher] = posted_vouchers(admin, bill["id"], 1)
        again = admin.post(invoices, json={"supplier": supplier, "lines": [
            {"line_no": 1, "quantity": 1, "unit_price": "10.40"}]})
        value = _value(admin, warehouse)
        still = [l for l in admin.get("/purchasing/provisional").json()["lines"] if l["receipt_id"] == receipt["id"]]
        audit = _stock_audit(pg_hub, admin, sku)

    assert amounts(provisional_voucher) == {"1405": D("100.00"), "220202": D("-100.00")}
    assert [(l["quantity"], l["amount"]) for l in listed] == [(10, "100.00")]
    _problem(refused["outside tolerance"], 422, ["lines[0].unit_price"])
    _problem(refused["matches nothing"], 422, ["lines[0].line_no", "lines[1].quantity"])
    _problem(refused["another supplier"], 422, ["supplier"])
    _problem(refused["negative price"], 422)
    _problem(refused["no such order"], 404)
    assert after == before
    assert (bill["provisional"], bill["total_net"], bill["total_tax"], bill["total"]) == (
        "100.00", "104.00", "13.52", "117.52")
    # 4 of the 10 units still held take 40 % of the 4.00 difference; the 6 sold, 60 %
    assert amounts(voucher) == {"220202": D("100.00"), "1405": D("1.60"), "6401": D("2.40"),
                                 "22210101": D("13.52"), "2202": D("-117.52")}
    assert _balanced(voucher)
    assert value[sku] == (4, "41.60")
    assert audit == []  # the stock ledger carries the revaluation: its value is what the layers hold
    _problem(again, 422, ["lines[0].line_no"])  # nothing left awaiting an invoice
    assert still == []


def test_landed_costs_under_fifo_and_average_with_part_already_sold(pg_hub):
    tea, cup, warehouse = unique("LCF"), unique("LCA"), unique("WLC")[:12]
    supplier, carrier = unique("SUP"), unique("SF")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, tea, warehouse=warehouse, priority=0)
        _ok(admin.post("/skus", json={"code": cup, "name": "Cup", "costing": "average"}))
        _ok(admin.post("/stock/receipts", json={"sku": cup, "warehouse": warehouse, "quantity": 3,
                                                "unit_cost": "6.00"}), 201)
        for code in (supplier, carrier):
            _ok(admin.post("/suppliers", json={"code": code, "name": code}))
        po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": warehouse, "lines": [
            {"sku": tea, "quantity": 3, "unit_cost": "10.00"}, {"sku": cup, "quantity": 7, "unit_cost": "5.00"}]}))
        approve_through_gateway(pg_hub, po["id"])
        receipt = _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={}))["receipt"]
        _on_hand(admin, tea, warehouse, 3)
        _on_hand(admin, cup, warehouse, 10)
        _sell(admin, [(tea, 2), (cup, 8)])

        before = quiet_row_counts(pg_hub)
        costs = f"/receipts/{receipt['id']}/landed-costs"
        refused = {
            "no such receipt": admin.post("/receipts/nope/landed-costs", json={
                "supplier": carrier, "charge": "freight", "amount": "10.00"}),
            "negative": admin.post(costs, json={"supplier": carrier, "charge": "freight", "amount": "-10.00"}),
            "zero": admin.post(costs, json={"supplier": carrier, "charge": "freight", "amount": "0.00"}),
            "no weights": admin.post(costs, json={"supplier": carrier, "charge": "duty", "basis": "weight",
                                                  "amount": "10.00"}),
            "unknown biller": admin.post(costs, json={"supplier": "NOBODY", "charge": "freight", "amount": "1.00"}),
        }
        after = row_counts(pg_hub)

        bill = _ok(admin.post(costs, json={"supplier": carrier, "reference": "FRT-1", "charge": "freight",
                                           "basis": "value", "amount": "10.00", "vat_rate": "0.09"}), 201)
        [voucher] = posted_vouchers(admin, bill["id"], 1)
        value = _value(admin, warehouse)
        audit = _stock_audit(pg_hub, admin, tea) + _stock_audit(pg_hub, admin, cup)

    _problem(refused["no such receipt"], 404, ["receipt_id"])
    _problem(refused["negative"], 422)
    _problem(refused["zero"], 422, ["amount"])
    _problem(refused["no weights"], 422, ["basis"])
    _problem(refused["unknown biller"], 404, ["supplier"])
    assert after == before
    # by value 30.00 : 35.00 -> 4.615.. and 5.384..: 4.61 + 5.38, the missing cent to the larger remainder
    assert [(l["sku"], l["change"]) for l in bill["lines"]] == [(tea, "4.62"), (cup, "5.38")]
    # FIFO: the receipt's layer holds 1 of its 3 units: 1.54 stays, 3.08 to cost of goods;
    # average: the layer holds 2 units, so 2 of the 7: 1.54 stays (5.38 x 2/7 = 1.537..), 3.84 to cost of goods
    assert amounts(voucher) == {"1405": D("3.08"), "6401": D("6.92"), "22210101": D("0.90"), "2202": D("-10.90")}
    assert {l["aux"] for l in voucher["lines"] if l["account"] == "2202"} == {f"supplier:{carrier}"}
    assert _balanced(voucher)
    # tea: 1 unit at 10.00 + 1.54; cup: (18.00 + 35.00) less 8/10 of it (42.40) = 10.60, + 1.54
    assert value == {tea: (1, "11.54"), cup: (2, "12.14")}
    assert audit == []
