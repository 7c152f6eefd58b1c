"""`hub ledger reconcile --period YYYY-MM`: the hub's vouchers against the ledger's, per account
and per voucher; every difference listed.

The ledger's side is read from the ledger where its API documents a read (Kingdee
ExecuteBillQuery). U8's OpenAPI documents none (docs/EXTERNAL_APIS.md section 4.1), so for U8
the ledger's side is what U8 itself confirmed to voucher/add, and the report says so.

In summary mode (connectors/ledgers/summary.py) the ledger holds summary vouchers: the accounts
compare the hub's detail with them just the same (a summary voucher keeps every account's debits
and credits), and a hub voucher is missing when the summary voucher it went into is (or when it
is not summed yet)."""
from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import grpc
from sqlalchemy import select

from connectors.ledgers import clients, mapping, store
from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.accounting.v1 import accounting_service_pb2_grpc as acc_grpc
from hubkit.db import Database

PAGE = 1000
READ_FROM_LEDGER, CONFIRMED_PUSHES = "ledger", "confirmed_pushes"  # the report's basis
NOTES = {CONFIRMED_PUSHES: "this ledger's API documents no call that reads vouchers back: its side is the "
                           "vouchers it confirmed to the connector's pushes, as sent (accounts mapped as now); "
                           "vouchers entered, changed or deleted inside the ledger are not seen"}


def hub_vouchers(accounting_target: str, period: str) -> list:
    with grpc.insecure_channel(accounting_target) as channel:
        stub, found, offset = acc_grpc.AccountingServiceStub(channel), [], 0
        while True:
            page = stub.ListVouchers(acc.ListVouchersRequest(period=period, limit=PAGE, offset=offset),
                                     metadata=[("x-hub-actor", "ledger-reconcile")], timeout=30).vouchers
            found.extend(page)
            if len(page) < PAGE:
                return found
            offset += PAGE


def _totals(lines) -> dict:
    out: dict[str, list[Decimal]] = {}
    for account, debit, credit in lines:
        pair = out.setdefault(account, [Decimal("0.00"), Decimal("0.00")])
        pair[0] += Decimal(str(debit))
        pair[1] += Decimal(str(credit))
    return out


def confirmed_pushes(db: Database, ledger: str, period: str, overrides: dict) -> list[dict]:
    """The vouchers of `period` the ledger confirmed, as the connector sent them, in the shape of
    a client's vouchers_for_period: the ledger's side where it cannot be read."""
    p, v = store.pushes, store.vouchers
    with db.reader() as s:
        rows = s.execute(select(p.c.ledger_ref, p.c.external_number, v.c.body)
                         .join(v, v.c.voucher_id == p.c.voucher_id)
                         .where(p.c.ledger == ledger, p.c.status == store.CONFIRMED, v.c.period == period)).all()
    return [{"ref": ref, "external_number": number,
             "lines": [{"account": mapping.account_for(ledger, line["account"], overrides),
                        "debit": line["debit"], "credit": line["credit"]} for line in json.loads(body)["lines"]]}
            for ref, number, body in rows]


def summary_numbers(db: Database, ledger: str, period: str) -> dict[str, str]:
    """Hub voucher number -> the external number of the summary voucher it went into."""
    member, summary, v = store.pushes.alias("member"), store.pushes.alias("summary"), store.vouchers
    with db.reader() as s:
        return dict(s.execute(
            select(v.c.number, summary.c.external_number)
            .join(member, member.c.voucher_id == v.c.voucher_id)
            .join(summary, (summary.c.ledger == member.c.ledger) & (summary.c.voucher_id == member.c.summary_id))
            .where(member.c.ledger == ledger, v.c.period == period)).all())


def reconcile(db: Database, accounting_target: str, ledger: str, config, period: str) -> dict:
    """The hub's vouchers of `period` (from accounting) against the ledger's, per account in the
    ledger's chart, and by external number: missing, duplicated, unknown to the hub."""
    m = store.account_mappings
    with db.reader() as s:
        overrides = dict(s.execute(select(m.c.hub_account, m.c.ledger_account).where(m.c.ledger == ledger)).all())
    hub = hub_vouchers(accounting_target, period)
    summed = summary_numbers(db, ledger, period)
    # each hub voucher by the external number the ledger knows it under: its own, or its summary's
    hub_numbers = {v.number: summed.get(v.number) or mapping.external_number({"number": v.number, "period": v.period})
                   for v in hub}
    hub_totals = _totals((mapping.account_for(ledger, l.account, overrides), l.debit, l.credit)
                         for v in hub for l in v.lines)
    if clients.CLIENTS[ledger].reads_vouchers:
        basis, client = READ_FROM_LEDGER, clients.make(ledger, config)
        try:
            theirs = client.vouchers_for_period(period)
        finally:
            client.close()
    else:
        basis, theirs = CONFIRMED_PUSHES, confirmed_pushes(db, ledger, period, overrides)
    ledger_totals = _totals((l["account"], l["debit"], l["credit"]) for v in theirs for l in v["lines"])
    seen = Counter(v["external_number"] for v in theirs)
    known = set(hub_numbers.values())
    accounts = []
    for account in sorted(set(hub_totals) | set(ledger_totals)):
        h = hub_totals.get(account, [Decimal("0.00")] * 2)
        l_ = ledger_totals.get(account, [Decimal("0.00")] * 2)
        if h != l_:
            accounts.append({"account": account, "hub_debit": str(h[0]), "hub_credit": str(h[1]),
                             "ledger_debit": str(l_[0]), "ledger_credit": str(l_[1])})
    report = {
        "ledger": ledger, "period": period, "basis": basis, "note": NOTES.get(basis, ""),
        "hub_vouchers": len(hub), "ledger_vouchers": len(theirs),
        "account_differences": accounts,
        "missing_in_ledger": sorted(mapping.external_number({"number": number, "period": period})
                                    for number, known_as in hub_numbers.items() if known_as not in seen),
        "duplicated_in_ledger": sorted(n for n, count in seen.items() if count > 1 and n),
        "unknown_to_hub": sorted(n or "(no external number)" for n in seen if n not in known),
    }
    report["matches"] = not (accounts or report["missing_in_ledger"] or report["duplicated_in_ledger"]
                             or report["unknown_to_hub"])
    return report
