"""Orders: place, read, list, ship (one, or many in a batch); the vouchers an order's shipment posted;
holds and the operator's actions on them (the review queue), cancel, a new shipping address."""
from __future__ import annotations

import json

import grpc
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from gateway import intake
from gateway.areas.orders.schemas import (
    AddressChangeIn,
    BatchResult,
    BulkHoldIn,
    BulkHoldsIn,
    BulkResult,
    HoldIn,
    HoldPlaced,
    NoteIn,
    OrderAudit,
    OrderBatchIn,
    OrderIn,
    OrderPage,
    OrderRefund,
    OrderReturn,
    OrderVouchers,
    RefundIn,
    ReleaseIn,
    ReturnIn,
    Rma,
    RmaIn,
    RmaInspectIn,
    RmaReceiveIn,
    ShipmentBatchIn,
    ShipmentIn,
    ShipmentItemIn,
    WarehouseChangeIn,
    Waybill,
)
from gateway.coalesce import Coalescer
from gateway.common.access import (
    ANYONE,
    FINANCE,
    ORDER_DESK,
    SALES,
    SHIPPING,
    allowed,
    clients,
    exchange_rate_for,
    known_skus,
    require_known_skus,
)
from gateway.common.presenters import answered, order_json, voucher_json
from gateway.common.schemas import Order
from gateway.errors import Problem, field_path, from_item_error, from_rpc_error
from hubapi.accounting.v1 import accounting_service_pb2 as acc
from hubapi.order.v1 import order_service_pb2 as ordpb
from hubkit import money
from hubkit.grpc_server import ACTOR_KEY, CORRELATION_KEY

router = APIRouter(tags=["orders"])


@router.post("/orders", status_code=201, response_model=Order, dependencies=[Depends(intake.admit)],
             responses={200: {"model": Order,
                              "description": "the order already existed (same channel, shop and external id)"},
                        **intake.REFUSED})
def place_order(body: OrderIn, request: Request, md=allowed(SALES)) -> Response:
    reply = request.app.state.placing.send(dict(md)[ACTOR_KEY], (_place_request(request, body, md), md))
    return answered(Order, order_json(reply.order), 201 if reply.created else 200)


def placing(services, most: int) -> Coalescer:
    """POST /orders sent on to the order service (`services.order`, looked up per call): alone by
    PlaceOrder, or by PlaceOrders together with the orders the same user placed meanwhile (one
    transaction; each order its own result, as PlaceOrder would have answered, and its own request's
    correlation id on its events)."""
    def one(actor: str, item) -> ordpb.PlaceOrderResponse:
        message, md = item
        return services.order.PlaceOrder(message, metadata=md)

    def many(actor: str, items: list) -> list:
        for message, md in items:
            message.correlation_id = dict(md)[CORRELATION_KEY]
        try:
            reply = services.order.PlaceOrders(ordpb.PlaceOrdersRequest(orders=[m for m, _ in items]),
                                              metadata=[(ACTOR_KEY, actor), (CORRELATION_KEY, items[0][0].correlation_id)])
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise  # sent alone, each would fare the same
            # the batch failed as a whole (not a refusal: that is an item's own result): each alone
            return [_outcome(one, actor, item) for item in items]
        return [from_item_error(r.error) if r.HasField("error") else r for r in reply.results]
    return Coalescer("PlaceOrder", one, many, most)


def _outcome(call, *args):
    """What a call answered, or the exception it raised (its caller's answer)."""
    try:
        return call(*args)
    except Exception as exc:
        return exc


def _place_request(request: Request, body: OrderIn, md, known: set[str] | None = None,
                   rate_for=exchange_rate_for) -> ordpb.PlaceOrderRequest:
    """What the order service is asked to place, once the gateway's checks passed: SKUs the catalogue
    knows, and the exchange rate of an order in another currency than the books'."""
    require_known_skus(request, [line.sku for line in body.lines], md, known=known)
    rate = rate_for(request, body.currency, md)
    return ordpb.PlaceOrderRequest(
        channel=body.channel, shop=body.shop, external_order_id=body.external_order_id, exchange_rate=rate,
        priority=body.priority, ship_by=body.ship_by, buyer_message=body.buyer_message,
        buyer=ordpb.Buyer(**body.buyer.model_dump()),
        shipping_address=ordpb.Address(**body.shipping_address.model_dump()),
        lines=[ordpb.OrderLineInput(sku=l.sku, quantity=l.quantity,
                                    unit_price=money.to_proto(l.unit_price, body.currency))
               for l in body.lines])


