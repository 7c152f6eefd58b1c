"""The books against the stock and the documents: per cost centre, the inventory accounts (1405
`warehouse:<code>`, and goods in transit, cost centre `transit`) against what inventory says the
stock is worth (on hand per warehouse, and in transit); per supplier, the payable against the
open documents (what procurement received less what went back, less what accounting paid); per
debtor, the receivable against the open sales (what the order service shipped less what came back,
less what accounting received or a marketplace settled).
Books and the other services are eventually consistent, so a difference is first only "in
flight"; it counts as diverged when the monitor finds the same difference in two runs in a row
(an event on its way changes or clears it within the interval, a lost or dead-lettered one does
not)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from prometheus_client import Counter, Gauge

from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubapi.procurement.v1 import procurement_service_pb2 as proc
from hubkit import clock
from hubkit.grpc_server import ACTOR_KEY

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
TRANSIT = "transit"  # the books' cost centre of goods between the merchant's warehouses
STOCK_ROLES = ("inventory", "goods_in_transit")
STOCK_VALUE_REQUEST = inv.GetStockValueRequest()
BALANCES_REQUEST = acc.GetBalancesRequest(roles=[*STOCK_ROLES, "payable", "receivable"])
PAYABLES_REQUEST = proc.GetPayablesRequest()
AGREES, IN_FLIGHT, DIVERGED, NOT_COMPARED = "agrees", "in_flight", "diverged", "not_compared"
KEYS = {"inventory": "cost_centre", "payables": "counterparty", "receivables": "counterparty"}  # a row's name

DIFFERENCE = Gauge("hub_books_stock_difference",
                   "Inventory accounts less stock value per cost centre, where the same difference was found "
                   "by two audit runs in a row (0 otherwise)", ["cost_centre"])
DOCUMENTS_DIFFERENCE = Gauge("hub_books_documents_difference",
                             "Payable (receivable) less the open purchase (sales) documents, summed over the "
                             "counterparties whose difference two audit runs in a row found unchanged (0 otherwise)",
                             ["account"])
LAST_RUN = Gauge("hub_books_audit_last_run_timestamp_seconds", "When the books-against-stock audit last ran")
FAILED_RUNS = Counter("hub_books_audit_failures_total", "Audit runs that could not read the books or the stock")


def cost_centre(warehouse: str) -> str:
    return f"warehouse:{warehouse}"


def compare(stock_value, balances) -> list[dict]:
    """Rows {cost_centre, warehouse, books, stock, difference (books - stock)} from a
    GetStockValueResponse and a GetBalancesResponse (of STOCK_ROLES): warehouses by code, then
    goods in transit, then any other cost centre the inventory accounts carry (an opening balance
    booked without one, say)."""
    stock: dict[str, Decimal] = {TRANSIT: ZERO}
    for row in stock_value.rows:
        key = TRANSIT if row.in_transit else cost_centre(row.warehouse)
        stock[key] = stock.get(key, ZERO) + Decimal(row.value)
    accounts = {balances.accounts[role] for role in STOCK_ROLES}
    books: dict[str, Decimal] = {}
    for b in balances.balances:
        if b.account in accounts:
            books[b.cost_centre] = books.get(b.cost_centre, ZERO) + Decimal(b.balance)

    def order(key: str):
        return (0 if key.startswith("warehouse:") else 1 if key == TRANSIT else 2, key)

    rows = []
    for key in sorted(set(stock) | set(books), key=order):
        held, valued = books.get(key, ZERO), stock.get(key, ZERO)
        rows.append({"cost_centre": key, "warehouse": key.removeprefix("warehouse:") if order(key)[0] == 0 else "",
                     "books": held, "stock": valued, "difference": held - valued})
    return rows


def compare_payables(balances, payables) -> list[dict]:
    """Rows {account, counterparty, books, documents, difference} per supplier from a
    GetBalancesResponse (with the payable role) and a GetPayablesResponse. books: the payable's
    balance (credit-positive); documents: the open documents, what procurement received less what
    went back to the supplier, less what accounting's own documents settled (payments) or opened
    (opening balances). A supplier with purchases in another currency than the books' is listed with
    difference None: converting it is the books' business."""
    received: dict[str, Decimal] = {}
    foreign = set()
    for p in payables.payables:
        key = f"supplier:{p.supplier}"
        if p.currency != balances.base_currency:  # converted by the books at its rate: not compared
            foreign.add(key)
        received[key] = received.get(key, ZERO) + Decimal(p.received) - Decimal(p.returned)
    return _against_documents(balances, "payable", -1, received, foreign)


def compare_receivables(balances, receivables) -> list[dict]:
    """Rows {account, counterparty, books, documents, difference} per debtor from a
    GetBalancesResponse (with the receivable role) and a GetReceivablesResponse. books: the
    receivable's balance (debit-positive); documents: the open sales, what the shipped orders were
    paid less what came back, less what accounting's own documents received (payments, marketplace
    settlements) and plus what they opened (opening balances). A debtor with orders in another
    currency than the books' and no rate of their own is listed with difference None: the books
    converted them at a rate of theirs."""
    sold: dict[str, Decimal] = {}
    foreign = set()
    for r in receivables.receivables:
        if r.currency != balances.base_currency and not r.converted:
            foreign.add(r.counterparty)
        sold[r.counterparty] = sold.get(r.counterparty, ZERO) + Decimal(r.shipped) - Decimal(r.returned)
    return _against_documents(balances, "receivable", 1, sold, foreign)


