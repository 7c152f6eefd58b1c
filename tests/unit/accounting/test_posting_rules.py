"""Worked examples of the posting rules, to the cent."""
from datetime import date
from decimal import Decimal

import pytest

from hubkit.errors import InvalidArgument
from services.accounting import chart, domain

RULES = domain.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")


def _sum(lines, account, side):
    return sum((getattr(l, side) for l in lines if l.account == account), Decimal("0"))


def test_sale_splits_vat_per_line_and_balances():
    payload = {"order_id": "o1", "channel": "taobao", "shop": "s", "external_order_id": "T1",
               "buyer": {"external_id": "b1"},
               "lines": [{"amount": "113.00"}, {"amount": "19.90"}, {"amount": "19.90"}]}
    lines = domain.sale(payload, RULES)
    # 113.00 -> 100.00 + 13.00; 19.90 -> 17.61 + 2.29 (each line on its own)
    assert _sum(lines, "1122", "debit") == Decimal("152.80")
    assert _sum(lines, "6001", "credit") == Decimal("135.22")
    assert _sum(lines, "22210105", "credit") == Decimal("17.58")
    assert domain.check_balanced(lines) == Decimal("152.80")


def test_cost_of_goods_credits_inventory_per_warehouse():
    payload = {"order_id": "o1", "lines": [{"warehouse": "SH", "cost": "100.00"}, {"warehouse": "BJ", "cost": "40.00"},
                                           {"warehouse": "SH", "cost": "0.50"}]}
    lines = domain.cost_of_goods(payload, RULES)
    assert _sum(lines, "6401", "debit") == Decimal("140.50")
    assert {(l.cost_centre, l.credit) for l in lines if l.account == "1405"} == {("warehouse:BJ", Decimal("40.00")),
                                                                         ("warehouse:SH", Decimal("100.50"))}
    domain.check_balanced(lines)


def test_purchase_with_input_vat():
    payload = {"purchase_order_id": "po1", "receipt_id": "r1", "warehouse": "SH", "supplier": {"code": "ACME"},
               "total_net": "100.00", "total_tax": "13.00", "total": "113.00"}
    lines = domain.purchase(payload, RULES)
    assert [(l.account, l.debit, l.credit) for l in lines] == [
        ("1405", Decimal("100.00"), Decimal("0.00")), ("22210101", Decimal("13.00"), Decimal("0.00")),
        ("2202", Decimal("0.00"), Decimal("113.00"))]


def test_a_zero_vat_purchase_has_no_vat_line():
    payload = {"purchase_order_id": "po1", "receipt_id": "r1", "warehouse": "SH", "supplier": {"code": "ACME"},
               "total_net": "50.00", "total_tax": "0.00", "total": "50.00"}
    assert [l.account for l in domain.purchase(payload, RULES)] == ["1405", "2202"]


@pytest.mark.parametrize("lines", [
    [domain.Line("1122", "x", debit=Decimal("1.00")), domain.Line("6001", "x", credit=Decimal("0.99"))],
    [domain.Line("1122", "x", debit=Decimal("1.00"), credit=Decimal("1.00"))],
    [domain.Line("1122", "x", debit=Decimal("1.001")), domain.Line("6001", "x", credit=Decimal("1.001"))],
    [],
], ids=["unbalanced", "both sides", "sub-cent", "empty"])
def test_unbalanced_or_malformed_vouchers_are_refused(lines):
    with pytest.raises(domain.UnbalancedVoucher):
        domain.check_balanced(lines)


def test_a_shipment_after_midnight_in_shanghai_belongs_to_the_next_month():
    # 16:30 UTC on 31 January is 00:30 on 1 February in Shanghai
    assert domain.business_day("2026-01-31T16:30:00+00:00", "Asia/Shanghai") == ("2026-02", date(2026, 2, 1))


def test_posting_accounts_can_be_overridden_but_not_invented():
    assert chart.posting_accounts('{"revenue": "6051"}')["revenue"] == "6051"
    with pytest.raises(ValueError):
        chart.posting_accounts('{"bonus": "9999"}')


