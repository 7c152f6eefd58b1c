"""Purchasing's messages as JSON."""
from __future__ import annotations

import json

from gateway.common.presenters import money_str, scalars


def purchase_order_json(po) -> dict:
    return {"id": po.id, "supplier": po.supplier, "warehouse": po.warehouse, "currency": po.currency,
            "exchange_rate": po.exchange_rate or None,
            "status": po.status, "created_by": po.created_by, "created_at": po.created_at,
            "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity, "received": l.received,
                       "returned": l.returned,
                       "unit_cost": l.unit_cost, "vat_rate": l.vat_rate, "amount": money_str(l.amount),
                       "expected_on": l.expected_on or None}
                      for l in po.lines],
            "receipts": [receipt_json(r) for r in po.receipts],
            "returns": [return_json(r) for r in po.returns], "approval": po.approval,
            "chain_version": po.chain_version if not po.requisition_id else None,
            "requisition_id": po.requisition_id or None,
            "approval_steps": [step_json(x) for x in po.approval_steps],
            "approval_log": [entry_json(x) for x in po.approval_log]}


def step_json(st) -> dict:
    return {"document_kind": st.document_kind, "document_id": st.document_id, "step_no": st.step_no,
            "step_id": st.step_id, "role": st.role or None, "user": st.user or None, "status": st.status,
            "opened_at": st.opened_at or None, "decided_by": st.decided_by or None,
            "on_behalf_of": st.on_behalf_of or None, "decided_at": st.decided_at or None,
            "comment": st.comment or None, "requester": st.requester, "amount": st.amount}


def entry_json(e) -> dict:
    return {"step_no": e.step_no or None, "action": e.action, "actor": e.actor, "on_behalf_of": e.on_behalf_of or None,
            "comment": e.comment, "at": e.at}


def requisition_json(r) -> dict:
    f = r.facts
    return {"id": r.id, "requester": r.requester, "warehouse": r.warehouse, "currency": r.currency, "total": r.total,
            "category": f.category, "material_type": f.material_type, "project": f.project,
            "cost_centre": f.cost_centre, "department": f.department, "note": f.note, "status": r.status,
            "chain_version": r.chain_version, "rejected_reason": r.rejected_reason or None,
            "created_at": r.created_at, "updated_at": r.updated_at,
            "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity, "supplier": l.supplier,
                       "unit_cost": l.unit_cost, "vat_rate": l.vat_rate, "amount": l.amount,
                       "suggestion_id": l.suggestion_id or None, "purchase_order_id": l.purchase_order_id or None}
                      for l in r.lines],
            "approval_steps": [step_json(x) for x in r.approval_steps],
            "approval_log": [entry_json(x) for x in r.approval_log]}


def _lines(lines) -> list[dict]:
    return [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity} for l in lines]


def _refusal(doc) -> dict:
    return {"status": doc.status, "refused_reason": doc.refused_reason or None, "refused_at": doc.refused_at or None}


def receipt_json(r) -> dict:
    return {"id": r.id, "received_at": r.received_at, "reference": r.reference, "received_by": r.received_by,
            "lines": _lines(r.lines), **_refusal(r), "invoice_pending": r.invoice_pending}


def bill_json(b) -> dict:
    return {"id": b.id, "kind": b.kind, "purchase_order_id": b.purchase_order_id, "receipt_id": b.receipt_id or None,
            "supplier": b.supplier, "reference": b.reference, "charge": b.charge, "basis": b.basis,
            "provisional": b.provisional, "total_net": b.total_net, "total_tax": b.total_tax, "total": b.total,
            "billed_at": b.billed_at, "billed_by": b.billed_by,
            "lines": [{"receipt_id": l.receipt_id, "line_no": l.line_no, "sku": l.sku, "quantity": l.quantity,
                       "unit_price": l.unit_price or None, "provisional": l.provisional, "amount": l.amount,
                       "change": l.change} for l in b.lines]}


def return_json(r) -> dict:
    return {"id": r.id, "returned_at": r.returned_at, "reason": r.reason, "reference": r.reference,
            "returned_by": r.returned_by, "lines": _lines(r.lines), **_refusal(r)}


def suggestion_json(g) -> dict:
    return {"id": g.id, "sku": g.sku, "warehouse": g.warehouse, "status": g.status, "available": g.available,
            "minimum": g.minimum, "maximum": g.maximum, "quantity": g.quantity, "signalled_at": g.signalled_at,
            "created_at": g.created_at, "updated_at": g.updated_at, "closed_by": g.closed_by or None,
            "closed_at": g.closed_at or None, "purchase_order_id": g.purchase_order_id or None,
            "basis": g.basis or None, "terms": json.loads(g.terms_json) if g.terms_json else None,
            "supplier": g.supplier or None, "last_price": g.last_price or None}


def stock_alert_json(a) -> dict:
    doc = {"id": a.id, "kind": a.kind, "sku": a.sku, "lot": a.lot, "warehouse": a.warehouse or None,
           "quantity": a.quantity, "occurred_at": a.occurred_at}
    if a.kind == "lot_expiring":
        doc.update(expires_on=a.expires_on, days_left=a.days_left)
    else:
        doc.update(held=a.held, reason=a.reason, note=a.note)
    return doc


def inspection_json(t) -> dict:
    return {"id": t.id, "receipt_id": t.receipt_id, "purchase_order_id": t.purchase_order_id, "line_no": t.line_no,
            "supplier": t.supplier, "warehouse": t.warehouse, "sku": t.sku, "lot": t.lot, "quantity": t.quantity,
            "status": t.status, "passed": t.passed, "failed": t.failed, "disposition": t.disposition or None,
            "note": t.note, "created_at": t.created_at, "inspected_by": t.inspected_by or None,
            "inspected_at": t.inspected_at or None}


def _object(text: str) -> dict:
    """A JSON object the service wrote ({} for anything else)."""
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


_RATES = ("on_time_rate", "fill_rate", "quality_pass_rate", "price_variance", "lead_time_days", "score", "grade")


def scorecard_json(reply) -> dict:
    return {"period_from": getattr(reply, "from"), "period_to": reply.to, "config": _object(reply.config),
            "rows": [{"supplier": r.supplier, "name": r.name, "received_units": r.received_units,
                      "inspected_units": r.inspected_units, **{k: getattr(r, k) or None for k in _RATES}}
                     for r in reply.rows]}


def _on_time_row(r) -> dict:
    return {**scalars(r), "on_time_rate": r.on_time_rate or None}


def on_time_json(reply) -> dict:
    return {"period_from": getattr(reply, "from"), "period_to": reply.to, "group": reply.group,
            "rows": [_on_time_row(r) for r in reply.rows], "suppliers": [_on_time_row(r) for r in reply.suppliers]}


def scorecard_config_json(reply) -> dict:
    doc = _object(reply.document)
    return {"weights": doc.get("weights") or {}, "bands": doc.get("bands") or [], "updated_by": reply.updated_by or None,
            "updated_at": reply.updated_at or None}
