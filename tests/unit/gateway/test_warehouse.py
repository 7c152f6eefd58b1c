"""Warehouse operations and scanning through the gateway: a real in-process gRPC server with the
inventory servicer (and its reports) on SQLite, and the FastAPI app in front of it.

Seed: warehouses SH and BJ; bins A-01, A-02 in SH; SKUs
  TEA    lot-tracked, barcode 6901234567890
  PHONE  serial-tracked, barcode 6909999000011
  MUG    plain, barcode 6900000000017
  SPOON  plain
  GIFT   a kit of 1 MUG + 2 SPOON
"""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from fastapi.testclient import TestClient

from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.inventory import reservations
from services.inventory.models import metadata

TEA_EAN, PHONE_EAN, MUG_EAN = "6901234567890", "6909999000011", "6900000000017"
PROBLEM = "application/problem+json"


@pytest.fixture
def hub(tmp_path):
    from gateway import auth
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata as gateway_metadata
    from hub import components
    from hubapi.inventory.v1 import inventory_reports_pb2_grpc, inventory_service_pb2_grpc
    from services.inventory import reports_grpc
    from services.inventory.grpc_server import InventoryServicer

    settings = components.settings({"HUB_VAR_DIR": str(tmp_path)})
    db = Database(settings.db_url("inventory"), metadata)
    metadata.create_all(db.engine)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    inventory_service_pb2_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(db, settings["inventory"]), server)
    reports_grpc.register(server, db, settings.timezone)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    keys = {role: {"X-API-Key": auth.add_user(gateway_db, role, role)}
            for role in ("warehouse", "sales", "purchasing", "finance", "admin")}
    clients = Clients(order=None, inventory=inventory_service_pb2_grpc.InventoryServiceStub(channel),
                      procurement=None, customer=None, accounting=None, ledger=None, shops={}, channels=[channel],
                      inventory_reports=inventory_reports_pb2_grpc.InventoryReportsStub(channel))
    with TestClient(create_app(settings["gateway"], clients)) as http:
        seed(http, keys["admin"])
        yield http, keys, db
    channel.close()
    server.stop(None)
    gateway_db.dispose()
    db.dispose()


def ok(reply, status=(200, 201)):
    assert reply.status_code in ((status,) if isinstance(status, int) else status), reply.text
    return reply.json()


def seed(http, admin):
    for code, priority in (("SH", 1), ("BJ", 2)):
        ok(http.post("/warehouses", json={"code": code, "name": f"{code} DC", "priority": priority,
                                          "region": "east", "address": f"1 {code} Road"}, headers=admin), 201)
    assert ok(http.post("/warehouses/SH/bins", json={"codes": ["A-01", "A-02"]}, headers=admin), 201) == {
        "warehouse": "SH", "added": 2, "codes": ["A-01", "A-02"]}
    for body in ({"code": "TEA", "name": "Oolong tea 250g", "lot_tracked": True, "barcodes": [TEA_EAN],
                  "category": "drinks"},
                 {"code": "PHONE", "name": "Phone X", "serial_tracked": True, "barcodes": [PHONE_EAN]},
                 {"code": "MUG", "name": "Mug", "barcodes": [MUG_EAN]},
                 {"code": "SPOON", "name": "Spoon"},
                 {"code": "GIFT", "name": "Gift box", "components": [{"sku": "MUG", "quantity": 1},
                                                                     {"sku": "SPOON", "quantity": 2}]}):
        ok(http.post("/skus", json=body, headers=admin), 201)


def scan_receive_tea(http, headers, quantity=10, bin_code="BIN:A-01", lot="LOT:L1"):
    return http.post("/scan/receive", json={"warehouse": "SH", "bin": bin_code, "code": TEA_EAN, "quantity": quantity,
                                            "unit_cost": "2.50", "lot": lot, "expires_on": "2030-12-31"},
                     headers=headers)


def assert_problem(reply, status, title_part, field=None):
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == PROBLEM
    body = reply.json()
    assert title_part in body["title"], body
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


