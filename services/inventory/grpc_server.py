"""The inventory api process: gRPC servicer -> handlers. A command's reply is built inside its
unit of work, so a reply that cannot be built rolls the command back: nothing is committed and
then answered with an error."""
from __future__ import annotations

from decimal import Decimal

from google.protobuf.json_format import MessageToDict
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from hubapi.inventory.v1 import inventory_service_pb2 as pb
from hubapi.inventory.v1 import inventory_service_pb2_grpc as pb_grpc
from hubkit import commands, grpc_server, metrics
from hubkit import imports as imports_command  # services.inventory.imports is the rows themselves
from hubkit.db import Database, UnitOfWork, as_utc, pool_size
from services.inventory import (
    audit,
    catalog,
    counts,
    handlers,
    holds,
    imports,
    inspections,
    movements,
    reports,
    reports_grpc,
    reservations,
    stock,
    transfers,
    walk,
    waves,
)
from services.inventory.models import metadata

rpc = grpc_server.rpc("inventory")


def _level(level: dict) -> pb.StockLevel:
    return pb.StockLevel(**level)


def _transfer(t: dict) -> pb.Transfer:
    return pb.Transfer(transfer_id=t["transfer_id"], status=t["status"], from_warehouse=t.get("from_warehouse", ""),
                       to_warehouse=t.get("to_warehouse", ""),
                       lines=[pb.TransferLine(sku=l["sku"], quantity=l["quantity"], lot=l.get("lot", ""),
                                              bin=l.get("bin", ""), serial=l.get("serial", ""),
                                              value=str(l["value"])) for l in t["lines"]])


def _count(c: dict, pattern: str = walk.DEFAULT_PATTERN) -> pb.Count:
    """A count; its lines keep their numbers and say where each comes along the walk (bin, then SKU, lot,
    serial), the order a count sheet lists them in."""
    along = sorted(c.get("lines", []), key=lambda l: (walk.key(l["bin"], pattern), l["sku"], l["lot"], l["serial"]))
    seq = {l["line_no"]: i for i, l in enumerate(along, start=1)}
    return pb.Count(count_id=c["count_id"], status=c["status"], warehouse=c.get("warehouse", ""),
                    bins=c.get("bins", []), difference_value=str(c.get("difference_value") or ""),
                    posted_value=str(c.get("posted_value") or ""),
                    lines=[pb.CountLine(line_no=l["line_no"], sku=l["sku"], bin=l["bin"], lot=l["lot"],
                                        serial=l["serial"], expected=l["expected"], counted=l["counted"] or 0,
                                        is_counted=l["counted"] is not None,
                                        value="" if l["value"] is None else str(l["value"]),
                                        walk_seq=seq[l["line_no"]])
                           for l in c.get("lines", [])])


