"""Largest-remainder allocation: the parts add up to exactly the total, to the cent."""
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit import money

amounts = st.integers(min_value=-10**13, max_value=10**13).map(lambda c: Decimal(c).scaleb(-2))
weight = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
positive = st.decimals(min_value="0.001", max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
# at least one positive weight, anywhere among the others (no filter: nothing generated is thrown away)
weights = st.tuples(positive, st.lists(weight, max_size=29), st.integers(0, 29)).map(
    lambda t: t[1][:t[2]] + [t[0]] + t[1][t[2]:])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts, weights)
def test_allocation_adds_up_exactly_and_stays_within_a_cent_of_each_share(total, ws):
    parts = money.allocate(total, ws)
    assert len(parts) == len(ws)
    assert sum(parts, Decimal("0.00")) == total
    whole = sum(Fraction(w) for w in ws)
    for part, w in zip(parts, ws):
        assert part == money.cents(part)
        assert abs(Fraction(part) - Fraction(total) * Fraction(w) / whole) < Fraction(1, 100)
        if w == 0:
            assert part == 0


def test_three_equal_weights_give_the_odd_cent_to_the_first():
    assert money.allocate("100.00", [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]


def test_the_largest_remainder_takes_the_missing_cent():
    # exact shares 0.333.., 0.666..: floors 0.33 + 0.66 = 0.99, the larger remainder (0.666..) takes it
    assert money.allocate("1.00", ["1", "2"]) == [Decimal("0.33"), Decimal("0.67")]
    assert money.allocate("-1.00", ["1", "2"]) == [Decimal("-0.33"), Decimal("-0.67")]


@pytest.mark.parametrize("ws", [[], [0, 0], [1, -1]])
def test_weights_that_cannot_share_are_refused(ws):
    with pytest.raises(ValueError):
        money.allocate("10.00", ws)
