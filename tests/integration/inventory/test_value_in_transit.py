"""Goods on their way between the merchant's warehouses are part of the stock value: the
inventory accounts hold them (goods in transit) from shipment to receipt, so the stock value and
the value at any past moment report them, at the cost layers they travel with."""
from decimal import Decimal as D

import pytest

from hubkit import clock
from services.inventory import handlers, reports, transfers

pytestmark = pytest.mark.integration


def mine(rows, inv) -> list[tuple]:
    return [(r["warehouse"], r["sku"], r["quantity"], r["value"], r["in_transit"]) for r in rows
            if r["sku"].endswith(inv.tag)]


def test_units_in_transit_stay_in_the_stock_value_now_and_at_a_past_moment(inv):
    main, east = inv.warehouse("MAIN", priority=1), inv.warehouse("EAST", priority=2)
    tea = inv.sku("TEA")
    inv.receive(tea, main, 10, "4.00")
    inv.receive(tea, main, 5, "6.00")  # 70.00 in all, what the inventory accounts hold
    # 12 leave MAIN oldest first: 10 x 4.00 + 2 x 6.00 = 52.00 travel to EAST
    shipped = inv.run(transfers.ship, main, east, [{"sku": tea, "quantity": 12}])
    assert shipped["lines"] == [{"sku": tea, "quantity": 12, "value": D("52.00")}]

    on_the_road = [(main, tea, 3, D("18.00"), False), (east, tea, 12, D("52.00"), True)]
    assert mine(handlers.stock_value(inv.db), inv) == on_the_road
    assert mine(handlers.stock_value(inv.db, east), inv) == [(east, tea, 12, D("52.00"), True)]
    assert sum((v for *_, v, _t in on_the_road), D("0.00")) == D("70.00")
    between = clock.now()
    assert mine(reports.stock_value_at(inv.db, between), inv) == on_the_road

    inv.run(transfers.receive, shipped["transfer_id"])
    arrived = [(east, tea, 12, D("52.00"), False), (main, tea, 3, D("18.00"), False)]
    assert mine(handlers.stock_value(inv.db), inv) == arrived
    assert mine(reports.stock_value_at(inv.db, clock.now()), inv) == arrived
    # the past does not change: between shipment and receipt the goods were on the road
    assert mine(reports.stock_value_at(inv.db, between), inv) == on_the_road
    assert mine(reports.stock_value_at(inv.db, between, warehouse=east), inv) == [(east, tea, 12, D("52.00"), True)]
    assert inv.audit() == []
