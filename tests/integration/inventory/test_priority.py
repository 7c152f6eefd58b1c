"""order_prioritised: a review rule raised an order's priority after inventory reserved it; its
reservations take the new priority, so the next stock fills its backorder before older ones.
Through the inventory worker's batched handler (its inbox: duplicates and stale events change
nothing), on PostgreSQL and SQLite."""
from __future__ import annotations

from nameko.testing.services import worker_factory
from sqlalchemy import select

from hubkit.envelope import Envelope
from hubkit.inbox import PredecessorMissing
from services.inventory import reservations as reservations_
from services.inventory.models import reservations
from services.inventory.worker import Worker


def _prioritised(order_id: str, priority: int, sequence: int) -> Envelope:
    return Envelope(type="order_prioritised", source="order", aggregate_id=order_id, sequence=sequence,
                    payload={"order_id": order_id, "priority": priority, "rule": "vip"},
                    correlation_id="test-priority", actor="review")


def _priorities(inv, order_id: str) -> list[int]:
    with inv.db.reader() as s:
        return list(s.execute(select(reservations.c.priority).where(reservations.c.order_id == order_id)
                              .order_by(reservations.c.line_no)).scalars())


def test_a_raised_priority_fills_the_younger_backorder_first(inv):
    sku, wh = inv.sku("TEA"), inv.warehouse("WH")
    older, _ = inv.order([(sku, 2)])
    younger, answer = inv.order([(sku, 2), (sku, 1)])
    assert [l["status"] for l in answer] == ["backordered", "backordered"]
    worker = worker_factory(Worker, db=inv.db)

    raised = _prioritised(younger, 10, sequence=3)
    assert worker.on_order_prioritised([raised]) == [True]
    assert worker.on_order_prioritised([raised]) == [False]  # the same event again: nothing
    # an older event of the order arriving late is stale; a lower priority never lowers it anyway
    assert worker.on_order_prioritised([_prioritised(younger, 3, sequence=2)]) == [False]
    assert worker.on_order_prioritised([_prioritised(younger, 4, sequence=4)]) == [True]
    assert _priorities(inv, younger) == [10, 10] and _priorities(inv, older) == [0]
    assert reservations_.allocation_of(inv.db, younger)["priority"] == 10  # what GET /stock/allocations shows

    inv.receive(sku, wh, 3, "5.00")  # enough for the younger order's two lines, not for the older too
    reserved = inv.events("stock_reserved")
    assert [e["order_id"] for e in reserved] == [younger]
    with inv.db.reader() as s:
        status = dict(s.execute(select(reservations.c.order_id, reservations.c.status)
                                .where(reservations.c.order_id == older)).all())
    assert status == {older: "backordered"}
    assert inv.level(sku, wh)["reserved"] == 3


def test_a_batch_raises_each_order_once_to_its_highest_priority(inv):
    sku = inv.sku("CUP")
    inv.warehouse("WH")
    first, _ = inv.order([(sku, 1)])
    second, _ = inv.order([(sku, 1)])
    worker = worker_factory(Worker, db=inv.db)
    batch = [_prioritised(first, 5, sequence=2), _prioritised(second, 7, sequence=2),
             _prioritised(first, 9, sequence=3)]
    assert worker.on_order_prioritised(batch) == [True, True, True]
    assert _priorities(inv, first) == [9] and _priorities(inv, second) == [7]


def test_an_order_inventory_has_not_reserved_is_retried_later(inv):
    worker = worker_factory(Worker, db=inv.db)
    [outcome] = worker.on_order_prioritised([_prioritised(f"unknown-{inv.tag}", 10, sequence=2)])
    assert isinstance(outcome, PredecessorMissing)
    # not recorded as seen: the retry is tried again (and would apply once the order is reserved)
    [again] = worker.on_order_prioritised([_prioritised(f"unknown-{inv.tag}", 10, sequence=2)])
    assert isinstance(again, PredecessorMissing)
