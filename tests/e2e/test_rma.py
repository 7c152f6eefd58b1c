"""Return documents (RMA) through the gateway: requested -> received by scan -> inspected -> refunded, or an
exchange's replacement order. The conftest's books audit (stock and receivables) stays at zero after each."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.e2e.helpers import (
    amounts,
    order_body,
    posted_vouchers,
    quiet_row_counts,
    row_counts,
    stock_level,
    stock_sku,
    unique,
    wait_settled,
)
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _shipped_order(admin, sku: str, quantity: int, price: str) -> str:
    order = admin.post("/orders", json=order_body(sku, unique("RMA"), quantity=quantity, price=price))
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
    shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7654321100"})
    assert shipped.status_code == 200, shipped.text
    posted_vouchers(admin, order_id, 2)  # the sale and its cost
    return order_id


def test_a_return_inspected_half_resellable_half_damaged_restocks_and_scraps_at_cost_and_credits_the_paid_amount(
        pg_hub):
    sku, warehouse = unique("RMAT"), unique("WHRMA")[:12]
    with pg_hub.client("admin") as admin, pg_hub.client("warehouse") as floor, pg_hub.client("sales") as sales:
        stock_sku(admin, sku, warehouse=warehouse, quantity=5, cost="8.00", priority=0)
        order_id = _shipped_order(admin, sku, 3, "33.33")  # 99.99 paid for 3
        wait_for(lambda: stock_level(admin, sku)["on_hand"] == 2, 60, 0.2, "the goods issued")

        body = {"order_id": order_id, "lines": [{"line_no": 1, "quantity": 2}], "reason": "broken in transit",
                "external_id": unique("TB-REFUND")}
        created = sales.post("/rmas", json=body)
        assert created.status_code == 201, created.text
        rma_id = created.json()["id"]
        again = sales.post("/rmas", json=body)  # the platform's refund-with-return asked again: the same RMA
        assert again.status_code == 200 and again.json()["id"] == rma_id, again.text

        received = floor.post(f"/rmas/{rma_id}/receive", json={"warehouse": warehouse,
                                                               "scans": [{"sku": sku}, {"sku": sku}]})
        assert received.status_code == 200 and received.json()["lines"][0]["received"] == 2, received.text
        inspected = floor.post(f"/rmas/{rma_id}/inspect", json={"lines": [
            {"line_no": 1, "resellable": 1, "damaged": 1, "disposition": "scrap"}]})
        assert inspected.status_code == 200 and inspected.json()["status"] == "inspected", inspected.text
        [restock] = posted_vouchers(admin, rma_id, 1)
        scrap_id = uuid.uuid5(uuid.NAMESPACE_URL, f"rma-scrap:{rma_id}:1").hex
        [scrap] = posted_vouchers(admin, scrap_id, 1)
        wait_for(lambda: stock_level(admin, sku)["on_hand"] == 3, 60, 0.2, "one unit back on the shelf")

        settled = sales.post(f"/rmas/{rma_id}/settle")
        assert settled.status_code == 200, settled.text
        rma = settled.json()
        books = {v["kind"]: v for v in posted_vouchers(admin, rma_id, 2)}
        level = stock_level(admin, sku)
        order = admin.get(f"/orders/{order_id}").json()
        audit = admin.get(f"/orders/{order_id}/audit").json()["entries"]

    assert rma["status"] == "refunded" and rma["lines"][0]["amount"] == "66.66"
    assert [s["step"] for s in rma["steps"]] == ["requested", "received", "inspected", "refunded"]
    assert {s["actor"] for s in rma["steps"]} and all(s["at"] for s in rma["steps"])
    assert [e["action"] for e in audit if e["action"].startswith("rma_")] == \
        ["rma_requested", "rma_received", "rma_inspected", "rma_refunded"]
    assert order["lines"][0]["returned_quantity"] == 2 and order["status"] == "shipped"
    # both units back at the 8.00 they left with; the damaged one written off at 8.00
    assert restock["kind"] == "return_cost" and amounts(restock) == {"1405": Decimal("16.00"), "6401": Decimal("-16.00")}
    assert scrap["kind"] == "stock_adjustment" and amounts(scrap) == {"6711": Decimal("8.00"), "1405": Decimal("-8.00")}
    # the credit at what was paid for 2 of 3 units of 99.99: 66.66 = 58.99 net + 7.67 VAT, on the platform
    assert books["sales_refund"] and amounts(books["sales_refund"]) == {
        "1122": Decimal("-66.66"), "6001": Decimal("58.99"), "22210105": Decimal("7.67")}
    assert [l["aux"] for l in books["sales_refund"]["lines"] if l["account"] == "1122"] == ["platform:taobao/test-shop"]
    assert (level["on_hand"], level["available"], level["held"]) == (3, 3, 0)


def test_bad_rma_input_is_refused_and_changes_nothing(pg_hub):
    sku, other, warehouse = unique("RMAB"), unique("RMAO"), unique("WHRMB")[:12]
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, quantity=4, cost="5.00", priority=0)
        stock_sku(admin, other, warehouse=warehouse, quantity=1, cost="5.00", priority=0)
        order_id = _shipped_order(admin, sku, 2, "20.00")
        unshipped = admin.post("/orders", json=order_body(sku, unique("RMU"), quantity=1, price="20.00"))
        assert unshipped.status_code == 201, unshipped.text
        wait_settled(admin, [unshipped.json()["id"]])
        rma = admin.post("/rmas", json={"order_id": order_id, "lines": [{"line_no": 1, "quantity": 1}]})
        assert rma.status_code == 201, rma.text
        rma_id = rma.json()["id"]

        before = quiet_row_counts(pg_hub)
        refused = {
            "unknown order": admin.post("/rmas", json={"order_id": "0" * 32, "lines": [{"line_no": 1, "quantity": 1}]}),
            "unshipped": admin.post("/rmas", json={"order_id": unshipped.json()["id"],
                                                   "lines": [{"line_no": 1, "quantity": 1}]}),
            "more than shipped": admin.post("/rmas", json={"order_id": order_id,
                                                           "lines": [{"line_no": 1, "quantity": 2}]}),
            "wrong SKU": admin.post(f"/rmas/{rma_id}/receive", json={"warehouse": warehouse, "scans": [{"sku": other}]}),
            "more than asked": admin.post(f"/rmas/{rma_id}/receive", json={"warehouse": warehouse,
                                                                           "scans": [{"sku": sku, "quantity": 2}]}),
            "another warehouse": admin.post(f"/rmas/{rma_id}/receive", json={"warehouse": "WH-MAIN",
                                                                             "scans": [{"sku": sku}]}),
            "unknown replacement": admin.post("/rmas", json={"order_id": order_id, "kind": "exchange", "lines": [
                {"line_no": 1, "quantity": 1, "replacement_sku": unique("NOSKU")}]}),
            "inspected before received": admin.post(f"/rmas/{rma_id}/inspect",
                                                    json={"lines": [{"line_no": 1, "resellable": 1}]}),
            "settled before inspected": admin.post(f"/rmas/{rma_id}/settle"),
            "a plain return of what the RMA holds": admin.post(f"/orders/{order_id}/returns",
                                                                json={"lines": [{"line_no": 1, "quantity": 2}]}),
        }
        after_first = row_counts(pg_hub)
        admin.post(f"/rmas/{rma_id}/receive", json={"warehouse": warehouse, "scans": [{"sku": sku}]})
        more_than_received = admin.post(f"/rmas/{rma_id}/inspect", json={"lines": [{"line_no": 1, "resellable": 2}]})
        still_received = admin.get(f"/rmas/{rma_id}").json()

    expected = {"unknown order": 404, "unshipped": 409, "more than shipped": 422, "wrong SKU": 422,
                "more than asked": 422, "another warehouse": 422, "unknown replacement": 422,
                "inspected before received": 409, "settled before inspected": 409,
                "a plain return of what the RMA holds": 422}
    assert {k: r.status_code for k, r in refused.items()} == expected, {k: r.text for k, r in refused.items()}
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in refused.values())
    assert "scans[0].sku" in [e["field"] for e in refused["wrong SKU"].json()["errors"]]
    assert after_first == before
    assert more_than_received.status_code == 422, more_than_received.text
    assert still_received["status"] == "received" and still_received["lines"][0]["resellable"] == 0


def test_an_exchange_quarantines_the_damaged_unit_and_ships_a_replacement_without_a_refund(pg_hub):
    sku, warehouse = unique("RMAX"), unique("WHRMX")[:12]
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, warehouse=warehouse, quantity=5, cost="6.00", priority=0)
        order_id = _shipped_order(admin, sku, 2, "50.00")
        wait_for(lambda: stock_level(admin, sku)["on_hand"] == 3, 60, 0.2, "the goods issued")
        rma = admin.post("/rmas", json={"order_id": order_id, "kind": "exchange", "lines": [{"line_no": 1, "quantity": 1}]})
        assert rma.status_code == 201, rma.text
        rma_id = rma.json()["id"]
        assert admin.post(f"/rmas/{rma_id}/receive", json={"warehouse": warehouse, "scans": [{"sku": sku}]}).status_code == 200
        inspected = admin.post(f"/rmas/{rma_id}/inspect", json={"lines": [
            {"line_no": 1, "resellable": 0, "damaged": 1, "disposition": "quarantine"}]})
        assert inspected.status_code == 200, inspected.text
        [restock] = posted_vouchers(admin, rma_id, 1)
        wait_for(lambda: stock_level(admin, sku)["held"] == 1, 60, 0.2, "the damaged unit quarantined")
        settled = admin.post(f"/rmas/{rma_id}/settle")
        assert settled.status_code == 200 and settled.json()["status"] == "exchanged", settled.text
        replacement_id = settled.json()["replacement_order_id"]
        [replacement] = wait_settled(admin, [replacement_id])
        assert replacement["status"] == "reserved", replacement
        shipped = admin.post(f"/orders/{replacement_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7654321101"})
        assert shipped.status_code == 200, shipped.text
        [cost] = [v for v in posted_vouchers(admin, replacement_id, 1) if v["kind"] == "cost_of_goods"] or [None]
        wait_for(lambda: stock_level(admin, sku)["on_hand"] == 3, 60, 0.2, "the replacement issued")
        pg_hub.wait_quiet()
        rma_books = admin.get("/accounting/vouchers", params={"source_id": rma_id}).json()["vouchers"]
        level = stock_level(admin, sku)
        order = admin.get(f"/orders/{order_id}").json()

    assert replacement["total"] == "0.00" and replacement["lines"][0]["sku"] == sku
    assert amounts(restock) == {"1405": Decimal("6.00"), "6401": Decimal("-6.00")}
    assert cost is not None and amounts(cost) == {"6401": Decimal("6.00"), "1405": Decimal("-6.00")}
    assert [v["kind"] for v in rma_books] == ["return_cost"]  # no refund for an exchange at the same price
    assert order["lines"][0]["returned_quantity"] == 0  # still sold: the buyer holds the replacement
    # 3 after the sale, +1 quarantined (on hand, held), -1 the replacement shipped
    assert (level["on_hand"], level["held"], level["available"]) == (3, 1, 2)
