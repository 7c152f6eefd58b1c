"""An operator moves an order to another warehouse (reservations.move_order, the MoveOrder call):
released where it was and reserved whole there in one transaction, or refused changing nothing.
On PostgreSQL and SQLite."""
from __future__ import annotations

import pytest

from hubkit.errors import Conflict, InvalidArgument
from services.inventory import reservations


def _reserved(inv, sku, warehouse) -> int:
    return inv.level(sku, warehouse)["reserved"]


def test_an_order_moves_whole_to_another_warehouse_and_the_old_stock_is_free_again(inv):
    tea, cup = inv.sku("TEA"), inv.sku("CUP")
    near, far = inv.warehouse("NEAR", priority=1), inv.warehouse("FAR", priority=2)
    for sku, wh, qty in ((tea, near, 5), (cup, near, 5), (tea, far, 2), (cup, far, 1)):
        inv.receive(sku, wh, qty, "3.00")
    order_id, answer = inv.order([(tea, 2), (cup, 1)])
    assert {l["warehouse"] for l in answer} == {near}

    moved = inv.run(reservations.move_order, order_id, far, "closer to the buyer", actor="desk")
    assert [(l["status"], l["warehouse"], l["allocations"]) for l in moved] == [
        ("reserved", far, [{"warehouse": far, "quantity": 2}]), ("reserved", far, [{"warehouse": far, "quantity": 1}])]
    assert (_reserved(inv, tea, near), _reserved(inv, cup, near), _reserved(inv, tea, far), _reserved(inv, cup, far)) \
        == (0, 0, 2, 1)
    assert inv.events("stock_reserved")[-1] == {"order_id": order_id, "lines": moved}  # the order's usual answer
    decision = reservations.allocation_of(inv.db, order_id)
    assert decision["chosen"] == [far] and decision["reason"].startswith(f"moved to {far} by desk (closer to the buyer)")
    assert inv.audit() == []  # reservations carry no value: the books still equal the stock


def test_a_move_is_refused_changing_nothing(inv):
    tea, cup = inv.sku("TEA"), inv.sku("CUP")
    home, thin = inv.warehouse("HOME", priority=1), inv.warehouse("THIN", priority=2)
    inv.receive(tea, home, 5, "3.00")
    inv.receive(cup, home, 5, "3.00")
    inv.receive(tea, thin, 5, "3.00")  # no CUP there
    order_id, _ = inv.order([(tea, 2), (cup, 1)])

    with pytest.raises(Conflict, match=f"free units of {cup}"):
        inv.run(reservations.move_order, order_id, thin)
    with pytest.raises(InvalidArgument, match="unknown warehouse") as unknown:
        inv.run(reservations.move_order, order_id, inv.code("NOWHERE"))
    assert unknown.value.fields == [{"field": "warehouse", "message": "unknown warehouse"}]
    assert (_reserved(inv, tea, home), _reserved(inv, cup, home), _reserved(inv, tea, thin)) == (2, 1, 0)
    assert reservations.allocation_of(inv.db, order_id)["chosen"] == [home]

    inv.ship(order_id, [1, 2])
    with pytest.raises(Conflict, match="issued"):
        inv.run(reservations.move_order, order_id, thin)


def test_a_backordered_then_split_order_moves_whole_into_one_of_its_warehouses(inv):
    tea = inv.sku("TEA")
    one, two = inv.warehouse("ONE", priority=1), inv.warehouse("TWO", priority=2)
    inv.receive(tea, two, 1, "3.00")
    order_id, answer = inv.order([(tea, 3)])  # 1 reserved in TWO, 2 backordered
    assert answer[0]["status"] == "backordered"
    with pytest.raises(Conflict):  # all 3 must fit in the new warehouse: ONE has none
        inv.run(reservations.move_order, order_id, one)
    inv.receive(tea, one, 3, "3.00")  # fills the backorder: 2 from ONE, a split order
    assert {a["warehouse"] for a in reservations.allocation_of(inv.db, order_id)["lines"][0]["allocations"]} == \
        {one, two}
    # ONE has 3 on hand, 2 of them this order's: released first, so the whole line fits there
    [line] = inv.run(reservations.move_order, order_id, one)
    assert (line["status"], line["allocations"]) == ("reserved", [{"warehouse": one, "quantity": 3}])
    assert (_reserved(inv, tea, one), _reserved(inv, tea, two)) == (3, 0)
