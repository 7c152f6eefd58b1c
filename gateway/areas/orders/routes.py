"""Orders: place, read, list, ship; the vouchers an order's shipment posted."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from gateway.areas.orders.schemas import OrderIn, OrderPage, OrderReturn, OrderVouchers, ReturnIn, ShipmentIn
from gateway.common.access import (
    ANYONE,
    FINANCE,
    SALES,
    SHIPPING,
    allowed,
    clients,
    exchange_rate_for,
    require_known_skus,
)
from gateway.common.presenters import order_json, voucher_json
from gateway.common.schemas import Order
from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubkit import money

router = APIRouter(tags=["orders"])


@router.post("/orders", status_code=201, response_model=Order,
             responses={200: {"model": Order,
                              "description": "the order already existed (same channel, shop and external id)"}})
def place_order(body: OrderIn, request: Request, response: Response, md=allowed(SALES)):
    require_known_skus(request, [line.sku for line in body.lines], md)
    rate = exchange_rate_for(request, body.currency, md)
    reply = clients(request).order.PlaceOrder(ordpb.PlaceOrderRequest(
        channel=body.channel, shop=body.shop, external_order_id=body.external_order_id, exchange_rate=rate,
        buyer=ordpb.Buyer(**body.buyer.model_dump()),
        shipping_address=ordpb.Address(**body.shipping_address.model_dump()),
        lines=[ordpb.OrderLineInput(sku=l.sku, quantity=l.quantity,
                                    unit_price=money.to_proto(l.unit_price, body.currency))
               for l in body.lines]), metadata=md)
    if not reply.created:
        response.status_code = 200
    return order_json(reply.order)


@router.get("/orders/{order_id}", response_model=Order)
def get_order(order_id: str, request: Request, md=allowed(ANYONE)):
    return order_json(clients(request).order.GetOrder(ordpb.GetOrderRequest(id=order_id), metadata=md).order)


@router.get("/orders", response_model=OrderPage)
def list_orders(request: Request, status: str = "", page_size: int = Query(50, ge=1, le=500),
                page_token: str = "", md=allowed(ANYONE)):
    reply = clients(request).order.ListOrders(
        ordpb.ListOrdersRequest(status=status, page_size=page_size, page_token=page_token), metadata=md)
    return {"orders": [order_json(o) for o in reply.orders], "next_page_token": reply.next_page_token or None}


@router.post("/orders/{order_id}/shipment", response_model=Order)
def ship_order(order_id: str, body: ShipmentIn, request: Request, md=allowed(SHIPPING)):
    """Ship a fully reserved order as a whole (carrier code and tracking number)."""
    reply = clients(request).order.ShipOrder(
        ordpb.ShipOrderRequest(order_id=order_id, carrier=body.carrier, tracking_number=body.tracking_number),
        metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/returns", status_code=201, response_model=OrderReturn)
def return_order(order_id: str, body: ReturnIn, request: Request, md=allowed(SHIPPING)):
    """Goods sent back after shipment: restocked at their original cost, the sale reversed in the books."""
    reply = clients(request).order.ReturnOrder(ordpb.ReturnOrderRequest(
        order_id=order_id, reason=body.reason,
        lines=[ordpb.ReturnLineInput(line_no=l.line_no, quantity=l.quantity) for l in body.lines]), metadata=md)
    return {"return_id": reply.return_id, "order": order_json(reply.order)}


@router.get("/orders/{order_id}/vouchers", response_model=OrderVouchers)
def order_vouchers(order_id: str, request: Request, md=allowed(FINANCE)):
    """The sale and cost-of-goods vouchers the order's shipment posted."""
    reply = clients(request).accounting.ListVouchers(acc.ListVouchersRequest(source_id=order_id), metadata=md)
    return {"order_id": order_id, "vouchers": [voucher_json(v) for v in reply.vouchers]}