# -- catalogue: the extended fields, backwards compatible ---------------------------------------
def test_sku_and_warehouse_fields_with_defaults(hub):
    http, keys, _ = hub
    admin = keys["admin"]
    plain = ok(http.post("/skus", json={"code": "PEN", "name": "Pen"}, headers=admin), 201)
    assert plain == {"code": "PEN", "name": "Pen", "base_unit": "pcs", "category": "", "lot_tracked": False,
                     "serial_tracked": False, "costing": "fifo", "barcodes": [], "components": []}
    again = http.post("/skus", json={"code": "PEN", "name": "Blue pen", "costing": "average", "base_unit": "box",
                                     "barcodes": ["6900000000099"]}, headers=admin)
    assert again.status_code == 200
    assert (again.json()["costing"], again.json()["base_unit"], again.json()["barcodes"]) == (
        "average", "box", ["6900000000099"])
    # a barcode already naming another SKU: the service refuses, the field is the body's
    taken = http.post("/skus", json={"code": "PEN", "name": "Pen", "barcodes": [MUG_EAN]}, headers=admin)
    assert_problem(taken, 409, "already names MUG", "barcodes")
    bad = http.post("/skus", json={"code": "KIT", "name": "Kit", "costing": "lifo",
                                   "components": [{"sku": "KIT", "quantity": 0}]}, headers=admin)
    assert {e["field"] for e in bad.json()["errors"]} == {"costing", "components[0].quantity"}
    unknown = http.post("/skus", json={"code": "KIT", "name": "Kit", "components": [{"sku": "NOPE"}]}, headers=admin)
    assert_problem(unknown, 404, "unknown component", "components")
    w = ok(http.post("/warehouses", json={"code": "GZ", "name": "Guangzhou"}, headers=admin), 201)
    assert w == {"code": "GZ", "name": "Guangzhou", "priority": 100, "region": "", "address": ""}

    level = ok(http.get("/stock/MUG", params={"warehouse": "SH"}, headers=keys["sales"]))["levels"][0]
    assert level == {"sku": "MUG", "warehouse": "SH", "on_hand": 0, "reserved": 0, "available": 0, "held": 0,
                     "in_transit": 0}


def test_receipt_and_adjustment_with_bin_lot_and_serials(hub):
    http, keys, _ = hub
    admin = keys["admin"]
    r = ok(http.post("/stock/receipts", json={"sku": "PHONE", "warehouse": "SH", "quantity": 2, "unit_cost": "900",
                                              "bin": "A-02", "serials": ["P-1", "P-2"]}, headers=admin), 201)
    assert r["level"]["on_hand"] == 2
    short = http.post("/stock/receipts", json={"sku": "PHONE", "warehouse": "SH", "quantity": 2, "serials": ["P-3"]},
                      headers=admin)
    assert_problem(short, 422, "invalid", "serials")
    no_lot = http.post("/stock/receipts", json={"sku": "TEA", "warehouse": "SH", "quantity": 2}, headers=admin)
    assert_problem(no_lot, 422, "invalid", "lot")  # from the service: TEA is lot-tracked
    loss = ok(http.post("/stock/adjustments", json={"sku": "PHONE", "warehouse": "SH", "quantity": -1,
                                                    "reason": "loss", "bin": "A-02", "serials": ["P-2"]},
                        headers=admin), 201)
    assert (loss["value"], loss["level"]["on_hand"]) == ("-900.00", 1)
    bad = http.post("/stock/adjustments", json={"sku": "PHONE", "warehouse": "SH", "quantity": 1, "reason": "expired"},
                    headers=admin)
    assert fields(bad) == {"quantity": "expired takes stock away: the quantity must be negative"}


