"""The stock area's messages as JSON (a stock level is common: scanning shows it too)."""
from __future__ import annotations


def sku_json(sku) -> dict:
    return {"code": sku.code, "name": sku.name, "base_unit": sku.base_unit or "pcs", "category": sku.category,
            "lot_tracked": sku.lot_tracked, "serial_tracked": sku.serial_tracked, "costing": sku.costing or "fifo",
            "barcodes": list(sku.barcodes),
            "components": [{"sku": c.sku, "quantity": c.quantity} for c in sku.components]}


def warehouse_json(w) -> dict:
    return {"code": w.code, "name": w.name, "priority": w.priority, "region": w.region, "address": w.address}


def rules_json(r) -> dict:
    return {"coverage": [{"province": c.province, "city": c.city, "warehouses": list(c.warehouses)} for c in r.coverage],
            "shops": [{"channel": x.channel, "shop": x.shop, "warehouses": list(x.warehouses)} for x in r.shops]}


def allocation_json(a) -> dict:
    return {"order_id": a.order_id, "channel": a.channel, "shop": a.shop, "province": a.province, "city": a.city,
            "priority": a.priority, "chosen": list(a.chosen), "parcels": len(a.chosen),
            "split_reason": a.split_reason or None, "reason": a.reason, "decided_at": a.decided_at,
            "candidates": [{"warehouse": c.warehouse, "rank": c.rank, "source": c.source, "covers": list(c.covers),
                            "lacks": list(c.lacks)} for c in a.candidates],
            "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity, "status": l.status,
                       "allocations": [{"warehouse": x.warehouse, "quantity": x.quantity} for x in l.allocations]}
                      for l in a.lines],
            "later": [{"decided_at": x.decided_at, "why": x.why, "chosen": list(x.chosen),
                       "filled": [{"line_no": f.line_no, "sku": f.sku, "warehouse": f.warehouse, "quantity": f.quantity}
                                  for f in x.filled],
                       "split_reason": x.split_reason or None, "reason": x.reason,
                       "candidates": [{"warehouse": c.warehouse, "rank": c.rank, "source": c.source,
                                       "covers": list(c.covers), "lacks": list(c.lacks)} for c in x.candidates]}
                      for x in a.later]}
