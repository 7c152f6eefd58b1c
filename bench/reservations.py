"""How fast the inventory stock engine reserves orders at the handler level, against raw conditional UPDATEs.

No broker, no gateway, no worker: C threads each open a unit of work and call
services.inventory.reservations.reserve_orders with order_placed envelopes for 1-line orders
(quantity 1..3), `--batch` of them per unit of work (default 1), as the inventory worker does for
what arrived together. Two stock layouts:

* hot:    one SKU in two warehouses (60% / 40% of the units), stocked for about half the demand,
          so whole lines, lines split across the warehouses, partly reserved lines and
          backordered lines all occur, and every order contends for the same two rows;
* spread: 50 SKUs, each in the same two warehouses, stocked the same way (demand spread evenly).

Raw baseline, in the same run, from the same threads and pool: as many single-row conditional
UPDATEs (UPDATE stock_levels SET reserved = reserved + 1 WHERE ... AND on_hand - reserved >= 1),
each in its own transaction on a DBAPI connection, against one row (hot) or 50 rows (spread),
stocked so about half of them win. ratio = engine reservations/s / raw UPDATEs/s.

After each run the bench checks what rule 3 promises for that run's SKUs: units allocated beyond
what a warehouse holds (oversold, must be 0), balance rows whose `reserved` differs from the
allocations, and units that were free but refused (underfilled); audit.differences at the end.

    python -m bench.reservations [--db postgresql|sqlite] [--orders N] [--threads C] [--runs R]
                                 [--mode hot|spread|both] [--batch B] [--json]

PostgreSQL: a fresh database (tests.support.infra naming, so leftovers of a cut-off run are
removed by the next) is created and dropped; at most C connections (C <= 24). SQLite: a temp file.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select, update

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.inventory import audit, catalog, movements, reservations
from services.inventory.models import allocations, metadata, stock_levels
from services.inventory.models import reservations as reservation_rows
from tests.support import infra

SPREAD_SKUS = 50
MAX_PG_CONNECTIONS = 24  # PostgreSQL allows 100 and the test suites share it
WARMUP = 2  # warm-up orders per thread before the clock runs


def pct_ms(seconds: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(seconds, n=20)
    return round(q[9] * 1000, 2), round(q[18] * 1000, 2)


class Bench:
    def __init__(self, db: Database, threads: int, batch: int = 1):
        self.db, self.threads, self.batch = db, threads, batch
        self.pool = ThreadPoolExecutor(threads)
        self.tag = uuid.uuid4().hex[:6]

    def uow(self, correlation: str) -> UnitOfWork:
        return UnitOfWork(self.db, "inventory", "bench", correlation)

    # -- setup -------------------------------------------------------------------------------
    def stock(self, name: str, n_skus: int, units_per_sku: int) -> tuple[list[str], str, str]:
        near, far = f"N{name}-{self.tag}", f"F{name}-{self.tag}"
        with self.uow("setup") as u:
            catalog.upsert_warehouse(u, near, "Near", 1, "east", "1 Dock Road")
            catalog.upsert_warehouse(u, far, "Far", 2, "east", "2 Dock Road")
        codes = [f"{name}{i:02d}-{self.tag}" for i in range(n_skus)]
        first = units_per_sku * 6 // 10
        for code in codes:
            with self.uow("setup") as u:
                catalog.upsert_sku(u, code, f"Item {code}")
                movements.receive(u, code, near, first, "5.00")
                movements.receive(u, code, far, units_per_sku - first, "5.00")
        return codes, near, far

    # -- the engine ----------------------------------------------------------------------------
    def reserve(self, order_id: str, sku: str, qty: int) -> tuple[float, dict]:
        took, answers = self.reserve_batch([(order_id, sku, qty)])
        return took, answers[0]

    def reserve_batch(self, orders: list[tuple[str, str, int]]) -> tuple[float, list[dict]]:
        """One unit of work for these orders, as the batched worker applies what arrived together."""
        envelopes = [Envelope(type="order_placed", source="order", aggregate_id=order_id, sequence=1,
                              payload={"order_id": order_id, "channel": "web",
                                       "lines": [{"line_no": 1, "sku": sku, "quantity": qty}]},
                              correlation_id=order_id, actor="bench") for order_id, sku, qty in orders]
        began = time.perf_counter()
        with self.uow(orders[0][0]) as u:
            answers = reservations.reserve_orders(u, envelopes)
        return time.perf_counter() - began, [a[0] for a in answers]

    def run_engine(self, name: str, n: int, n_skus: int, seed: int) -> dict:
        rnd = random.Random(seed)
        quantities = [rnd.randint(1, 3) for _ in range(n)]
        units = max(2, sum(quantities) // 2 // n_skus)  # about half the demand
        codes, _, _ = self.stock(name, n_skus, units)
        picks = [codes[rnd.randrange(n_skus)] for _ in range(n)]
        ids = [f"B{self.tag}{name}{i:06d}" for i in range(n)]
        orders = list(zip(ids, picks, quantities))
        batches = [orders[i:i + self.batch] for i in range(0, n, self.batch)]
        start, cpu = time.perf_counter(), time.process_time()
        done = [(took, line) for took, lines in self.pool.map(self.reserve_batch, batches) for line in lines]
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        latencies = [d for d, _ in done]
        paths = Counter()
        for _, line in done:
            got = line["reserved_quantity"]
            paths["whole" if got == line["quantity"] and len(line["allocations"]) == 1 else
                  "split" if got == line["quantity"] else "partial" if got else "backordered"] += 1
        p50, p95 = pct_ms(latencies)
        demand = defaultdict(int)
        for sku, q in zip(picks, quantities):
            demand[sku] += q
        return {"orders": n, "seconds": round(seconds, 3), "per_s": round(n / seconds, 1),
                "cpu_ms_per_order": round(cpu * 1000 / n, 3), "p50_ms": p50,
                "p95_ms": p95, "paths": dict(paths), "stock_units": units * n_skus,
                "demand_units": sum(quantities), **self.check(codes, demand, units)}

    def check(self, codes: list[str], demand: dict, units_per_sku: int) -> dict:
        """Rule 3 for these SKUs: nothing allocated beyond what a warehouse holds, the balances
        equal the allocations, and nothing refused while units were free."""
        with self.db.reader() as s:
            levels = {(r.sku, r.warehouse): r for r in s.execute(select(stock_levels)
                                                                 .where(stock_levels.c.sku.in_(codes)))}
            allocated = {(sku, wh): int(q) for sku, wh, q in s.execute(
                select(reservation_rows.c.sku, allocations.c.warehouse, func.sum(allocations.c.quantity))
                .join(allocations, (allocations.c.order_id == reservation_rows.c.order_id)
                      & (allocations.c.line_no == reservation_rows.c.line_no))
                .where(reservation_rows.c.sku.in_(codes))
                .group_by(reservation_rows.c.sku, allocations.c.warehouse))}
        oversold = sum(max(0, q - levels[p].on_hand) for p, q in allocated.items())
        oversold += sum(max(0, r.reserved - r.on_hand) for r in levels.values())
        mismatched = sum(1 for p, r in levels.items() if r.reserved != allocated.get(p, 0))
        per_sku = defaultdict(int)
        for (sku, _), q in allocated.items():
            per_sku[sku] += q
        underfilled = sum(min(demand.get(sku, 0), units_per_sku) - per_sku[sku] for sku in codes)
        return {"oversold_units": oversold, "balance_mismatches": mismatched, "underfilled_units": underfilled,
                "reserved_units": sum(per_sku.values())}

    # -- the raw baseline ----------------------------------------------------------------------
    def run_raw(self, name: str, n: int, n_skus: int, seed: int) -> dict:
        rnd = random.Random(seed)
        units = max(1, n // 2 // n_skus)  # about half of the UPDATEs find a unit
        codes, near, _ = self.stock(name, n_skus, units * 10 // 6 + 1)  # `near` holds >= units
        with self.db.session() as s:  # exactly `units` free in each near row
            s.execute(update(stock_levels).where(stock_levels.c.sku.in_(codes), stock_levels.c.warehouse == near)
                      .values(reserved=stock_levels.c.on_hand - units))
        picks = [codes[rnd.randrange(n_skus)] for _ in range(n)]
        sql = ("UPDATE stock_levels SET reserved = reserved + 1 WHERE sku = {p} AND warehouse = {p} "
               "AND on_hand - reserved - held >= 1")
        sqlite = self.db.engine.dialect.name == "sqlite"
        sql = sql.format(p="?" if sqlite else "%s")
        local, conns = threading.local(), []
        lock = self.db._write_lock  # SQLite: serialised per process, as every writer of the hub is

        def one(sku: str) -> tuple[float, int]:
            if sqlite:  # one writer at a time: check a connection out under the lock, as Database.session does
                began = time.perf_counter()
                with lock:
                    conn = self.db.engine.raw_connection()
                    try:
                        cur = conn.cursor()
                        cur.execute("BEGIN IMMEDIATE")
                        cur.execute(sql, (sku, near))
                        won = cur.rowcount
                        cur.execute("COMMIT")
                        cur.close()
                    finally:
                        conn.close()
                return time.perf_counter() - began, won
            if not hasattr(local, "conn"):  # PostgreSQL: each thread keeps its DBAPI connection
                local.conn = self.db.engine.raw_connection()
                conns.append(local.conn)
            began = time.perf_counter()
            cur = local.conn.cursor()
            cur.execute(sql, (sku, near))
            won = cur.rowcount
            local.conn.commit()
            cur.close()
            return time.perf_counter() - began, won

        try:
            start = time.perf_counter()
            done = list(self.pool.map(one, picks))
            seconds = time.perf_counter() - start
        finally:
            for c in conns:
                c.close()  # back to the pool
        p50, p95 = pct_ms([d for d, _ in done])
        with self.db.session() as s:  # give the units back, so the audit sees only the engine's reservations
            s.execute(update(stock_levels).where(stock_levels.c.sku.in_(codes)).values(reserved=0))
        return {"updates": n, "seconds": round(seconds, 3), "per_s": round(n / seconds, 1), "p50_ms": p50,
                "p95_ms": p95, "won": sum(w for _, w in done)}

    def warm_up(self) -> None:
        """Open every thread's connection and warm the caches before any clock runs."""
        n = WARMUP * self.threads
        codes, _, _ = self.stock("W", 1, 10 * n)
        list(self.pool.map(lambda i: self.reserve(f"B{self.tag}W{i:06d}", codes[0], 1), range(n)))
        self.run_raw("V", n, 1, 0)

    def close(self):
        self.pool.shutdown()


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def run(backend: str, n: int, threads: int, runs: int, modes: list[str], batch: int = 1) -> dict:
    if backend == "postgresql" and threads > MAX_PG_CONNECTIONS:
        raise SystemExit(f"--threads {threads}: at most {MAX_PG_CONNECTIONS} on PostgreSQL (shared, 100 connections)")
    prefix, tmp = infra.session_name(), tempfile.TemporaryDirectory(prefix="hub-bench-res-")
    if backend == "postgresql":
        url = infra.create_databases(prefix, ["inventory"])["inventory"]
    else:
        url = f"sqlite:///{Path(tmp.name) / 'inventory.db'}"
    result = {"backend": backend, "orders": n, "threads": threads, "runs": runs, "batch": batch,
              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "load_average_before": round(os.getloadavg()[0], 2), "modes": {}}
    db = None
    try:
        components.migrate("inventory", url)
        db = Database(url, metadata, pool_size=threads)  # threads never exceed the pool: no overflow
        bench = Bench(db, threads, batch)
        try:
            bench.warm_up()
            for mode in modes:
                n_skus = 1 if mode == "hot" else SPREAD_SKUS
                per_run = []
                for r in range(runs):
                    engine = bench.run_engine(f"{mode[0].upper()}{r}", n, n_skus, seed=r)
                    raw = bench.run_raw(f"{mode[0].upper()}R{r}", n, n_skus, seed=r)
                    per_run.append({"engine": engine, "raw": raw, "ratio": round(engine["per_s"] / raw["per_s"], 3)})
                engines = [p["engine"] for p in per_run]
                raws = [p["raw"] for p in per_run]
                result["modes"][mode] = {
                    "skus": n_skus, "runs": per_run,
                    "engine_per_s": median_of(engines, "per_s"),
                    "engine_per_s_range": [min(e["per_s"] for e in engines), max(e["per_s"] for e in engines)],
                    "engine_cpu_ms_per_order": median_of(engines, "cpu_ms_per_order"),
                    "engine_p50_ms": median_of(engines, "p50_ms"), "engine_p95_ms": median_of(engines, "p95_ms"),
                    "raw_per_s": median_of(raws, "per_s"),
                    "raw_per_s_range": [min(x["per_s"] for x in raws), max(x["per_s"] for x in raws)],
                    "raw_p50_ms": median_of(raws, "p50_ms"), "raw_p95_ms": median_of(raws, "p95_ms"),
                    "ratio": round(statistics.median(p["ratio"] for p in per_run), 3),
                    "oversold_units": sum(e["oversold_units"] for e in engines),
                    "balance_mismatches": sum(e["balance_mismatches"] for e in engines),
                    "underfilled_units": sum(e["underfilled_units"] for e in engines),
                    "paths_last_run": engines[-1]["paths"],
                }
            result["load_average_after"] = round(os.getloadavg()[0], 2)
            result["audit_differences"] = len(audit.differences(db))
        finally:
            bench.close()
    finally:
        if db is not None:
            db.dispose()
        if backend == "postgresql":
            infra.drop_databases(prefix, ["inventory"])
        tmp.cleanup()
    return result


