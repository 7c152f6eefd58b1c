"""CPU and statements per order of the inventory worker's reservation of a batch of placed orders
(`Worker.on_order_placed`, as the consumer calls it for what arrived together: each event parsed, the
inbox, `reservations.reserve_orders`, the stock signals, the outbox rows and the commit), at the handler
level: no broker, one thread.

`--skus` SKUs (8) in two warehouses, stocked for every order; per round `--batch` orders of `--lines`
lines (1) of one unit each (SKUs in turn) are placed in one transaction, as the worker gets a batch; the
first round warms the caches and is not counted. CPU = this process's (time.process_time) per order;
statements = cursor executions per order (an executemany counts once), with the inbox's. At the end the
balances must equal the allocations, and every line must be reserved.

    python -m bench.reserve_batches [--db postgresql|sqlite] [--batches 1,2,20] [--rounds 40] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from types import SimpleNamespace

from sqlalchemy import event, func, select

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.inventory import catalog, movements
from services.inventory.models import allocations, metadata, reservations, stock_levels
from services.inventory.worker import Worker
from tests.support import infra

WAREHOUSES = ("WH-NEAR", "WH-FAR")


def _placed(order_id: str, lines: list[tuple[str, int]]) -> Envelope:
    payload = {"order_id": order_id, "channel": "web", "shop": "s1", "external_order_id": order_id,
               "currency": "CNY", "total": "9.90", "placed_at": "2026-12-06T10:00:00+00:00",
               "buyer": {"name": "Bench"},
               "shipping_address": {"recipient": "Bench", "province": "Zhejiang", "city": "Hangzhou"},
               "lines": [{"line_no": n, "sku": sku, "quantity": qty, "unit_price": "9.90"}
                         for n, (sku, qty) in enumerate(lines, 1)]}
    return Envelope(type="order_placed", source="order", aggregate_id=order_id, sequence=1, payload=payload,
                    correlation_id=uuid.uuid4().hex, actor="bench")


def measure(url: str, batch: int, rounds: int, skus: int, lines: int) -> dict:
    components.migrate("inventory", url)
    db = Database(url, metadata, pool_size=2)
    tag = uuid.uuid4().hex[:6]
    worker = SimpleNamespace(name="inventory", db=db, settings=SimpleNamespace(reservation_ttl_minutes=30))

    def run(fn, *args):
        with UnitOfWork(db, "inventory", "bench", f"bench-{tag}") as uow:
            return fn(uow, *args)
    try:
        for priority, code in enumerate(WAREHOUSES, 1):
            run(catalog.upsert_warehouse, f"{code}-{tag}", code, priority, "east", "1 Dock Road")
        codes = [f"RES{i}-{tag}" for i in range(skus)]
        units = batch * lines * (rounds + 1)  # every order finds its units in the first warehouse
        for code in codes:
            run(catalog.upsert_sku, code, "item")
            for w in WAREHOUSES:
                run(movements.receive, code, f"{w}-{tag}", units, "5.00")
        executed: list[int] = []
        event.listen(db.engine, "before_cursor_execute", lambda *args: executed.append(1))
        cpu, statements, k = [], 0, 0
        for r in range(rounds + 1):
            placed = []
            for i in range(batch):
                placed.append(_placed(f"R{tag}{r:03d}{i:04d}", [(codes[(k + n) % skus], 1) for n in range(lines)]))
                k += 1
            executed.clear()
            began = time.process_time()
            outcomes = Worker.on_order_placed(worker, placed)
            if r:  # the first round warms the caches
                cpu.append(time.process_time() - began)
                statements += len(executed)
            assert outcomes == [True] * batch, outcomes
        with db.reader() as s:
            reserved = s.execute(select(func.sum(stock_levels.c.reserved))
                                 .where(stock_levels.c.sku.in_(codes))).scalar()
            allocated = s.execute(select(func.sum(allocations.c.quantity))
                                  .where(allocations.c.order_id.like(f"R{tag}%"))).scalar()
            short = s.execute(select(func.count()).where(reservations.c.order_id.like(f"R{tag}%"),
                                                         reservations.c.status != "reserved")).scalar()
        assert reserved == allocated == batch * lines * (rounds + 1) and short == 0, (reserved, allocated, short)
        orders = batch * rounds
        return {"batch": batch, "lines": lines, "orders": orders,
                "cpu_ms_per_order": round(1000 * sum(cpu) / orders, 3),
                "cpu_ms_per_order_median_round": round(1000 * statistics.median(cpu) / batch, 3),
                "statements_per_order": round(statements / orders, 2)}
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--batches", default="1,2,20")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--skus", type=int, default=8)
    parser.add_argument("--lines", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = {"db": args.db, "skus": args.skus, "rounds": args.rounds, "batches": []}
    for batch in [int(b) for b in args.batches.split(",")]:
        rounds = max(3, args.rounds * 2 // (batch + 1))  # about as many orders for each size, fewer rounds
        with infra.fresh_databases(args.db, f"benchresb{os.getpid()}_{batch}", ["inventory"]) as urls:
            out["batches"].append(measure(urls["inventory"], batch, rounds, args.skus, args.lines))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for b in out["batches"]:
        print(f"{args.db}, {b['batch']} orders of {b['lines']} line(s) per transaction: {b['cpu_ms_per_order']} ms CPU "
              f"(median round {b['cpu_ms_per_order_median_round']}) and {b['statements_per_order']} statements per order")


if __name__ == "__main__":
    main()
