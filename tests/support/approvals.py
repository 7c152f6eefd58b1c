"""Approving a purchase order or requisition through the chain in force, as its approvers would: each
waiting step by a user of its role (or the user it names), never the requester."""
from __future__ import annotations

import httpx

from hubkit.db import Database, UnitOfWork
from services.procurement import approvals, chains


def approve(db: Database, document_id: str, kind: str = chains.PURCHASE_ORDER) -> None:
    """Approve every step of the document, in turn (services' handlers, one transaction a step)."""
    for _ in range(25):
        with db.reader() as s:
            waiting = next((st for st in approvals.read(s, kind, document_id)["steps"]
                            if st["status"] == chains.WAITING), None)
        if waiting is None:
            return
        actor = waiting["user_name"] or f"test-{waiting['role']}-approver"
        with UnitOfWork(db, "procurement", actor, f"approve-{document_id}") as uow:
            approvals.decide(uow, kind, document_id, True, waiting["role"] or "", "approved by the test")
    raise AssertionError(f"{kind} {document_id} still waits after 25 approvals")


def approve_through_gateway(hub, document_id: str, path: str = "purchase-orders") -> dict:
    """Approve every waiting step through the gateway, each as a user of its role; the document after.
    `hub`: the test Hub, or a client of one (its hub found by the gateway's URL)."""
    if isinstance(hub, httpx.Client):
        from tests.support.hub import BY_GATEWAY_URL
        hub = BY_GATEWAY_URL[str(hub.base_url).rstrip("/")]
    doc: dict = {}
    for _ in range(25):
        with hub.client("admin") as reader:
            doc = reader.get(f"/{path}/{document_id}").json()
        waiting = next((st for st in doc["approval_steps"] if st["status"] == "waiting"), None)
        if waiting is None:
            return doc
        with hub.client(waiting["role"]) as approver:
            reply = approver.post(f"/{path}/{document_id}/approve", json={"comment": "ok"})
        assert reply.status_code == 200, reply.text
    raise AssertionError(f"{path} {document_id} still waits after 25 approvals")
