"""The customers area's response models (it takes no bodies)."""
from __future__ import annotations

from pydantic import Field

from gateway.common.schemas import Money, Reply


class CustomerOrder(Reply):
    order_id: str
    channel: str
    shop: str
    external_order_id: str
    total: Money
    status: str = Field(description="placed | shipped | cancelled")
    placed_at: str
    shipped_at: str | None = Field(description="null until shipped")


class CustomerSummary(Reply):
    id: str
    channel: str
    external_id: str = Field(description="the channel's buyer id")
    name: str
    phone: str
    email: str
    order_count: int
    lifetime_value: Money
    first_order_at: str
    last_order_at: str


class Customer(CustomerSummary):
    orders: list[CustomerOrder] = Field(description="newest first")


class Customers(Reply):
    customers: list[CustomerSummary] = Field(description="without their orders")
