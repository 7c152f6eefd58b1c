"""Holds: an order held for review cannot ship until every open hold is released, or it is rejected
(cancelled). A hold is a small document with who/when/why at both ends; every action on an order's
workflow is also written to order_audit. The state machine is in domain.order_status.

Everything here runs inside the caller's unit of work: review rules (in the order worker or api) place
holds in the same transaction as their decision, operators release them through the gateway."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy import bindparam, select, update

from contracts import OrderHeld
from hubkit import clock
from hubkit.db import UnitOfWork, as_utc, changed
from hubkit.errors import Conflict, NotFound, PermissionDenied
from services.order import domain, reservation
from services.order.models import order_audit, order_holds, order_lines, orders

HOLDS_PLACED = Counter("hub_order_holds_placed_total", "Holds placed on orders, by reason", ["reason"])
HOLDS_CLOSED = Counter("hub_order_holds_closed_total", "Holds closed, by reason and outcome", ["reason", "outcome"])
TIME_IN_REVIEW = Histogram("hub_order_hold_seconds", "Time from a hold placed to released or rejected",
                           ["reason", "outcome"],
                           buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400))
FINANCE_REASONS = frozenset({"finance_approval"})  # only a caller with the finance right closes these


@dataclass(frozen=True)
class Hold:
    """One hold to place (place_many)."""
    order_id: str
    reason: str
    note: str = ""
    rule: str | None = None


def audit(uow: UnitOfWork, order_id: str, action: str, note: str = "", hold_id: str | None = None, *,
          at: datetime | None = None, actor: str | None = None, **detail) -> None:
    """Record one workflow action on an order: who (the unit of work's actor, or `actor`), when (now,
    or `at`: an action another service applied), why, what."""
    uow.session.execute(order_audit.insert().values(
        id=uuid.uuid4().hex, order_id=order_id, action=action, hold_id=hold_id, actor=actor or uow.actor,
        at=at or clock.now(), note=(note or "")[:domain.MAX_NOTE], detail=json.dumps(detail, ensure_ascii=False, default=str)))


def place(uow: UnitOfWork, order_id: str, reason: str, by: str | None = None, note: str = "",
          rule: str | None = None) -> tuple[str, bool]:
    """Hold an open order (pending, reserved, backordered or held already): its status becomes held,
    its reservation stays. The same reason and rule held already and still open is that hold again
    (created=False), so a rule evaluated twice holds once. A shipped, returned or cancelled order is a
    Conflict. Returns (hold id, created)."""
    domain.validate_hold(reason, note)
    s, now, by = uow.session, clock.now(), by or uow.actor
    # one conditional update: a concurrent shipment or cancel wins cleanly (then this is a 409)
    before = s.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar()
    if before is None:
        raise NotFound(f"order {order_id} not found")
    if not changed(s, update(orders).where(orders.c.id == order_id, orders.c.status.in_(domain.OPEN))
                   .values(status=domain.HELD, updated_by=by, updated_at=now)):
        raise Conflict(f"order {order_id} is {before}; only an order not yet shipped or cancelled can be held")
    same = s.execute(select(order_holds.c.id).where(
        order_holds.c.order_id == order_id, order_holds.c.released_at.is_(None), order_holds.c.reason == reason,
        order_holds.c.rule.is_(None) if rule is None else order_holds.c.rule == rule)).scalar()
    if same is not None:
        return same, False
    hold_id = uuid.uuid4().hex
    s.execute(order_holds.insert().values(id=hold_id, order_id=order_id, reason=reason, rule=rule, note=note or "",
                                          placed_by=by, placed_at=now))
    audit(uow, order_id, "hold", note, hold_id, reason=reason, rule=rule, status_before=before)
    # announced in the same transaction: a notifier (when the hub has one) tells the people who act on it
    uow.emit(OrderHeld(order_id=order_id, hold_id=hold_id, reason=reason, rule=rule, note=note or "",
                       approval=reason in FINANCE_REASONS, placed_by=by, placed_at=now), order_id)
    uow.after_commit(lambda: HOLDS_PLACED.labels(reason).inc())
    return hold_id, True


def place_many(uow: UnitOfWork, holds: Iterable[Hold], by: str | None = None) -> list[tuple[str, bool]]:
    """place for each hold, in this transaction (a refusal refuses them all: the caller decides)."""
    return [place(uow, h.order_id, h.reason, by, h.note, h.rule) for h in holds]


def release(uow: UnitOfWork, order_id: str, note: str = "", hold_id: str = "", finance: bool = False) -> dict:
    """Release one open hold (hold_id) or all of them: who, when, why. When none is left open the order
    takes the status its lines give it again (it may ship when reserved). An order without an open hold
    (or without that one) is a Conflict; a finance hold without the finance right is PermissionDenied.
    An order reviewed before reservation asks inventory to reserve now, once (reservation.request).
    Returns the order's new status and the holds released."""
    s, now = uow.session, clock.now()
    open_ = _open(s, order_id, hold_id)
    _may_close(open_, finance, "release")
    released = _close(uow, open_, domain.RELEASED, note, now)
    left = s.execute(select(order_holds.c.id).where(order_holds.c.order_id == order_id,
                                                    order_holds.c.released_at.is_(None)).limit(1)).first()
    status = domain.HELD
    if left is None:
        lines = s.execute(select(order_lines.c.reservation).where(order_lines.c.order_id == order_id)).scalars().all()
        status = domain.order_status(list(lines))
        if not changed(s, update(orders).where(orders.c.id == order_id, orders.c.status == domain.HELD)
                       .values(status=status, updated_by=uow.actor, updated_at=now)):
            raise Conflict(f"order {order_id} is no longer held")
        reservation.request(uow, order_id)  # held before it asked inventory: it asks now
    for h in open_:
        audit(uow, order_id, "release", note, h.id, reason=h.reason, status_after=status)
    return {"status": status, "released": released}