@router.post("/orders/batch", response_model=BatchResult, dependencies=[Depends(intake.admit)],
             responses=intake.REFUSED)
def place_orders(body: OrderBatchIn, request: Request, md=allowed(SALES)):
    """Many orders at once (a storefront's or integrator's backlog), each checked and placed as
    POST /orders would place it, idempotent on channel + shop + external id, each with its own result:
    a refused order writes nothing and holds up none of the others."""
    _within_limit(request, body.orders, "orders")
    batch = _Batch(body.orders, "order")
    valid = batch.validate(OrderIn)
    known = known_skus(request, [line.sku for order in valid.values() for line in order.lines], md) if valid else set()
    rates: dict[str, str] = {}

    def rate_for(request, currency, md):  # one question per currency, not per order
        if currency not in rates:
            rates[currency] = exchange_rate_for(request, currency, md)
        return rates[currency]
    asked = batch.prepare(valid, lambda order: _place_request(request, order, md, known, rate_for))
    if asked:
        reply = clients(request).order.PlaceOrders(ordpb.PlaceOrdersRequest(orders=list(asked.values())),
                                                   metadata=md)
        for i, result in zip(asked, reply.results):
            batch.answer(i, result, 201 if result.created else 200)
    return answered(BatchResult, batch.reply(), 200)


@router.post("/shipments/batch", response_model=BatchResult)
def ship_orders(body: ShipmentBatchIn, request: Request, md=allowed(SHIPPING)):
    """A wave of shipments: per order its carrier and tracking number, each shipped as
    POST /orders/{id}/shipment would ship it, each with its own result."""
    _within_limit(request, body.shipments, "shipments")
    batch = _Batch(body.shipments, "shipment")
    asked = batch.prepare(batch.validate(ShipmentItemIn), lambda s: ordpb.ShipOrderRequest(
        order_id=s.order_id, carrier=s.carrier, tracking_number=s.tracking_number,
        lines=[ordpb.ShipLine(line_no=l.line_no, quantity=l.quantity) for l in s.lines],
        scans=[ordpb.PackScan(sku=c.sku, serial=c.serial) for c in s.scans]))
    if asked:
        reply = clients(request).order.ShipOrders(ordpb.ShipOrdersRequest(shipments=list(asked.values())),
                                                  metadata=md)
        for i, result in zip(asked, reply.results):
            batch.answer(i, result, 200)
    return answered(BatchResult, batch.reply(), 200)


def _within_limit(request: Request, items: list, name: str) -> None:
    limit = request.app.state.batch_limit
    if len(items) > limit:
        raise Problem(413, "payload-too-large", f"at most {limit} {name} in one request",
                      [{"field": name, "message": f"{len(items)} given; send them in requests of at most {limit}"}])


class _Batch:
    """The items of a batch request and their results: each refused on its own (with the problem the
    single call would have answered) or answered by the service."""

    def __init__(self, items: list, noun: str):
        self.items, self.noun = items, noun  # noun: names an item that is not an object at all
        self.results: list[dict | None] = [None] * len(items)

    def refuse(self, i: int, problem: Problem) -> None:
        self.results[i] = {"index": i, "status": problem.status, "order": None, "problem": {
            "type": f"https://commerce-hub.dev/problems/{problem.kind}", "title": problem.title,
            "status": problem.status, "errors": problem.errors or []}}

    def validate(self, model) -> dict:
        """{index: item as `model`} of the items that fit it; the others are refused (422)."""
        valid = {}
        for i, item in enumerate(self.items):
            try:
                valid[i] = model.model_validate(item)
            except ValidationError as exc:
                self.refuse(i, Problem(422, "invalid-argument", f"the {self.noun} is invalid", [
                    {"field": field_path(e["loc"]) if e["loc"] else self.noun, "message": e["msg"]}
                    for e in exc.errors()]))
        return valid

    def prepare(self, valid: dict, build) -> dict:
        """{index: request for the service} of the valid items the gateway's own checks pass."""
        asked = {}
        for i, item in valid.items():
            try:
                asked[i] = build(item)
            except Problem as problem:
                self.refuse(i, problem)
            except grpc.RpcError as exc:
                self.refuse(i, from_rpc_error(exc))
        return asked

    def answer(self, i: int, result, status: int) -> None:
        if result.HasField("error"):
            self.refuse(i, from_item_error(result.error))
        else:
            self.results[i] = {"index": i, "status": status, "order": order_json(result.order), "problem": None}

    def reply(self) -> dict:
        refused = sum(1 for r in self.results if r is not None and r["problem"] is not None)
        return {"results": self.results, "succeeded": len(self.results) - refused, "refused": refused}


