"""Suppliers and purchase orders; receiving one adds stock at its cost and posts the purchase.
Purchase suggestions (from low stock and demand: velocity, terms, demand rules) and lot alerts
(expiring, held) tell buyers what to act on.
Requisitions and purchase orders go through the approval chain in force before they are ordered or
received."""
from __future__ import annotations

import json
from decimal import Decimal

import grpc
from fastapi import APIRouter, Query, Request, Response

from gateway.areas.purchasing.presenters import (
    bill_json,
    inspection_json,
    on_time_json,
    purchase_order_json,
    receipt_json,
    requisition_json,
    scorecard_config_json,
    scorecard_json,
    step_json,
    stock_alert_json,
    suggestion_json,
)
from gateway.areas.purchasing.schemas import (
    ApprovalChainIn,
    ApprovalChainVersion,
    ApprovalChainVersions,
    DecisionIn,
    Delegation,
    DelegationIn,
    DemandRules,
    DemandRulesIn,
    Inspection,
    InspectionResultIn,
    Inspections,
    LandedCostIn,
    OnTimeReport,
    OrderedRequisitions,
    OrderRequisitionsIn,
    OrderSuggestionsIn,
    Provisional,
    PurchaseBill,
    PurchaseOrder,
    PurchaseOrderIn,
    PurchaseReturn,
    PurchaseReturnIn,
    ReceivedPurchase,
    ReceiveLineIn,
    ReceivePurchaseIn,
    ReplenishmentPlan,
    ReplenishmentTermsIn,
    Requisition,
    RequisitionFromSuggestionsIn,
    RequisitionIn,
    Scorecard,
    ScorecardConfig,
    ScorecardConfigIn,
    StockAlerts,
    Suggestion,
    Suggestions,
    Supplier,
    SupplierIn,
    SupplierInvoiceIn,
    WaitingApprovals,
)
from gateway.common.access import (
    ANYONE,
    APPROVERS,
    PURCHASING,
    RECEIVING,
    REQUESTERS,
    RULES,
    allowed,
    clients,
    exchange_rate_for,
    first_reply,
    require_known_skus,
)
from gateway.common.schemas import OPT_DAY
from gateway.errors import Problem
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.procurement.v1 import procurement_service_pb2 as pro
from hubkit import xlsx

