"""The warehouse area's messages as JSON."""
from __future__ import annotations

from decimal import Decimal

from gateway.common.presenters import money_or_none


def kit_json(reply, kit_sku: str, body, disassemble: bool) -> dict:
    return {"document_id": reply.document_id, "action": "disassembled" if disassemble else "assembled",
            "kit_sku": kit_sku, "warehouse": body.warehouse, "bin": body.bin, "quantity": body.quantity,
            "value": money_or_none(reply.value),
            "components": [{"sku": c.sku, "quantity": c.quantity, "value": money_or_none(c.value)}
                           for c in reply.components]}


def transfer_json(t) -> dict:
    lines = [{"sku": l.sku, "quantity": l.quantity, "lot": l.lot, "bin": l.bin, "serial": l.serial,
              "value": money_or_none(l.value)} for l in t.lines]
    total = sum((Decimal(l["value"]) for l in lines if l["value"]), start=Decimal("0.00"))
    return {"transfer_id": t.transfer_id, "status": t.status, "from_warehouse": t.from_warehouse,
            "to_warehouse": t.to_warehouse, "lines": lines, "total_value": str(total)}


def lot_json(hold) -> dict:
    return {"sku": hold.sku, "lot": hold.lot, "status": hold.status,
            "quantities": [{"warehouse": q.warehouse, "quantity": q.quantity} for q in hold.quantities]}


def count_json(c) -> dict:
    return {"count_id": c.count_id, "status": c.status, "warehouse": c.warehouse, "bins": list(c.bins),
            "difference_value": money_or_none(c.difference_value), "posted_value": money_or_none(c.posted_value),
            "lines": [{"line_no": l.line_no, "sku": l.sku, "bin": l.bin, "lot": l.lot, "serial": l.serial,
                       "expected": l.expected, "counted": l.counted if l.is_counted else None,
                       "difference": l.counted - l.expected if l.is_counted else None,
                       "value": money_or_none(l.value)}
                      for l in c.lines]}


def audit_json(reply) -> dict:
    differences = [{"check": d.check, "key": d.key, "kept": d.kept, "rebuilt": d.rebuilt} for d in reply.differences]
    return {"ok": not differences, "differences": differences}
