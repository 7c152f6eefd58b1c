"""The stock reports as JSON."""
from __future__ import annotations

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