# -- scanning -----------------------------------------------------------------------------------
def test_scan_receive_by_barcode_into_a_bin_and_lookups(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    got = ok(scan_receive_tea(http, staff), 201)
    assert (got["sku"], got["sku_name"], got["bin"], got["lot"], got["quantity"]) == (
        "TEA", "Oolong tea 250g", "A-01", "L1", 10)
    assert got["level"] == {"sku": "TEA", "warehouse": "SH", "on_hand": 10, "reserved": 0, "available": 10,
                            "held": 0, "in_transit": 0}
    phones = ok(http.post("/scan/receive", json={"warehouse": "SH", "bin": "A-02", "code": PHONE_EAN, "quantity": 2,
                                                 "unit_cost": "899.00", "serials": ["SN:SN-001", "SN-002"]},
                          headers=staff), 201)
    assert phones["serials"] == ["SN-001", "SN-002"]

    bin_ = ok(http.post("/scan/lookup", json={"warehouse": "SH", "code": "BIN:A-01"}, headers=staff))
    assert (bin_["kind"], bin_["bin"], bin_["sku"], bin_["level"]) == ("bin", "A-01", "", None)
    assert ok(http.post("/scan/lookup", json={"warehouse": "SH", "code": "A-02"}, headers=staff))["kind"] == "bin"
    lot = ok(http.post("/scan/lookup", json={"warehouse": "SH", "code": "LOT:L1"}, headers=staff))
    assert (lot["kind"], lot["sku"], lot["sku_name"], lot["lot"], lot["level"]["on_hand"]) == (
        "lot", "TEA", "Oolong tea 250g", "L1", 10)
    serial = ok(http.post("/scan/lookup", json={"warehouse": "SH", "code": "SN:SN-001"}, headers=staff))
    assert (serial["kind"], serial["sku"], serial["sku_name"], serial["bin"], serial["serial"]) == (
        "serial", "PHONE", "Phone X", "A-02", "SN-001")
    assert serial["level"]["on_hand"] == 2
    item = ok(http.post("/scan/lookup", json={"warehouse": "SH", "code": TEA_EAN}, headers=staff))
    assert (item["kind"], item["sku"], item["level"]["available"]) == ("sku", "TEA", 10)


def test_wrong_codes_get_clear_problems(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    unknown = http.post("/scan/lookup", json={"warehouse": "SH", "code": "6999999999999"}, headers=staff)
    body = assert_problem(unknown, 404, "not a barcode, SKU, bin of SH, serial or lot we know", "code")
    assert body["type"].endswith("/not-found")
    assert_problem(http.post("/scan/receive", json={"warehouse": "SH", "bin": "A-01", "code": "6999999999999",
                                                    "quantity": 1, "unit_cost": "1"}, headers=staff),
                   404, "not a barcode", "code")
    # a bin or lot label where the item's barcode belongs
    as_bin = http.post("/scan/receive", json={"warehouse": "SH", "bin": "A-01", "code": "BIN:A-02", "quantity": 1,
                                              "unit_cost": "1"}, headers=staff)
    assert_problem(as_bin, 422, "scan the item's barcode", "code")
    as_lot = http.post("/scan/receive", json={"warehouse": "SH", "bin": "A-01", "code": "LOT:L1", "quantity": 1,
                                              "unit_cost": "1"}, headers=staff)
    assert_problem(as_lot, 422, "is the label of lot L1 of TEA, not goods: scan the item's barcode", "code")
    moved_bin = http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-01", "to_bin": "A-02",
                                              "code": "A-02", "quantity": 1}, headers=staff)
    assert_problem(moved_bin, 422, "scan the item's barcode", "code")
    unknown_bin = http.post("/scan/receive", json={"warehouse": "SH", "bin": "Z-99", "code": MUG_EAN, "quantity": 1,
                                                   "unit_cost": "1"}, headers=staff)
    assert_problem(unknown_bin, 404, "bin 'Z-99' does not exist", "bin")
    # nothing of it changed stock
    assert ok(http.get("/stock/TEA", params={"warehouse": "SH"}, headers=staff))["levels"][0]["on_hand"] == 10
    assert ok(http.get("/stock/MUG", params={"warehouse": "SH"}, headers=staff))["levels"][0]["on_hand"] == 0


