"""Approvals of requisitions and purchase orders: the chain in force (versioned documents), a
document's steps opened one after the other, decisions (four eyes, in turn, by delegation), every
action in the approval log, and approval_waiting for a step that opens or waits too long."""
from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from contracts import ApprovalWaiting
from hubkit import clock
from hubkit.db import Database, UnitOfWork, as_utc, changed
from hubkit.errors import Conflict, FieldErrors, InvalidArgument, NotFound
from services.procurement import chains
from services.procurement.chains import APPROVED, CANCELLED, PENDING, QUEUED, REJECTED, WAITING
from services.procurement.models import (
    approval_chains,
    approval_delegations,
    approval_log,
    approval_steps,
    purchase_orders,
    requisitions,
)

MAX_COMMENT = 500
MAX_DELEGATION_DAYS = 366
# per kind: the table, its approval column, the requester's column
DOCUMENTS = {chains.PURCHASE_ORDER: (purchase_orders, "approval", "created_by"),
             chains.REQUISITION: (requisitions, "status", "requester")}


# -- the chain in force ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _compiled(version: int, document: str) -> chains.Chain:  # a version's document never changes
    return chains.compile_chain(document)


def in_force(s) -> tuple[int, chains.Chain]:
    """(version, chain): the newest applied, else the shipped default (version 0)."""
    row = s.execute(select(approval_chains.c.version, approval_chains.c.document)
                    .order_by(approval_chains.c.version.desc()).limit(1)).first()
    return (row.version, _compiled(row.version, row.document)) if row else (0, chains.default_chain())


def _version_dict(row: dict, current: int) -> dict:
    doc = json.loads(row["document"])
    return {"version": row["version"], "name": row["name"], "note": row["note"], "created_by": row["created_by"],
            "created_at": as_utc(row["created_at"]).isoformat() if row["created_at"] else "",
            "steps": len(doc.get("steps", [])), "in_force": row["version"] == current, "document": row["document"]}


def apply_chain(uow: UnitOfWork, document, note: str = "") -> dict:
    """Validate and put in force as the next version; documents raised before keep their steps."""
    chain = chains.compile_chain(document)
    if len(note or "") > 500:
        raise InvalidArgument("the approval chain is invalid", [{"field": "note", "message": "at most 500 characters"}])
    s = uow.session
    version = (s.execute(select(func.max(approval_chains.c.version))).scalar() or 0) + 1
    row = dict(version=version, name=chain.doc.name, document=chain.as_json(), note=note or "",
               created_by=uow.actor, created_at=clock.now())
    try:
        with s.begin_nested():
            s.execute(approval_chains.insert().values(**row))
    except IntegrityError:
        raise Conflict("another approval chain was applied at the same time; try again")
    return _version_dict(row, version)


def chain_versions(db: Database) -> list[dict]:
    """Every version, newest first, the shipped default (0) last."""
    with db.reader() as s:
        rows = [dict(r._mapping) for r in s.execute(select(approval_chains)
                                                    .order_by(approval_chains.c.version.desc()))]
    current = rows[0]["version"] if rows else 0
    default = {"version": 0, "name": chains.default_chain().doc.name, "note": "shipped default", "created_by": "hub",
               "created_at": None, "document": chains.default_chain().as_json()}
    return [_version_dict(r, current) for r in [*rows, default]]


# -- a document's chain -----------------------------------------------------------------------------
def _log(uow: UnitOfWork, kind: str, document_id: str, action: str, step_no: int | None = None,
         comment: str = "", on_behalf_of: str | None = None, actor: str | None = None) -> None:
    uow.session.execute(approval_log.insert().values(
        document_kind=kind, document_id=document_id, step_no=step_no, action=action, actor=actor or uow.actor,
        on_behalf_of=on_behalf_of or None, comment=comment[:MAX_COMMENT], at=clock.now()))


def _announce(uow: UnitOfWork, step, overdue: bool) -> None:
    uow.emit(ApprovalWaiting(
        document_kind=step["document_kind"], document_id=step["document_id"], step_no=step["step_no"],
        step=step["step_id"], approver=step["user_name"], role=step["role"], waiting_since=step["opened_at"],
        overdue=overdue, amount=Decimal(step["amount"]).quantize(Decimal("0.01")), requester=step["requester"]),
        f"{step['document_kind']}:{step['document_id']}")


