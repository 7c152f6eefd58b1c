"""Books: the chart, posted vouchers, the trial balance."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from gateway.areas.accounting.presenters import (
    account_detail_json,
    account_json,
    ageing_json,
    exchange_rate_json,
    trial_balance_json,
)
from gateway.areas.accounting.schemas import (
    AccountDetail,
    Accounts,
    Ageing,
    ClosedPeriod,
    ExchangeRate,
    ExchangeRateIn,
    ExchangeRates,
    GeneralLedger,
    OpeningIn,
    PaymentIn,
    ReversalIn,
    SettlementIn,
    TrialBalance,
    Vouchers,
)
from gateway.common.access import FINANCE, allowed, clients
from gateway.common.presenters import scalars, voucher_json
from gateway.common.schemas import OPT_DAY, OPT_PERIOD, Voucher
from hubapi.accounting.v1 import accounting_service_pb2 as acc

PERIOD = Query("", pattern=OPT_PERIOD, description="YYYY-MM; default: this month")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(tags=["accounting"])


@router.get("/accounting/accounts", response_model=Accounts)
def list_accounts(request: Request, md=allowed(FINANCE)):
    reply = clients(request).accounting.ListAccounts(acc.ListAccountsRequest(), metadata=md)
    return {"accounts": [account_json(a) for a in reply.accounts]}


@router.get("/accounting/vouchers", response_model=Vouchers)
def list_vouchers(request: Request, period: str = Query("", pattern=OPT_PERIOD),
                  source_id: str = "", limit: int = Query(100, ge=1, le=1000), md=allowed(FINANCE)):
    reply = clients(request).accounting.ListVouchers(
        acc.ListVouchersRequest(period=period, source_id=source_id, limit=limit), metadata=md)
    return {"vouchers": [voucher_json(v) for v in reply.vouchers]}


@router.get("/accounting/trial-balance", response_model=TrialBalance)
def trial_balance(request: Request, period: str = Query("", pattern=OPT_PERIOD), md=allowed(FINANCE)):
    """Per account for a period (YYYY-MM, the merchant's time zone; default: this month)."""
    tb = clients(request).accounting.GetTrialBalance(acc.GetTrialBalanceRequest(period=period), metadata=md)
    return trial_balance_json(tb)


@router.get("/accounting/general-ledger", response_model=GeneralLedger)
def general_ledger(request: Request, year: int = Query(0, ge=0, le=9999), account: str = "", md=allowed(FINANCE)):
    """总账: per account and month, opening, debits, credits, closing and the year so far."""
    reply = clients(request).accounting.GetGeneralLedger(acc.GetGeneralLedgerRequest(year=year, account=account),
                                                         metadata=md)
    return {"months": [scalars(m) for m in reply.months]}


@router.get("/accounting/accounts/{account}/detail", response_model=AccountDetail)
def account_detail(account: str, request: Request, period: str = PERIOD, aux: str = "", md=allowed(FINANCE)):
    """明细账: every line on the account in the period, with the running balance."""
    reply = clients(request).accounting.GetAccountDetail(
        acc.GetAccountDetailRequest(account=account, period=period, aux=aux), metadata=md)
    return account_detail_json(reply)


@router.get("/accounting/ageing/{account}", response_model=Ageing)
def ageing(account: str, request: Request, as_of: str = Query("", pattern=OPT_DAY),
           md=allowed(FINANCE)):
    """Receivable (1122) or payable (2202) ageing per customer, platform or supplier."""
    reply = clients(request).accounting.GetAgeing(acc.GetAgeingRequest(account=account, as_of=as_of), metadata=md)
    return ageing_json(reply)


@router.get("/accounting/vouchers.xlsx", response_class=Response,
            responses={200: {"description": "an Excel workbook, as an attachment",
                             "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def export_vouchers(request: Request, period: str = PERIOD, md=allowed(FINANCE)):
    """The period's vouchers as an Excel workbook in the layout ledger imports expect."""
    reply = clients(request).accounting.ExportVouchers(acc.ExportVouchersRequest(period=period), metadata=md)
    return Response(reply.xlsx, media_type=XLSX,
                    headers={"content-disposition": f'attachment; filename="{reply.filename}"'})


@router.post("/accounting/payments", status_code=201, response_model=Voucher)
def record_payment(body: PaymentIn, request: Request, md=allowed(FINANCE)):
    """Money received from a customer or platform, or paid to a supplier (the bank reference makes it one)."""
    reply = clients(request).accounting.RecordPayment(acc.RecordPaymentRequest(**body.model_dump()), metadata=md)
    return voucher_json(reply.voucher)


@router.post("/accounting/settlements", status_code=201, response_model=Voucher)
def record_settlement(body: SettlementIn, request: Request, md=allowed(FINANCE)):
    """A marketplace pays out what it collected less commission and fees."""
    reply = clients(request).accounting.RecordSettlement(acc.RecordSettlementRequest(**body.model_dump()),
                                                         metadata=md)
    return voucher_json(reply.voucher)


@router.post("/accounting/opening-balances", status_code=201, response_model=Voucher)
def import_opening_balances(body: OpeningIn, request: Request, md=allowed(FINANCE)):
    reply = clients(request).accounting.ImportOpeningBalances(acc.ImportOpeningBalancesRequest(
        business_date=body.business_date, lines=[acc.OpeningBalance(**l.model_dump()) for l in body.lines]),
        metadata=md)
    return voucher_json(reply.voucher)


@router.post("/accounting/vouchers/{voucher_id}/reversal", status_code=201, response_model=Voucher)
def reverse_voucher(voucher_id: str, body: ReversalIn, request: Request, md=allowed(FINANCE)):
    """Posted vouchers never change: a correction is a reversal, then the right voucher."""
    reply = clients(request).accounting.ReverseVoucher(
        acc.ReverseVoucherRequest(voucher_id=voucher_id, business_date=body.business_date), metadata=md)
    return voucher_json(reply.voucher)


@router.post("/accounting/periods/{period}/close", response_model=ClosedPeriod)
def close_period(period: str, request: Request, md=allowed(FINANCE)):
    """Nothing posts into a closed period afterwards."""
    reply = clients(request).accounting.ClosePeriod(acc.ClosePeriodRequest(period=period), metadata=md)
    return {"period": reply.period, "status": "closed", "closed_by": reply.closed_by}


@router.post("/accounting/exchange-rates", status_code=201, response_model=ExchangeRate)
def set_exchange_rate(body: ExchangeRateIn, request: Request, md=allowed(FINANCE)):
    """A rate to the books' currency, valid from a day until the currency's next rate: orders and purchase
    orders in that currency are accepted at the rate of their day, and their vouchers converted at it.
    The same currency and day again replaces the rate for documents accepted afterwards."""
    reply = clients(request).accounting.SetExchangeRate(acc.SetExchangeRateRequest(**body.model_dump()), metadata=md)
    return exchange_rate_json(reply.rate)


@router.get("/accounting/exchange-rates", response_model=ExchangeRates)
def list_exchange_rates(request: Request, currency: str = Query("", pattern=r"^([A-Z]{3})?$"), md=allowed(FINANCE)):
    """The rates kept, newest first per currency."""
    reply = clients(request).accounting.ListExchangeRates(acc.ListExchangeRatesRequest(currency=currency), metadata=md)
    return {"rates": [exchange_rate_json(r) for r in reply.rates]}