def _return(lines):
    return {"order_id": "o1", "return_id": "r1", "channel": "storefront", "shop": "s", "external_order_id": "W1",
            "buyer": {"external_id": "b1"}, "lines": lines}


def test_a_return_reverses_the_amount_the_buyer_paid_for_the_returned_units():
    # a line of 2 listed at 30.00, paid 55.00 after a discount: one unit back reverses 27.50
    lines = domain.sales_return(_return([{"amount": "27.50", "amount_returned_before": "0.00"}]), RULES)
    assert _sum(lines, "1122", "credit") == Decimal("27.50")
    assert _sum(lines, "6001", "debit") + _sum(lines, "22210105", "debit") == Decimal("27.50")


def test_partial_returns_of_a_line_reverse_exactly_its_sale_revenue_and_vat():
    # 3 units paid 10.00: sold as 8.85 net + 1.15 VAT; returned one by one (3.33, 3.34, 3.33), whose
    # VAT split each on its own would reverse 8.86 of revenue
    sold = domain.sale(_return([{"amount": "10.00"}]), RULES)
    returns = [domain.sales_return(_return([{"amount": amount, "amount_returned_before": before}]), RULES)
               for amount, before in (("3.33", "0.00"), ("3.34", "3.33"), ("3.33", "6.67"))]
    for account, side, other in (("1122", "debit", "credit"), ("6001", "credit", "debit"),
                                 ("22210105", "credit", "debit")):
        assert sum(_sum(r, account, other) for r in returns) == _sum(sold, account, side), account
    assert all(domain.check_balanced(r) for r in returns)


def test_a_return_without_what_was_returned_before_splits_its_own_vat():
    lines = domain.sales_return(_return([{"amount": "45.20"}]), RULES)
    assert (_sum(lines, "6001", "debit"), _sum(lines, "22210105", "debit")) == (Decimal("40.00"), Decimal("5.20"))


USD = Decimal("7.1234")


def test_a_sale_in_another_currency_is_converted_per_line_then_split_for_vat():
    # 20.00 USD -> 142.47 CNY (142.468) -> 126.08 net + 16.39 VAT; 0.99 USD -> 7.05 -> 6.24 + 0.81
    payload = {**_return([{"amount": "20.00"}, {"amount": "0.99"}]), "currency": "USD"}
    lines = domain.sale(payload, RULES, USD)
    assert _sum(lines, "1122", "debit") == Decimal("149.52")
    assert _sum(lines, "6001", "credit") == Decimal("132.32")
    assert _sum(lines, "22210105", "credit") == Decimal("17.20")
    assert domain.check_balanced(lines) == Decimal("149.52")


def test_returns_of_a_converted_sale_reverse_exactly_what_it_posted():
    sold = domain.sale(_return([{"amount": "10.00"}]), RULES, USD)
    returns = [domain.sales_return(_return([{"amount": amount, "amount_returned_before": before}]), RULES, USD)
               for amount, before in (("3.33", "0.00"), ("3.34", "3.33"), ("3.33", "6.67"))]
    for account, side, other in (("1122", "debit", "credit"), ("6001", "credit", "debit"),
                                 ("22210105", "credit", "debit")):
        assert sum(_sum(r, account, other) for r in returns) == _sum(sold, account, side), account


def test_a_purchase_in_another_currency_is_converted_and_its_rounding_balanced():
    # two lines of 0.05 USD: inventory 0.36 + 0.36 (what stock adds, line by line), VAT 0.01 -> 0.07,
    # payable 0.11 USD -> 0.78; 0.72 + 0.07 = 0.79: the cent goes to exchange differences
    payload = {"purchase_order_id": "po1", "receipt_id": "r1", "warehouse": "SH", "supplier": {"code": "ACME"},
               "currency": "USD", "lines": [{"amount": "0.05"}, {"amount": "0.05"}],
               "total_net": "0.10", "total_tax": "0.01", "total": "0.11"}
    lines = domain.purchase(payload, RULES, USD)
    assert [(l.account, l.debit, l.credit) for l in lines] == [
        ("1405", Decimal("0.72"), Decimal("0.00")), ("22210101", Decimal("0.07"), Decimal("0.00")),
        ("2202", Decimal("0.00"), Decimal("0.78")), ("6603", Decimal("0.00"), Decimal("0.01"))]
    assert domain.check_balanced(lines) == Decimal("0.79")