def report(r: dict) -> str:
    out = [f"inventory reservations at the handler level ({r['backend']}): {r['orders']} orders per run, "
           f"{r['threads']} threads, {r['batch']} order(s) per transaction, median of {r['runs']} runs"]
    for mode, m in r["modes"].items():
        out += [
            f"{mode} ({m['skus']} SKU{'s' if m['skus'] > 1 else ''} x 2 warehouses):",
            f"  engine: {m['engine_per_s']:.0f} reservations/s (runs {m['engine_per_s_range'][0]:.0f}-"
            f"{m['engine_per_s_range'][1]:.0f}), {m['engine_cpu_ms_per_order']:.2f} ms of this process's CPU per order, "
            f"latency p50 {m['engine_p50_ms']:.1f} ms, p95 {m['engine_p95_ms']:.1f} ms;"
            f"  paths (last run) {m['paths_last_run']}",
            f"  raw conditional UPDATE: {m['raw_per_s']:.0f}/s (runs {m['raw_per_s_range'][0]:.0f}-"
            f"{m['raw_per_s_range'][1]:.0f}), p50 {m['raw_p50_ms']:.1f} ms, p95 {m['raw_p95_ms']:.1f} ms",
            f"  ratio engine/raw {m['ratio']:.3f};  oversold units {m['oversold_units']}, balance mismatches "
            f"{m['balance_mismatches']}, underfilled units {m['underfilled_units']}",
        ]
    out.append(f"audit differences: {r['audit_differences']};  load average {r['load_average_before']} before, "
               f"{r['load_average_after']} after")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=("hot", "spread", "both"), default="both")
    ap.add_argument("--batch", type=int, default=1, help="orders per transaction (reservations.reserve_orders)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    modes = ["hot", "spread"] if args.mode == "both" else [args.mode]
    result = run(args.db, args.orders, args.threads, args.runs, modes, max(1, args.batch))
    print(json.dumps(result) if args.json else report(result))
    bad = sum(m["oversold_units"] + m["balance_mismatches"] + m["underfilled_units"] for m in result["modes"].values())
    if bad or result["audit_differences"]:
        raise SystemExit("rule 3 violated: see oversold / mismatches / underfilled / audit above")


if __name__ == "__main__":
    main()
