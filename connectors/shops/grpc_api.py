"""The shop connector's gRPC API, for the gateway: shop status, exceptions, SKU mappings."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from connectors.shops import core, store
from hubapi.shops.v1 import shop_service_pb2 as pb
from hubapi.shops.v1 import shop_service_pb2_grpc as pb_grpc
from hubkit import grpc_server
from hubkit.db import as_utc, dialect_insert
from hubkit.errors import FieldErrors

rpc = grpc_server.rpc("shops")


def _iso(moment) -> str:
    return as_utc(moment).isoformat() if moment else ""


class ShopServicer(pb_grpc.ShopConnectorServiceServicer):
    def __init__(self, connector):
        self.connector = connector
        self.db, self.platform = connector.db, connector.platform

    @rpc
    def GetStatus(self, request, context):
        x = store.exceptions
        with self.db.reader() as s:
            rows = s.execute(select(store.shops).where(store.shops.c.platform == self.platform)
                             .order_by(store.shops.c.shop)).all()
            held = dict(s.execute(select(x.c.shop, func.count()).where(x.c.platform == self.platform,
                                                                       x.c.status == "open").group_by(x.c.shop)).all())
        now = datetime.now(timezone.utc)
        return pb.GetStatusResponse(shops=[pb.ShopStatus(
            platform=r.platform, shop=r.shop, watermark=_iso(r.watermark),
            lag_seconds=(now - as_utc(r.watermark)).total_seconds(), last_error=r.last_error or "",
            error_since=_iso(r.error_since), retries=r.retries, orders_published=r.orders_published,
            duplicates_suppressed=r.duplicates_suppressed, open_exceptions=held.get(r.shop, 0)) for r in rows])

    @rpc
    def ListExceptions(self, request, context):
        x = store.exceptions
        with self.db.reader() as s:
            rows = s.execute(select(x).where(x.c.platform == self.platform, x.c.status == (request.status or "open"))
                             .order_by(x.c.created_at).limit(1000)).all()
        return pb.ListExceptionsResponse(exceptions=[pb.HeldOrder(
            platform=r.platform, shop=r.shop, external_order_id=r.external_order_id, reason=r.reason,
            detail=r.detail, status=r.status, created_at=_iso(r.created_at)) for r in rows])

    @rpc
    def MapSku(self, request, context):
        errors = FieldErrors()
        if not request.outer_sku or len(request.outer_sku) > 64:
            errors.add("outer_sku", "required, at most 64 characters")
        if not request.components:
            errors.add("components", "at least one hub SKU")
        for i, c in enumerate(request.components):
            if not c.sku or c.quantity <= 0:
                errors.add(f"components[{i}]", "a hub SKU and a quantity > 0")
        errors.raise_if_any("the mapping is invalid")
        components = [{"sku": c.sku, "quantity": c.quantity} for c in request.components]
        m, x = store.sku_mappings, store.exceptions
        with self.db.session() as s:
            s.execute(dialect_insert(s, m).values(platform=self.platform, outer_sku=request.outer_sku,
                                                  components=core.components_json(components))
                      .on_conflict_do_update(index_elements=["platform", "outer_sku"],
                                             set_={"components": core.components_json(components)}))
            pending = s.execute(select(func.count()).select_from(x).where(x.c.platform == self.platform,
                                                                          x.c.status == "open")).scalar()
        self.connector.redrive_requested = True  # the connector's own loop re-drives (it owns the publisher)
        return pb.MapSkuResponse(outer_sku=request.outer_sku, components=request.components, redrive_pending=pending)
