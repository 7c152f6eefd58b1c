"""The shop connectors: each shop's pull state, the orders held as exceptions, and the SKU
mappings that release them."""
from __future__ import annotations

from fastapi import APIRouter, Path, Request

from gateway.areas.connectors.schemas import HeldOrders, ShopStatuses, SkuMapping, SkuMappingIn
from gateway.common.access import CATALOG, SALES, allowed, clients, require_known_skus
from gateway.common.presenters import scalars
from hubapi.shops.v1 import shop_service_pb2 as shp

router = APIRouter(tags=["channels"])
PLATFORM = Path(..., pattern=r"^(taobao|jd)$")
OPERATIONS = SALES | CATALOG


@router.get("/connectors/{platform}/status", response_model=ShopStatuses)
def connector_status(request: Request, platform: str = PLATFORM, md=allowed(OPERATIONS)):
    """Per shop: watermark, lag, last error, retries, orders published, duplicates, open exceptions."""
    reply = clients(request).shops[platform].GetStatus(shp.GetStatusRequest(), metadata=md)
    return {"shops": [scalars(s) for s in reply.shops]}


@router.get("/connectors/{platform}/exceptions", response_model=HeldOrders)
def connector_exceptions(request: Request, platform: str = PLATFORM, status: str = "open", md=allowed(OPERATIONS)):
    """Orders held instead of guessed: unmapped SKU, unparseable address, amount mismatch."""
    reply = clients(request).shops[platform].ListExceptions(shp.ListExceptionsRequest(status=status), metadata=md)
    return {"exceptions": [scalars(x) for x in reply.exceptions]}


@router.put("/connectors/{platform}/sku-mappings/{outer_sku}", response_model=SkuMapping)
def map_sku(outer_sku: str, body: SkuMappingIn, request: Request, platform: str = PLATFORM, md=allowed(CATALOG)):
    """Map a platform SKU to hub SKUs (several = a combination); the orders held for it are re-driven."""
    require_known_skus(request, [c.sku for c in body.components], md, field="components")
    reply = clients(request).shops[platform].MapSku(shp.MapSkuRequest(
        outer_sku=outer_sku, components=[shp.Component(sku=c.sku, quantity=c.quantity) for c in body.components]),
        metadata=md)
    return {"outer_sku": reply.outer_sku, "components": [scalars(c) for c in reply.components],
            "redrive_pending": reply.redrive_pending}