def _rules(rules: dict) -> pb.AllocationRules:
    return pb.AllocationRules(coverage=[pb.CoverageRow(**c) for c in rules["coverage"]],
                              shops=[pb.ShopWarehouses(**r) for r in rules["shops"]])


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, db: Database, settings):
        self.db, self.settings = db, settings

    def _uow(self, context) -> UnitOfWork:
        actor, correlation_id = grpc_server.caller(context)
        return UnitOfWork(self.db, "inventory", actor, correlation_id)

    @rpc
    def UpsertSku(self, request, context):
        k = request.sku
        with self._uow(context) as uow:
            created = catalog.upsert_sku(uow, k.code, k.name, k.base_unit, k.category, k.lot_tracked,
                                         k.serial_tracked, k.costing, list(k.barcodes),
                                         [(c.sku, c.quantity) for c in k.components])
            return pb.UpsertSkuResponse(sku=k, created=created)

    @rpc
    def GetSkus(self, request, context):
        return pb.GetSkusResponse(skus=[pb.Sku(**s) for s in catalog.known_skus(self.db, list(request.codes))])

    @rpc
    def UpsertWarehouse(self, request, context):
        w = request.warehouse
        with self._uow(context) as uow:
            created = catalog.upsert_warehouse(uow, w.code, w.name, w.priority, w.region, w.address)
            return pb.UpsertWarehouseResponse(warehouse=w, created=created)

    @rpc
    def ReceiveStock(self, request, context):
        r = request
        with self._uow(context) as uow:
            def apply() -> pb.ReceiveStockResponse:
                done = movements.receive_stock(uow, r.sku, r.warehouse, r.quantity, r.unit_cost, r.reason, r.reference,
                                               r.bin, r.lot, r.expires_on, list(r.serials))
                return pb.ReceiveStockResponse(level=_level(done["level"]), movement_id=done["movement_id"],
                                               document_id=done["document_id"])
            return commands.once(uow, context, pb.ReceiveStockResponse, apply)

    @rpc
    def CheckPurchase(self, request, context):
        lines = [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity, "unit_cost": l.unit_cost or "0",
                  "bin": l.bin, "lot": l.lot, "expires_on": l.expires_on, "serials": list(l.serials)}
                 for l in request.lines]
        with self._uow(context) as uow:
            handlers.check_purchase(uow, request.kind, request.purchase_order_id, request.warehouse, lines,
                                    inspections.Policy.of(self.settings))
            return pb.CheckPurchaseResponse()

    @rpc
    def GetStock(self, request, context):
        levels = catalog.get_stock(self.db, request.sku, request.warehouse)
        return pb.GetStockResponse(levels=[_level(level) for level in levels])

    @rpc
    def GetStockValue(self, request, context):
        rows = handlers.stock_value(self.db, request.warehouse)
        total = sum((r["value"] for r in rows), start=Decimal("0.00"))
        return pb.GetStockValueResponse(
            rows=[pb.StockValueRow(warehouse=r["warehouse"], sku=r["sku"], quantity=r["quantity"],
                                   value=str(r["value"]), in_transit=r["in_transit"]) for r in rows], total=str(total))

    @rpc
    def AdjustStock(self, request, context):
        r = request
        with self._uow(context) as uow:
            def apply() -> pb.AdjustStockResponse:
                done = movements.adjust(uow, r.sku, r.warehouse, r.quantity, r.reason, r.unit_cost, r.note, r.bin,
                                        r.lot, list(r.serials))
                return pb.AdjustStockResponse(adjustment_id=done["adjustment_id"], value=str(done["value"]),
                                              level=_level(done["level"]))
            return commands.once(uow, context, pb.AdjustStockResponse, apply)

    @rpc
    def AddBins(self, request, context):
        with self._uow(context) as uow:
            return pb.AddBinsResponse(added=catalog.add_bins(uow, request.warehouse, list(request.codes)))

    @rpc
    def SetStockLimits(self, request, context):
        r = request
        with self._uow(context) as uow:
            catalog.set_limits(uow, r.sku, r.warehouse, r.minimum, r.maximum)
            return pb.SetStockLimitsResponse()

    @rpc
    def MoveBin(self, request, context):
        r = request
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.MoveBinResponse, lambda: pb.MoveBinResponse(
                document=movements.move_bin(uow, r.sku, r.warehouse, r.from_bin, r.to_bin, r.quantity, r.lot,
                                            list(r.serials))))

    @rpc
    def ChangeKit(self, request, context):
        r = request
        with self._uow(context) as uow:
            def apply() -> pb.ChangeKitResponse:
                done = movements.assemble(uow, r.kit_sku, r.warehouse, r.quantity, r.bin, r.disassemble)
                return pb.ChangeKitResponse(document_id=done["document_id"], value=str(done["value"]),
                                            components=[pb.KitPart(sku=c["sku"], quantity=c["quantity"],
                                                                   value=str(c["value"])) for c in done["components"]])
            return commands.once(uow, context, pb.ChangeKitResponse, apply)

    @rpc
    def ShipTransfer(self, request, context):
        r = request
        lines = [{"sku": l.sku, "quantity": l.quantity, "lot": l.lot, "bin": l.bin, "serials": list(l.serials)}
                 for l in r.lines]
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.Transfer, lambda: _transfer(transfers.read(
                uow.session, transfers.ship(uow, r.from_warehouse, r.to_warehouse, lines, r.note)["transfer_id"])))

    @rpc
    def ReceiveTransfer(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.Transfer:
                transfers.receive(uow, request.transfer_id, request.bin)
                return _transfer(transfers.read(uow.session, request.transfer_id))
            # ShipTransfer answers a Transfer too: recorded under its own name
            return commands.once(uow, context, pb.Transfer, apply, command="ReceiveTransfer")

    @rpc
    def GetTransfer(self, request, context):
        return _transfer(transfers.get(self.db, request.transfer_id))

    def _lot(self, context, action, request):
        with self._uow(context) as uow:
            def apply() -> pb.LotHold:
                done = action(uow, request.sku, request.lot, request.note)
                return pb.LotHold(sku=done["sku"], lot=done["lot"], status=done["status"],
                                  quantities=[pb.LotQuantity(warehouse=w, quantity=q)
                                              for w, q in done["quantities"].items()])
            return commands.once(uow, context, pb.LotHold, apply, command=f"lot {action.__name__}")

    @rpc
    def ListInspections(self, request, context):
        found = inspections.list_tasks(self.db, request.status, request.supplier, request.sku, request.limit)
        return pb.ListInspectionsResponse(inspections=[_inspection(t) for t in found])

    @rpc
    def GetInspection(self, request, context):
        return _inspection(inspections.get(self.db, request.id))

    @rpc
    def RecordInspection(self, request, context):
        r = request
        with self._uow(context) as uow:
            def apply() -> pb.Inspection:
                return _inspection(inspections.record(uow, r.id, r.passed, r.failed, r.disposition, r.note))
            return commands.once(uow, context, pb.Inspection, apply)

    @rpc
    def HoldLot(self, request, context):
        return self._lot(context, holds.hold, request)

    @rpc
    def ReleaseLot(self, request, context):
        return self._lot(context, holds.release, request)

    @rpc
    def OpenCount(self, request, context):
        r = request
        with self._uow(context) as uow:
            def apply() -> pb.Count:
                done = counts.open_count(uow, r.warehouse, list(r.bins), list(r.skus), r.kind or "cycle", r.note)
                return _count(counts.read(uow.session, done["count_id"]), self.settings.bin_walk_pattern)
            return commands.once(uow, context, pb.Count, apply, command="OpenCount")

    @rpc
    def RecordCount(self, request, context):
        r = request
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.CountEntry, lambda: pb.CountEntry(
                **counts.record(uow, r.count_id, r.bin, r.code, r.quantity, r.replace)))

    @rpc
    def SubmitCount(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.Count:
                counts.submit(uow, request.count_id, self.settings.count_approval_limit, request.zero_uncounted)
                return _count(counts.read(uow.session, request.count_id), self.settings.bin_walk_pattern)
            return commands.once(uow, context, pb.Count, apply, command="SubmitCount")

    @rpc
    def ApproveCount(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.Count:
                counts.approve(uow, request.count_id)
                return _count(counts.read(uow.session, request.count_id), self.settings.bin_walk_pattern)
            return commands.once(uow, context, pb.Count, apply, command="ApproveCount")

    @rpc
    def CancelCount(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.Count:
                counts.cancel(uow, request.count_id)
                return _count(counts.read(uow.session, request.count_id), self.settings.bin_walk_pattern)
            return commands.once(uow, context, pb.Count, apply, command="CancelCount")

    @rpc
    def GetCount(self, request, context):
        return _count(counts.get(self.db, request.count_id), self.settings.bin_walk_pattern)

    @rpc
    def Scan(self, request, context):
        with self.db.reader() as s:
            catalog.require_warehouse(s, request.warehouse)
            found = catalog.resolve(s, request.code, request.warehouse)
            name, levels = "", []
            if found["sku"]:
                name = catalog.sku_row(s, found["sku"]).name
                levels = [stock.level(s, found["sku"], request.warehouse)]
        return pb.ScanResponse(**found, sku_name=name, levels=[_level(l) for l in levels])

    @rpc
    def Pick(self, request, context):
        r = request
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.PickResponse, lambda: pb.PickResponse(
                **reservations.pick(uow, r.order_id, r.line_no, r.warehouse, r.bin, r.code, r.quantity)))

    @rpc
    def SetAllocationRules(self, request, context):
        with self._uow(context) as uow:
            catalog.set_allocation_rules(
                uow, [{"province": c.province, "city": c.city, "warehouses": list(c.warehouses)}
                      for c in request.coverage],
                [{"channel": r.channel, "shop": r.shop, "warehouses": list(r.warehouses)} for r in request.shops])
        return _rules(catalog.get_allocation_rules(self.db))

    @rpc
    def GetAllocationRules(self, request, context):
        return _rules(catalog.get_allocation_rules(self.db))

    @rpc
    def GetAllocation(self, request, context):
        a = reservations.allocation_of(self.db, request.order_id)
        return pb.Allocation(
            order_id=a["order_id"], channel=a["channel"], shop=a["shop"], province=a["province"], city=a["city"],
            priority=a["priority"], chosen=a["chosen"], split_reason=a["split_reason"] or "", reason=a["reason"],
            decided_at=as_utc(a["decided_at"]).isoformat(),
            candidates=[pb.AllocationCandidate(**c) for c in a["candidates"]],
            lines=[_allocated_line(l) for l in a["lines"]],
            later=[pb.LaterAllocation(
                decided_at=as_utc(x["decided_at"]).isoformat(), why=x["why"], chosen=x["chosen"],
                candidates=[pb.AllocationCandidate(**c) for c in x["candidates"]],
                filled=[pb.FilledLine(**f) for f in x["filled"]], split_reason=x["split_reason"] or "",
                reason=x["reason"]) for x in a["later"]])


    @rpc
    def MoveOrder(self, request, context):
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.MoveOrderResponse, lambda: pb.MoveOrderResponse(lines=[
                _allocated_line(l) for l in reservations.move_order(uow, request.order_id, request.warehouse,
                                                                    request.note)]))

    @rpc
    def CreateWave(self, request, context):
        r, cfg = request, self.settings
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.Wave, lambda: _wave(waves.create(
                uow, r.warehouse, list(r.order_ids), cfg.wave_max_orders, cfg.wave_max_lines, r.max_orders,
                r.max_lines, cfg.bin_walk_pattern)))

    @rpc
    def GetWave(self, request, context):
        return _wave(waves.read(self.db, request.wave_id, self.settings.bin_walk_pattern))

    @rpc
    def PackWave(self, request, context):
        r = request
        with self._uow(context) as uow:
            return commands.once(uow, context, pb.PackWaveResponse, lambda: pb.PackWaveResponse(
                **waves.pack(uow, r.wave_id, r.order_id, r.code, r.quantity or 1)))

    @rpc
    def ImportRows(self, request, context):
        rows = [_import_row(r) for r in request.rows]
        with self._uow(context) as uow:
            def apply() -> pb.ImportRowsResponse:
                done = imports.apply(uow, rows, request.dry_run)
                return pb.ImportRowsResponse(
                    errors=[pb.ImportRowError(row=r, column=c, message=m) for r, c, m in done.errors],
                    applied=done.applied, unchanged=done.unchanged, dry_run=request.dry_run)
            if request.dry_run:
                return apply()  # a dry run is never recorded as the command
            return imports_command.once_unless_refused(uow, context, pb.ImportRowsResponse, apply)

    @rpc
    def AuditStock(self, request, context):
        return pb.AuditStockResponse(differences=[pb.AuditDifference(**d) for d in audit.differences(self.db)])


