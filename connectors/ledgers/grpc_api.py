"""The connector's gRPC API, for the gateway: status, pushes, re-push, account mappings."""
from __future__ import annotations

import re

from sqlalchemy import select

from connectors.ledgers import pusher, reconcile, store, summary
from hubapi.ledger.v1 import ledger_service_pb2 as pb
from hubapi.ledger.v1 import ledger_service_pb2_grpc as pb_grpc
from hubkit import clock, grpc_server
from hubkit.db import Database, as_utc, dialect_insert
from hubkit.errors import FieldErrors

rpc = grpc_server.rpc("ledger")


def push_to_proto(row) -> pb.Push:
    return pb.Push(ledger=row.ledger, voucher_id=row.voucher_id, voucher_number=row.number, period=row.period,
                   external_number=row.external_number, status=row.status, save_calls=row.save_calls,
                   lookups=row.lookups, ledger_ref=row.ledger_ref or "", last_error=row.last_error or "",
                   updated_at=as_utc(row.updated_at).isoformat())


class LedgerServicer(pb_grpc.LedgerServiceServicer):
    def __init__(self, db: Database, configs: dict, accounting_target: str, wake=lambda: None):
        self.db, self.configs, self.accounting_target = db, configs, accounting_target
        self.wake = wake  # the connector's loop pushes what was re-pushed at once
        self.ledgers = tuple(configs)

    def _check_ledger(self, ledger: str) -> None:
        if ledger not in self.ledgers:
            errors = FieldErrors()
            errors.add("ledger", f"one of the ledgers in use: {', '.join(self.ledgers) or 'none configured'}")
            errors.raise_if_any("unknown ledger")

    def _pushes(self, ledger="", status="", voucher_id="", limit=100):
        p, v = store.pushes, store.vouchers
        query = (select(p, v.c.number, v.c.period).join(v, v.c.voucher_id == p.c.voucher_id)
                 .order_by(p.c.updated_at.desc()).limit(max(1, min(limit or 100, 1000))))
        for column, value in ((p.c.ledger, ledger), (p.c.status, status), (p.c.voucher_id, voucher_id)):
            if value:
                query = query.where(column == value)
        with self.db.reader() as s:
            return s.execute(query).all()

    @rpc
    def GetStatus(self, request, context):
        return pb.GetStatusResponse(ledgers=[
            pb.LedgerStatus(**pusher.status(self.db, ledger, summary.grace_of(self.configs[ledger]) is not None))
            for ledger in self.ledgers])

    @rpc
    def ListPushes(self, request, context):
        return pb.ListPushesResponse(pushes=[push_to_proto(r) for r in self._pushes(
            request.ledger, request.status, limit=request.limit)])

    @rpc
    def RetryPush(self, request, context):
        self._check_ledger(request.ledger)
        pusher.retry_rejected(self.db, request.ledger, request.voucher_id)
        [row] = self._pushes(request.ledger, voucher_id=request.voucher_id)
        self.wake()
        return pb.RetryPushResponse(push=push_to_proto(row))

    @rpc
    def SetAccountMapping(self, request, context):
        m = request.mapping
        self._check_ledger(m.ledger)
        errors = FieldErrors()
        for field in ("hub_account", "ledger_account"):
            value = getattr(m, field)
            if not value or len(value) > 32 or not all(c.isalnum() or c == "." for c in value):
                errors.add(f"mapping.{field}", "an account code: letters, digits and dots, at most 32")
        errors.raise_if_any("the mapping is invalid")
        actor, _ = grpc_server.caller(context)
        t = store.account_mappings
        with self.db.session() as s:
            s.execute(dialect_insert(s, t).values(ledger=m.ledger, hub_account=m.hub_account,
                                                  ledger_account=m.ledger_account, updated_by=actor,
                                                  updated_at=clock.now())
                      .on_conflict_do_update(index_elements=["ledger", "hub_account"],
                                             set_={"ledger_account": m.ledger_account, "updated_by": actor,
                                                   "updated_at": clock.now()}))
        return pb.SetAccountMappingResponse(mapping=pb.AccountMapping(
            ledger=m.ledger, hub_account=m.hub_account, ledger_account=m.ledger_account, updated_by=actor))

    @rpc
    def Reconcile(self, request, context):
        self._check_ledger(request.ledger)
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", request.period):
            errors = FieldErrors()
            errors.add("period", "a month, YYYY-MM")
            errors.raise_if_any("invalid period")
        r = reconcile.reconcile(self.db, self.accounting_target, request.ledger, self.configs[request.ledger],
                                request.period)
        return pb.ReconcileResponse(
            ledger=r["ledger"], period=r["period"], hub_vouchers=r["hub_vouchers"],
            ledger_vouchers=r["ledger_vouchers"], matches=r["matches"], basis=r["basis"], note=r["note"],
            account_differences=[pb.AccountDifference(**a) for a in r["account_differences"]],
            missing_in_ledger=r["missing_in_ledger"], duplicated_in_ledger=r["duplicated_in_ledger"],
            unknown_to_hub=r["unknown_to_hub"])

    @rpc
    def ListAccountMappings(self, request, context):
        t = store.account_mappings
        query = select(t).order_by(t.c.ledger, t.c.hub_account)
        if request.ledger:
            query = query.where(t.c.ledger == request.ledger)
        with self.db.reader() as s:
            return pb.ListAccountMappingsResponse(mappings=[
                pb.AccountMapping(ledger=r.ledger, hub_account=r.hub_account, ledger_account=r.ledger_account,
                                  updated_by=r.updated_by) for r in s.execute(query).all()])
