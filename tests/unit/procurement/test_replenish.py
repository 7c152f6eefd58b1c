"""Replenishment that follows demand: velocity, rounding, netting, the terms, demand rules."""
from datetime import date, timedelta

import pytest

from hubkit.errors import InvalidArgument
from services.procurement import demand, replenish
from services.procurement.replenish import Position, Terms

TODAY = date(2026, 12, 6)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def test_velocity_leaves_the_days_out_of_stock_out():
    sales = {days_ago(n): 10 for n in range(20)}           # 10 a day for the last 20 days
    stocked_out = {days_ago(n) for n in range(20, 30)}     # nothing to sell the 10 days before
    v, counted, out = replenish.velocity(sales, stocked_out, TODAY, 30)
    assert (v, counted, out) == (10.0, 20, 10)
    # counted over the whole window, the same sales would look like two thirds of the demand
    assert replenish.velocity(sales, set(), TODAY, 30)[0] == pytest.approx(200 / 30)


def test_the_day_a_sku_sold_out_counts_the_days_after_do_not():
    sales = {days_ago(3): 12, days_ago(2): 8}                  # sold out two days ago, nothing since
    stocked_out = {days_ago(2), days_ago(1), TODAY}
    assert replenish.velocity(sales, stocked_out, TODAY, 4) == (10.0, 2, 2)


def test_velocity_counts_today_and_nothing_before_the_window():
    sales = {TODAY: 30, days_ago(30): 1000}
    assert replenish.velocity(sales, set(), TODAY, 30)[0] == 1.0
    assert replenish.velocity({}, {days_ago(n) for n in range(30)}, TODAY, 30) == (0.0, 0, 30)


@pytest.mark.parametrize("need, moq, multiple, expected", [
    (0, 50, 12, 0), (-3, 1, 1, 0), (7, 1, 1, 7), (7, 50, 1, 50), (51, 50, 12, 60), (48, 10, 12, 48),
    (49, 10, 12, 60), (5, 30, 25, 50),
])
def test_order_rounds_up_to_the_minimum_then_the_multiple(need, moq, multiple, expected):
    assert replenish.round_order(need, moq, multiple) == expected


def test_open_orders_and_goods_in_transit_are_netted():
    terms = Terms(lead_time_days=10, review_period_days=5, safety_stock=20)
    bare = replenish.plan(Position(available=30), terms, 10.0)
    assert bare["basis"] == "velocity" and bare["target"] == 170 and bare["quantity"] == 140
    netted = replenish.plan(Position(available=30, on_order=60, in_transit=25), terms, 10.0)
    assert netted["net_position"] == 115 and netted["quantity"] == 55
    assert netted["days_of_cover"] == 3.0 and netted["reorder_point"] == 120


def test_nothing_is_suggested_when_the_position_covers_the_reorder_point():
    terms = Terms(lead_time_days=10, safety_stock=20)
    assert replenish.plan(Position(available=80, on_order=41), terms, 10.0)["quantity"] == 0


def test_minimum_maximum_applies_without_sales_and_the_highest_target_wins():
    zero = replenish.plan(Position(available=0, minimum=5, maximum=40), Terms(), 0.0)
    assert (zero["basis"], zero["quantity"], zero["days_of_cover"]) == ("minimum_maximum", 40, None)
    ruled = replenish.plan(Position(available=0, minimum=5, maximum=40), Terms(order_multiple=25), 0.0,
                           {"rule": "fast", "quantity": 90.2})
    assert ruled["basis"] == "rule:fast" and ruled["target"] == 91 and ruled["quantity"] == 100
    assert [c["basis"] for c in ruled["candidates"]] == ["minimum_maximum", "rule:fast"]
    assert ruled["rounding"] == "need 91 -> at least 1, a multiple of 25"


@pytest.mark.parametrize("field, value", [("lead_time_days", -1), ("min_order_quantity", 0),
                                          ("order_multiple", 0), ("window_days", 0), ("safety_stock", -5),
                                          ("promotion_factor", -0.5)])
def test_bad_terms_are_refused_by_field(field, value):
    with pytest.raises(InvalidArgument) as caught:
        Terms(**{field: value}).check()
    assert caught.value.fields[0]["field"] == field


FACTS = dict(sku="A", warehouse="W1", available=300, on_order=0, in_transit=0, net_position=300,
             days_out_of_stock=0, sales_window=1800, lead_time_days=7, safety_stock=0)


def test_the_default_demand_rule_suggests_the_forecast_of_a_fast_mover_running_out():
    rule_set = demand.default_rule_set()
    fired, decision = demand.decide(rule_set, {**FACTS, "average_daily_sales": 60, "days_of_cover": 5,
                                               "forecast": 1800})
    assert fired == {"rule": "fast-mover-low-cover", "quantity": 1800.0}
    assert decision.trace[0]["facts"] == {"average_daily_sales": "60", "days_of_cover": "5"}
    slow, _ = demand.decide(rule_set, {**FACTS, "average_daily_sales": 40, "days_of_cover": 5, "forecast": 1200})
    covered, _ = demand.decide(rule_set, {**FACTS, "average_daily_sales": 60, "days_of_cover": 20, "forecast": 1800})
    assert slow is None and covered is None


@pytest.mark.parametrize("document, field", [
    ("name: x\nrules:\n- id: a\n  when: velocity > 3\n  actions: [{kind: suggest, quantity: forecast}]",
     "rules[0].when"),
    ("name: x\nrules:\n- id: a\n  when: forecast > 3\n  actions: [{kind: suggest, quantity: sku}]",
     "rules[0].actions[0].quantity"),
    ("name: x\nrules:\n- id: a\n  when: forecast > 3\n  actions: [{kind: hold, reason: fraud}]",
     "rules[0].actions[0].kind"),
    ("name: x\nrules:\n- id: a\n  when: forecast > 3\n  actions: [{kind: suggest}]", "rules.[0].actions.[0]"),
    ("name: x\nparameters: {window_days: 0}\nrules: []", "parameters.window_days"),
    ("name: x\nparameters: {method: prophet}\nrules: []", "parameters.method"),
])
def test_a_bad_demand_rule_set_is_refused_with_the_field_at_fault(document, field):
    with pytest.raises(InvalidArgument) as caught:
        demand.compile_document(document)
    assert any(e["field"].replace(".[", "[").startswith(field.replace(".[", "[")) for e in caught.value.fields), \
        caught.value.fields
