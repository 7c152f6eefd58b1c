"""Scanning's request and response models. A code is an item's barcode or SKU, a bin label, a lot
label ("LOT:L2405") or a serial ("SN:X123"); bins, lots and serials may carry their label prefix."""
from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationInfo, field_validator

from gateway.common.schemas import (
    BIN,
    CODE,
    COST,
    LOT,
    MAX_QTY,
    OPT_DAY,
    RECEIPT_REASON,
    SCAN_CODE,
    WAREHOUSE,
    ReceiptReason,
    Reply,
    Serial,
    StockLevel,
    Strict,
    Tracked,
    check_to_bin,
)


def _unlabel(value: str, label: str) -> str:
    """A scanned bin, lot or serial label may carry its prefix ("BIN:A-01"): drop it."""
    prefix, sep, rest = value.partition(":")
    return rest if sep and prefix.upper() == label else value


class _Scanned(Strict):
    @field_validator("bin", "from_bin", "to_bin", mode="before", check_fields=False)
    @classmethod
    def _bin_label(cls, value):
        return _unlabel(value, "BIN") if isinstance(value, str) else value


class ScanLookupIn(Strict):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    code: StrictStr = Field(..., pattern=SCAN_CODE, examples=["6901234567890", "BIN:A-01-03", "LOT:L2405"])


class ScanReceiveIn(_Scanned, Tracked):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    bin: StrictStr = Field(..., pattern=BIN)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="the item's barcode or SKU")
    quantity: StrictInt = Field(..., gt=0, le=MAX_QTY)
    unit_cost: StrictStr = Field(..., pattern=COST)
    lot: StrictStr = Field("", pattern=LOT)
    expires_on: StrictStr = Field("", pattern=OPT_DAY)
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)
    reference: StrictStr = Field("", max_length=128)
    reason: ReceiptReason = Field("opening", description=RECEIPT_REASON)

    @field_validator("lot", mode="before")
    @classmethod
    def _lot_label(cls, value):
        return _unlabel(value, "LOT") if isinstance(value, str) else value

    @field_validator("serials", mode="before")
    @classmethod
    def _serial_labels(cls, value):
        return [_unlabel(v, "SN") if isinstance(v, str) else v for v in value] if isinstance(value, list) else value


class ScanPickIn(_Scanned):
    order_id: StrictStr = Field(..., pattern=CODE)
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    bin: StrictStr = Field(..., pattern=BIN)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="barcode, lot label or serial")
    quantity: StrictInt = Field(1, gt=0, le=MAX_QTY)


class ScanMoveIn(_Scanned):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    from_bin: StrictStr = Field(..., pattern=BIN)
    to_bin: StrictStr = Field(..., pattern=BIN)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="barcode, lot label (LOT:...) or serial (SN:...)")
    quantity: StrictInt = Field(1, gt=0, le=MAX_QTY)

    @field_validator("to_bin")
    @classmethod
    def _to_bin(cls, value: str, info: ValidationInfo):
        return check_to_bin(value, info.data.get("from_bin"))


class ScanCountIn(_Scanned):
    count_id: StrictStr = Field(..., pattern=CODE)
    bin: StrictStr = Field(..., pattern=BIN)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="barcode, SKU, lot label or serial")
    quantity: StrictInt = Field(1, ge=0, le=MAX_QTY, description="units counted with this scan (0: bin empty)")
    replace: StrictBool = Field(False, description="replace what was counted there instead of adding")


class Scanned(Reply):
    code: str
    warehouse: str
    kind: str = Field(description="sku | bin | lot | serial")
    sku: str
    sku_name: str
    bin: str
    lot: str
    serial: str
    level: StockLevel | None = Field(description="for goods: the SKU's stock in the warehouse")


class ScanReceipt(Reply):
    document_id: str = Field(description="the receipt: its voucher's source id")
    movement_id: int
    reason: str
    sku: str
    sku_name: str
    warehouse: str
    bin: str
    lot: str
    serials: list[str]
    quantity: int
    level: StockLevel


class ScanPick(Reply):
    order_id: str
    line_no: int
    sku: str
    warehouse: str
    bin: str
    lot: str
    serial: str
    picked: int
    reserved: int
    remaining: int = Field(description="reserved - picked, never below 0")


class ScanMove(Reply):
    document: str
    sku: str
    sku_name: str
    warehouse: str
    from_bin: str
    to_bin: str
    lot: str
    serials: list[str]
    quantity: int


class ScanCount(Reply):
    count_id: str
    sku: str
    bin: str
    lot: str
    serial: str
    counted: int
    expected: int
    difference: int = Field(description="counted - expected")
