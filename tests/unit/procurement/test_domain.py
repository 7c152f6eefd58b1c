from decimal import Decimal

import pytest

from hubkit.errors import Conflict, InvalidArgument
from services.procurement import domain


def _cmd(**kw):
    base = dict(supplier="SUP-1", warehouse="WH-1",
                lines=[domain.LineInput("SKU-1", 10, "10.00", "0.13")])
    return domain.CreatePurchaseOrder(**{**base, **kw})


def _fields(exc_info) -> set:
    return {f["field"] for f in exc_info.value.fields}


def test_a_valid_order_gets_defaults_and_exact_amounts():
    currency, lines = domain.validate(_cmd(lines=[domain.LineInput("SKU-1", 10, "10.00", "0.13"),
                                                  domain.LineInput("SKU-2", 3, "3.333333", "")]))
    assert currency == "CNY"
    assert [(l.line_no, l.amount, l.unit_cost, l.vat_rate) for l in lines] == [
        (1, Decimal("100.00"), Decimal("10.000000"), Decimal("0.1300")),
        (2, Decimal("10.00"), Decimal("3.333333"), Decimal("0.1300")),  # default VAT rate
    ]
    assert str(lines[0].unit_cost) == "10.000000" and str(lines[1].vat_rate) == "0.1300"


def test_currency_is_three_letters_and_upper_cased():
    assert domain.validate(_cmd(currency="usd"))[0] == "USD"
    for bad in ("US", "USDT", "U$D", "123"):
        with pytest.raises(InvalidArgument) as caught:
            domain.validate(_cmd(currency=bad))
        assert _fields(caught) == {"currency"}


def test_every_problem_is_reported_with_its_field():
    cmd = _cmd(supplier="", warehouse="bad code", currency="XX",
               lines=[domain.LineInput("", 0, "-1", "1"),
                      domain.LineInput("OK", 1, "1.0000001", "0.12345"),
                      domain.LineInput("OK", 10_000_001, "abc", "-0.01"),
                      domain.LineInput("OK", True, "", "x"),
                      domain.LineInput("OK", 10_000_000, "0", "0")])
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(cmd)
    assert _fields(caught) == {
        "supplier", "warehouse", "currency",
        "lines[0].sku", "lines[0].quantity", "lines[0].unit_cost", "lines[0].vat_rate",
        "lines[1].unit_cost", "lines[1].vat_rate",
        "lines[2].quantity", "lines[2].unit_cost", "lines[2].vat_rate",
        "lines[3].quantity", "lines[3].unit_cost", "lines[3].vat_rate",
    }
    assert len(caught.value.fields) == 15  # one message per problem, nothing for the valid line


def test_an_order_needs_lines_and_not_too_many():
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(_cmd(lines=[]))
    assert _fields(caught) == {"lines"}
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(_cmd(lines=[domain.LineInput("S", 1, "1")] * (domain.MAX_LINES + 1)))
    assert _fields(caught) == {"lines"}


@pytest.mark.parametrize("cost, ok", [("0", True), ("0.000001", True), ("999999999.999999", True),
                                      ("1E+2", True), ("1000000000", False), ("1e30", False),
                                      ("NaN", False), ("Infinity", False), ("0.0000001", False)])
def test_unit_cost_bounds_and_places(cost, ok):
    if ok:
        domain.validate(_cmd(lines=[domain.LineInput("S", 1, cost, "0")]))
    else:
        with pytest.raises(InvalidArgument) as caught:
            domain.validate(_cmd(lines=[domain.LineInput("S", 1, cost, "0")]))
        assert _fields(caught) == {"lines[0].unit_cost"}


@pytest.mark.parametrize("rate, ok", [("0", True), ("0.9999", True), ("0.06", True), ("1", False),
                                      ("0.99999", False), ("-0.0001", False)])
