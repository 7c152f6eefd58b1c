"""The customers area's request and response models."""
from __future__ import annotations

from typing import Any

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
    merged_into: str | None = Field(description="the customer this one was merged into; null: itself")


class Note(Reply):
    id: str
    text: str
    written_by: str
    written_at: str


class TierChange(Reply):
    tier: str
    previous: str
    source: str = Field(description="rules | operator")
    rule_set_version: int | None = Field(description="the tier rules' version; null for an operator's")
    facts: dict[str, Any] = Field(description="what the rules saw")
    trace: list[dict[str, Any]] = Field(description="per tier: matched, the facts it read and their values")
    changed_by: str
    at: str


class Payment(Reply):
    voucher_id: str
    number: str
    reference: str
    amount: Money = Field(description="in the books' currency")
    at: str


class AuditEntry(Reply):
    action: str = Field(description="merge | merged | unmerge | unmerged | tag | untag | note | tier_to_rules")
    actor: str
    at: str
    why: str
    detail: dict[str, Any]


class Credit(Reply):
    limit: Money | None = Field(description="null: no limit")
    exposure: Money = Field(description="receivable + open orders")
    receivable: Money = Field(description="what the books say they owe (accounting's vouchers)")
    open_orders: Money = Field(description="their orders placed, not shipped nor cancelled")
    available: Money | None = Field(description="limit - exposure; null: no limit")


class Returns(Reply):
    window_days: int
    orders: int
    returns: int = Field(description="orders with goods sent back in the window")
    rate: str = Field(description="returns / orders, e.g. 0.0500")


class Customer(CustomerSummary):
    orders: list[CustomerOrder] = Field(description="newest first, of every channel of the customer")
    merged_ids: list[str] = Field(description="the customers merged into this one")
    channels: list[str]
    duplicate_ids: list[str] = Field(description="other customers with the same phone (keyed hash): to merge or not")
    tags: list[str]
    notes: list[Note] = Field(description="newest first")
    tier_history: list[TierChange] = Field(description="newest first")
    payments: list[Payment] = Field(description="newest first")
    credit: Credit
    returns: Returns
    audit: list[AuditEntry] = Field(description="merges, unmerges, tags and notes: who, when, why; newest first")


class MergeIn(Strict):
    into: StrictStr = Field(..., min_length=1, max_length=32, description="the customer it is merged into")
    why: StrictStr = Field(..., min_length=1, max_length=500)


class UnmergeIn(Strict):
    why: StrictStr = Field(..., min_length=1, max_length=500)


class TagIn(Strict):
    tag: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$", examples=["business"])


class NoteIn(Strict):
    text: StrictStr = Field(..., min_length=1, max_length=2000)


class TierRulesIn(Strict):
    document: dict[str, Any] | StrictStr = Field(
        description="the tier rules: a JSON object, or its JSON or YAML text (name, period_days, default_tier, "
                    "tiers: tier, description, when)")
    note: StrictStr = Field("", max_length=500, description="why this version")


class TierRuleSet(Reply):
    version: int
    name: str
    note: str
    created_by: str
    created_at: str
    in_force: bool
    document: dict[str, Any]
    customers_retiered: int | None = Field(None, description="on applying: the customers re-tiered by it at once")
    tiers_changed: int | None = Field(None, description="on applying: of those, how many got another tier "
                                                        "(kept in their tier history, announced to review)")


class TierRuleSets(Reply):
    versions: list[TierRuleSet] = Field(description="newest first; none: tiers are set by hand")


class TierExplanation(Reply):
    customer_id: str
    tier: str = Field(description="the tier they have")
    rule_set_version: int = Field(description="0: no tier rules in force")
    would_be: str | None = Field(description="the tier the rules in force give now; null without rules")
    matched: str | None = Field(description="the tier entry that matched; null: the default tier")
    facts: dict[str, Any]
    trace: list[dict[str, Any]]


class Customers(Reply):
    customers: list[CustomerSummary] = Field(description="without their orders")


class TermsIn(Strict):
    tier: StrictStr = Field(pattern=CODE, max_length=32, description="e.g. vip, standard")
    credit_limit: StrictStr | None = Field(None, pattern=AMOUNT, description="null: no limit")


class BuyerTermsIn(TermsIn):
    channel: StrictStr = Field(..., pattern=CODE, max_length=32, examples=["storefront"])
    external_id: StrictStr = Field(..., min_length=1, max_length=128, description="the channel's buyer id")
