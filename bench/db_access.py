"""What a unit of work costs in database access, at the handler level on PostgreSQL.

C threads each place orders as the order api does for `PlaceOrder` (a unit of work: the order, its
line and its outbox row; the order answered as written, not read back), N in all, on a fresh database. Reported: CPU
milliseconds per unit of work of this process (time.process_time: the hub's own Python and the
driver) and of the PostgreSQL backends serving it (from /proc; a backend that closed during the run
is missed, which flatters a churning pool), wall time, connections opened (pool churn), pings issued, and how the
statements met SQLAlchemy's compiled cache (hits, misses, uncacheable) after a warm-up.

    python -m bench.db_access [--orders N] [--threads C] [--pool P] [--json]

--pool defaults to what an api process keeps (hubkit.db.pool_size for C threads); HUB_TEST_*
variables point it at another PostgreSQL, as for the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import event, text

from hubkit.db import Database, UnitOfWork, pool_size
from hubkit.settings import HubSettings
from services.order import domain, handlers
from services.order.models import metadata
from tests.support import infra

WARMUP = 3  # units of work per thread before the clock runs


def _order(i: int) -> domain.PlaceOrder:
    return domain.PlaceOrder(
        channel="bench", shop="s1", external_order_id=f"B{i}-{uuid.uuid4().hex[:6]}", currency="CNY",
        buyer={"name": "Bench"}, shipping_address={"recipient": "Bench", "street": "1 Road"}, exchange_rate=None,
        lines=[domain.LineInput(sku="TEA", quantity=1, unit_price=Decimal("9.90"), amount=None, refund_status=None)])


def _backend_ticks(db: Database) -> dict[int, int]:
    """{pid: CPU clock ticks} of the PostgreSQL backends connected to this database (on this machine)."""
    with db.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        ticks = {}
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
            except OSError:
                pass
    return ticks


def run(n: int, threads: int, pool: int) -> dict:
    name = f"{infra.session_name()}_dbaccess"
    url = infra.create_databases(name, ["order"])["order"]
    try:
        db = Database(url, metadata, pool_size=pool)
        metadata.create_all(db.engine)
        opened, pings, cache = [], [], Counter()
        event.listen(db.engine, "connect", lambda *_: opened.append(1))
        real_ping = db.engine.dialect.do_ping
        db.engine.dialect.do_ping = lambda conn: pings.append(1) or real_ping(conn)  # type: ignore[method-assign]
        counting = threading.Event()

        @event.listens_for(db.engine, "after_cursor_execute")
        def _cached(_conn, _cursor, _statement, _params, context, _many):
            if counting.is_set():
                cache[context._get_cache_stats().split(" ")[0]] += 1

        def place(i: int) -> None:
            with UnitOfWork(db, "order", "bench", f"bench-{i}") as uow:
                handlers.placed_order(uow, _order(i))

        with ThreadPoolExecutor(threads) as pool_:
            list(pool_.map(place, range(threads * WARMUP)))
            opened.clear(), pings.clear()
            counting.set()
            before = _backend_ticks(db)
            cpu, wall = time.process_time(), time.perf_counter()
            list(pool_.map(place, range(n)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            after = _backend_ticks(db)
        pg_cpu = sum(t - before.get(pid, 0) for pid, t in after.items()) / os.sysconf("SC_CLK_TCK")
        db.dispose()
    finally:
        infra.drop_databases(name, ["order"])
    return {"orders": n, "threads": threads, "pool": pool, "cpu_ms_per_unit": round(cpu * 1000 / n, 3),
            "postgres_cpu_ms_per_unit": round(pg_cpu * 1000 / n, 3),
            "units_per_s": round(n / wall, 1), "connections_opened": len(opened), "pings": len(pings),
            "statements": dict(cache)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--pool", type=int, default=0, help="connections kept (default: one per thread)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.orders, args.threads, args.pool or pool_size(HubSettings(), args.threads))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
