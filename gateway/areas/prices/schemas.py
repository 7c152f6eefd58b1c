"""The price lists area's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from gateway.common.schemas import AMOUNT, CODE, OPT_DAY, Money, Reply, Strict


class PriceLineIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    unit_price: StrictStr = Field(..., pattern=AMOUNT, description="above 0, at most 2 decimals, e.g. \"59.90\"")
    min_quantity: StrictInt = Field(1, ge=0, le=1_000_000_000, description="the line applies from this quantity on")


class PriceListIn(Strict):
    name: StrictStr = Field(..., min_length=1, max_length=200)
    currency: StrictStr = Field("", pattern=r"^([A-Z]{3})?$", description="empty: the books' base currency")
    channel: StrictStr = Field("", max_length=32, description="empty: every channel")
    tier: StrictStr = Field("", max_length=32, description="a customer tier such as vip; empty: every tier")
    valid_from: StrictStr = Field("", pattern=OPT_DAY, description="first day in force; empty: always")
    valid_to: StrictStr = Field("", pattern=OPT_DAY, description="last day in force; empty: open-ended")
    lines: list[PriceLineIn] = Field(..., min_length=1, max_length=10_000)


class PriceLine(Reply):
    sku: str
    unit_price: Money
    min_quantity: int


class PriceList(Reply):
    code: str
    name: str
    currency: str
    channel: str | None = Field(description="null: every channel")
    tier: str | None = Field(description="null: every tier")
    valid_from: str | None
    valid_to: str | None
    updated_by: str
    updated_at: str
    lines: list[PriceLine] | None = Field(description="null in the list of price lists")
    changed: bool | None = Field(None, description="PUT: false when the list already was as sent")


class PriceLists(Reply):
    price_lists: list[PriceList]


class PriceAnswer(Reply):
    found: bool
    unit_price: Money | None
    currency: str | None
    price_list: str | None = Field(description="the list whose line applies")
    price_list_name: str | None
    min_quantity: int | None = Field(description="the applying line's minimum quantity")
    scope: str | None = Field(description="tier_and_channel | channel | tier | any")
    explanation: str = Field(description="which list and line, and why they win")
    considered: list[str] = Field(description="every line in force for the question, the winner first")
