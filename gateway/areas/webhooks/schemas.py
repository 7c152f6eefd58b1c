"""The webhooks area's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr, field_validator

from gateway.common.schemas import (
    AMOUNT,
    BUYER_MESSAGE,
    CODE,
    INT64_MAX,
    SHIP_BY,
    AddressIn,
    BuyerIn,
    Order,
    OrderLineIn,
    Reply,
    Strict,
    check_moment,
)


class StorefrontLineIn(OrderLineIn):
    amount: StrictStr | None = Field(None, pattern=AMOUNT, description="paid for the line after discounts")


class StorefrontOrderIn(Strict):
    external_order_id: StrictStr = Field(..., pattern=CODE)
    version: StrictInt = Field(..., gt=0, le=INT64_MAX, description="the storefront's modified time in ms; newest wins")
    status: StrictStr = Field(..., pattern=r"^(awaiting_payment|paid|shipped|completed|cancelled)$")
    currency: StrictStr = Field("CNY", pattern=r"^[A-Z]{3}$")
    buyer: BuyerIn = BuyerIn()
    shipping_address: AddressIn
    lines: list[StorefrontLineIn] = Field(..., min_length=1, max_length=500)
    ship_by: StrictStr = Field("", max_length=40, description=SHIP_BY)
    buyer_message: StrictStr = Field("", max_length=500, description=BUYER_MESSAGE)

    _ship_by = field_validator("ship_by")(check_moment)


class StorefrontOutcome(Reply):
    outcome: str = Field(description="created | updated | cancelled | stale | waiting for payment")
    order: Order | None = Field(description="null while the order waits for payment")
