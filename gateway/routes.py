"""One function per endpoint: check the role, call the service over gRPC, shape the answer."""
from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway.errors import Problem
from gateway.schemas import OrderIn, ReceiptIn, SkuIn, WarehouseIn
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubkit import money
from hubkit.grpc_server import ACTOR_KEY, CORRELATION_KEY

router = APIRouter()

ANYONE = frozenset({"warehouse", "sales", "purchasing", "finance", "admin"})
SALES = frozenset({"sales", "admin"})
STOCK_KEEPING = frozenset({"warehouse", "purchasing", "admin"})
CATALOG = frozenset({"warehouse", "admin"})


def allowed(roles: frozenset):
    def check(request: Request):
        user = request.state.user
        if user.role not in roles:
            raise Problem(403, "forbidden", f"role {user.role!r} may not do this")
        return [(ACTOR_KEY, user.name), (CORRELATION_KEY, request.state.correlation_id)]
    return Depends(check)


def _clients(request: Request):
    return request.app.state.clients


def _money(m) -> str:
    return str(money.from_proto(m).quantize(Decimal("0.01")))


def order_json(o) -> dict:
    return {
        "id": o.id, "channel": o.channel, "shop": o.shop, "external_order_id": o.external_order_id,
        "status": o.status, "total": _money(o.total), "currency": o.total.currency_code,
        "buyer": {"external_id": o.buyer.external_id, "name": o.buyer.name, "phone": o.buyer.phone,
                  "email": o.buyer.email},
        "shipping_address": {f.name: getattr(o.shipping_address, f.name)
                             for f in o.shipping_address.DESCRIPTOR.fields},
        "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity,
                   "unit_price": _money(l.unit_price), "amount": _money(l.amount),
                   "reservation": l.reservation, "warehouse": l.warehouse or None} for l in o.lines],
        "created_by": o.created_by, "created_at": o.created_at, "updated_at": o.updated_at,
    }


@router.post("/orders", status_code=201, tags=["orders"],
             responses={200: {"description": "the order already existed (same channel, shop and external id)"}})
def place_order(body: OrderIn, request: Request, response: Response, md=allowed(SALES)):
    clients = _clients(request)
    codes = {line.sku for line in body.lines}
    known = {s.code for s in clients.inventory.GetSkus(inv.GetSkusRequest(codes=sorted(codes)),
                                                       metadata=md).skus}
    unknown = [{"field": f"lines[{i}].sku", "message": f"unknown SKU {line.sku!r}"}
               for i, line in enumerate(body.lines) if line.sku not in known]
    if unknown:
        raise Problem(422, "invalid-argument", "the order names unknown SKUs", unknown)
    reply = clients.order.PlaceOrder(ordpb.PlaceOrderRequest(
        channel=body.channel, shop=body.shop, external_order_id=body.external_order_id,
        buyer=ordpb.Buyer(**body.buyer.model_dump()),
        shipping_address=ordpb.Address(**body.shipping_address.model_dump()),
        lines=[ordpb.OrderLineInput(sku=l.sku, quantity=l.quantity,
                                    unit_price=money.to_proto(l.unit_price, body.currency))
               for l in body.lines]), metadata=md)
    if not reply.created:
        response.status_code = 200
    return order_json(reply.order)


@router.get("/orders/{order_id}", tags=["orders"])
def get_order(order_id: str, request: Request, md=allowed(ANYONE)):
    return order_json(_clients(request).order.GetOrder(ordpb.GetOrderRequest(id=order_id), metadata=md).order)


@router.get("/orders", tags=["orders"])
def list_orders(request: Request, status: str = "", page_size: int = Query(50, ge=1, le=500),
                page_token: str = "", md=allowed(ANYONE)):
    reply = _clients(request).order.ListOrders(
        ordpb.ListOrdersRequest(status=status, page_size=page_size, page_token=page_token), metadata=md)
    return {"orders": [order_json(o) for o in reply.orders], "next_page_token": reply.next_page_token or None}


@router.post("/skus", status_code=201, tags=["stock"])
def upsert_sku(body: SkuIn, request: Request, response: Response, md=allowed(CATALOG)):
    reply = _clients(request).inventory.UpsertSku(inv.UpsertSkuRequest(sku=inv.Sku(**body.model_dump())),
                                                  metadata=md)
    if not reply.created:
        response.status_code = 200
    return {"code": reply.sku.code, "name": reply.sku.name}


@router.post("/warehouses", status_code=201, tags=["stock"])
def upsert_warehouse(body: WarehouseIn, request: Request, response: Response, md=allowed(CATALOG)):
    reply = _clients(request).inventory.UpsertWarehouse(
        inv.UpsertWarehouseRequest(warehouse=inv.Warehouse(**body.model_dump())), metadata=md)
    if not reply.created:
        response.status_code = 200
    return {"code": reply.warehouse.code, "name": reply.warehouse.name, "priority": reply.warehouse.priority}


def level_json(level) -> dict:
    return {"sku": level.sku, "warehouse": level.warehouse, "on_hand": level.on_hand,
            "reserved": level.reserved, "available": level.available}


@router.post("/stock/receipts", status_code=201, tags=["stock"])
def receive_stock(body: ReceiptIn, request: Request, md=allowed(STOCK_KEEPING)):
    reply = _clients(request).inventory.ReceiveStock(inv.ReceiveStockRequest(**body.model_dump()), metadata=md)
    return {"movement_id": reply.movement_id, "level": level_json(reply.level)}


@router.get("/stock/{sku}", tags=["stock"])
def get_stock(sku: str, request: Request, warehouse: str = "", md=allowed(ANYONE)):
    reply = _clients(request).inventory.GetStock(inv.GetStockRequest(sku=sku, warehouse=warehouse), metadata=md)
    return {"sku": sku, "levels": [level_json(l) for l in reply.levels]}
