"""Merge (合单): orders of one buyer to one shipping address from one shop (domain.merge_key), placed
within the merge window of each other and not yet shipped or cancelled, form a merge group that ships
as one shipment (handlers.ship_order: one carrier and tracking number, every order still its own
order_shipped, so each channel order is confirmed and inventory and the books stay per order).

Orders are grouped in the order worker when inventory has answered them, the batch's orders together
(apply_stock_answers gathers them, reviewed first): one place, whichever api or channel placed them. A
group is named after its oldest order, so two transactions grouping the same orders agree on it. Every
join and every departure is audited (order_audit) with why: the key that matched and the window."""
from __future__ import annotations

import json
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy import bindparam, select, update

from hubkit.db import UnitOfWork, as_utc, changed
from hubkit.errors import Conflict, NotFound
from services.order import domain, holds
from services.order.models import orders

MERGED = Counter("hub_order_merged_total", "Orders that joined a merge group (its first two count both)")
UNMERGED = Counter("hub_order_unmerged_total", "Orders taken out of their merge group, by why", ["why"])
GROUPS_SHIPPED = Counter("hub_order_merge_groups_shipped_total", "Merge groups shipped as one shipment")


# the open orders sharing the merge keys of a batch's orders, built once (it runs on every stock answer)
_SAME_KEYS = (select(orders.c.id, orders.c.merge_key, orders.c.merge_group, orders.c.created_at)
              .where(orders.c.merge_key.in_(bindparam("p_keys", expanding=True)), orders.c.status.in_(domain.OPEN),
                     orders.c.created_at >= bindparam("p_from"), orders.c.created_at <= bindparam("p_to"))
              .order_by(orders.c.created_at, orders.c.id))


def group(uow: UnitOfWork, answered, window: timedelta) -> None:
    """Put each of these orders (their rows, as the order worker read them) open and not yet in a group
    into the group of an open order with its merge key placed within `window` of it (the oldest such
    order's group, or a new one named after it), the oldest first. One statement reads every open order
    sharing their keys; writes only on a merge."""
    s = uow.session
    fresh = sorted((o for o in answered if o.merge_group is None and o.merge_key is not None
                    and o.status in domain.OPEN), key=lambda o: (as_utc(o.created_at), o.id))
    if not fresh:
        return
    placed = [as_utc(o.created_at) for o in fresh]
    by_key: dict[str, list[dict]] = {}
    for row in s.execute(_SAME_KEYS, {"p_keys": sorted({o.merge_key for o in fresh}),
                                      "p_from": min(placed) - window, "p_to": max(placed) + window}).all():
        by_key.setdefault(row.merge_key, []).append(
            {"id": row.id, "group": row.merge_group, "at": as_utc(row.created_at)})
    for order, at in zip(fresh, placed):
        same = by_key.get(order.merge_key, [])
        me = next((m for m in same if m["id"] == order.id), None)
        partners = [m for m in same if m["id"] != order.id and abs(m["at"] - at) <= window]
        if me is None or me["group"] or not partners:  # grouped by an earlier order of this batch, or alone
            continue
        first = next((p for p in partners if p["group"]), partners[0])
        minutes = abs(at - first["at"]).total_seconds() / 60
        reason = (f"same buyer {order.customer_key}, shipping address and shop {order.channel}/{order.shop}; "
                  f"placed {minutes:.0f} min apart (window {window.total_seconds() / 60:.0f} min)")
        group_id = first["group"]
        if not group_id:
            group_id = first["id"]
            if changed(s, update(orders).where(orders.c.id == first["id"], orders.c.merge_group.is_(None))
                       .values(merge_group=group_id)):
                _joined(uow, first["id"], group_id, reason, order.id, window)
            else:  # grouped concurrently: join that group
                group_id = s.execute(select(orders.c.merge_group).where(orders.c.id == first["id"])).scalar()
            first["group"] = group_id
        if group_id and changed(s, update(orders).where(orders.c.id == order.id, orders.c.merge_group.is_(None))
                                .values(merge_group=group_id)):
            me["group"] = group_id
            _joined(uow, order.id, group_id, reason, first["id"], window)


