"""The notifier's own database: one row per event and target, the delivery log (attempts, status,
the last answer). Its key (event id, target) is what makes each event count once per target: no inbox
(an inbox drops an event older than one already seen of the same aggregate, and every hold is news)."""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from hubkit.db import new_metadata

metadata = new_metadata()

# pending   -> not yet delivered: sent when next_attempt_at is due (a 5xx, a timeout, a robot's refusal
#              wait their back-off there)
# delivered -> the target answered 2xx (a robot: errcode 0); never sent again
# failed    -> a final answer (a 4xx other than 408/429) or max_attempts spent; waits for a person
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

deliveries = Table(
    "notify_deliveries", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("target", String(64), primary_key=True),
    Column("event_type", String(64), nullable=False, index=True),
    Column("aggregate_id", String(128), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("payload", Text, nullable=False),  # the event's payload, as JSON (rendered at each attempt)
    Column("status", String(12), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_status", Integer),  # the last answer's HTTP status (none: no answer, e.g. a timeout)
    Column("last_error", String(500)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)
