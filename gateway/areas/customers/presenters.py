"""Customers as JSON."""
from __future__ import annotations

import json

from gateway.common.presenters import money_or_none, money_str


def customer_json(c, with_orders: bool) -> dict:
    body = {"id": c.id, "channel": c.channel, "external_id": c.external_id, "name": c.name, "phone": c.phone,
            "email": c.email, "order_count": c.order_count, "lifetime_value": money_str(c.lifetime_value),
            "first_order_at": c.first_order_at, "last_order_at": c.last_order_at,
            "tier": c.tier, "credit_limit": c.credit_limit or None, "merged_into": c.merged_into or None}
    if with_orders:
        body.update(_profile(c))
        body["orders"] = [{"order_id": o.order_id, "channel": o.channel, "shop": o.shop,
                           "external_order_id": o.external_order_id, "total": money_str(o.total),
                           "status": o.status, "placed_at": o.placed_at, "shipped_at": o.shipped_at or None,
                           "carrier": o.carrier or None, "tracking_number": o.tracking_number or None,
                           "refunded": money_str(o.refunded),
                           "after_sales": [after_sale_json(a) for a in o.after_sales]}
                          for o in c.orders]
    return body


def after_sale_json(a) -> dict:
    return {"kind": a.kind, "reference": a.reference or None, "reason": a.reason,
            "amount": money_str(a.amount) if a.HasField("amount") else None,
            "quantity": a.quantity if a.kind != "refund" else None, "lines": a.lines, "at": a.at}


def _profile(c) -> dict:
    """The 360° view beyond the orders: one customer across channels, tags, notes, tier history,
    payments, credit and returns, and the audit."""
    return {
        "merged_ids": list(c.merged_ids), "channels": list(c.channels), "duplicate_ids": list(c.duplicate_ids),
        "tags": list(c.tags),
        "notes": [{"id": n.id, "text": n.text, "written_by": n.written_by, "written_at": n.written_at}
                  for n in c.notes],
        "tier_history": [{"tier": t.tier, "previous": t.previous, "source": t.source,
                          "rule_set_version": t.rule_set_version or None, "facts": json.loads(t.facts or "{}"),
                          "trace": json.loads(t.trace or "[]"), "changed_by": t.changed_by, "at": t.at}
                         for t in c.tier_history],
        "payments": [{"voucher_id": p.voucher_id, "number": p.number, "reference": p.reference,
                      "amount": money_str(p.amount), "at": p.at} for p in c.payments],
        "credit": {"limit": c.credit_limit or None, "exposure": money_str(c.exposure),
                   "receivable": money_str(c.receivable), "open_orders": money_str(c.open_orders),
                   "available": money_or_none(c.credit_available)},
        "returns": {"window_days": c.window_days, "orders": c.window_orders, "returns": c.window_returns,
                    "rate": c.return_rate},
        "audit": [{"action": a.action, "actor": a.actor, "at": a.at, "why": a.why,
                   "detail": json.loads(a.detail or "{}")} for a in c.audit],
    }


def tier_rule_set_json(r, applied: bool = False) -> dict:
    out = {"version": r.version, "name": r.name, "note": r.note, "created_by": r.created_by,
           "created_at": r.created_at, "in_force": r.in_force, "document": json.loads(r.document)}
    if applied:  # the answer to applying it: every customer was re-tiered by it
        out.update(customers_retiered=r.customers_retiered, tiers_changed=r.tiers_changed)
    return out


def explanation_json(e) -> dict:
    return {"customer_id": e.customer_id, "tier": e.tier, "rule_set_version": e.rule_set_version,
            "would_be": e.would_be or None, "matched": e.matched or None,
            "facts": json.loads(e.facts or "{}"), "trace": json.loads(e.trace or "[]")}
