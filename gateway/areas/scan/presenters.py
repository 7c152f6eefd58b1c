"""Scanning's answers as JSON: what was scanned, and what a scan did."""
from __future__ import annotations

from gateway.common.presenters import level_json


def scanned_json(body, scanned) -> dict:
    return {"code": body.code, "warehouse": body.warehouse, "kind": scanned.kind, "sku": scanned.sku,
            "sku_name": scanned.sku_name, "bin": scanned.bin, "lot": scanned.lot, "serial": scanned.serial,
            "level": level_json(scanned.levels[0]) if scanned.levels else None}


def receipt_json(reply, body, scanned, lot: str, serials: list[str]) -> dict:
    return {"document_id": reply.document_id, "movement_id": reply.movement_id, "reason": body.reason,
            "sku": scanned.sku, "sku_name": scanned.sku_name,
            "warehouse": body.warehouse, "bin": body.bin, "lot": lot, "serials": serials, "quantity": body.quantity,
            "level": level_json(reply.level)}


def pick_json(reply, body) -> dict:
    return {"order_id": reply.order_id, "line_no": reply.line_no, "sku": reply.sku, "warehouse": body.warehouse,
            "bin": reply.bin, "lot": reply.lot, "serial": reply.serial, "picked": reply.picked,
            "reserved": reply.reserved, "remaining": max(reply.reserved - reply.picked, 0)}


def move_json(reply, body, scanned, lot: str, serials: list[str]) -> dict:
    return {"document": reply.document, "sku": scanned.sku, "sku_name": scanned.sku_name,
            "warehouse": body.warehouse, "from_bin": body.from_bin, "to_bin": body.to_bin, "lot": lot,
            "serials": serials, "quantity": body.quantity}


def count_json(reply) -> dict:
    return {"count_id": reply.count_id, "sku": reply.sku, "bin": reply.bin, "lot": reply.lot,
            "serial": reply.serial, "counted": reply.counted, "expected": reply.expected,
            "difference": reply.counted - reply.expected}
