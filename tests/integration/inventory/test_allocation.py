"""Allocation inside reservations, on PostgreSQL and SQLite: within one batch the most urgent order
gets scarce stock first (priority, then the promised ship-by, then arrival), each order's decision
is recorded, and a backorder is filled only from its own candidates: decided again when stock arrives
or is freed (by the rules in force, fewest parcels counting what already ships), the later decision
appended to the explanation with when and why."""
from __future__ import annotations

import pytest

from services.inventory import catalog, domain, reservations, transfers

pytestmark = pytest.mark.integration


@pytest.fixture
def rules(inv):
    """The allocation rules as they were, put back after the test (the PostgreSQL database is shared)."""
    before = catalog.get_allocation_rules(inv.db)
    yield before
    inv.run(catalog.set_allocation_rules, before["coverage"], before["shops"])


def _placed(inv, sku: str, **extra) -> tuple[str, object]:
    order_id = f"O{inv.tag}{next(inv._orders):05d}"
    payload = {"order_id": order_id, "channel": "web", "shop": "s", **extra,
               "lines": [{"line_no": 1, "sku": sku, "quantity": 1}]}
    return order_id, inv.event("order_placed", payload)


def _statuses(answers) -> list[str]:
    return [lines[0]["status"] for lines in answers]


def test_in_one_batch_the_higher_priority_then_the_earlier_promise_gets_the_scarce_unit(inv):
    w, sku = inv.warehouse("W", 1), inv.sku("HOT")
    inv.receive(sku, w, 2, "3.00")
    batch = [_placed(inv, sku), _placed(inv, sku, ship_by="2026-12-07T10:00:00+08:00"),
             _placed(inv, sku, priority=3), _placed(inv, sku, ship_by="2026-12-06T10:00:00+08:00")]
    decided: list = []
    answers = inv.run(reservations.reserve_orders, [e for _, e in batch], 0, decided)
    # answered in the batch's order; the priority-3 order first, then the earliest promise
    assert _statuses(answers) == [domain.BACKORDERED, domain.BACKORDERED, domain.RESERVED, domain.RESERVED]
    assert len(decided) == 4 and inv.level(sku, w)["reserved"] == 2
    assert reservations.allocation_of(inv.db, batch[2][0])["priority"] == 3
    # the unit that arrives next goes to the earlier of the two promises left
    inv.receive(sku, w, 1, "3.00")
    assert [e["order_id"] for e in inv.events("stock_reserved")][-1] == batch[1][0]
    assert inv.audit() == []


def test_the_decision_is_recorded_and_a_backorder_waits_for_its_own_warehouses(inv, rules):
    near, far, sku = inv.warehouse("NEAR", 1), inv.warehouse("FAR", 2), inv.sku("A")
    shop = inv.code("jd-shop")
    inv.run(catalog.set_allocation_rules, rules["coverage"],
            [*rules["shops"], {"channel": "web", "shop": shop, "warehouses": [far]}])
    inv.receive(sku, near, 5, "3.00")
    order_id, event = _placed(inv, sku, shop=shop, shipping_address={"province": "Zhejiang", "city": "Hangzhou"})
    assert _statuses(inv.run(reservations.reserve_orders, [event])) == [domain.BACKORDERED]
    decision = reservations.allocation_of(inv.db, order_id)
    assert (decision["province"], decision["city"], decision["chosen"]) == ("Zhejiang", "Hangzhou", [])
    assert decision["candidates"] == [{"warehouse": far, "rank": 1, "source": "shop", "covers": [], "lacks": [sku]}]
    assert decision["reason"] == "backordered: no candidate warehouse has any of the lines free"
    inv.receive(sku, near, 5, "3.00")  # stock where the shop may not ship from: still waiting
    assert decision["lines"][0]["status"] == reservations.allocation_of(inv.db, order_id)["lines"][0]["status"] \
        == domain.BACKORDERED
    inv.receive(sku, far, 1, "3.00")
    filled = reservations.allocation_of(inv.db, order_id)["lines"][0]
    assert (filled["status"], filled["allocations"]) == (domain.RESERVED, [{"warehouse": far, "quantity": 1}])
    assert inv.audit() == []


