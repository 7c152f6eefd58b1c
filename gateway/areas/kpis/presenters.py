"""The sales KPIs as JSON."""
from __future__ import annotations

from gateway.common.presenters import scalars


def sales_json(reply) -> dict:
    return {"period_from": getattr(reply, "from"), "period_to": reply.to, "by": reply.by, "omitted": reply.omitted,
            "rows": [scalars(r, "margin_pct") for r in reply.rows], "total": scalars(reply.total, "margin_pct")}


def abc_json(reply) -> dict:
    return {"period_from": getattr(reply, "from"), "period_to": reply.to, "by": reply.by, "a": reply.a, "b": reply.b,
            "omitted": reply.omitted, "rows": [scalars(r, "share", "cumulative_share") for r in reply.rows],
            "classes": [scalars(c) for c in reply.classes], "unattributed_revenue": reply.unattributed_revenue,
            "unattributed_cogs": reply.unattributed_cogs}
