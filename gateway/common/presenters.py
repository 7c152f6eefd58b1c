"""gRPC messages as JSON, for the messages several areas answer with. Each returns exactly the
fields of its response model in common.schemas."""
from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel
from starlette.responses import Response

from hubkit import money


def answered(model: type[BaseModel], content: dict, status_code: int) -> Response:
    """`content` checked and written as FastAPI does through a route's response model `model` (the
    same bytes), but in the sync route's own worker thread: FastAPI checks a sync route's answer in a
    second trip to a worker thread, which costs more CPU than the check itself (issue 12)."""
    return Response(model.model_validate(content).model_dump_json(by_alias=True), status_code,
                    media_type="application/json")


def money_str(m) -> str:
    return str(money.from_proto(m).quantize(Decimal("0.01")))


def money_or_none(value: str) -> str | None:
    """A decimal string with two places; None when the service left it empty (not known yet)."""
    return str(Decimal(value).quantize(Decimal("0.01"))) if value else None


def scalars(message, *nullable: str) -> dict:
    """A message's plain (non-message) fields; the nullable ones are null when empty or -1."""
    out = {f.name: getattr(message, f.name) for f in message.DESCRIPTOR.fields if f.type != f.TYPE_MESSAGE}
    return {k: (None if k in nullable and v in ("", -1) else v) for k, v in out.items()}


def level_json(level) -> dict:
    return {"sku": level.sku, "warehouse": level.warehouse, "on_hand": level.on_hand,
            "reserved": level.reserved, "available": level.available, "held": level.held,
            "in_transit": level.in_transit}


def warehouse_values(rows) -> list[dict]:
    """Rows per warehouse and SKU, summed per warehouse (in the order the warehouses come)."""
    warehouses: dict[str, dict] = {}
    for row in rows:
        w = warehouses.setdefault(row.warehouse, {"warehouse": row.warehouse, "quantity": 0,
                                                  "value": Decimal("0.00"), "skus": []})
        w["skus"].append({"sku": row.sku, "quantity": row.quantity, "value": row.value})
        w["quantity"] += row.quantity
        w["value"] += Decimal(row.value)
    return [{**w, "value": str(w["value"])} for w in warehouses.values()]


def stock_values(rows) -> dict:
    """Value rows split into what is on hand and what is on its way to each warehouse."""
    return {"warehouses": warehouse_values(r for r in rows if not r.in_transit),
            "in_transit": warehouse_values(r for r in rows if r.in_transit)}


def voucher_json(v) -> dict:
    return {"id": v.id, "number": v.number, "voucher_type": v.voucher_type, "period": v.period, "kind": v.kind,
            "source_type": v.source_type, "source_id": v.source_id, "business_date": v.business_date,
            "total": v.total, "posted_at": v.posted_at, "posted_by": v.posted_by, "export_status": v.export_status,
            "reverses": v.reverses or None, "currency": v.currency or None, "exchange_rate": v.exchange_rate or None,
            "lines": [{"line_no": l.line_no, "account": l.account, "summary": l.summary, "debit": l.debit,
                       "credit": l.credit, "aux": l.aux, "cost_centre": l.cost_centre} for l in v.lines]}


def order_json(o) -> dict:
    return {
        "id": o.id, "channel": o.channel, "shop": o.shop, "external_order_id": o.external_order_id,
        "status": o.status, "total": money_str(o.total), "currency": o.total.currency_code,
        "exchange_rate": o.exchange_rate or None,
        "buyer": {"external_id": o.buyer.external_id, "name": o.buyer.name, "phone": o.buyer.phone,
                  "email": o.buyer.email},
        "shipping_address": {f.name: getattr(o.shipping_address, f.name)
                             for f in o.shipping_address.DESCRIPTOR.fields},
        "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity,
                   "unit_price": money_str(l.unit_price), "amount": money_str(l.amount),
                   "reservation": l.reservation, "warehouse": l.warehouse or None,
                   "reserved_quantity": l.quantity if l.reservation == "reserved" else 0,
                   "backordered_quantity": l.quantity if l.reservation == "backordered" else 0,
                   "returned_quantity": l.returned_quantity, "refund_status": l.refund_status or None,
                   "refunded_amount": money_str(l.refunded_amount),
                   "shipped_quantity": l.shipped_quantity} for l in o.lines],
        "parcels": [{"parcel_no": p.parcel_no, "parcel_key": p.parcel_key, "carrier": p.carrier,
                     "tracking_number": p.tracking_number, "amount": money_str(p.amount), "shipped_by": p.shipped_by,
                     "shipped_at": p.shipped_at,
                     "lines": [{"line_no": pl.line_no, "quantity": pl.quantity, "amount": money_str(pl.amount)}
                               for pl in p.lines]} for p in o.parcels],
        "holds": [{"id": h.id, "reason": h.reason, "rule": h.rule or None, "note": h.note, "placed_by": h.placed_by,
                   "placed_at": h.placed_at, "released_by": h.released_by or None, "released_at": h.released_at or None,
                   "outcome": h.outcome or None, "outcome_note": h.outcome_note or None} for h in o.holds],
        "shipment": ({"carrier": o.carrier, "tracking_number": o.tracking_number, "shipped_at": o.shipped_at}
                     if o.shipped_at else None),
        "created_by": o.created_by, "created_at": o.created_at, "updated_at": o.updated_at,
        "priority": o.priority, "double_check": o.double_check,
        "merge_group": o.merge_group or None, "merged_with": list(o.merged_with),
        "channel_notice": o.channel_notice or None,
        "double_checked": ({"by": o.double_checked_by, "at": o.double_checked_at} if o.double_checked_by else None),
        "buyer_message": o.buyer_message,
    }
