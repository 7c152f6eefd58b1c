"""The bases of request and response models, the field patterns, and the models several areas
share. Amounts are decimal strings (never JSON numbers)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

CODE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
OPT_CODE = r"^([A-Za-z0-9][A-Za-z0-9._\-]{0,63})?$"
WAREHOUSE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$"
BIN = r"^([A-Za-z0-9][A-Za-z0-9._\-]{0,31})?$"      # '' is the warehouse's unnamed bin
LOT = r"^([A-Za-z0-9][A-Za-z0-9._\-]{0,63})?$"      # '' when the SKU is not lot-tracked
# Days and months from 1900 to 2999: what the services' calendars (periods, local days, ages) can
# compute with, so that no report or posting overflows at the year 1 or 9999
_MONTH = r"(19\d{2}|2\d{3})-(0[1-9]|1[0-2])"
_DAY = rf"{_MONTH}-(0[1-9]|[12]\d|3[01])"
DAY = rf"^{_DAY}$"
OPT_DAY = rf"^({_DAY})?$"
OPT_PERIOD = rf"^({_MONTH})?$"
PERIOD = rf"^{_MONTH}$"
# a day (the end of it) or an ISO 8601 time on such a day
OPT_MOMENT = rf"^({_DAY}([T ]\d{{2}}:\d{{2}}(:\d{{2}}(\.\d{{1,6}})?)?(Z|[+-]\d{{2}}:\d{{2}})?)?)?$"
PATTERN_MESSAGES = {  # what a refusal says instead of the pattern
    DAY: "expected a date YYYY-MM-DD from 1900-01-01 to 2999-12-31",
    OPT_DAY: "expected a date YYYY-MM-DD from 1900-01-01 to 2999-12-31",
    OPT_PERIOD: "expected a month YYYY-MM from 1900-01 to 2999-12",
    PERIOD: "expected a month YYYY-MM from 1900-01 to 2999-12",
    OPT_MOMENT: "expected a date YYYY-MM-DD or an ISO 8601 time, from 1900-01-01 to 2999-12-31",
}
# what a scanner reads: a barcode, SKU, bin, lot or serial, maybe labelled "BIN:", "LOT:", "SN:", "SKU:"
SCAN_CODE = r"^([A-Za-z]{2,3}:)?[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
MAX_QTY = 10_000_000
MAX_DAYS = 36_600  # a span of days a report may ask for: a hundred years
INT64_MAX = 2**63 - 1  # an int64 protobuf field (and a BIGINT column)
AMOUNT = r"^\d{1,12}(\.\d{1,2})?$"
COST = r"^\d{1,12}(\.\d{1,6})?$"
# why goods are received outside a purchase: the books credit a different account for each
ReceiptReason = Literal["opening", "other", "found", "production"]
RECEIPT_REASON = ("why the goods arrive, which names the account the books credit against inventory: opening "
                  "(opening stock, the default), other (an other receipt), found (found goods), production "
                  "(finished goods from production)")


# -- requests ----------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Serial = Annotated[StrictStr, Field(pattern=CODE)]


def invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", message)


def check_expiry(value: str) -> str:
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise invalid("not a real date (YYYY-MM-DD)") from None
    return value


def check_moment(value: str) -> str:
    """An optional ISO 8601 time with its UTC offset (a promised ship-by time)."""
    if value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise invalid("an ISO 8601 time with its offset, e.g. 2026-12-06T18:00:00+08:00") from None
        if moment.tzinfo is None:
            raise invalid("give the time's UTC offset, e.g. 2026-12-06T18:00:00+08:00")
        if not 1900 <= moment.year <= 2999:
            raise invalid("a time from 1900-01-01 to 2999-12-31")
    return value


SHIP_BY = "the promised ship-by time, ISO 8601 with offset: an earlier promise gets scarce stock first"


def check_serials(serials: list[str], quantity) -> list[str]:
    """Serials name one distinct unit each: as many as the quantity."""
    if not serials:
        return serials
    if len(set(serials)) != len(serials):
        raise invalid("serials must be distinct")
    if isinstance(quantity, int) and len(serials) != abs(quantity):
        raise invalid(f"one serial per unit: {abs(quantity)} needed, {len(serials)} given")
    return serials


def check_to_bin(to_bin: str, from_bin) -> str:
    """A move goes somewhere else."""
    if from_bin == to_bin:
        raise invalid("must differ from from_bin")
    return to_bin


class Tracked(Strict):
    """Goods that arrive with a lot (and its expiry) or serials: an expiry needs a lot, serials
    are distinct and one per unit."""

    @field_validator("expires_on", check_fields=False)
    @classmethod
    def _expiry(cls, value: str, info: ValidationInfo):
        if value and not info.data.get("lot", "x"):
            raise invalid("only a lot has an expiry date: name the lot")
        return check_expiry(value)

    @field_validator("serials", check_fields=False)
    @classmethod
    def _serials(cls, value: list[str], info: ValidationInfo):
        return check_serials(value, info.data.get("quantity"))


# an order as a client places it (POST /orders) or a storefront pushes it (webhooks)
class BuyerIn(Strict):
    external_id: StrictStr = Field("", max_length=64)
    name: StrictStr = Field("", max_length=100)
    phone: StrictStr = Field("", max_length=32)
    email: StrictStr = Field("", max_length=200)


BUYER_MESSAGE = "what the buyer wrote to the seller (review's buyer_message fact)"


class AddressIn(Strict):
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


# -- responses ---------------------------------------------------------------------------------
class Reply(BaseModel):
    """A response body. FastAPI filters answers through their model: a field the presenter returns
    and the model forgets fails the response (tests see it) instead of vanishing; strict, so no
    value is quietly converted either."""
    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class ExportAs:
    """How the CSV and Excel exports (gateway.common.exports) write a field, where its type does not
    say: "money" (a number with two decimals), "number", "day", "moment" or "text"."""
    kind: str


Money = Annotated[str, Field(description="a decimal string, e.g. \"168.00\"", examples=["168.00"]), ExportAs("money")]
Number = Annotated[str, ExportAs("number")]  # a decimal string that is no amount: a rate, a ratio, a percentage


class StockLevel(Reply):
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int = Field(description="on_hand - reserved - held, never below 0")
    held: int = Field(description="in quarantined or expired lots")
    in_transit: int = Field(description="shipped by a transfer towards this warehouse")


class SkuValue(Reply):
    sku: str
    quantity: int
    value: Money


class WarehouseValue(Reply):
    warehouse: str
    quantity: int
    value: Money
    skus: list[SkuValue]


class VoucherLine(Reply):
    line_no: int
    account: str
    summary: str
    debit: Money
    credit: Money
    aux: str = Field(description="counterparty, e.g. \"platform:taobao/shop1\"")
    cost_centre: str


class Voucher(Reply):
    id: str
    number: str
    voucher_type: str
    period: str
    kind: str
    source_type: str
    source_id: str
    business_date: str
    total: Money
    posted_at: str
    posted_by: str
    export_status: str
    reverses: str | None = Field(description="the voucher this one reverses")
    currency: str | None = Field(description="a document in another currency than the books': its currency")
    exchange_rate: Number | None = Field(description="and the rate its amounts were converted at")
    lines: list[VoucherLine]


class Buyer(Reply):
    external_id: str
    name: str
    phone: str
    email: str


class Address(Reply):
    recipient: str
    phone: str
    country: str
    province: str
    city: str
    district: str
    street: str
    postal_code: str


class OrderLine(Reply):
    line_no: int
    sku: str
    quantity: int
    unit_price: Money
    amount: Money
    reservation: str = Field(description="pending | reserved | backordered | refunded (refunded before "
                                         "shipment: it never ships and is not invoiced)")
    warehouse: str | None = Field(description="where it is reserved, when reserved")
    reserved_quantity: int = Field(description="units reserved for it (at `warehouse`)")
    backordered_quantity: int = Field(description="units waiting for stock")
    returned_quantity: int
    refund_status: str | None = Field(description="the platform's refund status of the line (e.g. success, "
                                                  "requested), null without one")
    refunded_amount: Money = Field(description="money given back for the line: all it was paid when refunded "
                                               "before shipment, the refunds without goods back after it")
    shipped_quantity: int = Field(description="units shipped so far (an order shipped in parcels ships a line "
                                              "in parts)")


class Hold(Reply):
    id: str
    reason: str = Field(description="needs_review | finance_approval | address_check | fraud_suspicion | "
                                    "out_of_stock | double_check | manual")
    rule: str | None = Field(description="the review rule that placed it; null: an operator")
    note: str
    placed_by: str
    placed_at: str
    released_by: str | None
    released_at: str | None
    outcome: str | None = Field(description="released | rejected; null while the hold is open")
    outcome_note: str | None


class Shipment(Reply):
    carrier: str
    tracking_number: str
    shipped_at: str


class ParcelLine(Reply):
    line_no: int
    quantity: int
    amount: Money = Field(description="the units' share of the line's amount, to the cent (a line's parcels add "
                                      "up to exactly its amount)")


class Parcel(Reply):
    parcel_no: int
    parcel_key: str = Field(description="<order id>-P<n>: its waybill's key and the source of its vouchers")
    carrier: str
    tracking_number: str
    amount: Money
    shipped_by: str
    shipped_at: str
    lines: list[ParcelLine]


class DoubleChecked(Reply):
    by: str = Field(description="the user who checked the picked goods")
    at: str = Field(description="RFC 3339, UTC")


class Order(Reply):
    id: str
    channel: str
    shop: str
    external_order_id: str
    status: str = Field(description="pending | reserved | backordered | held | partly_shipped | shipped | "
                                    "returned | cancelled")
    total: Money
    currency: str
    exchange_rate: Number | None = Field(description="to the books' currency, for an order in another")
    holds: list[Hold] = Field(description="open and closed, oldest first; the order is held while one is open")
    priority: int = Field(description="set by a review rule; 0 by default")
    double_check: bool = Field(description="a review rule wants two people to check it at outbound")
    merge_group: str | None = Field(description="the merge group it ships with (one shipment for the group's "
                                                "orders: same buyer, address and shop); null: it ships alone")
    merged_with: list[str] = Field(description="the merge group's other orders not cancelled, oldest first")
    channel_notice: str | None = Field(
        description="a shop platform's order cancelled in the hub while its trade is still open on the platform: "
                    "what the operator must do (the platforms document no seller-side cancel of a paid trade; "
                    "the buyer's refund closes it). Null otherwise, and once the platform reports it cancelled")
    double_checked: DoubleChecked | None = Field(
        description="the check of the picked goods (POST /orders/{id}/double-check); the shipment must come "
                    "from another user. Null until checked")
    buyer: Buyer
    buyer_message: str = Field(description="what the buyer wrote to the seller (a channel's buyer message, a "
                                           "storefront's or client's note); \"\": nothing")
    shipping_address: Address
    lines: list[OrderLine]
    shipment: Shipment | None
    parcels: list[Parcel] = Field(description="the parcels of an order shipped in parts, oldest first (empty: "
                                              "shipped whole, or not yet)")
    created_by: str
    created_at: str
    updated_at: str


# -- problems ----------------------------------------------------------------------------------
class FieldError(Reply):
    field: str
    message: str
    rule: str | None = Field(None, description="a rule set's rule at fault (review)")
    position: int | None = Field(None, description="where in the rule's expression (0-based character)")


class Problem(Reply):
    """application/problem+json (RFC 9457): every refusal and failure."""
    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] = []


_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# what the routers declare (it keeps FastAPI from adding its own 422); gateway.openapi puts each status
# an operation can answer in their place
PROBLEMS: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused: the problem says why", "content": _PROBLEM},
    "5XX": {"description": "A service failed or did not answer in time", "content": _PROBLEM}}


def problem_schemas() -> dict:
    """Problem and its parts for the OpenAPI components (PROBLEMS refers to it by name)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "Problem": schema}
