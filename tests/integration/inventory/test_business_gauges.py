"""The stock gauges Prometheus reads (services.inventory.reports.stock_by_warehouse): value per
warehouse as the cost layers hold it, and slow stock - units received more than the window ago of
SKUs the warehouse has not sold since."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from hubkit import clock
from services.inventory import reports
from services.inventory.models import cost_layers

pytestmark = pytest.mark.integration


def test_slow_stock_is_old_stock_of_skus_not_sold_since_and_the_value_is_the_cost_layers(inv):
    main = inv.warehouse("MAIN")
    old, sold, new = inv.sku("OLD"), inv.sku("SOLD"), inv.sku("NEW")
    inv.receive(old, main, 10, "2.00")
    inv.receive(sold, main, 10, "3.00")
    inv.receive(new, main, 4, "5.00")
    order_id, _ = inv.order([(sold, 2)])
    inv.ship(order_id, [1])
    with inv.db.session() as s:  # both received 100 days ago; SOLD sold today, OLD never
        s.execute(update(cost_layers).where(cost_layers.c.sku.in_([old, sold]))
                  .values(received_at=clock.now() - timedelta(days=100)))

    row = reports.stock_by_warehouse(inv.db, slow_days=90)[(main, False)]
    assert row == {"quantity": 22, "value": Decimal("64.00"), "slow_quantity": 10, "slow_value": Decimal("20.00")}
    assert row["value"] == inv.value(main)
    assert reports.stock_by_warehouse(inv.db, slow_days=120)[(main, False)]["slow_quantity"] == 0
