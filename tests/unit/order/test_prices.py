"""Price lists: which list and line applies (scope, quantity breaks, validity edges), and why; a list checked whole."""
from datetime import date
from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.order.prices import checked, resolve

DAY = date(2026, 6, 15)


def pl(code, lines, channel="", tier="", start="", end="", currency=""):
    return checked(code, f"list {code}", currency, channel, tier, start, end, lines, "CNY")


LISTS = [
    pl("BASE", [("TEA", "100.00", 1), ("TEA", "90.00", 10), ("TEA", "80.00", 100)]),
    pl("VIP", [("TEA", "95.00", 1)], tier="vip"),
    pl("TB", [("TEA", "98.00", 1), ("TEA", "88.00", 20)], channel="taobao"),
    pl("TB-VIP", [("TEA", "93.00", 5)], channel="taobao", tier="vip"),
]


@pytest.mark.parametrize("channel,tier,qty,code,price,scope", [
    ("jd", "", 1, "BASE", "100.00", "any"),
    ("jd", "", 10, "BASE", "90.00", "any"),            # a quantity break at exactly its minimum
    ("jd", "", 99, "BASE", "90.00", "any"),
    ("jd", "", 100, "BASE", "80.00", "any"),
    ("jd", "vip", 100, "VIP", "95.00", "tier"),        # tier over none, even against a bigger break
    ("taobao", "vip", 1, "TB", "98.00", "channel"),    # channel over tier; TB-VIP only from 5
    ("taobao", "vip", 5, "TB-VIP", "93.00", "tier_and_channel"),
    ("taobao", "", 20, "TB", "88.00", "channel"),
])
def test_the_most_specific_list_then_the_highest_quantity_break(channel, tier, qty, code, price, scope):
    found = resolve(LISTS, "TEA", channel, tier, qty, DAY)
    assert found is not None
    assert (found.price_list.code, str(found.line.unit_price), found.scope) == (code, price, scope)
    assert code in found.explanation and price in found.explanation


def test_the_explanation_names_the_list_the_line_and_what_it_won_over():
    found = resolve(LISTS, "TEA", "taobao", "vip", 20, DAY)
    assert found is not None
    assert "TB-VIP" in found.explanation and "from 5 unit(s)" in found.explanation
    assert "most specific list wins" in found.explanation
    assert found.considered[0].startswith("TB-VIP") and len(found.considered) == 6


def test_validity_days_are_inclusive_and_a_later_list_wins_among_equals():
    lists = [pl("SPRING", [("TEA", "70.00", 1)], start="2026-03-01", end="2026-05-31"),
             pl("ALWAYS", [("TEA", "100.00", 1)]),
             pl("JUNE", [("TEA", "60.00", 1)], start="2026-06-01")]
    def code(day):
        found = resolve(lists, "TEA", "jd", "", 1, day)
        return found.price_list.code if found else None
    assert code(date(2026, 2, 28)) == "ALWAYS"
    assert code(date(2026, 3, 1)) == "SPRING"     # from its first day
    assert code(date(2026, 5, 31)) == "SPRING"    # to its last day
    assert code(date(2026, 6, 1)) == "JUNE"       # two in force, equally specific: the one valid from later
    assert resolve(lists, "CUP", "jd", "", 1, DAY) is None


def test_no_list_in_force_no_price():
    assert resolve([pl("OLD", [("TEA", "1.00", 1)], end="2026-01-01")], "TEA", "jd", "", 1, DAY) is None
    assert resolve([pl("TB", [("TEA", "1.00", 1)], channel="taobao")], "TEA", "jd", "", 1, DAY) is None
    assert resolve([pl("Q", [("TEA", "1.00", 10)])], "TEA", "jd", "", 9, DAY) is None


def test_a_list_is_checked_whole_and_every_field_at_fault_named():
    with pytest.raises(InvalidArgument) as exc:
        checked("bad/code", "", "XYZ", "", "", "2026-02-30", "", [
            ("TEA", "0", 1), ("TEA", "1.005", 2), ("", "5", 1), ("CUP", "2.00", 3), ("CUP", "3.00", 3)], "CNY")
    fields = {f["field"] for f in exc.value.fields}
    assert fields == {"code", "name", "currency", "valid_from", "lines[0].unit_price", "lines[1].unit_price",
                      "lines[2].sku", "lines[4].min_quantity"}
    with pytest.raises(InvalidArgument) as exc:
        checked("L", "n", "", "", "", "2026-02-01", "2026-01-31", [], "CNY")
    assert {f["field"] for f in exc.value.fields} == {"valid_to", "lines"}


def test_currency_defaults_to_the_books_and_no_minimum_is_one():
    got = checked("L", "n", "", "", "", "", "", [("TEA", "12.5", 0)], "EUR")
    assert got.currency == "EUR" and got.lines[0].min_quantity == 1 and got.lines[0].unit_price == Decimal("12.5")
