"""Suppliers and purchase orders; receiving one adds stock at its cost and posts the purchase.
Purchase suggestions (from low stock) and lot alerts (expiring, held) tell buyers what to act on.
Requisitions and purchase orders go through the approval chain in force before they are ordered or
received."""
from __future__ import annotations

import json

import grpc
from fastapi import APIRouter, Query, Request, Response

from gateway.areas.purchasing.presenters import (
    purchase_order_json,
    receipt_json,
    requisition_json,
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
    OrderedRequisitions,
    OrderRequisitionsIn,
    PurchaseOrder,
    PurchaseOrderIn,
    PurchaseReturn,
    PurchaseReturnIn,
    ReceivedPurchase,
    ReceiveLineIn,
    ReceivePurchaseIn,
    Requisition,
    RequisitionFromSuggestionsIn,
    RequisitionIn,
    StockAlerts,
    Suggestion,
    Suggestions,
    Supplier,
    SupplierIn,
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
from gateway.errors import Problem
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.procurement.v1 import procurement_service_pb2 as pro

router = APIRouter(tags=["purchasing"])


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
                                              lines=[pro.ReceiveLineInput(**l.model_dump()) for l in body.lines])
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


@router.get("/purchasing/suggestions", response_model=Suggestions)
def list_suggestions(request: Request, status: str = Query("", pattern=r"^(open|ordered|dismissed)?$"),
                     warehouse: str = "", limit: int = Query(100, ge=1, le=1000), md=allowed(ANYONE)):
    """What to buy: one open suggestion per SKU and warehouse, from inventory's low-stock signals
    (quantity = maximum - available), newest signal first."""
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
