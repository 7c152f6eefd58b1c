"""The customers area's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictStr

from gateway.common.schemas import AMOUNT, CODE, Money, Reply, Strict


class AfterSale(Reply):
    kind: str = Field(description="return (goods and money back) | refund (money back after shipment) | "
                                  "release (lines refunded before shipment, never shipped)")
    reference: str | None = Field(description="the return's or refund's id; null for a release")
    reason: str
    amount: Money | None = Field(description="money given back; null for a release")
    quantity: int | None = Field(description="units returned or released; null for a refund")
    lines: int
    at: str


class CustomerOrder(Reply):
    order_id: str
    channel: str
    shop: str
    external_order_id: str
    total: Money
    status: str = Field(description="placed | shipped | cancelled")
    placed_at: str
    shipped_at: str | None = Field(description="null until shipped")
    carrier: str | None = Field(description="the shipment's carrier; null until shipped")
    tracking_number: str | None = Field(description="null until shipped")
    refunded: Money = Field(description="money given back: the returns' and refunds' amounts")
    after_sales: list[AfterSale] = Field(description="returns and refunds, oldest first")


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
    tier: str = Field(description="e.g. vip, standard: what order review reads")
    credit_limit: Money | None = Field(description="null: no limit")


class Customer(CustomerSummary):
    orders: list[CustomerOrder] = Field(description="newest first")


class Customers(Reply):
    customers: list[CustomerSummary] = Field(description="without their orders")


class TermsIn(Strict):
    tier: StrictStr = Field(pattern=CODE, max_length=32, description="e.g. vip, standard")
    credit_limit: StrictStr | None = Field(None, pattern=AMOUNT, description="null: no limit")


class BuyerTermsIn(TermsIn):
    channel: StrictStr = Field(..., pattern=CODE, max_length=32, examples=["storefront"])
    external_id: StrictStr = Field(..., min_length=1, max_length=128, description="the channel's buyer id")