def test_scan_move_a_lot_and_a_serial_and_the_wrong_bin(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    ok(http.post("/scan/receive", json={"warehouse": "SH", "bin": "A-02", "code": PHONE_EAN, "quantity": 1,
                                        "unit_cost": "899", "serials": ["SN-001"]}, headers=staff), 201)
    wrong = http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-02", "to_bin": "A-01", "code": "LOT:L1",
                                          "quantity": 3}, headers=staff)
    body = assert_problem(wrong, 409, "lot L1 of TEA is not in bin A-02: it lies in A-01 (10)", "code")
    assert body["type"].endswith("/conflict")
    too_many = http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-01", "to_bin": "A-02",
                                             "code": "LOT:L1", "quantity": 11}, headers=staff)
    assert_problem(too_many, 409, "bin A-01 holds only 10 units of lot L1 of TEA, 11 scanned")
    moved = ok(http.post("/scan/move", json={"warehouse": "SH", "from_bin": "BIN:A-01", "to_bin": "BIN:A-02",
                                             "code": "LOT:L1", "quantity": 4}, headers=staff), 201)
    assert (moved["sku"], moved["lot"], moved["from_bin"], moved["to_bin"], moved["quantity"]) == (
        "TEA", "L1", "A-01", "A-02", 4)
    assert moved["document"].startswith("move:")
    # a serial scanned in a bin where it does not lie
    stray = http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-01", "to_bin": "", "code": "SN:SN-001"},
                      headers=staff)
    assert_problem(stray, 409, "serial SN-001 lies in bin A-02", "serials")
    ok(http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-02", "to_bin": "A-01", "code": "SN:SN-001"},
                 headers=staff), 201)
    assert ok(http.post("/scan/lookup", json={"warehouse": "SH", "code": "SN-001"}, headers=staff))["bin"] == "A-01"
    # a move by the plain API
    ok(http.post("/stock/moves", json={"sku": "TEA", "warehouse": "SH", "from_bin": "A-02", "to_bin": "",
                                       "quantity": 4, "lot": "L1"}, headers=staff), 201)
    rows = ok(http.get("/stock/reports/on-hand", params={"sku": "TEA"}, headers=staff))["rows"]
    assert sorted((r["bin"], r["quantity"]) for r in rows) == [("", 4), ("A-01", 6)]
    # moves change no balance
    assert ok(http.get("/stock/TEA", params={"warehouse": "SH"}, headers=staff))["levels"][0]["on_hand"] == 10
    assert ok(http.get("/stock/audit", headers=keys["finance"])) == {"ok": True, "differences": []}


def test_scan_pick_in_the_wrong_bin_then_the_right_one(hub):
    http, keys, db = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    order = Envelope(type="order_placed", source="order", aggregate_id="ORD1", sequence=1, correlation_id="c",
                     actor="tester", payload={"order_id": "ORD1", "lines": [{"line_no": 1, "sku": "TEA",
                                                                               "quantity": 3}]})
    with UnitOfWork(db, "inventory", "tester", "c") as uow:
        assert reservations.reserve_order(uow, order)[0]["status"] == "reserved"
    pick = {"order_id": "ORD1", "line_no": 1, "warehouse": "SH", "bin": "A-02", "code": "LOT:L1", "quantity": 2}
    assert_problem(http.post("/scan/pick", json=pick, headers=staff), 409,
                   "lot L1 of TEA is not in bin A-02: it lies in A-01 (10)", "code")
    wrong_item = http.post("/scan/pick", json={**pick, "bin": "A-01", "code": MUG_EAN}, headers=staff)
    assert_problem(wrong_item, 409, "wrong item", "code")
    picked = ok(http.post("/scan/pick", json={**pick, "bin": "A-01"}, headers=staff), 201)
    assert (picked["sku"], picked["lot"], picked["picked"], picked["reserved"], picked["remaining"]) == (
        "TEA", "L1", 2, 3, 1)
    over = http.post("/scan/pick", json={**pick, "bin": "A-01"}, headers=staff)
    assert_problem(over, 409, "3 units reserved in SH, 2 picked", "quantity")


def test_a_pick_retried_after_its_answer_was_lost_is_recorded_once(hub, tmp_path):
    """The gateway forgets a key whose request failed (5xx, or its process died): the retry reaches
    inventory again, which answers the pick's command id with the first reply."""
    http, keys, db = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    order = Envelope(type="order_placed", source="order", aggregate_id="ORD1", sequence=1, correlation_id="c",
                     actor="tester", payload={"order_id": "ORD1", "lines": [{"line_no": 1, "sku": "TEA",
                                                                               "quantity": 3}]})
    with UnitOfWork(db, "inventory", "tester", "c") as uow:
        assert reservations.reserve_order(uow, order)[0]["status"] == "reserved"
    pick = {"order_id": "ORD1", "line_no": 1, "warehouse": "SH", "bin": "A-01", "code": "LOT:L1", "quantity": 2}
    first, retry = answer_lost(http, tmp_path, "/scan/pick", pick, staff)
    assert retry.status_code == 201, retry.text  # not 409 "2 picked" of 3, nor 4 picked
    assert retry.json() == first.json() and first.json()["picked"] == 2


