"""Purchasing's request and response models."""
from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from gateway.common.schemas import BIN, CODE, COST, LOT, OPT_DAY, OPT_MOMENT, Money, Reply, Serial, Strict, Tracked


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
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)


class ReceiveLineIn(LineQuantityIn, Tracked):
    bin: StrictStr = Field("", pattern=BIN, description="default: the warehouse's unnamed bin")
    lot: StrictStr = Field("", pattern=LOT, description="lot-tracked SKUs; default: the receipt's number")
    expires_on: StrictStr = Field("", pattern=OPT_DAY, description="YYYY-MM-DD, for a new lot")
    serials: list[Serial] = Field(default_factory=list, max_length=10_000,
                                  description="serial-tracked SKUs: one per unit")


class ReceivePurchaseIn(Strict):
    lines: list[ReceiveLineIn] = Field(default_factory=list, max_length=500,
                                       description="empty: receive everything still open")
    reference: StrictStr = Field("", max_length=128)


class PurchaseReturnIn(Strict):
    lines: list[LineQuantityIn] = Field(..., min_length=1, max_length=500)
    reason: StrictStr = Field("", max_length=200)
    reference: StrictStr = Field("", max_length=128)


class Supplier(Reply):
    code: str
    name: str


class PurchaseOrderLine(Reply):
    line_no: int
    sku: str
    quantity: int
    received: int
    returned: int = Field(description="sent back to the supplier")
    unit_cost: Money = Field(description="excluding VAT, up to 6 places")
    vat_rate: str
    amount: Money = Field(description="quantity x unit_cost, excluding VAT")


class ReceiptLine(Reply):
    line_no: int
    sku: str
    quantity: int


class PurchaseReceipt(Reply):
    id: str
    received_at: str
    reference: str
    received_by: str
    lines: list[ReceiptLine]
    status: str = Field(description="accepted | refused: inventory could not take it into stock; its quantities "
                                    "are open again and the purchase voucher is reversed")
    refused_reason: str | None = None
    refused_at: str | None = None


class ReturnToSupplier(Reply):
    id: str
    returned_at: str
    reason: str
    reference: str
    returned_by: str
    lines: list[ReceiptLine]
    status: str = Field(description="accepted | refused: the goods were not free to leave (reserved, held); "
                                    "its quantities may be returned again")
    refused_reason: str | None = None
    refused_at: str | None = None


class PurchaseOrder(Reply):
    id: str
    supplier: str
    warehouse: str
    currency: str
    exchange_rate: str | None = Field(description="to the books' currency, for a purchase order in another")
    status: str = Field(description="open | partially_received | received")
    created_by: str
    created_at: str
    lines: list[PurchaseOrderLine]
    receipts: list[PurchaseReceipt]
    returns: list[ReturnToSupplier]
    approval: str = Field(description="pending | approved | rejected: received only once approved")
    chain_version: int | None = Field(description="the approval chain it went through; none: its requisition's")
    requisition_id: str | None
    approval_steps: list[ApprovalStep]
    approval_log: list[ApprovalEntry]


class ReceivedPurchase(Reply):
    receipt: PurchaseReceipt
    purchase_order: PurchaseOrder


class PurchaseReturn(Reply):
    return_id: str
    purchase_order: PurchaseOrder


class Suggestion(Reply):
    id: str
    sku: str
    warehouse: str
    status: str = Field(description="open | ordered | dismissed")
    available: int
    minimum: int
    maximum: int
    quantity: int = Field(description="suggested: maximum - available")
    signalled_at: str
    created_at: str
    updated_at: str
    closed_by: str | None
    closed_at: str | None
    purchase_order_id: str | None = Field(description="the purchase order that took it up")


class Suggestions(Reply):
    suggestions: list[Suggestion]


class LotExpiring(Reply):
    id: int
    kind: str = Field(description="lot_expiring")
    sku: str
    lot: str
    warehouse: str | None
    quantity: int
    occurred_at: str
    expires_on: str
    days_left: int


class LotHoldChanged(Reply):
    id: int
    kind: str = Field(description="lot_hold_changed")
    sku: str
    lot: str
    warehouse: str | None
    quantity: int
    occurred_at: str
    held: bool
    reason: str = Field(description="quarantine | expired | released")
    note: str


class StockAlerts(Reply):
    # the two kinds carry different fields; each alert fits exactly one (extra fields are forbidden)
    alerts: list[LotExpiring | LotHoldChanged]


