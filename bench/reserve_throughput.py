"""How fast the hub reserves orders end to end, against what raw pika can move on the same broker.

Hub: a whole hub (every process its own OS process, as in the tests) in a fresh vhost and fresh
databases (SQLite files in a temp dir, or PostgreSQL databases). Several SKUs are stocked so that
every order reserves; a few warm-up orders settle first. Then N orders are POSTed to the gateway
from 16 threads (one httpx client each) and the clock runs from the first POST until no order is
`pending` any more (counted in the order database every 20 ms). Reported: orders/s, POST latency
p50/p95, and time-to-reserved p50/p95 (the order row's updated_at - created_at).

Raw pika, before the hub starts, in the same vhost: one BlockingConnection publishing M persistent
~500-byte JSON messages with publisher confirms (each publish waits for its confirm) to a fresh
quorum queue, and a consumer on its own connection and thread (prefetch 100, manual ack per
message). Rate = M / (first publish .. last message consumed).

    python -m bench.reserve_throughput [--orders N] [--messages M] [--backend sqlite|postgresql] [--json]

Logs of the hub's processes are kept in var/bench/<session>/log.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from bench.baselines import bench_pika
from bench.harness import BenchSession, log_problems
from services.order.models import orders
from tests.e2e.helpers import order_body, stock_sku, unique

THREADS, SKUS, WARMUP = 16, 8, 20


def p50_p95_ms(seconds) -> tuple[float, float]:
    q = statistics.quantiles(seconds, n=20)
    return round(q[9] * 1000, 1), round(q[18] * 1000, 1)


def pending_count(hub) -> int:
    with hub.dbs["order"].reader() as s:
        return s.execute(select(func.count()).select_from(orders).where(orders.c.status == "pending")).scalar()


def wait_drained(hub, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while pending_count(hub):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pending_count(hub)} orders still pending after {timeout:.0f}s")
        time.sleep(0.02)
    return time.perf_counter()


def bench_hub(hub, n: int) -> dict:
    skus = [unique("BENCH") for _ in range(SKUS)]
    with hub.client("admin") as admin:
        for sku in skus:
            stock_sku(admin, sku, quantity=n + WARMUP)
    hub.key("sales")  # create the API key once, not from 16 threads at a time
    local, clients, prefix = threading.local(), [], unique("RUN")

    def post(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = hub.client("sales")
            clients.append(local.client)
        sku = skus[i % SKUS]
        began = time.perf_counter()
        reply = local.client.post("/orders", json=order_body(sku, f"{prefix}-{i}"))
        if reply.status_code != 201:
            raise RuntimeError(f"POST /orders -> {reply.status_code}: {reply.text}")
        return time.perf_counter() - began

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(post, range(-WARMUP, 0)))  # warm-up: connections, gRPC channels, caches
            wait_drained(hub, 60)
            start = time.perf_counter()
            latencies = list(pool.map(post, range(n)))
        posted = time.perf_counter()
        end = wait_drained(hub, 60 + n / 5)
    finally:
        for c in clients:
            c.close()
    with hub.dbs["order"].reader() as s:
        rows = s.execute(select(orders.c.status, orders.c.created_at, orders.c.updated_at)
                         .where(orders.c.external_order_id.like(f"{prefix}-%"))
                         .where(~orders.c.external_order_id.like(f"{prefix}--%"))).all()
    statuses = {st: sum(1 for r in rows if r.status == st) for st in {r.status for r in rows}}
    post_p50, post_p95 = p50_p95_ms(latencies)
    res_p50, res_p95 = p50_p95_ms([(r.updated_at - r.created_at).total_seconds() for r in rows])
    return {"orders": n, "seconds": round(end - start, 3), "orders_per_s": round(n / (end - start), 1),
            "post_orders_per_s": round(n / (posted - start), 1), "statuses": statuses,
            "post_p50_ms": post_p50, "post_p95_ms": post_p95, "to_reserved_p50_ms": res_p50, "to_reserved_p95_ms": res_p95}


def run(n: int, m: int, backend: str) -> dict:
    with BenchSession(backend) as session:
        result = {"backend": backend, "log_dir": str(session.log_dir), "pika": bench_pika(session.vhost_uri, m)}
        result["hub"] = bench_hub(session.start_hub(), n)
    result["log_problems"] = log_problems(session.log_dir)
    result["ratio"] = round(result["hub"]["orders_per_s"] / result["pika"]["msgs_per_s"], 4)
    return result


def report(r: dict) -> str:
    h, p = r["hub"], r["pika"]
    return "\n".join([
        f"hub ({r['backend']}): {h['orders']} orders reserved end to end in {h['seconds']:.2f}s = "
        f"{h['orders_per_s']:.1f} orders/s   (statuses {h['statuses']})",
        f"  POST /orders: {h['post_orders_per_s']:.1f}/s accepted, p50 {h['post_p50_ms']:.0f} ms, "
        f"p95 {h['post_p95_ms']:.0f} ms;  time to reserved p50 {h['to_reserved_p50_ms']:.0f} ms, "
        f"p95 {h['to_reserved_p95_ms']:.0f} ms",
        f"raw pika: {p['messages']} x {p['body_bytes']} B persistent, confirmed, quorum queue: "
        f"{p['msgs_per_s']:.1f} msgs/s publish->consume (publish alone {p['publish_msgs_per_s']:.1f}/s)",
        f"ratio hub orders/s : raw pika msgs/s = {r['ratio']:.3f}",
        f"hub logs: {r['log_dir']}" + (f"  ERROR/Traceback lines: {r['log_problems']}" if r["log_problems"] else ""),
    ])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    result = run(args.orders, args.messages, args.backend)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
