"""The inventory api process: gRPC servicer -> handlers."""
from __future__ import annotations

from decimal import Decimal

from hubapi.inventory.v1 import inventory_service_pb2 as pb
from hubapi.inventory.v1 import inventory_service_pb2_grpc as pb_grpc
from hubkit import grpc_server
from hubkit.db import Database, UnitOfWork
from services.inventory import handlers
from services.inventory.models import metadata

rpc = grpc_server.rpc("inventory")


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, db: Database):
        self.db = db

    def _uow(self, context) -> UnitOfWork:
        actor, correlation_id = grpc_server.caller(context)
        return UnitOfWork(self.db, "inventory", actor, correlation_id)

    @rpc
    def UpsertSku(self, request, context):
        with self._uow(context) as uow:
            created = handlers.upsert_sku(uow, request.sku.code, request.sku.name)
        return pb.UpsertSkuResponse(sku=request.sku, created=created)

    @rpc
    def GetSkus(self, request, context):
        return pb.GetSkusResponse(skus=[pb.Sku(**s) for s in handlers.known_skus(self.db, list(request.codes))])

    @rpc
    def UpsertWarehouse(self, request, context):
        w = request.warehouse
        with self._uow(context) as uow:
            created = handlers.upsert_warehouse(uow, w.code, w.name, w.priority)
        return pb.UpsertWarehouseResponse(warehouse=w, created=created)

    @rpc
    def ReceiveStock(self, request, context):
        with self._uow(context) as uow:
            movement_id, level = handlers.receive_stock(uow, request.sku, request.warehouse, request.quantity,
                                                        request.unit_cost, request.reference)
        return pb.ReceiveStockResponse(level=pb.StockLevel(**level), movement_id=movement_id)

    @rpc
    def GetStock(self, request, context):
        levels = handlers.get_stock(self.db, request.sku, request.warehouse)
        return pb.GetStockResponse(levels=[pb.StockLevel(**level) for level in levels])


    @rpc
    def GetStockValue(self, request, context):
        rows = handlers.stock_value(self.db, request.warehouse)
        total = sum((r["value"] for r in rows), start=Decimal("0.00"))
        return pb.GetStockValueResponse(
            rows=[pb.StockValueRow(warehouse=r["warehouse"], sku=r["sku"], quantity=r["quantity"],
                                   value=str(r["value"])) for r in rows], total=str(total))


    @rpc
    def AdjustStock(self, request, context):
        with self._uow(context) as uow:
            done = handlers.adjust_stock(uow, request.sku, request.warehouse, request.quantity, request.reason,
                                         request.unit_cost, request.note)
        return pb.AdjustStockResponse(adjustment_id=done["adjustment_id"], value=str(done["value"]),
                                      level=pb.StockLevel(**done["level"]))


def main(settings) -> None:
    db = Database(settings.db_url("inventory"), metadata, pool_size=settings.db_pool_size)
    grpc_server.serve("inventory", settings.grpc_ports["inventory"],
                      lambda server: pb_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(db), server))
