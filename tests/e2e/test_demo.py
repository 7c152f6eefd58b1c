"""`hub demo --json` on the embedded default (SQLite files, its own vhost and ports): it
finishes, shows the processing layer (a review hold released by an operator, an allocation
explained, a merge shipped as one) and its books balance."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from hub import components
from hub.supervisor import free_port, spawn
from tests.support import infra

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_env(session_name, tmp_path):
    vhost = f"{session_name}_demo"
    env = {**os.environ, "HUB_AMQP_URI": infra.create_vhost(vhost), "HUB_VAR_DIR": str(tmp_path),
           "HUB_GATEWAY_PORT": str(free_port()), "HUB_METRICS_BASE_PORT": "0",
           **{f"HUB_{svc.upper()}_GRPC_PORT": str(free_port()) for svc in components.SERVICES}}
    yield env
    infra.delete_vhost(vhost, wait=False)


def test_demo_buys_sells_ships_and_its_books_balance_and_reach_the_ledger(demo_env):
    demo = spawn([sys.executable, "-m", "hub.cli", "demo", "--json"], env=demo_env, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True, cwd=components.PROJECT_ROOT)  # dies with this session
    try:
        out, err = demo.communicate(timeout=300)
    finally:
        demo.kill()
    assert demo.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["orders"] == 40
    assert summary["orders_by_status"].get("backordered", 0) >= 1  # the order for 50 teapots
    assert summary["orders_by_status"]["shipped"] == 40 - summary["orders_by_status"].get("backordered", 0)
    shipped = summary["orders_by_status"]["shipped"]
    assert summary["vouchers"]["sale"]["count"] == shipped
    assert summary["vouchers"]["cost_of_goods"]["count"] == shipped
    assert summary["vouchers"]["purchase"]["count"] == 12  # two purchase orders per SKU and warehouse
    assert summary["vouchers_balanced"]
    tb = summary["trial_balance"]
    assert tb["balanced"] and tb["total_debit"] == tb["total_credit"]
    # the books' inventory account holds exactly what the FIFO layers say the stock is worth
    inventory = next(r for r in tb["rows"] if r["account"] == "1405")
    assert Decimal(inventory["closing"]) == Decimal(summary["stock_value"]["total"])
    # the books audit finds no difference: per warehouse, in transit, and the payable to the supplier
    audit = summary["books_audit"]
    assert audit["agrees"], audit
    assert {r["cost_centre"] for r in audit["inventory"]} >= {"warehouse:SH", "warehouse:BJ", "transit"}
    assert [r["difference"] for r in audit["payables"]] == ["0.00"]
    # and every voucher reached the Kingdee-style ledger, which agrees with the hub
    kingdee = summary["ledgers"]["kingdee"]
    assert kingdee["confirmed"] == sum(v["count"] for v in summary["vouchers"].values()) and kingdee["rejected"] == 0
    assert kingdee["reconciliation"]["matches"]
    # the processing layer: the demo's review rule held the wholesale order, an operator released it
    processing = summary["processing"]
    [review] = processing["review"]
    assert (review["shop"], review["held_for"], review["rule"]) == ("demo-wholesale", ["needs_review"],
                                                                     "wholesale-review")
    assert review["rule_set_version"] >= 1 and review["released_by"].startswith("demo-")
    assert review["status_after"] == "reserved"
    allocation = processing["allocation"]
    assert allocation["chosen"] and allocation["reason"] and allocation["candidates"]
    assert set(allocation["chosen"]) <= {w for w, _, _ in allocation["candidates"]}
    [merged] = processing["merged"]
    assert len(merged) == 2  # one buyer's two orders to one address, shipped as one (both counted shipped above)
