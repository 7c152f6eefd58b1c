"""Requisitions and approval (issue 15) through the gateway: the default chain at and around 5,000,
four eyes, out of turn, an unapproved purchase order never received, delegation for a period, a
rejection with its reason, and approved requisitions ordered per supplier in one call."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from gateway import auth
from tests.e2e.helpers import quiet_row_counts, row_counts, stock_sku, unique

pytestmark = pytest.mark.e2e


def _user(hub, role: str) -> tuple[str, httpx.Client]:
    name = unique(role.replace("_", "-")).lower()
    key = auth.add_user(hub.gateway_db, name, role)
    return name, httpx.Client(base_url=hub.stack.gateway_url, headers={"X-API-Key": key}, timeout=30)


def _ok(reply, status=(200, 201)) -> dict:
    assert reply.status_code in status, reply.text
    return reply.json()


def _refused(reply, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return reply.json()


def _waiting(doc) -> list[tuple]:
    return [(s["step_no"], s["role"], s["status"]) for s in doc["approval_steps"]]


def _announced(hub, document_id: str) -> list[dict]:
    outbox = hub.dbs["procurement"].metadata.tables["outbox"]
    import json
    with hub.dbs["procurement"].reader() as s:
        bodies = s.execute(select(outbox.c.body).where(outbox.c.event_type == "approval_waiting")
                           .order_by(outbox.c.id)).scalars().all()
    payloads = [json.loads(b)["payload"] for b in bodies]
    return [p for p in payloads if p["document_id"] == document_id]


def test_purchase_orders_wait_for_their_chain_at_and_around_5000_and_four_eyes(pg_hub):
    sku, supplier, wh = unique("APR"), unique("SUP"), "WH-MAIN"
    buyer_name, buyer = _user(pg_hub, "purchasing")
    manager_name, manager = _user(pg_hub, "dept_manager")
    director_name, director = _user(pg_hub, "finance_director")
    with pg_hub.client("admin") as admin, buyer, manager, director:
        stock_sku(admin, sku, warehouse=wh)
        _ok(admin.post("/suppliers", json={"code": supplier, "name": "Supplier"}))

        def po(cost: str) -> dict:
            return _ok(buyer.post("/purchase-orders", json={"supplier": supplier, "warehouse": wh, "lines": [
                {"sku": sku, "quantity": 1, "unit_cost": cost, "vat_rate": "0"}]}), (201,))
        below, at, above = po("4999.99"), po("5000.00"), po("5000.01")
        assert _waiting(below) == [(1, "dept_manager", "waiting")]
        assert _waiting(at) == _waiting(above) == [(1, "dept_manager", "waiting"), (2, "finance_director", "queued")]
        assert at["approval"] == "pending" and at["approval_steps"][0]["amount"] == "5000.00"

        # nothing of these changes anything: receiving it unapproved, its buyer approving it, the
        # director before the manager, a stranger's role, a rejection without its reason
        before = quiet_row_counts(pg_hub)
        unapproved = _refused(admin.post(f"/purchase-orders/{at['id']}/receipts", json={}), 409)
        assert "not approved" in unapproved["title"]
        _refused(buyer.post(f"/purchase-orders/{at['id']}/approve", json={}), 403)
        out_of_turn = _refused(director.post(f"/purchase-orders/{at['id']}/approve", json={}), 409)
        assert "waiting first" in out_of_turn["title"]
        _refused(admin.post(f"/purchase-orders/{at['id']}/approve", json={}), 403)
        _refused(manager.post(f"/purchase-orders/{at['id']}/reject", json={}), 422)
        assert row_counts(pg_hub) == before

        below = _ok(manager.post(f"/purchase-orders/{below['id']}/approve", json={"comment": "ok"}))
        assert below["approval"] == "approved"
        at = _ok(manager.post(f"/purchase-orders/{at['id']}/approve", json={"comment": "needed for Q1"}))
        assert at["approval"] == "pending" and _waiting(at)[1] == (2, "finance_director", "waiting")
        # one person approves one step of a document, whatever their role
        _refused(manager.post(f"/purchase-orders/{at['id']}/approve", json={}), 409)
        at = _ok(director.post(f"/purchase-orders/{at['id']}/approve", json={"comment": "budget ok"}))
        assert at["approval"] == "approved"
        assert [(e["action"], e["actor"], e["comment"]) for e in at["approval_log"] if e["action"] == "approved"] == [
            ("approved", manager_name, "needed for Q1"), ("approved", director_name, "budget ok")]
        assert all(e["at"] for e in at["approval_log"])
        assert at["approval_steps"][1]["decided_by"] == director_name and at["approval_steps"][1]["decided_at"]
        _ok(admin.post(f"/purchase-orders/{at['id']}/receipts", json={}), (201,))

        above = _ok(manager.post(f"/purchase-orders/{above['id']}/reject", json={"comment": "wrong supplier"}))
        assert (above["approval"], [s["status"] for s in above["approval_steps"]]) == (
            "rejected", ["rejected", "cancelled"])
        _refused(admin.post(f"/purchase-orders/{above['id']}/receipts", json={}), 409)
    # approval_waiting: each step as it opened
    assert [(p["step_no"], p["role"], p["overdue"]) for p in _announced(pg_hub, at["id"])] == [
        (1, "dept_manager", False), (2, "finance_director", False)]
    assert _announced(pg_hub, at["id"])[0]["requester"] == buyer_name


def test_requisitions_delegation_rejection_and_ordering_per_supplier(pg_hub):
    sku, wh = unique("REQ"), "WH-MAIN"
    suppliers = [unique("SUPA"), unique("SUPB")]
    requester_name, requester = _user(pg_hub, "sales")
    manager_name, manager = _user(pg_hub, "dept_manager")
    deputy_name, deputy = _user(pg_hub, "warehouse")
    _, director = _user(pg_hub, "finance_director")
    _, buyer = _user(pg_hub, "purchasing")
    now = datetime.now(timezone.utc)
    with pg_hub.client("admin") as admin, requester, manager, deputy, director, buyer:
        stock_sku(admin, sku, warehouse=wh)
        for code in suppliers:
            _ok(admin.post("/suppliers", json={"code": code, "name": code}))

        def requisition(cost: str) -> dict:
            return _ok(requester.post("/requisitions", json={"warehouse": wh, "category": "office", "lines": [
                {"sku": sku, "quantity": 2, "supplier": suppliers[0], "unit_cost": cost, "vat_rate": "0"},
                {"sku": sku, "quantity": 1, "supplier": suppliers[1], "unit_cost": "100.00", "vat_rate": "0"}]}),
                (201,))
        big, small = requisition("2450.00"), requisition("10.00")   # 5,000.00 and 120.00
        assert (big["total"], big["requester"], big["status"]) == ("5000.00", requester_name, "pending")
        assert [s[1] for s in _waiting(big)] == ["dept_manager", "finance_director"]

        # a delegation that is over, or not begun, lets the deputy approve nothing
        _ok(manager.post("/purchasing/delegations", json={
            "delegate": deputy_name, "starts_at": (now - timedelta(days=3)).isoformat(),
            "ends_at": (now - timedelta(days=1)).isoformat()}), (201,))
        before = quiet_row_counts(pg_hub)
        _refused(deputy.post(f"/requisitions/{big['id']}/approve", json={}), 403)
        _refused(requester.post(f"/requisitions/{big['id']}/approve", json={}), 403)
        not_yet = _refused(buyer.post("/requisitions/purchase-orders", json={"requisition_ids": [big["id"]]}), 409)
        assert "only approved" in not_yet["title"]
        assert row_counts(pg_hub) == before
        _ok(manager.post("/purchasing/delegations", json={
            "delegate": deputy_name, "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=2)).isoformat(), "note": "on leave"}), (201,))
        big = _ok(deputy.post(f"/requisitions/{big['id']}/approve", json={"comment": "for the manager"}))
        assert (big["approval_steps"][0]["decided_by"], big["approval_steps"][0]["on_behalf_of"]) == (
            deputy_name, manager_name)
        big = _ok(director.post(f"/requisitions/{big['id']}/reject", json={"comment": "over budget this month"}))
        assert (big["status"], big["rejected_reason"]) == ("rejected", "over budget this month")
        assert [e["action"] for e in big["approval_log"]] == ["raised", "opened", "approved", "opened", "rejected"]

        small = _ok(manager.post(f"/requisitions/{small['id']}/approve", json={}))
        assert small["status"] == "approved"
        ordered = _ok(buyer.post("/requisitions/purchase-orders", json={"requisition_ids": [small["id"]]}), (201,))
        pos = ordered["purchase_orders"]
        assert sorted(p["supplier"] for p in pos) == sorted(suppliers)
        assert all(p["approval"] == "approved" and p["requisition_id"] == small["id"] for p in pos)
        _ok(admin.post(f"/purchase-orders/{pos[0]['id']}/receipts", json={}), (201,))
        small = _ok(admin.get(f"/requisitions/{small['id']}"))
        assert small["status"] == "ordered" and {l["purchase_order_id"] for l in small["lines"]} == {
            p["id"] for p in pos}
        _refused(buyer.post("/requisitions/purchase-orders", json={"requisition_ids": [small["id"]]}), 409)


def test_the_chain_is_applied_as_a_versioned_document_from_the_cli_and_a_bad_one_is_refused(pg_hub, tmp_path):
    import subprocess
    import sys

    from hub import components
    from services.procurement.chains import DEFAULT_FILE

    def hub_cli(*args):
        return subprocess.run([sys.executable, "-m", "hub.cli", "approvals", *args], env=pg_hub.stack.env,
                              capture_output=True, text=True, timeout=60, cwd=components.PROJECT_ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, when: 'amount >= \"5000\"', approver: {role: dept_manager}}\n")
    refused = hub_cli("apply", str(bad))
    assert refused.returncode != 0 and "steps[0].when" in refused.stderr, refused.stderr
    it = tmp_path / "it.yaml"
    it.write_text(DEFAULT_FILE.read_text() + "  - {id: it-lead, when: category == \"it\", approver: {role: admin}}\n")
    applied = hub_cli("apply", str(it), "--note", "IT purchases")
    assert applied.returncode == 0 and "IT purchases" in applied.stdout, applied.stderr
    try:
        with pg_hub.client("sales") as requester:
            sku = unique("IT")
            with pg_hub.client("admin") as admin:
                stock_sku(admin, sku)
                supplier = unique("SUP")
                _ok(admin.post("/suppliers", json={"code": supplier, "name": supplier}))
            doc = _ok(requester.post("/requisitions", json={"warehouse": "WH-MAIN", "category": "it", "lines": [
                {"sku": sku, "quantity": 1, "supplier": supplier, "unit_cost": "10.00"}]}), (201,))
        assert [s["role"] for s in doc["approval_steps"]] == ["dept_manager", "admin"]
        versions = _ok(admin_get(pg_hub, "/purchasing/approval-chains"))["versions"]
        assert versions[0]["in_force"] and versions[0]["note"] == "IT purchases"
        assert doc["chain_version"] == versions[0]["version"]
        waiting = hub_cli("waiting")
        assert waiting.returncode == 0 and doc["id"] in waiting.stdout, waiting.stderr
    finally:  # the rest of the package's tests see the default again
        assert hub_cli("apply", str(DEFAULT_FILE), "--note", "back to the default").returncode == 0


def admin_get(hub, path: str) -> httpx.Response:
    with hub.client("admin") as admin:
        return admin.get(path)
