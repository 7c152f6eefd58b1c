"""Accounting's messages as JSON (a voucher is common: orders show theirs too)."""
from __future__ import annotations

from gateway.common.presenters import scalars


def account_json(a) -> dict:
    return {"code": a.code, "name": a.name, "category": a.category, "normal_balance": a.normal_balance}


def trial_balance_json(tb) -> dict:
    return {"period": tb.period, "balanced": tb.balanced, "total_debit": tb.total_debit,
            "total_credit": tb.total_credit,
            "rows": [{"account": r.account, "name": r.name, "opening": r.opening, "debit": r.debit,
                      "credit": r.credit, "closing": r.closing} for r in tb.rows]}


def account_detail_json(reply) -> dict:
    return {**scalars(reply), "lines": [scalars(l) for l in reply.lines]}


def ageing_json(reply) -> dict:
    return {"account": reply.account, "as_of": reply.as_of,
            "rows": [{"counterparty": r.counterparty, "balance": r.balance, "buckets": dict(r.buckets),
                      "oldest_date": r.oldest_date or None} for r in reply.rows]}


def exchange_rate_json(r) -> dict:
    return {"currency": r.currency, "valid_from": r.valid_from or None, "rate": r.rate, "base_currency": r.base_currency}
