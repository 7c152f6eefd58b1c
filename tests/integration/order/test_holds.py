"""Holds on PostgreSQL and SQLite (services.order.holds): a held order keeps its reservation and
cannot ship; releasing its last hold gives it back the status its lines make; a reject cancels it
(order_cancelled, inventory releases the stock); every action is audited; an action in the wrong
state is a Conflict that changes nothing."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hubkit import clock
from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, InvalidArgument, PermissionDenied
from services.order import domain, handlers, holds
from services.order.models import order_audit, order_holds

pytestmark = pytest.mark.integration


def uow(db, actor="ops"):
    return UnitOfWork(db, "order", actor, "test")


def placed(db, reservation=domain.RESERVED) -> str:
    cmd = domain.PlaceOrder(channel="web", shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            lines=[domain.LineInput(sku="TEA", quantity=2, unit_price=Decimal("9.90"))])
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, cmd)
    with uow(db) as u:
        handlers.apply_stock_answer(u, answer(order_id, reservation, "WH1"))
    return order_id


def answer(order_id, reservation, warehouse) -> Envelope:
    return Envelope(type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1,
                    correlation_id="c", actor="inventory",
                    payload={"order_id": order_id,
                             "lines": [{"line_no": 1, "status": reservation, "warehouse": warehouse}]})


def status(db, order_id):
    return handlers.get_order(db, order_id)["status"]


def test_a_held_order_keeps_its_reservation_cannot_ship_and_ships_once_released(db):
    order_id = placed(db)
    with uow(db, "rules") as u:
        hold_id, created = holds.place(u, order_id, "needs_review", note="amount over 5000", rule="big-amount")
    assert created and status(db, order_id) == domain.HELD
    assert handlers.get_order(db, order_id)["lines"][0]["reservation"] == domain.RESERVED
    with uow(db) as u:  # the same rule again holds once
        assert holds.place(u, order_id, "needs_review", rule="big-amount") == (hold_id, False)
    with pytest.raises(Conflict, match="held"), uow(db) as u:
        handlers.ship_order(u, order_id, "SF", "SF1234")
    assert status(db, order_id) == domain.HELD
    with uow(db, "alice") as u:
        assert holds.release(u, order_id, "checked with the buyer") == {"status": domain.RESERVED,
                                                                        "released": [hold_id]}
    with db.reader() as s:
        hold = s.execute(select(order_holds).where(order_holds.c.id == hold_id)).one()
        actions = [(a["action"], a["actor"]) for a in holds.audit_of(s, order_id)]
    assert (hold.outcome, hold.released_by, hold.outcome_note, hold.placed_by) == \
        ("released", "alice", "checked with the buyer", "rules")
    assert actions == [("hold", "rules"), ("release", "alice")]
    with uow(db) as u:
        assert handlers.ship_order(u, order_id, "SF", "SF1234")["status"] == domain.SHIPPED


def test_release_waits_for_every_open_hold_and_a_finance_hold_needs_finance(db):
    order_id = placed(db, domain.BACKORDERED)
    with uow(db) as u:
        first, _ = holds.place(u, order_id, "address_check")
        finance, _ = holds.place(u, order_id, "finance_approval")
    with uow(db) as u:
        assert holds.release(u, order_id, hold_id=first) == {"status": domain.HELD, "released": [first]}
    with pytest.raises(PermissionDenied), uow(db) as u:
        holds.release(u, order_id)
    with uow(db) as u:
        assert holds.release(u, order_id, finance=True)["status"] == domain.BACKORDERED
    with pytest.raises(Conflict, match="no open hold"), uow(db) as u:  # nothing left to release
        holds.release(u, order_id)


def test_a_stock_answer_while_held_updates_the_lines_and_the_release_finds_it(db):
    order_id = placed(db, domain.BACKORDERED)
    with uow(db) as u:
        holds.place(u, order_id, "manual", note="call the buyer")
    with uow(db) as u:
        handlers.apply_stock_answer(u, answer(order_id, domain.RESERVED, "WH2"))
    assert status(db, order_id) == domain.HELD
    with uow(db) as u:
        assert holds.release(u, order_id)["status"] == domain.RESERVED


def test_a_cancel_closes_the_holds_as_rejected_and_a_closed_order_cannot_be_held(db):
    order_id = placed(db)
    with uow(db) as u:
        hold_id, _ = holds.place(u, order_id, "fraud_suspicion")
    with uow(db, "bob") as u:
        assert handlers._cancel(u, order_id, clock.now(), "fraud confirmed")
    with db.reader() as s:
        hold = s.execute(select(order_holds).where(order_holds.c.id == hold_id)).one()
        audited = s.execute(select(func.count()).select_from(order_audit)
                            .where(order_audit.c.order_id == order_id)).scalar()
    assert (hold.outcome, hold.released_by) == ("rejected", "bob") and audited == 2
    assert status(db, order_id) == domain.CANCELLED
    with pytest.raises(Conflict, match="cancelled"), uow(db) as u:
        holds.place(u, order_id, "manual")
    other = placed(db)
    with pytest.raises(InvalidArgument), uow(db) as u:
        holds.place(u, other, "because")
    assert status(db, other) == domain.RESERVED


def test_a_held_order_inventory_has_not_answered_counts_for_backpressure(db):
    cmd = domain.PlaceOrder(channel="web", shop="s1", external_order_id=uuid.uuid4().hex[:20],
                            lines=[domain.LineInput(sku="TEA", quantity=1, unit_price=Decimal("1.00"))])
    before, _ = handlers.awaiting_inventory(db)
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, cmd)
        holds.place(u, order_id, "needs_review", rule="new-buyer")  # held as it is placed
    assert status(db, order_id) == domain.HELD
    assert handlers.awaiting_inventory(db)[0] == before + 1
    with uow(db) as u:
        handlers.apply_stock_answer(u, answer(order_id, domain.RESERVED, "WH1"))
    assert handlers.awaiting_inventory(db)[0] == before and status(db, order_id) == domain.HELD


def _sample(name: str, **labels) -> float:
    from prometheus_client import REGISTRY
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_holds_are_counted_by_reason_and_time_in_review_once_committed(db):
    order_id = placed(db)
    placed_before = _sample("hub_order_holds_placed_total", reason="out_of_stock")
    reviews_before = _sample("hub_order_hold_seconds_count", reason="out_of_stock", outcome="released")
    with pytest.raises(RuntimeError), uow(db) as u:  # rolled back: not counted
        holds.place(u, order_id, "out_of_stock")
        raise RuntimeError("the decision failed")
    assert _sample("hub_order_holds_placed_total", reason="out_of_stock") == placed_before
    with uow(db) as u:
        holds.place(u, order_id, "out_of_stock")
    with uow(db) as u:
        holds.release(u, order_id, "arrived")
    assert _sample("hub_order_holds_placed_total", reason="out_of_stock") == placed_before + 1
    assert _sample("hub_order_hold_seconds_count", reason="out_of_stock", outcome="released") == reviews_before + 1


def _held_events(db, order_id) -> list[dict]:
    outbox = db.metadata.tables["outbox"]
    with db.session() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_held")
                           .order_by(outbox.c.id)).scalars().all()
    return [e.payload for e in map(Envelope.from_json, bodies) if e.aggregate_id == order_id]


def test_a_hold_placed_is_announced_once_in_its_transaction_and_a_finance_hold_as_an_approval(db):
    order_id = placed(db)
    with uow(db, "rules") as u:
        hold_id, _ = holds.place(u, order_id, "needs_review", note="amount over 5000", rule="big-amount")
    with uow(db, "rules") as u:  # the same rule again: the same hold, not announced again
        holds.place(u, order_id, "needs_review", rule="big-amount")
    with pytest.raises(Conflict), uow(db, "rules") as u:  # a refused hold announces nothing
        holds.place(u, order_id, "finance_approval")
        raise Conflict("the caller changed its mind: the transaction rolls back")
    with uow(db, "rules") as u:
        finance_id, _ = holds.place(u, order_id, "finance_approval", note="over the credit limit")
    events = _held_events(db, order_id)
    assert [(e["hold_id"], e["reason"], e["approval"]) for e in events] == [
        (hold_id, "needs_review", False), (finance_id, "finance_approval", True)]
    assert events[0]["rule"] == "big-amount" and events[0]["placed_by"] == "rules"
