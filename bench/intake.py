"""The gateway's and the order api's CPU per `POST /orders`, alone (issue 12, intake).

Only what answers requests runs (the gateway and the api processes, no workers, no relays, as the
gateway fuzz test's hub), on fresh databases (SQLite files, or PostgreSQL with `--db postgresql`).
One SKU is created; a warm-up of orders settles the connections, channels and caches; then each round
POSTs N one-line orders, paced at `--rate` per second from one client (the journey's orders arrive
paced too, so the API key's and the intake state's caches expire as often as there). Reported per round:
the CPU (utime + stime, from /proc) of the gateway's and of the order api's process trees per order,
and their context switches per order (every thread's voluntary ones: a request handed to a worker
thread and back costs some; they do not vary with the machine's load as CPU time does), and their
medians over the rounds.

    .venv/bin/python -m bench.intake                       # SQLite, 3 rounds of 300 orders at 30/s
    .venv/bin/python -m bench.intake --db postgresql --rounds 5 --json
    .venv/bin/python -m bench.intake --in-process          # the gateway app alone, Python calls per order

`--in-process`: no process, no HTTP: the gateway's ASGI app (its middleware, routing, dependencies,
the route and its answer) called directly for `POST /orders`, the order and inventory services fakes
(tests/unit/gateway/test_responses). Reported: this process's CPU per order (every thread), and the
Python function calls per order on the event loop's thread as cProfile counts them (it traces that
thread only: the sync route's own work in its worker thread is not counted), a figure the machine's
load does not move.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench.harness import BenchSession
from bench.procstat import cpu_ms, descendants
from tests.e2e.helpers import order_body, unique

MEASURED = ("gateway", "order-api")


def _switches(pid: int) -> int:
    """The voluntary context switches of every thread of a process so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
        total += int(status.split("voluntary_ctxt_switches:")[1].split()[0])
    return total


def _used(hub) -> dict[str, float]:
    out = {}
    for name in MEASURED:
        pids = descendants(hub.stack.procs[name].popen.pid)
        out[name] = sum(cpu_ms(p) or 0.0 for p in pids)
        out[f"{name} switches"] = sum(_switches(p) for p in pids)
    return out


def _post(client, sku: str, prefix: str, n: int, rate: float, batch: int = 0) -> None:
    """n orders at `rate` per second: each its own POST /orders, or (batch > 0) `batch` at a time in
    POST /orders/batch, the same orders per second in fewer requests."""
    began, step = time.perf_counter(), max(batch, 1)
    for i in range(0, n, step):
        wait = began + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        if not batch:
            reply = client.post("/orders", json=order_body(sku, f"{prefix}-{i}"))
            if reply.status_code != 201:
                raise RuntimeError(f"POST /orders -> {reply.status_code}: {reply.text}")
            continue
        reply = client.post("/orders/batch", json={"orders": [order_body(sku, f"{prefix}-{j}")
                                                              for j in range(i, min(i + batch, n))]})
        if reply.status_code != 200 or any(r["status"] != 201 for r in reply.json()["results"]):
            raise RuntimeError(f"POST /orders/batch -> {reply.status_code}: {reply.text}")


def run(db: str, orders: int, rounds: int, rate: float, warmup: int = 30, batch: int = 0) -> dict:
    from tests.support.hub import Hub

    with BenchSession(db) as session:
        hub = Hub(session.vhost_uri, session.urls, session.log_dir,
                  processes=lambda p: p == "gateway" or p.endswith("-api"))
        session.hub = hub.start()
        sku = unique("BENCH")
        with hub.client("admin") as admin:
            assert admin.post("/skus", json={"code": sku, "name": sku}).status_code in (200, 201)
        per_round = []
        with hub.client("sales") as client:
            _post(client, sku, unique("WARM"), warmup, rate, batch)
            for _ in range(rounds):
                before = _used(hub)
                _post(client, sku, unique("RUN"), orders, rate, batch)
                after = _used(hub)
                per_round.append({name: round((after[name] - before[name]) / orders, 3) for name in after})
    return {"db": db, "orders": orders, "rounds": rounds, "rate": rate, "batch": batch, "per_round": per_round,
            "median_per_order": {name: round(statistics.median(r[name] for r in per_round), 3)
                                 for name in per_round[0]}}


def in_process(n: int = 2000) -> dict:
    import asyncio
    import cProfile
    import pstats
    import tempfile

    from gateway import auth
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata as gateway_metadata
    from hubapi.order.v1 import order_service_pb2 as pb
    from hubkit import settings as hub_settings
    from hubkit.db import Database
    from tests.unit.gateway.test_responses import FakeService, _inventory, filled

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": tempfile.mkdtemp(prefix="bench-intake-")})
    db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(db.engine)
    key = auth.add_user(db, "sales", "sales")
    placed = pb.PlaceOrderResponse(order=filled(pb.Order, holds=[], parcels=[], merged_with=[]), created=True)
    order = FakeService(pb, "OrderService", PlaceOrder=lambda r: placed, GetIntake=lambda r: pb.GetIntakeResponse())
    app = create_app(settings, Clients(order=order, inventory=_inventory(), procurement=None, customer=None,
                                       accounting=None, ledger=None, shops={}, channels=[]))
    body = json.dumps(order_body("SKU-1", "E-1")).encode()
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"), (b"x-api-key", key.encode()),
               (b"content-length", str(len(body)).encode())]

    async def post() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/orders", "raw_path": b"/orders", "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        statuses = []

        async def receive():
            return messages.pop() if messages else await asyncio.Event().wait()

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
        await app(scope, receive, send)
        if statuses != [201]:
            raise RuntimeError(f"POST /orders -> {statuses}")

    async def measure() -> dict:
        async with app.router.lifespan_context(app):
            for _ in range(200):  # warm-up
                await post()
            began = time.process_time()
            for _ in range(n):
                await post()
            cpu = time.process_time() - began
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(n):
                await post()
            profile.disable()
        return {"orders": n, "cpu_us_per_order": round(cpu / n * 1e6),
                "python_calls_per_order": round(pstats.Stats(profile).total_calls / n, 1)}
    try:
        return asyncio.run(measure())
    finally:
        app.state.keys.db.dispose()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--orders", type=int, default=300, help="orders per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=30.0, help="orders per second")
    parser.add_argument("--batch", type=int, default=0,
                        help="orders per POST /orders/batch (0: each its own POST /orders)")
    parser.add_argument("--in-process", action="store_true", help="the gateway's app alone, no HTTP, fake services")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.in_process:
        r = in_process()
        print(json.dumps(r, indent=2) if args.json else
              f"in process: {r['cpu_us_per_order']} us CPU and {r['python_calls_per_order']} Python calls per POST /orders")
        return
    result = run(args.db, args.orders, args.rounds, args.rate, batch=args.batch)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    def line(r: dict) -> str:
        return ", ".join(f"{name} {r[name]:.2f} ms CPU, {r[f'{name} switches']:.1f} switches" for name in MEASURED)
    for i, r in enumerate(result["per_round"]):
        print(f"round {i + 1}: {line(r)}")
    print(f"median per POST /orders ({args.db}, {args.rate:g}/s): {line(result['median_per_order'])}")


if __name__ == "__main__":
    main()