def answer_lost(http, tmp_path, path: str, body: dict, headers: dict):
    """POST with an Idempotency-Key whose answer is lost: the gateway forgets the key, as after a
    5xx or when its process died, and the retry reaches the service again. (first, retry)"""
    from sqlalchemy import delete

    from gateway.models import idempotency_keys
    key = f"lost-{path}"
    first = http.post(path, json=body, headers={**headers, "Idempotency-Key": key})
    gateway_db = Database(f"sqlite:///{tmp_path / 'gateway.db'}", idempotency_keys.metadata)
    with gateway_db.session() as s:
        assert s.execute(delete(idempotency_keys).where(idempotency_keys.c.key == key)).rowcount == 1
    gateway_db.dispose()
    return first, http.post(path, json=body, headers={**headers, "Idempotency-Key": key})


def test_a_count_opened_scanned_and_submitted_again_after_lost_answers_counts_once(hub, tmp_path):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    first, retry = answer_lost(http, tmp_path, "/counts", {"warehouse": "SH", "bins": ["A-01"]}, staff)
    assert retry.status_code == 201, retry.text  # not 409 "bin(s) already frozen by another count"
    count_id = first.json()["count_id"]
    assert retry.json()["count_id"] == count_id
    scan = {"count_id": count_id, "bin": "A-01", "code": "LOT:L1", "quantity": 6}
    first, retry = answer_lost(http, tmp_path, "/scan/count", scan, staff)
    assert retry.json() == first.json() and first.json()["counted"] == 6  # not 12
    first, retry = answer_lost(http, tmp_path, f"/counts/{count_id}/submit", {}, staff)
    assert retry.status_code == 200, retry.text  # not 409 "count is posted"
    assert retry.json() == first.json() and first.json()["posted_value"] == "-10.00"  # 4 short at 2.50
    assert ok(http.get("/stock/TEA", params={"warehouse": "SH"}, headers=staff))["levels"][0]["on_hand"] == 6

def test_a_lot_hold_retried_after_its_answer_was_lost_answers_the_hold(hub, tmp_path):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    first, retry = answer_lost(http, tmp_path, "/lots/TEA/L1/hold", {"note": "recall"}, staff)
    assert retry.status_code == 200, retry.text  # not 409 "already quarantined"
    assert retry.json() == first.json() and first.json()["status"] == "quarantined"