# -- requisitions and approvals ------------------------------------------------------------------
FACT = r"^[^\x00-\x1f]{0,64}$"


class RequisitionFactsIn(Strict):
    category: StrictStr = Field("", pattern=FACT, description="what is bought, for the approval chain")
    material_type: StrictStr = Field("", pattern=FACT)
    project: StrictStr = Field("", pattern=FACT)
    cost_centre: StrictStr = Field("", pattern=FACT)
    department: StrictStr = Field("", pattern=FACT)
    note: StrictStr = Field("", max_length=500)


class RequisitionLineIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)
    supplier: StrictStr = Field(..., pattern=CODE)
    unit_cost: StrictStr = Field(..., pattern=COST, description="excluding VAT")
    vat_rate: StrictStr = Field("0.13", pattern=r"^0(\.\d{1,4})?$")


class RequisitionIn(RequisitionFactsIn):
    warehouse: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    lines: list[RequisitionLineIn] = Field(..., min_length=1, max_length=500)


class SuggestionPickIn(Strict):
    suggestion_id: StrictStr = Field(..., pattern=r"^[0-9a-f]{32}$")
    supplier: StrictStr = Field(..., pattern=CODE)
    unit_cost: StrictStr = Field(..., pattern=COST)
    vat_rate: StrictStr = Field("0.13", pattern=r"^0(\.\d{1,4})?$")
    quantity: StrictInt = Field(0, ge=0, le=10_000_000, description="0: as suggested")


class RequisitionFromSuggestionsIn(RequisitionFactsIn):
    suggestions: list[SuggestionPickIn] = Field(..., min_length=1, max_length=500)


class OrderRequisitionsIn(Strict):
    requisition_ids: list[StrictStr] = Field(..., min_length=1, max_length=100)


class DecisionIn(Strict):
    comment: StrictStr = Field("", max_length=500, description="a rejection's reason (required to reject)")


class DelegationIn(Strict):
    delegate: StrictStr = Field(..., min_length=1, max_length=64, description="the user who approves meanwhile")
    starts_at: StrictStr = Field(..., min_length=10, pattern=OPT_MOMENT, description="ISO 8601 (a day: its start)")
    ends_at: StrictStr = Field(..., min_length=10, pattern=OPT_MOMENT, description="ISO 8601, after starts_at")
    note: StrictStr = Field("", max_length=500)


class ApprovalChainIn(Strict):
    document: dict | StrictStr = Field(..., description="the chain as JSON, or YAML text")
    note: StrictStr = Field("", max_length=500)


class ApprovalStep(Reply):
    document_kind: str
    document_id: str
    step_no: int
    step_id: str
    role: str | None
    user: str | None
    status: str = Field(description="queued | waiting | approved | rejected | cancelled")
    opened_at: str | None
    decided_by: str | None
    on_behalf_of: str | None = Field(description="the delegator, when a delegate decided")
    decided_at: str | None
    comment: str | None
    requester: str
    amount: str = Field(description="the document's total, VAT included, in the base currency")


class ApprovalEntry(Reply):
    step_no: int | None
    action: str = Field(description="raised | opened | approved | rejected | ordered")
    actor: str
    on_behalf_of: str | None
    comment: str
    at: str


class RequisitionLine(Reply):
    line_no: int
    sku: str
    quantity: int
    supplier: str
    unit_cost: str
    vat_rate: str
    amount: str
    suggestion_id: str | None
    purchase_order_id: str | None


class Requisition(Reply):
    id: str
    requester: str
    warehouse: str
    currency: str
    total: str
    category: str
    material_type: str
    project: str
    cost_centre: str
    department: str
    note: str
    status: str = Field(description="pending | approved | rejected | ordered")
    chain_version: int
    rejected_reason: str | None
    created_at: str
    updated_at: str
    lines: list[RequisitionLine]
    approval_steps: list[ApprovalStep]
    approval_log: list[ApprovalEntry]


class OrderedRequisitions(Reply):
    purchase_orders: list[PurchaseOrder]


class Delegation(Reply):
    id: str


class WaitingApprovals(Reply):
    steps: list[ApprovalStep]


class ApprovalChainVersion(Reply):
    version: int
    name: str
    note: str
    created_by: str
    created_at: str | None
    steps: int
    in_force: bool
    document: dict


class ApprovalChainVersions(Reply):
    versions: list[ApprovalChainVersion]


for _model in (PurchaseOrder, ReceivedPurchase, PurchaseReturn):  # they name the approval models defined after them
    _model.model_rebuild()
