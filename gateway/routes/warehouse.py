"""Warehouse operations: bins, stock limits, bin moves, kit assembly, transfers between
warehouses, quality holds on lots, stock counts and the stock audit. Money is a decimal string."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from gateway.routes.common import FINANCE, STOCK_KEEPING, STOCK_VALUE, WAREHOUSE, allowed, clients
from gateway.schemas import (CODE, WAREHOUSE as WAREHOUSE_CODE, BinsIn, CountIn, CountSubmitIn, KitChangeIn,
                             LotNoteIn, MoveIn, StockLimitsIn, TransferIn, TransferReceiveIn)
from hubapi.inventory.v1 import inventory_service_pb2 as inv

router = APIRouter(tags=["warehouse"])

SkuPath = Annotated[str, Path(pattern=CODE)]
IdPath = Annotated[str, Path(pattern=CODE)]
WarehousePath = Annotated[str, Path(pattern=WAREHOUSE_CODE)]


def money(value: str) -> str | None:
    """A decimal string with two places; None when the service left it empty (not known yet)."""
    return str(Decimal(value).quantize(Decimal("0.01"))) if value else None


# -- bins and limits ---------------------------------------------------------------------------
@router.post("/warehouses/{code}/bins", status_code=201)
def add_bins(body: BinsIn, request: Request, response: Response,
             code: WarehousePath, md=allowed(WAREHOUSE)):
    """Add bins (storage locations such as A-01-03) to a warehouse; bins that exist stay as they are."""
    reply = clients(request).inventory.AddBins(inv.AddBinsRequest(warehouse=code, codes=body.codes), metadata=md)
    if not reply.added:
        response.status_code = 200
    return {"warehouse": code, "added": reply.added, "codes": list(dict.fromkeys(body.codes))}


@router.put("/stock/limits")
def set_stock_limits(body: StockLimitsIn, request: Request, md=allowed(STOCK_KEEPING)):
    """Minimum and maximum stock of a SKU in a warehouse: below the minimum, replenish up to the maximum."""
    clients(request).inventory.SetStockLimits(inv.SetStockLimitsRequest(**body.model_dump()), metadata=md)
    return body.model_dump()


# -- moves and kits ----------------------------------------------------------------------------
@router.post("/stock/moves", status_code=201)
def move_bin(body: MoveIn, request: Request, md=allowed(WAREHOUSE)):
    """Units change bin inside a warehouse (a named lot, or the named serials); no change in value."""
    reply = clients(request).inventory.MoveBin(inv.MoveBinRequest(**body.model_dump()), metadata=md)
    return {"document": reply.document, **body.model_dump()}


def _kit(kit_sku: str, body: KitChangeIn, request: Request, md, disassemble: bool) -> dict:
    reply = clients(request).inventory.ChangeKit(
        inv.ChangeKitRequest(kit_sku=kit_sku, warehouse=body.warehouse, quantity=body.quantity, bin=body.bin,
                             disassemble=disassemble), metadata=md)
    return {"document_id": reply.document_id, "action": "disassembled" if disassemble else "assembled",
            "kit_sku": kit_sku, "warehouse": body.warehouse, "bin": body.bin, "quantity": body.quantity,
            "value": money(reply.value),
            "components": [{"sku": c.sku, "quantity": c.quantity, "value": money(c.value)}
                           for c in reply.components]}


@router.post("/kits/{kit_sku}/assemble", status_code=201)
def assemble_kit(body: KitChangeIn, request: Request, kit_sku: SkuPath, md=allowed(WAREHOUSE)):
    """Build kits: the components leave at their cost, the kits arrive at the summed cost."""
    return _kit(kit_sku, body, request, md, disassemble=False)


@router.post("/kits/{kit_sku}/disassemble", status_code=201)
def disassemble_kit(body: KitChangeIn, request: Request, kit_sku: SkuPath, md=allowed(WAREHOUSE)):
    """Take kits apart: their cost goes back to the components."""
    return _kit(kit_sku, body, request, md, disassemble=True)


# -- transfers ---------------------------------------------------------------------------------
def transfer_json(t) -> dict:
    lines = [{"sku": l.sku, "quantity": l.quantity, "lot": l.lot, "bin": l.bin, "serial": l.serial,
              "value": money(l.value)} for l in t.lines]
    total = sum((Decimal(l["value"]) for l in lines if l["value"]), start=Decimal("0.00"))
    return {"transfer_id": t.transfer_id, "status": t.status, "from_warehouse": t.from_warehouse,
            "to_warehouse": t.to_warehouse, "lines": lines, "total_value": str(total)}


@router.post("/transfers", status_code=201)
def ship_transfer(body: TransferIn, request: Request, response: Response, md=allowed(WAREHOUSE)):
    """Ship stock to another warehouse: it leaves the source at its cost and is in transit at the
    destination until received."""
    lines = [inv.TransferLine(sku=l.sku, quantity=l.quantity, lot=l.lot, bin=l.bin, serials=l.serials)
             for l in body.lines]
    reply = clients(request).inventory.ShipTransfer(
        inv.ShipTransferRequest(from_warehouse=body.from_warehouse, to_warehouse=body.to_warehouse, lines=lines,
                                note=body.note), metadata=md)
    response.headers["Location"] = f"/transfers/{reply.transfer_id}"
    return transfer_json(reply)


@router.post("/transfers/{transfer_id}/receive")
def receive_transfer(request: Request, transfer_id: IdPath, body: TransferReceiveIn | None = None,
                     md=allowed(WAREHOUSE)):
    """The transfer arrives whole in a bin of the destination (its unnamed bin by default)."""
    reply = clients(request).inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(transfer_id=transfer_id, bin=(body or TransferReceiveIn()).bin), metadata=md)
    return transfer_json(reply)


@router.get("/transfers/{transfer_id}")
def get_transfer(request: Request, transfer_id: IdPath, md=allowed(STOCK_VALUE)):
    return transfer_json(clients(request).inventory.GetTransfer(inv.GetTransferRequest(transfer_id=transfer_id),
                                                                metadata=md))


# -- quality holds -----------------------------------------------------------------------------
def lot_json(hold) -> dict:
    return {"sku": hold.sku, "lot": hold.lot, "status": hold.status,
            "quantities": [{"warehouse": q.warehouse, "quantity": q.quantity} for q in hold.quantities]}


@router.post("/lots/{sku}/{lot}/hold")
def hold_lot(request: Request, sku: SkuPath, lot: SkuPath, body: LotNoteIn | None = None,
             md=allowed(STOCK_KEEPING)):
    """Quality hold (quarantine) on a lot in every warehouse: on hand, but not available or issued."""
    note = (body or LotNoteIn()).note
    return lot_json(clients(request).inventory.HoldLot(inv.LotRequest(sku=sku, lot=lot, note=note), metadata=md))


@router.post("/lots/{sku}/{lot}/release")
def release_lot(request: Request, sku: SkuPath, lot: SkuPath, body: LotNoteIn | None = None,
                md=allowed(STOCK_KEEPING)):
    """Release a quarantined lot (an expired one can only be written off)."""
    note = (body or LotNoteIn()).note
    return lot_json(clients(request).inventory.ReleaseLot(inv.LotRequest(sku=sku, lot=lot, note=note), metadata=md))


# -- counts ------------------------------------------------------------------------------------
def count_json(c) -> dict:
    return {"count_id": c.count_id, "status": c.status, "warehouse": c.warehouse, "bins": list(c.bins),
            "difference_value": money(c.difference_value), "posted_value": money(c.posted_value),
            "lines": [{"line_no": l.line_no, "sku": l.sku, "bin": l.bin, "lot": l.lot, "serial": l.serial,
                       "expected": l.expected, "counted": l.counted if l.is_counted else None,
                       "difference": l.counted - l.expected if l.is_counted else None, "value": money(l.value)}
                      for l in c.lines]}


@router.post("/counts", status_code=201)
def open_count(body: CountIn, request: Request, response: Response, md=allowed(WAREHOUSE)):
    """Open a count: its bins are frozen (no moves or picks) and what the books expect is noted."""
    reply = clients(request).inventory.OpenCount(inv.OpenCountRequest(**body.model_dump()), metadata=md)
    response.headers["Location"] = f"/counts/{reply.count_id}"
    return count_json(reply)


@router.get("/counts/{count_id}")
def get_count(request: Request, count_id: IdPath, md=allowed(STOCK_VALUE)):
    return count_json(clients(request).inventory.GetCount(inv.CountRequest(count_id=count_id), metadata=md))


@router.post("/counts/{count_id}/submit")
def submit_count(request: Request, count_id: IdPath, body: CountSubmitIn | None = None,
                 md=allowed(WAREHOUSE)):
    """Close the counting: small differences post at once, larger ones wait for approval."""
    reply = clients(request).inventory.SubmitCount(
        inv.SubmitCountRequest(count_id=count_id, zero_uncounted=(body or CountSubmitIn()).zero_uncounted),
        metadata=md)
    return count_json(reply)


@router.post("/counts/{count_id}/approve")
def approve_count(request: Request, count_id: IdPath, md=allowed(FINANCE)):
    """Post a count awaiting approval; whoever submitted it cannot approve it."""
    return count_json(clients(request).inventory.ApproveCount(inv.CountRequest(count_id=count_id), metadata=md))


@router.post("/counts/{count_id}/cancel")
def cancel_count(request: Request, count_id: IdPath, md=allowed(WAREHOUSE)):
    """Cancel an open (or unapproved) count: its bins are unfrozen and nothing is posted."""
    return count_json(clients(request).inventory.CancelCount(inv.CountRequest(count_id=count_id), metadata=md))


# -- audit -------------------------------------------------------------------------------------
@router.get("/stock/audit")
def audit_stock(request: Request, md=allowed(FINANCE)):
    """Running balances against the ones rebuilt from the stock ledger; ok when they all agree."""
    reply = clients(request).inventory.AuditStock(inv.AuditStockRequest(), metadata=md)
    differences = [{"check": d.check, "key": d.key, "kept": d.kept, "rebuilt": d.rebuilt} for d in reply.differences]
    return {"ok": not differences, "differences": differences}
