"""Debtors named as the books name them (accounting's posting rules), for the books audit."""
from __future__ import annotations

from services.order.receivables import debtor

MARKETPLACES = {"taobao", "jd"}


def test_a_marketplace_order_is_owed_by_its_platform_shop_and_any_other_by_its_buyer_or_itself():
    assert debtor("taobao", "flagship", {"external_id": "tb-1"}, "o1", MARKETPLACES) == "platform:taobao/flagship"
    assert debtor("web", "S1", {"external_id": "B1", "name": "Li"}, "o2", MARKETPLACES) == "customer:web:B1"
    assert debtor("web", "S1", {"external_id": ""}, "o3", MARKETPLACES) == "customer:web:o3"
    assert debtor("web", "S1", {"external_id": "x" * 200}, "o4", MARKETPLACES) == ("customer:web:" + "x" * 200)[:128]