def test_transfer_ship_and_receive_round_trip(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(http.post("/stock/receipts", json={"sku": "MUG", "warehouse": "SH", "quantity": 5, "unit_cost": "4.00",
                                          "bin": "A-01"}, headers=staff), 201)
    shipped = http.post("/transfers", json={"from_warehouse": "SH", "to_warehouse": "BJ", "note": "restock",
                                            "lines": [{"sku": "MUG", "quantity": 3}]}, headers=staff)
    t = ok(shipped, 201)
    assert shipped.headers["location"] == f"/transfers/{t['transfer_id']}"
    assert (t["status"], t["from_warehouse"], t["to_warehouse"], t["total_value"]) == ("shipped", "SH", "BJ", "12.00")
    assert [(l["sku"], l["quantity"], l["bin"], l["value"]) for l in t["lines"]] == [("MUG", 3, "A-01", "12.00")]
    bj = ok(http.get("/stock/MUG", params={"warehouse": "BJ"}, headers=staff))["levels"][0]
    assert (bj["on_hand"], bj["in_transit"], bj["available"]) == (0, 3, 0)
    assert ok(http.get("/stock/MUG", params={"warehouse": "SH"}, headers=staff))["levels"][0]["on_hand"] == 2
    # on the road the units stay in the stock value, as they stay in the inventory accounts
    travelling = ok(http.get("/stock-value", params={"warehouse": "BJ"}, headers=keys["finance"]))
    assert travelling == {"warehouses": [], "total": "12.00", "in_transit": [
        {"warehouse": "BJ", "quantity": 3, "value": "12.00", "skus": [{"sku": "MUG", "quantity": 3, "value": "12.00"}]}]}
    assert ok(http.get("/stock-value", headers=keys["finance"]))["total"] == "20.00"
    at = ok(http.get("/stock/reports/value-at", headers=keys["finance"]))
    assert ([w["value"] for w in at["warehouses"]], [w["value"] for w in at["in_transit"]], at["total_value"]) == (
        ["8.00"], ["12.00"], "20.00")

    received = ok(http.post(f"/transfers/{t['transfer_id']}/receive", headers=staff))
    assert (received["status"], received["total_value"]) == ("received", "12.00")
    bj = ok(http.get("/stock/MUG", params={"warehouse": "BJ"}, headers=staff))["levels"][0]
    assert (bj["on_hand"], bj["in_transit"], bj["available"]) == (3, 0, 3)
    assert ok(http.get(f"/transfers/{t['transfer_id']}", headers=keys["finance"]))["status"] == "received"
    assert_problem(http.post(f"/transfers/{t['transfer_id']}/receive", json={"bin": ""}, headers=staff), 409,
                   "already received")
    assert_problem(http.get("/transfers/nope", headers=staff), 404, "not found")
    value = ok(http.get("/stock-value", headers=keys["finance"]))
    assert value["total"] == "20.00"
    assert ok(http.get("/stock/audit", headers=keys["admin"]))["ok"] is True


def test_count_open_scan_submit(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(scan_receive_tea(http, staff), 201)
    ok(http.post("/stock/receipts", json={"sku": "MUG", "warehouse": "SH", "quantity": 5, "unit_cost": "4.00",
                                          "bin": "A-01"}, headers=staff), 201)
    opened = http.post("/counts", json={"warehouse": "SH", "bins": ["A-01"], "note": "weekly"}, headers=staff)
    count = ok(opened, 201)
    count_id = count["count_id"]
    assert opened.headers["location"] == f"/counts/{count_id}"
    assert (count["status"], count["bins"]) == ("open", ["A-01"])
    assert sorted((l["sku"], l["lot"], l["expected"], l["counted"]) for l in count["lines"]) == [
        ("MUG", "", 5, None), ("TEA", "L1", 10, None)]
    # the bin is frozen while counted
    frozen = http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-01", "to_bin": "A-02", "code": MUG_EAN},
                       headers=staff)
    assert frozen.status_code == 409
    # not goods, and a bin outside the count
    assert_problem(http.post("/scan/count", json={"count_id": count_id, "bin": "A-01", "code": "BIN:A-02"},
                             headers=staff), 409, "not goods: scan the item", "code")
    assert_problem(http.post("/scan/count", json={"count_id": count_id, "bin": "A-02", "code": MUG_EAN},
                             headers=staff), 409, "not part of count", "bin")
    tea = ok(http.post("/scan/count", json={"count_id": count_id, "bin": "BIN:A-01", "code": "LOT:L1",
                                            "quantity": 6}, headers=staff), 201)
    assert (tea["sku"], tea["lot"], tea["counted"], tea["expected"], tea["difference"]) == ("TEA", "L1", 6, 10, -4)
    tea = ok(http.post("/scan/count", json={"count_id": count_id, "bin": "A-01", "code": "LOT:L1", "quantity": 4},
                       headers=staff), 201)
    assert (tea["counted"], tea["difference"]) == (10, 0)
    ok(http.post("/scan/count", json={"count_id": count_id, "bin": "A-01", "code": MUG_EAN, "quantity": 3},
                 headers=staff), 201)
    mug = ok(http.post("/scan/count", json={"count_id": count_id, "bin": "A-01", "code": MUG_EAN, "quantity": 4,
                                            "replace": True}, headers=staff), 201)
    assert (mug["counted"], mug["expected"]) == (4, 5)

    assert http.post(f"/counts/{count_id}/approve", headers=staff).status_code == 403  # finance or admin
    posted = ok(http.post(f"/counts/{count_id}/submit", json={}, headers=staff))
    assert (posted["status"], posted["posted_value"]) == ("posted", "-4.00")
    mug_line = next(l for l in posted["lines"] if l["sku"] == "MUG")
    assert (mug_line["counted"], mug_line["difference"], mug_line["value"]) == (4, -1, "-4.00")
    assert ok(http.get(f"/counts/{count_id}", headers=keys["finance"]))["status"] == "posted"
    assert ok(http.get("/stock/MUG", params={"warehouse": "SH"}, headers=staff))["levels"][0]["on_hand"] == 4
    assert_problem(http.post(f"/counts/{count_id}/cancel", headers=staff), 409, "is posted")
    # the bin is free again
    ok(http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-01", "to_bin": "A-02", "code": MUG_EAN},
                 headers=staff), 201)
    # a second count, cancelled
    second = ok(http.post("/counts", json={"warehouse": "SH", "skus": ["MUG"]}, headers=staff), 201)
    assert second["bins"] == ["A-01", "A-02"]  # the bins holding MUG
    assert ok(http.post(f"/counts/{second['count_id']}/cancel", headers=staff))["status"] == "cancelled"
    assert ok(http.get("/stock/audit", headers=keys["finance"]))["ok"] is True


