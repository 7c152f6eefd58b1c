"""Audits across the services: the books against the stock and the documents."""
from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.areas.audit import books
from gateway.areas.audit.schemas import BooksAudit
from gateway.common.access import FINANCE, allowed, clients
from hubkit import clock

router = APIRouter(tags=["audit"])
AMOUNTS = ("books", "stock", "documents", "difference")


@router.get("/audit/books", response_model=BooksAudit)
def books_audit(request: Request, md=allowed(FINANCE)):
    """Now: the inventory accounts per cost centre against the stock value (on hand per warehouse,
    and in transit), the payable per supplier against the open purchase documents, and the receivable
    per debtor against the open sales (shipped orders less returns, less money received). A difference
    is in_flight until two periodic runs find it unchanged (diverged)."""
    found = books.audit(clients(request), md)
    monitor: books.Monitor = request.app.state.books_monitor
    reply: dict = {"checked_at": clock.now().isoformat(), "accounts": found["accounts"]}
    for part in books.KEYS:
        reply[part] = []
        for row in found[part]:
            status, since = monitor.status(part, row)
            reply[part].append({**row, **{k: str(row[k]) for k in AMOUNTS if row.get(k) is not None},
                                "status": status, "diverged_since": since.isoformat() if since else None})
    rows = [r for part in books.KEYS for r in reply[part]]
    reply["agrees"] = all(r["status"] in (books.AGREES, books.NOT_COMPARED) for r in rows)
    reply["diverged"] = any(r["status"] == books.DIVERGED for r in rows)
    return reply
