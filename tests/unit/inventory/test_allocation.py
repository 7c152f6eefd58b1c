"""Smart allocation as a pure function (services/inventory/allocation.py): candidates from the
coverage table and shop restrictions, one parcel when one warehouse covers the order, else the
fewest parcels, and the explanation of each."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.inventory.allocation import (
    LINE_SPLIT,
    NO_SINGLE_WAREHOUSE,
    Line,
    Rules,
    allocate,
    candidates,
    region_of,
    urgency,
)

A, B, C = Line(1, "A", 2), Line(2, "B", 1), Line(3, "C", 1)


def ranked(*codes: str) -> list[tuple[str, str]]:
    return [(c, "default") for c in codes]


def test_one_warehouse_covering_every_line_is_chosen_although_another_comes_first_for_a_line():
    free = {"A": {"W1": 5, "W2": 2}, "B": {"W2": 1}}
    d = allocate([A, B], ranked("W1", "W2"), free)
    assert d.chosen == ["W2"] and d.parcels == 1 and d.split_reason is None
    assert d.plan == {1: [("W2", 2)], 2: [("W2", 1)]}
    assert d.reason == "W2: one parcel, the most preferred that covers all lines (W1 lacks B)"
    assert d.candidates == [
        {"warehouse": "W1", "rank": 1, "source": "default", "covers": [1], "lacks": ["B"]},
        {"warehouse": "W2", "rank": 2, "source": "default", "covers": [1, 2], "lacks": []}]
    assert free == {"A": {"W1": 5, "W2": 2}, "B": {"W2": 1}}  # read, not changed


def test_the_most_preferred_of_several_covering_warehouses_wins():
    free = {"A": {"W1": 9, "W2": 9, "W3": 9}, "B": {"W1": 9, "W2": 9, "W3": 9}}
    assert allocate([A, B], ranked("W3", "W1", "W2"), free).chosen == ["W3"]
    assert allocate([A, B], ranked("W3", "W1", "W2"), free).reason == "W3: one parcel, the most preferred"


def test_two_lines_of_one_sku_count_together():
    free = {"A": {"W1": 3, "W2": 4}}
    d = allocate([Line(1, "A", 2), Line(2, "A", 2)], ranked("W1", "W2"), free)
    assert d.chosen == ["W2"] and d.candidates[0]["lacks"] == ["A"]


def test_fewest_parcels_when_no_warehouse_covers_all():
    # W1 has A, W2 has B, W3 has B and C: greedy takes W3 first (two lines), then W1: two parcels, not three
    free = {"A": {"W1": 2}, "B": {"W2": 1, "W3": 1}, "C": {"W3": 1}}
    d = allocate([A, B, C], ranked("W1", "W2", "W3"), free)
    assert d.chosen == ["W3", "W1"] and d.parcels == 2
    assert d.split_reason == NO_SINGLE_WAREHOUSE
    assert d.plan == {1: [("W1", 2)], 2: [("W3", 1)], 3: [("W3", 1)]}
    assert d.reason == "split: no single warehouse covers A, B, C; fewest parcels = 2 (W3: B, C; W1: A)"


def test_a_line_larger_than_any_warehouse_is_split_taking_first_from_the_chosen_warehouse():
    # B fits W2 whole; A (3) fits nowhere: W2's 1 first (already a parcel), then W1's 2
    free = {"A": {"W1": 2, "W2": 1}, "B": {"W2": 1}}
    d = allocate([Line(1, "A", 3), B], ranked("W1", "W2"), free)
    assert d.plan == {2: [("W2", 1)], 1: [("W2", 1), ("W1", 2)]}
    assert d.chosen == ["W2", "W1"] and d.split_reason == LINE_SPLIT
    assert d.reason.startswith("split: no single warehouse has all the units of A; fewest parcels = 2")
    assert d.backordered == []


def test_what_no_warehouse_has_is_backordered_and_said():
    free = {"A": {"W1": 2}}
    d = allocate([A, B], ranked("W1", "W2"), free)
    assert d.chosen == ["W1"] and d.split_reason is None and d.backordered == [2]
    assert d.plan == {1: [("W1", 2)], 2: []}
    assert d.reason == "W1: one parcel, the most preferred with stock; short: B backordered"
    nothing = allocate([A], ranked("W1"), {})
    assert nothing.chosen == [] and nothing.backordered == [1] and nothing.reason.startswith("backordered")


RULES = Rules(coverage={("Zhejiang", "Hangzhou"): ["HZ"], ("Zhejiang", ""): ["SH", "HZ"], ("", ""): ["BJ", "SH"]},
              shops={("jd", "jd-flagship"): ["BJ"], ("tmall", ""): ["HZ", "XX"]},
              warehouses=["BJ", "SH", "HZ", "XX"])


def test_city_rows_come_before_the_province_and_the_default():
    assert candidates(RULES, "Zhejiang", "Hangzhou", "web", "s1") == [
        ("HZ", "city"), ("SH", "province"), ("BJ", "default")]
    assert candidates(RULES, "Zhejiang", "Ningbo", "web", "s1") == [("SH", "province"), ("HZ", "province"),
                                                                    ("BJ", "default")]
    assert candidates(RULES, "Hebei", "", "web", "s1") == [("BJ", "default"), ("SH", "default")]
    # a city of another province with the same name does not match
    assert candidates(RULES, "Jiangsu", "Hangzhou", "web", "s1")[0] == ("BJ", "default")


def test_without_coverage_every_warehouse_by_priority():
    assert candidates(Rules(warehouses=["W1", "W2"]), "Zhejiang", "Hangzhou", "web", "s") == [
        ("W1", "priority"), ("W2", "priority")]


def test_region_preference_decides_between_warehouses_that_both_cover():
    free = {"A": {"HZ": 5, "SH": 5, "BJ": 5}}
    assert allocate([A], candidates(RULES, "Zhejiang", "Hangzhou", "web", "s"), free).chosen == ["HZ"]
    assert allocate([A], candidates(RULES, "Zhejiang", "Ningbo", "web", "s"), free).chosen == ["SH"]


def test_a_shop_restriction_keeps_only_its_warehouses():
    # jd-flagship ships only from BJ, although Hangzhou prefers HZ and HZ has the stock
    assert candidates(RULES, "Zhejiang", "Hangzhou", "jd", "jd-flagship") == [("BJ", "default")]
    free = {"A": {"HZ": 5, "BJ": 1}}
    d = allocate([A], candidates(RULES, "Zhejiang", "Hangzhou", "jd", "jd-flagship"), free)
    # BJ has 1 of 2: that one reserved, the rest backordered; never a unit from HZ
    assert d.plan == {1: [("BJ", 1)]} and d.backordered == [1]
    # a channel-wide restriction; kept in the region's order where it overlaps, else the shop's own
    assert candidates(RULES, "Zhejiang", "Ningbo", "tmall", "any") == [("HZ", "province")]
    assert candidates(RULES, "Hebei", "", "tmall", "any") == [("HZ", "shop"), ("XX", "shop")]
    assert candidates(RULES, "Hebei", "", "jd", "other-shop") == [("BJ", "default"), ("SH", "default")]


def test_a_shop_restriction_without_coverage_rows_is_the_shops_own_order():
    rules = Rules(shops={("jd", "x"): ["W3", "W1"]}, warehouses=["W1", "W2", "W3"])
    assert candidates(rules, "Hebei", "", "jd", "x") == [("W3", "shop"), ("W1", "shop")]


def test_region_of_an_address():
    assert region_of({"province": " Zhejiang ", "city": "Hangzhou", "street": "x"}) == ("Zhejiang", "Hangzhou")
    assert region_of({}) == ("", "") and region_of(None) == ("", "")


def test_urgency_priority_then_promised_ship_by_then_arrival():
    now = datetime(2026, 12, 6, tzinfo=timezone.utc)
    orders = [(0, None, 0), (0, now + timedelta(hours=2), 1), (5, None, 2), (0, now, 3), (5, now, 4)]
    assert [o[2] for o in sorted(orders, key=lambda o: urgency(*o))] == [4, 2, 3, 1, 0]
