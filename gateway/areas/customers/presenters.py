"""Customers as JSON."""
from __future__ import annotations

from gateway.common.presenters import money_str


def customer_json(c, with_orders: bool) -> dict:
    body = {"id": c.id, "channel": c.channel, "external_id": c.external_id, "name": c.name, "phone": c.phone,
            "email": c.email, "order_count": c.order_count, "lifetime_value": money_str(c.lifetime_value),
            "first_order_at": c.first_order_at, "last_order_at": c.last_order_at,
            "tier": c.tier, "credit_limit": c.credit_limit or None}
    if with_orders:
        body["orders"] = [{"order_id": o.order_id, "channel": o.channel, "shop": o.shop,
                           "external_order_id": o.external_order_id, "total": money_str(o.total),
                           "status": o.status, "placed_at": o.placed_at, "shipped_at": o.shipped_at or None,
                           "carrier": o.carrier or None, "tracking_number": o.tracking_number or None,
                           "refunded": money_str(o.refunded),
                           "after_sales": [after_sale_json(a) for a in o.after_sales]}
                          for o in c.orders]
    return body


def after_sale_json(a) -> dict:
    return {"kind": a.kind, "reference": a.reference or None, "reason": a.reason,
            "amount": money_str(a.amount) if a.HasField("amount") else None,
            "quantity": a.quantity if a.kind != "refund" else None, "lines": a.lines, "at": a.at}
