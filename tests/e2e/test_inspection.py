"""Incoming inspection (issue 15): a lot-tracked purchase receipt waits quarantined (on hand, not
available) until inspected; a pass releases it, a failure scraps it or sends it back to the supplier,
a partial pass splits it; the supplier scorecard counts the results. Bad results change nothing. The
books-against-stock audit after every e2e test checks the values."""
from __future__ import annotations

from datetime import timedelta

import pytest

from hubkit import clock
from tests.e2e.helpers import quiet_row_counts, row_counts, unique
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def _level(admin, sku, wh) -> tuple[int, int, int]:
    [level] = _ok(admin.get(f"/stock/{sku}", params={"warehouse": wh}))["levels"]
    return level["on_hand"], level["held"], level["available"]


def _task(admin, supplier, sku) -> dict:
    return wait_for(lambda: next(iter(admin.get("/purchasing/inspections", params={
        "supplier": supplier, "sku": sku, "status": "open"}).json()["inspections"]), None), 60, 0.3,
        f"the inspection task of {sku}")


def test_inspection_pass_fail_and_partial_decide_what_becomes_available(pg_hub):
    wh, supplier = unique("WI")[:12], unique("SUP")
    teas = [unique("TEA") for _ in range(3)]
    with pg_hub.client("admin") as admin:
        _ok(admin.post("/warehouses", json={"code": wh, "name": wh, "priority": 0}))
        for tea in teas:
            _ok(admin.post("/skus", json={"code": tea, "name": "Tea", "lot_tracked": True}))
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Tea farm"}))
        po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
            {"sku": tea, "quantity": 10, "unit_cost": "5.00", "expected_on": "2099-01-01"} for tea in teas]}))
        assert [l["expected_on"] for l in po["lines"]] == ["2099-01-01"] * 3
        approve_through_gateway(pg_hub, po["id"])
        _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={}))
        tasks = [_task(admin, supplier, tea) for tea in teas]
        quarantined = [_level(admin, tea, wh) for tea in teas]

        before = quiet_row_counts(pg_hub)
        too_many = admin.post(f"/purchasing/inspections/{tasks[0]['id']}/result", json={"passed": 10, "failed": 1,
                                                                                       "disposition": "scrap"})
        no_disposition = admin.post(f"/purchasing/inspections/{tasks[0]['id']}/result", json={"passed": 4, "failed": 6})
        unknown = admin.post("/purchasing/inspections/nope/result", json={"passed": 10})
        assert row_counts(pg_hub) == before

        passed = _ok(admin.post(f"/purchasing/inspections/{tasks[0]['id']}/result", json={"passed": 10}))
        scrapped = _ok(admin.post(f"/purchasing/inspections/{tasks[1]['id']}/result", json={
            "passed": 0, "failed": 10, "disposition": "scrap", "note": "mouldy"}))
        split = _ok(admin.post(f"/purchasing/inspections/{tasks[2]['id']}/result", json={
            "passed": 7, "failed": 3, "disposition": "return"}))
        again = admin.post(f"/purchasing/inspections/{tasks[0]['id']}/result", json={"passed": 10})
        returned = wait_for(lambda: (lambda p: p if p["returns"] else None)(
            _ok(admin.get(f"/purchase-orders/{po['id']}"))), 60, 0.3, "the purchase return of the failed units")
        wait_for(lambda: _level(admin, teas[2], wh)[0] == 7 or None, 60, 0.3, "the failed units gone back")
        after = [_level(admin, tea, wh) for tea in teas]
    assert quarantined == [(10, 10, 0)] * 3  # on hand, not available
    for reply in (too_many, no_disposition, unknown):
        assert reply.headers["content-type"].startswith("application/problem+json"), reply.text
    assert (too_many.status_code, no_disposition.status_code, unknown.status_code, again.status_code) == (
        422, 422, 404, 409)
    assert "more than the 10 received" in str(too_many.json()["errors"])
    assert [t["status"] for t in (passed, scrapped, split)] == ["passed", "failed", "partial"]
    assert passed["inspected_by"] and passed["inspected_at"]
    assert after == [(10, 0, 10), (0, 0, 0), (7, 0, 7)]
    assert [(r["lines"][0]["line_no"], r["lines"][0]["quantity"], r["status"]) for r in returned["returns"]] == [
        (3, 3, "accepted")]


def test_a_scorecard_from_known_receipts_and_bands_that_leave_a_gap_are_refused(pg_hub):
    wh, supplier, tea = unique("WS")[:12], unique("SUP"), unique("TEA")
    today = clock.today()
    late, on_time = (today - timedelta(days=5)).isoformat(), (today + timedelta(days=5)).isoformat()
    with pg_hub.client("admin") as admin:
        _ok(admin.post("/warehouses", json={"code": wh, "name": wh, "priority": 0}))
        _ok(admin.post("/skus", json={"code": tea, "name": "Tea", "lot_tracked": True}))
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Tea farm"}))
        first = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
            {"sku": tea, "quantity": 10, "unit_cost": "4.00", "expected_on": late}]}))
        second = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
            {"sku": tea, "quantity": 10, "unit_cost": "5.00", "expected_on": on_time}]}))
        approve_through_gateway(pg_hub, first["id"])
        _ok(admin.post(f"/purchase-orders/{first['id']}/receipts", json={}))   # late
        approve_through_gateway(pg_hub, second["id"])
        _ok(admin.post(f"/purchase-orders/{second['id']}/receipts", json={}))  # on time, 25% dearer
        for task in wait_for(lambda: (lambda found: found if len(found) == 2 else None)(admin.get(
                "/purchasing/inspections", params={"supplier": supplier}).json()["inspections"]), 60, 0.3, "tasks"):
            _ok(admin.post(f"/purchasing/inspections/{task['id']}/result", json={
                "passed": 9, "failed": 1, "disposition": "scrap"}))
        period = {"from": (today - timedelta(days=30)).isoformat(), "to": (today + timedelta(days=30)).isoformat(),
                  "supplier": supplier}
        card = wait_for(lambda: (lambda rows: rows[0] if rows and rows[0]["inspected_units"] == 20 else None)(
            admin.get("/purchasing/scorecard", params=period).json()["rows"]), 60, 0.3, "the inspections counted")
        workbook = admin.get("/purchasing/scorecard.xlsx", params=period)
        before = quiet_row_counts(pg_hub)
        upside_down = admin.get("/purchasing/scorecard", params={"from": "2026-03-02", "to": "2026-03-01"})
        gap = admin.put("/purchasing/scorecard/config", json={
            "weights": {"on_time": "0.4", "fill": "0.3", "quality": "0.3"},
            "bands": [{"grade": "A", "min": "90", "max": "100"}, {"grade": "B", "min": "0", "max": "80"}]})
        assert row_counts(pg_hub) == before
    assert (card["on_time_rate"], card["fill_rate"], card["quality_pass_rate"]) == ("50.00", "100.00", "90.00")
    assert card["price_variance"] == "25.00" and card["received_units"] == 20
    # 0.4 x 50 + 0.3 x 100 + 0.3 x 90 = 77.00: B in the default bands
    assert (card["score"], card["grade"]) == ("77.00", "B")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert upside_down.status_code == 422 and "upside down" in upside_down.text
    assert gap.status_code == 422 and gap.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in gap.json()["errors"]] == ["bands[0].min"]
