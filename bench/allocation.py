"""What smart allocation costs per order, beside the cost of the order's reservation.

Allocation (services/inventory/allocation.py) is a pure function over the rules and the free stock
read under the batch's locks; this bench times it alone and inside the reservation it is part of:

* allocation: `candidates` + `allocate` for each order, in process, against a coverage table of
  --provinces provinces (a province row and one city row each, plus a default row) over
  --warehouses warehouses, a few shop restrictions, and free stock of --skus SKUs spread so that
  some orders go whole to their first choice, some to a later one, some split and some fall short;
* reservation: the same orders through `reservations.reserve_orders`, one order per unit of work
  (as the worker applies a batch of one), on a fresh SQLite file or PostgreSQL database, with those
  rules in the database. Its time includes the allocation, the locks, the conditional UPDATEs, the
  inserts (reservations, allocations, the decision) and the outbox row.

Reported: median and p99 per order of each, and allocation's share of the reservation's median.

    python -m bench.allocation [--orders N] [--lines L] [--warehouses W] [--db sqlite|postgresql] [--json]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.inventory import allocation, catalog, movements, reservations
from services.inventory.models import metadata
from tests.support import infra


def _ms(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=100)
    return {"median_ms": round(statistics.median(values) * 1000, 4), "p99_ms": round(q[98] * 1000, 4)}


def _world(rnd: random.Random, tag: str, n_warehouses: int, n_provinces: int, n_skus: int):
    warehouses = [f"W{i}-{tag}" for i in range(n_warehouses)]
    provinces = [f"P{i}" for i in range(n_provinces)]
    coverage = [{"province": "", "city": "", "warehouses": warehouses[:2]}]
    for p in provinces:
        coverage.append({"province": p, "city": "", "warehouses": rnd.sample(warehouses, 3)})
        coverage.append({"province": p, "city": f"{p}-C1", "warehouses": rnd.sample(warehouses, 2)})
    shops = [{"channel": "jd", "shop": f"jd-{i}", "warehouses": rnd.sample(warehouses, 2)} for i in range(3)]
    skus = [f"S{i:03d}-{tag}" for i in range(n_skus)]
    # each SKU in about half the warehouses, 0-40 units: whole, later choice, split and short all occur
    stock = {(s, w): rnd.randint(0, 40) for s in skus for w in warehouses if rnd.random() < 0.5}
    return warehouses, coverage, shops, skus, stock


def _orders(rnd: random.Random, tag: str, n: int, n_lines: int, skus: list[str], n_provinces: int) -> list[dict]:
    orders = []
    for i in range(n):
        province = f"P{rnd.randrange(n_provinces)}"
        shop = f"jd-{rnd.randrange(3)}" if rnd.random() < 0.1 else "web-shop"
        orders.append({"order_id": f"A{tag}{i:06d}", "channel": "jd" if shop.startswith("jd") else "web", "shop": shop,
                       "shipping_address": {"province": province, "city": rnd.choice([f"{province}-C1", "other"])},
                       "lines": [{"line_no": j + 1, "sku": sku, "quantity": rnd.randint(1, 3)}
                                 for j, sku in enumerate(rnd.sample(skus, n_lines))]})
    return orders


def time_allocation(rules: allocation.Rules, orders: list[dict], free: dict) -> tuple[list[float], dict]:
    took, parcels = [], {"one": 0, "split": 0, "short": 0}
    for p in orders:
        began = time.perf_counter()
        province, city = allocation.region_of(p["shipping_address"])
        ranked = allocation.candidates(rules, province, city, p["channel"], p["shop"])
        d = allocation.allocate([allocation.Line(l["line_no"], l["sku"], l["quantity"]) for l in p["lines"]],
                                ranked, free)
        took.append(time.perf_counter() - began)
        parcels["short" if d.backordered else "split" if d.parcels > 1 else "one"] += 1
    return took, parcels


def run(args) -> dict:
    rnd, tag = random.Random(args.seed), uuid.uuid4().hex[:6]
    warehouses, coverage, shops, skus, stock = _world(rnd, tag, args.warehouses, args.provinces, args.skus)
    orders = _orders(rnd, tag, args.orders, args.lines, skus, args.provinces)
    rules = allocation.Rules({(c["province"], c["city"]): c["warehouses"] for c in coverage},
                             {(s["channel"], s["shop"]): s["warehouses"] for s in shops}, warehouses)
    free: dict = {}
    for (s, w), q in stock.items():
        free.setdefault(s, {})[w] = q
    alloc, parcels = time_allocation(rules, orders, free)

    with infra.fresh_databases(args.db, f"{infra.session_name()}_alloc", ["inventory"]) as urls:
        url = urls["inventory"]
        components.migrate("inventory", url)
        db = Database(url, metadata)
        with UnitOfWork(db, "inventory", "bench", "setup") as u:
            for i, w in enumerate(warehouses):
                catalog.upsert_warehouse(u, w, w, i)
            for s in skus:
                catalog.upsert_sku(u, s, s)
            for (s, w), q in stock.items():
                if q:
                    movements.receive(u, s, w, q * 50, "5.00")  # enough that reserving does not drain it
            catalog.set_allocation_rules(u, coverage, shops)
        reserve = []
        for p in orders:
            envelope = Envelope(type="order_placed", source="order", aggregate_id=p["order_id"], sequence=1,
                                payload=p, correlation_id=p["order_id"], actor="bench")
            began = time.perf_counter()
            with UnitOfWork(db, "inventory", "bench", p["order_id"]) as u:
                reservations.reserve_orders(u, [envelope])
            reserve.append(time.perf_counter() - began)
        db.dispose()
    a, r = _ms(alloc), _ms(reserve)
    return {"db": args.db, "orders": args.orders, "lines": args.lines, "warehouses": args.warehouses,
            "allocation": a, "reservation": r, "outcomes": parcels,
            "allocation_share_of_reservation": round(a["median_ms"] / r["median_ms"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--warehouses", type=int, default=8)
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--skus", type=int, default=50)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    a, r = result["allocation"], result["reservation"]
    print(f"{result['orders']} orders x {result['lines']} lines, {result['warehouses']} warehouses ({result['db']})")
    print(f"allocation   median {a['median_ms']:.4f} ms   p99 {a['p99_ms']:.4f} ms   outcomes {result['outcomes']}")
    print(f"reservation  median {r['median_ms']:.3f} ms   p99 {r['p99_ms']:.3f} ms")
    print(f"allocation / reservation (median): {result['allocation_share_of_reservation']:.2%}")


if __name__ == "__main__":
    main()
