"""The books audit of a running hub: a posting that does not arrive shows as a difference that
persists (the gauge and GET /audit/books say diverged), and it clears once the books catch up."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub import components
from tests.e2e.helpers import order_body, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def gauge(hub, value: str, name: str = "hub_books_stock_difference", label: str = "cost_centre") -> float | None:
    """The gauge `name` where its `label` is `value` (a cost centre, or an account)."""
    text = httpx.get(f"{hub.stack.gateway_url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get(label) == value:
                return sample.value
    return None


def row(finance, name: str, part: str = "inventory", key: str = "cost_centre") -> dict | None:
    body = finance.get("/audit/books").json()
    return next((r for r in body[part] if r[key] == name), None)


def test_a_voucher_held_up_is_reported_diverged_until_the_books_catch_up(pg_hub):
    sku, warehouse = unique("AUD"), unique("WHA")[:12]
    where = f"warehouse:{warehouse}"
    with pg_hub.client("admin") as admin, pg_hub.client("finance") as finance:
        stock_sku(admin, sku, warehouse)
        pg_hub.stack.stop("accounting-worker")  # the receipt's voucher waits in its queue
        try:
            reply = admin.post("/stock/receipts", json={"sku": sku, "warehouse": warehouse, "quantity": 5,
                                                        "unit_cost": "4.00"})
            assert reply.status_code == 201, reply.text
            held = wait_for(lambda: (r := row(finance, where)) and r["status"] == "diverged" and r, 30, 0.5,
                            "two audit runs to find the same difference")
            assert (held["books"], held["stock"], held["difference"]) == ("0.00", "20.00", "-20.00")
            assert held["diverged_since"]
            wait_for(lambda: gauge(pg_hub, where) == -20.0, 30, 0.5, "the gauge to show the difference")
        finally:
            pg_hub.restart("accounting-worker")
        caught_up = wait_for(lambda: (r := row(finance, where)) and r["status"] == "agrees" and r, 60, 0.5,
                             "the books to catch up")
        assert (caught_up["books"], caught_up["stock"]) == ("20.00", "20.00")
        wait_for(lambda: gauge(pg_hub, where) == 0.0, 30, 0.5, "the gauge to clear")
    pg_hub.wait_quiet(60)
    cli = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "books", "--json"], env=pg_hub.stack.env,
                         capture_output=True, text=True, timeout=60, cwd=components.PROJECT_ROOT)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    rows = {r["cost_centre"]: r for r in json.loads(cli.stdout)["inventory"]}
    assert (rows[where]["books"], rows[where]["stock"], rows[where]["difference"]) == ("20.00", "20.00", "0.00")


def test_a_sale_held_up_is_reported_diverged_on_the_receivable_until_the_books_catch_up(pg_hub):
    sku, warehouse, shop = unique("AUR"), unique("WHR")[:12], unique("SHOP")
    debtor = f"platform:taobao/{shop}"

    def receivable():
        return row(finance, debtor, "receivables", "counterparty")

    with pg_hub.client("admin") as admin, pg_hub.client("finance") as finance:
        stock_sku(admin, sku, warehouse, quantity=2, cost="4.00")
        order = admin.post("/orders", json={**order_body(sku, unique("SALE"), quantity=2), "shop": shop})
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert wait_settled(admin, [order_id])[0]["status"] == "reserved"
        pg_hub.wait_quiet(60)
        pg_hub.stack.stop("accounting-worker")  # the sale's voucher waits in its queue
        try:
            shipped = admin.post(f"/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_number": "SF7654321"})
            assert shipped.status_code == 200, shipped.text
            held = wait_for(lambda: (r := receivable()) and r["status"] == "diverged" and r, 30, 0.5,
                            "two audit runs to find the same difference on the receivable")
            assert (held["account"], held["books"], held["documents"], held["difference"]) == (
                "1122", "0.00", "39.80", "-39.80")
            wait_for(lambda: gauge(pg_hub, "1122", "hub_books_documents_difference", "account") == -39.8, 30, 0.5,
                     "the gauge to show the receivable's difference")
        finally:
            pg_hub.restart("accounting-worker")
        caught_up = wait_for(lambda: (r := receivable()) and r["status"] == "agrees" and r, 60, 0.5,
                             "the books to catch up")
        assert (caught_up["books"], caught_up["documents"]) == ("39.80", "39.80")
        wait_for(lambda: gauge(pg_hub, "1122", "hub_books_documents_difference", "account") == 0.0, 30, 0.5,
                 "the gauge to clear")
