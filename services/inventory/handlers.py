"""Inventory's answers to purchasing events, and the stock value query. Orders are handled in
reservations.py, stock documents in movements.py, transfers.py, counts.py and holds.py."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from contracts import PurchaseReturnShipped
from hubkit import clock
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope
from hubkit.errors import Conflict, NotFound
from hubkit.money import cents
from services.inventory import catalog, costing, movements, signals, stock
from services.inventory.models import cost_layers, skus, warehouses
from services.inventory.stock import Context


def receive_purchase(uow: UnitOfWork, envelope: Envelope) -> None:
    """purchase_received: the goods enter the warehouse at their purchase cost (excluding VAT).
    A lot-tracked SKU without a lot on the receipt gets the receipt's number as its lot."""
    s, payload = uow.session, envelope.payload
    warehouse = payload["warehouse"]
    codes = {line["sku"] for line in payload["lines"]}
    known = set(s.execute(select(skus.c.code).where(skus.c.code.in_(codes))).scalars())
    if codes - known or s.execute(select(warehouses.c.code).where(warehouses.c.code == warehouse)).first() is None:
        raise NotFound(f"purchase receipt {payload['receipt_id']} names an unknown warehouse or SKU(s) "
                       f"{sorted(codes - known)}")
    stock.lock(s, codes)
    for line in payload["lines"]:
        item = catalog.sku_row(s, line["sku"])
        movements.receive(uow, line["sku"], warehouse, int(line["quantity"]), str(line["unit_cost"]),
                          f"PO {payload['purchase_order_id']} receipt {payload['receipt_id']}",
                          bin_code=line.get("bin") or "",
                          lot=line.get("lot") or (f"R{payload['receipt_id']}"[:64] if item.lot_tracked else ""),
                          expires_on=line.get("expires_on") or "", serial_list=line.get("serials") or None,
                          reason="purchase", received_at=datetime.fromisoformat(payload["received_at"]),
                          into_frozen=True)


def return_to_supplier(uow: UnitOfWork, envelope: Envelope) -> list[dict]:
    """purchase_returned: the goods leave for the supplier, taken from that purchase order's own
    cost layers first; emits purchase_return_shipped with their value for the books."""
    s, payload, now = uow.session, envelope.payload, clock.now()
    warehouse, shipped = payload["warehouse"], []
    ctx = Context(f"purchase_return:{payload['return_id']}", envelope.actor, now,
                  f"return to supplier {payload['return_id']}", "purchase_return")
    stock.lock(s, {line["sku"] for line in payload["lines"]})
    for line in payload["lines"]:
        qty, item = int(line["quantity"]), catalog.sku_row(s, line["sku"])
        pieces = stock.choose(s, item.code, warehouse, qty, lot=line.get("lot") or "",
                              serial_list=line.get("serials") or None, serial_tracked=item.serial_tracked)
        cost = costing.total(costing.take(s, item.code, warehouse, qty, item.costing,
                                          prefer_reference=f"PO {payload['purchase_order_id']}"))
        try:
            stock.take(s, ctx, "purchase_return", item.code, warehouse, pieces, cost, serial_status="returned")
        except Conflict as exc:
            raise Conflict(f"purchase return {payload['return_id']}: {exc}") from None
        shipped.append({"line_no": line["line_no"], "sku": item.code, "quantity": qty, "cost": str(cost)})
    signals.stock_moved(uow, {(l["sku"], warehouse) for l in shipped})
    uow.emit(PurchaseReturnShipped(
        **{k: payload[k] for k in ("purchase_order_id", "return_id", "supplier", "warehouse", "total_net",
                                   "total_tax", "total")},
        returned_at=now, lines=shipped,
        total_cost=sum((Decimal(l["cost"]) for l in shipped), start=Decimal("0.00"))), payload["purchase_order_id"])
    return shipped


def stock_value(db: Database, warehouse: str = "") -> list[dict]:
    """Units and value left in the cost layers, per warehouse and SKU: on hand ("in_transit" False),
    and on their way to that warehouse from another at their travelling layers' cost ("in_transit"
    True, only where some is), so that together they equal the inventory accounts."""
    c = cost_layers
    query = (select(c.c.warehouse, c.c.sku, c.c.in_transit, func.sum(c.c.remaining), func.sum(c.c.remaining_value))
             .group_by(c.c.warehouse, c.c.sku, c.c.in_transit)
             .order_by(c.c.in_transit, c.c.warehouse, c.c.sku))
    if warehouse:
        query = query.where(c.c.warehouse == warehouse)
    with db.reader() as s:
        rows = [{"warehouse": w, "sku": sku, "quantity": int(q or 0), "value": cents(v or 0), "in_transit": bool(t)}
                for w, sku, t, q, v in s.execute(query).all()]
    return [r for r in rows if not r["in_transit"] or r["quantity"] or r["value"]]
