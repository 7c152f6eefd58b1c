"""The stock and supplier KPIs through the gateway on the PostgreSQL hub, worked to the cent on a small
known scenario: turnover for a warehouse and for a category, the sales forecast of the SKU sold, the
on-time rate of one late and one on-time receipt; their workbooks; bad input a 422 problem that
changes nothing. The periods span yesterday to tomorrow, so a test across local midnight agrees."""
from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook

from hubkit import clock
from tests.e2e.helpers import order_body, quiet_row_counts, row_counts, unique, wait_settled
from tests.support.approvals import approve_through_gateway
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def test_turnover_for_a_warehouse_and_a_category_and_the_forecast_of_what_sold(pg_hub):
    wh, category = unique("WK")[:12], unique("cat").lower()
    mug, pot = unique("MUG"), unique("POT")
    today = clock.today()
    period = {"date_from": (today - timedelta(days=1)).isoformat(), "date_to": (today + timedelta(days=1)).isoformat()}
    with pg_hub.client("admin") as admin:
        _ok(admin.post("/warehouses", json={"code": wh, "name": wh, "priority": 0}))
        for sku in (mug, pot):
            _ok(admin.post("/skus", json={"code": sku, "name": sku, "category": category}))
        _ok(admin.post("/stock/receipts", json={"sku": mug, "warehouse": wh, "quantity": 10, "unit_cost": "4.00"}))
        _ok(admin.post("/stock/receipts", json={"sku": pot, "warehouse": wh, "quantity": 5, "unit_cost": "6.00"}))
        order = _ok(admin.post("/orders", json=order_body(mug, unique("SALE"), quantity=3, price="9.90")))
        assert wait_settled(admin, [order["id"]])[0]["status"] == "reserved"
        _ok(admin.post(f"/orders/{order['id']}/shipment", json={"carrier": "SF", "tracking_number": "SF9876543210"}))
        by_warehouse = wait_for(lambda: (lambda rows: rows if rows and rows[0]["cogs"] != "0.00" else None)(
            _ok(admin.get("/stock/reports/turnover", params={**period, "by": "warehouse", "warehouse": wh}))["rows"]),
            60, 0.3, "the sale in the ledger")  # the shipment issues the goods through an event
        by_sku = _ok(admin.get("/stock/reports/turnover", params={**period, "category": category}))
        by_category = _ok(admin.get("/stock/reports/turnover", params={**period, "by": "category",
                                                                       "category": category}))
        workbook = admin.get("/stock/reports/turnover.xlsx", params={**period, "by": "warehouse", "warehouse": wh})
        forecast = _ok(admin.get("/stock/reports/forecast", params={"sku": mug, "warehouse": wh, "horizon": 5,
                                                                    "history_days": 2}))
        smoothed = _ok(admin.get("/stock/reports/forecast", params={
            "category": category, "horizon": 2, "history_days": 2, "method": "exponential_smoothing", "alpha": 1}))
        forecast_book = admin.get("/stock/reports/forecast.xlsx", params={"sku": mug, "horizon": 5, "history_days": 2})

        before = quiet_row_counts(pg_hub)
        refused = [admin.get("/stock/reports/turnover", params={"date_from": period["date_to"],
                                                                "date_to": period["date_from"]}),
                   admin.get("/stock/reports/turnover", params={"date_from": "1990-01-01", "date_to": period["date_to"]}),
                   admin.get("/stock/reports/turnover", params={**period, "warehouse": "no such/form"}),
                   admin.get("/stock/reports/forecast", params={"horizon": 0}),
                   admin.get("/stock/reports/forecast", params={"horizon": 400}),
                   admin.get("/stock/reports/forecast", params={"horizon": 7, "method": "arima"}),
                   admin.get("/stock/reports/slow-movers.xlsx", params={"days": 30, "min_value": "1.234"})]
        assert row_counts(pg_hub) == before

    # the warehouse: opening 0.00; receipts 10 x 4.00 + 5 x 6.00 = 70.00, the sale 3 x 4.00 = 12.00 (FIFO)
    # -> closing 58.00; average (0 + 58) / 2 = 29.00; turnover 12 / 29 = 0.4138 -> 0.41;
    # days of supply 58 x 3 days / 12 = 14.50
    sh = {"cogs": "12.00", "opening_value": "0.00", "closing_value": "58.00", "average_value": "29.00",
          "turnover": "0.41", "days_of_supply": "14.50"}
    assert by_warehouse == [{"key": wh, **sh}]
    assert by_category["rows"] == [{"key": category, **sh}] and by_category["category"] == category
    assert by_category["total"] == sh and by_category["days"] == 3
    # per SKU in the category: the mug 28.00 left, average 14.00, 12 / 14 = 0.857 -> 0.86, 28 x 3 / 12 = 7.00;
    # the pot never sold: 0.00 and no days of supply
    assert {r["key"]: (r["turnover"], r["days_of_supply"]) for r in by_sku["rows"]} == {
        mug: ("0.86", "7.00"), pot: ("0.00", None)}
    rows = list(load_workbook(BytesIO(workbook.content)).active.iter_rows(values_only=True))
    assert rows[1] == (wh, 12, 0, 58, 29, 0.41, 14.5)
    # the forecast: 3 sold in the 2 days up to today -> 1.50 a day (moving average of the whole history)
    assert (forecast["method"], forecast["params"], forecast["horizon"]) == ("moving_average", {"window": 2}, 5)
    [row] = forecast["rows"]
    assert (sorted(row["history"]), row["history_units"], row["forecast"], row["total"]) == (
        [0, 3], 3, ["1.50"] * 5, "7.50")
    # simple exponential smoothing with alpha 1 is the last day: 3 if the sale was today (0 if yesterday)
    assert [r["sku"] for r in smoothed["rows"]] == [mug]  # the pot sold nothing: no row
    assert smoothed["params"] == {"alpha": 1.0} and smoothed["rows"][0]["total"] in ("6.00", "0.00")
    assert forecast_book.status_code == 200 and forecast_book.content[:2] == b"PK"
    for reply in refused:
        assert reply.status_code == 422 and reply.headers["content-type"] == "application/problem+json", reply.text
    assert [[e["field"] for e in r.json()["errors"]] for r in refused] == [
        ["date_to"], ["date_to"], ["query.warehouse"], ["query.horizon"], ["query.horizon"], ["method"],
        ["query.min_value"]]
    assert "upside down" in refused[0].text


