"""Audits across the services: the books against the stock."""
from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.areas.audit import books
from gateway.areas.audit.schemas import BooksAudit
from gateway.common.access import FINANCE, allowed, clients
from hubkit import clock

router = APIRouter(tags=["audit"])


@router.get("/audit/books", response_model=BooksAudit)
def books_audit(request: Request, md=allowed(FINANCE)):
    """The inventory accounts per cost centre against the stock value (on hand per warehouse, and in
    transit), now. A difference is in_flight until two periodic runs find it unchanged (diverged)."""
    hub = clients(request)
    balances = hub.accounting.GetBalances(books.BALANCES_REQUEST, metadata=md)
    rows = books.compare(hub.inventory.GetStockValue(books.STOCK_VALUE_REQUEST, metadata=md), balances)
    monitor: books.Monitor = request.app.state.books_monitor
    inventory = []
    for row in rows:
        status, since = monitor.status(row)
        inventory.append({**row, **{k: str(row[k]) for k in ("books", "stock", "difference")}, "status": status,
                          "diverged_since": since.isoformat() if since else None})
    return {"checked_at": clock.now().isoformat(), "agrees": not any(r["difference"] for r in rows),
            "diverged": any(r["status"] == books.DIVERGED for r in inventory),
            "accounts": {role: balances.accounts[role] for role in books.STOCK_ROLES}, "inventory": inventory}
