"""A report's period: both ends, in order, at most so many days with both ends counted."""
from datetime import date

import pytest

from hubkit.errors import InvalidArgument, check_days


def test_a_period_of_exactly_the_longest_length_is_taken_and_one_day_more_is_not():
    assert check_days("2024-01-01", "2024-01-10", 10) == (date(2024, 1, 1), date(2024, 1, 10))
    assert check_days("2024-01-01", "2024-01-01", 1) == (date(2024, 1, 1), date(2024, 1, 1))
    with pytest.raises(InvalidArgument) as refused:
        check_days("2024-01-01", "2024-01-11", 10)
    assert refused.value.fields == [{"field": "to", "message": "a period of at most 10 days"}]


@pytest.mark.parametrize("start, end, fields", [
    ("2024-02-01", "2024-01-31", ["to"]),   # upside down
    ("", "2024-01-31", ["from"]),           # unbounded
    ("2024-01-01", "31/01/2024", ["to"]),   # not a date
    ("x", "", ["from", "to"]),
])
def test_a_bad_period_names_each_field(start, end, fields):
    with pytest.raises(InvalidArgument) as refused:
        check_days(start, end, 366)
    assert [e["field"] for e in refused.value.fields] == fields
