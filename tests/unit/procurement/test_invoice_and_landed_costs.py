"""The supplier invoice's three-way match and landed cost allocation, to the cent."""
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubkit.errors import InvalidArgument
from services.procurement import domain

OPEN = {1: domain.OpenReceiptLine(line_no=1, sku="TEA", unit_cost=Decimal("10.000000"), vat_rate=Decimal("0.1300"),
                                  uninvoiced=10),
        2: domain.OpenReceiptLine(line_no=2, sku="CUP", unit_cost=Decimal("3.330000"), vat_rate=Decimal("0.0900"),
                                  uninvoiced=3)}


def _fields(exc) -> set[str]:
    return {f["field"] for f in exc.value.fields}


def test_invoice_at_another_price_within_tolerance_carries_the_difference():
    matched = domain.match_invoice(OPEN, [domain.InvoiceLineInput(1, 10, "10.40"), domain.InvoiceLineInput(2, 3, "3.33")])
    tea, cup = matched
    assert (tea.provisional, tea.amount, tea.tax, tea.difference) == (
        Decimal("100.00"), Decimal("104.00"), Decimal("13.52"), Decimal("4.00"))
    assert (cup.provisional, cup.amount, cup.tax, cup.difference) == (
        Decimal("9.99"), Decimal("9.99"), Decimal("0.90"), Decimal("0.00"))


def test_invoice_outside_tolerance_or_beyond_what_was_received_is_refused_with_every_field():
    with pytest.raises(InvalidArgument) as exc:
        domain.match_invoice(OPEN, [domain.InvoiceLineInput(1, 10, "10.51"), domain.InvoiceLineInput(2, 4, "3.33"),
                                    domain.InvoiceLineInput(7, 1, "1.00")])
    assert _fields(exc) == {"lines[0].unit_price", "lines[1].quantity", "lines[2].line_no"}


@pytest.mark.parametrize("price", ["-1.00", "abc", ""])
def test_invoice_price_that_is_no_amount_is_refused(price):
    with pytest.raises(InvalidArgument) as exc:
        domain.match_invoice(OPEN, [domain.InvoiceLineInput(1, 1, price)])
    assert _fields(exc) == {"lines[0].unit_price"}


def test_a_tighter_tolerance_refuses_what_the_default_accepts():
    line = [domain.InvoiceLineInput(1, 10, "10.40")]
    with pytest.raises(InvalidArgument):
        domain.match_invoice(OPEN, line, tolerance=Decimal("0.01"))


def test_landed_cost_by_value_quantity_and_weight():
    lines = [domain.ReceiptLineBasis(1, 3, Decimal("100.00"), Decimal("1.5")),
             domain.ReceiptLineBasis(2, 3, Decimal("200.00"), Decimal("0"))]
    assert domain.allocate_landed_cost(Decimal("10.00"), "value", lines) == [Decimal("3.33"), Decimal("6.67")]
    assert domain.allocate_landed_cost(Decimal("10.01"), "quantity", lines) == [Decimal("5.01"), Decimal("5.00")]
    assert domain.allocate_landed_cost(Decimal("10.00"), "weight", lines) == [Decimal("10.00"), Decimal("0.00")]


def test_landed_cost_without_a_basis_to_share_by_is_refused():
    lines = [domain.ReceiptLineBasis(1, 3, Decimal("100.00"))]
    for basis in ("weight", "volume"):
        with pytest.raises(InvalidArgument):
            domain.allocate_landed_cost(Decimal("10.00"), basis, lines)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 10**9).map(lambda c: Decimal(c).scaleb(-2)),
       st.lists(st.tuples(st.integers(1, 1000), st.integers(0, 10**8)), min_size=1, max_size=20),
       st.sampled_from(["value", "quantity"]), st.data())
def test_landed_cost_shares_held_and_sold_add_up_exactly(amount, raw, basis, data):
    lines = [domain.ReceiptLineBasis(i + 1, q, Decimal(v).scaleb(-2)) for i, (q, v) in enumerate(raw)]
    if basis == "value" and sum(l.amount for l in lines) == 0:
        return
    shares = domain.allocate_landed_cost(amount, basis, lines)
    assert sum(shares) == amount
    total = Decimal("0.00")
    for line, share in zip(lines, shares):
        held = data.draw(st.integers(0, line.quantity))
        kept, gone = domain.held_and_sold(share, line.quantity, held)
        assert kept + gone == share
        assert (held == 0 and kept == 0) or (held == line.quantity and gone == 0) or 0 < held < line.quantity
        total += kept + gone
    assert total == amount


def test_a_price_difference_splits_between_held_and_sold_units():
    # 10 received, 4 still held: 40 % of +4.00 stays in stock, 60 % goes to cost of goods
    assert domain.held_and_sold(Decimal("4.00"), 10, 4) == (Decimal("1.60"), Decimal("2.40"))
    assert domain.held_and_sold(Decimal("-1.00"), 3, 1) == (Decimal("-0.33"), Decimal("-0.67"))
