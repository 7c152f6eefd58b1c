"""The warehouse area's request and response models. Money is a decimal string; a value the
service has not worked out yet is null."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationInfo, field_validator

from gateway.common.schemas import (
    BIN,
    CODE,
    LOT,
    MAX_QTY,
    WAREHOUSE,
    Money,
    Reply,
    Serial,
    Strict,
    check_serials,
    check_to_bin,
    invalid,
)

BinCode = Annotated[StrictStr, Field(pattern=WAREHOUSE)]


class BinsIn(Strict):
    codes: list[BinCode] = Field(..., min_length=1, max_length=1000, examples=[["A-01-01", "A-01-02"]])


class StockLimitsIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    minimum: StrictInt = Field(..., ge=0, le=MAX_QTY, description="below this, replenish")
    maximum: StrictInt = Field(..., ge=0, le=MAX_QTY, description="replenish up to this")

    @field_validator("maximum")
    @classmethod
    def _maximum(cls, value: int, info: ValidationInfo):
        minimum = info.data.get("minimum")
        if isinstance(minimum, int) and value < minimum:
            raise invalid("must be at least the minimum")
        return value


class MoveIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    from_bin: StrictStr = Field(..., pattern=BIN)
    to_bin: StrictStr = Field(..., pattern=BIN)
    quantity: StrictInt = Field(..., gt=0, le=MAX_QTY)
    lot: StrictStr = Field("", pattern=LOT)
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)

    @field_validator("to_bin")
    @classmethod
    def _to_bin(cls, value: str, info: ValidationInfo):
        return check_to_bin(value, info.data.get("from_bin"))

    @field_validator("serials")
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return check_serials(value, info.data.get("quantity"))


class KitChangeIn(Strict):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    quantity: StrictInt = Field(..., gt=0, le=1_000_000, description="kits assembled or taken apart")
    bin: StrictStr = Field("", pattern=BIN)


class TransferLineIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(..., gt=0, le=MAX_QTY)
    lot: StrictStr = Field("", pattern=LOT, description="default: first-expiry/first-in among usable stock")
    bin: StrictStr = Field("", pattern=BIN, description="default: any bin")
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)

    @field_validator("serials")
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return check_serials(value, info.data.get("quantity"))


class TransferIn(Strict):
    from_warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    to_warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    lines: list[TransferLineIn] = Field(..., min_length=1, max_length=500)
    note: StrictStr = Field("", max_length=200)


class TransferReceiveIn(Strict):
    bin: StrictStr = Field("", pattern=BIN, description="default: the destination's unnamed bin")


class LotNoteIn(Strict):
    note: StrictStr = Field("", max_length=200)


class CountIn(Strict):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    bins: list[Annotated[StrictStr, Field(pattern=BIN)]] = Field(
        default_factory=list, max_length=1000, description="empty: every bin, or those holding the SKUs named")
    skus: list[Annotated[StrictStr, Field(pattern=CODE)]] = Field(default_factory=list, max_length=1000)
    kind: StrictStr = Field("cycle", pattern=r"^(cycle|full)$")
    note: StrictStr = Field("", max_length=200)


class CountSubmitIn(Strict):
    zero_uncounted: StrictBool = Field(False, description="lines nobody counted are empty")


class BinsAdded(Reply):
    warehouse: str
    added: int = Field(description="bins that were new")
    codes: list[str]


class StockLimits(Reply):
    sku: str
    warehouse: str
    minimum: int
    maximum: int


class BinMove(Reply):
    document: str
    sku: str
    warehouse: str
    from_bin: str
    to_bin: str
    quantity: int
    lot: str
    serials: list[str]


class KitPart(Reply):
    sku: str
    quantity: int
    value: Money | None


class KitChange(Reply):
    document_id: str
    action: str = Field(description="assembled | disassembled")
    kit_sku: str
    warehouse: str
    bin: str
    quantity: int
    value: Money | None
    components: list[KitPart]


class TransferLine(Reply):
    sku: str
    quantity: int
    lot: str
    bin: str
    serial: str = Field(description="one line per serial")
    value: Money | None


class Transfer(Reply):
    transfer_id: str
    status: str = Field(description="shipped | received")
    from_warehouse: str
    to_warehouse: str
    lines: list[TransferLine]
    total_value: Money


class LotQuantity(Reply):
    warehouse: str
    quantity: int


class Lot(Reply):
    sku: str
    lot: str
    status: str = Field(description="ok | quarantined | expired")
    quantities: list[LotQuantity]


class CountLine(Reply):
    line_no: int
    sku: str
    bin: str
    lot: str
    serial: str
    expected: int
    counted: int | None = Field(description="null until counted")
    difference: int | None = Field(description="counted - expected; null until counted")
    value: Money | None


class Count(Reply):
    count_id: str
    status: str = Field(description="open | awaiting_approval | posted | cancelled")
    warehouse: str
    bins: list[str]
    difference_value: Money | None
    posted_value: Money | None
    lines: list[CountLine]


class AuditDifference(Reply):
    check: str
    key: str
    kept: str
    rebuilt: str


class StockAudit(Reply):
    ok: bool = Field(description="the running balances all agree with the stock ledger")
    differences: list[AuditDifference]