def test_on_time_rate_of_one_late_and_one_on_time_receipt(pg_hub):
    wh, supplier, tea = unique("WO")[:12], unique("SUP"), unique("TEA")
    today = clock.today()
    late, on_time = (today - timedelta(days=5)).isoformat(), (today + timedelta(days=5)).isoformat()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat(),
              "supplier": supplier}
    with pg_hub.client("admin") as admin:
        _ok(admin.post("/warehouses", json={"code": wh, "name": wh, "priority": 0}))
        _ok(admin.post("/skus", json={"code": tea, "name": "Tea"}))
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Tea farm"}))
        for quantity, expected in ((4, late), (6, on_time)):
            po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
                {"sku": tea, "quantity": quantity, "unit_cost": "5.00", "expected_on": expected}]}))
            approve_through_gateway(pg_hub, po["id"])
            _ok(admin.post(f"/purchase-orders/{po['id']}/receipts", json={}))
        report = _ok(admin.get("/purchasing/on-time", params={**period, "group": "period"}))
        card = _ok(admin.get("/purchasing/scorecard", params=period))["rows"][0]
        workbook = admin.get("/purchasing/on-time.xlsx", params={**period, "group": "period"})
        before = quiet_row_counts(pg_hub)
        upside_down = admin.get("/purchasing/on-time", params={"from": period["to"], "to": period["from"]})
        unbounded = admin.get("/purchasing/on-time", params={"from": "1990-01-01", "to": period["to"]})
        unknown_group = admin.get("/purchasing/on-time", params={**period, "group": "quarter"})
        assert row_counts(pg_hub) == before

    # 6 of the 10 promised units came by their date: 60.00 %, the scorecard's rate too
    [row] = report["rows"]
    assert (row["on_time_rate"], row["promised_units"], row["on_time_units"], row["late_units"], row["late_lines"],
            row["days_late_max"], row["lines"]) == ("60.00", 10, 6, 4, 1, 5, 2)
    assert report["suppliers"] == [row] and card["on_time_rate"] == "60.00"
    sheet = list(load_workbook(BytesIO(workbook.content)).active.iter_rows(values_only=True))
    assert sheet[1] == (supplier, "Tea farm", f"{period['from']}~{period['to']}", 60, 2, 10, 6, 4, 1, 5, 0)
    for reply in (upside_down, unbounded, unknown_group):
        assert reply.status_code == 422 and reply.headers["content-type"] == "application/problem+json", reply.text
    assert "upside down" in upside_down.text and "3660" in unbounded.text
    assert unknown_group.json()["errors"] == [{"field": "group", "message": "expected one of month, week, period"}]
