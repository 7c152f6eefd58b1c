"""Partial shipment through the gateway (issue 14): an order with a line short ships what is reserved in
parcels, line by line and by quantity, each with its own carrier and tracking number, and backorders the
rest; each parcel issues only its units and posts its own sale and cost (the parcels' sales add up to
exactly the order's total), and the order is partly_shipped until its last unit ships. Bad input (a line
not reserved, more units than reserved, the wrong SKU scanned at packing, an unknown line) is a
problem+json 422 that changes nothing; a flagged order needs a check by another user per parcel.
The platform confirmations of parcels are in test_channels.py (the hub with the shop simulators)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.helpers import order_body, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _vouchers(client, source_id, count):
    return wait_for(lambda: (lambda v: v if len(v) == count else None)(
        client.get("/accounting/vouchers", params={"source_id": source_id}).json()["vouchers"]),
        60, 0.3, f"{count} vouchers of {source_id}")


def _receivable(voucher) -> Decimal:
    return sum((Decimal(l["debit"]) for l in voucher["lines"] if l["account"] == "1122"), Decimal("0"))


def test_a_backordered_order_ships_what_is_reserved_in_parcels_and_the_rest_later(pg_hub):
    a, b = unique("PA"), unique("PB")
    with pg_hub.client("admin") as admin, pg_hub.client("warehouse") as packer:
        stock_sku(admin, a, quantity=3, cost="4.00")
        stock_sku(admin, b)  # none yet: its line is backordered
        body = order_body(a, unique("PAR"), quantity=3, price="3.33")
        body["lines"].append({"sku": b, "quantity": 1, "unit_price": "5.00"})
        reply = admin.post("/orders", json=body)
        assert reply.status_code == 201, reply.text
        order_id = reply.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "backordered"

        # bad input: nothing changes
        before = quiet_row_counts(pg_hub)
        for wrong, field in (({"lines": [{"line_no": 2, "quantity": 1}]}, "lines[0].line_no"),  # backordered
                             ({"lines": [{"line_no": 1, "quantity": 4}]}, "lines[0].quantity"),  # > reserved
                             ({"lines": [{"line_no": 7, "quantity": 1}]}, "lines[0].line_no"),  # unknown
                             ({"lines": [{"line_no": 1, "quantity": 1}], "scans": [{"sku": b}]}, "scans[0].sku")):
            r = packer.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": unique("SF"),
                                                                   **wrong})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
            assert field in [f["field"] for f in r.json()["errors"]], r.text
        whole = packer.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": unique("SF")})
        assert whole.status_code == 409, whole.text  # not fully reserved: a whole shipment is refused
        assert row_counts(pg_hub) == before

        # parcel 1: one unit of line 1, scanned
        t1, t2, t3 = unique("SF"), unique("ZT"), unique("YT")
        p1 = packer.post(f"/orders/{order_id}/shipment", json={
            "carrier": "SF", "tracking_number": t1, "lines": [{"line_no": 1, "quantity": 1}], "scans": [{"sku": a}]})
        assert p1.status_code == 200, p1.text
        assert p1.json()["status"] == "partly_shipped" and p1.json()["shipment"] is None
        assert [(p["parcel_no"], p["carrier"], p["tracking_number"], p["amount"]) for p in p1.json()["parcels"]] == \
            [(1, "SF", t1, "3.33")]
        again = packer.post(f"/orders/{order_id}/shipment", json={
            "carrier": "SF", "tracking_number": t1, "lines": [{"line_no": 1, "quantity": 1}]})
        assert again.status_code == 200 and len(again.json()["parcels"]) == 1, again.text  # a retry: the same parcel
        # parcel 2: the other two units; line 2 still backordered
        p2 = packer.post(f"/orders/{order_id}/shipment", json={
            "carrier": "ZTO", "tracking_number": t2, "lines": [{"line_no": 1, "quantity": 2}]})
        assert p2.status_code == 200 and p2.json()["status"] == "partly_shipped", p2.text
        assert [l["shipped_quantity"] for l in p2.json()["lines"]] == [3, 0]
        # partly shipped: not cancelled, not refunded (some of it invoiced, some not), nothing changes
        before = quiet_row_counts(pg_hub)
        assert admin.post(f"/orders/{order_id}/cancel", json={}).status_code == 409
        refund = admin.post(f"/orders/{order_id}/refunds", json={"lines": [{"line_no": 1, "amount": "1.00"}]})
        assert refund.status_code == 409, refund.text
        assert row_counts(pg_hub) == before

        # stock for line 2 arrives once line 1 is issued whole (both parcels' vouchers posted): line 2 is
        # reserved, and the last parcel (no lines: what is left) ships it
        _vouchers(admin, f"{order_id}-P2", 2)
        r = admin.post("/stock/receipts", json={"sku": b, "warehouse": "WH-MAIN", "quantity": 1, "unit_cost": "2.00"})
        assert r.status_code == 201, r.text
        wait_for(lambda: admin.get(f"/orders/{order_id}").json()["lines"][1]["reservation"] == "reserved" or None,
                 60, 0.3, "line 2 reserved")
        p3 = packer.post(f"/orders/{order_id}/shipment", json={"carrier": "YTO", "tracking_number": t3})
        assert p3.status_code == 200, p3.text
        shipped = p3.json()
        assert shipped["status"] == "shipped" and shipped["shipment"]["tracking_number"] == t3
        assert [(p["tracking_number"], p["amount"]) for p in shipped["parcels"]] == \
            [(t1, "3.33"), (t2, "6.66"), (t3, "5.00")]

        # each parcel posted its own sale and cost; the sales add up to exactly the order's total
        sales = [next(v for v in _vouchers(admin, f"{order_id}-P{n}", 2) if v["kind"] == "sale") for n in (1, 2, 3)]
        assert sum(_receivable(v) for v in sales) == Decimal(shipped["total"]) == Decimal("14.99")
        costs = [next(v for v in _vouchers(admin, f"{order_id}-P{n}", 2) if v["kind"] == "cost_of_goods")
                 for n in (1, 2, 3)]
        assert [v["total"] for v in costs] == ["4.00", "8.00", "2.00"]


def test_a_flagged_order_needs_a_check_by_another_user_before_each_parcel(pg_hub):
    sku = unique("PDC")
    with pg_hub.client("admin") as admin, pg_hub.client("warehouse") as packer:
        stock_sku(admin, sku, quantity=2, cost="100.00")
        reply = admin.post("/orders", json=order_body(sku, unique("PDC"), quantity=2, price="6000.00"))
        order_id = reply.json()["id"]
        wait_settled(admin, [order_id])
        wait_for(lambda: admin.get(f"/orders/{order_id}").json()["double_check"] or None, 60, 0.3, "the flag")
        parcel = {"carrier": "SF", "lines": [{"line_no": 1, "quantity": 1}]}
        r = admin.post(f"/orders/{order_id}/shipment", json={**parcel, "tracking_number": unique("SF")})
        assert r.status_code == 409 and "double check" in r.text, r.text
        assert packer.post(f"/orders/{order_id}/double-check", json={}).status_code == 200
        r = packer.post(f"/orders/{order_id}/shipment", json={**parcel, "tracking_number": unique("SF")})
        assert r.status_code == 409 and "another user" in r.text, r.text
        r = admin.post(f"/orders/{order_id}/shipment", json={**parcel, "tracking_number": unique("SF")})
        assert r.status_code == 200 and r.json()["status"] == "partly_shipped", r.text
        assert r.json()["double_checked"] is None  # the next parcel is checked again
        r = admin.post(f"/orders/{order_id}/shipment", json={**parcel, "tracking_number": unique("SF")})
        assert r.status_code == 409 and "double check" in r.text, r.text
        assert packer.post(f"/orders/{order_id}/double-check", json={}).status_code == 200
        r = admin.post(f"/orders/{order_id}/shipment", json={**parcel, "tracking_number": unique("SF")})
        assert r.status_code == 200 and r.json()["status"] == "shipped", r.text
