"""Orders' request and response models."""
from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from gateway.common.schemas import CODE, AddressIn, BuyerIn, Order, OrderLineIn, Reply, Strict, Voucher


class OrderIn(Strict):
    channel: StrictStr = Field(..., pattern=CODE, examples=["taobao"])
    shop: StrictStr = Field(..., pattern=CODE)
    external_order_id: StrictStr = Field(..., pattern=CODE)
    currency: StrictStr = Field("CNY", pattern=r"^[A-Z]{3}$")
    buyer: BuyerIn = BuyerIn()
    shipping_address: AddressIn
    lines: list[OrderLineIn] = Field(..., min_length=1, max_length=500)


class ShipmentIn(Strict):
    carrier: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$", examples=["SF"])
    tracking_number: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$")


class ReturnLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    quantity: StrictInt = Field(..., gt=0, le=1_000_000)


class ReturnIn(Strict):
    lines: list[ReturnLineIn] = Field(default_factory=list, max_length=500,
                                      description="empty: everything shipped and not yet returned")
    reason: StrictStr = Field("", max_length=200)


class OrderPage(Reply):
    orders: list[Order]
    next_page_token: str | None = Field(description="null on the last page")


class OrderReturn(Reply):
    return_id: str
    order: Order


class OrderVouchers(Reply):
    order_id: str
    vouchers: list[Voucher]