@router.get("/orders/{order_id}", response_model=Order)
def get_order(order_id: str, request: Request, md=allowed(ANYONE)):
    return order_json(clients(request).order.GetOrder(ordpb.GetOrderRequest(id=order_id), metadata=md).order)


@router.get("/orders", response_model=OrderPage)
def list_orders(request: Request, status: str = "", page_size: int = Query(50, ge=1, le=500),
                page_token: str = "", reason: str = Query("", description="orders with an open hold of this reason"),
                merge_group: str = Query("", description="the orders of this merge group"), md=allowed(ANYONE)):
    """Newest first; the review queue (`status=held`, or a hold `reason`) oldest first, with each
    order's holds."""
    reply = clients(request).order.ListOrders(
        ordpb.ListOrdersRequest(status=status, page_size=page_size, page_token=page_token, reason=reason,
                                merge_group=merge_group),
        metadata=md)
    return {"orders": [order_json(o) for o in reply.orders], "next_page_token": reply.next_page_token or None}


@router.post("/orders/{order_id}/shipment", response_model=Order)
def ship_order(order_id: str, body: ShipmentIn, request: Request, md=allowed(SHIPPING)):
    """Ship a fully reserved order as a whole (carrier code and tracking number). An order of a merge
    group ships with its whole group, one carrier and tracking number for all, only when every one of
    them can ship (otherwise a 409 names the order that blocks, and nothing changes). An order flagged
    for the double check ships only once checked, and from another user than the checker (else a 409).

    A parcel (partial shipment): `lines` of reserved units (line_no, quantity), optionally the packing
    `scans`; each parcel has its own carrier and tracking number (or its own waybill, POST
    /orders/{id}/waybill?parcel=n), posts its own sale and cost and is confirmed on the platform with its
    lines; the order is partly_shipped until its last unit ships. A line not reserved, more units than
    reserved and not yet shipped, a scan that does not match the parcel: 422; nothing changes."""
    reply = clients(request).order.ShipOrder(
        ordpb.ShipOrderRequest(order_id=order_id, carrier=body.carrier, tracking_number=body.tracking_number,
                               lines=[ordpb.ShipLine(line_no=l.line_no, quantity=l.quantity) for l in body.lines],
                               scans=[ordpb.PackScan(sku=c.sku, serial=c.serial) for c in body.scans]),
        metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/waybill", response_model=Waybill)
def request_waybill(order_id: str, request: Request, md=allowed(SHIPPING),
                    parcel: int = Query(1, ge=1, le=99, description="the parcel's number (an order shipped in "
                                                                     "parcels takes one waybill per parcel)")):
    """The order's electronic waybill (电子面单) from the configured carrier, exactly once: the number
    already issued, or one taken now under the parcel's stable key (after a lost answer the carrier is
    asked what it issued before it is asked again). The shipment then carries it (POST
    /orders/{id}/shipment with no carrier and tracking number). 409: no carrier configured, the order
    shipped or cancelled, another request for it running, or the carrier refused (the reason given);
    503: the carrier gave no certain answer in time; asking again takes no second number."""
    reply = clients(request).order.RequestWaybill(ordpb.RequestWaybillRequest(order_id=order_id, parcel=parcel),
                                                  metadata=md)
    w = reply.waybill
    return {"order_id": w.order_id, "parcel_key": w.parcel_key, "carrier": w.carrier, "status": w.status,
            "tracking_number": w.tracking_number, "get_calls": w.get_calls, "lookups": w.lookups,
            "last_error": w.last_error}


@router.post("/orders/{order_id}/waybill/cancel", response_model=Waybill)
def cancel_waybill(order_id: str, request: Request, md=allowed(SHIPPING),
                   parcel: int = Query(1, ge=1, le=99, description="the parcel's number")):
    """Cancel the parcel's issued waybill at the carrier before the parcel ships (a misprinted label, a
    parcel repacked), idempotently: a cancelled one answers as it is (`status` cancelled). The parcel then
    ships with a carrier and tracking number given. 404 without a waybill; 409 when none is issued yet,
    the parcel shipped with it, another request for it runs, or the carrier refused; 503 when the carrier
    gave no certain answer: ask again."""
    reply = clients(request).order.CancelWaybill(ordpb.CancelWaybillRequest(order_id=order_id, parcel=parcel),
                                                 metadata=md)
    w = reply.waybill
    return {"order_id": w.order_id, "parcel_key": w.parcel_key, "carrier": w.carrier, "status": w.status,
            "tracking_number": w.tracking_number, "get_calls": w.get_calls, "lookups": w.lookups,
            "last_error": w.last_error}


@router.post("/orders/{order_id}/returns", status_code=201, response_model=OrderReturn)
def return_order(order_id: str, body: ReturnIn, request: Request, md=allowed(SHIPPING)):
    """Goods sent back after shipment: restocked at their original cost, the sale reversed in the books."""
    reply = clients(request).order.ReturnOrder(ordpb.ReturnOrderRequest(
        order_id=order_id, reason=body.reason,
        lines=[ordpb.ReturnLineInput(line_no=l.line_no, quantity=l.quantity) for l in body.lines]), metadata=md)
    return {"return_id": reply.return_id, "order": order_json(reply.order)}


def _rma_json(reply) -> dict:
    r = reply.rma
    return {"id": r.id, "order_id": r.order_id, "external_id": r.external_id or None, "kind": r.kind,
            "status": r.status, "reason": r.reason, "warehouse": r.warehouse or None,
            "replacement_order_id": r.replacement_order_id or None, "created_by": r.created_by,
            "created_at": r.created_at,
            "lines": [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity, "received": l.received,
                       "resellable": l.resellable, "damaged": l.damaged, "disposition": l.disposition,
                       "serials": list(l.serials), "replacement_sku": l.replacement_sku,
                       "amount": str(money.from_proto(l.amount))} for l in r.lines],
            "steps": [{"step": e.action, "actor": e.actor, "at": e.at, "note": e.note,
                       "detail": json.loads(e.detail or "{}")} for e in r.steps]}


