"""The books against the stock: per cost centre, the inventory accounts (1405 `warehouse:<code>`,
and goods in transit, cost centre `transit`) against what inventory says the stock is worth (on
hand per warehouse, and in transit). Stock and books are eventually consistent, so a difference
is first only "in flight"; it counts as diverged when the monitor finds the same difference in two
runs in a row (an event on its way changes or clears it within the interval, a lost or
dead-lettered one does not)."""
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
from hubkit import clock
from hubkit.grpc_server import ACTOR_KEY

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
TRANSIT = "transit"  # the books' cost centre of goods between the merchant's warehouses
STOCK_ROLES = ("inventory", "goods_in_transit")
STOCK_VALUE_REQUEST = inv.GetStockValueRequest()
BALANCES_REQUEST = acc.GetBalancesRequest(roles=list(STOCK_ROLES))
AGREES, IN_FLIGHT, DIVERGED = "agrees", "in_flight", "diverged"

DIFFERENCE = Gauge("hub_books_stock_difference",
                   "Inventory accounts less stock value per cost centre, where the same difference was found "
                   "by two audit runs in a row (0 otherwise)", ["cost_centre"])
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


@dataclass
class Monitor:
    """What the periodic runs found: per cost centre, a non-zero difference and when it was first
    found unchanged. Only a difference two runs in a row agree on reaches the gauge."""
    seen: dict[str, tuple[Decimal, datetime]] = field(default_factory=dict)
    last_run: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, rows: list[dict], now: datetime) -> None:
        with self.lock:
            seen = {}
            for row in rows:
                key, difference = row["cost_centre"], row["difference"]
                if difference:
                    before = self.seen.get(key)
                    seen[key] = before if before and before[0] == difference else (difference, now)
            for key in set(self.seen) | set(seen) | {r["cost_centre"] for r in rows}:
                difference, since = seen.get(key, (ZERO, now))
                DIFFERENCE.labels(key).set(float(difference) if since < now else 0.0)
            self.seen, self.last_run = seen, now
        LAST_RUN.set(now.timestamp())

    def status(self, row: dict) -> tuple[str, datetime | None]:
        """agrees; diverged (the monitor found this very difference in two runs in a row, since
        then); or in_flight (a difference nothing has confirmed yet: an event may be on its way)."""
        if not row["difference"]:
            return AGREES, None
        with self.lock:
            found = self.seen.get(row["cost_centre"])
            if found and found[0] == row["difference"] and self.last_run and found[1] < self.last_run:
                return DIVERGED, found[1]
        return IN_FLIGHT, None


def run_periodically(clients, monitor: Monitor, interval: float) -> threading.Thread:
    """Audit every `interval` seconds in a daemon thread of the gateway, for the gauge."""
    md = [(ACTOR_KEY, "books-audit")]

    def loop() -> None:
        while True:
            time.sleep(interval)
            try:
                rows = compare(clients.inventory.GetStockValue(STOCK_VALUE_REQUEST, metadata=md),
                               clients.accounting.GetBalances(BALANCES_REQUEST, metadata=md))
            except Exception as exc:  # a service restarting: try again next round
                FAILED_RUNS.inc()
                log.warning("books audit could not run: %s", exc)
                continue
            monitor.record(rows, clock.now())

    thread = threading.Thread(target=loop, name="books-audit", daemon=True)
    thread.start()
    return thread
