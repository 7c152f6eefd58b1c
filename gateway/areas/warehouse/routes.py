"""Warehouse operations: bins, stock limits, bin moves, kit assembly, transfers between
warehouses, quality holds on lots, stock counts and the stock audit. Money is a decimal string."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from gateway.areas.warehouse.presenters import audit_json, count_json, kit_json, lot_json, transfer_json
from gateway.areas.warehouse.schemas import (
    BinMove,
    BinsAdded,
    BinsIn,
    Count,
    CountIn,
    CountSubmitIn,
    KitChange,
    KitChangeIn,
    Lot,
    LotNoteIn,
    MoveIn,
    StockAudit,
    StockLimits,
    StockLimitsIn,
    Transfer,
    TransferIn,
    TransferReceiveIn,
)
from gateway.common.access import FINANCE, STOCK_KEEPING, STOCK_VALUE, WAREHOUSE, allowed, clients
from gateway.common.schemas import CODE
from gateway.common.schemas import WAREHOUSE as WAREHOUSE_CODE
from hubapi.inventory.v1 import inventory_service_pb2 as inv

router = APIRouter(tags=["warehouse"])

SkuPath = Annotated[str, Path(pattern=CODE)]
IdPath = Annotated[str, Path(pattern=CODE)]
WarehousePath = Annotated[str, Path(pattern=WAREHOUSE_CODE)]


# -- bins and limits ---------------------------------------------------------------------------
@router.post("/warehouses/{code}/bins", status_code=201, response_model=BinsAdded,
             responses={200: {"model": BinsAdded, "description": "every bin existed already"}})
def add_bins(body: BinsIn, request: Request, response: Response,
             code: WarehousePath, md=allowed(WAREHOUSE)):
    """Add bins (storage locations such as A-01-03) to a warehouse; bins that exist stay as they are."""
    reply = clients(request).inventory.AddBins(inv.AddBinsRequest(warehouse=code, codes=body.codes), metadata=md)
    if not reply.added:
        response.status_code = 200
    return {"warehouse": code, "added": reply.added, "codes": list(dict.fromkeys(body.codes))}


@router.put("/stock/limits", response_model=StockLimits)
def set_stock_limits(body: StockLimitsIn, request: Request, md=allowed(STOCK_KEEPING)):
    """Minimum and maximum stock of a SKU in a warehouse: below the minimum, replenish up to the maximum."""
    clients(request).inventory.SetStockLimits(inv.SetStockLimitsRequest(**body.model_dump()), metadata=md)
    return body.model_dump()


# -- moves and kits ----------------------------------------------------------------------------
@router.post("/stock/moves", status_code=201, response_model=BinMove)
def move_bin(body: MoveIn, request: Request, md=allowed(WAREHOUSE)):
    """Units change bin inside a warehouse (a named lot, or the named serials); no change in value."""
    reply = clients(request).inventory.MoveBin(inv.MoveBinRequest(**body.model_dump()), metadata=md)
    return {"document": reply.document, **body.model_dump()}


def _kit(kit_sku: str, body: KitChangeIn, request: Request, md, disassemble: bool) -> dict:
    reply = clients(request).inventory.ChangeKit(
        inv.ChangeKitRequest(kit_sku=kit_sku, warehouse=body.warehouse, quantity=body.quantity, bin=body.bin,
                             disassemble=disassemble), metadata=md)
    return kit_json(reply, kit_sku, body, disassemble)


@router.post("/kits/{kit_sku}/assemble", status_code=201, response_model=KitChange)
def assemble_kit(body: KitChangeIn, request: Request, kit_sku: SkuPath, md=allowed(WAREHOUSE)):
    """Build kits: the components leave at their cost, the kits arrive at the summed cost."""
    return _kit(kit_sku, body, request, md, disassemble=False)


@router.post("/kits/{kit_sku}/disassemble", status_code=201, response_model=KitChange)
def disassemble_kit(body: KitChangeIn, request: Request, kit_sku: SkuPath, md=allowed(WAREHOUSE)):
    """Take kits apart: their cost goes back to the components."""
    return _kit(kit_sku, body, request, md, disassemble=True)


# -- transfers ---------------------------------------------------------------------------------
@router.post("/transfers", status_code=201, response_model=Transfer)
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


@router.post("/transfers/{transfer_id}/receive", response_model=Transfer)
def receive_transfer(request: Request, transfer_id: IdPath, body: TransferReceiveIn | None = None,
                     md=allowed(WAREHOUSE)):
    """The transfer arrives whole in a bin of the destination (its unnamed bin by default)."""
    reply = clients(request).inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(transfer_id=transfer_id, bin=(body or TransferReceiveIn()).bin), metadata=md)
    return transfer_json(reply)


@router.get("/transfers/{transfer_id}", response_model=Transfer)
def get_transfer(request: Request, transfer_id: IdPath, md=allowed(STOCK_VALUE)):
    return transfer_json(clients(request).inventory.GetTransfer(inv.GetTransferRequest(transfer_id=transfer_id),
                                                                metadata=md))


# -- quality holds -----------------------------------------------------------------------------
@router.post("/lots/{sku}/{lot}/hold", response_model=Lot)
def hold_lot(request: Request, sku: SkuPath, lot: SkuPath, body: LotNoteIn | None = None,
             md=allowed(STOCK_KEEPING)):
    """Quality hold (quarantine) on a lot in every warehouse: on hand, but not available or issued."""
    note = (body or LotNoteIn()).note
    return lot_json(clients(request).inventory.HoldLot(inv.LotRequest(sku=sku, lot=lot, note=note), metadata=md))


@router.post("/lots/{sku}/{lot}/release", response_model=Lot)
def release_lot(request: Request, sku: SkuPath, lot: SkuPath, body: LotNoteIn | None = None,
                md=allowed(STOCK_KEEPING)):
    """Release a quarantined lot (an expired one can only be written off)."""
    note = (body or LotNoteIn()).note
    return lot_json(clients(request).inventory.ReleaseLot(inv.LotRequest(sku=sku, lot=lot, note=note), metadata=md))


# -- counts ------------------------------------------------------------------------------------
@router.post("/counts", status_code=201, response_model=Count)
def open_count(body: CountIn, request: Request, response: Response, md=allowed(WAREHOUSE)):
    """Open a count: its bins are frozen (no moves or picks) and what the books expect is noted."""
    reply = clients(request).inventory.OpenCount(inv.OpenCountRequest(**body.model_dump()), metadata=md)
    response.headers["Location"] = f"/counts/{reply.count_id}"
    return count_json(reply)


@router.get("/counts/{count_id}", response_model=Count)
def get_count(request: Request, count_id: IdPath, md=allowed(STOCK_VALUE)):
    return count_json(clients(request).inventory.GetCount(inv.CountRequest(count_id=count_id), metadata=md))


@router.post("/counts/{count_id}/submit", response_model=Count)
def submit_count(request: Request, count_id: IdPath, body: CountSubmitIn | None = None,
                 md=allowed(WAREHOUSE)):
    """Close the counting: small differences post at once, larger ones wait for approval."""
    reply = clients(request).inventory.SubmitCount(
        inv.SubmitCountRequest(count_id=count_id, zero_uncounted=(body or CountSubmitIn()).zero_uncounted),
        metadata=md)
    return count_json(reply)


@router.post("/counts/{count_id}/approve", response_model=Count)
def approve_count(request: Request, count_id: IdPath, md=allowed(FINANCE)):
    """Post a count awaiting approval; whoever submitted it cannot approve it."""
    return count_json(clients(request).inventory.ApproveCount(inv.CountRequest(count_id=count_id), metadata=md))


@router.post("/counts/{count_id}/cancel", response_model=Count)
def cancel_count(request: Request, count_id: IdPath, md=allowed(WAREHOUSE)):
    """Cancel an open (or unapproved) count: its bins are unfrozen and nothing is posted."""
    return count_json(clients(request).inventory.CancelCount(inv.CountRequest(count_id=count_id), metadata=md))


# -- audit -------------------------------------------------------------------------------------
@router.get("/stock/audit", response_model=StockAudit)
def audit_stock(request: Request, md=allowed(FINANCE)):
    """Running balances against the ones rebuilt from the stock ledger; ok when they all agree."""
    return audit_json(clients(request).inventory.AuditStock(inv.AuditStockRequest(), metadata=md))
