"""Orders' request and response models."""
from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, StrictStr, field_validator, model_validator

from gateway.common.schemas import (
    AMOUNT,
    BUYER_MESSAGE,
    CODE,
    SHIP_BY,
    AddressIn,
    BuyerIn,
    Order,
    OrderLineIn,
    Problem,
    Reply,
    Strict,
    Voucher,
    check_moment,
    invalid,
)


class OrderIn(Strict):
    channel: StrictStr = Field(..., pattern=CODE, examples=["taobao"])
    shop: StrictStr = Field(..., pattern=CODE)
    external_order_id: StrictStr = Field(..., pattern=CODE)
    currency: StrictStr = Field("CNY", pattern=r"^[A-Z]{3}$")
    buyer: BuyerIn = BuyerIn()
    shipping_address: AddressIn
    lines: list[OrderLineIn] = Field(..., min_length=1, max_length=500)
    priority: StrictInt = Field(0, ge=0, le=1000, description="who gets scarce stock first: higher first "
                                                              "(then the earlier ship_by, then the older order)")
    ship_by: StrictStr = Field("", max_length=40, description=SHIP_BY)
    buyer_message: StrictStr = Field("", max_length=500, description=BUYER_MESSAGE)

    _ship_by = field_validator("ship_by")(check_moment)


class ShipLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=10_000)
    quantity: StrictInt = Field(..., ge=1, le=1_000_000)


class PackScanIn(Strict):
    sku: StrictStr = Field(..., min_length=1, max_length=64, description="the SKU the scanned barcode names")
    serial: StrictStr = Field("", max_length=64, description="the scanned serial of a serial-tracked SKU")


