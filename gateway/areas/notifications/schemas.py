"""The notifications area's response models."""
from __future__ import annotations

from pydantic import Field

from gateway.common.schemas import Reply


class Delivery(Reply):
    event_id: str
    target: str = Field(description="the target's name in HUB_NOTIFY_FILE")
    event_type: str = Field(description="order_held | low_stock")
    aggregate_id: str
    status: str = Field(description="pending | delivered | failed")
    attempts: int
    last_status: int = Field(description="the last answer's HTTP status; 0: no answer (a timeout)")
    last_error: str
    next_attempt_at: str
    created_at: str
    delivered_at: str = Field(description="empty until delivered")


class Deliveries(Reply):
    deliveries: list[Delivery]
