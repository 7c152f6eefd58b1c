"""A batch of stock answers (the order worker's stock_reserved / stock_short batches) on PostgreSQL and
SQLite: the lines and statuses are those applying the answers one after the other gives (a later answer
of the same order wins; a refunded line stays refunded; a held order stays held, its lines answered);
an order unknown here refuses the whole batch and nothing of it stays."""
from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import NotFound
from services.order import domain, handlers, holds
from services.order.models import order_lines, orders, review_decisions

pytestmark = pytest.mark.integration


def uow(db, actor="ops"):
    return UnitOfWork(db, "order", actor, "test")


def place(db, lines: int = 1) -> str:
    cmd = domain.PlaceOrder(channel="web", shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            buyer={"external_id": uuid.uuid4().hex[:12]},
                            lines=[domain.LineInput(sku=f"TEA-{n}", quantity=1, unit_price=Decimal("9.90"))
                                   for n in range(lines)])
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, cmd)
    return order_id


def answer(order_id, *lines, actor="inventory", sequence=1) -> tuple[None, Envelope]:
    return None, Envelope(type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=sequence,
                          correlation_id="c", actor=actor,
                          payload={"order_id": order_id, "lines": [{"line_no": n, "status": status, "warehouse": wh}
                                                                   for n, status, wh in lines]})


def state(db, order_id) -> tuple[str, str, list[tuple[int, str, str | None]]]:
    with db.reader() as s:
        row = s.execute(select(orders.c.status, orders.c.updated_by).where(orders.c.id == order_id)).one()
        lines = s.execute(select(order_lines.c.line_no, order_lines.c.reservation, order_lines.c.warehouse)
                          .where(order_lines.c.order_id == order_id).order_by(order_lines.c.line_no)).all()
    return row.status, row.updated_by, [tuple(line) for line in lines]


def test_a_batch_leaves_what_its_answers_one_after_the_other_leave(db):
    short_then_filled, held, refunded, untouched = place(db, 2), place(db), place(db, 2), place(db, 2)
    with uow(db) as u:
        holds.place(u, held, "needs_review", by="ops")
        u.session.execute(update(order_lines).where(order_lines.c.order_id == refunded, order_lines.c.line_no == 2)
                          .values(reservation=domain.REFUNDED))
    with uow(db) as u:
        handlers.apply_stock_answers(u, [
            answer(short_then_filled, (1, domain.RESERVED, "W1"), (2, domain.BACKORDERED, None), actor="first"),
            answer(held, (1, domain.RESERVED, "W1")),
            answer(refunded, (1, domain.BACKORDERED, None), (2, domain.RESERVED, "W2")),
            answer(untouched, (1, domain.RESERVED, "W1")),  # its second line not answered yet: pending
            answer(short_then_filled, (2, domain.RESERVED, "W2"), actor="second", sequence=2)])
    assert state(db, short_then_filled) == (domain.RESERVED, "second", [(1, domain.RESERVED, "W1"),
                                                                         (2, domain.RESERVED, "W2")])
    assert state(db, held)[0] == domain.HELD and state(db, held)[2] == [(1, domain.RESERVED, "W1")]
    assert state(db, refunded) == (domain.BACKORDERED, "inventory", [(1, domain.BACKORDERED, None),
                                                                      (2, domain.REFUNDED, None)])
    assert state(db, untouched) == (domain.PENDING, "inventory", [(1, domain.RESERVED, "W1"),
                                                                   (2, domain.PENDING, None)])


def test_an_order_unknown_here_refuses_the_batch(db):
    known = place(db)
    with pytest.raises(NotFound, match="order unknown-order is unknown"), uow(db) as u:
        handlers.apply_stock_answers(u, [answer(known, (1, domain.RESERVED, "W1")),
                                         answer("unknown-order", (1, domain.RESERVED, "W1"))])
    assert state(db, known) == (domain.PENDING, "ops", [(1, domain.PENDING, None)])


def test_review_and_merge_read_the_answered_orders_once(db):
    """The answered orders are read once for review and merge (their review and grouping as before:
    test_review, test_merge)."""
    from sqlalchemy import event

    first, second = place(db), place(db)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with uow(db) as u:
            handlers.apply_stock_answers(u, [answer(first, (1, domain.RESERVED, "W1")),
                                             answer(second, (1, domain.RESERVED, "W1"))], timedelta(minutes=30))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    by_id = [s for s in statements if s.startswith("SELECT orders.id") and "WHERE orders.id IN" in s]
    assert len(by_id) == 1, by_id
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(review_decisions)
                         .where(review_decisions.c.order_id.in_([first, second]))).scalar() == 2
