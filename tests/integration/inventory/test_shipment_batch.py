"""A batch of order_shipped events issued in one transaction (reservations.issue_for_shipments, as the
inventory worker applies a wave): the same units and costs as shipping the orders one by one, in the
batch's order, and the batch's statements per place and SKU rather than twenty per order."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import event, select

from services.inventory import catalog, reservations, signals
from services.inventory.models import allocations
from services.inventory.models import reservations as reservation_lines

pytestmark = pytest.mark.integration

D = Decimal


def shipped(inv, order_id: str, line_nos: list[int]):
    return inv.event("order_shipped", {"order_id": order_id, "channel": "web",
                                       "lines": [{"line_no": n} for n in line_nos]})


def parcel(inv, order_id: str, n: int, lines: list[tuple[int, int]], completes: bool):
    return inv.event("order_shipped", {"order_id": order_id, "channel": "web", "parcel": n,
                                       "shipment_id": f"{order_id}-P{n}", "completes_order": completes,
                                       "lines": [{"line_no": l, "quantity": q} for l, q in lines]})


def statements_of(inv, envelopes) -> tuple[list, int]:
    """Ship `envelopes` as one batch; (what each order issued, how many statements it took)."""
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    event.listen(inv.db.engine, "before_cursor_execute", count)
    try:
        out = inv.run(reservations.issue_for_shipments, envelopes)
    finally:
        event.remove(inv.db.engine, "before_cursor_execute", count)
    return out, len(seen)


def test_a_batch_issues_fifo_in_its_order_with_a_few_statements_per_order(inv):
    w = inv.warehouse("main")
    sku = inv.sku("cup", costing="fifo")
    inv.receive(sku, w, 2, "10.00")
    inv.receive(sku, w, 6, "7.00")
    a, _ = inv.order([(sku, 1)])
    b, _ = inv.order([(sku, 2)])
    c, _ = inv.order([(sku, 2)])
    d, _ = inv.order([(sku, 1)])
    first, one = statements_of(inv, [shipped(inv, d, [1])])  # the oldest layer's first unit
    out, four = statements_of(inv, [shipped(inv, o, [1]) for o in (b, a, c)])
    # in the batch's order: b takes the oldest layer's last unit and one of the next, then a, then c
    assert [[l["cost"] for l in o] for o in first] == [["10.00"]]
    assert [[l["cost"] for l in o] for o in out] == [["17.00"], ["7.00"], ["14.00"]]
    assert [e["total_cost"] for e in inv.events("goods_issued")] == ["10.00", "17.00", "7.00", "14.00"]
    with inv.db.reader() as s:
        lines = s.execute(select(reservation_lines.c.order_id, reservation_lines.c.status, reservation_lines.c.cost,
                                 reservation_lines.c.issued_quantity)
                          .where(reservation_lines.c.order_id.in_((a, b, c, d)))).all()
        costs = dict(s.execute(select(allocations.c.order_id, allocations.c.cost)
                               .where(allocations.c.order_id.in_((a, b, c, d)))).all())
    assert {(o, st, D(cost), int(q)) for o, st, cost, q in lines} == {
        (d, "issued", D("10.00"), 1), (b, "issued", D("17.00"), 2), (a, "issued", D("7.00"), 1),
        (c, "issued", D("14.00"), 2)}
    assert costs == {d: D("10.00"), b: D("17.00"), a: D("7.00"), c: D("14.00")}
    level = inv.level(sku, w)
    assert (level["on_hand"], level["reserved"]) == (2, 0)
    assert inv.value(w, sku) == D("14.00")
    assert inv.audit() == []
    # two more orders in the batch cost a statement each at most (an executemany's), not twenty each
    assert four - one <= 2, (one, four)


def test_two_parcels_of_an_order_in_one_batch_issue_its_line_whole(inv):
    w = inv.warehouse("main")
    sku = inv.sku("mug", costing="average")
    inv.receive(sku, w, 3, "10.00")
    o, _ = inv.order([(sku, 3)])
    out, _ = statements_of(inv, [parcel(inv, o, 1, [(1, 1)], False), parcel(inv, o, 2, [(1, 2)], True)])
    assert [[(l["quantity"], l["cost"]) for l in p] for p in out] == [[(1, "10.00")], [(2, "20.00")]]
    with inv.db.reader() as s:
        line = s.execute(select(reservation_lines).where(reservation_lines.c.order_id == o)).one()
    assert (line.status, int(line.issued_quantity), D(line.cost), line.expires_at) == ("issued", 3, D("30.00"), None)
    assert inv.level(sku, w)["on_hand"] == 0
    assert inv.audit() == []


def test_the_signals_of_a_batch_read_levels_and_limits_by_one_statement_for_every_sku(inv):
    w = inv.warehouse("main")
    cups = [inv.sku(f"cup{i}") for i in range(3)]
    orders = []
    for sku in cups:
        inv.receive(sku, w, 5, "1.00")
        inv.run(catalog.set_limits, sku, w, 2, 10)
        orders.append(inv.order([(sku, 4)])[0])
    with inv.uow() as uow:
        seen = []

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)
        event.listen(inv.db.engine, "before_cursor_execute", count)
        try:
            signals._signal(uow, {(sku, w) for sku in cups})
        finally:
            event.remove(inv.db.engine, "before_cursor_execute", count)
    # one read (levels and limits) for the three SKUs, and each limit's flag set: not a read per SKU and place
    assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) == 1
    assert sorted(e["sku"] for e in inv.events("low_stock")) == cups
    assert [e["available"] for e in inv.events("stock_changed") if e["sku"] == cups[0]][-1] == 1