def test_a_backorder_filled_later_is_decided_again_by_the_rules_and_the_decision_is_appended(inv, rules):
    """Stock freed in two warehouses at once (an order released): the backordered line goes where the
    order already ships from (no extra parcel), though the region prefers the other; the explanation
    keeps the first decision and appends the later one, with when and why."""
    w1, w2, a, b = inv.warehouse("W1", 1), inv.warehouse("W2", 2), inv.sku("A"), inv.sku("B")
    province = inv.code("PROV")
    inv.run(catalog.set_allocation_rules, [*rules["coverage"], {"province": province, "city": "", "warehouses": [w1, w2]}],
            rules["shops"])
    inv.receive(a, w2, 1, "3.00")
    inv.receive(b, w1, 1, "3.00")
    inv.receive(b, w2, 1, "3.00")
    holder = inv.order([(b, 2)])[0]  # holds B in both warehouses
    order_id = f"O{inv.tag}{next(inv._orders):05d}"
    placed = inv.event("order_placed", {"order_id": order_id, "channel": "web", "shop": "s",
                                        "shipping_address": {"province": province, "city": "Anycity"},
                                        "lines": [{"line_no": 1, "sku": a, "quantity": 1},
                                                  {"line_no": 2, "sku": b, "quantity": 1}]})
    answer = inv.run(reservations.reserve_orders, [placed])[0]
    assert [(l["status"], l["warehouse"]) for l in answer] == [(domain.RESERVED, w2), (domain.BACKORDERED, None)]
    first = reservations.allocation_of(inv.db, order_id)
    assert first["chosen"] == [w2] and first["later"] == []

    inv.cancel(holder)  # B is free in W1 (the region's first choice) and in W2 (which ships A already)
    explained = reservations.allocation_of(inv.db, order_id)
    assert [[(x["warehouse"], x["quantity"]) for x in l["allocations"]] for l in explained["lines"]] == [
        [(w2, 1)], [(w2, 1)]]
    assert (explained["chosen"], explained["reason"]) == (first["chosen"], first["reason"])  # the first, as it was
    [later] = explained["later"]
    assert later["why"] == f"stock freed: order {holder} released"
    assert later["chosen"] == [w2] and later["filled"] == [{"line_no": 2, "sku": b, "warehouse": w2, "quantity": 1}]
    assert later["reason"] == f"{w2}: no extra parcel, it ships the order's other lines already"
    assert [(c["warehouse"], c["rank"], c["covers"]) for c in later["candidates"]] == [(w1, 1, [2]), (w2, 2, [2])]
    assert later["decided_at"] >= first["decided_at"]
    assert inv.level(b, w1)["reserved"] == 0 and inv.level(b, w2)["reserved"] == 1
    assert [e["order_id"] for e in inv.events("stock_reserved")][-1] == order_id
    assert inv.audit() == []


def test_a_backorder_filled_later_follows_the_rules_in_force_then(inv, rules):
    """The region gained a warehouse after the order was backordered: stock there fills it, and the
    later decision says so; stock in a warehouse the rules do not allow still does not."""
    w1, w2, other, sku = inv.warehouse("W1", 1), inv.warehouse("W2", 2), inv.warehouse("X", 3), inv.sku("C")
    province = inv.code("PROV")
    inv.run(catalog.set_allocation_rules, [*rules["coverage"], {"province": province, "city": "", "warehouses": [w1]}],
            rules["shops"])
    order_id, event = _placed(inv, sku, shipping_address={"province": province, "city": ""})
    assert _statuses(inv.run(reservations.reserve_orders, [event])) == [domain.BACKORDERED]
    inv.run(catalog.set_allocation_rules, [*rules["coverage"],
                                           {"province": province, "city": "", "warehouses": [w1, w2]}], rules["shops"])
    inv.receive(sku, other, 1, "3.00")
    assert reservations.allocation_of(inv.db, order_id)["later"] == []
    inv.receive(sku, w2, 1, "3.00")
    explained = reservations.allocation_of(inv.db, order_id)
    assert explained["lines"][0]["allocations"] == [{"warehouse": w2, "quantity": 1}]
    [later] = explained["later"]
    assert later["why"].startswith(f"stock arrived: receipt of 1 {sku} into {w2}")
    assert [c["warehouse"] for c in later["candidates"]] == [w1, w2] and later["chosen"] == [w2]
    assert inv.audit() == []


def test_a_transfer_that_arrives_fills_the_backorder_and_says_so(inv, rules):
    """Stock the order may not take (outside its region's warehouses) travels to one it may: the
    arrival fills the backorder, and the later decision names the transfer."""
    source, near, sku = inv.warehouse("SRC", 1), inv.warehouse("NEAR", 2), inv.sku("D")
    province = inv.code("PROV")
    inv.run(catalog.set_allocation_rules, [*rules["coverage"], {"province": province, "city": "", "warehouses": [near]}],
            rules["shops"])
    inv.receive(sku, source, 3, "3.00")
    order_id, event = _placed(inv, sku, shipping_address={"province": province})
    assert _statuses(inv.run(reservations.reserve_orders, [event])) == [domain.BACKORDERED]
    sent = inv.run(transfers.ship, source, near, [{"sku": sku, "quantity": 2}])
    assert reservations.allocation_of(inv.db, order_id)["later"] == []  # on its way: nothing free where it may ship
    inv.run(transfers.receive, sent["transfer_id"])
    explained = reservations.allocation_of(inv.db, order_id)
    assert explained["lines"][0]["status"] == domain.RESERVED
    [later] = explained["later"]
    assert later["why"] == f"stock arrived: transfer {sent['transfer_id']} from {source} received in {near}"
    assert later["filled"] == [{"line_no": 1, "sku": sku, "warehouse": near, "quantity": 1}]
    assert later["reason"] == f"{near}: one parcel, the most preferred"
    assert inv.audit() == []
