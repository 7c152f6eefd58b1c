"""Stock: SKUs (units, tracking, costing, barcodes, kits), warehouses, receipts into bins, lots
and serials, adjustments and write-offs, levels and value."""
from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import grpc
from fastapi import APIRouter, Request, Response

from gateway.errors import from_rpc_error
from gateway.routes.common import ANYONE, CATALOG, STOCK_KEEPING, STOCK_VALUE, allowed, clients
from gateway.schemas import AdjustmentIn, ReceiptIn, SkuIn, WarehouseIn
from hubapi.inventory.v1 import inventory_service_pb2 as inv

router = APIRouter(tags=["stock"])


@contextmanager
def fields_under(prefix: str):
    """The service names fields of a nested message ("sku.code"); the body here is flat ("code")."""
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc, strip_prefix=prefix) from None


def sku_json(sku) -> dict:
    return {"code": sku.code, "name": sku.name, "base_unit": sku.base_unit or "pcs", "category": sku.category,
            "lot_tracked": sku.lot_tracked, "serial_tracked": sku.serial_tracked, "costing": sku.costing or "fifo",
            "barcodes": list(sku.barcodes),
            "components": [{"sku": c.sku, "quantity": c.quantity} for c in sku.components]}


@router.post("/skus", status_code=201)
def upsert_sku(body: SkuIn, request: Request, response: Response, md=allowed(CATALOG)):
    """Create or update a SKU. Barcodes and kit components, when given, replace the old ones;
    tracking and costing cannot change while the SKU has stock."""
    fields = body.model_dump(exclude={"components"})
    sku = inv.Sku(**fields, components=[inv.KitComponent(sku=c.sku, quantity=c.quantity) for c in body.components])
    with fields_under("sku."):
        reply = clients(request).inventory.UpsertSku(inv.UpsertSkuRequest(sku=sku), metadata=md)
    if not reply.created:
        response.status_code = 200
    return sku_json(reply.sku)


@router.post("/warehouses", status_code=201)
def upsert_warehouse(body: WarehouseIn, request: Request, response: Response, md=allowed(CATALOG)):
    with fields_under("warehouse."):
        reply = clients(request).inventory.UpsertWarehouse(
            inv.UpsertWarehouseRequest(warehouse=inv.Warehouse(**body.model_dump())), metadata=md)
    if not reply.created:
        response.status_code = 200
    w = reply.warehouse
    return {"code": w.code, "name": w.name, "priority": w.priority, "region": w.region, "address": w.address}


def level_json(level) -> dict:
    return {"sku": level.sku, "warehouse": level.warehouse, "on_hand": level.on_hand,
            "reserved": level.reserved, "available": level.available, "held": level.held,
            "in_transit": level.in_transit}


@router.post("/stock/receipts", status_code=201)
def receive_stock(body: ReceiptIn, request: Request, md=allowed(STOCK_KEEPING)):
    """Receive stock outside a purchase order (opening stock, found goods) at a unit cost, into a
    bin (default: the unnamed bin), a lot (lot-tracked SKUs) and with one serial per unit
    (serial-tracked SKUs)."""
    reply = clients(request).inventory.ReceiveStock(inv.ReceiveStockRequest(**body.model_dump()), metadata=md)
    return {"movement_id": reply.movement_id, "level": level_json(reply.level)}


@router.post("/stock/adjustments", status_code=201)
def adjust_stock(body: AdjustmentIn, request: Request, md=allowed(CATALOG)):
    """A stock-count difference (+ found, - lost) or a write-off (scrap, loss, expired: -); a bin,
    lot or serials, when named, are taken as named. Its cost goes to the books."""
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
