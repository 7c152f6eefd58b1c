"""Books: the chart, posted vouchers, the trial balance."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gateway.routes.common import FINANCE, allowed, clients
from hubapi.accounting.v1 import accounting_service_pb2 as acc

router = APIRouter(tags=["accounting"])


def voucher_json(v) -> dict:
    return {"id": v.id, "number": v.number, "voucher_type": v.voucher_type, "period": v.period, "kind": v.kind,
            "source_type": v.source_type, "source_id": v.source_id, "business_date": v.business_date,
            "total": v.total, "posted_at": v.posted_at, "posted_by": v.posted_by, "export_status": v.export_status,
            "lines": [{"line_no": l.line_no, "account": l.account, "summary": l.summary, "debit": l.debit,
                       "credit": l.credit, "aux": l.aux} for l in v.lines]}


@router.get("/accounting/accounts")
def list_accounts(request: Request, md=allowed(FINANCE)):
    reply = clients(request).accounting.ListAccounts(acc.ListAccountsRequest(), metadata=md)
    return {"accounts": [{"code": a.code, "name": a.name, "category": a.category,
                          "normal_balance": a.normal_balance} for a in reply.accounts]}


@router.get("/accounting/vouchers")
def list_vouchers(request: Request, period: str = Query("", pattern=r"^(\d{4}-\d{2})?$"),
                  source_id: str = "", limit: int = Query(100, ge=1, le=1000), md=allowed(FINANCE)):
    reply = clients(request).accounting.ListVouchers(
        acc.ListVouchersRequest(period=period, source_id=source_id, limit=limit), metadata=md)
    return {"vouchers": [voucher_json(v) for v in reply.vouchers]}


@router.get("/accounting/trial-balance")
def trial_balance(request: Request, period: str = Query("", pattern=r"^(\d{4}-\d{2})?$"), md=allowed(FINANCE)):
    """Per account for a period (YYYY-MM, the merchant's time zone; default: this month)."""
    tb = clients(request).accounting.GetTrialBalance(acc.GetTrialBalanceRequest(period=period), metadata=md)
    return {"period": tb.period, "balanced": tb.balanced, "total_debit": tb.total_debit,
            "total_credit": tb.total_credit,
            "rows": [{"account": r.account, "name": r.name, "opening": r.opening, "debit": r.debit,
                      "credit": r.credit, "closing": r.closing} for r in tb.rows]}
