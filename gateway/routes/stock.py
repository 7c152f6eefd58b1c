"""Stock: SKUs, warehouses, receipts, levels and value."""
from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request, Response

from gateway.routes.common import ANYONE, CATALOG, STOCK_KEEPING, STOCK_VALUE, allowed, clients
from gateway.schemas import AdjustmentIn, ReceiptIn, SkuIn, WarehouseIn
from hubapi.inventory.v1 import inventory_service_pb2 as inv

router = APIRouter(tags=["stock"])


@router.post("/skus", status_code=201)
def upsert_sku(body: SkuIn, request: Request, response: Response, md=allowed(CATALOG)):
    reply = clients(request).inventory.UpsertSku(inv.UpsertSkuRequest(sku=inv.Sku(**body.model_dump())),
                                                 metadata=md)
    if not reply.created:
        response.status_code = 200
    return {"code": reply.sku.code, "name": reply.sku.name}


@router.post("/warehouses", status_code=201)
def upsert_warehouse(body: WarehouseIn, request: Request, response: Response, md=allowed(CATALOG)):
    reply = clients(request).inventory.UpsertWarehouse(
        inv.UpsertWarehouseRequest(warehouse=inv.Warehouse(**body.model_dump())), metadata=md)
    if not reply.created:
        response.status_code = 200
    return {"code": reply.warehouse.code, "name": reply.warehouse.name, "priority": reply.warehouse.priority}


def level_json(level) -> dict:
    return {"sku": level.sku, "warehouse": level.warehouse, "on_hand": level.on_hand,
            "reserved": level.reserved, "available": level.available}


@router.post("/stock/receipts", status_code=201)
def receive_stock(body: ReceiptIn, request: Request, md=allowed(STOCK_KEEPING)):
    """Receive stock outside a purchase order (opening stock, found goods) at a unit cost."""
    reply = clients(request).inventory.ReceiveStock(inv.ReceiveStockRequest(**body.model_dump()), metadata=md)
    return {"movement_id": reply.movement_id, "level": level_json(reply.level)}


@router.post("/stock/adjustments", status_code=201)
def adjust_stock(body: AdjustmentIn, request: Request, md=allowed(CATALOG)):
    """A stock-count difference (+ found, - lost) or scrap (-): its cost goes to the books."""
    reply = clients(request).inventory.AdjustStock(inv.AdjustStockRequest(**body.model_dump()), metadata=md)
    return {"adjustment_id": reply.adjustment_id, "value": reply.value, "level": level_json(reply.level)}


@router.get("/stock/{sku}")
def get_stock(sku: str, request: Request, warehouse: str = "", md=allowed(ANYONE)):
    reply = clients(request).inventory.GetStock(inv.GetStockRequest(sku=sku, warehouse=warehouse), metadata=md)
    return {"sku": sku, "levels": [level_json(l) for l in reply.levels]}


@router.get("/stock-value")
def stock_value(request: Request, warehouse: str = "", md=allowed(STOCK_VALUE)):
    """What the remaining FIFO cost layers are worth, per warehouse (and SKU)."""
    reply = clients(request).inventory.GetStockValue(inv.GetStockValueRequest(warehouse=warehouse), metadata=md)
    warehouses: dict[str, dict] = {}
    for row in reply.rows:
        w = warehouses.setdefault(row.warehouse, {"warehouse": row.warehouse, "quantity": 0,
                                                  "value": Decimal("0.00"), "skus": []})
        w["skus"].append({"sku": row.sku, "quantity": row.quantity, "value": row.value})
        w["quantity"] += row.quantity
        w["value"] += Decimal(row.value)
    return {"warehouses": [{**w, "value": str(w["value"])} for w in warehouses.values()], "total": reply.total}
