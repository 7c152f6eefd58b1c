"""Merge on PostgreSQL and SQLite (services.order.merge): orders of one buyer to one address from one
shop, placed within the window, are grouped when inventory has answered them and ship as one shipment
(one carrier and tracking number, an order_shipped each) only when every one can; another shop,
address or a moment outside the window is another shipment; an unmerge, audited, lets one ship alone."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from hubkit.db import UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict
from services.order import domain, handlers, holds, merge
from services.order.models import metadata, orders

pytestmark = pytest.mark.integration
WINDOW = timedelta(minutes=30)
ADDRESS = {"recipient": "Wang Fang", "phone": "13800000000", "province": "Zhejiang", "city": "Hangzhou",
           "district": "Xihu", "street": "100 Wensan Road"}


def uow(db, actor="ops"):
    return UnitOfWork(db, "order", actor, "test")


def place(db, buyer: str, shop="s1", address=None) -> str:
    cmd = domain.PlaceOrder(channel="web", shop=shop, external_order_id=uuid.uuid4().hex[:20],
                            buyer={"external_id": buyer}, shipping_address=address or ADDRESS,
                            lines=[domain.LineInput(sku="TEA", quantity=1, unit_price=Decimal("9.90"))])
    with uow(db) as u:
        return handlers.place_order(u, cmd)[0]


def answer_all(db, *order_ids, window=WINDOW) -> None:
    """inventory reserved them all, answered in one batch (one unit of work)"""
    with uow(db, "inventory") as u:
        for order_id in order_ids:
            handlers.apply_stock_answer(u, Envelope(
                type="stock_reserved", source="inventory", aggregate_id=order_id, sequence=1, correlation_id="c",
                actor="inventory", payload={"order_id": order_id, "lines": [
                    {"line_no": 1, "status": domain.RESERVED, "warehouse": "WH1"}]}), window)


def shipped_events(db) -> list[dict]:
    outbox = metadata.tables["outbox"]
    with db.reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "order_shipped")).scalars().all()
    return [json.loads(b)["payload"] for b in bodies]


def test_one_buyers_orders_to_one_address_from_one_shop_merge_and_ship_as_one(db):
    buyer = uuid.uuid4().hex[:8]
    first, second = place(db, buyer), place(db, buyer, address={**ADDRESS, "street": " 100  wensan road "})
    other_shop, other_address = place(db, buyer, shop="s2"), place(db, buyer, address={**ADDRESS, "street": "1 Road"})
    answer_all(db, first, second, other_shop, other_address)
    one, two = handlers.get_order(db, first), handlers.get_order(db, second)
    group = one["merge_group"]
    assert group in (first, second) and two["merge_group"] == group  # named after its oldest order
    assert (one["merged_with"], two["merged_with"]) == ([second], [first])
    assert all(handlers.get_order(db, o)["merge_group"] is None for o in (other_shop, other_address))
    assert {o["id"] for o in handlers.list_orders(db, merge_group=group)[0]} == {first, second}
    with db.reader() as s:
        why = [a for a in holds.audit_of(s, second) if a["action"] == "merge"]
    assert len(why) == 1 and f"web:{buyer}" in why[0]["note"] and "window 30 min" in why[0]["note"]

    with uow(db, "packer") as u:
        answered = handlers.ship_order(u, second, "SF", "SF20260001")
    assert (answered["status"], answered["merged_with"]) == (domain.SHIPPED, [first])
    for order_id in (first, second):
        o = handlers.get_order(db, order_id)
        assert (o["status"], o["carrier"], o["tracking_number"]) == (domain.SHIPPED, "SF", "SF20260001")
    events = [e for e in shipped_events(db) if e["order_id"] in (first, second)]
    assert sorted(e["order_id"] for e in events) == sorted([first, second])  # each confirmed on its own
    assert {e["tracking_number"] for e in events} == {"SF20260001"}
    with uow(db, "packer") as u:  # the same shipment asked again changes nothing
        assert handlers.ship_order(u, first, "SF", "SF20260001")["status"] == domain.SHIPPED
    assert len([e for e in shipped_events(db) if e["order_id"] in (first, second)]) == 2


def test_a_held_member_blocks_the_group_and_an_unmerge_lets_the_other_ship_alone(db):
    buyer = uuid.uuid4().hex[:8]
    first, second = place(db, buyer), place(db, buyer)
    answer_all(db, first, second)
    with uow(db) as u:
        holds.place(u, second, "address_check", note="call the buyer")
    with pytest.raises(Conflict, match=f"order {second} of the group is held"), uow(db) as u:
        handlers.ship_order(u, first, "SF", "SF20260002")
    assert [handlers.get_order(db, o)["status"] for o in (first, second)] == [domain.RESERVED, domain.HELD]
    assert not [e for e in shipped_events(db) if e["order_id"] in (first, second)]

    with uow(db, "alice") as u:
        assert merge.unmerge(u, second, "ships when the buyer answers") in (first, second)
    assert [handlers.get_order(db, o)["merge_group"] for o in (first, second)] == [None, None]  # a group of one
    with db.reader() as s:
        left = [(a["action"], a["actor"], a["detail"]["why"]) for a in holds.audit_of(s, second)
                if a["action"] == "unmerge"]
    assert left == [("unmerge", "alice", "operator")]
    with pytest.raises(Conflict, match="in no merge group"), uow(db) as u:
        merge.unmerge(u, second)
    with uow(db) as u:
        assert handlers.ship_order(u, first, "SF", "SF20260003")["status"] == domain.SHIPPED
    assert handlers.get_order(db, second)["status"] == domain.HELD
    answer_all(db, second)  # a later answer does not merge an unmerged order again
    assert handlers.get_order(db, second)["merge_group"] is None


def test_outside_the_window_or_with_merge_off_orders_ship_apart(db):
    buyer = uuid.uuid4().hex[:8]
    early, late = place(db, buyer), place(db, buyer)
    with uow(db) as u:
        u.session.execute(update(orders).where(orders.c.id == early).values(
            created_at=handlers.get_order(db, late)["created_at"] - timedelta(minutes=31)))
    answer_all(db, early, late)
    assert [handlers.get_order(db, o)["merge_group"] for o in (early, late)] == [None, None]
    buyer = uuid.uuid4().hex[:8]
    one, two = place(db, buyer), place(db, buyer)
    answer_all(db, one, two, window=None)
    assert [handlers.get_order(db, o)["merge_group"] for o in (one, two)] == [None, None]


def test_a_new_address_takes_an_order_out_of_its_group(db):
    buyer = uuid.uuid4().hex[:8]
    first, second = place(db, buyer), place(db, buyer)
    answer_all(db, first, second)
    with uow(db) as u:
        handlers.change_shipping_address(u, second, {**ADDRESS, "street": "200 Wensan Road"}, "moved")
    assert [handlers.get_order(db, o)["merge_group"] for o in (first, second)] == [None, None]
    with uow(db) as u:
        assert handlers.ship_order(u, first, "SF", "SF20260004")["merged_with"] == []


def test_orders_answered_in_one_batch_or_later_join_one_group(db):
    buyer = uuid.uuid4().hex[:8]
    first, second, third = place(db, buyer), place(db, buyer), place(db, buyer)
    answer_all(db, third, second)
    group = handlers.get_order(db, second)["merge_group"]
    assert group and handlers.get_order(db, third)["merge_group"] == group
    answer_all(db, first)  # answered last: joins the group the others formed
    assert {o: handlers.get_order(db, o)["merge_group"] for o in (first, second, third)} == \
        dict.fromkeys((first, second, third), group)
    assert sorted(handlers.get_order(db, first)["merged_with"]) == sorted([second, third])


def test_a_cancelled_order_leaves_its_group_and_the_other_ships_alone(db):
    buyer = uuid.uuid4().hex[:8]
    first, second, third = place(db, buyer), place(db, buyer), place(db, buyer)
    answer_all(db, first, second, third)
    with uow(db) as u:
        handlers.cancel_order(u, second, "the buyer changed their mind")
    cancelled = handlers.get_order(db, second)
    assert (cancelled["merge_group"], cancelled["merged_with"]) == (None, [])
    assert handlers.get_order(db, first)["merged_with"] == [third]
    with uow(db) as u:
        handlers.cancel_order(u, third)
    assert handlers.get_order(db, first)["merge_group"] is None  # a group of one is no group
    with db.reader() as s:
        assert [a["detail"]["why"] for a in holds.audit_of(s, first) if a["action"] == "unmerge"] == ["alone"]


def test_a_flagged_member_needs_its_double_check_by_another_user_before_the_group_ships(db):
    buyer = uuid.uuid4().hex[:8]
    first, second = place(db, buyer), place(db, buyer)
    answer_all(db, first, second)
    with uow(db) as u:  # as a review rule flags it
        u.session.execute(update(orders).where(orders.c.id == second).values(double_check=True))
    with pytest.raises(Conflict, match=f"order {second} of the group is flagged for the double check"), \
            uow(db, "bob") as u:
        handlers.ship_order(u, first, "SF", "SF20260009")
    with uow(db, "alice") as u:
        handlers.double_check(u, second, "two teapots, checked")
    with pytest.raises(Conflict, match="another user must ship the group"), uow(db, "alice") as u:
        handlers.ship_order(u, first, "SF", "SF20260009")
    assert [handlers.get_order(db, o)["status"] for o in (first, second)] == [domain.RESERVED] * 2
    assert not [e for e in shipped_events(db) if e["order_id"] in (first, second)]
    with uow(db, "bob") as u:
        assert handlers.ship_order(u, first, "SF", "SF20260009")["merged_with"] == [second]
    assert [handlers.get_order(db, o)["status"] for o in (first, second)] == [domain.SHIPPED] * 2
