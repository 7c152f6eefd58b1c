"""Refunds through the gateway (POST /orders/{id}/refunds): a line refunded before shipment gives its
stock back and never ships nor is invoiced; a refund without return after shipment (仅退款) posts the
credit voucher and moves no stock. The conftest's books audit stays at zero after each."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.helpers import amounts, order_body, posted_vouchers, stock_level, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def test_a_line_refunded_before_shipping_gives_its_stock_back_and_is_neither_shipped_nor_invoiced(pg_hub):
    tea, cup, warehouse = unique("RTEA"), unique("RCUP"), unique("WHR")[:12]
    with pg_hub.client("admin") as admin, pg_hub.client("sales") as sales:
        stock_sku(admin, tea, warehouse=warehouse, quantity=5, cost="8.00", priority=0)
        stock_sku(admin, cup, warehouse=warehouse, quantity=5, cost="3.00", priority=0)
        body = order_body(tea, unique("REF"), quantity=2, price="20.00")
        body["lines"].append({"sku": cup, "quantity": 1, "unit_price": "10.00"})
        order = admin.post("/orders", json=body)
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        assert stock_level(admin, cup)["available"] == 4

        # bad input changes nothing: more than was paid, an unknown line, a partial line before shipment
        for lines, field in (([{"line_no": 2, "amount": "10.01"}], "lines[0].amount"),
                             ([{"line_no": 3}], "lines[0].line_no"),
                             ([{"line_no": 1, "quantity": 1}], "lines[0].quantity")):
            refused = sales.post(f"/orders/{order_id}/refunds", json={"lines": lines})
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert field in [e["field"] for e in refused.json()["errors"]]
        assert [l["reservation"] for l in admin.get(f"/orders/{order_id}").json()["lines"]] == ["reserved"] * 2

        refund = sales.post(f"/orders/{order_id}/refunds", json={"lines": [{"line_no": 2}], "reason": "buyer refunded"})
        assert refund.status_code == 201, refund.text
        assert refund.json()["kind"] == "intercept"
        lines = refund.json()["order"]["lines"]
        assert [(l["reservation"], l["refunded_amount"]) for l in lines] == [("reserved", "0.00"), ("refunded", "10.00")]
        again = sales.post(f"/orders/{order_id}/refunds", json={"lines": [{"line_no": 2}]})
        assert again.status_code == 409, again.text
        wait_for(lambda: stock_level(admin, cup)["available"] == 5, 60, 0.2, "the refunded line's stock released")

        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7654321000"})
        assert shipped.status_code == 200 and shipped.json()["status"] == "shipped", shipped.text
        books = {v["kind"]: v for v in posted_vouchers(admin, order_id, 2)}
        wait_for(lambda: stock_level(admin, tea)["on_hand"] == 3, 60, 0.2, "the tea issued")
        cup_level = stock_level(admin, cup)
        [customer] = admin.get("/customers", params={"order_id": order_id}).json()["customers"]
        [release] = wait_for(lambda: next(o for o in admin.get(f"/customers/{customer['id']}").json()["orders"]
                                          if o["order_id"] == order_id)["after_sales"], 60, 0.2, "the release")

    # invoiced: the tea only (2 x 20.00), at its cost only (2 x 8.00); the cup never left
    assert amounts(books["sale"])["1122"] == Decimal("40.00")
    assert amounts(books["cost_of_goods"]) == {"6401": Decimal("16.00"), "1405": Decimal("-16.00")}
    assert (cup_level["on_hand"], cup_level["available"], cup_level["reserved"]) == (5, 5, 0)
    # in the buyer's history: the line released before shipment (the event carries no amount)
    assert (release["kind"], release["quantity"], release["reason"], release["amount"]) == (
        "release", 1, "buyer refunded", None)


def test_a_refund_without_return_after_shipping_posts_the_credit_and_moves_no_stock(pg_hub):
    sku, warehouse = unique("RONLY"), unique("WHO")[:12]
    with pg_hub.client("admin") as admin, pg_hub.client("finance") as finance:
        stock_sku(admin, sku, warehouse=warehouse, quantity=3, cost="5.00", priority=0)
        order = admin.post("/orders", json=order_body(sku, unique("RON"), quantity=2, price="30.00"))
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7654321001"})
        assert shipped.status_code == 200, shipped.text
        posted_vouchers(admin, order_id, 2)
        wait_for(lambda: stock_level(admin, sku)["on_hand"] == 1, 60, 0.2, "the goods issued")

        too_much = finance.post(f"/orders/{order_id}/refunds", json={"lines": [{"line_no": 1, "amount": "60.01"}]})
        assert too_much.status_code == 422, too_much.text
        refund = finance.post(f"/orders/{order_id}/refunds",
                              json={"lines": [{"line_no": 1, "amount": "11.30"}], "reason": "scratched, kept"})
        assert refund.status_code == 201, refund.text
        assert refund.json()["kind"] == "refund_only"
        assert refund.json()["order"]["status"] == "shipped"
        assert refund.json()["order"]["lines"][0]["refunded_amount"] == "11.30"
        [credit] = posted_vouchers(admin, refund.json()["refund_id"], 1)
        level = stock_level(admin, sku)
        # the buyer's 360° view: the shipment's carrier and tracking, the refund and what was given back
        [customer] = admin.get("/customers", params={"order_id": order_id}).json()["customers"]
        seen = wait_for(lambda: (lambda o: o if o["after_sales"] else None)(next(
            o for o in admin.get(f"/customers/{customer['id']}").json()["orders"] if o["order_id"] == order_id)),
            60, 0.2, "the refund in the customer's history")

    assert credit["kind"] == "sales_refund"
    # taobao is a marketplace: the platform's receivable is credited; 11.30 = 10.00 net + 1.30 VAT
    assert amounts(credit) == {"1122": Decimal("-11.30"), "6001": Decimal("10.00"), "22210105": Decimal("1.30")}
    assert [l["aux"] for l in credit["lines"] if l["account"] == "1122"] == ["platform:taobao/test-shop"]
    assert (level["on_hand"], level["available"]) == (1, 1)  # no stock moved
    assert (seen["status"], seen["carrier"], seen["tracking_number"], seen["refunded"]) == (
        "shipped", "SF", "SF7654321001", "11.30")
    [after] = seen["after_sales"]
    assert (after["kind"], after["reference"], after["amount"], after["reason"], after["quantity"]) == (
        "refund", refund.json()["refund_id"], "11.30", "scratched, kept", None)
