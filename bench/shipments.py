"""CPU, statements and wall time of the inventory worker's shipment of a batch of orders in one
transaction (reservations.issue_for_shipments, as `Worker.on_order_shipped` applies a wave), at the
handler level: no broker, no inbox.

`--skus` SKUs (8) in one warehouse, each received three times (FIFO layers); per round, `--batch`
one-line orders of one unit are reserved (a SKU each in turn), then shipped in one transaction; the
first round warms the caches and is not counted. CPU = this process's (time.process_time) per order
shipped; statements = cursor executions per order (an executemany counts once); wall = the shipment's
transaction, which holds the balance-row locks of its SKUs (reservations wait for them) from its first
statement to its commit.

    python -m bench.shipments [--db postgresql|sqlite] [--batches 1,5,20] [--rounds 10] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
import uuid

from sqlalchemy import event

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.inventory import catalog, movements, reservations
from services.inventory.models import metadata
from tests.support import infra

WAREHOUSE = "WH-MAIN"


def _envelope(kind: str, payload: dict) -> Envelope:
    return Envelope(type=kind, source="order", aggregate_id=payload["order_id"], sequence=1, payload=payload,
                    correlation_id=uuid.uuid4().hex, actor="bench")


def measure(url: str, batch: int, rounds: int, skus: int) -> dict:
    components.migrate("inventory", url)
    db = Database(url, metadata, pool_size=2)
    tag = uuid.uuid4().hex[:6]

    def run(fn, *args):
        with UnitOfWork(db, "inventory", "bench", f"bench-{tag}") as uow:
            return fn(uow, *args)
    try:
        run(catalog.upsert_warehouse, WAREHOUSE, "Main", 100, "east", "1 Dock Road")
        codes = [f"SHIP{i}-{tag}" for i in range(skus)]
        for code in codes:
            run(catalog.upsert_sku, code, "item")
            for cost in ("5.00", "5.10", "5.20"):
                run(movements.receive, code, WAREHOUSE, batch * (rounds + 1), cost)
        executed: list[int] = []
        event.listen(db.engine, "before_cursor_execute", lambda *args: executed.append(1))
        cpu = wall = 0.0
        statements = 0
        for r in range(rounds + 1):
            placed = [_envelope("order_placed", {"order_id": f"O{tag}{r:03d}{i:04d}", "channel": "web",
                                                 "lines": [{"line_no": 1, "sku": codes[i % skus], "quantity": 1}]})
                      for i in range(batch)]
            run(reservations.reserve_orders, placed)
            shipped = [_envelope("order_shipped", {"order_id": e.payload["order_id"], "channel": "web",
                                                   "lines": [{"line_no": 1}]}) for e in placed]
            executed.clear()
            began, began_wall = time.process_time(), time.perf_counter()
            run(reservations.issue_for_shipments, shipped)
            if r:  # the first round warms the caches
                cpu += time.process_time() - began
                wall += time.perf_counter() - began_wall
                statements += len(executed)
        orders = batch * rounds
        return {"batch": batch, "orders": orders, "cpu_ms_per_order": round(1000 * cpu / orders, 3),
                "statements_per_order": round(statements / orders, 2),
                "transaction_wall_ms": round(1000 * wall / rounds, 1)}
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--batches", default="1,5,20")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--skus", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = {"db": args.db, "skus": args.skus, "rounds": args.rounds, "batches": []}
    for batch in [int(b) for b in args.batches.split(",")]:
        with infra.fresh_databases(args.db, f"benchship{os.getpid()}_{batch}", ["inventory"]) as urls:
            out["batches"].append(measure(urls["inventory"], batch, args.rounds, args.skus))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for b in out["batches"]:
        print(f"{args.db}, {b['batch']} orders per shipment: {b['cpu_ms_per_order']} ms CPU and "
              f"{b['statements_per_order']} statements per order, the transaction {b['transaction_wall_ms']} ms")


if __name__ == "__main__":
    main()
