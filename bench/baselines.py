"""Raw baselines the hub's figures are read against, measured on the same machine in the same run:

* `bench_pika`: persistent ~500-byte messages to a quorum queue, each publish waiting for its confirm,
  one consumer acking each message (what one hop costs when nothing is batched);
* `pika_pipelined`: the same messages with up to `window` unconfirmed publishes and acks sent
  `multiple` every `ack_every` messages (what the broker can do when every hop batches);
* `pg_reserve_outbox`: pgbench running the transaction a reservation needs at its core (one conditional
  UPDATE of a stock row and one outbox INSERT), over many SKUs (spread) or one (hot);
* `trivial_http`: a FastAPI endpoint that does nothing, served by uvicorn as the gateway is, closed loop.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pika
import psycopg2
from fastapi import FastAPI
from psycopg2.extensions import parse_dsn

from bench.procstat import CpuMeter, cpu_ms
from hub import components
from hub.supervisor import free_port
from tests.support import infra
from tests.support.hub import wait_for

BODY = json.dumps({"event_type": "order_placed", "payload": {"pad": "x" * 430}}).encode()
PROPS = pika.BasicProperties(delivery_mode=2, content_type="application/json")
QUORUM = {"x-queue-type": "quorum"}


def _consume(params, queue: str, m: int, prefetch: int, ack_every: int, ready: threading.Event,
             state: dict) -> None:
    """Consume m messages (acking `multiple` every ack_every), then record the time."""
    def on_message(ch, method, _props, _body):
        state["count"] += 1
        if state["count"] % ack_every == 0 or state["count"] == m:
            ch.basic_ack(method.delivery_tag, multiple=ack_every > 1)
        if state["count"] == m:
            state["end"] = time.perf_counter()
            ch.stop_consuming()

    try:
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=prefetch)
        ch.basic_consume(queue, on_message)
        ready.set()
        ch.start_consuming()
        conn.close()
    finally:
        ready.set()
        state["done"].set()


def _start_consumer(params, queue: str, m: int, prefetch: int, ack_every: int) -> dict:
    state: dict = {"count": 0, "end": None, "done": threading.Event()}
    ready = threading.Event()
    threading.Thread(target=_consume, args=(params, queue, m, prefetch, ack_every, ready, state), daemon=True).start()
    ready.wait(10)
    return state


def _finish(state: dict, m: int, start: float, published: float, timeout: float = 120) -> dict:
    if not state["done"].wait(timeout) or state["end"] is None:
        raise TimeoutError(f"consumer got {state['count']} of {m} messages")
    total = state["end"] - start
    return {"messages": m, "body_bytes": len(BODY), "seconds": round(total, 3), "msgs_per_s": round(m / total, 1),
            "publish_msgs_per_s": round(m / (published - start), 1)}


def bench_pika(amqp_uri: str, m: int) -> dict:
    """Confirm per message, ack per message (prefetch 100)."""
    params, queue = pika.URLParameters(amqp_uri), "bench.raw"
    pub = pika.BlockingConnection(params)
    try:
        ch = pub.channel()
        ch.queue_declare(queue, durable=True, arguments=QUORUM)
        ch.confirm_delivery()
        state = _start_consumer(params, queue, m, prefetch=100, ack_every=1)
        start = time.perf_counter()
        for _ in range(m):
            ch.basic_publish("", queue, BODY, PROPS, mandatory=True)
        published = time.perf_counter()
        result = _finish(state, m, start, published)
        ch.queue_delete(queue)
    finally:
        pub.close()
    return result


def pika_pipelined(amqp_uri: str, m: int, window: int = 200, ack_every: int = 100, timeout: float = 120) -> dict:
    """Up to `window` publishes awaiting their confirm; the consumer acks `multiple` every `ack_every`."""
    params, queue = pika.URLParameters(amqp_uri), "bench.pipelined"
    setup = pika.BlockingConnection(params)
    setup.channel().queue_declare(queue, durable=True, arguments=QUORUM)
    state = _start_consumer(params, queue, m, prefetch=2 * window, ack_every=ack_every)
    pub: dict = {"sent": 0, "outstanding": set(), "nacked": 0, "published": None, "error": None}

    def publish_more(ch):
        while pub["sent"] < m and len(pub["outstanding"]) < window:
            ch.basic_publish("", queue, BODY, PROPS)
            pub["sent"] += 1
            pub["outstanding"].add(pub["sent"])  # delivery tags count from 1 on a confirming channel

    def on_confirm(frame, ch, conn):
        tag, multiple = frame.method.delivery_tag, frame.method.multiple
        done = {t for t in pub["outstanding"] if t <= tag} if multiple else {tag}
        pub["outstanding"] -= done
        if isinstance(frame.method, pika.spec.Basic.Nack):
            pub["nacked"] += len(done)
        if pub["sent"] == m and not pub["outstanding"]:
            pub["published"] = time.perf_counter()
            conn.close()
        else:
            publish_more(ch)

    def on_channel(ch, conn):
        ch.confirm_delivery(lambda frame: on_confirm(frame, ch, conn), callback=lambda _frame: publish_more(ch))

    def on_give_up(conn):
        pub["error"] = f"{m - pub['sent'] + len(pub['outstanding'])} publishes unconfirmed after {timeout}s"
        conn.close()

    conn = pika.SelectConnection(params, on_open_callback=lambda c: c.channel(on_open_callback=lambda ch: on_channel(ch, c)),
                                 on_close_callback=lambda c, _reason: c.ioloop.stop())
    conn.ioloop.call_later(timeout, lambda: on_give_up(conn))
    start = time.perf_counter()
    conn.ioloop.start()
    try:
        if pub["error"] or pub["published"] is None:
            raise TimeoutError(pub["error"] or "the publishing connection closed early")
        result = _finish(state, m, start, pub["published"], timeout)
    finally:
        setup.channel().queue_delete(queue)
        setup.close()
    return {**result, "window": window, "ack_every": ack_every, "nacked": pub["nacked"]}


PGBENCH_SCRIPT = """\\set sku random(1, :skus)
BEGIN;
UPDATE bench_stock SET reserved = reserved + 1 WHERE sku = :sku AND on_hand - reserved >= 1;
INSERT INTO bench_outbox (aggregate_id, event_type, body, created_at)
  VALUES (:sku, 'stock_reserved', repeat('x', 400), now());
