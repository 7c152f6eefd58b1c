"""The sales figures the accounting worker counts from a posted voucher's lines (hub_sales_*)."""
from __future__ import annotations

from decimal import Decimal

from services.accounting import chart, domain
from services.accounting.worker import COST_OF_GOODS, COST_OF_GOODS_REVERSED, REVENUE, REVENUE_REVERSED, sales_figures

RULES = domain.Rules(accounts=chart.DEFAULT_ACCOUNTS, vat_rate=Decimal("0.13"), timezone="Asia/Shanghai")


def rows(lines: list[domain.Line]) -> list[dict]:
    return [{"account": l.account, "debit": l.debit, "credit": l.credit, "cost_centre": l.cost_centre} for l in lines]


def test_a_sale_counts_its_net_revenue_under_its_channel_and_nothing_of_the_vat_or_receivable():
    sale = domain.sale({"channel": "jd", "external_order_id": "J1", "shop": "s1", "buyer": {"external_id": "b"},
                        "lines": [{"amount": "113.00"}]}, RULES)
    assert sales_figures(rows(sale), RULES.accounts, "jd-flagship") == [(REVENUE, ("jd", "jd-flagship"), 100.0),
                                                                       (REVENUE_REVERSED, ("jd", "jd-flagship"), 0.0)]


def test_cost_of_goods_and_its_restock_count_apart_and_a_return_reverses_revenue():
    cost = domain.cost_of_goods({"order_id": "o1", "channel": "taobao",
                                 "lines": [{"warehouse": "SH", "cost": "40.00"}]}, RULES)
    restock = domain.return_cost({"return_id": "r1", "order_id": "o1", "channel": "taobao",
                                  "lines": [{"warehouse": "SH", "cost": "10.00"}]}, RULES)
    returned = domain.sales_return({"channel": "taobao", "external_order_id": "T1", "shop": "s1", "buyer": {"external_id": "b"},
                                    "lines": [{"amount": "11.30"}]}, RULES)
    assert sales_figures(rows(cost), RULES.accounts) == [(COST_OF_GOODS_REVERSED, ("taobao",), 0.0),
                                                         (COST_OF_GOODS, ("taobao",), 40.0)]
    assert sales_figures(rows(restock), RULES.accounts) == [(COST_OF_GOODS_REVERSED, ("taobao",), 10.0),
                                                            (COST_OF_GOODS, ("taobao",), 0.0)]
    assert sales_figures(rows(returned), RULES.accounts, "s1") == [(REVENUE, ("taobao", "s1"), 0.0),
                                                                   (REVENUE_REVERSED, ("taobao", "s1"), 10.0)]


def test_a_line_without_a_channel_or_shop_counts_under_none():
    line = {"account": RULES.accounts["revenue"], "debit": Decimal("0"), "credit": Decimal("5.00"), "cost_centre": ""}
    assert sales_figures([line], RULES.accounts) == [(REVENUE, ("none", "none"), 5.0),
                                                     (REVENUE_REVERSED, ("none", "none"), 0.0)]
