"""A backup taken while orders flow into a running SQLite hub, restored into the stopped hub: every
order the backup holds is back and goes its way, the services agree with each other (no reservation
for an order the order service does not know, none missing, one voucher per shipment), the stock
audit is clean, and the relays resume; the books audit after the test says the books equal the stock."""
from __future__ import annotations

import sqlite3
import tarfile
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from hub import backup
from services.accounting.models import vouchers
from services.inventory.models import reservations
from services.order.models import orders
from tests.e2e.helpers import order_body, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


def _load(hub, sku: str, stop: threading.Event, placed: list, shipped: list, errors: list) -> None:
    """Orders one after another through the gateway, and every other round the oldest reserved one shipped."""
    with hub.client("admin") as c:
        n = 0
        while not stop.is_set():
            reply = c.post("/orders", json=order_body(sku, f"{sku}-{n}"))
            if reply.status_code != 201:
                errors.append(reply.text)
                return
            placed.append((time.monotonic(), reply.json()["id"]))
            n += 1
            if n % 2 == 0:
                for _, order_id in placed[len(shipped):len(shipped) + 3]:
                    if c.get(f"/orders/{order_id}").json()["status"] == "reserved":
                        reply = c.post(f"/orders/{order_id}/shipment", json={"carrier": "SF",
                                                                            "tracking_number": f"SF{n:010d}"})
                        assert reply.status_code in (200, 201), reply.text
                        shipped.append(order_id)
                        break


def _archived_orders(archive, tmp_path) -> dict[str, str]:
    with tarfile.open(archive) as tar:
        tar.extract("databases/order.sqlite", tmp_path, filter="data")
    with sqlite3.connect(tmp_path / "databases" / "order.sqlite") as c:
        return dict(c.execute("SELECT id, status FROM orders"))


def _statuses(hub, sku: str) -> dict[str, list[str]]:
    """The test's orders in the order service's database, by status."""
    with hub.dbs["order"].reader() as s:
        rows = s.execute(select(orders.c.id, orders.c.status).where(orders.c.external_order_id.like(f"{sku}-%")))
        found: dict[str, list[str]] = {}
        for order_id, status in rows:
            found.setdefault(status, []).append(order_id)
    return found


def test_a_backup_under_load_restores_to_a_hub_whose_services_agree(sqlite_hub, tmp_path):
    hub = sqlite_hub
    sku = unique("BKP")
    with hub.client("admin") as admin:
        stock_sku(admin, sku, quantity=1000, cost="10.00")
    stop, placed, shipped, errors = threading.Event(), [], [], []
    loader = threading.Thread(target=_load, args=(hub, sku, stop, placed, shipped, errors))
    loader.start()
    try:
        time.sleep(1.0)
        before = len(placed)
        archive = tmp_path / "hub.tar.gz"
        took = time.monotonic()
        manifest = backup.backup(hub.settings, archive, say=lambda _: None, calm=0.5)
        took = time.monotonic() - took
        during = len(placed) - before
        time.sleep(0.5)  # orders after the backup: the restored hub never had them
    finally:
        stop.set()
        loader.join()
    assert not errors, errors
    assert during > 0, "no order was placed while the backup ran"
    assert manifest["databases"]["order"]["heads"] == backup.code_heads("order")
    assert set(manifest["databases"]) == {*hub.dbs, "gateway", "ledger", "shops"}

    # orders after the backup that inventory has not taken yet: their messages wait in its queue, from a
    # time the restored hub never had; the restore purges them
    hub.stack.kill("inventory-worker")
    with hub.client("admin") as c:
        for n in range(3):
            reply = c.post("/orders", json=order_body(sku, f"{sku}-late-{n}"))
            assert reply.status_code == 201, reply.text
            placed.append((time.monotonic(), reply.json()["id"]))
    wait_for(lambda: hub.busy().get("inventory.order_placed", 0) >= 3, 30, 0.1, "orders waiting in inventory's queue")
    hub.stop()
    said: list[str] = []
    backup.restore(hub.settings, archive, say=said.append)
    assert any(line.startswith("purged ") and int(line.split()[1]) >= 3 for line in said), said
    hub.start()

    held = _archived_orders(archive, tmp_path)
    later = [i for _, i in placed if i not in held]
    assert held and later, "the backup should hold some orders and miss the last ones"
    # relays resume: what the copies held unpublished is delivered, so no order of the backup stays pending
    wait_for(lambda: not _statuses(hub, sku).get("pending"), 90, 0.3, "the restored orders to leave pending")
    with hub.client("admin") as c:
        fresh = c.post("/orders", json=order_body(sku, f"{sku}-after")).json()["id"]
        assert wait_settled(c, [fresh])[0]["status"] == "reserved"
        hub.wait_quiet(60)
        audit = c.get("/stock/audit").json()
        level = c.get(f"/stock/{sku}").json()["levels"][0]
    assert audit["ok"], audit["differences"]
    restored = {i: status for status, ids in _statuses(hub, sku).items() for i in ids}
    assert set(restored.values()) <= {"reserved", "shipped"}
    assert set(restored) == set(held) | {fresh}  # none lost, none from after the backup
    with hub.dbs["inventory"].reader() as s:
        reserved = s.execute(select(reservations.c.order_id, reservations.c.status).where(
            reservations.c.sku == sku)).all()
    # inventory holds one answer per order the order service knows, none for an order it does not
    assert sorted(r.order_id for r in reserved) == sorted(restored)
    shipped_now = [i for i, status in restored.items() if status == "shipped"]
    assert sorted(r.order_id for r in reserved if r.status == "issued") == sorted(shipped_now)
    assert (level["on_hand"], level["reserved"]) == (1000 - len(shipped_now), len(restored) - len(shipped_now))
    with hub.dbs["accounting"].reader() as s:
        posted = Counter((v.source_type, v.source_id) for v in s.execute(
            select(vouchers.c.source_type, vouchers.c.source_id).where(vouchers.c.source_id.in_(shipped_now))))
    # the sale and its cost of goods, once each for every shipped order: none doubled, none missing
    assert set(posted.values()) <= {1}, posted
    assert Counter(kind for kind, _ in posted) == {"order_shipped": len(shipped_now), "goods_issued": len(shipped_now)}
    print(f"backup took {took:.1f}s; placed {len(placed)} ({during} during it, {len(later)} after it), "
          f"the backup holds {len(held)}, {len(shipped_now)} shipped")
