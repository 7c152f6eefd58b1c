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
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pika
from sqlalchemy import func, select

from hub import components
from services.order.models import orders
from tests.e2e.helpers import order_body, stock_sku, unique
from tests.support import infra
from tests.support.hub import Hub

DATABASES = (*components.SERVICES, "gateway")
THREADS, SKUS, WARMUP = 16, 8, 20


def p50_p95_ms(seconds) -> tuple[float, float]:
    q = statistics.quantiles(seconds, n=20)
    return round(q[9] * 1000, 1), round(q[18] * 1000, 1)


def bench_pika(amqp_uri: str, m: int) -> dict:
    params, queue = pika.URLParameters(amqp_uri), "bench.raw"
    body = json.dumps({"event_type": "order_placed", "payload": {"pad": "x" * 430}}).encode()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    ready, done = threading.Event(), threading.Event()
    state = {"count": 0, "end": None}

    def on_message(ch, method, _props, _body):
        ch.basic_ack(method.delivery_tag)
        state["count"] += 1
        if state["count"] == m:
            state["end"] = time.perf_counter()
            ch.stop_consuming()

    def consume():
        try:
            conn = pika.BlockingConnection(params)
            ch = conn.channel()
            ch.basic_qos(prefetch_count=100)
            ch.basic_consume(queue, on_message)
            ready.set()
            ch.start_consuming()
            conn.close()
        finally:
            ready.set()
            done.set()

    pub = pika.BlockingConnection(params)
    try:
        ch = pub.channel()
        ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        ch.confirm_delivery()
        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        ready.wait(10)
        start = time.perf_counter()
        for _ in range(m):
            ch.basic_publish("", queue, body, props, mandatory=True)
        published = time.perf_counter()
        if not done.wait(120) or state["end"] is None:
            raise TimeoutError(f"consumer got {state['count']} of {m} messages")
    finally:
        pub.close()
    total = state["end"] - start
    return {"messages": m, "body_bytes": len(body), "seconds": round(total, 3),
            "msgs_per_s": round(m / total, 1), "publish_msgs_per_s": round(m / (published - start), 1)}


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


def log_problems(log_dir: Path) -> dict:
    found = {}
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        bad = sum(1 for l in lines if "ERROR" in l or "Traceback" in l or "CRITICAL" in l)
        if bad:
            found[log.stem] = bad
    return found


def run(n: int, m: int, backend: str) -> dict:
    name = infra.session_name()
    log_dir = Path(components.PROJECT_ROOT) / "var" / "bench" / name / "log"
    vhost_uri = infra.create_vhost(name)
    result = {"backend": backend, "log_dir": str(log_dir)}
    hub, tmp = None, tempfile.TemporaryDirectory(prefix="hub-bench-")
    try:
        result["pika"] = bench_pika(vhost_uri, m)
        if backend == "postgresql":
            urls = infra.create_databases(name, DATABASES)
        else:
            urls = {db: f"sqlite:///{Path(tmp.name) / (db + '.db')}" for db in DATABASES}
        hub = Hub(vhost_uri, urls, log_dir)
        hub.start()
        result["hub"] = bench_hub(hub, n)
    finally:
        if hub is not None:
            hub.stop()
        if backend == "postgresql":
            infra.drop_databases(name, DATABASES)
        infra.delete_vhost(name)
        tmp.cleanup()
    result["log_problems"] = log_problems(log_dir)
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
