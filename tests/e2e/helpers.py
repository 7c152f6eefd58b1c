"""Small builders shared by the end-to-end tests."""
from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select

from tests.support.hub import wait_for


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}".upper()


def stock_sku(client, sku: str, warehouse: str = "WH-MAIN", quantity: int = 0, cost: str = "10.00",
              priority: int = 1) -> None:
    reply = client.post("/warehouses", json={"code": warehouse, "name": warehouse, "priority": priority})
    assert reply.status_code in (200, 201), reply.text
    assert client.post("/skus", json={"code": sku, "name": f"Test {sku}"}).status_code in (200, 201)
    if quantity:
        reply = client.post("/stock/receipts", json={"sku": sku, "warehouse": warehouse, "quantity": quantity,
                                                     "unit_cost": cost})
        assert reply.status_code == 201, reply.text


def order_body(sku: str, external_id: str, quantity: int = 1, price: str = "19.90", channel: str = "taobao") -> dict:
    # a buyer of their own: review's customer facts (return rate, exposure) are per buyer, and one
    # test's returns must not hold another test's orders
    return {"channel": channel, "shop": "test-shop", "external_order_id": external_id,
            "buyer": {"external_id": f"b-{external_id}"[:64], "name": "Test Buyer", "phone": "13900000000"},
            "shipping_address": {"recipient": "Test Buyer", "city": "Hangzhou", "street": "1 Test Road"},
            "lines": [{"sku": sku, "quantity": quantity, "unit_price": price}]}


def wait_settled(client, order_ids, timeout: float = 90) -> list[dict]:
    def settled():
        orders = [client.get(f"/orders/{i}").json() for i in order_ids]
        return orders if all(o["status"] != "pending" for o in orders) else None
    return wait_for(settled, timeout, 0.3, f"{len(order_ids)} orders to leave pending")


def reservation_rows(hub, sku: str) -> list:
    from services.inventory.models import reservations
    with hub.dbs["inventory"].reader() as s:
        return s.execute(select(reservations).where(reservations.c.sku == sku)).all()


def quiet_row_counts(hub) -> dict:
    """`row_counts` once the hub is quiet: what earlier requests set going (a receipt's voucher, an order's
    reservation) has landed, so a difference after is the doing of what came between."""
    hub.wait_quiet()
    return row_counts(hub)


def row_counts(hub) -> dict:
    """Rows per table in every service database: 'no change' means these are equal."""
    counts = {}
    for name, db in {**hub.dbs, "gateway": hub.gateway_db}.items():
        tables = db.metadata.sorted_tables
        # one statement a database, each table's count a column of its one row (asked after every refused
        # write of the fuzzer: a statement a table made that test's slowest part)
        query = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
        with db.reader() as s:
            row = s.execute(query).one()
        counts.update({f"{name}.{t.name}": row[i] for i, t in enumerate(tables)})
    return counts


def posted_vouchers(client, source_id: str, count: int) -> list[dict]:
    """The vouchers posted for a document, once there are at least `count`."""
    return wait_for(lambda: (lambda v: v if len(v) >= count else None)(
        client.get("/accounting/vouchers", params={"source_id": source_id}).json()["vouchers"]),
        60, 0.3, f"{count} voucher(s) for {source_id}")


def amounts(voucher: dict) -> dict[str, Decimal]:
    """A voucher's debit minus credit per account."""
    out: dict[str, Decimal] = {}
    for line in voucher["lines"]:
        out[line["account"]] = out.get(line["account"], Decimal("0")) + Decimal(line["debit"]) - Decimal(line["credit"])
    return out


def stock_level(client, sku: str) -> dict:
    """A SKU's stock level, where it is kept in one warehouse."""
    [one] = client.get(f"/stock/{sku}").json()["levels"]
    return one