def _import_row(r: pb.ImportRow) -> dict:
    """An import row as imports.apply takes it: its one part as plain arguments."""
    part = r.WhichOneof("part")
    if part is None:
        return {"row": r.row, "bins": {"warehouse": "", "codes": []}}  # refused by add_bins: nothing named
    message = getattr(r, part)
    args = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    if part == "sku":
        args["components"] = [(c.sku, c.quantity) for c in message.components]
    if part == "receipt":
        args["quantity"] = message.quantity
    if part == "limits":
        args.update(minimum=message.minimum, maximum=message.maximum)
    return {"row": r.row, part: args}


def _wave(w: dict) -> pb.Wave:
    return pb.Wave(wave_id=w["wave_id"], warehouse=w["warehouse"], status=w["status"], created_by=w["created_by"],
                   created_at=w["created_at"], orders=[pb.WaveOrder(**o) for o in w["orders"]],
                   pick_list=[pb.PickListLine(**{**l, "walk": pb.BinPlace(**l["walk"]) if l["walk"] else None})
                              for l in w["pick_list"]])


def _allocated_line(l: dict) -> pb.AllocatedLine:
    return pb.AllocatedLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"], status=l["status"],
                            allocations=[pb.LotQuantity(**x) for x in l["allocations"]])


def _inspection(t: dict) -> pb.Inspection:
    return pb.Inspection(
        id=t["id"], receipt_id=t["receipt_id"], purchase_order_id=t["purchase_order_id"], line_no=t["line_no"],
        supplier=t["supplier"], warehouse=t["warehouse"], sku=t["sku"], lot=t["lot"], quantity=t["quantity"],
        status=t["status"], passed=t["passed"], failed=t["failed"], disposition=t["disposition"], note=t["note"],
        created_at=t["created_at"].isoformat(), inspected_by=t["inspected_by"] or "",
        inspected_at=t["inspected_at"].isoformat() if t["inspected_at"] else "")