def _against_documents(balances, role: str, sign: int, open_documents: dict[str, Decimal],
                       foreign: set[str]) -> list[dict]:
    """The account of `role` per counterparty against what its open documents say, both counted on the
    account's normal side (`sign` 1: debit, -1: credit). Accounting's own documents (payments,
    settlements, opening balances) count on the documents' side as they were booked: money paid or
    received leaves less owed."""
    account = balances.accounts[role]
    books: dict[str, Decimal] = {}
    own: dict[str, Decimal] = {}
    for b in balances.balances:
        if b.account == account:
            books[b.aux] = books.get(b.aux, ZERO) + sign * Decimal(b.balance)
            own[b.aux] = own.get(b.aux, ZERO) + sign * Decimal(b.own_documents)
    rows = []
    for key in sorted(set(books) | set(open_documents)):
        held = books.get(key, ZERO)
        documents = open_documents.get(key, ZERO) + own.get(key, ZERO)
        rows.append({"account": account, "counterparty": key, "books": held, "documents": documents,
                     "difference": None if key in foreign else held - documents})
    return rows


@dataclass
class Monitor:
    """What the periodic runs found: per part (inventory, payables, receivables) and row, a non-zero
    difference and when it was first found unchanged. Only a difference two runs in a row agree on
    reaches the gauges."""
    seen: dict[tuple[str, str], tuple[Decimal, datetime]] = field(default_factory=dict)
    last_run: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, found: dict[str, list[dict]], now: datetime) -> None:
        with self.lock:
            seen = {}
            for part, rows in found.items():
                for row in rows:
                    key, difference = (part, row[KEYS[part]]), row["difference"]
                    if difference:
                        before = self.seen.get(key)
                        seen[key] = before if before and before[0] == difference else (difference, now)
            diverged = {key: d for key, (d, since) in seen.items() if since < now}
            for cost_centre in {k for p, k in (*self.seen, *seen) if p == "inventory"} | \
                    {r["cost_centre"] for r in found.get("inventory", [])}:
                DIFFERENCE.labels(cost_centre).set(float(diverged.get(("inventory", cost_centre), ZERO)))
            totals: dict[str, Decimal] = {}
            for part in ("payables", "receivables"):
                for row in found.get(part, []):
                    d = diverged.get((part, row["counterparty"]), ZERO)
                    totals[row["account"]] = totals.get(row["account"], ZERO) + d
            for account, total in totals.items():
                DOCUMENTS_DIFFERENCE.labels(account).set(float(total))
            self.seen, self.last_run = seen, now
        LAST_RUN.set(now.timestamp())

    def status(self, part: str, row: dict) -> tuple[str, datetime | None]:
        """agrees; not_compared (no difference to tell); diverged (the monitor found this very
        difference in two runs in a row, since then); or in_flight (a difference nothing has
        confirmed yet: an event may be on its way)."""
        if row["difference"] is None:
            return NOT_COMPARED, None
        if not row["difference"]:
            return AGREES, None
        with self.lock:
            found = self.seen.get((part, row[KEYS[part]]))
            if found and found[0] == row["difference"] and self.last_run and found[1] < self.last_run:
                return DIVERGED, found[1]
        return IN_FLIGHT, None


def audit(clients, md) -> dict:
    """Every comparison, now: {"inventory": rows, "payables": rows, "receivables": rows,
    "accounts": {role: code}}."""
    balances = clients.accounting.GetBalances(BALANCES_REQUEST, metadata=md)
    sales = clients.order.GetReceivables(ordpb.GetReceivablesRequest(marketplaces=balances.marketplaces), metadata=md)
    return {"inventory": compare(clients.inventory.GetStockValue(STOCK_VALUE_REQUEST, metadata=md), balances),
            "payables": compare_payables(balances, clients.procurement.GetPayables(PAYABLES_REQUEST, metadata=md)),
            "receivables": compare_receivables(balances, sales),
            "accounts": {role: balances.accounts[role] for role in BALANCES_REQUEST.roles}}


def run_periodically(clients, monitor: Monitor, interval: float) -> threading.Thread:
    """Audit every `interval` seconds in a daemon thread of the gateway, for the gauge."""
    md = [(ACTOR_KEY, "books-audit")]

    def loop() -> None:
        while True:
            time.sleep(interval)
            try:
                found = audit(clients, md)
            except Exception as exc:  # a service restarting: try again next round
                FAILED_RUNS.inc()
                log.warning("books audit could not run: %s", exc)
                continue
            monitor.record({part: found[part] for part in KEYS}, clock.now())

    thread = threading.Thread(target=loop, name="books-audit", daemon=True)
    thread.start()
    return thread
