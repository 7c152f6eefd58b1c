"""Worked examples of the posting rules, to the cent."""
from datetime import date
from decimal import Decimal

import pytest

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
