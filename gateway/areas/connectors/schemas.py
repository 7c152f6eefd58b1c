"""The connectors area's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from gateway.common.schemas import CODE, Reply, Strict


class ComponentIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(1, gt=0, le=1000)


class SkuMappingIn(Strict):
    components: list[ComponentIn] = Field(..., min_length=1, max_length=50)


class ShopStatus(Reply):
    platform: str
    shop: str
    watermark: str = Field(description="RFC 3339: every change up to here is in the hub")
    lag_seconds: float
    last_error: str = Field(description="empty unless the shop is in an error state")
    error_since: str
    retries: int
    orders_published: int
    duplicates_suppressed: int
    open_exceptions: int
    stock_pushes_owed: int = Field(description="sellable quantities the platform has not accepted yet")
    stock_pushes_failing: int
    shipments_owed: int = Field(description="shipments not yet confirmed on the platform")
    shipments_failing: int


class ShopStatuses(Reply):
    shops: list[ShopStatus]


class HeldOrder(Reply):
    platform: str
    shop: str
    external_order_id: str
    reason: str = Field(description="unmapped_sku | unparseable_address | amount_mismatch | missing_field")
    detail: str
    status: str = Field(description="open | resolved")
    created_at: str


class HeldOrders(Reply):
    exceptions: list[HeldOrder]


class Component(Reply):
    sku: str
    quantity: int = Field(description="per unit of the platform SKU")


class SkuMapping(Reply):
    outer_sku: str
    components: list[Component]
    redrive_pending: int = Field(description="open exceptions that will be tried again now")