@router.post("/rmas", status_code=201, response_model=Rma, responses={200: {"model": Rma}})
def create_rma(body: RmaIn, request: Request, response: Response, md=allowed(ORDER_DESK)):
    """A return document (RMA) of shipped units of an order, `return` (退货退款) or `exchange` (换货). The same
    `external_id` again answers that RMA (200). An unknown order is a 404; one not shipped a 409; more than
    was shipped and not yet returned (nor on another RMA) a 422: nothing changes."""
    wanted = [(i, l.replacement_sku) for i, l in enumerate(body.lines) if l.replacement_sku]
    if wanted:  # a replacement inventory does not know would never ship
        known = known_skus(request, [sku for _, sku in wanted], md)
        unknown = [{"field": f"lines[{i}].replacement_sku", "message": f"unknown SKU {sku!r}"}
                   for i, sku in wanted if sku not in known]
        if unknown:
            raise Problem(422, "invalid-argument", "unknown SKUs", unknown)
    reply = clients(request).order.CreateRma(ordpb.CreateRmaRequest(
        order_id=body.order_id, kind=body.kind, reason=body.reason, external_id=body.external_id,
        lines=[ordpb.RmaLineInput(line_no=l.line_no, quantity=l.quantity, replacement_sku=l.replacement_sku)
               for l in body.lines]), metadata=md)
    if not reply.created:
        response.status_code = 200
    return {**_rma_json(reply), "created": reply.created}


