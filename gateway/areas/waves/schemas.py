"""Pick waves' request and response models."""
from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from gateway.common.schemas import CODE, MAX_QTY, SCAN_CODE, WAREHOUSE, Order, Reply, Strict


class WaveIn(Strict):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    max_orders: StrictInt = Field(0, ge=0, le=100_000, description="at most this many orders (0: HUB_WAVE_MAX_ORDERS)")
    max_lines: StrictInt = Field(0, ge=0, le=1_000_000, description="at most this many order lines (0: HUB_WAVE_MAX_LINES)")


class PackIn(Strict):
    order_id: StrictStr = Field(..., pattern=CODE)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="the item's barcode or SKU, its lot label (LOT:...) "
                                                                "or its serial (SN:...)")
    quantity: StrictInt = Field(1, gt=0, le=MAX_QTY)


class WaveShipIn(Strict):
    order_id: StrictStr = Field(..., pattern=CODE)
    carrier: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")
    tracking_number: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$",
                                       description="the waybill's number, as scanned")


class WaveOrder(Reply):
    order_id: str
    status: str = Field(description="open | packed | shipped | cancelled")
    packed_by: str | None


class BinPlace(Reply):
    zone: str
    aisle: int
    bay: int
    level: int


class PickListLine(Reply):
    seq: int = Field(description="1, 2, ... along the walk")
    bin: str
    walk: BinPlace | None = Field(description="the bin code read as zone, aisle, bay, level (null: it does not read)")
    sku: str
    lot: str
    serial: str
    quantity: int
    packed: int
    order_id: str
    line_no: int


class Wave(Reply):
    wave_id: str
    warehouse: str
    status: str = Field(description="open | done (every order shipped or cancelled)")
    created_by: str
    created_at: str
    orders: list[WaveOrder]
    pick_list: list[PickListLine]


class Packed(Reply):
    wave_id: str
    order_id: str
    sku: str
    bin: str
    lot: str
    serial: str
    quantity: int
    remaining: int = Field(description="units of the order still to pack")
    order_status: str = Field(description="open | packed")
    double_checked_by: str | None = Field(description="an order flagged for the double check: the packer is its first "
                                                      "check, and another user must ship it")


class WaveShipment(Reply):
    wave_id: str
    order: Order
