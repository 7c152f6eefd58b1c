"""Never oversell: 50 parallel orders of one unit against 20 in stock, through the gateway,
the broker and the workers, on PostgreSQL and on the embedded SQLite default."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.helpers import order_body, reservation_rows, stock_sku, unique, wait_settled

pytestmark = pytest.mark.e2e


def _fifty_orders_against_twenty(hub):
    sku = unique("CONC")
    with hub.client("admin") as admin:
        stock_sku(admin, sku, quantity=20)
    samples, done = [], threading.Event()

    def watch_available():
        with hub.client("warehouse") as c:
            while not done.is_set():
                samples.extend(l["available"] for l in c.get(f"/stock/{sku}").json()["levels"])

    watcher = threading.Thread(target=watch_available)
    watcher.start()
    try:
        def place(n):
            with hub.client("sales") as c:
                reply = c.post("/orders", json=order_body(sku, f"{sku}-{n}"))
                assert reply.status_code == 201, reply.text
                return reply.json()["id"]
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(place, range(50)))
        with hub.client("sales") as c:
            orders = wait_settled(c, ids)
    finally:
        done.set()
        watcher.join()

    statuses = [o["status"] for o in orders]
    assert statuses.count("reserved") == 20
    assert statuses.count("backordered") == 30
    assert all(o["lines"][0]["reservation"] == o["status"] for o in orders)
    with hub.client("warehouse") as c:
        [level] = c.get(f"/stock/{sku}").json()["levels"]
    assert (level["on_hand"], level["reserved"], level["available"]) == (20, 20, 0)
    assert samples and min(samples) >= 0
    rows = reservation_rows(hub, sku)
    assert len(rows) == 50  # one answer per line, none twice
    assert sum(r.quantity for r in rows if r.status == "reserved") == 20
    return statuses.count("reserved"), statuses.count("backordered")


def test_fifty_parallel_orders_never_oversell_on_postgresql(pg_hub):
    assert _fifty_orders_against_twenty(pg_hub) == (20, 30)


def test_fifty_parallel_orders_never_oversell_on_sqlite(sqlite_hub):
    assert _fifty_orders_against_twenty(sqlite_hub) == (20, 30)