COMMIT;
"""


def pg_reserve_outbox(database: str, seconds: float = 5, clients: int = 4, skus: int = 1000) -> dict:
    """pgbench with the reserve + outbox transaction in `database` (its tables made here); skus=1 is one
    hot row. Reports transactions/s and PostgreSQL CPU ms per transaction (the backends of `database`)."""
    if shutil.which("pgbench") is None:
        return {"skipped": "pgbench is not installed (Debian: postgresql-client)"}
    dsn = {**parse_dsn(infra.PG_DSN), "dbname": database}
    with closing(psycopg2.connect(**dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_stock, bench_outbox")
        cur.execute("CREATE TABLE bench_stock (sku int PRIMARY KEY, on_hand bigint NOT NULL, reserved bigint NOT NULL,"
                    " CHECK (on_hand >= reserved AND reserved >= 0))")
        cur.execute("INSERT INTO bench_stock SELECT g, 1000000000, 0 FROM generate_series(1, %s) g", (skus,))
        cur.execute("CREATE TABLE bench_outbox (id bigserial PRIMARY KEY, aggregate_id int NOT NULL,"
                    " event_type text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL,"
                    " published_at timestamptz)")
        cur.execute("CREATE INDEX ON bench_outbox (id) WHERE published_at IS NULL")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT)
    argv = ["pgbench", "-n", "-f", f.name, "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(int(seconds)),
            "-D", f"skus={skus}", "-h", dsn.get("host", "127.0.0.1"), "-p", str(dsn.get("port", 5432)),
            "-U", dsn.get("user", "postgres"), database]
    backends = PgBackends([database])
    meter = CpuMeter(lambda: {"postgresql": backends()}, interval=0.2).start()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        used = meter.stop()
        backends.close()
        Path(f.name).unlink()
    tps = re.search(r"tps = ([\d.]+)", done.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    if done.returncode != 0 or not tps or not processed:
        return {"error": (done.stderr or done.stdout)[-500:]}
    n = int(processed.group(1))
    return {"skus": skus, "clients": clients, "seconds": seconds, "transactions": n, "tx_per_s": round(float(tps.group(1)), 1),
            "pg_cpu_ms_per_tx": round(used.get("postgresql", 0.0) / n, 3) if n else None}


class PgBackends:
    """Pids of the PostgreSQL backends connected to `databases` (pg_stat_activity), but those whose
    application_name is `exclude_app` (the bench's own connections); asked on one held connection."""

    def __init__(self, databases, exclude_app: str = ""):
        self.databases, self.exclude_app = list(databases), exclude_app
        self.conn = psycopg2.connect(infra.PG_DSN, application_name="hub-bench-monitor")
        self.conn.autocommit = True

    def __call__(self) -> list[int]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND application_name <> %s",
                        (self.databases, self.exclude_app))
            return [pid for (pid,) in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()


trivial_app = FastAPI()


@trivial_app.get("/ping")
def ping() -> dict:
    return {"ok": True}


async def _closed_loop(url: str, seconds: float, concurrency: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10) as client:
        async def worker():
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                (await client.get(url)).raise_for_status()
                latencies.append(time.perf_counter() - began)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def trivial_http(log_dir: Path, seconds: float = 3, concurrency: int = 8) -> dict:
    """Requests/s of an endpoint that does nothing (closed loop, `concurrency` at a time, one client
    process) and the server's CPU ms per request. uvicorn runs it as the gateway's: no access log."""
    port = free_port()
    log = open(log_dir / "trivial-http.log", "ab")
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.baselines:trivial_app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning", "--no-access-log"],
                              stdout=log, stderr=subprocess.STDOUT, cwd=components.PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}/ping"
    try:
        wait_for(lambda: _answers(url), 30, 0.2, "the trivial HTTP server")
        before = cpu_ms(server.pid) or 0.0
        began = time.perf_counter()
        latencies = asyncio.run(_closed_loop(url, seconds, concurrency))
        elapsed = time.perf_counter() - began
        used = (cpu_ms(server.pid) or 0.0) - before
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    n = len(latencies)
    return {"requests": n, "concurrency": concurrency, "req_per_s": round(n / elapsed, 1),
            "p50_ms": round(sorted(latencies)[n // 2] * 1000, 2), "server_cpu_ms_per_req": round(used / n, 3)}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
