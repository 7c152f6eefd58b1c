"""Stock: SKUs (units, tracking, costing, barcodes, kits), warehouses, receipts into bins, lots
and serials, adjustments and write-offs, levels and value."""
from __future__ import annotations

from contextlib import contextmanager

import grpc
from fastapi import APIRouter, Request, Response

from gateway.areas.stock.presenters import allocation_json, rules_json, sku_json, warehouse_json
from gateway.areas.stock.schemas import (
    Adjustment,
    AdjustmentIn,
    Allocation,
    AllocationRules,
    AllocationRulesIn,
    Receipt,
    ReceiptIn,
    Sku,
    SkuIn,
    SkuStock,
    StockValue,
    Warehouse,
    WarehouseIn,
)
from gateway.common.access import ANYONE, CATALOG, STOCK_KEEPING, STOCK_VALUE, allowed, clients
from gateway.common.presenters import level_json, stock_values
from gateway.errors import from_rpc_error
from hubapi.inventory.v1 import inventory_service_pb2 as inv

router = APIRouter(tags=["stock"])


@contextmanager
def fields_under(prefix: str):
    """The service names fields of a nested message ("sku.code"); the body here is flat ("code")."""
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc, strip_prefix=prefix) from None


@router.post("/skus", status_code=201, response_model=Sku,
             responses={200: {"model": Sku, "description": "the SKU existed and is updated"}})
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


@router.post("/warehouses", status_code=201, response_model=Warehouse,
             responses={200: {"model": Warehouse, "description": "the warehouse existed and is updated"}})
def upsert_warehouse(body: WarehouseIn, request: Request, response: Response, md=allowed(CATALOG)):
    with fields_under("warehouse."):
        reply = clients(request).inventory.UpsertWarehouse(
            inv.UpsertWarehouseRequest(warehouse=inv.Warehouse(**body.model_dump())), metadata=md)
    if not reply.created:
        response.status_code = 200
    return warehouse_json(reply.warehouse)


@router.post("/stock/receipts", status_code=201, response_model=Receipt)
def receive_stock(body: ReceiptIn, request: Request, md=allowed(STOCK_KEEPING)):
    """Receive stock outside a purchase order at a unit cost, for a reason (opening stock, the
    default; an other receipt; found goods; production) whose account the books credit against
    inventory, into a bin (default: the unnamed bin), a lot (lot-tracked SKUs) and with one serial
    per unit (serial-tracked SKUs)."""
    reply = clients(request).inventory.ReceiveStock(inv.ReceiveStockRequest(**body.model_dump()), metadata=md)
    return {"document_id": reply.document_id, "movement_id": reply.movement_id, "level": level_json(reply.level)}


@router.post("/stock/adjustments", status_code=201, response_model=Adjustment)
def adjust_stock(body: AdjustmentIn, request: Request, md=allowed(CATALOG)):
    """A stock-count difference (+ found, - lost) or a write-off (scrap, loss, expired: -); a bin,
    lot or serials, when named, are taken as named. Its cost goes to the books."""
    reply = clients(request).inventory.AdjustStock(inv.AdjustStockRequest(**body.model_dump()), metadata=md)
    return {"adjustment_id": reply.adjustment_id, "value": reply.value, "level": level_json(reply.level)}


@router.get("/stock/{sku}", response_model=SkuStock)
def get_stock(sku: str, request: Request, warehouse: str = "", md=allowed(ANYONE)):
    reply = clients(request).inventory.GetStock(inv.GetStockRequest(sku=sku, warehouse=warehouse), metadata=md)
    return {"sku": sku, "levels": [level_json(l) for l in reply.levels]}


@router.get("/stock-value", response_model=StockValue)
def stock_value(request: Request, warehouse: str = "", md=allowed(STOCK_VALUE)):
    """What the remaining FIFO cost layers are worth, per warehouse (and SKU)."""
    reply = clients(request).inventory.GetStockValue(inv.GetStockValueRequest(warehouse=warehouse), metadata=md)
    return {**stock_values(reply.rows), "total": reply.total}


@router.put("/allocation-rules", response_model=AllocationRules)
def set_allocation_rules(body: AllocationRulesIn, request: Request, md=allowed(CATALOG)):
    """Replace the allocation rules: which warehouses serve a region (province, or province and
    city; both empty: the default row), most preferred first, and which alone may ship a shop's
    orders. An order goes whole to the most preferred warehouse that covers every line; else the
    fewest parcels. An unknown warehouse is a 422 naming it; nothing changes."""
    rules = inv.AllocationRules(
        coverage=[inv.CoverageRow(**c.model_dump()) for c in body.coverage],
        shops=[inv.ShopWarehouses(**r.model_dump()) for r in body.shops])
    return rules_json(clients(request).inventory.SetAllocationRules(rules, metadata=md))


@router.get("/allocation-rules", response_model=AllocationRules)
def get_allocation_rules(request: Request, md=allowed(ANYONE)):
    return rules_json(clients(request).inventory.GetAllocationRules(inv.GetAllocationRulesRequest(), metadata=md))


@router.get("/stock/allocations/{order_id}", response_model=Allocation)
def get_allocation(order_id: str, request: Request, md=allowed(ANYONE)):
    """Why an order ships from where it does: the candidate warehouses (rank, the lines each could
    ship whole, the SKUs each lacks), the chosen ones and why, and per line what is reserved where."""
    return allocation_json(clients(request).inventory.GetAllocation(inv.GetAllocationRequest(order_id=order_id),
                                                                    metadata=md))
