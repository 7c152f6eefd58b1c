"""The sales KPI reports over a year of sales facts: the facts of N orders (two lines each: the sale
and its cost of goods, a refund for one order in 20, a commission per shop and day) are inserted
set-based into a fresh accounting database, then each report runs as the accounting api runs it
(`services.accounting.kpis`), a few times; prints the median wall time per report in milliseconds.

    python -m bench.kpi_reports [--orders 100000] [--runs 5] [--json]

PostgreSQL only (the fill is set-based SQL in its dialect); the reports run the same on SQLite.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import text

from hub import components
from hubkit.db import Database
from services.accounting import kpis
from services.accounting.models import metadata
from tests.support import infra

# one year from 2026-01-01; channels, shops, regions, categories, SKUs and customers cycle with the order number
_FACTS = """
INSERT INTO sales_facts (voucher_id, day, kind, order_id, line_no, channel, shop, region, category, sku, customer,
                         quantity, list_amount, revenue, cogs, commission, dims_pending)
SELECT 'v' || o || kind, DATE '2026-01-01' + (o % 365), kind, 'o' || o, l,
       (ARRAY['taobao', 'jd', 'storefront'])[1 + o % 3], 'shop' || (o % 6), 'region' || (o % 31),
       'cat' || ((o * 7 + l) % 20), 'SKU' || ((o * 13 + l) % 500), 'c:' || (o % 20000),
       CASE kind WHEN 'sale' THEN 1 + o % 3 ELSE 0 END,
       CASE kind WHEN 'sale' THEN round((((o * 37 + l * 11) % 10000) + 100) / 100.0 * 1.1, 2) ELSE 0 END,
       CASE kind WHEN 'sale' THEN round((((o * 37 + l * 11) % 10000) + 100) / 100.0, 2)
                 WHEN 'refund' THEN -round((((o * 37 + l * 11) % 10000) + 100) / 500.0, 2) ELSE 0 END,
       CASE kind WHEN 'cost' THEN round((((o * 37 + l * 11) % 10000) + 100) / 100.0 * 0.6, 2) ELSE 0 END,
       0, FALSE
FROM generate_series(1, :orders) AS o, generate_series(1, 2) AS l,
     (VALUES ('sale'), ('cost'), ('refund')) AS k(kind)
WHERE kind <> 'refund' OR o % 20 = 0
"""
_COMMISSIONS = """
INSERT INTO sales_facts (voucher_id, day, kind, channel, shop, commission, dims_pending)
SELECT 'stl' || d || s, DATE '2026-01-01' + d, 'commission', 'taobao', 'shop' || s, 123.45, FALSE
FROM generate_series(0, 364) AS d, generate_series(0, 5) AS s
"""


def _database():
    prefix = f"{infra.session_name()}_kpis"
    url = infra.create_databases(prefix, ["accounting"])["accounting"]
    return url, lambda: infra.drop_databases(prefix, ["accounting"])


def fill(db: Database, orders: int) -> int:
    with db.session() as s:
        s.execute(text(_FACTS), {"orders": orders})
        s.execute(text(_COMMISSIONS))
        s.execute(text("ANALYZE sales_facts"))
        return int(s.execute(text("SELECT count(*) FROM sales_facts")).scalar() or 0)


def run(args) -> dict:
    url, cleanup = _database()
    try:
        components.migrate("accounting", url)
        db = Database(url, metadata, pool_size=1)
        began = time.perf_counter()
        facts = fill(db, args.orders)
        filled = time.perf_counter() - began
        cases = [(f"sales by {by}", lambda by=by: kpis.sales_report(db, "2026-01-01", "2026-12-31", by, {}))
                 for by in kpis.TIME_GRAINS + kpis.DIMENSIONS]
        cases.append(("sales by day, one shop and category", lambda: kpis.sales_report(
            db, "2026-01-01", "2026-12-31", "day", {"shop": "shop1", "category": "cat3"})))
        cases += [(f"customer ABC by {m}", lambda m=m: kpis.customer_abc(db, "2026-01-01", "2026-12-31", m, "80", "95",
                                                                          {})) for m in kpis.ABC_MEASURES]
        timings = {}
        for name, report in cases:
            runs = []
            for _ in range(args.runs):
                began = time.perf_counter()
                result = report()
                runs.append((time.perf_counter() - began) * 1000)
            timings[name] = {"median_ms": round(statistics.median(runs), 1), "rows": len(result["rows"])}
        db.dispose()
    finally:
        cleanup()
    return {"db": "postgresql", "orders": args.orders, "facts": facts, "fill_s": round(filled, 1), "runs": args.runs,
            "reports": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['orders']} orders, {result['facts']} facts ({result['db']}), filled in {result['fill_s']} s")
    for name, t in result["reports"].items():
        print(f"{name:40} median {t['median_ms']:8.1f} ms   {t['rows']} rows")


if __name__ == "__main__":
    main()
