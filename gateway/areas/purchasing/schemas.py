"""Purchasing's request and response models."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from gateway.common.schemas import BIN, CODE, COST, LOT, OPT_DAY, OPT_MOMENT, Money, Number, Reply, Serial, Strict, Tracked


class SupplierIn(Strict):
    code: StrictStr = Field(..., pattern=CODE)
    name: StrictStr = Field(..., min_length=1, max_length=200)


class PurchaseLineIn(Strict):
    sku: StrictStr = Field(..., pattern=CODE)
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)
    unit_cost: StrictStr = Field(..., pattern=COST, description="excluding VAT, e.g. \"10.00\"")
    vat_rate: StrictStr = Field("0.13", pattern=r"^0(\.\d{1,4})?$")
    expected_on: StrictStr = Field("", pattern=OPT_DAY, description="YYYY-MM-DD the supplier is to deliver it")


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
    invoice_pending: bool = Field(False, description="the supplier's invoice did not come with the goods (先货后票): "
                                                     "a provisional payable at the order's price until it is matched")


AMOUNT = r"^\d{1,13}(\.\d{1,2})?$"


class InvoiceLineIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000, description="the purchase order line")
    quantity: StrictInt = Field(..., gt=0, le=10_000_000)
    unit_price: StrictStr = Field(..., pattern=COST, description="excluding VAT, e.g. \"10.40\"")
    vat_rate: StrictStr = Field("", pattern=r"^(0(\.\d{1,4})?)?$", description="default: the order line's")


class SupplierInvoiceIn(Strict):
    supplier: StrictStr = Field(..., pattern=CODE, description="must be the purchase order's supplier")
    reference: StrictStr = Field("", max_length=128, description="the invoice number")
    lines: list[InvoiceLineIn] = Field(..., min_length=1, max_length=500)


class LineWeightIn(Strict):
    line_no: StrictInt = Field(..., ge=1, le=100_000)
    weight: StrictStr = Field(..., pattern=r"^\d{1,9}(\.\d{1,3})?$")


class LandedCostIn(Strict):
    supplier: StrictStr = Field(..., pattern=CODE, description="who bills it: carrier, customs broker, insurer")
    reference: StrictStr = Field("", max_length=128)
    charge: StrictStr = Field(..., pattern=r"^(freight|duty|insurance|other)$")
    basis: StrictStr = Field("value", pattern=r"^(value|quantity|weight)$")
    amount: StrictStr = Field(..., pattern=AMOUNT, description="net of VAT, > 0, to the cent")
    vat_rate: StrictStr = Field("", pattern=r"^(0(\.\d{1,4})?)?$", description="input VAT on the bill; empty: none")
    weights: list[LineWeightIn] = Field(default_factory=list, max_length=500,
                                        description="basis weight: each receipt line's weight")


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
    vat_rate: Number
    amount: Money = Field(description="quantity x unit_cost, excluding VAT")
    expected_on: str | None = Field(None, description="YYYY-MM-DD the supplier is to deliver it")


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
    invoice_pending: bool = Field(False, description="received without the supplier's invoice")


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
    exchange_rate: Number | None = Field(description="to the books' currency, for a purchase order in another")
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
    quantity: int = Field(description="suggested: target - (available + on order + in transit), rounded up to "
                                      "the minimum order quantity and the order multiple")
    signalled_at: str
    created_at: str
    updated_at: str
    closed_by: str | None
    closed_at: str | None
    purchase_order_id: str | None = Field(description="the purchase order that took it up")
    basis: str | None = Field(None, description="minimum_maximum | velocity | rule:<id>: the target chosen")
    terms: dict[str, Any] | None = Field(None, description="why this quantity: position (available, on order, in "
                                         "transit), velocity, days of cover, the terms, candidates, rounding, "
                                         "the forecast and the demand rules' trace; covered: purchase orders that "
                                         "took part of it")
    supplier: str | None = Field(None, description="preferred supplier (the terms', else the last purchase order's)")
    last_price: str | None = Field(None, description="last unit cost from that supplier, excluding VAT")


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


class PurchaseBillLine(Reply):
    receipt_id: str
    line_no: int
    sku: str
    quantity: int
    unit_price: str | None
    provisional: Money
    amount: Money
    change: Money = Field(description="the cost change of these units: amount - provisional")


class PurchaseBill(Reply):
    id: str
    kind: str = Field(description="supplier_invoice | landed_cost")
    purchase_order_id: str
    receipt_id: str | None
    supplier: str
    reference: str
    charge: str
    basis: str
    provisional: Money = Field(description="the provisional payable an invoice reverses")
    total_net: Money
    total_tax: Money
    total: Money
    billed_at: str
    billed_by: str
    lines: list[PurchaseBillLine]


class ProvisionalLine(Reply):
    supplier: str
    purchase_order_id: str
    warehouse: str
    currency: str
    receipt_id: str
    received_at: str
    line_no: int
    sku: str
    quantity: int
    unit_cost: str
    amount: Money


class Provisional(Reply):
    lines: list[ProvisionalLine]
    total: Money


class ReplenishmentTermsIn(Strict):
    lead_time_days: StrictInt = Field(7, ge=0, le=365, description="the supplier's lead time")
    review_period_days: StrictInt = Field(7, ge=0, le=365, description="days until the next review")
    safety_stock: StrictInt = Field(0, ge=0, le=1_000_000_000)
    min_order_quantity: StrictInt = Field(1, ge=1, le=1_000_000_000)
    order_multiple: StrictInt = Field(1, ge=1, le=1_000_000_000)
    window_days: StrictInt = Field(30, ge=1, le=366, description="sales velocity window (days out of stock left out)")
    promotion_factor: StrictFloat | StrictInt = Field(1, ge=0, le=100, description="forecast multiplier (1.5: +50%)")
    supplier: StrictStr | None = Field(None, pattern=CODE, description="preferred supplier")


class ReplenishmentPlan(Reply):
    plan: dict[str, Any] | None = Field(description="the SKU's evaluation (null: no stock known to procurement yet)")
    suggestion: Suggestion | None


class DemandRulesIn(Strict):
    document: dict[str, Any] | StrictStr = Field(
        description="the demand rule set: a JSON object, or its JSON or YAML text (name, parameters: window_days, "
                    "horizon_days, method; rules: id, when, actions: suggest with a quantity expression, or note)")


class DemandRules(Reply):
    version: int = Field(description="0: the shipped default")
    document: dict[str, Any]


class OrderSuggestionsIn(Strict):
    warehouse: StrictStr = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,31}$")
    supplier: StrictStr = Field(..., pattern=CODE)
    skus: list[Annotated[StrictStr, Field(pattern=CODE)]] = Field(default_factory=list, max_length=500,
                                                                 description="empty: every open suggestion "
                                                                             "naming the supplier or none")


class InspectionResultIn(Strict):
    passed: StrictInt = Field(..., ge=0, le=10_000_000)
    failed: StrictInt = Field(0, ge=0, le=10_000_000)
    disposition: StrictStr = Field("", pattern=r"^(return|scrap)?$",
                                   description="where failed units go: return (to the supplier) or scrap")
    note: StrictStr = Field("", max_length=500)


class Inspection(Reply):
    id: str
    receipt_id: str
    purchase_order_id: str
    line_no: int
    supplier: str
    warehouse: str
    sku: str
    lot: str
    quantity: int = Field(description="units received and quarantined for inspection")
    status: str = Field(description="open | passed | failed | partial")
    passed: int
    failed: int
    disposition: str | None = Field(description="return | scrap, for failed units")
    note: str
    created_at: str
    inspected_by: str | None
    inspected_at: str | None


class Inspections(Reply):
    inspections: list[Inspection]


class ScorecardRow(Reply):
    supplier: str
    name: str
    on_time_rate: Number | None = Field(description="percent of units received by their expected date")
    fill_rate: Number | None = Field(description="percent of the units due in the period that were received")
    quality_pass_rate: Number | None = Field(description="percent of the units inspected that passed")
    price_variance: Number | None = Field(description="percent above (+) or below (-) the last price paid")
    lead_time_days: Number | None
    score: Number | None
    grade: str | None
    received_units: int
    inspected_units: int


class Scorecard(Reply):
    period_from: str
    period_to: str
    rows: list[ScorecardRow]
    config: dict


class OnTimeRow(Reply):
    supplier: str
    name: str
    period: str = Field(description="2024-03 (month), 2024-W10 (ISO week) or from~to (the whole period)")
    on_time_rate: str | None = Field(description="percent of promised_units received on or before their line's "
                                                 "expected date (on_time_units / promised_units); null: none")
    lines: int = Field(description="receipt lines with an expected date")
    promised_units: int
    on_time_units: int
    late_units: int
    late_lines: int
    days_late_max: int = Field(description="the latest line's days after its expected date")
    unpromised_units: int = Field(description="received on lines without an expected date: not in the rate")


class OnTimeReport(Reply):
    period_from: str
    period_to: str
    group: str
    rows: list[OnTimeRow] = Field(description="per supplier and part of the period")
    suppliers: list[OnTimeRow] = Field(description="per supplier over the whole period")


class ScorecardBand(Strict):
    grade: StrictStr = Field(..., min_length=1, max_length=16)
    min: StrictStr = Field(..., pattern=r"^\d{1,3}(\.\d{1,2})?$")
    max: StrictStr = Field(..., pattern=r"^\d{1,3}(\.\d{1,2})?$")


class ScorecardWeights(Strict):
    on_time: StrictStr = Field(..., pattern=r"^[01](\.\d{1,4})?$")
    fill: StrictStr = Field(..., pattern=r"^[01](\.\d{1,4})?$")
    quality: StrictStr = Field(..., pattern=r"^[01](\.\d{1,4})?$")


class ScorecardConfigIn(Strict):
    weights: ScorecardWeights
    bands: list[ScorecardBand] = Field(..., min_length=1, max_length=26,
                                       description="min included, max excluded (100 included); covering 0-100 "
                                                   "without gap or overlap")


class ScorecardConfig(Reply):
    weights: dict
    bands: list[dict]
    updated_by: str | None
    updated_at: str | None


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
    vat_rate: Number
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
