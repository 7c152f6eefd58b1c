"""Pick waves: a warehouse's released orders picked together along the walk through its bins, packed
by scan and shipped. Which orders are released (reserved, not held for review) is the order service's
to know, the stock and the bins inventory's: the gateway reads the one and asks the other to make the
wave. Shipping goes through the order service, which enforces holds and the outbound double check."""
from __future__ import annotations

import logging
from typing import Annotated

import grpc
from fastapi import APIRouter, Path, Request

from gateway.areas.waves.schemas import Packed, PackIn, Wave, WaveIn, WaveShipIn, WaveShipment
from gateway.common.access import WAREHOUSE, allowed, clients
from gateway.common.presenters import order_json
from gateway.common.schemas import CODE
from gateway.errors import Problem
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.order.v1 import order_service_pb2 as ordpb

log = logging.getLogger(__name__)
router = APIRouter(tags=["pick waves"])

WaveIdPath = Annotated[str, Path(pattern=CODE)]
MAX_CANDIDATES = 5000  # released orders named per wave (inventory takes the most urgent within its limits)
MAX_PAGES = 20  # of 500 reserved orders read from the order service


def _wave_json(w) -> dict:
    return {"wave_id": w.wave_id, "warehouse": w.warehouse, "status": w.status, "created_by": w.created_by,
            "created_at": w.created_at,
            "orders": [{"order_id": o.order_id, "status": o.status, "packed_by": o.packed_by or None} for o in w.orders],
            "pick_list": [{"seq": l.seq, "bin": l.bin, "sku": l.sku, "lot": l.lot, "serial": l.serial,
                           "quantity": l.quantity, "packed": l.packed, "order_id": l.order_id, "line_no": l.line_no,
                           "walk": {"zone": l.walk.zone, "aisle": l.walk.aisle, "bay": l.walk.bay,
                                    "level": l.walk.level} if l.HasField("walk") else None}
                          for l in w.pick_list]}


def _released(request: Request, md, warehouse: str) -> list[str]:
    """The orders the order service has reserved and not held, whose every line ships from `warehouse`."""
    ids, token = [], ""
    for _ in range(MAX_PAGES):
        reply = clients(request).order.ListOrders(ordpb.ListOrdersRequest(status="reserved", page_size=500,
                                                                          page_token=token), metadata=md)
        ids += [o.id for o in reply.orders if o.lines and all(l.warehouse == warehouse for l in o.lines)]
        token = reply.next_page_token
        if not token or len(ids) >= MAX_CANDIDATES:
            break
    return ids[:MAX_CANDIDATES]


@router.post("/waves", status_code=201, response_model=Wave)
def create_wave(body: WaveIn, request: Request, md=allowed(WAREHOUSE)):
    """A pick wave of a warehouse: its released orders (reserved, not held) wholly reserved there, not
    picked and in no other working wave, most urgent first (priority, ship-by, arrival), within
    `max_orders` and `max_lines` (at most the configured HUB_WAVE_MAX_ORDERS, HUB_WAVE_MAX_LINES). Its
    pick list names the bin, lot and serial to take per order line, in walk order. No order to pick is
    a 409 that changes nothing."""
    order_ids = _released(request, md, body.warehouse)
    reply = clients(request).inventory.CreateWave(inv.CreateWaveRequest(
        warehouse=body.warehouse, order_ids=order_ids, max_orders=body.max_orders, max_lines=body.max_lines),
        metadata=md)
    return _wave_json(reply)


@router.get("/waves/{wave_id}/pick-list", response_model=Wave)
def pick_list(wave_id: WaveIdPath, request: Request, md=allowed(WAREHOUSE)):
    """The wave's pick list along the walk through the warehouse (bins by zone, aisle, bay, level as
    HUB_BIN_WALK_PATTERN reads their codes; codes it does not read last), with the lot or serial to take
    and what was packed; and its orders' status."""
    return _wave_json(clients(request).inventory.GetWave(inv.GetWaveRequest(wave_id=wave_id), metadata=md))


@router.post("/waves/{wave_id}/pack", status_code=201, response_model=Packed)
def pack(wave_id: WaveIdPath, body: PackIn, request: Request, md=allowed(WAREHOUSE)):
    """A packer's scan for an order of the wave: the SKU, serial or lot its pick list awaits, from the
    listed bin; a wrong SKU, serial or lot, or more units than awaited, is a 409 that changes nothing.
    The last unit packs the order; an order a review rule flagged for the double check is then checked
    by the packer (POST /orders/{id}/double-check), so another user must ship it."""
    reply = clients(request).inventory.PackWave(inv.PackWaveRequest(
        wave_id=wave_id, order_id=body.order_id, code=body.code, quantity=body.quantity), metadata=md)
    checked = None
    if reply.order_status == "packed":
        order = clients(request).order.GetOrder(ordpb.GetOrderRequest(id=body.order_id), metadata=md).order
        if order.double_check:
            try:
                checked = clients(request).order.DoubleCheckOrder(ordpb.DoubleCheckOrderRequest(
                    order_id=body.order_id, note=f"packed by scan in wave {wave_id}"), metadata=md).order
            except grpc.RpcError as exc:  # packed all the same; the check can be made by hand
                log.warning("wave %s: order %s packed, its double check refused: %s", wave_id, body.order_id,
                            exc.details())
    return {"wave_id": reply.wave_id, "order_id": reply.order_id, "sku": reply.sku, "bin": reply.bin,
            "lot": reply.lot, "serial": reply.serial, "quantity": reply.quantity, "remaining": reply.remaining,
            "order_status": reply.order_status,
            "double_checked_by": checked.double_checked_by or None if checked is not None else None}


@router.post("/waves/{wave_id}/ship", response_model=WaveShipment)
def ship(wave_id: WaveIdPath, body: WaveShipIn, request: Request, md=allowed(WAREHOUSE)):
    """Ship a packed order of the wave with its scanned waybill (carrier, tracking number): the order
    service ships it (a held order, or one flagged for the double check and not shipped by another user
    than its checker, is a 409); inventory issues exactly the units packed. An order of another wave,
    or not packed yet, is a 409 that changes nothing."""
    wave = clients(request).inventory.GetWave(inv.GetWaveRequest(wave_id=wave_id), metadata=md)
    member = next((o for o in wave.orders if o.order_id == body.order_id), None)
    if member is None:
        raise Problem(422, "invalid-argument", f"order {body.order_id} is not in wave {wave_id}",
                      [{"field": "order_id", "message": "not in this wave"}])
    if member.status not in ("packed", "shipped"):
        left = sum(l.quantity - l.packed for l in wave.pick_list if l.order_id == body.order_id)
        raise Problem(409, "conflict", f"order {body.order_id} of wave {wave_id} is {member.status}"
                      + (f": {left} units still to scan at packing" if member.status == "open" else ""),
                      [{"field": "order_id", "message": member.status}])
    reply = clients(request).order.ShipOrder(ordpb.ShipOrderRequest(
        order_id=body.order_id, carrier=body.carrier, tracking_number=body.tracking_number), metadata=md)
    return {"wave_id": wave_id, "order": order_json(reply.order)}
