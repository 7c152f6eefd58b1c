"""Review rule evaluation per order (issue 13): a 20-rule set over the order facts, evaluated for
synthetic orders in process (no database; gathering the facts is a few set-based statements per batch,
part of the stock answer's transaction). Prints the median and p99 per order, wall and CPU, in
microseconds, as JSON.

    python -m bench.review_rules [--orders 20000]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from decimal import Decimal

from hubkit import rules
from services.order import review

RULES = [
    ("credit-limit", "has_credit_limit and exposure > credit_limit", "hold", "finance_approval"),
    ("return-rate", "return_rate > 0.05", "hold", "finance_approval"),
    ("big-line", "max_line_value > 10000", "double_check", None),
    ("vip", 'customer_tier == "vip" and amount < 10000 and stock_covers', "approve", None),
    ("address", "not address_complete", "hold", "address_check"),
    ("remote", 'province in ["Xinjiang", "Tibet"] and amount > 2000', "hold", "needs_review"),
    ("deep-discount", "discount_ratio > 0.5", "hold", "fraud_suspicion"),
    ("many-lines", "line_count > 30", "note", None),
    ("bulk", "total_quantity > 500", "hold", "needs_review"),
    ("message", "buyer_message", "note", None),
    ("hot-sku", '"HOT-1" in skus', "set_priority", None),
    ("jd-big", 'channel == "jd" and amount > 5000', "hold", "needs_review"),
    ("pricey-unit", "max_unit_price > 8000", "double_check", None),
    ("new-customer-big", "customer_orders < 2 and amount > 3000", "hold", "fraud_suspicion"),
    ("shop-flagship", 'shop == "flagship" and amount > 20000', "hold", "finance_approval"),
    ("any-big-line", "[v for v in line_values if v > 5000].length > 2", "hold", "needs_review"),
    ("short", "not stock_covers and amount > 1000", "hold", "out_of_stock"),
    ("foreign", 'currency != "CNY"', "note", None),
    ("city", 'city == "Lhasa"', "route_to_warehouse", None),
    ("returns-many", "customer_returns > 10", "hold", "finance_approval"),
]


def rule_set() -> rules.RuleSet:
    def action(kind, reason):
        return {"hold": {"kind": "hold", "reason": reason}, "note": {"kind": "note", "note": "look"},
                "set_priority": {"kind": "set_priority", "priority": 5},
                "route_to_warehouse": {"kind": "route_to_warehouse", "warehouse": "WH-WEST"}}.get(kind, {"kind": kind})
    return review.compile_document({"name": "bench-20", "rules": [
        {"id": i, "when": w, "actions": [action(k, r)]} for i, w, k, r in RULES]})


def facts(rng: random.Random) -> dict:
    n = rng.randint(1, 5)
    values = [Decimal(rng.randint(100, 1_500_000)) / 100 for _ in range(n)]
    return {"channel": rng.choice(["taobao", "jd", "web"]), "shop": "flagship", "currency": "CNY",
            "amount": sum(values), "line_count": n, "skus": [f"SKU-{rng.randint(1, 50)}" for _ in range(n)],
            "categories": [], "quantities": [1] * n, "total_quantity": n, "discount_ratio": Decimal("0.1"),
            "buyer_message": rng.random() < 0.1, "province": "Zhejiang", "city": "Hangzhou",
            "address_complete": rng.random() < 0.95, "customer_tier": rng.choice(["vip", "", "standard"]),
            "has_credit_limit": True, "credit_limit": Decimal("20000"), "exposure": sum(values),
            "customer_orders": rng.randint(0, 40), "customer_returns": rng.randint(0, 3),
            "return_rate": Decimal("0.02"), "stock_covers": rng.random() < 0.9, "unit_prices": values,
            "max_unit_price": max(values), "line_values": values, "max_line_value": max(values),
            "below_list_price": rng.random() < 0.05}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=20000)
    args = p.parse_args()
    rs, rng = rule_set(), random.Random(13)
    orders = [facts(rng) for _ in range(args.orders)]
    wall, cpu = [], []  # CPU time too: on a shared machine the wall clock's tail is other processes' turn
    for f in orders:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        rules.evaluate(rs, review.FACTS, f)
        cpu.append((time.thread_time_ns() - start_cpu) / 1000)
        wall.append((time.perf_counter_ns() - start) / 1000)

    def summary(times):
        times = sorted(times)
        return {"median_us": round(statistics.median(times), 1), "p99_us": round(times[int(len(times) * 0.99) - 1], 1)}
    print(json.dumps({"rules": len(rs.rules), "orders": len(wall), "wall": summary(wall), "cpu": summary(cpu)}))


if __name__ == "__main__":
    main()
