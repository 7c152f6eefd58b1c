"""The stock reports as JSON."""
from __future__ import annotations

import json

from gateway.common.presenters import scalars

TURNOVER_NULLABLE = ("turnover", "days_of_supply")


def movements_json(reply) -> dict:
    return {**scalars(reply), "lines": [scalars(l) for l in reply.lines]}


def ageing_json(reply) -> dict:
    return {"as_of": reply.as_of, "rows": [{**scalars(r), "buckets": [scalars(b) for b in r.buckets]}
                                           for r in reply.rows]}


def turnover_json(reply) -> dict:
    return {**scalars(reply), "rows": [scalars(r, *TURNOVER_NULLABLE) for r in reply.rows],
            "total": {k: v for k, v in scalars(reply.total, *TURNOVER_NULLABLE).items() if k != "key"}}


SLOW_NULLABLE = ("last_issue_on", "days_since_issue", "oldest_received_on", "days_in_stock")


def slow_movers_json(reply) -> dict:
    return {"as_of": reply.as_of, "rows": [scalars(r, *SLOW_NULLABLE) for r in reply.rows]}


def forecast_json(reply) -> dict:
    params = json.loads(reply.params or "{}")  # inventory's JSON object of the parameters in force
    return {**{k: v for k, v in scalars(reply).items() if k != "params"},
            "params": params if isinstance(params, dict) else {},
            "rows": [{"sku": r.sku, "category": r.category, "history": list(r.history),
                      "history_units": r.history_units, "forecast": list(r.forecast), "total": r.total}
                     for r in reply.rows]}