def test_a_purchase_in_another_currency_without_rounding_needs_no_exchange_line():
    payload = {"purchase_order_id": "po1", "receipt_id": "r1", "warehouse": "SH", "supplier": {"code": "ACME"},
               "currency": "USD", "lines": [{"amount": "100.00"}], "total_net": "100.00", "total_tax": "13.00",
               "total": "113.00"}
    lines = domain.purchase(payload, RULES, Decimal("7"))
    assert [(l.account, l.debit + l.credit) for l in lines] == [("1405", Decimal("700.00")),
                                                                 ("22210101", Decimal("91.00")),
                                                                 ("2202", Decimal("791.00"))]


def test_goods_back_to_a_supplier_in_another_currency_are_converted_at_its_rate():
    payload = {"purchase_order_id": "po1", "return_id": "x1", "warehouse": "SH", "supplier": {"code": "ACME"},
               "currency": "USD", "total_net": "10.00", "total_tax": "1.30", "total": "11.30", "total_cost": "71.23"}
    lines = domain.purchase_return(payload, RULES, USD)
    # payable 80.49 (80.494), VAT 9.26, inventory at the 71.23 that left; 80.49 - 9.26 - 71.23 = 0.00
    assert [(l.account, l.debit, l.credit) for l in lines] == [
        ("2202", Decimal("80.49"), Decimal("0.00")), ("22210101", Decimal("0.00"), Decimal("9.26")),
        ("1405", Decimal("0.00"), Decimal("71.23"))]


def _refund(lines, channel="storefront"):
    return {"order_id": "o1", "refund_id": "f1", "channel": channel, "shop": "s", "external_order_id": "W1",
            "buyer": {"external_id": "b1"}, "lines": lines}


def test_a_refund_without_return_credits_the_receivable_at_the_refunded_amount_and_moves_no_stock():
    lines = domain.sales_refund(_refund([{"amount": "11.30", "amount_reversed_before": "0.00"}]), RULES)
    assert _sum(lines, "1122", "credit") == Decimal("11.30")
    assert [l.aux for l in lines if l.account == "1122"] == ["customer:storefront:b1"]
    assert _sum(lines, "6001", "debit") == Decimal("10.00") and _sum(lines, "22210105", "debit") == Decimal("1.30")
    assert {l.account for l in lines} == {"1122", "6001", "22210105"}  # no inventory, no cost of goods
    assert domain.check_balanced(lines) == Decimal("11.30")


def test_a_marketplace_refund_credits_the_platforms_receivable():
    lines = domain.sales_refund(_refund([{"amount": "5.00", "amount_reversed_before": "0.00"}], "taobao"), RULES)
    assert [(l.aux, l.credit) for l in lines if l.account == "1122"] == [("platform:taobao/s", Decimal("5.00"))]


def test_a_return_and_refunds_of_a_line_reverse_exactly_its_sale():
    # paid 10.00 for 3 units: one unit returned (3.33), then 2.00 and the rest (4.67) refunded without goods
    sold = domain.sale(_return([{"amount": "10.00"}]), RULES)
    reversals = [domain.sales_return(_return([{"amount": "3.33", "amount_returned_before": "0.00"}]), RULES),
                 domain.sales_refund(_refund([{"amount": "2.00", "amount_reversed_before": "3.33"}]), RULES),
                 domain.sales_refund(_refund([{"amount": "4.67", "amount_reversed_before": "5.33"}]), RULES)]
    for account, side, other in (("1122", "debit", "credit"), ("6001", "credit", "debit"),
                                 ("22210105", "credit", "debit")):
        assert sum(_sum(r, account, other) for r in reversals) == _sum(sold, account, side), account


