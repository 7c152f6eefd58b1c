"""The InventoryReports gRPC servicer (api process): requests -> services.inventory.reports.

Served beside InventoryService: services/inventory/grpc_server.py calls register(server, db, tz)."""
from __future__ import annotations

import json
from datetime import date, datetime

from hubapi.inventory.v1 import inventory_reports_pb2 as pb
from hubapi.inventory.v1 import inventory_reports_pb2_grpc as pb_grpc
from hubkit import clock, grpc_server
from hubkit.db import Database
from hubkit.errors import InvalidArgument
from services.inventory import reports

rpc = grpc_server.rpc("inventory")


def _s(value) -> str:
    """Proto text for a report value: ISO dates and times, decimal strings, "" for None."""
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _text(row: dict, *names: str) -> dict:
    return {name: _s(row[name]) for name in names}


class InventoryReportsServicer(pb_grpc.InventoryReportsServicer):
    def __init__(self, db: Database, tz: str | None = None):
        self.db, self.tz = db, tz

    @rpc
    def GetOnHand(self, request, context):
        rows = reports.on_hand(self.db, request.warehouse, request.sku, request.by or "bin")
        return pb.OnHandReportResponse(rows=[
            pb.OnHandReportRow(warehouse=r["warehouse"], sku=r["sku"], bin=r["bin"], lot=r["lot"],
                               quantity=r["quantity"], **_text(r, "received_at", "expires_on", "status"))
            for r in rows])

    @rpc
    def GetMovementHistory(self, request, context):
        h = reports.movement_history(self.db, request.sku, request.warehouse, request.limit or 500)
        lines = [pb.MovementReportLine(
            id=l["id"], quantity=l["quantity"], balance_quantity=l["balance_quantity"],
            **_text(l, "occurred_at", "kind", "document", "warehouse", "bin", "lot", "serial", "reason",
                    "unit_cost", "value", "reference", "actor", "balance_value")) for l in h["lines"]]
        return pb.MovementReportResponse(
            sku=h["sku"], warehouse=h["warehouse"], opening_quantity=h["opening_quantity"], omitted=h["omitted"],
            closing_quantity=h["closing_quantity"], lines=lines, **_text(h, "opening_value", "closing_value"))

    @rpc
    def GetStockAgeing(self, request, context):
        as_of = request.as_of or reports.today(self.tz)
        buckets = tuple(request.buckets) or reports.DEFAULT_BUCKETS
        rows = reports.stock_ageing(self.db, request.warehouse, as_of, buckets, self.tz)
        return pb.AgeingReportResponse(as_of=_s(as_of), rows=[
            pb.AgeingReportRow(sku=r["sku"], warehouse=r["warehouse"], quantity=r["quantity"],
                               **_text(r, "value", "oldest_received_on"),
                               buckets=[pb.AgeingReportBucket(label=b["label"], quantity=b["quantity"],
                                                              value=_s(b["value"])) for b in r["buckets"]])
            for r in rows])

    @rpc
    def GetSlowMovers(self, request, context):
        as_of = request.as_of or reports.today(self.tz)
        rows = reports.slow_movers(self.db, request.days, request.warehouse, as_of, self.tz, request.per_warehouse,
                                   request.min_value, request.min_days_in_stock, request.category)
        return pb.SlowMoverReportResponse(as_of=_s(as_of), rows=[
            pb.SlowMoverReportRow(sku=r["sku"], warehouse=r["warehouse"], quantity=r["quantity"],
                                  days_since_issue=-1 if r["days_since_issue"] is None else r["days_since_issue"],
                                  days_in_stock=-1 if r["days_in_stock"] is None else r["days_in_stock"],
                                  **_text(r, "value", "last_issue_on", "category", "oldest_received_on"))
            for r in rows])

    @rpc
    def GetTurnover(self, request, context):
        t = reports.turnover(self.db, request.date_from, request.date_to, request.by or "sku", request.warehouse,
                             self.tz, request.category)
        fields = ("key", "cogs", "opening_value", "closing_value", "average_value", "turnover", "days_of_supply")
        return pb.TurnoverReportResponse(
            date_from=_s(t["date_from"]), date_to=_s(t["date_to"]), days=t["days"], by=t["by"],
            warehouse=t["warehouse"], category=t["category"], explanation=t["explanation"],
            rows=[pb.TurnoverReportRow(**_text(r, *fields)) for r in t["rows"]],
            total=pb.TurnoverReportRow(**_text(t["total"], *fields)))

    @rpc
    def GetStockValueAt(self, request, context):
        as_of = request.as_of or clock.now().isoformat()
        rows = reports.stock_value_at(self.db, as_of, request.warehouse, self.tz)
        return pb.ValueAtReportResponse(
            as_of=as_of, total_quantity=sum(r["quantity"] for r in rows),
            total_value=_s(sum((r["value"] for r in rows), reports.ZERO)),
            rows=[pb.ValueAtReportRow(warehouse=r["warehouse"], sku=r["sku"], quantity=r["quantity"],
                                      value=_s(r["value"]), in_transit=r["in_transit"]) for r in rows])


    @rpc
    def GetSalesForecast(self, request, context):
        try:
            params = json.loads(request.params or "{}")
        except json.JSONDecodeError:
            params = None
        if not isinstance(params, dict):
            raise InvalidArgument("invalid sales forecast", [{"field": "params", "message": "expected a JSON object"}])
        f = reports.sales_forecast(self.db, request.horizon, request.method or "moving_average",
                                   request.history_days or 30, request.sku, request.warehouse, request.category,
                                   request.as_of or None, self.tz, params)
        return pb.SalesForecastReportResponse(
            as_of=_s(f["as_of"]), horizon=f["horizon"], method=f["method"], params=json.dumps(f["params"]),
            history_days=f["history_days"], history_from=_s(f["history_from"]), history_to=_s(f["history_to"]),
            warehouse=f["warehouse"],
            rows=[pb.SalesForecastReportRow(sku=r["sku"], category=r["category"], history=r["history"],
                                            history_units=r["history_units"], forecast=[_s(v) for v in r["forecast"]],
                                            total=_s(r["total"])) for r in f["rows"]])


def register(server, db: Database, tz: str | None = None) -> None:
    """Add the reports servicer to a grpc server (pass settings.timezone as tz)."""
    pb_grpc.add_InventoryReportsServicer_to_server(InventoryReportsServicer(db, tz), server)