@router.get("/rmas/{rma_id}", response_model=Rma)
def get_rma(rma_id: str, request: Request, md=allowed(ANYONE)):
    """The RMA, its lines and every step (who, when, what)."""
    return _rma_json(clients(request).order.GetRma(ordpb.GetRmaRequest(rma_id=rma_id), metadata=md))


@router.post("/rmas/{rma_id}/receive", response_model=Rma)
def receive_rma(rma_id: str, body: RmaReceiveIn, request: Request, md=allowed(SHIPPING)):
    """The goods scanned in at a warehouse (SKU, or SKU and serial). A SKU the RMA does not ask back, or more
    than it asks, is a 422 and nothing is received."""
    reply = clients(request).order.ReceiveRma(ordpb.ReceiveRmaRequest(
        rma_id=rma_id, warehouse=body.warehouse,
        scans=[ordpb.RmaScan(sku=x.sku, serial=x.serial, quantity=x.quantity) for x in body.scans]), metadata=md)
    return _rma_json(reply)


@router.post("/rmas/{rma_id}/inspect", response_model=Rma)
def inspect_rma(rma_id: str, body: RmaInspectIn, request: Request, md=allowed(SHIPPING)):
    """Each received line judged: resellable units back to sellable stock, damaged ones quarantined (on hand,
    not for sale) or scrapped (the loss voucher), all at the cost they left with. resellable + damaged must
    be what was received (more: a 422, nothing changes)."""
    reply = clients(request).order.InspectRma(ordpb.InspectRmaRequest(
        rma_id=rma_id, note=body.note,
        lines=[ordpb.RmaInspection(line_no=l.line_no, resellable=l.resellable, damaged=l.damaged,
                                   disposition=l.disposition) for l in body.lines]), metadata=md)
    return _rma_json(reply)


@router.post("/rmas/{rma_id}/settle", response_model=Rma)
def settle_rma(rma_id: str, request: Request, md=allowed(ORDER_DESK)):
    """An inspected RMA's last step: a return is refunded (what was paid for the units, the credit voucher
    sales_refund on the buyer's or the platform's receivable); an exchange places its replacement order
    (the requested SKUs at zero price, reserved and shipped as any order; no money moves)."""
    return _rma_json(clients(request).order.SettleRma(ordpb.SettleRmaRequest(rma_id=rma_id), metadata=md))


@router.post("/orders/{order_id}/refunds", status_code=201, response_model=OrderRefund)
def refund_order(order_id: str, body: RefundIn, request: Request, md=allowed(ORDER_DESK)):
    """Money given back for lines of an order (sales or finance). Before shipment each line whole: it is
    taken out of fulfilment (its reservation released, never picked, shipped or invoiced; the channels'
    sellable stock goes up), and an order refunded whole is cancelled. After shipment a refund without
    goods back (仅退款): the sale is reversed at the amount (a credit to the receivable), no stock moves.
    An amount above what was paid and not yet given back, or an unknown line, is a 422; a cancelled order,
    or a line refunded already, a 409: nothing changes."""
    reply = clients(request).order.RefundOrder(ordpb.RefundOrderRequest(
        order_id=order_id, reason=body.reason,
        lines=[ordpb.RefundLineInput(line_no=l.line_no, quantity=l.quantity or 0,
                                     **({"amount": money.to_proto(l.amount)} if l.amount is not None else {}))
               for l in body.lines]), metadata=md)
    return {"refund_id": reply.refund_id, "kind": reply.kind, "order": order_json(reply.order)}


@router.get("/orders/{order_id}/vouchers", response_model=OrderVouchers)
def order_vouchers(order_id: str, request: Request, md=allowed(FINANCE)):
    """The sale and cost-of-goods vouchers the order's shipment posted."""
    reply = clients(request).accounting.ListVouchers(acc.ListVouchersRequest(source_id=order_id), metadata=md)
    return {"order_id": order_id, "vouchers": [voucher_json(v) for v in reply.vouchers]}


# -- holds and the operator's actions: every one audited; one in the wrong state is a 409 that changes nothing --
# The order desk (ORDER_DESK) holds, releases, rejects, cancels and corrects addresses; only finance (or
# admin) closes a finance_approval hold, by release or reject (the service checks it, so a hold placed
# meanwhile cannot slip through).
def _finance(request: Request) -> bool:
    return request.state.user.role in FINANCE


