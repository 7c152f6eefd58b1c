"""Printed documents as PDF: delivery note (送货单), packing slip, pick list (拣货单, along the walk),
purchase order, customer statement (对账单) and count sheet (盘点表), one at a time, and a wave's
documents in one PDF. Each route reads what it prints through the owning service's read operations
(an unknown id is that service's 404) and renders it with the templates (documents.py says what each
says; hubkit.pdf renders; HUB_PRINT_TEMPLATES_DIR replaces shipped templates by file name)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from gateway.areas.printing import documents
from gateway.common.access import (
    FINANCE,
    ORDER_DESK,
    PURCHASING,
    RECEIVING,
    SHIPPING,
    WAREHOUSE,
    allowed,
    clients,
)
from gateway.common.schemas import CODE, OPT_CODE, PERIOD
from gateway.errors import Problem
from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.customer.v1 import customer_service_pb2 as cus
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubapi.procurement.v1 import procurement_service_pb2 as pro
from hubkit import pdf

router = APIRouter(tags=["printed documents"])

PDF = "application/pdf"
PDF_ANSWER = {200: {"description": "a PDF document", "content": {PDF: {"schema": {"type": "string", "format": "binary"}}}}}
Id = Annotated[str, Path(pattern=CODE)]
ORDER_PAPERS = SHIPPING | ORDER_DESK  # the floor prints them at shipping, the desk for a customer
STOCK_PAPERS = WAREHOUSE
PURCHASE_PAPERS = PURCHASING | RECEIVING
STATEMENTS = FINANCE | frozenset({"sales"})  # finance keeps the receivable; sales send statements to customers
RECEIVABLE_ROLE = "receivable"  # accounting's posting role of the account customers owe on (1122)


def printer(settings) -> pdf.Renderer:
    """The renderer of the shipped templates, the merchant's directory first, with the merchant's
    details every document heads with (the gateway's settings)."""
    merchant = {"name": settings.merchant_name, "address": settings.merchant_address,
                "tax_id": settings.merchant_tax_id, "phone": settings.merchant_phone,
                "logo": pdf.data_uri(settings.merchant_logo)}
    return pdf.Renderer("gateway.areas.printing", "templates", settings.print_templates_dir, {"merchant": merchant})


def _answer(request: Request, name: str, docs: list[tuple[str, dict]]) -> Response:
    try:
        body = request.app.state.printer.pdf(docs)
    except pdf.TemplateMissing as exc:  # a merchant's base.html that includes a file it does not have
        raise Problem(500, "internal-error", str(exc))
    return Response(body, media_type=PDF, headers={"content-disposition": f'inline; filename="{name}.pdf"'})


def _skus(request: Request, codes, md) -> dict:
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    reply = clients(request).inventory.GetSkus(inv.GetSkusRequest(codes=codes), metadata=md)
    return {s.code: s for s in reply.skus}


def _order(request: Request, order_id: str, md):
    return clients(request).order.GetOrder(ordpb.GetOrderRequest(id=order_id), metadata=md).order


def _wave(request: Request, wave_id: str, md):
    return clients(request).inventory.GetWave(inv.GetWaveRequest(wave_id=wave_id), metadata=md)


@router.get("/print/delivery-notes/{order_id}.pdf", response_class=Response, responses=PDF_ANSWER)
def delivery_note(order_id: Id, request: Request, md=allowed(ORDER_PAPERS)):
    """送货单: the order's recipient, address and the lines that ship, priced, with boxes to sign."""
    order = _order(request, order_id, md)
    doc = documents.delivery_note(order, _skus(request, (l.sku for l in order.lines), md))
    return _answer(request, f"delivery-note-{order_id}", [(documents.TEMPLATES["delivery-note"], doc)])


@router.get("/print/packing-slips/{order_id}.pdf", response_class=Response, responses=PDF_ANSWER)
def packing_slip(order_id: Id, request: Request,
                 parcel: int = Query(0, ge=0, le=10_000, description="a parcel of an order shipped in parts (0: the order)"),
                 md=allowed(ORDER_PAPERS)):
    """装箱单: what goes in the box, without prices, each SKU with its barcode; of one parcel when named."""
    order = _order(request, order_id, md)
    try:
        doc = documents.packing_slip(order, _skus(request, (l.sku for l in order.lines), md), parcel)
    except KeyError:
        raise Problem(404, "not-found", f"order {order_id} has no parcel {parcel}",
                      [{"field": "parcel", "message": f"parcels: {[p.parcel_no for p in order.parcels]}"}])
    return _answer(request, f"packing-slip-{doc['number']}", [(documents.TEMPLATES["packing-slip"], doc)])


@router.get("/print/pick-lists/{wave_id}.pdf", response_class=Response, responses=PDF_ANSWER)
def pick_list(wave_id: Id, request: Request,
              order_id: str = Query("", pattern=OPT_CODE, description="one order of the wave"),
              md=allowed(WAREHOUSE)):
    """拣货单: the wave's pick list along the walk through the warehouse (bin, SKU, lot or serial, units,
    order), or one order's part of it."""
    wave = _wave(request, wave_id, md)
    if order_id and order_id not in {o.order_id for o in wave.orders}:
        raise Problem(404, "not-found", f"order {order_id} is not in wave {wave_id}",
                      [{"field": "order_id", "message": "not in this wave"}])
    doc = documents.pick_list(wave, _skus(request, (l.sku for l in wave.pick_list), md), order_id)
    return _answer(request, f"pick-list-{doc['number']}", [(documents.TEMPLATES["pick-list"], doc)])


def _wave_batch(request: Request, wave_id: str, document: str, md) -> Response:
    """A wave's documents in one PDF, one per order not cancelled, in the wave's order. Each document
    numbers its own pages."""
    wave = _wave(request, wave_id, md)
    order_ids = [o.order_id for o in wave.orders if o.status != "cancelled"]
    if not order_ids:
        raise Problem(409, "conflict", f"wave {wave_id} has no order to print")
    if document == "pick-list":
        skus = _skus(request, (l.sku for l in wave.pick_list), md)
        docs = [(documents.TEMPLATES[document], documents.pick_list(wave, skus, o)) for o in order_ids]
    else:
        orders = [_order(request, o, md) for o in order_ids]
        skus = _skus(request, (l.sku for o in orders for l in o.lines), md)
        make = documents.delivery_note if document == "delivery-note" else documents.packing_slip
        docs = [(documents.TEMPLATES[document], make(o, skus)) for o in orders]
    return _answer(request, f"{wave_id}-{document}s", docs)


@router.get("/print/waves/{wave_id}/pick-lists.pdf", response_class=Response, responses=PDF_ANSWER)
def wave_pick_lists(wave_id: Id, request: Request, md=allowed(WAREHOUSE)):
    """A wave's pick lists in one PDF: one per order, each along the walk (discrete picking, or the
    packers' check sheets)."""
    return _wave_batch(request, wave_id, "pick-list", md)


@router.get("/print/waves/{wave_id}/packing-slips.pdf", response_class=Response, responses=PDF_ANSWER)
def wave_packing_slips(wave_id: Id, request: Request, md=allowed(ORDER_PAPERS)):
    """A wave's packing slips in one PDF, one per order."""
    return _wave_batch(request, wave_id, "packing-slip", md)


@router.get("/print/waves/{wave_id}/delivery-notes.pdf", response_class=Response, responses=PDF_ANSWER)
def wave_delivery_notes(wave_id: Id, request: Request, md=allowed(ORDER_PAPERS)):
    """A wave's delivery notes in one PDF, one per order."""
    return _wave_batch(request, wave_id, "delivery-note", md)


@router.get("/print/purchase-orders/{purchase_order_id}.pdf", response_class=Response, responses=PDF_ANSWER)
def purchase_order(purchase_order_id: Id, request: Request, md=allowed(PURCHASE_PAPERS)):
    """采购订单: lines with the cost before VAT, the VAT and the total, and the promised dates; one not
    approved yet says so across its head."""
    po = clients(request).procurement.GetPurchaseOrder(pro.GetPurchaseOrderRequest(id=purchase_order_id),
                                                       metadata=md).purchase_order
    doc = documents.purchase_order(po, _skus(request, (l.sku for l in po.lines), md), po.supplier_name)
    return _answer(request, f"purchase-order-{purchase_order_id}", [(documents.TEMPLATES["purchase-order"], doc)])


@router.get("/print/customer-statements/{customer_id}.pdf", response_class=Response, responses=PDF_ANSWER)
def customer_statement(customer_id: Id, request: Request,
                       period: str = Query(..., pattern=PERIOD, description="YYYY-MM"),
                       md=allowed(STATEMENTS)):
    """对账单: what the customer owes on the receivable account in a month, from the books: the opening
    balance, each charge and payment with the running balance, the closing balance. A marketplace's buyer
    owes the platform, not the merchant: their statement says so."""
    customer = clients(request).customer.GetCustomer(cus.GetCustomerRequest(id=customer_id), metadata=md).customer
    books = clients(request).accounting
    chart = books.GetBalances(acc.GetBalancesRequest(roles=[RECEIVABLE_ROLE], accounts_only=True), metadata=md)
    counterparty = f"customer:{customer.channel}:{customer.external_id}"
    detail = books.GetAccountDetail(acc.GetAccountDetailRequest(
        account=chart.accounts[RECEIVABLE_ROLE], period=period, aux=counterparty), metadata=md)
    doc = documents.customer_statement(customer, detail, period, counterparty,
                                       collected_by_platform=customer.channel in chart.marketplaces)
    return _answer(request, f"statement-{customer_id}-{period}", [(documents.TEMPLATES["customer-statement"], doc)])


@router.get("/print/count-sheets/{count_id}.pdf", response_class=Response, responses=PDF_ANSWER)
def count_sheet(count_id: Id, request: Request,
                expected: bool = Query(False, description="print the expected quantities (default: a blind count)"),
                md=allowed(STOCK_PAPERS)):
    """盘点表: the count's lines along the walk through the warehouse, with a box for what is counted."""
    count = clients(request).inventory.GetCount(inv.CountRequest(count_id=count_id), metadata=md)
    doc = documents.count_sheet(count, _skus(request, (l.sku for l in count.lines), md), expected)
    return _answer(request, f"count-sheet-{count_id}", [(documents.TEMPLATES["count-sheet"], doc)])
