"""Inventory announces a new SKU and a new category (sku_changed): the order service's review reads the
categories from its projection of them."""
from __future__ import annotations

import pytest

from services.inventory import catalog

pytestmark = pytest.mark.integration


def test_a_new_sku_and_a_new_category_are_announced_and_nothing_else(inv):
    tea = inv.sku("TEA", category="tea")
    plain = inv.sku("PLAIN")
    inv.run(catalog.upsert_sku, tea, "Item TEA renamed", category="tea")  # the same category: nothing
    inv.run(catalog.upsert_sku, tea, "Item TEA", category="gift")
    inv.run(catalog.upsert_sku, plain, "Item PLAIN", category="")
    assert [(e["sku"], e["category"]) for e in inv.events("sku_changed")] == [
        (tea, "tea"), (plain, ""), (tea, "gift")]
