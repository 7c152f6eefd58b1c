"""The stock area's messages as JSON (a stock level is common: scanning shows it too)."""
from __future__ import annotations


def sku_json(sku) -> dict:
    return {"code": sku.code, "name": sku.name, "base_unit": sku.base_unit or "pcs", "category": sku.category,
            "lot_tracked": sku.lot_tracked, "serial_tracked": sku.serial_tracked, "costing": sku.costing or "fifo",
            "barcodes": list(sku.barcodes),
            "components": [{"sku": c.sku, "quantity": c.quantity} for c in sku.components]}


def warehouse_json(w) -> dict:
    return {"code": w.code, "name": w.name, "priority": w.priority, "region": w.region, "address": w.address}
