"""The stock area's request and response models."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationInfo, field_validator

from gateway.common.schemas import (
    BIN,
    CODE,
    COST,
    LOT,
    MAX_QTY,
    OPT_DAY,
    RECEIPT_REASON,
    WAREHOUSE,
    Money,
    ReceiptReason,
    Reply,
    Serial,
    StockLevel,
    Strict,
    Tracked,
    WarehouseValue,
    check_serials,
    invalid,
)


class KitComponentIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(1, gt=0, le=1_000_000, description="units of the component per kit")


class SkuIn(Strict):
    code: StrictStr = Field(..., pattern=CODE)
    name: StrictStr = Field(..., min_length=1, max_length=200)
    base_unit: StrictStr = Field("pcs", min_length=1, max_length=16, description="quantities count this unit")
    category: StrictStr = Field("", max_length=64)
    lot_tracked: StrictBool = False
    serial_tracked: StrictBool = False
    costing: StrictStr = Field("fifo", pattern=r"^(fifo|average)$")
    barcodes: list[Annotated[StrictStr, Field(pattern=CODE)]] = Field(
        default_factory=list, max_length=50, description="when given, replace the SKU's barcodes")
    components: list[KitComponentIn] = Field(default_factory=list, max_length=50,
                                             description="when given, the SKU is a kit of these")

    @field_validator("components")
    @classmethod
    def _components(cls, components: list[KitComponentIn], info: ValidationInfo):
        skus = [c.sku for c in components]
        if info.data.get("code") in skus:
            raise invalid("a kit cannot contain itself")
        if len(set(skus)) != len(skus):
            raise invalid("name each component once")
        return components


class WarehouseIn(Strict):
    code: StrictStr = Field(..., pattern=WAREHOUSE)
    name: StrictStr = Field(..., min_length=1, max_length=200)
    priority: StrictInt = Field(100, ge=0, le=10_000)
    region: StrictStr = Field("", max_length=64)
    address: StrictStr = Field("", max_length=300)


Warehouses = Annotated[list[Annotated[StrictStr, Field(pattern=WAREHOUSE)]], Field(
    ..., min_length=1, max_length=100, description="most preferred first")]


class CoverageIn(Strict):
    province: StrictStr = Field("", max_length=64, description="empty, with city empty: the default row")
    city: StrictStr = Field("", max_length=64, description="empty: the whole province")
    warehouses: Warehouses


class ShopWarehousesIn(Strict):
    channel: StrictStr = Field(..., pattern=CODE)
    shop: StrictStr = Field("", pattern=rf"^({CODE[1:-1]})?$", description="empty: every shop of the channel")
    warehouses: Warehouses


class AllocationRulesIn(Strict):
    """Which warehouses serve a region and which alone may ship a shop's orders; replaces the rules."""
    coverage: list[CoverageIn] = Field(default_factory=list, max_length=5000)
    shops: list[ShopWarehousesIn] = Field(default_factory=list, max_length=1000)


class ReceiptIn(Tracked):
    sku: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    quantity: StrictInt = Field(..., gt=0, le=MAX_QTY)
    unit_cost: StrictStr = Field("0", pattern=COST)
    reason: ReceiptReason = Field("opening", description=RECEIPT_REASON)
    reference: StrictStr = Field("", max_length=128)
    bin: StrictStr = Field("", pattern=BIN, description="default: the warehouse's unnamed bin")
    lot: StrictStr = Field("", pattern=LOT, description="required for lot-tracked SKUs")
    expires_on: StrictStr = Field("", pattern=OPT_DAY, description="YYYY-MM-DD, for a new lot")
    serials: list[Serial] = Field(default_factory=list, max_length=10_000,
                                  description="serial-tracked SKUs: one per unit")


class AdjustmentIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    reason: StrictStr = Field(..., pattern=r"^(count|scrap|loss|expired)$",
                              description="count: a count difference; scrap, loss, expired: a write-off")
    quantity: StrictInt = Field(..., ge=-MAX_QTY, le=MAX_QTY, description="+ found, - lost or scrapped")
    unit_cost: StrictStr = Field("", pattern=r"^(\d{1,12}(\.\d{1,6})?)?$", description="gains only")
    note: StrictStr = Field("", max_length=100)
    bin: StrictStr = Field("", pattern=BIN)
    lot: StrictStr = Field("", pattern=LOT)
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, value: int, info: ValidationInfo):
        if value == 0:
            raise invalid("a non-zero whole number: positive for a gain, negative for a loss")
        reason = info.data.get("reason", "count")
        if reason != "count" and value > 0:
            raise invalid(f"{reason} takes stock away: the quantity must be negative")
        return value

    @field_validator("serials")
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return check_serials(value, info.data.get("quantity"))


class KitComponent(Reply):
    sku: str
    quantity: int = Field(description="units of the component per kit")


class Sku(Reply):
    code: str
    name: str
    base_unit: str
    category: str
    lot_tracked: bool
    serial_tracked: bool
    costing: str = Field(description="fifo | average")
    barcodes: list[str]
    components: list[KitComponent] = Field(description="empty unless the SKU is a kit")


class Warehouse(Reply):
    code: str
    name: str
    priority: int = Field(description="lower is tried first when reserving")
    region: str
    address: str


class Receipt(Reply):
    document_id: str = Field(description="the receipt: its voucher's source id")
    movement_id: int
    level: StockLevel


class Adjustment(Reply):
    adjustment_id: str
    value: Money = Field(description="signed cost carried to the books")
    level: StockLevel


class SkuStock(Reply):
    sku: str
    levels: list[StockLevel]


class StockValue(Reply):
    warehouses: list[WarehouseValue] = Field(description="on hand")
    in_transit: list[WarehouseValue] = Field(description="shipped by a transfer to the warehouse, not yet received, "
                                                         "at its travelling cost")
    total: Money = Field(description="on hand and in transit: what the inventory accounts hold")


class Coverage(Reply):
    province: str
    city: str
    warehouses: list[str] = Field(description="most preferred first")


class ShopWarehouses(Reply):
    channel: str
    shop: str = Field(description="empty: every shop of the channel")
    warehouses: list[str] = Field(description="only these ship the shop's orders, most preferred first")


class AllocationRules(Reply):
    coverage: list[Coverage]
    shops: list[ShopWarehouses]


class AllocationCandidate(Reply):
    warehouse: str
    rank: int = Field(description="1 = most preferred")
    source: str = Field(description="where its rank came from: city | province | default (coverage rows), "
                                    "priority (no row matched: every warehouse by priority) | shop (the shop's own)")
    covers: list[int] = Field(description="the lines it could ship whole")
    lacks: list[str] = Field(description="the SKUs it has too few of")


class WarehouseQuantity(Reply):
    warehouse: str
    quantity: int


class AllocatedLine(Reply):
    line_no: int
    sku: str
    quantity: int
    status: str
    allocations: list[WarehouseQuantity] = Field(description="what is reserved where now")


class FilledLine(Reply):
    line_no: int
    sku: str
    warehouse: str
    quantity: int


class LaterAllocation(Reply):
    decided_at: str
    why: str = Field(description="what made inventory decide again: stock that arrived or was freed, a move")
    candidates: list[AllocationCandidate] = Field(description="weighed over the lines still open; none for a move")
    chosen: list[str] = Field(description="the warehouses this decision took from")
    filled: list[FilledLine] = Field(description="what it reserved where")
    split_reason: str | None
    reason: str = Field(description="why these warehouses, in a sentence")


class Allocation(Reply):
    order_id: str
    channel: str
    shop: str
    province: str
    city: str
    priority: int = Field(description="who gets scarce stock first: as placed, raised since by a review rule")
    candidates: list[AllocationCandidate]
    chosen: list[str] = Field(description="the warehouses that ship it, first chosen first")
    parcels: int
    split_reason: str | None = Field(description="no_single_warehouse | line_split; null: not split")
    reason: str = Field(description="why these warehouses, in a sentence")
    decided_at: str = Field(description="when the first decision was made (the order arrived)")
    lines: list[AllocatedLine]
    later: list[LaterAllocation] = Field(description="decided since, oldest first: backorders filled later by "
                                                     "the rules in force then, an operator's move")
