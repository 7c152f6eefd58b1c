"""Replenishment that follows demand (issue 15), through the gateway: the seeds' demand rule suggests
a fast mover's forecast with its terms, a purchase order covering part of it leaves the rest, the
rest becomes a purchase order in one call; limits set on a SKU at zero stock suggest at once; bad
input is a 4xx that changes nothing."""
from __future__ import annotations

import math

import pytest

from tests.e2e.helpers import order_body, quiet_row_counts, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def _suggestion(admin, sku: str, warehouse: str, what: str, check=lambda g: True) -> dict:
    def found():
        for g in admin.get("/purchasing/suggestions", params={"warehouse": warehouse, "status": "open"}).json()[
                "suggestions"]:
            if g["sku"] == sku and check(g):
                return g
        return None
    return wait_for(found, 60, 0.3, what)


def test_the_demand_rule_suggests_the_forecast_and_a_partial_order_leaves_the_rest(pg_hub):
    wh, sku, supplier = unique("WR")[:12], unique("FAST"), unique("SUP")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, wh, quantity=1700, cost="0.50")
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Supplier"}))
        order = _ok(admin.post("/orders", json=order_body(sku, unique("EXT"), quantity=1600, price="1.00")))
        assert wait_settled(admin, [order["id"]])[0]["status"] == "reserved"
        _ok(admin.post(f"/orders/{order['id']}/shipment", json={"carrier": "SF", "tracking_number": "SF1515"}))
        # 1600 sold today: 53.3 a day over 30 days, 100 left cover 1.9 days -> the forecast of 30 days (1600)
        g = _suggestion(admin, sku, wh, "the demand rule's suggestion", lambda g: g["basis"] and "rule" in g["basis"])
        terms = g["terms"]
        assert g["basis"] == "rule:fast-mover-low-cover" and terms["rules"]["matched"] == "fast-mover-low-cover"
        assert terms["velocity"] == pytest.approx(1600 / 30, abs=1e-3) and terms["available"] == 100
        assert terms["days_of_cover"] == pytest.approx(100 / (1600 / 30), abs=0.01)
        assert terms["forecast"]["method"] == "moving_average" and terms["forecast"]["units"] == pytest.approx(1600)
        assert terms["target"] == math.ceil(terms["forecast"]["units"] - 1e-9) == 1600
        assert (terms["net_position"], terms["need"], g["quantity"]) == (100, 1500, 1500)
        assert {c["basis"] for c in terms["candidates"]} == {"velocity", "rule:fast-mover-low-cover"}
        trace = terms["rules"]["trace"][0]
        assert trace["matched"] and set(trace["facts"]) == {"average_daily_sales", "days_of_cover"}

        # a purchase order for 600 leaves 900 suggested, saying which order took the rest
        po = _ok(admin.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
            {"sku": sku, "quantity": 600, "unit_cost": "0.45"}]}))
        rest = _suggestion(admin, sku, wh, "the rest suggested", lambda g: g["quantity"] == 900)
        assert rest["id"] == g["id"] and rest["terms"]["covered"] == [
            {"purchase_order_id": po["id"], "quantity": 600, "rest": 900}]

        # the rest as a purchase order in one call: the last supplier and price
        draft = _ok(admin.post("/purchasing/suggestions/purchase-order", json={"warehouse": wh, "supplier": supplier,
                                                                              "skus": [sku]}), 201)
        assert draft["supplier"] == supplier and [(l["sku"], l["quantity"], l["unit_cost"]) for l in draft["lines"]] \
            == [(sku, 900, "0.450000")]
        ordered = [x for x in admin.get("/purchasing/suggestions", params={"warehouse": wh}).json()["suggestions"]
                   if x["id"] == g["id"]]
        assert ordered[0]["status"] == "ordered" and ordered[0]["purchase_order_id"] == draft["id"]


def test_limits_set_on_a_sku_at_zero_stock_suggest_at_once(pg_hub):
    wh, sku = unique("WZ")[:12], unique("ZERO")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, wh)
        _ok(admin.put("/stock/limits", json={"sku": sku, "warehouse": wh, "minimum": 5, "maximum": 40}))
        g = _suggestion(admin, sku, wh, "a suggestion without any stock movement")
        assert (g["basis"], g["quantity"], g["available"], g["minimum"], g["maximum"]) == (
            "minimum_maximum", 40, 0, 5, 40)
        # terms in whole cases of 12, at least 50: the next evaluation rounds the need
        plan = _ok(admin.put(f"/purchasing/replenishment/{sku}/{wh}", json={
            "lead_time_days": 3, "min_order_quantity": 50, "order_multiple": 12}))
        assert plan["suggestion"]["quantity"] == 60 and plan["plan"]["rounding"] == (
            "need 40 -> at least 50, a multiple of 12")
        assert plan["suggestion"]["terms"]["terms"]["lead_time_days"] == 3


def test_bad_replenishment_input_is_refused_and_changes_nothing(pg_hub):
    wh, sku = unique("WB")[:12], unique("BAD")
    with pg_hub.client("admin") as admin:
        stock_sku(admin, sku, wh)
        rules_before = _ok(admin.get("/purchasing/demand-rules"))
        before = quiet_row_counts(pg_hub)
        unknown_sku = admin.put(f"/purchasing/replenishment/{unique('NOPE')}/{wh}", json={"lead_time_days": 3})
        negative = admin.put(f"/purchasing/replenishment/{sku}/{wh}", json={"lead_time_days": -1})
        unknown_supplier = admin.put(f"/purchasing/replenishment/{sku}/{wh}", json={"supplier": unique("NOSUP")})
        bad_rule = admin.put("/purchasing/demand-rules", json={"document": {"name": "x", "rules": [
            {"id": "r", "when": "velocity > 3", "actions": [{"kind": "suggest", "quantity": "forecast"}]}]}})
        bad_quantity = admin.put("/purchasing/demand-rules", json={"document": "name: x\nrules:\n- id: r\n"
                                 "  when: forecast > 3\n  actions: [{kind: suggest, quantity: sku}]"})
        nothing_to_order = admin.post("/purchasing/suggestions/purchase-order",
                                      json={"warehouse": wh, "supplier": unique("S")})
        after = row_counts(pg_hub)
        rules_after = _ok(admin.get("/purchasing/demand-rules"))
    for reply in (unknown_sku, negative, unknown_supplier, bad_rule, bad_quantity, nothing_to_order):
        assert 400 <= reply.status_code < 500, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")
    assert negative.status_code == 422 and bad_rule.status_code == 422 and bad_quantity.status_code == 422
    assert [e["field"] for e in bad_rule.json()["errors"]] == ["rules[0].when"]
    assert [e["field"] for e in bad_quantity.json()["errors"]] == ["rules[0].actions[0].quantity"]
    assert after == before and rules_after == rules_before
