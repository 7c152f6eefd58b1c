"""Imports: how fast the gateway reads and checks a large file, and how much memory it takes.

    .venv/bin/python -m bench.imports                  # 100,000 SKU rows, xlsx and CSV
    .venv/bin/python -m bench.imports --rows 20000 --kind opening_stock --service 20000 --json

For each format: the file is generated (not timed), then read and checked row by row as
POST /imports/{kind} does (gateway.areas.imports.engine.read: openpyxl read-only streaming, every
column's type, duplicates within the file) — once timed (rows/s), once under tracemalloc (peak
Python memory of the read). `--service N` also times inventory's own check of N rows (a dry run of
services.inventory.imports.apply on a fresh SQLite database: the catalogue queries, the bulk
checks of new SKUs), which is what a dry run through the gateway adds."""
from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from openpyxl import Workbook

from gateway.areas.imports import engine
from gateway.areas.imports.kinds import KINDS, Problem


def _row(kind: str, i: int) -> list:
    if kind == "skus":
        return [f"SKU-{i:07d}", f"Item number {i}", "pcs", f"cat{i % 50}", "yes" if i % 10 == 0 else "no",
                "fifo", f"69{i:011d}", ""]
    return [f"SKU-{i:07d}", "W1", 1 + i % 50, f"{1 + i % 97}.25", "", f"L{i}" if i % 10 == 0 else "",
            "2099-06-30" if i % 10 == 0 else ""]


def _header(kind: str) -> list[str]:
    return (["code", "name", "base_unit", "category", "lot_tracked", "costing", "barcodes", "components"]
            if kind == "skus" else ["sku", "warehouse", "quantity", "unit_cost", "bin", "lot", "expires_on"])


def write_files(kind: str, rows: int, folder: Path) -> dict[str, Path]:
    xlsx_path, csv_path = folder / f"{kind}.xlsx", folder / f"{kind}.csv"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(kind)
    ws.append(_header(kind))
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(_header(kind))
        for i in range(rows):
            row = _row(kind, i)
            ws.append(row)
            w.writerow(row)
    wb.save(xlsx_path)
    return {"xlsx": xlsx_path, "csv": csv_path}


def measure_read(kind: str, path: Path) -> dict:
    raw = path.read_bytes()
    problems: list[Problem] = []
    started, cpu = time.perf_counter(), time.process_time()
    rows = engine.read(KINDS[kind], io.BytesIO(raw), problems)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    count = len(rows)
    del rows
    tracemalloc.start()  # the file's bytes are outside: what reading and checking it takes
    engine.read(KINDS[kind], io.BytesIO(raw), [])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"file_bytes": path.stat().st_size, "rows": count, "problems": len(problems), "seconds": round(seconds, 2),
            "rows_per_second": round(count / seconds), "cpu_seconds": round(cpu, 2),
            "rows_per_cpu_second": round(count / cpu), "peak_python_mib": round(peak / 2**20, 1)}


def measure_service(kind: str, rows: int, folder: Path) -> dict:
    """Inventory's dry run of `rows` rows on a fresh SQLite database (new SKUs; opening stock of known SKUs)."""
    from hubkit.db import Database, UnitOfWork
    from services.inventory import catalog, imports
    from services.inventory.models import metadata
    db = Database(f"sqlite:///{folder / 'inventory.db'}", metadata)
    metadata.create_all(db.engine)
    if kind == "skus":
        batch = [{"row": i + 2, "sku": {"code": f"SKU-{i:07d}", "name": f"Item {i}", "barcodes": [f"69{i:011d}"],
                                        "components": []}} for i in range(rows)]
    else:
        with UnitOfWork(db, "inventory", "bench", "bench") as uow:
            catalog.upsert_warehouse(uow, "W1", "Main", 1)
            imports.apply(uow, [{"row": i, "sku": {"code": f"SKU-{i:07d}", "name": "x"}} for i in range(rows)], False)
        batch = [{"row": i + 2, "receipt": {"sku": f"SKU-{i:07d}", "warehouse": "W1", "quantity": 1 + i % 50,
                                            "unit_cost": "1.25"}} for i in range(rows)]
    started = time.perf_counter()
    with UnitOfWork(db, "inventory", "bench", "bench") as uow:
        outcome = imports.apply(uow, batch, True)
    seconds = time.perf_counter() - started  # SQLite in this process: wall time is CPU time here
    db.dispose()
    return {"rows": rows, "errors": len(outcome.errors), "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="bench.imports", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--kind", choices=("skus", "opening_stock"), default="skus")
    p.add_argument("--service", type=int, default=0, help="also time inventory's dry run of this many rows")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(args.kind, args.rows, Path(tmp))
        report: dict = {"kind": args.kind, "rows": args.rows}
        for fmt, path in files.items():
            report[fmt] = measure_read(args.kind, path)
        if args.service:
            report["service_dry_run_sqlite"] = measure_service(args.kind, args.service, Path(tmp))
    report["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for fmt in ("xlsx", "csv"):
            r = report[fmt]
            print(f"{fmt:5s} {r['rows']:>7,} rows  {r['file_bytes'] / 2**20:6.1f} MiB  read and checked in "
                  f"{r['seconds']:6.2f} s = {r['rows_per_second']:>7,} rows/s (CPU {r['cpu_seconds']:.2f} s = "
                  f"{r['rows_per_cpu_second']:,} rows/CPU-s)  peak Python memory "
                  f"{r['peak_python_mib']} MiB  problems {r['problems']}")
        if "service_dry_run_sqlite" in report:
            r = report["service_dry_run_sqlite"]
            print(f"inventory dry run (SQLite) {r['rows']:,} rows in {r['seconds']} s = {r['rows_per_second']:,} rows/s"
                  f", errors {r['errors']}")
        print(f"process max RSS {report['max_rss_mib']} MiB")
    return report


if __name__ == "__main__":
    main()
