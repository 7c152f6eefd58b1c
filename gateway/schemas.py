"""Request and response bodies. Amounts are decimal strings (never JSON floats)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

CODE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
WAREHOUSE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$"
BIN = r"^([A-Za-z0-9][A-Za-z0-9._\-]{0,31})?$"      # '' is the warehouse's unnamed bin
LOT = r"^([A-Za-z0-9][A-Za-z0-9._\-]{0,63})?$"      # '' when the SKU is not lot-tracked
OPT_DAY = r"^(\d{4}-\d{2}-\d{2})?$"
# what a scanner reads: a barcode, SKU, bin, lot or serial, maybe labelled "BIN:", "LOT:", "SN:", "SKU:"
SCAN_CODE = r"^([A-Za-z]{2,3}:)?[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
MAX_QTY = 10_000_000
AMOUNT = r"^\d{1,12}(\.\d{1,2})?$"
COST = r"^\d{1,12}(\.\d{1,6})?$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Buyer(Strict):
    external_id: StrictStr = Field("", max_length=64)
    name: StrictStr = Field("", max_length=100)
    phone: StrictStr = Field("", max_length=32)
    email: StrictStr = Field("", max_length=200)


class Address(Strict):
    recipient: StrictStr = Field(..., min_length=1, max_length=100)
    phone: StrictStr = Field("", max_length=32)
    country: StrictStr = Field("CN", max_length=2)
    province: StrictStr = Field("", max_length=64)
    city: StrictStr = Field("", max_length=64)
    district: StrictStr = Field("", max_length=64)
    street: StrictStr = Field(..., min_length=1, max_length=300)
    postal_code: StrictStr = Field("", max_length=16)


class OrderLineIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(..., gt=0, le=1_000_000)
    unit_price: StrictStr = Field(..., pattern=AMOUNT, description="VAT-inclusive, e.g. \"59.90\"")


class OrderIn(Strict):
    channel: StrictStr = Field(..., pattern=CODE, examples=["taobao"])
    shop: StrictStr = Field(..., pattern=CODE)
    external_order_id: StrictStr = Field(..., pattern=CODE)
    currency: StrictStr = Field("CNY", pattern=r"^[A-Z]{3}$")
    buyer: Buyer = Buyer()
    shipping_address: Address
    lines: list[OrderLineIn] = Field(..., min_length=1, max_length=500)


Serial = Annotated[StrictStr, Field(pattern=CODE)]


def _invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", message)


def _check_expiry(value: str) -> str:
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _invalid("not a real date (YYYY-MM-DD)") from None
    return value


def _check_serials(serials: list[str], quantity) -> list[str]:
    """Serials name one distinct unit each: as many as the quantity."""
    if not serials:
        return serials
    if len(set(serials)) != len(serials):
        raise _invalid("serials must be distinct")
    if isinstance(quantity, int) and len(serials) != abs(quantity):
        raise _invalid(f"one serial per unit: {abs(quantity)} needed, {len(serials)} given")
    return serials


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
            raise _invalid("a kit cannot contain itself")
        if len(set(skus)) != len(skus):
            raise _invalid("name each component once")
        return components


class WarehouseIn(Strict):
    code: StrictStr = Field(..., pattern=WAREHOUSE)
    name: StrictStr = Field(..., min_length=1, max_length=200)
    priority: StrictInt = Field(100, ge=0, le=10_000)
    region: StrictStr = Field("", max_length=64)
    address: StrictStr = Field("", max_length=300)


class _Tracked(Strict):
    """Goods that arrive with a lot (and its expiry) or serials: an expiry needs a lot, serials
    are distinct and one per unit."""

    @field_validator("expires_on", check_fields=False)
    @classmethod
    def _expiry(cls, value: str, info: ValidationInfo):
        if value and not info.data.get("lot", "x"):
            raise _invalid("only a lot has an expiry date: name the lot")
        return _check_expiry(value)

    @field_validator("serials", check_fields=False)
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return _check_serials(value, info.data.get("quantity"))


class ReceiptIn(_Tracked):
    sku: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    quantity: StrictInt = Field(..., gt=0, le=MAX_QTY)
    unit_cost: StrictStr = Field("0", pattern=COST)
    reference: StrictStr = Field("", max_length=128)
    bin: StrictStr = Field("", pattern=BIN, description="default: the warehouse's unnamed bin")
    lot: StrictStr = Field("", pattern=LOT, description="required for lot-tracked SKUs")
    expires_on: StrictStr = Field("", pattern=OPT_DAY, description="YYYY-MM-DD, for a new lot")
    serials: list[Serial] = Field(default_factory=list, max_length=10_000,
                                  description="serial-tracked SKUs: one per unit")


class ShipmentIn(Strict):
    carrier: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$", examples=["SF"])
    tracking_number: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$")


class SupplierIn(Strict):
    code: StrictStr = Field(..., pattern=CODE)
    name: StrictStr = Field(..., min_length=1, max_length=200)


class PurchaseLineIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)
    unit_cost: StrictStr = Field(..., pattern=COST, description="excluding VAT, e.g. \"10.00\"")
    vat_rate: StrictStr = Field("0.13", pattern=r"^0(\.\d{1,4})?$")


class PurchaseOrderIn(Strict):
    supplier: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    currency: StrictStr = Field("CNY", pattern=r"^[A-Z]{3}$")
    lines: list[PurchaseLineIn] = Field(..., min_length=1, max_length=500)


class LineQuantityIn(Strict):
    line_no: StrictInt = Field(..., ge=1)
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)


class ReceiveLineIn(LineQuantityIn, _Tracked):
    bin: StrictStr = Field("", pattern=BIN, description="default: the warehouse's unnamed bin")
    lot: StrictStr = Field("", pattern=LOT, description="lot-tracked SKUs; default: the receipt's number")
    expires_on: StrictStr = Field("", pattern=OPT_DAY, description="YYYY-MM-DD, for a new lot")
    serials: list[Serial] = Field(default_factory=list, max_length=10_000,
                                  description="serial-tracked SKUs: one per unit")


class ReceivePurchaseIn(Strict):
    lines: list[ReceiveLineIn] = Field(default_factory=list, max_length=500,
                                       description="empty: receive everything still open")
    reference: StrictStr = Field("", max_length=128)


class ReturnLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1)
    quantity: StrictInt = Field(..., gt=0, le=1_000_000)


class ReturnIn(Strict):
    lines: list[ReturnLineIn] = Field(default_factory=list, max_length=500,
                                      description="empty: everything shipped and not yet returned")
    reason: StrictStr = Field("", max_length=200)


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
            raise _invalid("a non-zero whole number: positive for a gain, negative for a loss")
        reason = info.data.get("reason", "count")
        if reason != "count" and value > 0:
            raise _invalid(f"{reason} takes stock away: the quantity must be negative")
        return value

    @field_validator("serials")
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return _check_serials(value, info.data.get("quantity"))


DAY = r"^\d{4}-\d{2}-\d{2}$"


class PaymentIn(Strict):
    direction: StrictStr = Field(..., pattern=r"^(received|paid)$")
    counterparty: StrictStr = Field(..., max_length=128, examples=["supplier:TEA-GARDEN", "platform:taobao/flagship"])
    amount: StrictStr = Field(..., pattern=AMOUNT)
    business_date: StrictStr = Field(..., pattern=DAY)
    reference: StrictStr = Field(..., min_length=1, max_length=64)


class SettlementIn(Strict):
    channel: StrictStr = Field(..., pattern=CODE)
    shop: StrictStr = Field(..., pattern=CODE)
    reference: StrictStr = Field(..., min_length=1, max_length=64)
    business_date: StrictStr = Field(..., pattern=DAY)
    gross: StrictStr = Field(..., pattern=AMOUNT)
    commission: StrictStr = Field("0", pattern=AMOUNT)
    fees: StrictStr = Field("0", pattern=AMOUNT)


class OpeningLineIn(Strict):
    account: StrictStr = Field(..., pattern=r"^[0-9A-Za-z.]{1,32}$")
    debit: StrictStr = Field("0", pattern=AMOUNT)
    credit: StrictStr = Field("0", pattern=AMOUNT)
    aux: StrictStr = Field("", max_length=128)


class OpeningIn(Strict):
    business_date: StrictStr = Field(..., pattern=DAY)
    lines: list[OpeningLineIn] = Field(..., min_length=1, max_length=5000)


class ReversalIn(Strict):
    business_date: StrictStr = Field("", pattern=r"^(\d{4}-\d{2}-\d{2})?$")


class AccountMappingIn(Strict):
    ledger_account: StrictStr = Field(..., pattern=r"^[0-9A-Za-z.]{1,32}$")


class PurchaseReturnIn(Strict):
    lines: list[LineQuantityIn] = Field(..., min_length=1, max_length=500)
    reason: StrictStr = Field("", max_length=200)
    reference: StrictStr = Field("", max_length=128)


class StorefrontLineIn(OrderLineIn):
    amount: StrictStr | None = Field(None, pattern=AMOUNT, description="paid for the line after discounts")


class StorefrontOrderIn(Strict):
    external_order_id: StrictStr = Field(..., pattern=CODE)
    version: StrictInt = Field(..., gt=0, description="the storefront's modified time in ms; newest wins")
    status: StrictStr = Field(..., pattern=r"^(awaiting_payment|paid|shipped|completed|cancelled)$")
    currency: StrictStr = Field("CNY", pattern=r"^[A-Z]{3}$")
    buyer: Buyer = Buyer()
    shipping_address: Address
    lines: list[StorefrontLineIn] = Field(..., min_length=1, max_length=500)


class ComponentIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(1, gt=0, le=1000)


class SkuMappingIn(Strict):
    components: list[ComponentIn] = Field(..., min_length=1, max_length=50)


# -- warehouse operations: bins, limits, moves, kits, transfers, lots, counts -------------------
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
            raise _invalid("must be at least the minimum")
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
        if info.data.get("from_bin") == value:
            raise _invalid("must differ from from_bin")
        return value

    @field_validator("serials")
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return _check_serials(value, info.data.get("quantity"))


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
        return _check_serials(value, info.data.get("quantity"))


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


# -- scanning (handheld or phone) --------------------------------------------------------------
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


class ScanReceiveIn(_Scanned, _Tracked):
    warehouse: StrictStr = Field(..., pattern=WAREHOUSE)
    bin: StrictStr = Field(..., pattern=BIN)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="the item's barcode or SKU")
    quantity: StrictInt = Field(..., gt=0, le=MAX_QTY)
    unit_cost: StrictStr = Field(..., pattern=COST)
    lot: StrictStr = Field("", pattern=LOT)
    expires_on: StrictStr = Field("", pattern=OPT_DAY)
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)
    reference: StrictStr = Field("", max_length=128)

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
        if info.data.get("from_bin") == value:
            raise _invalid("must differ from from_bin")
        return value


class ScanCountIn(_Scanned):
    count_id: StrictStr = Field(..., pattern=CODE)
    bin: StrictStr = Field(..., pattern=BIN)
    code: StrictStr = Field(..., pattern=SCAN_CODE, description="barcode, SKU, lot label or serial")
    quantity: StrictInt = Field(1, ge=0, le=MAX_QTY, description="units counted with this scan (0: bin empty)")
    replace: StrictBool = Field(False, description="replace what was counted there instead of adding")
