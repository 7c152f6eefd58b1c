"""The stock and supplier KPI reports over a large generated data set: how long each report takes,
called as the gRPC servicer calls it (services.inventory.reports, services.procurement.handlers), on
PostgreSQL. Prints the data set's size and, per report, the median and slowest wall time of `--runs`
runs in milliseconds, with the rows answered, as JSON.

    python -m bench.stock_kpis [--skus 1000] [--warehouses 5] [--days 365] [--runs 3]

The data is made in the database with generate_series (a minute at the defaults at most): per SKU and
warehouse a receipt every 30 days and a sale on about 30 % of the days (1-5 units), a FIFO layer
per receipt with a part of it left; 20 categories; 50 suppliers with one purchase order line and its
receipt per SKU and month, received from 3 days early to 4 days late. A fresh database (tests.support.infra
naming, so leftovers of a cut-off run are removed by the next) is created and dropped.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import text

from hub import components
from hubkit.db import Database
from services.inventory import reports
from services.inventory.models import metadata as inventory_metadata
from services.procurement import handlers
from services.procurement.models import metadata as procurement_metadata
from tests.support import infra

TZ = "Asia/Shanghai"

INVENTORY_SQL = """
INSERT INTO warehouses (code, name, created_by, created_at)
  SELECT 'W' || w, 'W' || w, 'bench', now() FROM generate_series(1, :warehouses) w;
INSERT INTO skus (code, name, category, created_by, created_at)
  SELECT 'S' || s, 'S' || s, 'cat' || (s % 20), 'bench', now() FROM generate_series(1, :skus) s;
INSERT INTO stock_movements (kind, sku, warehouse, quantity, unit_cost, value, reference, actor, occurred_at)
  SELECT 'receipt', 'S' || s, 'W' || w, 200, 1 + (s % 50) / 10.0, 200 * (1 + (s % 50) / 10.0), 'r', 'bench',
         :start + (d || ' days')::interval + interval '2 hours'
  FROM generate_series(1, :skus) s, generate_series(1, :warehouses) w, generate_series(0, :days - 1, 30) d;
INSERT INTO stock_movements (kind, sku, warehouse, quantity, unit_cost, value, reference, actor, occurred_at)
  SELECT 'issue', 'S' || s, 'W' || w, -q, 1 + (s % 50) / 10.0, -q * (1 + (s % 50) / 10.0), 'i', 'bench',
         :start + (d || ' days')::interval + interval '6 hours'
  FROM (SELECT s, w, d, 1 + floor(random() * 5)::int AS q, random() AS p
        FROM generate_series(1, :skus) s, generate_series(1, :warehouses) w, generate_series(0, :days - 1) d) x
  WHERE p < 0.3;
INSERT INTO cost_layers (movement_id, sku, warehouse, quantity, remaining, unit_cost, remaining_value, received_at)
  SELECT id, sku, warehouse, quantity, r, unit_cost, r * unit_cost, occurred_at
  FROM (SELECT id, sku, warehouse, quantity, unit_cost, occurred_at,
               CASE WHEN occurred_at > :start + ((:days - 60) || ' days')::interval
                    THEN floor(random() * quantity)::int ELSE 0 END AS r
        FROM stock_movements WHERE kind = 'receipt') x;
ANALYZE;
"""

PROCUREMENT_SQL = """
INSERT INTO suppliers (code, name, created_by, created_at, updated_by, updated_at)
  SELECT 'SUP' || n, 'Supplier ' || n, 'bench', now(), 'bench', now() FROM generate_series(1, 50) n;
INSERT INTO purchase_orders (id, supplier, warehouse, currency, status, created_by, created_at, updated_by, updated_at)
  SELECT 'P' || s || '-' || m, 'SUP' || (s % 50 + 1), 'W1', 'CNY', 'received', 'bench',
         :start + (m * 30 || ' days')::interval, 'bench', now()
  FROM generate_series(1, :skus) s, generate_series(0, :months - 1) m;
INSERT INTO purchase_order_lines (purchase_order_id, line_no, sku, quantity, received, unit_cost, vat_rate, amount,
                                  expected_on)
  SELECT id, 1, 'S' || split_part(substr(id, 2), '-', 1), 100, 100, 5, 0.13, 500,
         (created_at + interval '10 days')::date FROM purchase_orders;
INSERT INTO receipts (id, purchase_order_id, reference, total_net, total_tax, total, received_by, received_at, status)
  SELECT 'R' || substr(id, 2), id, 'dn', 500, 65, 565, 'bench',
         created_at + ((7 + floor(random() * 8)::int) || ' days')::interval + interval '4 hours', 'accepted'
  FROM purchase_orders;
