"""Request and response bodies. Amounts are decimal strings (never JSON floats)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

CODE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
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


class SkuIn(Strict):
    code: StrictStr = Field(..., pattern=CODE)
    name: StrictStr = Field(..., min_length=1, max_length=200)


class WarehouseIn(Strict):
    code: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    name: StrictStr = Field(..., min_length=1, max_length=200)
    priority: StrictInt = Field(100, ge=0, le=10_000)


class ReceiptIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    warehouse: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)
    unit_cost: StrictStr = Field("0", pattern=COST)
    reference: StrictStr = Field("", max_length=128)


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


class ReceiveLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1)
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)


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
    warehouse: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    quantity: StrictInt = Field(..., ge=-10_000_000, le=10_000_000, description="+ found, - lost or scrapped")
    reason: StrictStr = Field(..., pattern=r"^(count|scrap)$")
    unit_cost: StrictStr = Field("", pattern=r"^(\d{1,12}(\.\d{1,6})?)?$")
    note: StrictStr = Field("", max_length=100)


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
    lines: list[ReceiveLineIn] = Field(..., min_length=1, max_length=500)
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