def test_kits_limits_and_lot_holds(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    ok(http.post("/stock/receipts", json={"sku": "MUG", "warehouse": "SH", "quantity": 2, "unit_cost": "4.00"},
                 headers=staff), 201)
    ok(http.post("/stock/receipts", json={"sku": "SPOON", "warehouse": "SH", "quantity": 4, "unit_cost": "0.50"},
                 headers=staff), 201)
    kit = ok(http.post("/kits/GIFT/assemble", json={"warehouse": "SH", "quantity": 2}, headers=staff), 201)
    assert (kit["action"], kit["value"]) == ("assembled", "10.00")
    assert sorted((c["sku"], c["quantity"], c["value"]) for c in kit["components"]) == [
        ("MUG", 2, "8.00"), ("SPOON", 4, "2.00")]
    apart = ok(http.post("/kits/GIFT/disassemble", json={"warehouse": "SH", "quantity": 1}, headers=staff), 201)
    assert apart["value"] == "5.00"
    assert_problem(http.post("/kits/MUG/assemble", json={"warehouse": "SH", "quantity": 1}, headers=staff), 409,
                   "not a kit", "kit_sku")

    limits = {"sku": "MUG", "warehouse": "SH", "minimum": 5, "maximum": 20}
    assert ok(http.put("/stock/limits", json=limits, headers=keys["purchasing"])) == limits
    assert_problem(http.put("/stock/limits", json={**limits, "warehouse": "XX"}, headers=staff), 404,
                   "unknown warehouse")

    ok(scan_receive_tea(http, staff, quantity=3, lot="L9"), 201)
    held = ok(http.post("/lots/TEA/L9/hold", json={"note": "supplier recall"}, headers=staff))
    assert (held["status"], held["quantities"]) == ("quarantined", [{"warehouse": "SH", "quantity": 3}])
    level = ok(http.get("/stock/TEA", params={"warehouse": "SH"}, headers=staff))["levels"][0]
    assert (level["on_hand"], level["held"], level["available"]) == (3, 3, 0)
    assert_problem(http.post("/lots/TEA/L9/hold", headers=staff), 409, "already quarantined")
    assert ok(http.post("/lots/TEA/L9/release", headers=staff))["status"] == "ok"
    assert_problem(http.post("/lots/TEA/NOPE/release", headers=staff), 404, "unknown", "lot")


# -- validation and roles ----------------------------------------------------------------------
def fields(reply) -> dict:
    assert reply.status_code == 422 and reply.headers["content-type"] == PROBLEM, reply.text
    return {e["field"]: e["message"] for e in reply.json()["errors"]}


def test_bad_input_never_reaches_the_service(hub):
    http, keys, _ = hub
    staff = keys["warehouse"]
    bad = fields(http.post("/scan/receive", json={"warehouse": "SH", "bin": "A-01", "code": TEA_EAN, "quantity": -1,
                                                  "unit_cost": "-2", "lot": "L1", "expires_on": "2030-02-30"},
                           headers=staff))
    assert set(bad) == {"quantity", "unit_cost", "expires_on"}
    assert bad["expires_on"] == "not a real date (YYYY-MM-DD)"
    assert set(fields(http.post("/scan/move", json={"warehouse": "SH", "from_bin": "A-01", "to_bin": "BIN:A-01",
                                                    "code": "has space", "quantity": 0}, headers=staff))) == {
        "to_bin", "code", "quantity"}
    assert fields(http.post("/stock/moves", json={"sku": "TEA", "warehouse": "SH", "from_bin": "A-01",
                                                  "to_bin": "A-01", "quantity": 1}, headers=staff)) == {
        "to_bin": "must differ from from_bin"}
    assert fields(http.put("/stock/limits", json={"sku": "MUG", "warehouse": "SH", "minimum": 9, "maximum": 3},
                           headers=staff)) == {"maximum": "must be at least the minimum"}
    assert set(fields(http.post("/transfers", json={"from_warehouse": "SH", "to_warehouse": "BJ",
                                                    "lines": [{"sku": "MUG", "quantity": -3}, {"sku": "MUG",
                                                               "quantity": "2"}]}, headers=staff))) == {
        "lines[0].quantity", "lines[1].quantity"}
    assert set(fields(http.post("/transfers", json={"from_warehouse": "SH", "to_warehouse": "BJ", "lines": []},
                                headers=staff))) == {"lines"}
    assert set(fields(http.post("/warehouses/SH/bins", json={"codes": ["ok", "not ok", ""]}, headers=staff))) == {
        "codes[1]", "codes[2]"}
    assert set(fields(http.post("/counts", json={"warehouse": "SH", "kind": "annual"}, headers=staff))) == {"kind"}
    assert set(fields(http.post("/kits/GIFT/assemble", json={"warehouse": "SH", "quantity": 0, "extra": 1},
                                headers=staff))) == {"quantity", "extra"}
    assert set(fields(http.post("/scan/count", json={"count_id": "c1", "bin": "A-01", "code": MUG_EAN,
                                                     "quantity": -1}, headers=staff))) == {"quantity"}
    assert set(fields(http.post("/stock/adjustments", json={"sku": "MUG", "warehouse": "SH", "quantity": 0,
                                                            "reason": "count"}, headers=staff))) == {"quantity"}
    # the service's own check: a transfer goes to another warehouse
    same = http.post("/transfers", json={"from_warehouse": "SH", "to_warehouse": "SH",
                                         "lines": [{"sku": "MUG", "quantity": 1}]}, headers=staff)
    assert fields(same) == {"to_warehouse": "a transfer goes to another warehouse"}
    assert same.json()["title"] == "the transfer is invalid"


def test_roles(hub):
    http, keys, _ = hub
    lookup = {"warehouse": "SH", "code": "BIN:A-01"}
    for role in ("sales", "purchasing", "finance"):
        refused = http.post("/scan/lookup", json=lookup, headers=keys[role])
        assert_problem(refused, 403, f"role {role!r} may not do this")
    assert http.post("/scan/lookup", json=lookup, headers=keys["admin"]).status_code == 200
    assert http.post("/scan/lookup", json=lookup).status_code == 401
    assert http.get("/stock/audit", headers=keys["warehouse"]).status_code == 403
    assert http.get("/stock/audit", headers=keys["sales"]).status_code == 403
    assert http.post("/transfers", json={"from_warehouse": "SH", "to_warehouse": "BJ",
                                         "lines": [{"sku": "MUG", "quantity": 1}]},
                     headers=keys["sales"]).status_code == 403
    assert http.post("/counts", json={"warehouse": "SH"}, headers=keys["finance"]).status_code == 403
    assert http.post("/counts/abc/approve", headers=keys["warehouse"]).status_code == 403
    assert_problem(http.post("/counts/abc/approve", headers=keys["finance"]), 404, "count abc not found")
    assert http.get("/counts/abc", headers=keys["sales"]).status_code == 403
    assert http.post("/lots/TEA/L1/hold", headers=keys["sales"]).status_code == 403


def test_openapi_documents_the_routes(hub):
    http, _, _ = hub
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/warehouses/{code}/bins", "/stock/limits", "/stock/moves", "/kits/{kit_sku}/assemble",
                 "/kits/{kit_sku}/disassemble", "/transfers", "/transfers/{transfer_id}/receive",
                 "/transfers/{transfer_id}", "/lots/{sku}/{lot}/hold", "/lots/{sku}/{lot}/release", "/counts",
                 "/counts/{count_id}", "/counts/{count_id}/submit", "/counts/{count_id}/approve",
                 "/counts/{count_id}/cancel", "/stock/audit", "/scan/lookup", "/scan/receive", "/scan/pick",
                 "/scan/move", "/scan/count"):
        assert path in paths, path
