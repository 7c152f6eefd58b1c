"""The paid amount allocated to returned units (domain.returned_amounts, what an RMA's refund credits):
the cumulative share, so a line's returns, in any pieces, add up to exactly what was paid for it, each
piece within a cent of its proportional value and never negative."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from services.order import domain

D = Decimal


def _returned(amount: Decimal, quantity: int, pieces: list[int]) -> list[dict]:
    line, out = SimpleNamespace(amount=amount, quantity=quantity, returned_quantity=0), []
    for piece in pieces:
        out.append(domain.returned_amounts(line, piece))
        line.returned_quantity += piece
    return out


def test_three_single_unit_returns_of_100_for_3_credit_33_33_33_34_33_33():
    got = _returned(D("100.00"), 3, [1, 1, 1])
    assert [g["amount"] for g in got] == [D("33.33"), D("33.34"), D("33.33")]
    assert [g["amount_returned_before"] for g in got] == [D("0.00"), D("33.33"), D("66.67")]


def test_two_of_three_units_of_99_99_credit_66_66():
    assert _returned(D("99.99"), 3, [2])[0]["amount"] == D("66.66")


@st.composite
def _line_and_pieces(draw):
    quantity = draw(st.integers(1, 40))
    cents = draw(st.integers(0, 10_000_000))
    pieces, left = [], quantity
    while left:
        piece = draw(st.integers(1, left))
        pieces.append(piece)
        left -= piece
    return D(cents) / 100, quantity, pieces


@given(_line_and_pieces())
def test_returns_in_any_pieces_add_up_to_exactly_what_was_paid(case):
    amount, quantity, pieces = case
    got = _returned(amount, quantity, pieces)
    assert sum((g["amount"] for g in got), D("0")) == amount
    for piece, g in zip(pieces, got):
        assert g["amount"] >= 0 and g["amount"] == g["amount"].quantize(D("0.01"))
        assert abs(g["amount"] - amount * piece / quantity) <= D("0.01")
