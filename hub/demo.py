"""`hub demo`: the hub's main job on the embedded default. Starts every process, buys stock
from a supplier at two different costs, sells a few dozen orders through the gateway (one
for more than is in stock), shows the processing layer at work on them (a review rule holds a
wholesale order and an operator releases it, an order's allocation explained, two orders of one
buyer merged into one shipment), ships what is reserved, and reports orders, stock, stock value,
vouchers and the trial balance."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx

from hub import apis, components
from hub.components import PROJECT_ROOT
from hub.supervisor import free_port, spawn, start_embedded
from hubkit import broker
from hubkit.money import unit_cost

CATALOG = [("TEA-LONGJING-250G", "West Lake Longjing tea 250 g", "168.00"),
           ("TEA-PUER-357G", "Pu'er cake 357 g", "238.00"),
           ("CUP-CELADON", "Celadon tea cup", "45.50"),
           ("POT-YIXING", "Yixing clay teapot", "599.00"),
           ("SET-TRAVEL", "Travel tea set", "129.90")]
# (sku, warehouse): (units, first purchase cost excluding VAT); the second purchase costs 8% less
STOCK = {("TEA-LONGJING-250G", "SH"): (40, "95.00"), ("TEA-PUER-357G", "SH"): (15, "120.00"),
         ("CUP-CELADON", "SH"): (60, "12.30"), ("CUP-CELADON", "BJ"): (30, "12.80"),
         ("POT-YIXING", "BJ"): (20, "310.00"), ("SET-TRAVEL", "BJ"): (25, "61.25")}
CARRIERS = ("SF", "ZTO", "YTO", "JD")
# The demo's own review rule, in force beside the shipped default's: a person checks a wholesale order.
WHOLESALE_SHOP = "demo-wholesale"
WHOLESALE_RULE = {"id": "wholesale-review", "description": "A wholesale order is checked by a person before it ships.",
                  "when": f'shop == "{WHOLESALE_SHOP}"', "actions": [{"kind": "hold", "reason": "needs_review"}]}


class Demo:
    def __init__(self, client: httpx.Client, run: str, say, approvers: dict[str, str] | None = None):
        self.client, self.run, self.say = client, run, say
        self.approvers = approvers or {}  # role -> API key of a user who approves that role's steps

    def approve(self, po: dict) -> dict:
        """Each waiting step of the purchase order's approval chain, by a user of its role (four eyes:
        never the demo's own user, who raised it)."""
        while waiting := next((st for st in po["approval_steps"] if st["status"] == "waiting"), None):
            reply = self.client.post(f"/purchase-orders/{po['id']}/approve", json={"comment": "demo: approved"},
                                     headers={"X-API-Key": self.approvers[waiting["role"]]})
            if reply.status_code >= 400:
                raise RuntimeError(f"approving {po['id']} -> {reply.status_code}: {reply.text}")
            po = reply.json()
        return po

    def post(self, path, body):
        reply = self.client.post(path, json=body, headers={"Idempotency-Key": f"demo-{uuid.uuid4().hex}"})
        if reply.status_code >= 400:
            raise RuntimeError(f"POST {path} -> {reply.status_code}: {reply.text}")
        return reply.json()

    def wait(self, what: str, check, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo: timed out waiting for {what}")
            time.sleep(0.3)
        return result

    def seed(self) -> list[str]:
        for code, name, priority in (("SH", "Shanghai DC", 1), ("BJ", "Beijing DC", 2)):
            self.post("/warehouses", {"code": code, "name": name, "priority": priority})
        for sku, name, _ in CATALOG:
            self.post("/skus", {"code": sku, "name": name})
        self.post("/suppliers", {"code": "TEA-GARDEN", "name": "Tea Garden Trading Co."})
        before = {sku: self.on_hand(sku) for sku, _, _ in CATALOG}
        receipts = []
        for (sku, warehouse), (units, cost) in STOCK.items():
            for qty, price in ((units // 2, Decimal(cost)), (units - units // 2, unit_cost(Decimal(cost) * Decimal("0.92")))):
                po = self.post("/purchase-orders", {"supplier": "TEA-GARDEN", "warehouse": warehouse,
                                                    "lines": [{"sku": sku, "quantity": qty, "unit_cost": str(price)}]})
                self.approve(po)
                receipts.append(self.post(f"/purchase-orders/{po['id']}/receipts",
                                          {"reference": f"DN-{self.run}"})["receipt"]["id"])
        expected = {sku: before[sku] + sum(u for (s, _), (u, _) in STOCK.items() if s == sku) for sku in before}
        self.wait("purchased goods to arrive", lambda: all(self.on_hand(s) == n for s, n in expected.items()))
        return receipts

    def on_hand(self, sku: str) -> int:
        return sum(l["on_hand"] for l in self.client.get(f"/stock/{sku}").json()["levels"])

    def review_rules(self) -> int:
        """The shipped default rule set with the demo's wholesale rule first, in force as a new version."""
        import yaml

        from services.order.review import DEFAULT_FILE
        document = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
        document["rules"] = [WHOLESALE_RULE, *document["rules"]]
        return self.post("/review/rule-sets", {"document": document, "note": "demo: wholesale orders are checked"})[
            "version"]

    def sell(self, count: int = 40) -> list[dict]:
        rng = random.Random(7)
        ids = []
        for n in range(count):
            lines = [{"sku": sku, "quantity": rng.randint(1, 2), "unit_price": price}
                     for sku, _, price in rng.sample(CATALOG, rng.randint(1, 2))]
            if n == count - 1:  # one order for more than is in stock
                lines = [{"sku": "POT-YIXING", "quantity": 50, "unit_price": "599.00"}]
            channel, shop, buyer = rng.choice(["taobao", "jd", "storefront"]), "demo-shop", f"buyer-{rng.randint(1, 15)}"
            street = f"{n + 1} Demo Road"
            if n == count - 4:  # a wholesale order: the demo's review rule holds it for a person
                shop = WHOLESALE_SHOP
                lines = [{"sku": "TEA-LONGJING-250G", "quantity": 2, "unit_price": "168.00"},
                         {"sku": "CUP-CELADON", "quantity": 4, "unit_price": "45.50"}]
            if n in (count - 3, count - 2):  # one buyer's two orders to one address from one shop: merged
                channel, buyer, street = "taobao", "buyer-merge", "88 Merge Lane"
                lines = [{"sku": "CUP-CELADON", "quantity": n - count + 4, "unit_price": "45.50"}]
            ids.append(self.post("/orders", {
                "channel": channel, "shop": shop,
                "external_order_id": f"DEMO-{self.run}-{n:03d}",
                "buyer": {"external_id": buyer, "name": "Demo Buyer", "phone": "13800000000"},
                "shipping_address": {"recipient": "Demo Buyer", "province": "Zhejiang", "city": "Hangzhou",
                                     "street": street},
                "lines": lines})["id"])
        return self.wait("every order to be answered", lambda: (
            lambda orders: orders if all(o["status"] != "pending" for o in orders) else None)(
            [self.client.get(f"/orders/{i}").json() for i in ids]))

    def process(self, orders: list[dict]) -> tuple[list[dict], dict]:
        """The processing layer on the sold orders: the held wholesale order's decision and its release
        by an operator, the allocation of an order explained, the merged orders. Returns the orders as
        they are now and what was seen."""
        held = [o for o in orders if o["status"] == "held"]
        review = []
        for order in held:
            [decision] = self.client.get(f"/orders/{order['id']}/decisions").json()["decisions"][-1:]
            released = self.post(f"/orders/{order['id']}/release", {"note": "demo: wholesale buyer verified by phone"})
            review.append({"external_order_id": order["external_order_id"], "shop": order["shop"],
                           "held_for": [h["reason"] for h in order["holds"]], "rule": decision["rule"],
                           "rule_set_version": decision["rule_set_version"], "released_by": released["holds"][-1][
                               "released_by"], "status_after": released["status"]})
        explained = next((o for o in orders if o["status"] in ("reserved", "held") and len(o["lines"]) > 1), orders[0])
        allocation = self.client.get(f"/stock/allocations/{explained['id']}").json()
        groups: dict[str, list[str]] = {}
        for o in orders:
            if o["merge_group"]:
                groups.setdefault(o["merge_group"], []).append(o["external_order_id"])
        orders = [self.client.get(f"/orders/{o['id']}").json() for o in orders]
        return orders, {
            "review": review,
            "allocation": {"external_order_id": explained["external_order_id"], "chosen": allocation["chosen"],
                           "candidates": [[c["warehouse"], c["rank"], c["source"]] for c in allocation["candidates"]],
                           "parcels": allocation["parcels"], "reason": allocation["reason"]},
            "merged": sorted(sorted(g) for g in groups.values())}

    def ship(self, orders: list[dict]) -> list[str]:
        """Ship every reserved order; an order of a merge group ships with its group (one tracking number)."""
        shipped: list[str] = []
        for n, order in enumerate(o for o in orders if o["status"] == "reserved"):
            if order["id"] in shipped:
                continue
            carrier = CARRIERS[n % len(CARRIERS)]
            self.post(f"/orders/{order['id']}/shipment", {"carrier": carrier, "tracking_number": f"{carrier}{self.run}{n:03d}"})
            shipped += [order["id"], *order["merged_with"]]
        return shipped

    def vouchers(self, source_ids: list[str], per_source: int) -> list[dict]:
        def all_posted():
            found = [v for i in source_ids
                     for v in self.client.get("/accounting/vouchers", params={"source_id": i}).json()["vouchers"]]
            return found if len(found) >= per_source * len(source_ids) else None
        return self.wait("every voucher to be posted", all_posted)


def summarize(orders, stock_value, vouchers, trial_balance, seconds) -> dict:
    by_kind: dict[str, dict] = {}
    for v in vouchers:
        entry = by_kind.setdefault(v["kind"], {"count": 0, "total": Decimal("0.00")})
        entry["count"] += 1
        entry["total"] += Decimal(v["total"])
    return {
        "seconds": round(seconds, 2),
        "orders": len(orders),
        "orders_by_status": dict(Counter(o["status"] for o in orders)),
        "lines_by_reservation": dict(Counter(l["reservation"] for o in orders for l in o["lines"])),
        "short_orders": [{"external_order_id": o["external_order_id"],
                          "lines": [[l["sku"], l["quantity"]] for l in o["lines"] if l["reservation"] == "backordered"]}
                         for o in orders if o["status"] == "backordered"],
        "stock_value": stock_value,
        "vouchers": {k: {"count": e["count"], "total": str(e["total"])} for k, e in sorted(by_kind.items())},
        "vouchers_balanced": all(sum(Decimal(l["debit"]) for l in v["lines"]) ==
                                 sum(Decimal(l["credit"]) for l in v["lines"]) for v in vouchers),
        "trial_balance": trial_balance,
    }


def print_summary(summary: dict) -> None:
    print(f"\n{summary['orders']} orders in {summary['seconds']:.1f}s: " +
          ", ".join(f"{n} {status}" for status, n in sorted(summary["orders_by_status"].items())))
    for short in summary["short_orders"]:
        print(f"  backordered: {short['external_order_id']} {short['lines']}")
    processing = summary.get("processing") or {}
    print("\nprocessing (review, allocation, merge):")
    for r in processing.get("review", []):
        print(f"  review: {r['external_order_id']} ({r['shop']}) held for {', '.join(r['held_for'])} by rule "
              f"{r['rule']} (rule set v{r['rule_set_version']}); released by {r['released_by']}: {r['status_after']}")
    a = processing.get("allocation")
    if a:
        print(f"  allocation of {a['external_order_id']}: ships from {', '.join(a['chosen'])} "
              f"({a['parcels']} parcel{'s' if a['parcels'] != 1 else ''}); candidates "
              + ", ".join(f"{w} #{rank} by {source}" for w, rank, source in a["candidates"]) + f"; {a['reason']}")
    for group in processing.get("merged", []):
        print(f"  merged: {' + '.join(group)} ship as one parcel")
    print("\nstock value per warehouse (FIFO layers left):")
    for w in summary["stock_value"]["warehouses"]:
        print(f"  {w['warehouse']:4s} {w['quantity']:6d} units  {w['value']:>12s}")
        for s in w["skus"]:
            print(f"       {s['sku']:20s} {s['quantity']:5d}  {s['value']:>12s}")
    print(f"  total{'':>19s}{summary['stock_value']['total']:>12s}")
    print("\nvouchers posted by this run:")
    for kind, v in summary["vouchers"].items():
        print(f"  {kind:15s} {v['count']:4d}  {v['total']:>12s}")
    print(f"  every voucher balanced: {'yes' if summary['vouchers_balanced'] else 'NO'}")
    tb = summary["trial_balance"]
    print(f"\ntrial balance {tb['period']} (all postings so far):")
    for r in tb["rows"]:
        print(f"  {r['account']:10s} {r['name'][:34]:34s} {r['debit']:>12s} {r['credit']:>12s} {r['closing']:>12s}")
    print(f"  {'total':45s} {tb['total_debit']:>12s} {tb['total_credit']:>12s}")
    print(f"  balanced (debits = credits, balances sum to zero): {'yes' if tb['balanced'] else 'NO'}")
    audit = summary["books_audit"]
    print("\nthe books against the stock and the open documents (GET /audit/books): "
          + ("they agree" if audit["agrees"] else "DIFFERENCES"))
    for r in audit["inventory"]:
        print(f"  {r['cost_centre']:33s} books {r['books']:>10s}  stock {r['stock']:>10s}  "
              f"difference {r['difference']:>8s}")
    for r in audit["payables"]:
        print(f"  {r['account']} {r['counterparty']:28s} books {r['books']:>10s}  documents {r['documents']:>10s}  "
              f"difference {r['difference'] or 'not compared':>8s}")
    debtors = audit["receivables"]
    differing = [r for r in debtors if r["difference"] not in ("0.00", None)]
    print(f"  {debtors[0]['account'] if debtors else 'receivable'} {len(debtors)} debtors (buyers, platform shops): "
          + (f"{len(differing)} differ" if differing else "each agrees with its open sales"))
    for ledger, l in summary.get("ledgers", {}).items():
        rec = l["reconciliation"]
        print(f"\nledger {ledger}: {l['confirmed']} vouchers confirmed, {l['rejected']} rejected, "
              f"{l['duplicate_pushes']} duplicate push attempts; reconciliation for {rec['period']}: "
              f"{'no difference' if rec['matches'] else 'DIFFERENCES (see hub ledger reconcile)'}")


# The Kingdee-style simulator's own test credentials (simulators/kingdee), for the demo only.
DEMO_VHOST = "hub-demo"  # on the local broker; removed again when the demo ends
DEMO_KINGDEE = {"HUB_KINGDEE_ACCT_ID": "0c30c597dc1565d147b3a371", "HUB_KINGDEE_USER_NAME": "hub",
                "HUB_KINGDEE_APP_ID": "300001_aHViLXNpbS1rM2Nsb3VkLXNlY3JldCEh",
                "HUB_KINGDEE_APP_SECRET": "919a478ce0957387dd907cd949e78cf2"}


@contextmanager
def demo_world(say):
    """A fresh world for every demo run: databases under var/demo, its own vhost on the local
    broker (made afresh), and a Kingdee-style ledger simulator for the ledger connector, unless
    HUB_AMQP_URI or HUB_LEDGERS say otherwise; free ports unless HUB_*_PORT name them."""
    base = components.settings()
    var = base.var_dir / "demo"
    shutil.rmtree(var, ignore_errors=True)
    (var / "log").mkdir(parents=True)
    env = {"HUB_VAR_DIR": str(var)}
    # ports of its own, outside the kernel's range for outgoing connections (a fixed port there can
    # be taken for a moment by some client socket), so the demo also runs beside `hub up`
    env.update(components.grpc_endpoints(free_port, os.environ))  # services, ledger and shop connectors
    if not os.environ.get("HUB_GATEWAY_PORT"):
        env["HUB_GATEWAY_PORT"] = str(free_port())
    vhost = None
    if not os.environ.get("HUB_AMQP_URI"):
        broker.ensure_running(base.amqp_uri)
        broker.delete_local_vhost(DEMO_VHOST)  # what a run cut off left behind: a fresh, empty vhost
        uri = broker.local_vhost(DEMO_VHOST)
        if uri:
            vhost = DEMO_VHOST
            env["HUB_AMQP_URI"] = uri
    simulator = None
    if not base.ledgers:
        port = free_port()
        log = open(var / "log" / "sim-kingdee.log", "ab")
        simulator = spawn([sys.executable, "-m", "simulators.kingdee", "--host", "127.0.0.1", "--port", str(port)],
                          stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        env.update({"HUB_LEDGERS": "kingdee", "HUB_KINGDEE_URL": f"http://127.0.0.1:{port}/k3cloud/", **DEMO_KINGDEE})
        say(f"a Kingdee-style ledger simulator listens on port {port}")
    os.environ.update(env)
    try:
        yield components.settings()
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(10)
        if vhost is not None:  # its queues would keep holding the broker's file descriptors
            broker.delete_local_vhost(vhost)


def ledger_summary(client: httpx.Client, settings, period: str, expected: int) -> dict:
    """Wait until the ledgers confirmed every voucher (or refused some), then reconcile."""
    def settled():
        st = client.get("/ledger/status").json()["ledgers"]
        return st if all(l["confirmed"] + l["rejected"] >= expected and not l["pending"] and not l["pushing"]
                         for l in st) else None
    deadline = time.monotonic() + 120
    while not (status := settled()) and time.monotonic() < deadline:
        time.sleep(0.5)
    status = status or client.get("/ledger/status").json()["ledgers"]
    return {l["ledger"]: {**{k: l[k] for k in ("confirmed", "rejected", "duplicate_pushes")},
                          "reconciliation": apis.reconcile_report(l["ledger"], period)}
            for l in status}


def run_demo(as_json: bool = False) -> None:
    from gateway import auth
    from gateway.models import metadata
    from hubkit.db import Database

    say = (lambda *a: None) if as_json else (lambda *a: print(*a, flush=True))
    say("starting the hub (embedded default: SQLite under var/demo, local RabbitMQ) ...")
    with demo_world(say) as s:
        stack = start_embedded()
        try:
            run = time.strftime("%y%m%d%H%M%S") + uuid.uuid4().hex[:4]
            gateway_db = Database(s.gateway_db_url, metadata)
            key = auth.add_user(gateway_db, f"demo-{run}", "admin")
            approvers = {role: auth.add_user(gateway_db, f"demo-{role}-{run}", role)
                         for role in ("dept_manager", "finance_director")}
            with httpx.Client(base_url=stack.gateway_url, headers={"X-API-Key": key}, timeout=30) as client:
                demo = Demo(client, run, say, approvers)
                started = time.monotonic()
                say("buying stock from Tea Garden Trading Co. at two costs per SKU (each order approved) ...")
                receipts = demo.seed()
                version = demo.review_rules()
                say(f"review rules v{version}: the shipped default and a person checks every wholesale order")
                say("selling 40 orders through the gateway ...")
                orders = demo.sell()
                say("an operator releases the held order; an allocation explained; the merged orders ...")
                orders, processing = demo.process(orders)
                say("shipping every reserved order (a merge group as one) ...")
                shipped = demo.ship(orders)
                vouchers = demo.vouchers(shipped, 2) + demo.vouchers(receipts, 1)
                orders = [client.get(f"/orders/{o['id']}").json() for o in orders]
                period = datetime.now(ZoneInfo(s.timezone)).strftime("%Y-%m")
                summary = summarize(orders, client.get("/stock-value").json(), vouchers,
                                    client.get("/accounting/trial-balance", params={"period": period}).json(),
                                    time.monotonic() - started)
                summary["books_audit"] = client.get("/audit/books").json()
                summary["processing"] = processing
                say("waiting for the ledger to confirm every voucher ...")
                summary["ledgers"] = ledger_summary(client, s, period, len(vouchers))
        finally:
            stack.stop()
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_summary(summary)
