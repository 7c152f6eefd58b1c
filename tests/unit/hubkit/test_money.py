from decimal import Decimal

import pytest

from hubkit import money


def test_cents_round_half_up():
    assert money.cents("2.345") == Decimal("2.35")
    assert money.cents("2.344") == Decimal("2.34")
    assert money.cents("-2.345") == Decimal("-2.35")


def test_vat_split_per_line_keeps_gross_exact():
    net, tax = money.split_vat("113.00", "0.13")
    assert (net, tax) == (Decimal("100.00"), Decimal("13.00"))
    net, tax = money.split_vat("19.90", "0.13")
    assert net == Decimal("17.61") and net + tax == Decimal("19.90")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        money.to_decimal(0.1)


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity"])
def test_non_amounts_are_refused(value):
    with pytest.raises(ValueError):
        money.to_decimal(value)


@pytest.mark.parametrize("value", ["0", "19.90", "-3.05", "123456789.123456789", "0.000000001"])
def test_units_nanos_round_trip(value):
    assert money.from_units_nanos(*money.to_units_nanos(value)) == Decimal(value)


def test_units_and_nanos_must_share_a_sign():
    with pytest.raises(ValueError):
        money.from_units_nanos(1, -5)


def test_unit_cost_keeps_six_places():
    assert money.unit_cost("1.23456789") == Decimal("1.234568")


def test_shares_taken_cumulatively_add_up_to_the_total():
    # 3 units paid 100.00 together: 33.33 + 33.34 + 33.33, never more than paid
    cumulative = [money.share("100.00", n, 3) for n in range(4)]
    assert [b - a for a, b in zip(cumulative, cumulative[1:])] == [Decimal("33.33"), Decimal("33.34"), Decimal("33.33")]
    assert money.share("100.00", 3, 3) == Decimal("100.00")


@pytest.mark.parametrize("units, of", [(-1, 3), (4, 3), (0, 0)])
def test_a_share_of_units_that_do_not_exist_is_refused(units, of):
    with pytest.raises(ValueError):
        money.share("1.00", units, of)


def test_an_amount_in_another_currency_is_converted_to_the_cent():
    assert money.convert("10.00", "7.1234") == Decimal("71.23")
    assert money.convert("20.00", "7.1234") == Decimal("142.47")  # 142.468, half-up
    assert money.convert("1000", "0.04781234") == Decimal("47.81")


@pytest.mark.parametrize("rate", ["0", "-7.1", "7.123456789", "1000000", "abc"])
def test_an_exchange_rate_is_positive_with_at_most_eight_decimals(rate):
    with pytest.raises(ValueError):
        money.exchange_rate(rate)
