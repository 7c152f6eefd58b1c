"""The ledger connector's cost per voucher: HTTP calls to the ledger and CPU in the connector.

    .venv/bin/python -m bench.ledger_connector [--vouchers 1000] [--mode single|batch|summary]
                                               [--backend sqlite|postgresql] [--json]

N vouchers (one day, two channels, two kinds) are kept as the connector keeps them on
voucher_posted, then pushed to the Kingdee simulator (a subprocess over HTTP) until every one is
confirmed. Reported: calls to the ledger per 1,000 vouchers (login, saves, look-ups) and the
connector's own CPU milliseconds per voucher (time.process_time of this process, all threads, over
the pushing only; the simulator's CPU is not counted). `single` pushes one voucher per Save call
(as the connector did before BatchSave), `batch` uses BatchSave, `summary` sums the day into summary
vouchers first (HUB_KINGDEE_SUMMARY=daily). Each mode gets a fresh database (PostgreSQL ones
are made and dropped as in the tests, tests/support/infra.py).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx

from connectors.ledgers import pusher, runner, store, summary
from connectors.ledgers.clients import KingdeeClient
from connectors.ledgers.config import KingdeeConfig
from hub import components
from hubkit.db import Database
from simulators.kingdee import DEFAULT_CONFIG
from tests.support import infra
from tests.unit.simulators import running


def voucher(n: int) -> dict:
    channel, kind = ("taobao", "jd")[n % 2], ("sale", "cost")[(n // 2) % 2]
    return {"id": f"v{n}", "number": f"记-2026-11-{n:04d}", "period": "2026-11", "voucher_type": "记", "kind": kind,
            "business_date": "2026-11-21", "lines": [
                {"account": "1122", "debit": "113.00", "credit": "0.00", "summary": f"Sale {n}",
                 "aux": f"platform:{channel}/shop1", "cost_centre": ""},
                {"account": "6001", "debit": "0.00", "credit": "100.00", "summary": f"Sale {n}", "aux": "",
                 "cost_centre": f"channel:{channel}"},
                {"account": "22210105", "debit": "0.00", "credit": "13.00", "summary": "output VAT", "aux": "",
                 "cost_centre": ""}]}


def run(vouchers: int, mode: str, db_url: str, base: str) -> dict:
    components.migrate("ledger", db_url)
    db = Database(db_url, store.metadata)
    grace = timedelta(hours=2) if mode == "summary" else None
    effect = runner.keep_voucher({"kingdee": grace})
    with db.session() as s:
        effect(SimpleNamespace(session=s), [SimpleNamespace(payload=voucher(n)) for n in range(1, vouchers + 1)])
    c = DEFAULT_CONFIG
    client = KingdeeClient(KingdeeConfig(url=f"{base}/k3cloud/", acct_id=c["acct_id"], user_name=c["user_name"],
                                         app_id=c["app_id"], app_secret=c["app_secret"]))
    if mode == "single":
        client.batch_size = 0  # the pusher then sends one voucher per Save call
    calls: dict[str, int] = {}

    def count(request: httpx.Request) -> None:  # by operation: …DynamicFormService.BatchSave.common.kdsvc
        operation = request.url.path.split(".")[-3]
        calls[operation] = calls.get(operation, 0) + 1
    client.http.event_hooks["request"].append(count)
    p = pusher.Pusher("kingdee", client, db, summariser=summary.summariser("kingdee", db, grace))
    cpu, wall = time.process_time(), time.monotonic()
    while pusher.status(db, "kingdee")["confirmed"] < vouchers:
        if not p.tick() and time.monotonic() - wall > 120:
            raise SystemExit(f"not every voucher confirmed: {pusher.status(db, 'kingdee')}")
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    client.close()
    db.dispose()
    total = sum(calls.values())
    return {"mode": mode, "vouchers": vouchers, "db": db_url.split(":")[0], "calls": calls,
            "calls_per_1000": round(total * 1000 / vouchers, 1), "cpu_ms_per_voucher": round(cpu * 1000 / vouchers, 3),
            "seconds": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_connector")
    parser.add_argument("--vouchers", type=int, default=1000)
    parser.add_argument("--mode", choices=("single", "batch", "summary"), action="append")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running("simulators.kingdee", Path(tmp)) as base:
        results = []
        for mode in args.mode or ["single", "batch", "summary"]:
            httpx.post(f"{base}/__sim/reset")
            if args.backend == "postgresql":
                name = f"{infra.session_name()}_{mode}"
                url = infra.create_databases(name, ["ledger"])["ledger"]
                try:
                    results.append(run(args.vouchers, mode, url, base))
                finally:
                    infra.drop_databases(name, ["ledger"])
            else:
                results.append(run(args.vouchers, mode, f"sqlite:///{tmp}/ledger-{mode}.db", base))
    for r in results:
        print(json.dumps(r) if args.json else
              f"{r['mode']:8} {r['vouchers']} vouchers ({r['db']}): {r['calls_per_1000']} calls per 1,000 vouchers, "
              f"{r['cpu_ms_per_voucher']} ms CPU per voucher, {r['seconds']} s  {r['calls']}")


if __name__ == "__main__":
    main()
