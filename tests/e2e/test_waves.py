"""A pick wave through the gateway (issue 14): a warehouse's released orders in one wave, its pick list
in walk order (zone, aisle, bay, level of the bin codes, not the order they were created or named in);
a wrong SKU scanned at packing is a 409 that changes nothing; the packer of an order a review rule
flagged for the double check is its first check, so another user ships it."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import order_body, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e

BINS = ("B-01-01-1", "A-10-02-1", "A-02-11-1", "A-02-05-2")  # as a warehouse might add them: not walk order


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def test_a_waves_pick_list_is_in_walk_order_and_packing_checks_each_scan(pg_hub):
    wh = unique("WV")[:12]
    tea, cup, pot = unique("TEA"), unique("CUP"), unique("POT")
    with pg_hub.client("admin") as admin, pg_hub.client("warehouse") as packer:
        _ok(admin.post("/warehouses", json={"code": wh, "name": wh, "priority": 0}))
        _ok(admin.post(f"/warehouses/{wh}/bins", json={"codes": list(BINS)}))
        for sku, where in ((tea, "B-01-01-1"), (cup, "A-02-11-1"), (pot, "A-10-02-1"), (cup, "A-02-05-2")):
            _ok(admin.post("/skus", json={"code": sku, "name": f"Test {sku}"}))
            _ok(admin.post("/stock/receipts", json={"sku": sku, "warehouse": wh, "quantity": 2, "unit_cost": "3.00",
                                                    "bin": where}), 201)
        plain = order_body(tea, unique("WV"), quantity=1)
        plain["lines"] += [{"sku": cup, "quantity": 3, "unit_price": "9.90"}]
        flagged = order_body(pot, unique("WV"), quantity=1, price="12000.00")  # the default rules flag it
        first = _ok(admin.post("/orders", json=plain), 201)["id"]
        second = _ok(admin.post("/orders", json=flagged), 201)["id"]
        assert [o["status"] for o in wait_settled(admin, [first, second])] == ["reserved", "reserved"]
        wait_for(lambda: admin.get(f"/orders/{second}").json()["double_check"] or None, 60, 0.3,
                 f"the double check flag on {second}")

        wave = _ok(packer.post("/waves", json={"warehouse": wh}), 201)
        assert sorted(o["order_id"] for o in wave["orders"]) == sorted([first, second])
        walked = [(p["bin"], p["sku"], p["quantity"]) for p in wave["pick_list"]]
        assert walked == [("A-02-05-2", cup, 1), ("A-02-11-1", cup, 2), ("A-10-02-1", pot, 1),
                          ("B-01-01-1", tea, 1)]
        assert [p["seq"] for p in wave["pick_list"]] == [1, 2, 3, 4]
        assert wave["pick_list"][2]["walk"] == {"zone": "A", "aisle": 10, "bay": 2, "level": 1}
        wave_id = wave["wave_id"]
        assert _ok(packer.get(f"/waves/{wave_id}/pick-list"))["pick_list"] == wave["pick_list"]
        # its orders are in a working wave: no second wave takes them
        assert packer.post("/waves", json={"warehouse": wh}).status_code == 409

        # a wrong SKU at packing: a clear 409, nothing changed
        wrong = packer.post(f"/waves/{wave_id}/pack", json={"order_id": second, "code": tea})
        assert wrong.status_code == 409, wrong.text
        assert wrong.headers["content-type"] == "application/problem+json"
        assert f"wrong item: '{tea}' is {tea}; order {second} still awaits {pot}" in wrong.json()["title"]
        assert _ok(packer.get(f"/waves/{wave_id}/pick-list")) == wave
        # not packed yet: it does not ship
        assert packer.post(f"/waves/{wave_id}/ship", json={"order_id": first, "carrier": "SF",
                                                           "tracking_number": unique("SFW")}).status_code == 409

        for code, quantity in ((cup, 2), (cup, 1), (tea, 1)):
            scan = _ok(packer.post(f"/waves/{wave_id}/pack", json={"order_id": first, "code": code,
                                                                   "quantity": quantity}), 201)
        assert (scan["order_status"], scan["remaining"], scan["double_checked_by"]) == ("packed", 0, None)
        scan = _ok(packer.post(f"/waves/{wave_id}/pack", json={"order_id": second, "code": pot}), 201)
        assert scan["order_status"] == "packed" and scan["double_checked_by"].startswith("test-warehouse-")

        # the packer checked the flagged order: another user's scan of the waybill ships it
        waybill = {"order_id": second, "carrier": "SF", "tracking_number": unique("SFW")}
        refused = packer.post(f"/waves/{wave_id}/ship", json=waybill)
        assert refused.status_code == 409 and "another user" in refused.json()["title"], refused.text
        assert _ok(admin.post(f"/waves/{wave_id}/ship", json=waybill))["order"]["status"] == "shipped"
        shipped = _ok(packer.post(f"/waves/{wave_id}/ship", json={"order_id": first, "carrier": "SF",
                                                                  "tracking_number": unique("SFW")}))
        assert shipped["order"]["status"] == "shipped"
        wait_for(lambda: _ok(admin.get(f"/waves/{wave_id}/pick-list"))["status"] == "done" or None, 60, 0.3,
                 "inventory to issue the wave's orders")
