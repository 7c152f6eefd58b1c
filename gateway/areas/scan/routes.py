"""Scanning on the warehouse floor (a handheld scanner or a phone): what a code names, and
receive, pick, move and count by scanning. A code is an item's barcode or SKU, a bin label, a lot
label ("LOT:L2405") or a serial ("SN:X123"); bins, lots and serials may carry their label prefix."""
from __future__ import annotations

import grpc
from fastapi import APIRouter, Request

from gateway.areas.scan.presenters import count_json, move_json, pick_json, receipt_json, scanned_json
from gateway.areas.scan.schemas import (
    ScanCount,
    ScanCountIn,
    ScanLookupIn,
    ScanMove,
    ScanMoveIn,
    Scanned,
    ScanPick,
    ScanPickIn,
    ScanReceipt,
    ScanReceiveIn,
)
from gateway.common.access import WAREHOUSE, allowed, clients
from gateway.errors import Problem
from hubapi.inventory.v1 import inventory_reports_pb2 as rep
from hubapi.inventory.v1 import inventory_service_pb2 as inv

router = APIRouter(prefix="/scan", tags=["scanning"])


def _scan(request: Request, md, warehouse: str, code: str):
    return clients(request).inventory.Scan(inv.ScanRequest(warehouse=warehouse, code=code), metadata=md)


def _what(scanned) -> str:
    return {"bin": f"bin {scanned.bin}", "lot": f"lot {scanned.lot} of {scanned.sku}",
            "serial": f"serial {scanned.serial} of {scanned.sku}"}.get(scanned.kind, f"SKU {scanned.sku}")


def _not_goods(code: str, scanned, also: str = "") -> Problem:
    return Problem(422, "invalid-argument", f"{code!r} is the label of {_what(scanned)}, not goods: "
                                            f"scan the item's barcode{also}",
                   [{"field": "code", "message": "scan the item's barcode"}])


def _lot_not_there(request: Request, md, exc: grpc.RpcError, warehouse: str, sku: str, lot: str, bin_code: str,
                   quantity: int) -> Problem | None:
    """A lot scanned in a bin that does not hold it (enough): say where the lot lies instead of the
    service's generic shortage. None when the lot is there after all (the refusal had another cause)."""
    reports = getattr(clients(request), "inventory_reports", None)
    if exc.code() != grpc.StatusCode.FAILED_PRECONDITION or not lot or reports is None:
        return None
    try:
        rows = reports.GetOnHand(rep.OnHandReportRequest(warehouse=warehouse, sku=sku, by="bin"), metadata=md).rows
    except grpc.RpcError:
        return None
    places = [(r.bin, r.quantity) for r in rows if r.lot == lot and r.quantity > 0]
    here = sum(q for b, q in places if b == bin_code)
    if here >= quantity:
        return None
    bin_name = bin_code or "(unnamed)"
    if here:
        title = f"bin {bin_name} holds only {here} units of lot {lot} of {sku}, {quantity} scanned"
    else:
        elsewhere = ", ".join(f"{b or '(unnamed)'} ({q})" for b, q in places)
        title = (f"lot {lot} of {sku} is not in bin {bin_name}: "
                 + (f"it lies in {elsewhere}" if elsewhere else f"{warehouse} holds none of it"))
    return Problem(409, "conflict", title, [{"field": "code", "message": f"lot {lot} is not in bin {bin_name}"}])


@router.post("/lookup", response_model=Scanned)
def lookup(body: ScanLookupIn, request: Request, md=allowed(WAREHOUSE)):
    """What a scanned code names in a warehouse: an item (SKU), a bin, a lot or a serial; for goods,
    the SKU's name and its stock level there."""
    scanned = _scan(request, md, body.warehouse, body.code)
    return scanned_json(body, scanned)