router = APIRouter(tags=["purchasing"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("/suppliers", status_code=201, response_model=Supplier,
             responses={200: {"model": Supplier, "description": "the supplier existed and is updated"}})
def upsert_supplier(body: SupplierIn, request: Request, response: Response, md=allowed(PURCHASING)):
    reply = clients(request).procurement.UpsertSupplier(
        pro.UpsertSupplierRequest(supplier=pro.Supplier(**body.model_dump())), metadata=md)
    if not reply.created:
        response.status_code = 200
    return {"code": reply.supplier.code, "name": reply.supplier.name}


@router.post("/purchase-orders", status_code=201, response_model=PurchaseOrder)
def create_purchase_order(body: PurchaseOrderIn, request: Request, md=allowed(PURCHASING)):
    require_known_skus(request, [line.sku for line in body.lines], md)
    _require_warehouse(request, body.warehouse, body.lines[0].sku, md)
    rate = exchange_rate_for(request, body.currency, md)
    reply = clients(request).procurement.CreatePurchaseOrder(pro.CreatePurchaseOrderRequest(
        supplier=body.supplier, warehouse=body.warehouse, currency=body.currency, exchange_rate=rate,
        lines=[pro.PurchaseOrderLineInput(**l.model_dump()) for l in body.lines]), metadata=md)
    return purchase_order_json(reply.purchase_order)


def _require_warehouse(request: Request, warehouse: str, sku: str, md) -> None:
    try:
        clients(request).inventory.GetStock(inv.GetStockRequest(sku=sku, warehouse=warehouse), metadata=md)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            raise Problem(422, "invalid-argument", f"unknown warehouse {warehouse!r}",
                          [{"field": "warehouse", "message": "unknown warehouse"}])
        raise


@router.get("/purchase-orders/{purchase_order_id}", response_model=PurchaseOrder)
def get_purchase_order(purchase_order_id: str, request: Request, md=allowed(ANYONE)):
    reply = clients(request).procurement.GetPurchaseOrder(pro.GetPurchaseOrderRequest(id=purchase_order_id),
                                                          metadata=md)
    return purchase_order_json(reply.purchase_order)


def _purchase_order(request: Request, md, purchase_order_id: str):
    return clients(request).procurement.GetPurchaseOrder(pro.GetPurchaseOrderRequest(id=purchase_order_id),
                                                         metadata=md).purchase_order


def _check_tracking(request: Request, md, po, body: ReceivePurchaseIn) -> None:
    """Lots and serials must fit how each SKU is tracked before the receipt is written: inventory
    applies it later, from an event, where a refusal could only be dead-lettered."""
    sku_of = {l.line_no: l.sku for l in po.lines}
    tracked = {k.code: k for k in clients(request).inventory.GetSkus(
        inv.GetSkusRequest(codes=sorted(set(sku_of.values()))), metadata=md).skus}
    errors = []
    if not body.lines:
        errors += [{"field": "lines", "message": f"{sku} is serial-tracked: list its line with the serials received"}
                   for l in po.lines if (sku := l.sku) in tracked and tracked[sku].serial_tracked
                   and l.received < l.quantity]
    for i, line in enumerate(body.lines):
        item = tracked.get(sku_of.get(line.line_no, ""))
        if item is None:
            continue  # an unknown line: procurement names it
        if item.serial_tracked and not line.serials:
            errors.append({"field": f"lines[{i}].serials", "message": f"{item.code} is serial-tracked: one per unit"})
        if not item.serial_tracked and line.serials:
            errors.append({"field": f"lines[{i}].serials", "message": f"{item.code} is not serial-tracked"})
        if not item.lot_tracked and line.lot:
            errors.append({"field": f"lines[{i}].lot", "message": f"{item.code} is not lot-tracked"})
    if errors:
        raise Problem(422, "invalid-argument", "the receipt does not fit how its SKUs are tracked", errors)


def _inventory_accepts(request: Request, md, po, kind: str, lines: list, room) -> None:
    """Inventory applies a receipt or a return later, from an event: ask it now whether it would
    (its own rules, run and undone), so that a refusal is this request's 4xx, not a dead letter. Lines
    procurement will refuse (an unknown line, more than `room(line)` allows) are left to it to name;
    inventory names the rest as the request lists them (lines[i].bin)."""
    by_no = {l.line_no: l for l in po.lines}
    if len({l.line_no for l in lines}) != len(lines) or not all(
            l.line_no in by_no and 0 < l.quantity <= room(by_no[l.line_no]) for l in lines):
        return
    clients(request).inventory.CheckPurchase(inv.CheckPurchaseRequest(
        kind=kind, purchase_order_id=po.id, warehouse=po.warehouse,
        lines=[inv.PurchaseCheckLine(line_no=l.line_no, sku=by_no[l.line_no].sku, quantity=l.quantity,
                                     unit_cost=by_no[l.line_no].unit_cost, bin=getattr(l, "bin", ""),
                                     lot=getattr(l, "lot", ""), expires_on=getattr(l, "expires_on", ""),
                                     serials=getattr(l, "serials", [])) for l in lines]), metadata=md)


@router.post("/purchase-orders/{purchase_order_id}/receipts", status_code=201,
             response_model=ReceivedPurchase)
def receive_purchase_order(purchase_order_id: str, body: ReceivePurchaseIn, request: Request,
                           md=allowed(RECEIVING)):
    """Receive all that is still open, or the given quantities per line, each with the bin, lot,
    expiry and serials it arrives with. What inventory would refuse (an unknown bin, a serial already
    in stock) is refused here, before anything is written."""
    receive = clients(request).procurement.ReceivePurchaseOrder
    command = pro.ReceivePurchaseOrderRequest(purchase_order_id=purchase_order_id, reference=body.reference,
                                              lines=[pro.ReceiveLineInput(**l.model_dump()) for l in body.lines],
                                              invoice_pending=body.invoice_pending)
    reply = first_reply(receive, command, md)
    if reply is None:
        po = _purchase_order(request, md, purchase_order_id)
        _check_tracking(request, md, po, body)
        lines = body.lines or [ReceiveLineIn(line_no=l.line_no, quantity=l.quantity - l.received)
                               for l in po.lines if l.received < l.quantity]
        _inventory_accepts(request, md, po, "receipt", lines, lambda l: l.quantity - l.received)
        reply = receive(command, metadata=md)
    return {"receipt": receipt_json(reply.receipt), "purchase_order": purchase_order_json(reply.purchase_order)}


@router.post("/purchase-orders/{purchase_order_id}/returns", status_code=201, response_model=PurchaseReturn)
def return_purchase_order(purchase_order_id: str, body: PurchaseReturnIn, request: Request,
                          md=allowed(RECEIVING)):
    """Send received goods back to the supplier: out of stock at their cost, the purchase reversed.
    Goods that are not free to leave (reserved for orders, held) are refused here (409)."""
    send_back = clients(request).procurement.ReturnPurchaseOrder
    command = pro.ReturnPurchaseOrderRequest(purchase_order_id=purchase_order_id, reason=body.reason,
                                             reference=body.reference,
                                             lines=[pro.ReceiveLineInput(**l.model_dump()) for l in body.lines])
    reply = first_reply(send_back, command, md)
    if reply is None:
        _inventory_accepts(request, md, _purchase_order(request, md, purchase_order_id), "return", body.lines,
                           lambda l: l.received - l.returned)
        reply = send_back(command, metadata=md)
    return {"return_id": reply.return_id, "purchase_order": purchase_order_json(reply.purchase_order)}


@router.post("/purchase-orders/{purchase_order_id}/invoices", status_code=201, response_model=PurchaseBill)
def invoice_purchase_order(purchase_order_id: str, body: SupplierInvoiceIn, request: Request,
                           md=allowed(PURCHASING)):
    """A supplier invoice for goods received before it (先货后票), matched to the purchase order and its
    receipts awaiting it (oldest first) within the price tolerance: the provisional payable is reversed,
    the invoice's net and VAT become the payable, a price difference goes to the goods still held and to
    cost of goods for those already sold. Nothing matches, or outside the tolerance: 422, nothing changed."""
    reply = clients(request).procurement.InvoicePurchaseOrder(pro.InvoicePurchaseOrderRequest(
        purchase_order_id=purchase_order_id, supplier=body.supplier, reference=body.reference,
        lines=[pro.InvoiceLineInput(**l.model_dump()) for l in body.lines]), metadata=md)
    return bill_json(reply.bill)


@router.post("/receipts/{receipt_id}/landed-costs", status_code=201, response_model=PurchaseBill)
def add_landed_cost(receipt_id: str, body: LandedCostIn, request: Request, md=allowed(PURCHASING)):
    """Freight, duty or insurance on a separate bill, shared over the receipt's lines by value, quantity or
    weight (to the cent, largest remainder) into their cost: the units still held absorb their share, the
    rest goes to cost of goods. An unknown receipt: 404, nothing changed."""
    reply = clients(request).procurement.AddLandedCost(pro.AddLandedCostRequest(
        receipt_id=receipt_id, supplier=body.supplier, reference=body.reference, charge=body.charge,
        basis=body.basis, amount=body.amount, vat_rate=body.vat_rate,
        weights=[pro.LineWeight(line_no=w.line_no, weight=w.weight) for w in body.weights]), metadata=md)
    return bill_json(reply.bill)


@router.get("/purchasing/provisional", response_model=Provisional)
def list_provisional(request: Request, md=allowed(ANYONE)):
    """The month-end list of what is still provisional (暂估应付): goods received without their invoice and
    not yet invoiced, oldest first, with what they are booked at."""
    reply = clients(request).procurement.ListProvisional(pro.ListProvisionalRequest(), metadata=md)
    lines = [{"supplier": l.supplier, "purchase_order_id": l.purchase_order_id, "warehouse": l.warehouse,
              "currency": l.currency, "receipt_id": l.receipt_id, "received_at": l.received_at, "line_no": l.line_no,
              "sku": l.sku, "quantity": l.quantity, "unit_cost": l.unit_cost, "amount": l.amount}
             for l in reply.lines]
    return {"lines": lines, "total": str(sum((Decimal(l["amount"]) for l in lines), Decimal("0.00")))}


@router.get("/purchasing/suggestions", response_model=Suggestions)
def list_suggestions(request: Request, status: str = Query("", pattern=r"^(open|ordered|dismissed)?$"),
                     warehouse: str = "", limit: int = Query(100, ge=1, le=1000), md=allowed(ANYONE)):
    """What to buy: one open suggestion per SKU and warehouse, newest signal first, each with its terms
    (why this quantity): the target (up to the maximum at or below the minimum, velocity over lead time
    and review period plus safety stock, or a demand rule's quantity; the highest) less available, on
    order and in transit, rounded up to the minimum order quantity and the multiple."""
    reply = clients(request).procurement.ListSuggestions(
        pro.ListSuggestionsRequest(status=status, warehouse=warehouse, limit=limit), metadata=md)
    return {"suggestions": [suggestion_json(g) for g in reply.suggestions]}


@router.post("/purchasing/suggestions/{sku}/{warehouse}/dismiss", response_model=Suggestion)
def dismiss_suggestion(sku: str, warehouse: str, request: Request, md=allowed(PURCHASING)):
    """Close the open suggestion without ordering; a later low-stock signal opens a new one."""
    reply = clients(request).procurement.DismissSuggestion(
        pro.DismissSuggestionRequest(sku=sku, warehouse=warehouse), metadata=md)
    return suggestion_json(reply.suggestion)


@router.get("/purchasing/stock-alerts", response_model=StockAlerts)
def list_stock_alerts(request: Request, kind: str = Query("", pattern=r"^(lot_expiring|lot_hold_changed)?$"),
                      sku: str = "", limit: int = Query(100, ge=1, le=1000), md=allowed(ANYONE)):
    """Lots about to expire and lots put on or taken off hold, newest first."""
    reply = clients(request).procurement.ListStockAlerts(
        pro.ListStockAlertsRequest(kind=kind, sku=sku, limit=limit), metadata=md)
    return {"alerts": [stock_alert_json(a) for a in reply.alerts]}


@router.put("/purchasing/replenishment/{sku}/{warehouse}", response_model=ReplenishmentPlan)
def set_replenishment_terms(sku: str, warehouse: str, body: ReplenishmentTermsIn, request: Request,
                            md=allowed(PURCHASING)):
    """A SKU's replenishment terms in a warehouse, then the SKU evaluated at once: its plan (why this
    quantity, or why none) and the open suggestion, if any."""
    require_known_skus(request, [sku], md, field="sku")
    _require_warehouse(request, warehouse, sku, md)
    reply = clients(request).procurement.SetReplenishmentTerms(pro.SetReplenishmentTermsRequest(
        sku=sku, warehouse=warehouse, lead_time_days=body.lead_time_days, review_period_days=body.review_period_days,
        safety_stock=body.safety_stock, min_order_quantity=body.min_order_quantity, order_multiple=body.order_multiple,
        window_days=body.window_days, promotion_factor=str(body.promotion_factor), supplier=body.supplier or ""),
        metadata=md)
    return {"plan": json.loads(reply.plan_json) if reply.plan_json else None,
            "suggestion": suggestion_json(reply.suggestion) if reply.suggested else None}


def _rules_json(reply) -> dict:
    return {"version": reply.version, "document": json.loads(reply.document)}


@router.get("/purchasing/demand-rules", response_model=DemandRules)
def get_demand_rules(request: Request, md=allowed(ANYONE)):
    """The demand rule set in force (version 0: the shipped default)."""
    return _rules_json(clients(request).procurement.GetDemandRules(pro.GetDemandRulesRequest(), metadata=md))


@router.put("/purchasing/demand-rules", response_model=DemandRules)
def put_demand_rules(body: DemandRulesIn, request: Request, md=allowed(RULES)):
    """Put a demand rule set in force as the next version: conditions over the demand facts
    (average_daily_sales, days_of_cover, forecast, available, on_order, ...) and a `suggest` action
    whose quantity is an expression over them. Refused whole (422, the rule, field and position at
    fault) when a fact is unknown, a type does not fit or an expression does not parse."""
    document = body.document if isinstance(body.document, str) else json.dumps(body.document, ensure_ascii=False)
    return _rules_json(clients(request).procurement.PutDemandRules(pro.PutDemandRulesRequest(document=document),
                                                                   metadata=md))


@router.post("/purchasing/suggestions/purchase-order", status_code=201, response_model=PurchaseOrder)
def order_suggestions(body: OrderSuggestionsIn, request: Request, md=allowed(PURCHASING)):
    """One purchase order from the warehouse's open suggestions (of `skus`, or all) that name the
    supplier or none, at the last price from that supplier, in the books' currency. It takes the
    suggestions up as any purchase order does (the rest of one it covers in part stays suggested)."""
    command = pro.OrderSuggestionsRequest(warehouse=body.warehouse, supplier=body.supplier, skus=body.skus)
    return purchase_order_json(clients(request).procurement.OrderSuggestions(command, metadata=md).purchase_order)


# -- incoming inspection (inventory keeps the tasks; the lot waits in quarantine) --------------------
@router.get("/purchasing/inspections", response_model=Inspections)
def list_inspections(request: Request, status: str = Query("", pattern=r"^(open|passed|failed|partial)?$"),
                     supplier: str = "", sku: str = "", limit: int = Query(100, ge=1, le=1000), md=allowed(ANYONE)):
    """The inspection queue: a task per received line that must be inspected (by default every
    lot-tracked one), oldest first; its goods are on hand but held until the result."""
    reply = clients(request).inventory.ListInspections(
        inv.ListInspectionsRequest(status=status, supplier=supplier, sku=sku, limit=limit), metadata=md)
    return {"inspections": [inspection_json(t) for t in reply.inspections]}


@router.get("/purchasing/inspections/{inspection_id}", response_model=Inspection)
def get_inspection(inspection_id: str, request: Request, md=allowed(ANYONE)):
    return inspection_json(clients(request).inventory.GetInspection(inv.GetInspectionRequest(id=inspection_id),
                                                                    metadata=md))


@router.post("/purchasing/inspections/{inspection_id}/result", response_model=Inspection)
def record_inspection(inspection_id: str, body: InspectionResultIn, request: Request, md=allowed(RECEIVING)):
    """The result, once, recorded with who and when: passed units are released to available stock;
    failed ones are scrapped (written off, the voucher posted) or go back to the supplier (a purchase
    return is raised). passed + failed must be exactly the units received (422 otherwise)."""
    reply = clients(request).inventory.RecordInspection(inv.RecordInspectionRequest(
        id=inspection_id, **body.model_dump()), metadata=md)
    return inspection_json(reply)


# -- the supplier scorecard ----------------------------------------------------------------------
_FROM = Query(..., alias="from", pattern=OPT_DAY, description="YYYY-MM-DD, included")
_TO = Query(..., pattern=OPT_DAY, description="YYYY-MM-DD, included")
_GRADE = Query("", max_length=16)


def _scorecard_request(start: str, end: str, supplier: str, grade: str) -> pro.GetScorecardRequest:
    return pro.GetScorecardRequest(**{"from": start}, to=end, supplier=supplier, grade=grade)


@router.get("/purchasing/scorecard", response_model=Scorecard)
def get_scorecard(request: Request, start: str = _FROM, to: str = _TO, supplier: str = "", grade: str = _GRADE,
                  md=allowed(PURCHASING)):
    """Per supplier over the period: on-time rate (against each line's expected date), fill rate,
    quality pass rate (incoming inspections), price variance (against the last price paid), average
    lead time, a weighted score and its grade from the configured bands. A period upside down is 422."""
    reply = clients(request).procurement.GetScorecard(_scorecard_request(start, to, supplier, grade), metadata=md)
    return scorecard_json(reply)


@router.get("/purchasing/scorecard.xlsx", response_class=Response,
            responses={200: {"description": "an Excel workbook, as an attachment",
                             "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def export_scorecard(request: Request, start: str = _FROM, to: str = _TO, supplier: str = "", grade: str = _GRADE,
                     md=allowed(PURCHASING)):
    """The scorecard report as an Excel workbook (the bands graded with on a second sheet)."""
    reply = clients(request).procurement.ExportScorecard(_scorecard_request(start, to, supplier, grade), metadata=md)
    return Response(reply.xlsx, media_type=XLSX,
                    headers={"content-disposition": f'attachment; filename="{reply.filename}"'})


_GROUP = Query("month", description="month | week (ISO) | period (the whole period)")


def _on_time(request: Request, md, start: str, end: str, supplier: str, group: str) -> dict:
    reply = clients(request).procurement.GetOnTimeReport(
        pro.GetOnTimeReportRequest(**{"from": start}, to=end, supplier=supplier, group=group), metadata=md)
    return on_time_json(reply)


@router.get("/purchasing/on-time", response_model=OnTimeReport)
def get_on_time(request: Request, start: str = _FROM, to: str = _TO, supplier: str = "", group: str = _GROUP,
                md=allowed(PURCHASING)):
    """The supplier on-time KPI per supplier and month / week / the whole period: of the units received
    on lines with an expected date, the share received on or before it (the scorecard's rate, with
    its inputs). A period upside down or over 3660 days is 422."""
    return _on_time(request, md, start, to, supplier, group)


@router.get("/purchasing/on-time.xlsx", response_class=Response,
            responses={200: {"description": "an Excel workbook, as an attachment",
                             "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def export_on_time(request: Request, start: str = _FROM, to: str = _TO, supplier: str = "", group: str = _GROUP,
                   md=allowed(PURCHASING)):
    """The on-time KPI as an Excel workbook: per supplier and part of the period, then per supplier."""
    report = _on_time(request, md, start, to, supplier, group)
    columns = [("供应商 Supplier", 14), ("名称 Name", 24), ("期间 Period", 14), ("准时率 On time %", 12),
               ("行数 Lines", 8), ("承诺数 Promised units", 12), ("准时数 On-time units", 12),
               ("迟到数 Late units", 12), ("迟到行 Late lines", 10), ("最迟(天) Days late max", 12),
               ("无交期数 Unpromised units", 12)]

    def table(rows: list[dict]) -> list[list]:
        return [[r["supplier"], r["name"], r["period"], Decimal(r["on_time_rate"]) if r["on_time_rate"] else None,
                 r["lines"], r["promised_units"], r["on_time_units"], r["late_units"], r["late_lines"],
                 r["days_late_max"], r["unpromised_units"]] for r in rows]

    body = xlsx.table(f"{report['period_from']}~{report['period_to']}", columns, table(report["rows"]), {3: "0.00"},
                      extra=(("供应商合计 Suppliers", columns, table(report["suppliers"])),))
    name = f"on-time-{report['period_from']}-{report['period_to']}.xlsx"
    return Response(body, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get("/purchasing/scorecard/config", response_model=ScorecardConfig)
def get_scorecard_config(request: Request, md=allowed(PURCHASING)):
    """The weights and grade bands in force (the default until set), and who set them when."""
    return scorecard_config_json(clients(request).procurement.GetScorecardConfig(pro.GetScorecardConfigRequest(),
                                                                                  metadata=md))


@router.put("/purchasing/scorecard/config", response_model=ScorecardConfig)
def set_scorecard_config(body: ScorecardConfigIn, request: Request, md=allowed(PURCHASING)):
    """Replace the weights (adding up to 1) and the grade bands (covering 0 to 100 with no gap and
    no overlap; 422 naming the band otherwise, nothing changed)."""
    reply = clients(request).procurement.SetScorecardConfig(
        pro.ScorecardConfig(document=json.dumps(body.model_dump())), metadata=md)
    return scorecard_config_json(reply)


# -- requisitions and approvals ---------------------------------------------------------------------
def _facts(body) -> pro.RequisitionFacts:
    return pro.RequisitionFacts(category=body.category, material_type=body.material_type, project=body.project,
                                cost_centre=body.cost_centre, department=body.department, note=body.note)


@router.post("/requisitions", status_code=201, response_model=Requisition)
def create_requisition(body: RequisitionIn, request: Request, md=allowed(REQUESTERS)):
    """A person's request to buy, in the books' currency: its approval chain (by amount, category,
    project, cost centre) is resolved at once and its first step waits for its approver."""
    require_known_skus(request, [line.sku for line in body.lines], md)
    _require_warehouse(request, body.warehouse, body.lines[0].sku, md)
    reply = clients(request).procurement.CreateRequisition(pro.CreateRequisitionRequest(
        warehouse=body.warehouse, currency=request.app.state.base_currency, facts=_facts(body),
        lines=[pro.RequisitionLineInput(**l.model_dump()) for l in body.lines]), metadata=md)
    return requisition_json(reply.requisition)


@router.post("/requisitions/from-suggestions", status_code=201, response_model=Requisition)
def requisition_from_suggestions(body: RequisitionFromSuggestionsIn, request: Request, md=allowed(PURCHASING)):
    """A requisition of open purchase suggestions (low stock) of one warehouse, each with its supplier
    and unit cost; the quantity is the suggestion's unless given."""
    reply = clients(request).procurement.RequisitionFromSuggestions(pro.RequisitionFromSuggestionsRequest(
        currency=request.app.state.base_currency, facts=_facts(body),
        suggestions=[pro.SuggestionPick(**p.model_dump()) for p in body.suggestions]), metadata=md)
    return requisition_json(reply.requisition)


@router.post("/requisitions/purchase-orders", status_code=201, response_model=OrderedRequisitions)
def order_requisitions(body: OrderRequisitionsIn, request: Request, md=allowed(PURCHASING)):
    """Approved requisitions become purchase orders, one per supplier and warehouse, approved by them
    (refused whole, 409, when one of them is not approved)."""
    reply = clients(request).procurement.OrderRequisitions(
        pro.OrderRequisitionsRequest(requisition_ids=body.requisition_ids), metadata=md)
    return {"purchase_orders": [purchase_order_json(po) for po in reply.purchase_orders]}


@router.get("/requisitions/{requisition_id}", response_model=Requisition)
def get_requisition(requisition_id: str, request: Request, md=allowed(ANYONE)):
    """A requisition with its approval steps and every approval action (who, when, comment)."""
    reply = clients(request).procurement.GetRequisition(pro.GetRequisitionRequest(id=requisition_id), metadata=md)
    return requisition_json(reply.requisition)


def _decide(request: Request, md, kind: str, document_id: str, approve: bool, comment: str):
    return clients(request).procurement.DecideApproval(pro.DecideApprovalRequest(
        document_kind=kind, document_id=document_id, approve=approve, comment=comment,
        role=request.state.user.role), metadata=md)


@router.post("/requisitions/{requisition_id}/approve", response_model=Requisition)
def approve_requisition(requisition_id: str, body: DecisionIn, request: Request, md=allowed(APPROVERS)):
    """Approve the step waiting now, as its role, its named user or their delegate; never the
    requester's own (403), never a later step before it (409)."""
    return requisition_json(_decide(request, md, "requisition", requisition_id, True, body.comment).requisition)


@router.post("/requisitions/{requisition_id}/reject", response_model=Requisition)
def reject_requisition(requisition_id: str, body: DecisionIn, request: Request, md=allowed(APPROVERS)):
    """Reject with the reason (the comment): the requisition goes back to its requester, rejected."""
    return requisition_json(_decide(request, md, "requisition", requisition_id, False, body.comment).requisition)


@router.post("/purchase-orders/{purchase_order_id}/approve", response_model=PurchaseOrder)
def approve_purchase_order(purchase_order_id: str, body: DecisionIn, request: Request, md=allowed(APPROVERS)):
    """Approve the purchase order's step waiting now; it is received only once every step approved."""
    return purchase_order_json(_decide(request, md, "purchase_order", purchase_order_id, True,
                                       body.comment).purchase_order)


@router.post("/purchase-orders/{purchase_order_id}/reject", response_model=PurchaseOrder)
def reject_purchase_order(purchase_order_id: str, body: DecisionIn, request: Request, md=allowed(APPROVERS)):
    """Reject with the reason (the comment): the purchase order is never received."""
    return purchase_order_json(_decide(request, md, "purchase_order", purchase_order_id, False,
                                       body.comment).purchase_order)


@router.post("/purchasing/delegations", status_code=201, response_model=Delegation)
def delegate(body: DelegationIn, request: Request, md=allowed(ANYONE)):
    """The caller's approvals (steps of their role or naming them) may be decided by `delegate`
    from starts_at until ends_at; each such decision records on whose behalf."""
    reply = clients(request).procurement.Delegate(pro.DelegateRequest(
        delegate=body.delegate, starts_at=body.starts_at, ends_at=body.ends_at, note=body.note,
        role=request.state.user.role), metadata=md)
    return {"id": reply.id}


@router.get("/purchasing/approvals/waiting", response_model=WaitingApprovals)
def waiting_approvals(request: Request, limit: int = Query(100, ge=1, le=1000), md=allowed(ANYONE)):
    """Every approval step waiting now, the longest waiting first."""
    reply = clients(request).procurement.ListWaitingApprovals(pro.ListWaitingApprovalsRequest(limit=limit),
                                                              metadata=md)
    return {"steps": [step_json(st) for st in reply.steps]}


def _chain(v) -> dict:
    return {"version": v.version, "name": v.name, "note": v.note, "created_by": v.created_by,
            "created_at": v.created_at or None, "steps": v.steps, "in_force": v.in_force,
            "document": json.loads(v.document)}


@router.get("/purchasing/approval-chains", response_model=ApprovalChainVersions)
def approval_chains(request: Request, md=allowed(ANYONE)):
    """Every version of the approval chain, newest first, with the one in force (0: the shipped default)."""
    reply = clients(request).procurement.ListApprovalChains(pro.ListApprovalChainsRequest(), metadata=md)
    return {"versions": [_chain(v) for v in reply.versions]}


@router.post("/purchasing/approval-chains", status_code=201, response_model=ApprovalChainVersion)
def apply_approval_chain(body: ApprovalChainIn, request: Request, md=allowed(RULES)):
    """Validate and put in force as the next version (a 422 names each step, field and position at
    fault); documents raised before keep the steps they were given."""
    document = body.document if isinstance(body.document, str) else json.dumps(body.document, ensure_ascii=False)
    reply = clients(request).procurement.ApplyApprovalChain(pro.ApprovalChainDocument(document=document,
                                                                                      note=body.note), metadata=md)
    return _chain(reply)