SUPPLIER = {"code": "ACME", "name": "Acme"}


def test_a_receipt_awaiting_its_invoice_books_a_provisional_payable_without_vat():
    payload = {"purchase_order_id": "po1", "receipt_id": "r1", "warehouse": "SH", "supplier": SUPPLIER,
               "total_net": "100.00", "total_tax": "13.00", "total": "113.00", "invoice_pending": True}
    lines = domain.purchase(payload, RULES)
    assert _sum(lines, "1405", "debit") == Decimal("100.00")
    assert _sum(lines, "220202", "credit") == Decimal("100.00")
    assert _sum(lines, "2202", "credit") == _sum(lines, "22210101", "debit") == Decimal("0")
    assert domain.check_balanced(lines) == Decimal("100.00")


def test_the_invoice_reverses_the_provisional_payable_and_splits_the_price_difference():
    payload = {"kind": "supplier_invoice", "document_id": "i1", "purchase_order_id": "po1", "supplier": SUPPLIER,
               "warehouse": "SH", "reference": "INV-1", "charge": "", "provisional": "100.00",
               "total_net": "104.00", "total_tax": "13.52", "total": "117.52", "to_stock": "1.60",
               "to_cost_of_goods": "2.40"}
    lines = domain.purchase_cost(payload, RULES)
    assert _sum(lines, "220202", "debit") == Decimal("100.00")
    assert _sum(lines, "1405", "debit") == Decimal("1.60")
    assert _sum(lines, "6401", "debit") == Decimal("2.40")
    assert _sum(lines, "22210101", "debit") == Decimal("13.52")
    assert _sum(lines, "2202", "credit") == Decimal("117.52")
    assert domain.check_balanced(lines) == Decimal("117.52")


def test_a_lower_invoice_price_credits_stock_and_cost_of_goods():
    payload = {"kind": "supplier_invoice", "document_id": "i1", "purchase_order_id": "po1", "supplier": SUPPLIER,
               "warehouse": "SH", "reference": "", "charge": "", "provisional": "100.00",
               "total_net": "97.00", "total_tax": "12.61", "total": "109.61", "to_stock": "-1.00",
               "to_cost_of_goods": "-2.00"}
    lines = domain.purchase_cost(payload, RULES)
    assert _sum(lines, "1405", "credit") == Decimal("1.00") and _sum(lines, "6401", "credit") == Decimal("2.00")
    domain.check_balanced(lines)


def test_a_landed_cost_goes_to_stock_and_cost_of_goods_with_its_vat():
    payload = {"kind": "landed_cost", "document_id": "b1", "purchase_order_id": "po1",
               "supplier": {"code": "SF", "name": "SF"}, "warehouse": "SH", "reference": "F-1", "charge": "freight",
               "provisional": "0.00", "total_net": "30.00", "total_tax": "2.70", "total": "32.70",
               "to_stock": "10.00", "to_cost_of_goods": "20.00"}
    lines = domain.purchase_cost(payload, RULES)
    assert {(l.account, l.aux) for l in lines if l.credit} == {("2202", "supplier:SF")}
    assert _sum(lines, "220202", "debit") == 0
    assert domain.check_balanced(lines) == Decimal("32.70")


def test_a_cost_change_that_does_not_add_up_is_refused():
    payload = {"kind": "landed_cost", "document_id": "b1", "purchase_order_id": "po1", "supplier": SUPPLIER,
               "warehouse": "SH", "reference": "", "charge": "duty", "provisional": "0.00", "total_net": "30.00",
               "total_tax": "0.00", "total": "30.00", "to_stock": "10.00", "to_cost_of_goods": "19.99"}
    with pytest.raises(InvalidArgument):
        domain.purchase_cost(payload, RULES)