def start(uow: UnitOfWork, kind: str, document_id: str, requester: str, amount: Decimal, facts: dict) -> tuple[str, int]:
    """Resolve the chain in force for a document just raised: its steps, the first waiting (and
    announced), the rest queued. Returns (its approval: pending, or approved when no step applies;
    the chain version)."""
    s, now = uow.session, clock.now()
    version, chain = in_force(s)
    steps, trace = chains.resolve(chain, {"kind": kind, "amount": amount, **facts})
    _log(uow, kind, document_id, "raised", comment=json.dumps(
        {"chain_version": version, "amount": str(amount), "trace": trace}, ensure_ascii=False)[:MAX_COMMENT])
    if not steps:
        _log(uow, kind, document_id, APPROVED, comment=f"no step of chain version {version} applies", actor="hub")
        return APPROVED, version
    rows = [dict(document_kind=kind, document_id=document_id, step_no=st.step_no, step_id=st.step_id, role=st.role,
                 user_name=st.user, status=WAITING if st.step_no == 1 else QUEUED,
                 opened_at=now if st.step_no == 1 else None, requester=requester, amount=amount) for st in steps]
    s.execute(approval_steps.insert(), rows)
    _log(uow, kind, document_id, "opened", 1, f"waits for {steps[0].approver}", actor="hub")
    _announce(uow, rows[0], overdue=False)
    return PENDING, version


def _lock(uow: UnitOfWork, kind: str, document_id: str) -> tuple:
    """The document's row, locked (its header touched), and its approval and requester."""
    if kind not in DOCUMENTS:
        raise InvalidArgument(f"unknown document kind {kind!r}", [{"field": "kind", "message": "requisition or purchase_order"}])
    table, column, by = DOCUMENTS[kind]
    touched = changed(uow.session, update(table).where(table.c.id == document_id).values(updated_at=clock.now()))
    if not touched:
        raise NotFound(f"{kind.replace('_', ' ')} {document_id!r} not found",
                       [{"field": "id", "message": f"unknown {kind.replace('_', ' ')}"}])
    row = uow.session.execute(select(table).where(table.c.id == document_id)).one()
    return row, getattr(row, column), getattr(row, by)


def _steps(s, kind: str, document_id: str) -> list[dict]:
    return [dict(r._mapping) for r in s.execute(select(approval_steps).where(
        approval_steps.c.document_kind == kind, approval_steps.c.document_id == document_id)
        .order_by(approval_steps.c.step_no)).all()]


def _delegations_to(s, actor: str) -> list[chains.Delegation]:
    d = approval_delegations
    return [chains.Delegation(r.delegator, r.delegator_role, r.delegate, as_utc(r.starts_at), as_utc(r.ends_at))
            for r in s.execute(select(d).where(d.c.delegate == actor)).all()]


def decide(uow: UnitOfWork, kind: str, document_id: str, approve: bool, actor_role: str, comment: str = "") -> str:
    """The actor approves or rejects the step waiting now. A rejection needs its reason (the
    comment), cancels the steps after it and sends the document back rejected. Returns the
    document's approval after: pending, approved or rejected. Nothing changes when refused."""
    errors = FieldErrors()
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors.add("comment", f"at most {MAX_COMMENT} characters")
    if not approve and not comment:
        errors.add("comment", "a rejection gives its reason")
    errors.raise_if_any("the decision is invalid")
    s, now = uow.session, clock.now()
    _, approval, requester = _lock(uow, kind, document_id)
    table, column, _ = DOCUMENTS[kind]
    steps = _steps(s, kind, document_id)
    step, on_behalf = chains.check_decision(kind, document_id, requester, steps, uow.actor, actor_role,
                                            _delegations_to(s, uow.actor), now)
    key = and_(approval_steps.c.document_kind == kind, approval_steps.c.document_id == document_id)
    done = changed(s, update(approval_steps).where(key, approval_steps.c.step_no == step["step_no"],
                                                   approval_steps.c.status == WAITING).values(
        status=APPROVED if approve else REJECTED, decided_by=uow.actor, on_behalf_of=on_behalf or None,
        decided_at=now, comment=comment))
    if done != 1:
        raise Conflict(f"step {step['step_no']} was decided concurrently; look again")
    _log(uow, kind, document_id, APPROVED if approve else REJECTED, step["step_no"], comment, on_behalf)
    after = APPROVED
    if not approve:
        s.execute(update(approval_steps).where(key, approval_steps.c.status == QUEUED).values(status=CANCELLED))
        after = REJECTED
    else:
        following = next((st for st in steps if st["status"] == QUEUED), None)
        if following is not None:
            s.execute(update(approval_steps).where(key, approval_steps.c.step_no == following["step_no"])
                      .values(status=WAITING, opened_at=now))
            following.update(status=WAITING, opened_at=now)
            who = f"role {following['role']}" if following["role"] else f"user {following['user_name']}"
            _log(uow, kind, document_id, "opened", following["step_no"], f"waits for {who}", actor="hub")
            _announce(uow, following, overdue=False)
            after = PENDING
    values: dict = {column: after}
    if kind == chains.REQUISITION and after == REJECTED:
        values["rejected_reason"] = comment
    s.execute(update(table).where(table.c.id == document_id).values(**values))
    return after


