"""CPU per stock signal in the procurement worker, at the handler level: what replenishment costs per
stock_changed and per goods_issued event.

No broker, no gateway: the worker's own batched handlers (`Worker.on_stock_changed`,
`Worker.on_goods_issued`, with their inbox records, one transaction per batch) are called with
envelopes shaped as the journey's: `--skus` SKUs (default 8) in one warehouse, one level per
stock_changed and one line per goods_issued, each order of the load taking one unit, so the
available units fall from `--stock` towards zero and the evaluations go from "nothing to suggest" to
opening and updating suggestions (as at the end of a journey run). `--batch` events per transaction
(1 and 20 by default, one run each, a fresh database each). CPU = this process's
(time.process_time), per event, after a warm-up; the database's CPU is not in it.

    python -m bench.procurement_signals [--db postgresql|sqlite] [--events N] [--batches 1,20] [--json]

It ends with a digest of the suggestions the run left (SKU, status, quantity, basis), the same for
every batch size when replenishment decides the same whatever the batching.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from datetime import datetime, timezone

from nameko.testing.services import worker_factory
from sqlalchemy import select

from contracts import GoodsIssued, StockChanged
from hub import components
from hubkit.db import Database
from hubkit.envelope import Envelope
from services.procurement.models import metadata, purchase_suggestions
from services.procurement.worker import Worker
from tests.support import infra

WAREHOUSE = "WH-MAIN"


def _envelope(event, aggregate: str, sequence: int) -> Envelope:
    return Envelope(type=event.type, source="inventory", aggregate_id=aggregate, sequence=sequence,
                    payload=event.payload(), correlation_id=uuid.uuid4().hex, actor="bench")


def _changed(sku: str, available: int, sequence: int) -> Envelope:
    level = {"sku": sku, "warehouse": WAREHOUSE, "on_hand": available, "reserved": 0, "held": 0,
             "in_transit": 0, "available": available}
    return _envelope(StockChanged(sku=sku, levels=[level], available=available), f"sku:{sku}", sequence)


def _issued(sku: str, n: int) -> Envelope:
    order_id = f"O-{uuid.uuid4().hex[:12]}"
    return _envelope(GoodsIssued(order_id=order_id, channel="web", issued_at=datetime.now(timezone.utc),
                                 lines=[{"line_no": 1, "sku": sku, "warehouse": WAREHOUSE, "quantity": 1,
                                         "cost": "5.00"}],
                                 total_cost="5.00"), order_id, 1)


def run_one(url: str, n_events: int, n_skus: int, stock: int, batch: int) -> dict:
    db = Database(url, metadata, pool_size=2)
    try:
        worker = worker_factory(Worker, db=db)
        tag = uuid.uuid4().hex[:6]
        skus = [f"PS{i:02d}-{tag}" for i in range(n_skus)]
        left = {sku: stock for sku in skus}
        seq = {sku: 0 for sku in skus}

        def changed(i: int) -> Envelope:
            sku = skus[i % n_skus]
            left[sku] = max(0, left[sku] - 1)
            seq[sku] += 1
            return _changed(sku, left[sku], seq[sku])

        def issued(i: int) -> Envelope:
            return _issued(skus[i % n_skus], i)

        warm = 2 * n_skus
        worker.on_stock_changed([changed(i) for i in range(warm)])
        worker.on_goods_issued([issued(i) for i in range(warm)])
        out = {"batch": batch, "events": n_events}
        for name, make, handle in (("stock_changed", changed, worker.on_stock_changed),
                                   ("goods_issued", issued, worker.on_goods_issued)):
            envelopes = [make(i) for i in range(n_events)]
            cpu, wall = time.process_time(), time.perf_counter()
            for k in range(0, n_events, batch):
                results = handle(envelopes[k:k + batch])
                assert all(r is True for r in results), results
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            out[name] = {"cpu_ms_per_event": round(cpu * 1000 / n_events, 3),
                         "wall_ms_per_event": round(wall * 1000 / n_events, 3)}
        with db.reader() as s:
            t = purchase_suggestions
            rows = s.execute(select(t.c.sku, t.c.status, t.c.quantity, t.c.basis)
                             .where(t.c.sku.in_(skus)).order_by(t.c.sku, t.c.status)).all()
        out["suggestions"] = [(r.sku.split("-")[0], r.status, int(r.quantity), r.basis) for r in rows]
        return out
    finally:
        db.dispose()


def run(backend: str, n_events: int, n_skus: int, stock: int, batches: list[int]) -> dict:
    result = {"backend": backend, "skus": n_skus, "stock": stock, "started_at": datetime.now(timezone.utc)
              .isoformat(timespec="seconds"), "load_average_before": round(os.getloadavg()[0], 2), "runs": []}
    for batch in batches:
        with infra.fresh_databases(backend, infra.session_name(), ["procurement"]) as urls:
            components.migrate("procurement", urls["procurement"])
            result["runs"].append(run_one(urls["procurement"], n_events, n_skus, stock, batch))
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    digests = {json.dumps(r.pop("suggestions")) for r in result["runs"]}
    result["same_suggestions_for_every_batch_size"] = len(digests) == 1
    result["suggestions"] = json.loads(sorted(digests)[0])
    return result


def report(r: dict) -> str:
    out = [f"procurement stock signals at the handler level ({r['backend']}, {r['skus']} SKUs, stock {r['stock']} "
           f"each): this process's CPU per event"]
    for run_ in r["runs"]:
        out.append(f"  batch {run_['batch']:>3}: stock_changed {run_['stock_changed']['cpu_ms_per_event']:.2f} ms, "
                   f"goods_issued {run_['goods_issued']['cpu_ms_per_event']:.2f} ms  "
                   f"(wall {run_['stock_changed']['wall_ms_per_event']:.2f} / "
                   f"{run_['goods_issued']['wall_ms_per_event']:.2f} ms)")
    opened = statistics.mean([1 if s[1] == "open" else 0 for s in r["suggestions"]] or [0])
    out.append(f"suggestions left: {len(r['suggestions'])} ({opened:.0%} open); the same for every batch size: "
               f"{r['same_suggestions_for_every_batch_size']};  load average {r['load_average_before']} before, "
               f"{r['load_average_after']} after")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--events", type=int, default=400, help="events of each kind per run")
    ap.add_argument("--skus", type=int, default=8)
    ap.add_argument("--stock", type=int, default=40, help="units available per SKU at the start")
    ap.add_argument("--batches", default="1,20", help="events per transaction, one run each")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.db, args.events, args.skus, args.stock, [max(1, int(b)) for b in args.batches.split(",")])
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
