"""Orders: place, read, list, ship; the vouchers an order's shipment posted."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from gateway.routes.accounting import voucher_json
from gateway.routes.common import ANYONE, FINANCE, SALES, SHIPPING, allowed, clients, money_str, require_known_skus
from gateway.schemas import OrderIn, ReturnIn, ShipmentIn
from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubkit import money

router = APIRouter(tags=["orders"])


def order_json(o) -> dict:
    return {
        "id": o.id, "channel": o.channel, "shop": o.shop, "external_order_id": o.external_order_id,
        "status": o.status, "total": money_str(o.total), "currency": o.total.currency_code,
        "buyer": {"external_id": o.buyer.external_id, "name": o.buyer.name, "phone": o.buyer.phone,
                  "email": o.buyer.email},
        "shipping_address": {f.name: getattr(o.shipping_address, f.name)
                             for f in o.shipping_address.DESCRIPTOR.fields},
        "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity,
                   "unit_price": money_str(l.unit_price), "amount": money_str(l.amount),
                   "reservation": l.reservation, "warehouse": l.warehouse or None,
                   "returned_quantity": l.returned_quantity} for l in o.lines],
        "shipment": ({"carrier": o.carrier, "tracking_number": o.tracking_number, "shipped_at": o.shipped_at}
                     if o.shipped_at else None),
        "created_by": o.created_by, "created_at": o.created_at, "updated_at": o.updated_at,
    }


@router.post("/orders", status_code=201,
             responses={200: {"description": "the order already existed (same channel, shop and external id)"}})
def place_order(body: OrderIn, request: Request, response: Response, md=allowed(SALES)):
    require_known_skus(request, [line.sku for line in body.lines], md)
    reply = clients(request).order.PlaceOrder(ordpb.PlaceOrderRequest(
        channel=body.channel, shop=body.shop, external_order_id=body.external_order_id,
        buyer=ordpb.Buyer(**body.buyer.model_dump()),
        shipping_address=ordpb.Address(**body.shipping_address.model_dump()),
        lines=[ordpb.OrderLineInput(sku=l.sku, quantity=l.quantity,
                                    unit_price=money.to_proto(l.unit_price, body.currency))
               for l in body.lines]), metadata=md)
    if not reply.created:
        response.status_code = 200
    return order_json(reply.order)


@router.get("/orders/{order_id}")
def get_order(order_id: str, request: Request, md=allowed(ANYONE)):
    return order_json(clients(request).order.GetOrder(ordpb.GetOrderRequest(id=order_id), metadata=md).order)


@router.get("/orders")
def list_orders(request: Request, status: str = "", page_size: int = Query(50, ge=1, le=500),
                page_token: str = "", md=allowed(ANYONE)):
    reply = clients(request).order.ListOrders(
        ordpb.ListOrdersRequest(status=status, page_size=page_size, page_token=page_token), metadata=md)
    return {"orders": [order_json(o) for o in reply.orders], "next_page_token": reply.next_page_token or None}


@router.post("/orders/{order_id}/shipment")
def ship_order(order_id: str, body: ShipmentIn, request: Request, md=allowed(SHIPPING)):
    """Ship a fully reserved order as a whole (carrier code and tracking number)."""
    reply = clients(request).order.ShipOrder(
        ordpb.ShipOrderRequest(order_id=order_id, carrier=body.carrier, tracking_number=body.tracking_number),
        metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/returns", status_code=201)
def return_order(order_id: str, body: ReturnIn, request: Request, md=allowed(SHIPPING)):
    """Goods sent back after shipment: restocked at their original cost, the sale reversed in the books."""
    reply = clients(request).order.ReturnOrder(ordpb.ReturnOrderRequest(
        order_id=order_id, reason=body.reason,
        lines=[ordpb.ReturnLineInput(line_no=l.line_no, quantity=l.quantity) for l in body.lines]), metadata=md)
    return {"return_id": reply.return_id, "order": order_json(reply.order)}


@router.get("/orders/{order_id}/vouchers")
def order_vouchers(order_id: str, request: Request, md=allowed(FINANCE)):
    """The sale and cost-of-goods vouchers the order's shipment posted."""
    reply = clients(request).accounting.ListVouchers(acc.ListVouchersRequest(source_id=order_id), metadata=md)
    return {"order_id": order_id, "vouchers": [voucher_json(v) for v in reply.vouchers]}
