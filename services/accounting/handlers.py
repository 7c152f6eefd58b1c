"""Accounting use cases: post the voucher each business event calls for; read vouchers and
the trial balance."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import case, func, select

from hubkit.db import Database, UnitOfWork, as_utc, dialect_insert, next_in_sequence
from hubkit.envelope import Envelope
from hubkit.errors import FieldErrors
from services.accounting import domain
from services.accounting.models import accounts, voucher_counters, voucher_lines, vouchers

ZERO = domain.ZERO


def ensure_chart(db: Database, chart) -> None:
    """Add the chart's accounts that are missing (existing ones are left as they are)."""
    with db.session() as s:
        for a in chart:
            s.execute(dialect_insert(s, accounts).values(code=a.code, name=a.name, category=a.category,
                                                         normal_balance=a.normal_balance).on_conflict_do_nothing())


def post(uow: UnitOfWork, kind: str, envelope: Envelope, source_id: str, occurred_at: str,
         lines: list[domain.Line], rules: domain.Rules) -> dict | None:
    """Post one balanced voucher, numbered within its period and type; None if there is nothing
    to post (a zero amount) or this document already has its voucher of this kind."""
    if not lines:
        return None
    total = domain.check_balanced(lines)
    s = uow.session
    if s.execute(select(vouchers.c.id).where(vouchers.c.kind == kind, vouchers.c.source_id == source_id)).first():
        return None
    period, day = domain.business_day(occurred_at, rules.timezone)
    seq = next_in_sequence(s, voucher_counters, f"{period}/{domain.GENERAL}")
    voucher = {"id": uuid.uuid4().hex, "number": f"{domain.GENERAL}-{period}-{seq:04d}",
               "voucher_type": domain.GENERAL, "period": period, "kind": kind, "source_type": envelope.type,
               "source_id": source_id, "business_date": day, "total": total,
               "posted_at": datetime.now(timezone.utc), "posted_by": envelope.actor, "export_status": "pending"}
    s.execute(vouchers.insert().values(**voucher))
    s.execute(voucher_lines.insert(), [
        {"voucher_id": voucher["id"], "line_no": i + 1, "account": l.account, "summary": l.summary[:200],
         "debit": l.debit, "credit": l.credit, "aux": l.aux[:128]} for i, l in enumerate(lines)])
    return voucher


def post_sale(uow, envelope, rules):
    p = envelope.payload
    return post(uow, "sale", envelope, p["order_id"], p["shipped_at"], domain.sale(p, rules), rules)


def post_cost_of_goods(uow, envelope, rules):
    p = envelope.payload
    return post(uow, "cost_of_goods", envelope, p["order_id"], p["issued_at"], domain.cost_of_goods(p, rules), rules)


def post_purchase(uow, envelope, rules):
    p = envelope.payload
    return post(uow, "purchase", envelope, p["receipt_id"], p["received_at"], domain.purchase(p, rules), rules)


# -- queries ---------------------------------------------------------------
def _check_period(period: str) -> None:
    errors = FieldErrors()
    try:
        datetime.strptime(period, "%Y-%m")
    except ValueError:
        errors.add("period", "expected YYYY-MM")
    errors.raise_if_any("invalid period")


def list_accounts(db: Database) -> list[dict]:
    with db.reader() as s:
        return [dict(r._mapping) for r in s.execute(select(accounts).order_by(accounts.c.code)).all()]


def list_vouchers(db: Database, source_id: str = "", period: str = "", limit: int = 100) -> list[dict]:
    if period:
        _check_period(period)
    limit = max(1, min(limit or 100, 1000))
    query = select(vouchers).order_by(vouchers.c.period, vouchers.c.number).limit(limit)
    if source_id:
        query = query.where(vouchers.c.source_id == source_id)
    if period:
        query = query.where(vouchers.c.period == period)
    with db.reader() as s:
        found = [dict(r._mapping) for r in s.execute(query).all()]
        ids = [v["id"] for v in found]
        lines = s.execute(select(voucher_lines).where(voucher_lines.c.voucher_id.in_(ids))
                          .order_by(voucher_lines.c.line_no)).all() if ids else []
    for v in found:
        v["posted_at"] = as_utc(v["posted_at"])
        v["lines"] = [dict(l._mapping) for l in lines if l.voucher_id == v["id"]]
    return found


def trial_balance(db: Database, period: str) -> dict:
    """Per account: opening balance (debit-positive), the period's debits and credits, closing."""
    _check_period(period)
    l, v = voucher_lines, vouchers
    before, within = v.c.period < period, v.c.period == period
    query = (select(l.c.account, accounts.c.name,
                    func.sum(case((before, l.c.debit - l.c.credit), else_=0)),
                    func.sum(case((within, l.c.debit), else_=0)),
                    func.sum(case((within, l.c.credit), else_=0)))
             .join(v, v.c.id == l.c.voucher_id).join(accounts, accounts.c.code == l.c.account)
             .where(v.c.period <= period).group_by(l.c.account, accounts.c.name).order_by(l.c.account))
    rows = []
    with db.reader() as s:
        for account, name, opening, debit, credit in s.execute(query).all():
            opening, debit, credit = (Decimal(str(x or 0)).quantize(Decimal("0.01")) for x in (opening, debit, credit))
            rows.append({"account": account, "name": name, "opening": opening, "debit": debit, "credit": credit,
                         "closing": opening + debit - credit})
    total_debit = sum((r["debit"] for r in rows), ZERO)
    total_credit = sum((r["credit"] for r in rows), ZERO)
    balanced = (total_debit == total_credit and sum((r["opening"] for r in rows), ZERO) == 0
                and sum((r["closing"] for r in rows), ZERO) == 0)
    return {"period": period, "rows": rows, "total_debit": total_debit, "total_credit": total_credit,
            "balanced": balanced}