def stock_gauges(db: Database, slow_days: int) -> list[GaugeMetricFamily]:
    """The stock's value and its slow part per warehouse, in the books' currency, at scrape time."""
    labels = ["warehouse", "in_transit"]
    units = GaugeMetricFamily("hub_inventory_stock_units", "Units in the cost layers, per warehouse (in transit: "
                              "travelling to it)", labels=labels)
    value = GaugeMetricFamily("hub_inventory_stock_value", "Value of the cost layers (what the inventory accounts "
                              "hold), in the books' currency", labels=labels)
    slow_units = GaugeMetricFamily("hub_inventory_slow_stock_units", f"Units received more than {slow_days} days ago "
                                   "of SKUs not sold from the warehouse since (HUB_SLOW_STOCK_DAYS)", labels=["warehouse"])
    slow_value = GaugeMetricFamily("hub_inventory_slow_stock_value", "Value of those slow units, in the books' currency",
                                   labels=["warehouse"])
    for (warehouse, in_transit), row in sorted(reports.stock_by_warehouse(db, slow_days).items()):
        units.add_metric([warehouse, str(in_transit).lower()], row["quantity"])
        value.add_metric([warehouse, str(in_transit).lower()], float(row["value"]))
        if not in_transit:
            slow_units.add_metric([warehouse], row["slow_quantity"])
            slow_value.add_metric([warehouse], float(row["slow_value"]))
    return [units, value, slow_units, slow_value]


def main(settings) -> None:
    db = Database(settings.db_url, metadata, pool_size=pool_size(settings, grpc_server.API_THREADS),
                  prepare=settings.db_prepared_statements)
    REGISTRY.register(metrics.Snapshot(lambda: stock_gauges(db, settings.slow_stock_days),
                                       settings.business_metrics_seconds))

    def register(server):
        pb_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(db, settings), server)
        reports_grpc.register(server, db, settings.timezone)

    grpc_server.serve("inventory", settings.grpc_port, register)
