"""`hub up` and `hub demo`: the embedded default (SQLite under var/, the local RabbitMQ),
every process started as its own OS process, stopped together."""
from __future__ import annotations

import json
import random
import signal
import time
import uuid
from collections import Counter

import httpx

from hubkit import broker, migrations, settings as hubsettings
from hubkit.supervisor import Stack

METRICS_BASE_PORT = 9100


def _start_stack() -> Stack:
    s = hubsettings.load()
    broker.ensure_running(s.amqp_uri)
    for svc in s.db_urls:
        migrations.upgrade(svc, s.db_url(svc))
    migrations.upgrade("gateway", s.gateway_db_url)
    broker.declare_topology(s.amqp_uri)
    names = [n for n in _names()]
    # the gateway serves /metrics on its own HTTP port
    stack = Stack({}, s.var_dir / "log",
                  metrics_ports=lambda name: 0 if name == "gateway" else METRICS_BASE_PORT + names.index(name))
    stack.start()
    try:
        stack.wait_ready(90)
    except Exception:
        stack.stop()
        raise
    return stack


def _names():
    from hubkit.supervisor import process_table
    return [p.name for p in process_table(lambda _: 0)]


def run_up() -> None:
    stack = _start_stack()
    print(f"hub is up: gateway {stack.gateway_url} (OpenAPI at /docs), logs in {stack.log_dir}; Ctrl-C stops it")
    for name, proc in stack.procs.items():
        where = f"{stack.gateway_url}/metrics" if name == "gateway" else f":{proc.metrics_port}/metrics"
        print(f"  {name:18s} pid {proc.popen.pid:<7d} metrics {where}")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            time.sleep(0.5)
            dead = [n for n in stack.procs if not stack.running(n)]
            if dead:
                print(f"process(es) exited: {dead}; stopping the hub")
                break
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("hub stopped")


# -- the demo ---------------------------------------------------------------
CATALOG = [("TEA-LONGJING-250G", "West Lake Longjing tea 250 g", "168.00"),
           ("TEA-PUER-357G", "Pu'er cake 357 g", "238.00"),
           ("CUP-CELADON", "Celadon tea cup", "45.50"),
           ("POT-YIXING", "Yixing clay teapot", "599.00"),
           ("SET-TRAVEL", "Travel tea set", "129.90")]
STOCK = {("TEA-LONGJING-250G", "SH"): (40, "95.00"), ("TEA-PUER-357G", "SH"): (15, "120.00"),
         ("CUP-CELADON", "SH"): (60, "12.300000"), ("CUP-CELADON", "BJ"): (30, "12.800000"),
         ("POT-YIXING", "BJ"): (20, "310.00"), ("SET-TRAVEL", "BJ"): (25, "61.25")}


def _post(client, path, body):
    reply = client.post(path, json=body)
    if reply.status_code >= 400:
        raise RuntimeError(f"POST {path} -> {reply.status_code}: {reply.text}")
    return reply.json()


def push_demo_orders(client: httpx.Client, run: str, count: int = 40) -> list[str]:
    rng = random.Random(7)
    ids = []
    for n in range(count):
        lines = [{"sku": sku, "quantity": rng.randint(1, 2), "unit_price": price}
                 for sku, _, price in rng.sample(CATALOG, rng.randint(1, 2))]
        if n == count - 1:  # one order for more than is in stock
            lines = [{"sku": "POT-YIXING", "quantity": 50, "unit_price": "599.00"}]
        order = _post(client, "/orders", {
            "channel": rng.choice(["taobao", "jd", "storefront"]), "shop": "demo-shop",
            "external_order_id": f"DEMO-{run}-{n:03d}",
            "buyer": {"external_id": f"buyer-{rng.randint(1, 15)}", "name": "Demo Buyer", "phone": "13800000000"},
            "shipping_address": {"recipient": "Demo Buyer", "province": "Zhejiang", "city": "Hangzhou",
                                 "street": f"{n + 1} Demo Road"},
            "lines": lines})
        ids.append(order["id"])
    return ids


def wait_settled(client: httpx.Client, ids: list[str], timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        orders = [client.get(f"/orders/{i}").json() for i in ids]
        if all(o["status"] != "pending" for o in orders) or time.monotonic() > deadline:
            return orders
        time.sleep(0.5)


def summarize(orders: list[dict], stock: list[dict]) -> dict:
    lines = Counter(l["reservation"] for o in orders for l in o["lines"])
    return {"orders": len(orders), "orders_by_status": dict(Counter(o["status"] for o in orders)),
            "lines_by_reservation": dict(lines),
            "short_orders": [{"external_order_id": o["external_order_id"],
                              "lines": [(l["sku"], l["quantity"]) for l in o["lines"]
                                        if l["reservation"] == "backordered"]}
                             for o in orders if o["status"] == "backordered"],
            "stock": stock}


def run_demo(as_json: bool = False) -> None:
    from gateway import auth
    from gateway.models import metadata
    from hubkit.db import Database

    s = hubsettings.load()
    say = (lambda *a: None) if as_json else print
    say("starting the hub (embedded default: SQLite under var/, local RabbitMQ) ...")
    stack = _start_stack()
    try:
        run = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:4]
        key = auth.add_user(Database(s.gateway_db_url, metadata), f"demo-{run}", "admin")
        with httpx.Client(base_url=stack.gateway_url, headers={"X-API-Key": key}, timeout=30) as client:
            for code, name, priority in (("SH", "Shanghai DC", 1), ("BJ", "Beijing DC", 2)):
                _post(client, "/warehouses", {"code": code, "name": name, "priority": priority})
            for sku, name, _ in CATALOG:
                _post(client, "/skus", {"code": sku, "name": name})
            for (sku, wh), (qty, cost) in STOCK.items():
                _post(client, "/stock/receipts", {"sku": sku, "warehouse": wh, "quantity": qty,
                                                  "unit_cost": cost, "reference": f"DEMO-{run}"})
            say(f"received stock for {len(CATALOG)} SKUs in 2 warehouses; pushing 40 orders ...")
            started = time.monotonic()
            ids = push_demo_orders(client, run)
            orders = wait_settled(client, ids)
            elapsed = time.monotonic() - started
            stock = [lvl for sku, _, _ in CATALOG for lvl in client.get(f"/stock/{sku}").json()["levels"]]
    finally:
        stack.stop()
    summary = summarize(orders, stock)
    summary["seconds"] = round(elapsed, 2)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    print(f"\n{summary['orders']} orders in {elapsed:.1f}s: " +
          ", ".join(f"{n} {status}" for status, n in sorted(summary["orders_by_status"].items())))
    print("lines: " + ", ".join(f"{n} {r}" for r, n in sorted(summary["lines_by_reservation"].items())))
    for short in summary["short_orders"]:
        print(f"  backordered: {short['external_order_id']} {short['lines']}")
    print("\nstock after reservations (on hand / reserved / available):")
    for lvl in stock:
        print(f"  {lvl['sku']:20s} {lvl['warehouse']:3s} {lvl['on_hand']:5d} {lvl['reserved']:5d} {lvl['available']:5d}")
