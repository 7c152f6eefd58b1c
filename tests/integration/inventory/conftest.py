"""Inventory handlers on a real database (PostgreSQL and SQLite): a small facade that runs
each command in its own unit of work, as the api process does."""
from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from hub import components
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from services.inventory import audit, catalog, handlers, movements, reservations
from services.inventory.models import metadata
from tests.support import infra


@pytest.fixture(scope="session")
def inventory_pg_url():
    prefix = infra.session_name() + "_inv"
    urls = infra.create_databases(prefix, ["inventory"])
    yield urls["inventory"]
    infra.drop_databases(prefix, ["inventory"])


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("inventory_pg_url")  # shared: every test uses its own codes
    return f"sqlite:///{tmp_path / 'inventory.db'}"


@pytest.fixture
def db(db_url):
    components.migrate("inventory", db_url)
    database = Database(db_url, metadata, pool_size=8)
    yield database
    database.dispose()


@pytest.fixture
def inv(db):
    return Inventory(db)


class Inventory:
    """Commands as a user (or an event) would issue them; every code is unique per test."""

    _orders = itertools.count(1)

    def __init__(self, db: Database, actor: str = "alice"):
        self.db, self.actor = db, actor
        self.tag = uuid.uuid4().hex[:6]

    def uow(self, actor: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.db, "inventory", actor or self.actor, f"test-{self.tag}")

    def run(self, fn, *args, actor: str | None = None, **kwargs):
        with self.uow(actor) as uow:
            return fn(uow, *args, **kwargs)

    def code(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def warehouse(self, name: str, priority: int = 100, bins: tuple = ()) -> str:
        code = self.code(name)
        self.run(catalog.upsert_warehouse, code, f"Warehouse {name}", priority, "east", "1 Dock Road")
        if bins:
            self.run(catalog.add_bins, code, list(bins))
        return code

    def sku(self, name: str, **kwargs) -> str:
        code = self.code(name)
        self.run(catalog.upsert_sku, code, f"Item {name}", **kwargs)
        return code

    def receive(self, sku, warehouse, quantity, cost, **kwargs):
        return self.run(movements.receive, sku, warehouse, quantity, cost, **kwargs)

    def event(self, event_type: str, payload: dict) -> Envelope:
        return Envelope(type=event_type, source="order", aggregate_id=payload.get("order_id", ""), sequence=1,
                        payload=payload, correlation_id=f"test-{self.tag}", actor="ops")

    def order(self, lines: list[tuple[str, int]], ttl_minutes: int = 0) -> tuple[str, list[dict]]:
        order_id = f"O{self.tag}{next(self._orders):05d}"
        payload = {"order_id": order_id, "channel": "web",
                   "lines": [{"line_no": i + 1, "sku": sku, "quantity": q} for i, (sku, q) in enumerate(lines)]}
        return order_id, self.run(reservations.reserve_order, self.event("order_placed", payload), ttl_minutes)

    def ship(self, order_id: str, line_nos: list[int]):
        payload = {"order_id": order_id, "channel": "web", "lines": [{"line_no": n} for n in line_nos]}
        return self.run(reservations.issue_for_shipment, self.event("order_shipped", payload))

    def cancel(self, order_id: str):
        return self.run(reservations.release_order, self.event("order_cancelled", {"order_id": order_id}))

    def return_goods(self, order_id: str, lines: list[tuple[int, int]]):
        payload = {"order_id": order_id, "return_id": uuid.uuid4().hex[:12], "channel": "web",
                   "lines": [{"line_no": n, "quantity": q} for n, q in lines]}
        return self.run(reservations.restock_return, self.event("order_returned", payload))

    def level(self, sku, warehouse) -> dict:
        return catalog.get_stock(self.db, sku, warehouse)[0]

    def value(self, warehouse: str = "", sku: str = "", in_transit: bool = False):
        """Value on hand (or on its way to `warehouse`, with in_transit) from the stock value report."""
        rows = handlers.stock_value(self.db, warehouse)
        return sum((r["value"] for r in rows if (not sku or r["sku"] == sku) and r["in_transit"] == in_transit),
                   start=Decimal("0.00"))

    def audit(self) -> list[dict]:
        return audit.differences(self.db)

    def events(self, event_type: str) -> list[dict]:
        """Payloads this test's commands wrote to the outbox, oldest first."""
        table = metadata.tables["outbox"]
        with self.db.reader() as s:
            bodies = s.execute(select(table.c.body).where(table.c.event_type == event_type)
                               .order_by(table.c.id)).scalars().all()
        envelopes = [Envelope.from_json(b) for b in bodies]
        return [e.payload for e in envelopes if e.correlation_id == f"test-{self.tag}"]