INSERT INTO receipt_lines (receipt_id, line_no, sku, quantity, unit_cost, vat_rate, amount, tax)
  SELECT r.id, 1, l.sku, 100, 5, 0.13, 500, 65
  FROM receipts r JOIN purchase_order_lines l ON l.purchase_order_id = r.purchase_order_id;
ANALYZE;
"""


def _run(sql: str, db: Database, **params) -> None:
    with db.engine.begin() as c:
        for statement in filter(str.strip, sql.split(";")):
            c.execute(text(statement), params)


def _time(fn, runs: int) -> dict:
    walls, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        answer = fn()
        walls.append(time.perf_counter() - started)
        rows = len(answer["rows"]) if isinstance(answer, dict) else len(answer)
    return {"median_ms": round(statistics.median(walls) * 1000, 1), "max_ms": round(max(walls) * 1000, 1),
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--warehouses", type=int, default=5)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (1 <= args.skus <= 20000 and 1 <= args.warehouses <= 50 and 60 <= args.days <= 1095 and 1 <= args.runs <= 20):
        raise SystemExit("--skus 1..20000, --warehouses 1..50, --days 60..1095, --runs 1..20")
    start = datetime.combine(date.today() - timedelta(days=args.days), datetime.min.time(), timezone.utc)
    end = date.today() - timedelta(days=1)
    prefix, names = infra.session_name(), ["inventory", "procurement"]
    urls = infra.create_databases(prefix, names)
    result: dict = {"skus": args.skus, "warehouses": args.warehouses, "days": args.days, "runs": args.runs,
                    "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "load_average_before": round(os.getloadavg()[0], 2), "reports": {}}
    inventory = procurement = None
    try:
        components.migrate("inventory", urls["inventory"])
        components.migrate("procurement", urls["procurement"])
        inventory = Database(urls["inventory"], inventory_metadata, pool_size=2)
        procurement = Database(urls["procurement"], procurement_metadata, pool_size=2)
        made = time.perf_counter()
        _run(INVENTORY_SQL, inventory, skus=args.skus, warehouses=args.warehouses, days=args.days, start=start)
        _run(PROCUREMENT_SQL, procurement, skus=args.skus, months=args.days // 30, start=start)
        result["generate_seconds"] = round(time.perf_counter() - made, 1)
        with inventory.reader() as s:
            result["stock_movements"] = s.execute(text("SELECT count(*) FROM stock_movements")).scalar()
            result["cost_layers"] = s.execute(text("SELECT count(*) FROM cost_layers")).scalar()
        with procurement.reader() as s:
            result["receipt_lines"] = s.execute(text("SELECT count(*) FROM receipt_lines")).scalar()
        quarter = (end - timedelta(days=89)).isoformat(), end.isoformat()
        year = (end - timedelta(days=args.days - 2)).isoformat(), end.isoformat()
        db = inventory
        cases = {
            "turnover by sku, 90 days": lambda: reports.turnover(db, *quarter, "sku", tz=TZ),
            "turnover by category, 90 days": lambda: reports.turnover(db, *quarter, "category", tz=TZ),
            "turnover by warehouse, 90 days": lambda: reports.turnover(db, *quarter, "warehouse", tz=TZ),
            "turnover by sku, one warehouse and category, a year": lambda: reports.turnover(
                db, *year, "sku", "W1", TZ, "cat1"),
            "slow movers 7 days, all together": lambda: reports.slow_movers(db, 7, as_of=end, tz=TZ),
            "slow movers 7 days, per warehouse": lambda: reports.slow_movers(db, 7, as_of=end, tz=TZ,
                                                                              per_warehouse=True),
            "forecast 30 days ahead from 90, moving average, every SKU": lambda: reports.sales_forecast(
                db, 30, "moving_average", 90, as_of=end, tz=TZ),
            "forecast 30 days ahead from 90, holt_winters, every SKU": lambda: reports.sales_forecast(
                db, 30, "holt_winters", 90, as_of=end, tz=TZ),
            "forecast 30 days ahead from 90, holt_winters, one SKU": lambda: reports.sales_forecast(
                db, 30, "holt_winters", 90, sku="S1", as_of=end, tz=TZ),
            "supplier on-time per month, a year": lambda: handlers.on_time_report(procurement, *year),
            "supplier scorecard, a year (for comparison)": lambda: handlers.supplier_scorecard(procurement, *year),
        }
        for name, fn in cases.items():
            result["reports"][name] = _time(fn, args.runs)
            print(f"{name}: {result['reports'][name]}", flush=True)
    finally:
        for database in (inventory, procurement):
            if database is not None:
                database.dispose()
        infra.drop_databases(prefix, names)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
