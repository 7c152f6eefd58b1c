"""The accounting api process: gRPC servicer -> handlers (read side; postings come from events)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hubapi.accounting.v1 import accounting_service_pb2 as pb
from hubapi.accounting.v1 import accounting_service_pb2_grpc as pb_grpc
from hubkit import grpc_server
from hubkit.db import Database
from services.accounting import chart, handlers
from services.accounting.models import metadata

rpc = grpc_server.rpc("accounting")


def voucher_to_proto(v: dict) -> pb.Voucher:
    return pb.Voucher(
        id=v["id"], number=v["number"], voucher_type=v["voucher_type"], period=v["period"], kind=v["kind"],
        source_type=v["source_type"], source_id=v["source_id"], business_date=v["business_date"].isoformat(),
        posted_at=v["posted_at"].isoformat(), posted_by=v["posted_by"], total=str(v["total"]),
        export_status=v["export_status"],
        lines=[pb.VoucherLine(line_no=l["line_no"], account=l["account"], summary=l["summary"],
                              debit=str(l["debit"]), credit=str(l["credit"]), aux=l["aux"]) for l in v["lines"]])


class AccountingServicer(pb_grpc.AccountingServiceServicer):
    def __init__(self, db: Database, timezone: str):
        self.db, self.timezone = db, timezone

    @rpc
    def ListAccounts(self, request, context):
        return pb.ListAccountsResponse(accounts=[pb.Account(**a) for a in handlers.list_accounts(self.db)])

    @rpc
    def ListVouchers(self, request, context):
        found = handlers.list_vouchers(self.db, request.source_id, request.period, request.limit)
        return pb.ListVouchersResponse(vouchers=[voucher_to_proto(v) for v in found])

    @rpc
    def GetTrialBalance(self, request, context):
        period = request.period or datetime.now(ZoneInfo(self.timezone)).strftime("%Y-%m")
        tb = handlers.trial_balance(self.db, period)
        return pb.GetTrialBalanceResponse(
            period=tb["period"], total_debit=str(tb["total_debit"]), total_credit=str(tb["total_credit"]),
            balanced=tb["balanced"],
            rows=[pb.TrialBalanceRow(**{k: str(v) for k, v in r.items()}) for r in tb["rows"]])


def main(settings) -> None:
    db = Database(settings.db_url("accounting"), metadata, pool_size=16)
    handlers.ensure_chart(db, chart.rules(settings)[1])
    grpc_server.serve("accounting", settings.grpc_ports["accounting"],
                      lambda server: pb_grpc.add_AccountingServiceServicer_to_server(
                          AccountingServicer(db, settings.timezone), server))