@router.post("/receive", status_code=201, response_model=ScanReceipt)
def receive(body: ScanReceiveIn, request: Request, md=allowed(WAREHOUSE)):
    """Goods received into a bin by scanning the item (its barcode or SKU; a known serial receives
    that one unit back), for a reason (default: opening stock) that the books credit against
    inventory. A bin or lot label is refused: scan the item's barcode."""
    scanned = _scan(request, md, body.warehouse, body.code)
    lot, serials = body.lot, list(body.serials)
    if scanned.kind == "serial":
        if body.quantity != 1 or (serials and serials != [scanned.serial]):
            raise Problem(422, "invalid-argument", f"{body.code!r} is serial {scanned.serial}: one unit",
                          [{"field": "quantity", "message": "a serial names one unit"}])
        lot, serials = lot or scanned.lot, [scanned.serial]
    elif scanned.kind != "sku":
        raise _not_goods(body.code, scanned, " (and name the lot in 'lot')" if scanned.kind == "lot" else "")
    reply = clients(request).inventory.ReceiveStock(
        inv.ReceiveStockRequest(sku=scanned.sku, warehouse=body.warehouse, quantity=body.quantity,
                                unit_cost=body.unit_cost, reference=body.reference or f"scan {body.code}",
                                bin=body.bin, lot=lot, expires_on=body.expires_on, serials=serials,
                                reason=body.reason), metadata=md)
    return receipt_json(reply, body, scanned, lot, serials)


@router.post("/pick", status_code=201, response_model=ScanPick)
def pick(body: ScanPickIn, request: Request, md=allowed(WAREHOUSE)):
    """A picker's scan for an order line: the code must name the line's SKU (its lot or serial when
    tracked), lie in that bin and be usable; those units leave when the order ships."""
    try:
        reply = clients(request).inventory.Pick(inv.PickRequest(**body.model_dump()), metadata=md)
    except grpc.RpcError as exc:
        better = None
        if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
            try:
                scanned = _scan(request, md, body.warehouse, body.code)
            except grpc.RpcError:
                scanned = None
            if scanned is not None and scanned.kind == "lot":
                better = _lot_not_there(request, md, exc, body.warehouse, scanned.sku, scanned.lot, body.bin,
                                        body.quantity)
        if better:
            raise better from None
        raise
    return pick_json(reply, body)


@router.post("/move", status_code=201, response_model=ScanMove)
def move(body: ScanMoveIn, request: Request, md=allowed(WAREHOUSE)):
    """Units scanned out of one bin into another: an item barcode moves any of its units there, a lot
    label that lot, a serial that one unit."""
    scanned = _scan(request, md, body.warehouse, body.code)
    lot, serials = "", []
    if scanned.kind == "bin":
        raise _not_goods(body.code, scanned)
    if scanned.kind == "lot":
        lot = scanned.lot
    elif scanned.kind == "serial":
        if body.quantity != 1:
            raise Problem(422, "invalid-argument", f"{body.code!r} is serial {scanned.serial}: one unit",
                          [{"field": "quantity", "message": "a serial names one unit"}])
        lot, serials = scanned.lot, [scanned.serial]
    try:
        reply = clients(request).inventory.MoveBin(
            inv.MoveBinRequest(sku=scanned.sku, warehouse=body.warehouse, from_bin=body.from_bin, to_bin=body.to_bin,
                               quantity=body.quantity, lot=lot, serials=serials), metadata=md)
    except grpc.RpcError as exc:
        better = _lot_not_there(request, md, exc, body.warehouse, scanned.sku, lot, body.from_bin,
                                body.quantity) if scanned.kind == "lot" else None
        if better:
            raise better from None
        raise
    return move_json(reply, body, scanned, lot, serials)


@router.post("/count", status_code=201, response_model=ScanCount)
def count(body: ScanCountIn, request: Request, md=allowed(WAREHOUSE)):
    """A scan during a count: units of what the code names in a bin of the count, added to what was
    counted there (or replacing it)."""
    reply = clients(request).inventory.RecordCount(inv.RecordCountRequest(**body.model_dump()), metadata=md)
    return count_json(reply)