def test_vat_rate_is_below_one_with_four_places(rate, ok):
    if ok:
        domain.validate(_cmd(lines=[domain.LineInput("S", 1, "1", rate)]))
    else:
        with pytest.raises(InvalidArgument) as caught:
            domain.validate(_cmd(lines=[domain.LineInput("S", 1, "1", rate)]))
        assert _fields(caught) == {"lines[0].vat_rate"}


def test_a_total_too_large_to_keep_exactly_is_refused():
    with pytest.raises(InvalidArgument) as caught:
        domain.validate(_cmd(lines=[domain.LineInput("S", 10_000_000, "999999999", "0")]))
    assert _fields(caught) == {"lines"}


def test_amounts_and_tax_round_half_up_to_the_cent():
    assert domain.line_amount(10, "10.000000") == Decimal("100.00")
    assert domain.line_tax(Decimal("100.00"), "0.13") == Decimal("13.00")
    assert domain.line_amount(3, "3.333333") == Decimal("10.00")      # 9.999999
    assert domain.line_amount(1, "0.005") == Decimal("0.01")          # half-up
    assert domain.line_tax(Decimal("0.05"), "0.13") == Decimal("0.01")  # 0.0065
    assert domain.line_tax(Decimal("0.03"), "0.13") == Decimal("0.00")  # 0.0039


@pytest.mark.parametrize("lines, status", [
    ([(10, 0), (3, 0)], "open"),
    ([(10, 4), (3, 0)], "partially_received"),
    ([(10, 10), (3, 0)], "partially_received"),
    ([(10, 10), (3, 3)], "received"),
])
def test_status_follows_received_quantities(lines, status):
    assert domain.status_of(lines) == status


LINES = {1: (10, 4), 2: (3, 0), 3: (5, 5)}


def test_an_empty_receipt_takes_everything_still_open():
    assert domain.plan_receipt("po", "partially_received", LINES, []) == [(1, 6), (2, 3)]


def test_a_receipt_takes_what_it_names_in_line_order():
    assert domain.plan_receipt("po", "partially_received", LINES, [(2, 1), (1, 6)]) == [(1, 6), (2, 1)]


def test_a_bad_receipt_reports_every_problem():
    with pytest.raises(InvalidArgument) as caught:
        domain.plan_receipt("po", "partially_received", LINES,
                            [(1, 7), (9, 1), (2, 0), (2, 1), (3, 1)], reference="x" * 129)
    assert _fields(caught) == {"lines[0].quantity", "lines[1].line_no", "lines[2].quantity",
                               "lines[3].line_no", "lines[4].quantity", "reference"}


def test_a_fully_received_order_takes_no_receipt():
    with pytest.raises(Conflict):
        domain.plan_receipt("po", "received", {1: (2, 2)}, [])
    with pytest.raises(Conflict):
        domain.plan_receipt("po", "received", {1: (2, 2)}, [(1, 1)])


def test_supplier_code_and_name_are_checked():
    domain.check_supplier("SUP-1", "Acme")
    with pytest.raises(InvalidArgument) as caught:
        domain.check_supplier("-bad", " ")
    assert _fields(caught) == {"supplier.code", "supplier.name"}


def test_a_line_carries_its_expected_date_and_a_bad_one_is_named():
    from datetime import date
    _, lines = domain.validate(_cmd(lines=[domain.LineInput("SKU-1", 1, "1.00", "", "2026-12-24"),
                                           domain.LineInput("SKU-2", 1, "1.00")]))
    assert [l.expected_on for l in lines] == [date(2026, 12, 24), None]
    with pytest.raises(InvalidArgument) as bad:
        domain.validate(_cmd(lines=[domain.LineInput("SKU-1", 1, "1.00", "", "2026-02-30"),
                                    domain.LineInput("SKU-2", 1, "1.00", "", "3026-01-01")]))
    assert _fields(bad) == {"lines[0].expected_on", "lines[1].expected_on"}
