"""The external ledgers: where vouchers stand, the ones a ledger refused, and the fixes."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gateway.areas.ledger.schemas import AccountMapping, AccountMappingIn, AccountMappings, LedgerStatuses, Push, Pushes
from gateway.common.access import FINANCE, allowed, clients
from gateway.common.presenters import scalars
from hubapi.ledger.v1 import ledger_service_pb2 as led

router = APIRouter(tags=["ledger"])


@router.get("/ledger/status", response_model=LedgerStatuses)
def ledger_status(request: Request, md=allowed(FINANCE)):
    reply = clients(request).ledger.GetStatus(led.GetStatusRequest(), metadata=md)
    return {"ledgers": [scalars(l) for l in reply.ledgers]}


@router.get("/ledger/pushes", response_model=Pushes)
def list_pushes(request: Request, ledger: str = "", status: str = Query("", pattern=r"^(pending|pushing|confirmed|rejected)?$"),
                limit: int = Query(100, ge=1, le=1000), md=allowed(FINANCE)):
    """`?status=rejected` is the exception list: each with the ledger's own message."""
    reply = clients(request).ledger.ListPushes(led.ListPushesRequest(ledger=ledger, status=status, limit=limit),
                                               metadata=md)
    return {"pushes": [scalars(p) for p in reply.pushes]}


@router.post("/ledger/pushes/{ledger}/{voucher_id}/retry", response_model=Push)
def retry_push(ledger: str, voucher_id: str, request: Request, md=allowed(FINANCE)):
    """Send a rejected voucher again once its cause is fixed."""
    reply = clients(request).ledger.RetryPush(led.RetryPushRequest(ledger=ledger, voucher_id=voucher_id), metadata=md)
    return scalars(reply.push)


@router.put("/ledger/mappings/{ledger}/{hub_account}", response_model=AccountMapping)
def set_account_mapping(ledger: str, hub_account: str, body: AccountMappingIn, request: Request,
                        md=allowed(FINANCE)):
    """Which of the ledger's accounts a hub account goes to (default: the same code, dotted for Kingdee)."""
    reply = clients(request).ledger.SetAccountMapping(led.SetAccountMappingRequest(mapping=led.AccountMapping(
        ledger=ledger, hub_account=hub_account, ledger_account=body.ledger_account)), metadata=md)
    return scalars(reply.mapping)


@router.get("/ledger/mappings", response_model=AccountMappings)
def list_account_mappings(request: Request, ledger: str = "", md=allowed(FINANCE)):
    reply = clients(request).ledger.ListAccountMappings(led.ListAccountMappingsRequest(ledger=ledger), metadata=md)
    return {"mappings": [scalars(m) for m in reply.mappings]}
