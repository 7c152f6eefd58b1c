"""The accounting api process: gRPC servicer -> handlers. Postings of business events come from
the worker; the api reads the books and takes the accounting commands (payments, settlements,
opening balances, reversals, period close)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from hubapi.accounting.v1 import accounting_service_pb2 as pb
from hubapi.accounting.v1 import accounting_service_pb2_grpc as pb_grpc
from hubkit import clock, grpc_server
from hubkit.db import Database, UnitOfWork, as_utc, pool_size
from hubkit.errors import InvalidArgument
from services.accounting import chart, export, handlers, kpis, reports
from services.accounting.models import metadata, voucher_lines, vouchers

rpc = grpc_server.rpc("accounting")


def voucher_to_proto(v: dict) -> pb.Voucher:
    return pb.Voucher(
        id=v["id"], number=v["number"], voucher_type=v["voucher_type"], period=v["period"], kind=v["kind"],
        source_type=v["source_type"], source_id=v["source_id"], business_date=v["business_date"].isoformat(),
        posted_at=v["posted_at"].isoformat(), posted_by=v["posted_by"], total=str(v["total"]),
        export_status=v["export_status"], reverses=v.get("reverses") or "",
        currency=v.get("currency") or "", exchange_rate=rate_str(v.get("exchange_rate")),
        lines=[pb.VoucherLine(line_no=l["line_no"], account=l["account"], summary=l["summary"],
                              debit=str(l["debit"]), credit=str(l["credit"]), aux=l["aux"],
                              cost_centre=l["cost_centre"]) for l in v["lines"]])


def rate_str(rate) -> str:
    """A rate as written, without the column's trailing zeros (7.12340000 -> 7.1234)."""
    return "" if rate is None else format(rate.normalize(), "f")


def rate_to_proto(r: dict, rules) -> pb.ExchangeRate:
    return pb.ExchangeRate(currency=r["currency"], valid_from=r["valid_from"].isoformat() if r["valid_from"] else "",
                           rate=rate_str(r["rate"]), base_currency=rules.base_currency)


def _as_posted(s, voucher_id: str) -> dict:
    """A voucher and its lines as the unit of work's session sees them (what list_vouchers reads)."""
    voucher = dict(s.execute(select(vouchers).where(vouchers.c.id == voucher_id)).one()._mapping)
    voucher["posted_at"] = as_utc(voucher["posted_at"])
    voucher["lines"] = [dict(l._mapping) for l in s.execute(
        select(voucher_lines).where(voucher_lines.c.voucher_id == voucher_id).order_by(voucher_lines.c.line_no))]
    return voucher


def _str(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else str(v) if v is not None else "") for k, v in row.items()}


def _text(value) -> str:
    return "" if value is None else str(value)


def _sales_proto(report: dict) -> pb.SalesReportResponse:
    def row(r: dict) -> pb.SalesRow:
        return pb.SalesRow(**{k: (v if k in ("orders", "units") else _text(v)) for k, v in r.items()})
    return pb.SalesReportResponse(**{"from": report["from"]}, to=report["to"], by=report["by"],
                                  rows=[row(r) for r in report["rows"]], total=row(report["total"]),
                                  omitted=report["omitted"])


def _abc_proto(report: dict) -> pb.CustomerAbcResponse:
    return pb.CustomerAbcResponse(
        **{"from": report["from"]}, to=report["to"], by=report["by"], a=_text(report["a"]), b=_text(report["b"]),
        rows=[pb.AbcRow(**{k: (v if k == "orders" else _text(v)) for k, v in r.items()}) for r in report["rows"]],
        classes=[pb.AbcClass(grade=c["grade"], customers=c["customers"], value=_text(c["value"]))
                 for c in report["classes"]],
        unattributed_revenue=_text(report["unattributed_revenue"]),
        unattributed_cogs=_text(report["unattributed_cogs"]), omitted=report["omitted"])


