"""The shop connector's gRPC API, for the gateway: shop status, exceptions, SKU mappings."""
from __future__ import annotations

import json
from collections import namedtuple
from datetime import datetime, timezone

from sqlalchemy import func, select

from connectors.shops import core, store
from hubapi.shops.v1 import shop_service_pb2 as pb
from hubapi.shops.v1 import shop_service_pb2_grpc as pb_grpc
from hubkit import grpc_server, imports
from hubkit.db import UnitOfWork, as_utc, dialect_insert
from hubkit.errors import FieldErrors

rpc = grpc_server.rpc("shops")
_Owed = namedtuple("_Owed", "owed failing")
REPULL_TIMEOUT_SECONDS = 120


def _iso(moment) -> str:
    return as_utc(moment).isoformat() if moment else ""


class ShopServicer(pb_grpc.ShopConnectorServiceServicer):
    def __init__(self, connector):
        self.connector = connector
        self.db, self.platform = connector.db, connector.platform

    @rpc
    def GetStatus(self, request, context):
        x = store.exceptions
        sp, sh = store.stock_pushes, store.shipments
        with self.db.reader() as s:
            rows = s.execute(select(store.shops).where(store.shops.c.platform == self.platform)
                             .order_by(store.shops.c.shop)).all()
            held = dict(s.execute(select(x.c.shop, func.count()).where(x.c.platform == self.platform,
                                                                       x.c.status == "open").group_by(x.c.shop)).all())
            owed_stock = {r.shop: r for r in s.execute(
                select(sp.c.shop, func.count().label("owed"), func.count(sp.c.last_error).label("failing"))
                .where(sp.c.platform == self.platform, sp.c.version > sp.c.pushed_version).group_by(sp.c.shop))}
            owed_shipments = {r.shop: r for r in s.execute(
                select(sh.c.shop, func.count().label("owed"), func.count(sh.c.last_error).label("failing"))
                .where(sh.c.platform == self.platform, sh.c.status == "pending").group_by(sh.c.shop))}
        now = datetime.now(timezone.utc)
        none = _Owed(0, 0)
        return pb.GetStatusResponse(shops=[pb.ShopStatus(
            platform=r.platform, shop=r.shop, watermark=_iso(r.watermark),
            lag_seconds=(now - as_utc(r.watermark)).total_seconds(), last_error=r.last_error or "",
            error_since=_iso(r.error_since), retries=r.retries, orders_published=r.orders_published,
            duplicates_suppressed=r.duplicates_suppressed, open_exceptions=held.get(r.shop, 0),
            stock_pushes_owed=owed_stock.get(r.shop, none).owed, stock_pushes_failing=owed_stock.get(r.shop, none).failing,
            shipments_owed=owed_shipments.get(r.shop, none).owed,
            shipments_failing=owed_shipments.get(r.shop, none).failing) for r in rows])

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
        components = _checked_mapping(request)
        x = store.exceptions
        with self.db.session() as s:
            _upsert_mapping(s, self.platform, request.outer_sku, components)
            pending = s.execute(select(func.count()).select_from(x).where(x.c.platform == self.platform,
                                                                          x.c.status == "open")).scalar()
        self.connector.ask_redrive()  # the connector's own loop re-drives (it owns the publisher)
        return pb.MapSkuResponse(outer_sku=request.outer_sku, components=request.components, redrive_pending=pending)

    @rpc
    def ImportSkuMappings(self, request, context):
        """A file's mappings of this platform, each checked as MapSku checks one, all in one
        transaction or none (hubkit.imports); a mapping already as the row says is unchanged."""
        actor, correlation_id = grpc_server.caller(context)
        m = store.sku_mappings
        with UnitOfWork(self.db, "shops", actor, correlation_id) as uow:
            def one(mapping: pb.MapSkuRequest) -> bool:
                components = _checked_mapping(mapping)
                before = uow.session.execute(select(m.c.components).where(
                    m.c.platform == self.platform, m.c.outer_sku == mapping.outer_sku)).scalar()
                if before is not None and json.loads(before) == json.loads(components):
                    return False
                _upsert_mapping(uow.session, self.platform, mapping.outer_sku, components)
                return True
            ran: list[imports.Outcome] = []  # empty when the reply is a replay of the command

            def apply() -> imports.Outcome:
                ran.append(imports.apply_rows(uow, ((r.row, r.mapping) for r in request.rows), one,
                                              request.dry_run, "outer_sku"))
                return ran[0]
            # one database holds every platform's mappings: the command is the platform's
            reply = imports.command(uow, context, request.dry_run, apply, f"import_sku_mappings:{self.platform}")
        if ran and reply.applied and not reply.dry_run and not reply.errors:
            self.connector.ask_redrive()  # held orders may resolve now
        return reply

    @rpc
    def Repull(self, request, context):
        errors = FieldErrors()
        shop = self.connector.shops.get(request.shop)
        if shop is None:
            errors.add("shop", f"one of this connector's shops: {', '.join(sorted(self.connector.shops))}")
        window = {}
        for field in ("start", "end"):
            try:
                moment = datetime.fromisoformat(getattr(request, field))
                window[field] = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
            except ValueError:
                errors.add(field, "an RFC 3339 time")
        if len(window) == 2 and window["start"] >= window["end"]:
            errors.add("end", "must be after start")
        errors.raise_if_any("the window is invalid")
        # the connector's own loop pulls (it owns the publisher); this call waits for the outcome
        stats = self.connector.call_soon(self.connector.pull, shop, window["start"], window["end"]).result(
            REPULL_TIMEOUT_SECONDS)
        return pb.RepullResponse(read=stats["read"], published=stats["published"], duplicates=stats["duplicates"],
                                 held=stats["held"], error=stats.get("error", ""))


def _checked_mapping(request: pb.MapSkuRequest) -> str:
    """The mapping's components as stored (JSON), or InvalidArgument naming what is wrong."""
    errors = FieldErrors()
    if not request.outer_sku or len(request.outer_sku) > 64:
        errors.add("outer_sku", "required, at most 64 characters")
    if not request.components:
        errors.add("components", "at least one hub SKU")
    for i, c in enumerate(request.components):
        if not c.sku or c.quantity <= 0:
            errors.add(f"components[{i}]", "a hub SKU and a quantity > 0")
    errors.raise_if_any("the mapping is invalid")
    return core.components_json([{"sku": c.sku, "quantity": c.quantity} for c in request.components])


def _upsert_mapping(s, platform: str, outer_sku: str, components: str) -> None:
    s.execute(dialect_insert(s, store.sku_mappings)
              .values(platform=platform, outer_sku=outer_sku, components=components)
              .on_conflict_do_update(index_elements=["platform", "outer_sku"], set_={"components": components}))