class ShipmentIn(Strict):
    """The carrier code and tracking number; both left out: the order's electronic waybill
    (POST /orders/{id}/waybill), and a 422 for an order without one. With `lines` (or `scans`) a parcel
    of a partial shipment: reserved units only, the rest ships in later parcels."""
    carrier: StrictStr = Field("", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$", examples=["SF"])
    tracking_number: StrictStr = Field("", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$")
    lines: list[ShipLineIn] = Field([], max_length=500, description=(
        "a parcel: the reserved units it carries (line_no, quantity); empty: the whole order (of an order "
        "partly shipped: every reserved unit left)"))
    scans: list[PackScanIn] = Field([], max_length=5000, description=(
        "the packing scans, one per unit: given, they must match the parcel's SKUs and quantities (a wrong "
        "SKU, a unit missing or extra, a serial twice: 422)"))

    @model_validator(mode="after")
    def _both_or_neither(self) -> ShipmentIn:
        if bool(self.carrier) != bool(self.tracking_number):
            raise invalid("give both carrier and tracking_number, or neither (the order's waybill)")
        return self


class Waybill(Reply):
    order_id: str
    parcel_key: str = Field(description="the stable key the carrier was asked with (its object_id)")
    carrier: str = Field(description="the carrier code, e.g. ZTO")
    status: str = Field(description="issued (or requesting/uncertain while the carrier gave no certain answer)")
    tracking_number: str
    get_calls: int = Field(description="the carrier's get calls for this parcel")
    lookups: int = Field(description="look-ups of the parcel at the carrier after an ambiguous failure")
    last_error: str


class ShipmentItemIn(ShipmentIn):
    order_id: StrictStr = Field(..., pattern=CODE)


class OrderBatchIn(Strict):
    orders: list[Any] = Field(..., min_length=1, description=(
        "orders as POST /orders takes them; each is validated and applied on its own (at most "
        "HUB_GATEWAY_BATCH_LIMIT, 200 by default)"))


class ShipmentBatchIn(Strict):
    shipments: list[Any] = Field(..., min_length=1, description=(
        "shipments of `order_id`, `carrier` and `tracking_number` (as POST /orders/{id}/shipment takes "
        "them); each is validated and applied on its own"))


class BatchItem(Reply):
    index: int = Field(description="the item's position in the request")
    status: int = Field(description="what the single call would have answered: 201 placed, 200 already there "
                                    "or shipped, or the 4xx of the refusal (`problem` says why)")
    order: Order | None = Field(description="the order, unless refused")
    problem: Problem | None = Field(description="why the item was refused; nothing of it was written")


class BatchResult(Reply):
    results: list[BatchItem] = Field(description="one per item, in the request's order")
    succeeded: int
    refused: int


class ReturnLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    quantity: StrictInt = Field(..., gt=0, le=1_000_000)


class ReturnIn(Strict):
    lines: list[ReturnLineIn] = Field(default_factory=list, max_length=500,
                                      description="empty: everything shipped and not yet returned")
    reason: StrictStr = Field("", max_length=200)


class RefundLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    quantity: StrictInt | None = Field(None, gt=0, le=1_000_000,
                                       description="before shipment the line's quantity (a line is refunded "
                                                   "whole); none after shipment (no goods move)")
    amount: StrictStr | None = Field(None, pattern=AMOUNT,
                                     description="what is given back; omitted: what is left to refund of the line")


class RefundIn(Strict):
    lines: list[RefundLineIn] = Field(..., min_length=1, max_length=500)
    reason: StrictStr = Field("", max_length=200)


class OrderRefund(Reply):
    refund_id: str
    kind: str = Field(description="intercept (before shipment: the lines never ship and are not invoiced) | "
                                  "refund_only (after shipment: the sale reversed at the amount, no goods move)")
    order: Order


class OrderPage(Reply):
    orders: list[Order]
    next_page_token: str | None = Field(description="null on the last page")


class OrderReturn(Reply):
    return_id: str
    order: Order


class OrderVouchers(Reply):
    order_id: str
    vouchers: list[Voucher]


# -- holds and the operator's actions ---------------------------------------------------------
HOLD_REASONS = ("needs_review", "finance_approval", "address_check", "fraud_suspicion", "out_of_stock",
                "double_check", "manual")  # as services.order.domain.HOLD_REASONS
Note = Field("", max_length=500, description="why: kept with the action in the order's audit")


class HoldIn(Strict):
    reason: StrictStr = Field("manual", description=" | ".join(HOLD_REASONS))
    note: StrictStr = Note


class ReleaseIn(Strict):
    hold_id: StrictStr = Field("", max_length=32, description="empty: every open hold of the order")
    note: StrictStr = Note


class NoteIn(Strict):
    note: StrictStr = Note


class AddressChangeIn(Strict):
    shipping_address: AddressIn
    note: StrictStr = Note


class WarehouseChangeIn(Strict):
    warehouse: StrictStr = Field(min_length=1, max_length=32, description="the warehouse that is to ship the order")
    note: StrictStr = Note


class BulkHoldsIn(Strict):
    """Either the orders by id, or the held orders of the queue's filter (oldest first, at most the
    batch limit)."""
    order_ids: list[StrictStr] | None = Field(None, min_length=1, description="these orders")
    reason: StrictStr | None = Field(None, description="or: the held orders with an open hold of this reason")
    note: StrictStr = Note


ORDER_STATUSES = ("pending", "reserved", "backordered", "held", "shipped", "returned", "cancelled")


class OrderFilter(Strict):
    """The orders GET /orders lists with these parameters (at least one): newest first, or oldest first for
    the review queue (status held, or a hold reason); at most the batch limit."""
    status: StrictStr = Field("", description=" | ".join(ORDER_STATUSES))
    reason: StrictStr = Field("", description="orders with an open hold of this reason")
    merge_group: StrictStr = Field("", max_length=64, description="the orders of this merge group")

    @model_validator(mode="after")
    def _known(self) -> OrderFilter:
        if self.status and self.status not in ORDER_STATUSES:
            raise invalid(f"status: one of {', '.join(ORDER_STATUSES)}")
        if self.reason and self.reason not in HOLD_REASONS:
            raise invalid(f"reason: one of {', '.join(HOLD_REASONS)}")
        if not (self.status or self.reason or self.merge_group):
            raise invalid("give at least one of status, reason, merge_group")
        return self


class BulkHoldIn(Strict):
    """Hold many orders, each as POST /orders/{id}/holds would: the orders by id, or those of a filter."""
    order_ids: list[StrictStr] | None = Field(None, min_length=1, description="these orders")
    filter: OrderFilter | None = Field(None, description="or: the orders GET /orders lists with this filter")
    reason: StrictStr = Field("manual", description="the hold's reason: " + " | ".join(HOLD_REASONS))
    note: StrictStr = Note

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if value not in HOLD_REASONS:
            raise invalid(f"one of {', '.join(HOLD_REASONS)}")
        return value


class HoldPlaced(Reply):
    hold_id: str = Field(description="the hold placed, or the same reason's hold open already")
    order: Order


class BulkItem(BatchItem):
    order_id: str


class BulkResult(Reply):
    results: list[BulkItem] = Field(description="one per order, in the request's (or the queue's) order")
    succeeded: int
    refused: int


class AuditEntry(Reply):
    action: str = Field(description="hold | release | reject | cancel | edit_address | channel_notice | ...")
    hold_id: str | None
    actor: str
    at: str
    note: str = Field(description="why")
    detail: dict[str, Any] = Field(description="what changed, e.g. the status before, the old and new address")


class OrderAudit(Reply):
    order_id: str
    entries: list[AuditEntry] = Field(description="oldest first")


# -- return documents (RMA) --
class RmaLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    quantity: StrictInt = Field(..., gt=0, le=1_000_000)
    replacement_sku: StrictStr = Field("", pattern=r"^$|" + CODE, description="an exchange: the SKU sent instead "
                                                                              "(empty: the same SKU)")


class RmaIn(Strict):
    order_id: StrictStr = Field(..., min_length=1, max_length=32)
    kind: StrictStr = Field("return", pattern=r"^(return|exchange)$")
    lines: list[RmaLineIn] = Field(..., min_length=1, max_length=500)
    reason: StrictStr = Field("", max_length=200)
    external_id: StrictStr = Field("", pattern=r"^$|" + CODE,
                                   description="the caller's stable id (e.g. the platform's refund id): the same "
                                               "again answers the same RMA")


class RmaScanIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    serial: StrictStr = Field("", max_length=64)
    quantity: StrictInt = Field(1, gt=0, le=1_000_000)


class RmaReceiveIn(Strict):
    warehouse: StrictStr = Field(..., pattern=CODE, max_length=32)
    scans: list[RmaScanIn] = Field(..., min_length=1, max_length=1000)


class RmaInspectionIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    resellable: StrictInt = Field(..., ge=0, le=1_000_000)
    damaged: StrictInt = Field(0, ge=0, le=1_000_000)
    disposition: StrictStr = Field("", pattern=r"^(|quarantine|scrap)$",
                                   description="of the damaged units: quarantine (on hand, not for sale) or scrap")


class RmaInspectIn(Strict):
    lines: list[RmaInspectionIn] = Field(..., min_length=1, max_length=500)
    note: StrictStr = Field("", max_length=200)


class RmaLine(Reply):
    line_no: int
    sku: str
    quantity: int
    received: int
    resellable: int
    damaged: int
    disposition: str
    serials: list[str]
    replacement_sku: str
    amount: str = Field(description="refunded for the line")


class RmaStep(Reply):
    step: str = Field(description="requested | received | inspected | refunded | exchanged")
    actor: str
    at: str
    note: str
    detail: dict[str, Any]


class Rma(Reply):
    id: str
    order_id: str
    external_id: str | None
    kind: str
    status: str = Field(description="requested | received | inspected | refunded | exchanged")
    reason: str
    warehouse: str | None
    replacement_order_id: str | None
    created_by: str
    created_at: str
    created: bool | None = Field(None, description="on creation: false when the external id was known already")
    lines: list[RmaLine]
    steps: list[RmaStep] = Field(description="who did each step, when, and what; also on the order's audit")