def delegate(uow: UnitOfWork, delegator_role: str, delegate_to: str, starts_at: datetime, ends_at: datetime,
             note: str = "") -> str:
    """The caller's approvals (their named steps and their role's) may be decided by `delegate_to`
    from starts_at until ends_at. Returns the delegation's id."""
    errors = FieldErrors()
    if not delegate_to or len(delegate_to) > 64:
        errors.add("delegate", "a user name of 1-64 characters")
    elif delegate_to == uow.actor:
        errors.add("delegate", "someone other than yourself")
    if ends_at <= starts_at:
        errors.add("ends_at", "after starts_at")
    elif ends_at - starts_at > timedelta(days=MAX_DELEGATION_DAYS):
        errors.add("ends_at", f"at most {MAX_DELEGATION_DAYS} days after starts_at")
    if len(note or "") > MAX_COMMENT:
        errors.add("note", f"at most {MAX_COMMENT} characters")
    errors.raise_if_any("the delegation is invalid")
    delegation_id = uuid.uuid4().hex
    uow.session.execute(approval_delegations.insert().values(
        id=delegation_id, delegator=uow.actor, delegator_role=delegator_role, delegate=delegate_to,
        starts_at=starts_at, ends_at=ends_at, note=note or "", created_at=clock.now()))
    return delegation_id


def scan_overdue(uow: UnitOfWork, now: datetime | None = None, limit: int = 500) -> int:
    """Announce once (approval_waiting, overdue) each step waiting longer than the chain in force's
    overdue_hours. Run by the procurement worker's timer. Returns how many."""
    s, now = uow.session, now or clock.now()
    _, chain = in_force(s)
    before = now - timedelta(hours=chain.overdue_hours)
    t = approval_steps
    due = [dict(r._mapping) for r in s.execute(select(t).where(
        t.c.status == WAITING, t.c.opened_at <= before, t.c.overdue_announced_at.is_(None))
        .order_by(t.c.opened_at).limit(limit).with_for_update(skip_locked=True)).all()]
    for step in due:
        s.execute(update(t).where(t.c.document_kind == step["document_kind"], t.c.document_id == step["document_id"],
                                  t.c.step_no == step["step_no"]).values(overdue_announced_at=now))
        _announce(uow, step, overdue=True)
    return len(due)


# -- reading --------------------------------------------------------------------------------------
def _iso(moment) -> str:
    return as_utc(moment).isoformat() if moment is not None else ""


def read(s, kind: str, document_id: str) -> dict:
    """The document's steps and its approval log, oldest first."""
    steps = [{**st, "opened_at": _iso(st["opened_at"]), "decided_at": _iso(st["decided_at"])}
             for st in _steps(s, kind, document_id)]
    log = [{**dict(r._mapping), "at": _iso(r.at)} for r in s.execute(select(approval_log).where(
        approval_log.c.document_kind == kind, approval_log.c.document_id == document_id)
        .order_by(approval_log.c.id)).all()]
    return {"steps": steps, "log": log}


def waiting(db: Database, limit: int = 100) -> list[dict]:
    """Every step waiting now, the longest waiting first."""
    t = approval_steps
    with db.reader() as s:
        rows = s.execute(select(t).where(t.c.status == WAITING).order_by(t.c.opened_at)
                         .limit(max(1, min(limit, 1000)))).all()
    return [{**dict(r._mapping), "opened_at": _iso(r.opened_at), "decided_at": ""} for r in rows]