@router.post("/orders/holds:place", response_model=BulkResult)
def hold_orders(body: BulkHoldIn, request: Request, md=allowed(ORDER_DESK)):
    """Hold many orders (by id, or a filter as GET /orders's) with one typed reason and note, each as
    POST /orders/{id}/holds would and with its own result: a shipped or cancelled one is a 409 that
    changes nothing, the others are held."""
    f = body.filter
    if body.order_ids is not None and f is None:
        _within_limit(request, body.order_ids, "order_ids")
        ids = list(body.order_ids)
    elif f is not None and body.order_ids is None:
        ids = [o.id for o in clients(request).order.ListOrders(ordpb.ListOrdersRequest(
            status=f.status, reason=f.reason, merge_group=f.merge_group, page_size=request.app.state.batch_limit),
            metadata=md).orders]
    else:
        raise Problem(422, "invalid-argument", "name the orders or a filter",
                      [{"field": "order_ids", "message": "give either order_ids or filter, not both"}])
    reply = clients(request).order.HoldOrders(ordpb.HoldOrdersRequest(items=[
        ordpb.HoldOrderRequest(order_id=i, reason=body.reason, note=body.note) for i in ids]), metadata=md)
    return _bulk_reply(ids, reply)


@router.post("/orders/holds:release", response_model=BulkResult)
def release_holds(body: BulkHoldsIn, request: Request, md=allowed(ORDER_DESK)):
    """Release every open hold of many orders (by id, or the queue's filter), each with its own result."""
    ids = _bulk_ids(request, body, md)
    reply = clients(request).order.ReleaseHolds(ordpb.ReleaseHoldsRequest(items=[
        ordpb.ReleaseHoldRequest(order_id=i, note=body.note, finance=_finance(request)) for i in ids]), metadata=md)
    return _bulk_reply(ids, reply)


@router.post("/orders/holds:reject", response_model=BulkResult)
def reject_orders(body: BulkHoldsIn, request: Request, md=allowed(ORDER_DESK)):
    """Reject (cancel) many held orders (by id, or the queue's filter), each with its own result."""
    ids = _bulk_ids(request, body, md)
    reply = clients(request).order.RejectOrders(ordpb.RejectOrdersRequest(items=[
        ordpb.RejectOrderRequest(order_id=i, note=body.note, finance=_finance(request)) for i in ids]), metadata=md)
    return _bulk_reply(ids, reply)


def _bulk_ids(request: Request, body: BulkHoldsIn, md) -> list[str]:
    if (body.order_ids is None) == (body.reason is None):
        raise Problem(422, "invalid-argument", "name the orders or the queue's filter",
                      [{"field": "order_ids", "message": "give either order_ids or reason, not both"}])
    if body.order_ids is not None:
        _within_limit(request, body.order_ids, "order_ids")
        return list(body.order_ids)
    reply = clients(request).order.ListOrders(ordpb.ListOrdersRequest(
        status="held", reason=body.reason or "", page_size=request.app.state.batch_limit), metadata=md)
    return [o.id for o in reply.orders]


def _bulk_reply(ids: list[str], reply) -> dict:
    batch = _Batch(ids, "order")
    for i, result in enumerate(reply.results):
        batch.answer(i, result, 200)
    answer = batch.reply()
    for item, order_id in zip(answer["results"], ids):
        item["order_id"] = order_id
    return answer


@router.post("/orders/{order_id}/holds", status_code=201, response_model=HoldPlaced)
def hold_order(order_id: str, body: HoldIn, request: Request, md=allowed(ORDER_DESK)):
    """Hold an order not yet shipped or cancelled: it keeps its reservation and cannot ship until released."""
    reply = clients(request).order.HoldOrder(ordpb.HoldOrderRequest(order_id=order_id, reason=body.reason,
                                                                    note=body.note), metadata=md)
    return {"hold_id": reply.hold_id, "order": order_json(reply.order)}