def close_for_cancel(uow: UnitOfWork, order_id: str, note: str, finance: bool = True) -> list[str]:
    """An order being rejected or cancelled: every open hold is closed as rejected (audited). A finance
    hold without the finance right is PermissionDenied."""
    open_ = _open(uow.session, order_id, "", required=False)
    _may_close(open_, finance, "reject")
    closed = _close(uow, open_, domain.REJECTED, note, clock.now())
    for h in open_:
        audit(uow, order_id, "reject", note, h.id, reason=h.reason)
    return closed


def _open(s, order_id: str, hold_id: str, required: bool = True) -> list:
    query = select(order_holds).where(order_holds.c.order_id == order_id, order_holds.c.released_at.is_(None))
    if hold_id:
        query = query.where(order_holds.c.id == hold_id)
    rows = s.execute(query.order_by(order_holds.c.placed_at, order_holds.c.id)).all()
    if not rows and required:
        status = s.execute(select(orders.c.status).where(orders.c.id == order_id)).scalar()
        if status is None:
            raise NotFound(f"order {order_id} not found")
        what = f"hold {hold_id}" if hold_id else "hold"
        raise Conflict(f"order {order_id} is {status} and has no open {what}")
    return rows


def _may_close(holds: list, finance: bool, action: str) -> None:
    needs = sorted({h.reason for h in holds} & FINANCE_REASONS)
    if needs and not finance:
        raise PermissionDenied(f"only the finance role may {action} a {', '.join(needs)} hold")


def _close(uow: UnitOfWork, holds: list, outcome: str, note: str, now) -> list[str]:
    """Close the open holds, each exactly once (a concurrent close wins: Conflict)."""
    s, closed = uow.session, []
    for h in holds:
        if not changed(s, update(order_holds).where(order_holds.c.id == h.id, order_holds.c.released_at.is_(None))
                       .values(released_by=uow.actor, released_at=now, outcome=outcome,
                               outcome_note=(note or "")[:domain.MAX_NOTE])):
            raise Conflict(f"hold {h.id} was closed concurrently")
        closed.append(h.id)
        uow.after_commit(lambda r=h.reason, t=max(0.0, (now - as_utc(h.placed_at)).total_seconds()):
                         _count_closed(r, outcome, t))
    return closed


def _count_closed(reason: str, outcome: str, seconds: float) -> None:
    HOLDS_CLOSED.labels(reason, outcome).inc()
    TIME_IN_REVIEW.labels(reason, outcome).observe(seconds)


# -- queries ---------------------------------------------------------------
_HOLDS_OF = (select(order_holds).where(order_holds.c.order_id.in_(bindparam("p_ids", expanding=True)))
             .order_by(order_holds.c.placed_at, order_holds.c.id))


def holds_of(s, order_ids: list[str]) -> dict[str, list[dict]]:
    """Every hold of these orders (open and closed), oldest first."""
    if not order_ids:
        return {}
    out: dict[str, list[dict]] = {}
    for row in s.execute(_HOLDS_OF, {"p_ids": list(order_ids)}).all():
        out.setdefault(row.order_id, []).append(dict(row._mapping))
    return out


def audit_of(s, order_id: str) -> list[dict]:
    rows = s.execute(select(order_audit).where(order_audit.c.order_id == order_id)
                     .order_by(order_audit.c.at, order_audit.c.id)).all()
    return [{**dict(r._mapping), "detail": json.loads(r.detail)} for r in rows]
