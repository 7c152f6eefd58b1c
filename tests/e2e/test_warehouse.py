"""The warehouse through the whole hub (gateway -> inventory api -> relay -> RabbitMQ -> workers):
scanning, lots with expiry, transfers, kits, write-offs and counts, each movement reaching the
books at its cost, and stock signals reaching purchasing."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.helpers import amounts, order_body, posted_vouchers, unique, wait_settled
from tests.e2e.test_order_to_books import _balanced
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def _warehouse(client, code, priority, bins=()):
    _ok(client.post("/warehouses", json={"code": code, "name": code, "priority": priority, "region": "east",
                                         "address": "8 Dock Road, Ningbo"}))
    if bins:
        _ok(client.post(f"/warehouses/{code}/bins", json={"codes": list(bins)}))


def test_stock_moves_through_bins_lots_and_warehouses_and_each_movement_reaches_the_books(pg_hub):
    main, east = unique("WM")[:12], unique("WE")[:12]
    tea, cup, kit = unique("TEA"), unique("CUP"), unique("SET")
    barcode = "69" + unique("")[1:9].replace("-", "0")
    with pg_hub.client("admin") as admin:
        _warehouse(admin, main, 0, ("A-01-01", "A-01-02"))
        _warehouse(admin, east, 1)
        _ok(admin.post("/skus", json={"code": tea, "name": "Green tea", "lot_tracked": True, "barcodes": [barcode],
                                      "category": "tea"}))
        _ok(admin.post("/skus", json={"code": cup, "name": "Cup", "costing": "average"}))
        _ok(admin.post("/skus", json={"code": kit, "name": "Tea set", "components": [{"sku": tea, "quantity": 1},
                                                                                     {"sku": cup, "quantity": 2}]}))
        _ok(admin.put("/stock/limits", json={"sku": tea, "warehouse": main, "minimum": 5, "maximum": 30}))
        # receiving by scanning the barcode into a bin: two lots, the later one expiring first
        _ok(admin.post("/scan/receive", json={"warehouse": main, "bin": "A-01-01", "code": barcode, "quantity": 10,
                                              "unit_cost": "6.00", "lot": "L1", "expires_on": "2099-06-30"}))
        _ok(admin.post("/scan/receive", json={"warehouse": main, "bin": "A-01-02", "code": barcode, "quantity": 10,
                                              "unit_cost": "8.00", "lot": "L2", "expires_on": "2099-03-31"}))
        _ok(admin.post("/stock/receipts", json={"sku": cup, "warehouse": main, "quantity": 10, "unit_cost": "1.00"}))
        _ok(admin.post("/stock/receipts", json={"sku": cup, "warehouse": main, "quantity": 5, "unit_cost": "2.50"}))
        wrong = admin.post("/scan/lookup", json={"warehouse": main, "code": "0000000000000"})

        # a sale: picked first-expiry-first-out (L2), costed first-in-first-out (the 6.00 layer)
        order_id = _ok(admin.post("/orders", json=order_body(tea, unique("S"), quantity=12, price="20.00")))["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        _ok(admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF1234"}))
        sale = {v["kind"]: v for v in posted_vouchers(admin, order_id, 2)}

        # a transfer of 3 units east: in transit, then received
        shipped = _ok(admin.post("/transfers", json={"from_warehouse": main, "to_warehouse": east,
                                                     "lines": [{"sku": tea, "quantity": 3}]}))
        in_transit = {l["warehouse"]: l for l in admin.get(f"/stock/{tea}").json()["levels"]}[east]["in_transit"]
        _ok(admin.post(f"/transfers/{shipped['transfer_id']}/receive", json={}))
        transfer = [posted_vouchers(admin, f"{shipped['transfer_id']}:{stage}", 1)[0] for stage in ("shipped", "received")]

        # a kit of 1 tea + 2 cups, and a write-off of a damaged cup
        assembled = _ok(admin.post(f"/kits/{kit}/assemble", json={"warehouse": main, "quantity": 1}))
        kit_voucher = posted_vouchers(admin, f"{assembled['document_id']}:assembled", 1)
        scrapped = _ok(admin.post("/stock/adjustments", json={"sku": cup, "warehouse": main, "quantity": -1,
                                                              "reason": "scrap", "note": "broken"}))
        scrap_voucher = posted_vouchers(admin, scrapped["adjustment_id"], 1)

        # a count of bin A-01-01 finds one unit of L1 missing
        count = _ok(admin.post("/counts", json={"warehouse": main, "bins": ["A-01-01"]}))
        busy = admin.post("/counts", json={"warehouse": main, "bins": ["A-01-01"]})
        expected = {l["lot"]: l["expected"] for l in count["lines"]}
        _ok(admin.post("/scan/count", json={"count_id": count["count_id"], "bin": "A-01-01", "code": "LOT:L1",
                                            "quantity": expected["L1"] - 1}))
        posted = _ok(admin.post(f"/counts/{count['count_id']}/submit", json={}))

        # a quality hold reaches purchasing as an alert; low stock as a suggestion
        _ok(admin.post(f"/lots/{tea}/L1/hold", json={"note": "supplier recall"}))
        alerts = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(
            admin.get("/purchasing/stock-alerts", params={"sku": tea}).json()["alerts"]), 60, 0.3,
            "the hold reaches purchasing, once per warehouse holding the lot")
        suggestions = wait_for(lambda: [s for s in admin.get("/purchasing/suggestions").json()["suggestions"]
                                        if s["sku"] == tea and s["warehouse"] == main] or None, 60, 0.3,
                               "a purchase suggestion for the low stock")
        level = {l["warehouse"]: l for l in admin.get(f"/stock/{tea}").json()["levels"]}[main]
        audit = admin.get("/stock/audit").json()
        history = admin.get(f"/stock/reports/movements/{tea}", params={"warehouse": main}).json()

    assert wrong.status_code == 404 and "code" in [e["field"] for e in wrong.json()["errors"]]
    # 12 units: 10 at 6.00 + 2 at 8.00 = 76.00 (FIFO), though L2 left the shelf first
    assert amounts(sale["cost_of_goods"]) == {"6401": Decimal("76.00"), "1405": Decimal("-76.00")}
    assert in_transit == 3
    # the 3 transferred units are the next FIFO ones: 3 x 8.00, through goods in transit and back
    assert sorted(amounts(v)["1405"] for v in transfer) == [Decimal("0.00"), Decimal("0.00")]
    assert all(_balanced(v) for v in transfer)
    assert [max(Decimal(l["debit"]) for l in v["lines"]) for v in transfer] == [Decimal("24.00")] * 2
    # kit: 1 tea at 8.00 + 2 cups at the moving average (10 x 1.00 + 5 x 2.50) / 15 = 1.50 -> 3.00
    assert assembled["value"] == "11.00" and _balanced(kit_voucher[0])
    assert scrapped["value"] == "-1.50" and amounts(scrap_voucher[0]) == {"6711": Decimal("1.50"),
                                                                             "1405": Decimal("-1.50")}
    assert busy.status_code == 409
    assert posted["status"] == "posted" and posted["posted_value"] == "-8.00"  # one unit, at the 8.00 layer
    assert sorted((a["kind"], a["warehouse"], a["held"]) for a in alerts) == sorted(
        ("lot_hold_changed", w, True) for w in (main, east))
    # main: 20 - 12 sold - 3 moved - 1 in the kit - 1 lost = 3 on hand, all in held L1 -> 0 available
    assert (level["on_hand"], level["held"], level["available"]) == (3, 3, 0)
    assert suggestions[0]["quantity"] >= 25 and suggestions[0]["status"] == "open"
    assert audit == {"ok": True, "differences": []}
    assert history["closing_quantity"] == 3


def test_purchased_goods_arrive_with_their_lot_expiry_bin_and_serials(pg_hub):
    wh, supplier = unique("WP")[:12], unique("SUP")
    tea, phone = unique("TEA"), unique("PHN")
    with pg_hub.client("admin") as admin:
        _warehouse(admin, wh, 0, ("R-01",))
        _ok(admin.post("/skus", json={"code": tea, "name": "Tea", "lot_tracked": True}))
        _ok(admin.post("/skus", json={"code": phone, "name": "Phone", "serial_tracked": True}))
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Supplier"}))
        po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
            {"sku": tea, "quantity": 6, "unit_cost": "5.00"}, {"sku": phone, "quantity": 2, "unit_cost": "900.00"}]}))
        approve_through_gateway(pg_hub, po["id"])
        everything = admin.post(f"/purchase-orders/{po['id']}/receipts", json={})
        no_serials = admin.post(f"/purchase-orders/{po['id']}/receipts", json={"lines": [
            {"line_no": 2, "quantity": 2}]})
        lot_on_phone = admin.post(f"/purchase-orders/{po['id']}/receipts", json={"lines": [
            {"line_no": 2, "quantity": 2, "lot": "X1", "serials": ["SA", "SB"]}]})
        _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={"lines": [
            {"line_no": 1, "quantity": 6, "bin": "R-01", "lot": "T2611", "expires_on": "2099-11-30"},
            {"line_no": 2, "quantity": 2, "bin": "R-01", "serials": ["SA", "SB"]}]}))
        rows = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(
            admin.get("/stock/reports/on-hand", params={"warehouse": wh}).json()["rows"]), 60, 0.3,
            "the receipt in the warehouse")
        serial = admin.post("/scan/lookup", json={"warehouse": wh, "code": "SN:SB"}).json()
    assert [r.status_code for r in (everything, no_serials, lot_on_phone)] == [422, 422, 422]
    assert {e["field"] for e in no_serials.json()["errors"]} == {"lines[0].serials"}
    assert {e["field"] for e in lot_on_phone.json()["errors"]} == {"lines[0].lot"}
    assert sorted((r["sku"], r["bin"], r["lot"], r["quantity"], r["expires_on"]) for r in rows) == sorted(
        [(tea, "R-01", "T2611", 6, "2099-11-30"), (phone, "R-01", "", 2, None)])
    assert (serial["kind"], serial["sku"], serial["bin"]) == ("serial", phone, "R-01")