def _joined(uow: UnitOfWork, order_id: str, group_id: str, reason: str, matched: str, window: timedelta) -> None:
    holds.audit(uow, order_id, "merge", reason, group=group_id, matched=matched,
                window_minutes=window.total_seconds() / 60)
    uow.after_commit(MERGED.inc)


def unmerge(uow: UnitOfWork, order_id: str, note: str = "", why: str = "operator") -> str:
    """Take an open order out of its merge group (audited): it ships alone and is not merged again
    (its merge key is cleared). A group left with one order is no group: that order leaves it too.
    An order in no group, or shipped or cancelled, is a Conflict. Returns the group it left."""
    s = uow.session
    row = s.execute(select(orders.c.status, orders.c.merge_group).where(orders.c.id == order_id)).first()
    if row is None:
        raise NotFound(f"order {order_id} not found")
    if row.status not in domain.OPEN:
        raise Conflict(f"order {order_id} is {row.status}; only an order not yet shipped or cancelled can be unmerged")
    if not row.merge_group:
        raise Conflict(f"order {order_id} is in no merge group")
    _leave(uow, order_id, row.merge_group, note, why, forget_key=why == "operator")
    return row.merge_group


def cancelled(uow: UnitOfWork, order_id: str) -> None:
    """An order just cancelled leaves its merge group (a group left with one order is dissolved)."""
    group_id = uow.session.execute(select(orders.c.merge_group).where(orders.c.id == order_id)).scalar()
    if group_id:
        _leave(uow, order_id, group_id, "the order was cancelled", "cancelled", forget_key=True)


def _leave(uow: UnitOfWork, order_id: str, group_id: str, note: str, why: str, forget_key: bool) -> None:
    s = uow.session
    values: dict = {"merge_group": None}
    if forget_key:
        values["merge_key"] = None
    statuses = (domain.CANCELLED,) if why == "cancelled" else domain.OPEN
    if not changed(s, update(orders).where(orders.c.id == order_id, orders.c.merge_group == group_id,
                                           orders.c.status.in_(statuses)).values(**values)):
        raise Conflict(f"order {order_id} left merge group {group_id} concurrently")
    holds.audit(uow, order_id, "unmerge", note, group=group_id, why=why)
    uow.after_commit(lambda: UNMERGED.labels(why).inc())
    left = members(s, group_id)
    if len(left) == 1:  # a group of one is no group
        s.execute(update(orders).where(orders.c.id == left[0], orders.c.merge_group == group_id)
                  .values(merge_group=None))
        holds.audit(uow, left[0], "unmerge", f"the other order of its group ({order_id}) left it",
                    group=group_id, why="alone")


def rekey(uow: UnitOfWork, order_id: str) -> None:
    """An open order's shipping address changed: its merge key follows it (an order taken out by an
    operator stays out), and it leaves a group whose key it no longer shares."""
    s = uow.session
    row = s.execute(select(orders).where(orders.c.id == order_id)).first()
    if row is None or row.merge_key is None or row.status not in domain.OPEN:
        return
    key = domain.merge_key(row.channel, row.shop, row.customer_key, json.loads(row.shipping_address))
    if key == row.merge_key:
        return
    s.execute(update(orders).where(orders.c.id == order_id).values(merge_key=key))
    if row.merge_group:
        _leave(uow, order_id, row.merge_group, "the shipping address changed", "address", forget_key=False)


def members(s, group_id: str) -> list[str]:
    """The group's orders not cancelled, oldest first."""
    return list(s.execute(select(orders.c.id).where(orders.c.merge_group == group_id,
                                                    orders.c.status != domain.CANCELLED)
                          .order_by(orders.c.created_at, orders.c.id)).scalars())


def members_of(s, group_ids: set[str]) -> dict[str, list[str]]:
    """members for several groups, in one statement."""
    out: dict[str, list[str]] = {}
    if group_ids:
        for gid, oid in s.execute(select(orders.c.merge_group, orders.c.id).where(
                orders.c.merge_group.in_(sorted(group_ids)), orders.c.status != domain.CANCELLED)
                .order_by(orders.c.created_at, orders.c.id)).all():
            out.setdefault(gid, []).append(oid)
    return out