@router.post("/orders/{order_id}/release", response_model=Order)
def release_hold(order_id: str, body: ReleaseIn, request: Request, md=allowed(ORDER_DESK)):
    """Release one open hold (`hold_id`) or all: the order may ship once none is left and it is reserved."""
    reply = clients(request).order.ReleaseHold(ordpb.ReleaseHoldRequest(
        order_id=order_id, hold_id=body.hold_id, note=body.note, finance=_finance(request)), metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/reject", response_model=Order)
def reject_order(order_id: str, body: NoteIn, request: Request, md=allowed(ORDER_DESK)):
    """Reject a held order: it is cancelled and its reserved stock released (order_cancelled)."""
    reply = clients(request).order.RejectOrder(ordpb.RejectOrderRequest(
        order_id=order_id, note=body.note, finance=_finance(request)), metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/cancel", response_model=Order)
def cancel_order(order_id: str, request: Request, body: NoteIn | None = None, md=allowed(ORDER_DESK)):
    """Withdraw an order not yet shipped (pending, reserved, backordered or held): its reserved stock is
    released. Cancelling it again, or after shipment, is a 409 that changes nothing (the same request
    with its Idempotency-Key gets the first answer again)."""
    reply = clients(request).order.CancelOrder(ordpb.CancelOrderRequest(
        order_id=order_id, note=body.note if body else "", finance=_finance(request)), metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/shipping-address", response_model=Order)
def change_shipping_address(order_id: str, body: AddressChangeIn, request: Request, md=allowed(ORDER_DESK)):
    """A corrected shipping address for an order not yet shipped or cancelled (the old one is audited)."""
    reply = clients(request).order.ChangeShippingAddress(ordpb.ChangeShippingAddressRequest(
        order_id=order_id, shipping_address=ordpb.Address(**body.shipping_address.model_dump()), note=body.note),
        metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/unmerge", response_model=Order)
def unmerge_order(order_id: str, request: Request, body: NoteIn | None = None, md=allowed(ORDER_DESK)):
    """Take an order not yet shipped out of its merge group (audited): it ships alone and is not merged
    again. An order in no group, or shipped or cancelled, is a 409 that changes nothing."""
    reply = clients(request).order.UnmergeOrder(ordpb.UnmergeOrderRequest(
        order_id=order_id, note=body.note if body else ""), metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/warehouse", response_model=Order)
def change_warehouse(order_id: str, body: WarehouseChangeIn, request: Request, md=allowed(ORDER_DESK)):
    """Move an order not yet shipped or cancelled to another warehouse: inventory releases its stock where
    it is and reserves every line there at once, or refuses and nothing changes (409 naming the SKU the
    warehouse lacks, or for a shipped or cancelled order or one being picked; 422 for an unknown
    warehouse). Audited; the lines show the new warehouse once inventory's answer is applied (moments)."""
    reply = clients(request).order.ChangeWarehouse(ordpb.ChangeWarehouseRequest(
        order_id=order_id, warehouse=body.warehouse, note=body.note), metadata=md)
    return order_json(reply.order)


@router.post("/orders/{order_id}/double-check", response_model=Order)
def double_check_order(order_id: str, request: Request, body: NoteIn | None = None, md=allowed(SHIPPING)):
    """The outbound double check of an order a review rule flagged (`double_check`): this user confirms
    the picked goods (who and when are kept and audited); the shipment is then accepted only from another
    user. An order not flagged, or not fully reserved, is a 409 that changes nothing."""
    reply = clients(request).order.DoubleCheckOrder(ordpb.DoubleCheckOrderRequest(
        order_id=order_id, note=body.note if body else ""), metadata=md)
    return order_json(reply.order)


@router.get("/orders/{order_id}/audit", response_model=OrderAudit)
def order_audit(order_id: str, request: Request, md=allowed(ORDER_DESK)):
    """Every workflow action on the order: who, when, why and what changed (it may name old addresses)."""
    reply = clients(request).order.GetOrderAudit(ordpb.GetOrderAuditRequest(order_id=order_id), metadata=md)
    return {"order_id": order_id, "entries": [
        {"action": e.action, "hold_id": e.hold_id or None, "actor": e.actor, "at": e.at, "note": e.note,
         "detail": json.loads(e.detail or "{}")} for e in reply.entries]}
