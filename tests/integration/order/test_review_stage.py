"""The review stage on PostgreSQL and SQLite (HUB_ORDER_REVIEW_STAGE, services.order.reservation):
after reservation (the default) order_placed asks inventory to reserve when the order is placed and review
follows inventory's answer; before reservation a new order is reviewed when placed, and a held one asks
inventory only when released (once), a rejected or cancelled one never asks (nothing goes to inventory), an
approved one asks at once and is not reviewed again when inventory answers."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict
from services.order import domain, handlers, holds, review

pytestmark = pytest.mark.integration

# orders over 100 wait for a person; a rule raises the priority of every order over 50
RULES = {"name": "stage", "otherwise": "approve", "rules": [
    {"id": "big", "description": "over 100 waits for a person", "when": "amount > 100",
     "actions": [{"kind": "hold", "reason": "needs_review"}]},
    {"id": "covered", "description": "stock for every line: first", "when": "stock_covers",
     "actions": [{"kind": "set_priority", "priority": 40}]},
    {"id": "early", "description": "reviewed before reservation", "when": 'review_stage == "before_reservation"',
     "actions": [{"kind": "note", "note": "reviewed before reservation"}]},
    {"id": "over-50", "description": "over 50 first", "when": "amount > 50",
     "actions": [{"kind": "set_priority", "priority": 7}]}]}
SHIP_BY = datetime(2031, 5, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def rules_in_force(db):
    with UnitOfWork(db, "order", "ops", "test") as u:
        review.apply_rule_set(u, json.dumps(RULES))
    yield
    with UnitOfWork(db, "order", "ops", "test") as u:
        review.roll_back(u, 0)


def uow(db, actor="ops"):
    return UnitOfWork(db, "order", actor, "test")


def command(price: str, external_id: str = "") -> domain.PlaceOrder:
    return domain.PlaceOrder(channel="web", shop="s1", external_order_id=external_id or uuid.uuid4().hex[:20],
                             buyer={"external_id": uuid.uuid4().hex[:12]}, priority=3, ship_by=SHIP_BY,
                             lines=[domain.LineInput(sku="TEA", quantity=2, unit_price=Decimal(price))])


def place(db, price: str, review_first: bool, external_id: str = "") -> str:
    with uow(db) as u:
        order_id, _ = handlers.place_order(u, command(price, external_id), review_first)
    return order_id


def answer(order_id, reservation=domain.RESERVED, sequence=1) -> Envelope:
    return Envelope(type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=sequence,
                    correlation_id="c", actor="inventory",
                    payload={"order_id": order_id, "lines": [{"line_no": 1, "status": reservation, "warehouse": "W1"}]})


def emitted(db, order_id, event_type="") -> list[Envelope]:
    """What the order service wrote to its outbox for the order (of one type, or every one but the notifier's
    announcement of a hold, order_held: these tests are about what asks inventory), in order."""
    outbox = db.metadata.tables["outbox"]
    query = select(outbox.c.body).order_by(outbox.c.id)
    if event_type:
        query = query.where(outbox.c.event_type == event_type)
    with db.reader() as s:
        found = [Envelope.from_json(b) for b in s.execute(query).scalars()]
    return [e for e in found if e.aggregate_id == order_id and (event_type or e.type != "order_held")]


def types(db, order_id) -> list[str]:
    return [e.type for e in emitted(db, order_id)]


def status(db, order_id) -> str:
    return handlers.get_order(db, order_id)["status"]


# -- after reservation (the default): unchanged --------------------------------------------------------
def test_after_reservation_the_order_asks_when_placed_and_is_reviewed_on_the_answer(db):
    held, plain = place(db, "60.00", False), place(db, "20.00", False)
    assert types(db, held) == types(db, plain) == ["order_placed"]  # asked at once, before any review
    assert review.decisions(db, held) == [] and status(db, held) == domain.PENDING
    with uow(db) as u:
        handlers.apply_stock_answer(u, answer(held))
        handlers.apply_stock_answer(u, answer(plain))
    [decided] = review.decisions(db, held)
    facts = json.loads(decided["facts"])
    assert (facts["review_stage"], facts["stock_covers"], decided["outcome"]) == ("after_reservation", True, "hold")
    assert status(db, held) == domain.HELD and status(db, plain) == domain.RESERVED
    # inventory reserved it already: the raised priority is told to it
    assert [e.payload["priority"] for e in emitted(db, held, "order_prioritised")] == [40]
    with uow(db) as u:  # a held order that is rejected releases its stock
        handlers.reject_order(u, held, "not this one")
    assert types(db, held) == ["order_placed", "order_prioritised", "order_cancelled"]
    with uow(db) as u:  # a released one was asked once only
        holds.place(u, plain, "manual", note="look")
    with uow(db) as u:
        assert holds.release(u, plain)["status"] == domain.RESERVED
    assert types(db, plain) == ["order_placed", "order_prioritised"]


# -- before reservation -----------------------------------------------------------------------------------
def test_before_reservation_a_held_order_asks_nothing_until_released_then_once(db):
    waiting = handlers.awaiting_inventory(db)[0]
    order_id = place(db, "60.00", True)  # 120.00: held by `big`
    assert status(db, order_id) == domain.HELD and types(db, order_id) == []
    order = handlers.get_order(db, order_id)
    assert [l["reservation"] for l in order["lines"]] == [domain.PENDING] and order["priority"] == 7
    [decided] = review.decisions(db, order_id)
    facts = json.loads(decided["facts"])
    assert (facts["review_stage"], facts["stock_covers"]) == ("before_reservation", False)
    assert (decided["outcome"], decided["rule"]) == ("hold", "big")
    assert "reviewed before reservation" in order["holds"][0]["note"]
    assert handlers.awaiting_inventory(db)[0] == waiting  # not waiting for inventory: it was not asked
    with pytest.raises(Conflict, match="before reservation"), uow(db) as u:  # nothing reserved to move
        handlers.change_warehouse(u, order_id, "W2", lambda *a: [])
    with uow(db, "alice") as u:
        assert holds.release(u, order_id, "checked")["status"] == domain.PENDING
    [placed] = emitted(db, order_id)
    assert placed.type == "order_placed" and placed.actor == "alice"
    assert (placed.payload["priority"], placed.payload["ship_by"]) == (7, SHIP_BY.isoformat())  # review's 7 > 3
    assert placed.payload["total"] == "120.00" and [l["sku"] for l in placed.payload["lines"]] == ["TEA"]
    assert handlers.awaiting_inventory(db)[0] == waiting + 1
    with pytest.raises(Conflict), uow(db) as u:  # no open hold left: a second release is refused
        holds.release(u, order_id)
    with uow(db) as u:  # held and released again after it asked: still asked once
        holds.place(u, order_id, "manual", note="again")
    with uow(db) as u:
        holds.release(u, order_id)
    with uow(db) as u:  # inventory's answer does not review it again
        handlers.apply_stock_answer(u, answer(order_id))
    assert status(db, order_id) == domain.RESERVED and len(review.decisions(db, order_id)) == 1
    assert types(db, order_id) == ["order_placed"]


def test_before_reservation_a_rejected_or_cancelled_held_order_emits_nothing(db):
    rejected, cancelled, by_channel = (place(db, "60.00", True) for _ in range(3))
    with uow(db) as u:
        handlers.reject_order(u, rejected, "fraud")
    with uow(db) as u:
        handlers.cancel_order(u, cancelled, "buyer asked")
    channel_id = handlers.get_order(db, by_channel)["external_order_id"]
    with uow(db, "channel") as u:  # the channel cancels it
        cmd = command("60.00", channel_id)
        assert handlers.apply_channel_order(u, domain.ChannelOrder(order=cmd, version=5, status="cancelled"),
                                            True) == (by_channel, "cancelled")
    for order_id in (rejected, cancelled, by_channel):
        order = handlers.get_order(db, order_id)
        assert order["status"] == domain.CANCELLED and [h["outcome"] for h in order["holds"]] == [domain.REJECTED]
        assert types(db, order_id) == []  # no order_placed, no order_cancelled: inventory never heard of it
    with pytest.raises(Conflict), uow(db) as u:  # and a released cancelled order asks nothing either
        holds.release(u, rejected)
    assert types(db, rejected) == []


def test_before_reservation_an_approved_order_asks_at_once_and_is_not_reviewed_again(db):
    order_id = place(db, "30.00", True)  # 60.00: approved, priority 7
    assert status(db, order_id) == domain.PENDING
    [placed] = emitted(db, order_id)
    assert placed.type == "order_placed" and placed.payload["priority"] == 7  # on the request, no order_prioritised
    [decided] = review.decisions(db, order_id)
    assert decided["outcome"] == "approve"
    with uow(db) as u:
        handlers.apply_stock_answer(u, answer(order_id, domain.BACKORDERED))
    with uow(db) as u:  # the backorder filled: still no second review (stock_covers would now raise it to 40)
        handlers.apply_stock_answer(u, answer(order_id, sequence=2))
    assert status(db, order_id) == domain.RESERVED and len(review.decisions(db, order_id)) == 1
    assert types(db, order_id) == ["order_placed"]


def test_before_reservation_the_same_order_again_is_placed_and_asks_once(db):
    external_id = uuid.uuid4().hex[:20]
    with uow(db) as u:
        order, created = handlers.placed_order(u, command("10.00", external_id), True)
    assert created and order["status"] == domain.PENDING and order["holds"] == []
    with uow(db) as u:
        again, created = handlers.placed_order(u, command("10.00", external_id), True)
    assert not created and again["id"] == order["id"]
    assert types(db, order["id"]) == ["order_placed"] and len(review.decisions(db, order["id"])) == 1
    [placed] = emitted(db, order["id"])
    assert (placed.payload["priority"], placed.payload["ship_by"]) == (3, SHIP_BY.isoformat())  # the channel's