class AccountingServicer(pb_grpc.AccountingServiceServicer):
    def __init__(self, db: Database, rules):
        self.db, self.rules = db, rules

    def _command(self, context, run) -> pb.VoucherResponse:
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "accounting", actor, correlation_id) as uow:
            voucher = run(uow)
            # built before the commit: a reply that cannot be built posts nothing
            return pb.VoucherResponse(voucher=voucher_to_proto(_as_posted(uow.session, voucher["id"])))

    # -- reading the books -------------------------------------------------
    @rpc
    def ListAccounts(self, request, context):
        return pb.ListAccountsResponse(accounts=[pb.Account(**a) for a in handlers.list_accounts(self.db)])

    @rpc
    def ListVouchers(self, request, context):
        found = handlers.list_vouchers(self.db, request.source_id, request.period, request.limit, request.offset)
        return pb.ListVouchersResponse(vouchers=[voucher_to_proto(v) for v in found])

    @rpc
    def GetTrialBalance(self, request, context):
        period = request.period or clock.today().strftime("%Y-%m")
        tb = handlers.trial_balance(self.db, period)
        return pb.GetTrialBalanceResponse(
            period=tb["period"], total_debit=str(tb["total_debit"]), total_credit=str(tb["total_credit"]),
            balanced=tb["balanced"],
            rows=[pb.TrialBalanceRow(**{k: str(v) for k, v in r.items()}) for r in tb["rows"]])

    @rpc
    def GetGeneralLedger(self, request, context):
        months = reports.general_ledger(self.db, request.year or clock.today().year, request.account)
        return pb.GetGeneralLedgerResponse(months=[pb.LedgerMonth(**_str(m)) for m in months])

    @rpc
    def GetAccountDetail(self, request, context):
        detail = reports.account_detail(self.db, request.account, request.period or clock.today().strftime("%Y-%m"),
                                        request.aux)
        return pb.GetAccountDetailResponse(
            **_str({k: v for k, v in detail.items() if k not in ("lines", "aux")}),
            lines=[pb.DetailLine(**_str(l)) for l in detail["lines"]])

    @rpc
    def GetAgeing(self, request, context):
        try:
            as_of = date.fromisoformat(request.as_of) if request.as_of else clock.today()
        except ValueError:
            raise InvalidArgument("invalid as_of", [{"field": "as_of", "message": "expected YYYY-MM-DD"}])
        rows = reports.ageing(self.db, request.account, as_of)
        return pb.GetAgeingResponse(account=request.account, as_of=as_of.isoformat(), rows=[
            pb.AgeingRow(counterparty=r["aux"], balance=str(r["balance"]),
                         buckets={label: str(r[label]) for label in reports.bucket_labels()},
                         oldest_date=r["oldest_date"].isoformat() if r.get("oldest_date") else "")
            for r in rows])

    @rpc
    def GetBalances(self, request, context):
        unknown = [{"field": f"roles[{i}]", "message": f"unknown posting role {role!r}"}
                   for i, role in enumerate(request.roles) if role not in self.rules.accounts]
        if unknown:
            raise InvalidArgument("unknown posting roles", unknown)
        accounts = {role: self.rules.accounts[role] for role in request.roles}
        found = [] if request.accounts_only else reports.balances(self.db, accounts.values())  # a scan of the books
        return pb.GetBalancesResponse(accounts=accounts, base_currency=self.rules.base_currency,
                                      marketplaces=self.rules.marketplaces, balances=[
            pb.Balance(**{k: str(v) for k, v in r.items()}) for r in found])

    @rpc
    def ExportVouchers(self, request, context):
        period = request.period or clock.today().strftime("%Y-%m")
        return pb.ExportVouchersResponse(xlsx=export.period_workbook(self.db, period),
                                         filename=f"vouchers-{period}.xlsx")

    # -- sales KPIs --------------------------------------------------------
    @rpc
    def GetSalesReport(self, r, context):
        return _sales_proto(self._sales(r))

    @rpc
    def ExportSalesReport(self, r, context):
        report = self._sales(r)
        return pb.KpiExport(xlsx=kpis.sales_workbook(report),
                            filename=f"sales-by-{report['by']}-{report['from']}-{report['to']}.xlsx")

    @rpc
    def GetCustomerAbc(self, r, context):
        return _abc_proto(self._abc(r))

    @rpc
    def ExportCustomerAbc(self, r, context):
        report = self._abc(r)
        return pb.KpiExport(xlsx=kpis.abc_workbook(report),
                            filename=f"customers-abc-{report['by']}-{report['from']}-{report['to']}.xlsx")

    def _sales(self, r) -> dict:
        return kpis.sales_report(self.db, getattr(r, "from"), r.to, r.by or "day",
                                 {k: getattr(r, k) for k in kpis.FILTERS})

    def _abc(self, r) -> dict:
        return kpis.customer_abc(self.db, getattr(r, "from"), r.to, r.by or "revenue", r.a or "80", r.b or "95",
                                 {"channel": r.channel, "shop": r.shop})

    # -- commands ----------------------------------------------------------
    @rpc
    def RecordPayment(self, r, context):
        return self._command(context, lambda uow: handlers.record_payment(
            uow, r.direction, r.counterparty, r.amount, r.business_date, r.reference, self.rules))

    @rpc
    def RecordSettlement(self, r, context):
        return self._command(context, lambda uow: handlers.record_settlement(
            uow, r.channel, r.shop, r.reference, r.business_date, r.gross, r.commission, r.fees, self.rules))

    @rpc
    def ImportOpeningBalances(self, r, context):
        rows = [{"account": l.account, "debit": l.debit, "credit": l.credit, "aux": l.aux} for l in r.lines]
        return self._command(context, lambda uow: handlers.import_opening_balances(
            uow, r.business_date, rows, self.rules))

    @rpc
    def ReverseVoucher(self, r, context):
        day = r.business_date or clock.today().isoformat()
        return self._command(context, lambda uow: handlers.reverse_voucher(uow, r.voucher_id, day))

    @rpc
    def ClosePeriod(self, r, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "accounting", actor, correlation_id) as uow:
            handlers.close_period(uow, r.period)
            return pb.ClosePeriodResponse(period=r.period, closed_by=actor)


    # -- exchange rates ----------------------------------------------------
    @rpc
    def SetExchangeRate(self, r, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "accounting", actor, correlation_id) as uow:
            row = handlers.set_exchange_rate(uow, r.currency, r.valid_from, r.rate, self.rules)
            return pb.SetExchangeRateResponse(rate=rate_to_proto(row, self.rules))

    @rpc
    def ImportExchangeRates(self, r, context):
        actor, correlation_id = grpc_server.caller(context)
        rows = [{"currency": x.currency, "valid_from": x.valid_from, "rate": x.rate} for x in r.rates]
        with UnitOfWork(self.db, "accounting", actor, correlation_id) as uow:
            return pb.ImportExchangeRatesResponse(imported=handlers.import_exchange_rates(uow, rows, self.rules))

    @rpc
    def GetExchangeRate(self, r, context):
        row = handlers.applicable_rate(self.db, r.currency, r.date, self.rules)
        return pb.GetExchangeRateResponse(rate=rate_to_proto(row, self.rules))

    @rpc
    def ListExchangeRates(self, r, context):
        return pb.ListExchangeRatesResponse(rates=[rate_to_proto(x, self.rules)
                                                   for x in handlers.list_exchange_rates(self.db, r.currency)])


def main(settings) -> None:
    db = Database(settings.db_url, metadata, pool_size=pool_size(settings, grpc_server.API_THREADS),
                  prepare=settings.db_prepared_statements)
    rules, accounts = chart.rules(settings)
    handlers.ensure_chart(db, accounts)
    grpc_server.serve("accounting", settings.grpc_port,
                      lambda server: pb_grpc.add_AccountingServiceServicer_to_server(
                          AccountingServicer(db, rules), server))
