"""One walk through the warehouse: receipts into bins and lots, a sale picked FEFO, a transfer,
a kit, a count; the ledger rebuilds every balance at the end."""
from decimal import Decimal

import pytest

from services.inventory import counts, movements, transfers

pytestmark = pytest.mark.integration


def test_a_day_in_the_warehouse_keeps_the_ledger_and_balances_equal(inv):
    main = inv.warehouse("MAIN", priority=1, bins=("A-01-01", "A-01-02"))
    east = inv.warehouse("EAST", priority=2)
    milk = inv.sku("MILK", lot_tracked=True)
    cup = inv.sku("CUP")
    inv.receive(milk, main, 10, "3.00", bin_code="A-01-01", lot="L1", expires_on="2099-03-01")
    inv.receive(milk, main, 10, "4.00", bin_code="A-01-02", lot="L2", expires_on="2099-01-01")
    inv.receive(cup, main, 5, "2.00")
    order_id, answer = inv.order([(milk, 12), (cup, 2)])
    assert [l["status"] for l in answer] == ["reserved", "reserved"]
    issued = inv.ship(order_id, [1, 2])
    assert {l["sku"]: l["cost"] for l in issued} == {milk: "38.00", cup: "4.00"}  # FIFO cost: 10x3 + 2x4
    assert inv.level(milk, main)["on_hand"] == 8
    t = inv.run(transfers.ship, main, east, [{"sku": milk, "quantity": 3}])
    assert inv.level(milk, east)["in_transit"] == 3
    inv.run(transfers.receive, t["transfer_id"])
    assert inv.level(milk, east)["on_hand"] == 3
    kit = inv.sku("GIFT", components=[(cup, 1)])
    inv.run(movements.assemble, kit, main, 2)
    c = inv.run(counts.open_count, main, ["A-01-02"])
    inv.run(counts.record, c["count_id"], "A-01-02", "LOT:L2", 4)
    done = inv.run(counts.submit, c["count_id"], "1000")
    assert done["status"] == "posted"
    assert inv.audit() == []
    # left: 8 at 4.00; 3 of them moved east; the count found 4 more, valued at the latest cost 4.00
    assert (inv.value(main, milk), inv.value(east, milk)) == (Decimal("36.00"), Decimal("12.00"))
