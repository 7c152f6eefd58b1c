from datetime import date
from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.procurement import scorecard as sc

DEFAULT = sc.parse_config(sc.DEFAULT_CONFIG)


def _bands(*bands):
    return {"weights": sc.DEFAULT_CONFIG["weights"],
            "bands": [{"grade": g, "min": lo, "max": hi} for g, lo, hi in bands]}


def _fields(exc_info) -> dict:
    return {f["field"]: f["message"] for f in exc_info.value.fields}


def test_the_card_measures_on_time_fill_quality_price_and_lead_time():
    received = [
        # 10 on time at 11.00 (last paid 10.00), 30 late at 10.00 (last 10.00), 5 without a promised date
        sc.Received(10, date(2026, 3, 5), date(2026, 3, 1), date(2026, 3, 5), Decimal("11.00"), Decimal("10.00")),
        sc.Received(30, date(2026, 3, 9), date(2026, 3, 1), date(2026, 3, 6), Decimal("10.00"), Decimal("10.00")),
        sc.Received(5, date(2026, 3, 10), date(2026, 3, 7), None, Decimal("2.00"), None),
    ]
    due = [sc.Due(ordered=40, received=40), sc.Due(ordered=20, received=5), sc.Due(ordered=40, received=0)]
    card = sc.card(DEFAULT, received, due, [(8, 2), (30, 0)])
    assert card["on_time_rate"] == Decimal("25.00")           # 10 of the 40 promised units
    assert card["fill_rate"] == Decimal("45.00")              # 45 of 100 due
    assert card["quality_pass_rate"] == Decimal("95.00")      # 38 of 40 inspected
    assert card["price_variance"] == Decimal("2.50")          # 10 x 1.00 more on 400.00 at the last prices
    assert card["lead_time_days"] == Decimal("5.0")           # (4 + 8 + 3) / 3
    # 0.4 x 25 + 0.3 x 45 + 0.3 x 95 = 52.00: band D
    assert (card["score"], card["grade"]) == (Decimal("52.00"), "D")
    assert (card["received_units"], card["inspected_units"]) == (45, 40)


def test_what_cannot_be_measured_is_none_and_its_weight_is_shared_out():
    received = [sc.Received(4, date(2026, 3, 2), date(2026, 3, 1), date(2026, 3, 2), Decimal("1.00"), None)]
    card = sc.card(DEFAULT, received, [sc.Due(4, 4)], [])
    assert card["quality_pass_rate"] is None and card["price_variance"] is None
    assert (card["on_time_rate"], card["fill_rate"], card["score"], card["grade"]) == (
        Decimal("100.00"), Decimal("100.00"), Decimal("100.00"), "A")
    empty = sc.card(DEFAULT, [], [], [])
    assert (empty["score"], empty["grade"], empty["lead_time_days"]) == (None, "", None)


@pytest.mark.parametrize("score, expected", [
    ("0", "D"), ("59.99", "D"), ("60", "C"), ("74.99", "C"), ("75", "B"), ("90", "A"), ("100", "A")])
def test_a_score_gets_the_band_it_falls_in_min_included_max_excluded_but_100(score, expected):
    assert sc.grade(DEFAULT, Decimal(score)) == expected


def test_bands_that_overlap_are_refused_naming_the_band():
    with pytest.raises(InvalidArgument) as bad:
        sc.parse_config(_bands(("A", "80", "100"), ("B", "50", "85"), ("C", "0", "50")))
    assert "overlaps band B" in _fields(bad)["bands[0].min"]


def test_bands_that_leave_a_gap_are_refused_at_either_end_or_between():
    with pytest.raises(InvalidArgument) as between:
        sc.parse_config(_bands(("A", "90", "100"), ("B", "0", "80")))
    assert _fields(between) == {"bands[0].min": "the bands leave a gap from 80 to 90"}
    with pytest.raises(InvalidArgument) as ends:
        sc.parse_config(_bands(("A", "10", "95")))
    assert set(_fields(ends)) == {"bands[0].min", "bands[0].max"}


def test_weights_must_add_up_to_one_and_grades_be_distinct_and_bands_not_empty():
    doc = _bands(("A", "50", "100"), ("A", "0", "50"))
    doc["weights"] = {"on_time": "0.5", "fill": "0.5", "quality": "0.5"}
    with pytest.raises(InvalidArgument) as bad:
        sc.parse_config(doc)
    assert set(_fields(bad)) == {"weights", "bands[1].grade"}
    with pytest.raises(InvalidArgument) as shapes:
        sc.parse_config({"weights": {"on_time": 1}, "bands": [{"grade": "A", "min": 0, "max": 100, "x": 1}]})
    assert {"weights.fill", "weights.quality", "bands.0.x"} <= set(_fields(shapes))
    with pytest.raises(InvalidArgument):
        sc.parse_config("{not json")


def test_a_period_is_two_dates_the_first_not_after_the_second():
    assert sc.check_period("2026-03-01", "2026-03-31") == (date(2026, 3, 1), date(2026, 3, 31))
    with pytest.raises(InvalidArgument) as upside_down:
        sc.check_period("2026-04-01", "2026-03-01")
    assert "upside down" in _fields(upside_down)["to"]
    with pytest.raises(InvalidArgument) as missing:
        sc.check_period("", "2026-13-01")
    assert set(_fields(missing)) == {"from", "to"}
