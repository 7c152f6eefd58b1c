"""The order api process: gRPC servicer -> handlers."""
from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import date, datetime

import grpc
from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from hubapi.inventory.v1 import inventory_service_pb2 as invpb
from hubapi.inventory.v1 import inventory_service_pb2_grpc as invpb_grpc
from hubapi.order.v1 import order_service_pb2 as pb
from hubapi.order.v1 import order_service_pb2_grpc as pb_grpc
from hubkit import commands, grpc_server, imports, metrics, money
from hubkit import logging as hublog
from hubkit.db import Database, UnitOfWork, as_utc, pool_size
from hubkit.errors import Conflict, FieldErrors, HubError, InvalidArgument
from hubkit.intake import Backlog, IntakeState
from services.order import domain, handlers, holds, merge, prices, receivables, refunds, review_api, rma, waybills
from services.order.models import metadata

rpc = grpc_server.rpc("order")
INTAKE_BEHIND = Gauge("hub_intake_behind", "1 while the hub is behind: new orders wait (429, shop pulls paused)")
AWAITING_INVENTORY = Gauge("hub_orders_awaiting_inventory", "Orders accepted and not yet answered by inventory, "
                                                            "as last counted for backpressure")


# inventory's refusals of MoveOrder, as the order service's own (a missing reservation: not answered yet)
REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument, grpc.StatusCode.FAILED_PRECONDITION: Conflict,
            grpc.StatusCode.NOT_FOUND: Conflict}


def rma_to_proto(r: dict) -> pb.Rma:
    return pb.Rma(
        id=r["id"], order_id=r["order_id"], external_id=r["external_id"] or "", kind=r["kind"], status=r["status"],
        reason=r["reason"], warehouse=r["warehouse"] or "", replacement_order_id=r["replacement_order_id"] or "",
        created_by=r["created_by"], created_at=as_utc(r["created_at"]).isoformat(),
        lines=[pb.RmaLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"], received=l["received"],
                          resellable=l["resellable"], damaged=l["damaged"], disposition=l["disposition"],
                          serials=l["serials"], replacement_sku=l["replacement_sku"],
                          amount=money.to_proto(l["amount"])) for l in r["lines"]],
        steps=[pb.AuditEntry(action=e["step"], actor=e["actor"], at=as_utc(e["at"]).isoformat(), note=e["note"],
                             detail=json.dumps(e["detail"], ensure_ascii=False)) for e in r["steps"]])


def price_list_to_proto(pl: prices.PriceList, updated_by: str, updated_at) -> pb.PriceList:
    return pb.PriceList(
        code=pl.code, name=pl.name, currency=pl.currency, channel=pl.channel, tier=pl.tier,
        valid_from=pl.valid_from.isoformat() if pl.valid_from else "",
        valid_to=pl.valid_to.isoformat() if pl.valid_to else "", updated_by=updated_by,
        updated_at=as_utc(updated_at).isoformat(),
        lines=[pb.PriceListLine(sku=l.sku, unit_price=money.to_proto(l.unit_price, pl.currency),
                                min_quantity=l.min_quantity) for l in pl.lines])


def order_to_proto(o: dict) -> pb.Order:
    cur = o["currency"]
    return pb.Order(
        id=o["id"], channel=o["channel"], shop=o["shop"], external_order_id=o["external_order_id"],
        buyer=pb.Buyer(**{k: str(v) for k, v in o["buyer"].items() if k in pb.Buyer.DESCRIPTOR.fields_by_name}),
        shipping_address=pb.Address(**{k: str(v) for k, v in o["shipping_address"].items()
                                       if k in pb.Address.DESCRIPTOR.fields_by_name}),
        lines=[pb.OrderLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"],
                            unit_price=money.to_proto(l["unit_price"], cur),
                            amount=money.to_proto(l["amount"], cur),
                            reservation=l["reservation"], warehouse=l["warehouse"] or "",
                            returned_quantity=l["returned_quantity"], refund_status=l.get("refund_status") or "",
                            refunded_amount=money.to_proto(l.get("refunded_amount") or 0, cur),
                            shipped_quantity=l.get("shipped_quantity") or 0)
               for l in o["lines"]],
        total=money.to_proto(o["total"], cur), status=o["status"], created_by=o["created_by"],
        created_at=as_utc(o["created_at"]).isoformat(), updated_at=as_utc(o["updated_at"]).isoformat(),
        carrier=o["carrier"] or "", tracking_number=o["tracking_number"] or "",
        shipped_at=as_utc(o["shipped_at"]).isoformat() if o["shipped_at"] else "",
        exchange_rate=format(o["exchange_rate"].normalize(), "f") if o["exchange_rate"] is not None else "",
        holds=[hold_to_proto(h) for h in o.get("holds", ())],
        priority=o.get("priority") or 0, double_check=bool(o.get("double_check")),
        merge_group=o.get("merge_group") or "", merged_with=o.get("merged_with", ()),
        double_checked_by=o.get("double_checked_by") or "", buyer_message=o.get("buyer_message") or "",
        double_checked_at=as_utc(o["double_checked_at"]).isoformat() if o.get("double_checked_at") else "",
        channel_notice=o.get("channel_notice") or "",
        parcels=[pb.Parcel(parcel_no=p["parcel_no"], parcel_key=p["parcel_key"], carrier=p["carrier"],
                           tracking_number=p["tracking_number"], amount=money.to_proto(p["amount"], cur),
                           shipped_by=p["shipped_by"], shipped_at=as_utc(p["shipped_at"]).isoformat(),
                           lines=[pb.ParcelLine(line_no=pl["line_no"], quantity=pl["quantity"],
                                                amount=money.to_proto(pl["amount"], cur)) for pl in p["lines"]])
                 for p in o.get("parcels", ())])


def hold_to_proto(h: dict) -> pb.Hold:
    return pb.Hold(id=h["id"], reason=h["reason"], rule=h["rule"] or "", note=h["note"], placed_by=h["placed_by"],
                   placed_at=as_utc(h["placed_at"]).isoformat(), released_by=h["released_by"] or "",
                   released_at=as_utc(h["released_at"]).isoformat() if h["released_at"] else "",
                   outcome=h["outcome"] or "", outcome_note=h["outcome_note"] or "")


def address_from_proto(msg: pb.Address) -> dict:
    return {f.name: v for f, v in msg.ListFields()}


def command_from_proto(request: pb.PlaceOrderRequest) -> domain.PlaceOrder:
    errors, lines, currencies = FieldErrors(), [], set()
    for i, line in enumerate(request.lines):
        try:
            price = money.from_proto(line.unit_price)
        except ValueError as exc:
            errors.add(f"lines[{i}].unit_price", str(exc))
            price = None
        currencies.add(line.unit_price.currency_code or "CNY")
        amount = money.from_proto(line.amount) if line.HasField("amount") else None
        lines.append(domain.LineInput(sku=line.sku, quantity=line.quantity, unit_price=price, amount=amount,
                                      refund_status=line.refund_status or None))
    if len(currencies) > 1:
        errors.add("lines", "all lines must be in one currency")
    rate = None
    if request.exchange_rate:
        try:
            rate = money.exchange_rate(request.exchange_rate)
        except ValueError as exc:
            errors.add("exchange_rate", str(exc))
    ship_by = None
    if request.ship_by:
        try:
            ship_by = datetime.fromisoformat(request.ship_by)
        except ValueError:
            errors.add("ship_by", "an ISO 8601 moment with its UTC offset")
    errors.raise_if_any("the order is invalid")

    def fields(msg):
        return {f.name: v for f, v in msg.ListFields()}

    return domain.PlaceOrder(channel=request.channel, shop=request.shop,
                             external_order_id=request.external_order_id, lines=lines,
                             buyer=fields(request.buyer), shipping_address=fields(request.shipping_address),
                             currency=(currencies or {"CNY"}).pop(), exchange_rate=rate,
                             priority=request.priority, ship_by=ship_by, buyer_message=request.buyer_message)


class OrderServicer(pb_grpc.OrderServiceServicer):
    def __init__(self, db: Database, backlog: Backlog | None = None, inventory=None,
                 inventory_timeout: float = 10.0, review_first: bool = False, waybill_issuer=None,
                 base_currency: str = "CNY"):
        self.db, self.backlog = db, backlog
        self.base_currency = base_currency  # a price list's currency when it names none
        self.waybill_issuer = waybill_issuer  # services.order.waybills.WaybillIssuer; None: no carrier configured
        self.inventory, self.inventory_timeout = inventory, inventory_timeout  # an InventoryService stub
        self.review_first = review_first  # the review stage: before_reservation (services.order.reservation)

    @rpc
    def PlaceOrder(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        cmd = command_from_proto(request)
        with UnitOfWork(self.db, "order", actor, correlation_id or f"{cmd.channel}:{cmd.external_order_id}") as uow:
            order, created = handlers.placed_order(uow, cmd, self.review_first)
            return pb.PlaceOrderResponse(order=order_to_proto(order), created=created)

    # -- price lists (services.order.prices) ----------------------------------------------------
    @rpc
    def PutPriceList(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        pl = prices.checked(request.code, request.name, request.currency, request.channel, request.tier,
                            request.valid_from, request.valid_to,
                            [(l.sku, money.from_proto(l.unit_price), l.min_quantity) for l in request.lines],
                            self.base_currency)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            changed = prices.put(uow, pl)
            stored, by, at = prices.get(uow.session, pl.code)
            return pb.PriceListResponse(price_list=price_list_to_proto(stored, by, at), changed=changed)

    @rpc
    def ListPriceLists(self, request, context):
        with self.db.session() as s:
            return pb.ListPriceListsResponse(price_lists=[price_list_to_proto(pl, by, at)
                                                          for pl, by, at, _ in prices.headers(s)])

    @rpc
    def GetPriceList(self, request, context):
        with self.db.session() as s:
            return pb.PriceListResponse(price_list=price_list_to_proto(*prices.get(s, request.code)))

    @rpc
    def GetPrice(self, request, context):
        errors, on = FieldErrors(), None
        if not request.sku:
            errors.add("sku", "required")
        if request.quantity < 0:
            errors.add("quantity", "at least 1")
        if request.on:
            try:
                on = date.fromisoformat(request.on)
            except ValueError:
                errors.add("on", "a date YYYY-MM-DD")
        errors.raise_if_any("the price question is invalid")
        with self.db.session() as s:
            found = prices.price(s, request.sku, request.channel, request.tier, request.quantity, on)
        if found is None:
            return pb.GetPriceResponse(found=False, explanation=f"no price list in force has a line for {request.sku} "
                                                                f"at this quantity, channel and tier")
        return pb.GetPriceResponse(
            found=True, unit_price=money.to_proto(found.line.unit_price, found.price_list.currency),
            price_list=found.price_list.code, price_list_name=found.price_list.name,
            min_quantity=found.line.min_quantity, scope=found.scope, explanation=found.explanation,
            considered=list(found.considered))

    @rpc
    def ImportPriceLists(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        rows = [(r.row, prices.ImportRow(
            r.header.code, r.header.name, r.header.currency, r.header.channel, r.header.tier, r.header.valid_from,
            r.header.valid_to, r.line.sku, str(money.from_proto(r.line.unit_price)), r.line.min_quantity))
            for r in request.rows]
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            return imports.command(uow, context, request.dry_run,
                                   lambda: prices.import_price_lists(uow, rows, request.dry_run, self.base_currency),
                                   "import_price_lists")

    @rpc
    def ShipOrder(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            order = handlers.ship_order(uow, request.order_id, request.carrier, request.tracking_number,
                                        [(l.line_no, l.quantity) for l in request.lines],
                                        [(c.sku, c.serial) for c in request.scans])
            return pb.ShipOrderResponse(order=order_to_proto(order))

    @rpc
    def RequestWaybill(self, request, context):
        actor, _ = grpc_server.caller(context)
        if self.waybill_issuer is None:
            raise Conflict("no carrier is configured for electronic waybills (HUB_CARRIER_URL)")
        return pb.RequestWaybillResponse(waybill=pb.Waybill(**self.waybill_issuer.request(request.order_id, actor,
                                                                                    request.parcel or 1)))

    @rpc
    def CancelWaybill(self, request, context):
        actor, _ = grpc_server.caller(context)
        if self.waybill_issuer is None:
            raise Conflict("no carrier is configured for electronic waybills (HUB_CARRIER_URL)")
        return pb.CancelWaybillResponse(waybill=pb.Waybill(**self.waybill_issuer.cancel(request.order_id, actor,
                                                                                        request.parcel or 1)))

    @rpc
    def CreateRma(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        lines = [rma.RmaLine(line_no=l.line_no, quantity=l.quantity, replacement_sku=l.replacement_sku)
                 for l in request.lines]
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            def apply() -> pb.RmaResponse:
                order_id = request.order_id or handlers.channel_order_id(
                    uow.session, request.channel, request.shop, request.external_order_id)
                rma_id, created = rma.create(uow, order_id, request.kind, lines, request.reason, request.external_id)
                return pb.RmaResponse(rma=rma_to_proto(rma.read(uow.session, rma_id)), created=created)
            return commands.once(uow, context, pb.RmaResponse, apply, "CreateRma")

    @rpc
    def GetRma(self, request, context):
        with self.db.reader() as s:
            return pb.RmaResponse(rma=rma_to_proto(rma.read(s, request.rma_id)))

    def _rma_step(self, context, name: str, rma_id: str, step) -> pb.RmaResponse:
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            def apply() -> pb.RmaResponse:
                step(uow)
                return pb.RmaResponse(rma=rma_to_proto(rma.read(uow.session, rma_id)))
            return commands.once(uow, context, pb.RmaResponse, apply, name)

    @rpc
    def ReceiveRma(self, request, context):
        scans = [rma.Scan(sku=x.sku, serial=x.serial, quantity=x.quantity or 1) for x in request.scans]
        return self._rma_step(context, "ReceiveRma", request.rma_id,
                              lambda uow: rma.receive(uow, request.rma_id, request.warehouse, scans))

    @rpc
    def InspectRma(self, request, context):
        lines = [rma.Inspection(line_no=l.line_no, resellable=l.resellable, damaged=l.damaged,
                                disposition=l.disposition) for l in request.lines]
        return self._rma_step(context, "InspectRma", request.rma_id,
                              lambda uow: rma.inspect(uow, request.rma_id, lines, request.note))

    @rpc
    def SettleRma(self, request, context):
        def place(uow, cmd):
            return handlers.place_order(uow, cmd, self.review_first)[0]
        return self._rma_step(context, "SettleRma", request.rma_id, lambda uow: rma.settle(uow, request.rma_id, place))

    @rpc
    def ReturnOrder(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            def apply() -> pb.ReturnOrderResponse:
                return_id = handlers.return_order(uow, request.order_id,
                                                  [(l.line_no, l.quantity) for l in request.lines], request.reason)
                return pb.ReturnOrderResponse(order=order_to_proto(handlers.read_order(uow.session, request.order_id)),
                                              return_id=return_id)
            return commands.once(uow, context, pb.ReturnOrderResponse, apply)

    @rpc
    def RefundOrder(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        lines = [refunds.RefundLine(line_no=l.line_no, quantity=l.quantity or None,
                                    amount=money.from_proto(l.amount) if l.HasField("amount") else None)
                 for l in request.lines]
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            def apply() -> pb.RefundOrderResponse:
                order_id = request.order_id or handlers.channel_order_id(
                    uow.session, request.channel, request.shop, request.external_order_id)
                refund_id, kind = handlers.refund_order(uow, order_id, lines, request.reason,
                                                        channel=request.channel_refund)
                return pb.RefundOrderResponse(order=order_to_proto(handlers.read_order(uow.session, order_id)),
                                              refund_id=refund_id, kind=kind)
            return commands.once(uow, context, pb.RefundOrderResponse, apply)

    @rpc
    def ApplyChannelOrder(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        cmd = command_from_proto(request.order)
        with UnitOfWork(self.db, "order", actor, correlation_id or f"{cmd.channel}:{cmd.external_order_id}") as uow:
            order_id, outcome = handlers.apply_channel_order(
                uow, domain.ChannelOrder(order=cmd, version=request.version, status=request.status), self.review_first)
            order = order_to_proto(handlers.read_order(uow.session, order_id)) if order_id else None
            return pb.ApplyChannelOrderResponse(order=order, outcome=outcome)

    @rpc
    def PlaceOrders(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        items = request.orders
        results: list[pb.PlaceOrderResult | None] = [None] * len(items)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            for i in sorted(range(len(items)), key=lambda i: (items[i].channel, items[i].shop,
                                                              items[i].external_order_id)):
                # an order the gateway sent on with others keeps its own request's correlation id
                uow.correlation_id = items[i].correlation_id or correlation_id
                hublog.correlation_id.set(uow.correlation_id)
                results[i] = self._one(uow, pb.PlaceOrderResult, self._place, items[i])
        return pb.PlaceOrdersResponse(results=results)

    @rpc
    def ShipOrders(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            # the wave's plain shipments (whole orders, each named once) set-based; the rest, and any
            # that was not plain after all, one by one in a savepoint each, answering its own error
            named = Counter(item.order_id for item in request.shipments)
            shipped = handlers.ship_many(uow, [(i.order_id, i.carrier, i.tracking_number) for i in request.shipments
                                               if not i.lines and not i.scans and named[i.order_id] == 1])
            results = [pb.ShipOrderResult(order=order_to_proto(shipped[item.order_id]))
                       if item.order_id in shipped and named[item.order_id] == 1
                       else self._one(uow, pb.ShipOrderResult, self._ship, item) for item in request.shipments]
        return pb.ShipOrdersResponse(results=results)

    @staticmethod
    def _one(uow: UnitOfWork, result, apply, item):
        """One item of a batch in its own savepoint: refused, it writes nothing and answers the error the
        single call would have; the other items go on in the same transaction."""
        try:
            with uow.session.begin_nested():
                return result(**apply(uow, item))
        except HubError as exc:
            return result(error=pb.ItemError(code=grpc_server.status_for(exc).name, message=exc.message,
                                             fields=[pb.FieldError(**f) for f in exc.fields]))

    def _place(self, uow: UnitOfWork, item: pb.PlaceOrderRequest) -> dict:
        order, created = handlers.placed_order(uow, command_from_proto(item), self.review_first)
        return {"order": order_to_proto(order), "created": created}

    @staticmethod
    def _ship(uow: UnitOfWork, item: pb.ShipOrderRequest) -> dict:
        return {"order": order_to_proto(handlers.ship_order(
                    uow, item.order_id, item.carrier, item.tracking_number, [(l.line_no, l.quantity) for l in item.lines],
                    [(c.sku, c.serial) for c in item.scans]))}

    # -- holds and the operator's actions (every one audited; wrong state: FAILED_PRECONDITION) ----------
    def _act(self, context, command: str, apply) -> pb.OrderActionResponse:
        """One action, answered once per command id (an Idempotency-Key at the gateway)."""
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            return commands.once(uow, context, pb.OrderActionResponse, lambda: apply(uow), f"order.{command}")

    @rpc
    def HoldOrder(self, request, context):
        def apply(uow):
            hold_id, _ = holds.place(uow, request.order_id, request.reason, note=request.note)
            return pb.OrderActionResponse(order=order_to_proto(handlers.read_order(uow.session, request.order_id)),
                                          hold_id=hold_id)
        return self._act(context, "HoldOrder", apply)

    @rpc
    def ReleaseHold(self, request, context):
        return self._act(context, "ReleaseHold", lambda uow: pb.OrderActionResponse(
            order=order_to_proto(self._release(uow, request))))

    @rpc
    def RejectOrder(self, request, context):
        return self._act(context, "RejectOrder", lambda uow: pb.OrderActionResponse(order=order_to_proto(
            handlers.reject_order(uow, request.order_id, request.note, request.finance))))

    @rpc
    def CancelOrder(self, request, context):
        return self._act(context, "CancelOrder", lambda uow: pb.OrderActionResponse(order=order_to_proto(
            handlers.cancel_order(uow, request.order_id, request.note, request.finance))))

    @rpc
    def ChangeShippingAddress(self, request, context):
        return self._act(context, "ChangeShippingAddress", lambda uow: pb.OrderActionResponse(order=order_to_proto(
            handlers.change_shipping_address(uow, request.order_id, address_from_proto(request.shipping_address),
                                             request.note))))

    @rpc
    def UnmergeOrder(self, request, context):
        def apply(uow):
            handlers.validate_note(request.note)
            merge.unmerge(uow, request.order_id, request.note)
            return pb.OrderActionResponse(order=order_to_proto(handlers.read_order(uow.session, request.order_id)))
        return self._act(context, "UnmergeOrder", apply)

    @rpc
    def ChangeWarehouse(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        return self._act(context, "ChangeWarehouse", lambda uow: pb.OrderActionResponse(order=order_to_proto(
            handlers.change_warehouse(uow, request.order_id, request.warehouse,
                                      functools.partial(self._move, context, actor, correlation_id), request.note))))

    def _move(self, context, actor: str, correlation_id: str, order_id: str, warehouse: str, note: str) -> list[dict]:
        """Inventory's MoveOrder, as this caller: its refusal becomes this call's (the same status, message
        and field errors); inventory absent or too slow answers UNAVAILABLE or DEADLINE_EXCEEDED."""
        if self.inventory is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the order service has no inventory to ask")
        metadata = [(grpc_server.ACTOR_KEY, actor), (grpc_server.CORRELATION_KEY, correlation_id)]
        # the caller's command id goes along: inventory moves once per command, so a retry of a move whose
        # answer was lost (this transaction failed after inventory moved) gets that move's reply again
        metadata += [(k, v) for k, v in context.invocation_metadata() if k == commands.COMMAND_KEY]
        try:
            reply = self.inventory.MoveOrder(invpb.MoveOrderRequest(order_id=order_id, warehouse=warehouse, note=note),
                                             metadata=metadata, timeout=self.inventory_timeout)
        except grpc.RpcError as exc:
            fields = json.loads(dict(exc.trailing_metadata() or ()).get(grpc_server.FIELD_ERRORS_KEY) or "[]")
            refused = REFUSALS.get(exc.code())
            if refused is None:  # inventory absent, failing or too slow: nothing was moved by this call
                slow = exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                context.abort(exc.code() if slow else grpc.StatusCode.UNAVAILABLE, f"inventory: {exc.details()}")
            raise refused(exc.details() or exc.code().name, fields) from None
        return [{"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity, "status": l.status,
                 "allocations": [{"warehouse": a.warehouse, "quantity": a.quantity} for a in l.allocations]}
                for l in reply.lines]

    @rpc
    def DoubleCheckOrder(self, request, context):
        return self._act(context, "DoubleCheckOrder", lambda uow: pb.OrderActionResponse(order=order_to_proto(
            handlers.double_check(uow, request.order_id, request.note))))

    @rpc
    def HoldOrders(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            results = [self._one(uow, pb.OrderActionResult, self._hold, item) for item in request.items]
        return pb.OrderActionsResponse(results=results)

    @staticmethod
    def _hold(uow: UnitOfWork, item: pb.HoldOrderRequest) -> dict:
        hold_id, _ = holds.place(uow, item.order_id, item.reason, note=item.note)
        return {"order": order_to_proto(handlers.read_order(uow.session, item.order_id)), "hold_id": hold_id}

    @rpc
    def ReleaseHolds(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            results = [self._one(uow, pb.OrderActionResult,
                                 lambda u, item: {"order": order_to_proto(self._release(u, item))}, item)
                       for item in request.items]
        return pb.OrderActionsResponse(results=results)

    @rpc
    def RejectOrders(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "order", actor, correlation_id) as uow:
            results = [self._one(uow, pb.OrderActionResult, lambda u, item: {"order": order_to_proto(
                handlers.reject_order(u, item.order_id, item.note, item.finance))}, item) for item in request.items]
        return pb.OrderActionsResponse(results=results)

    @staticmethod
    def _release(uow: UnitOfWork, item: pb.ReleaseHoldRequest) -> dict:
        holds.release(uow, item.order_id, item.note, item.hold_id, item.finance)
        return handlers.read_order(uow.session, item.order_id)

    @rpc
    def GetOrderAudit(self, request, context):
        with self.db.reader() as s:
            handlers.read_order(s, request.order_id)  # an unknown order is NOT_FOUND, not an empty audit
            entries = holds.audit_of(s, request.order_id)
        return pb.GetOrderAuditResponse(entries=[pb.AuditEntry(
            action=e["action"], hold_id=e["hold_id"] or "", actor=e["actor"], at=as_utc(e["at"]).isoformat(),
            note=e["note"], detail=json.dumps(e["detail"], ensure_ascii=False)) for e in entries])

    @rpc
    def GetReceivables(self, request, context):
        return pb.GetReceivablesResponse(receivables=[
            pb.Receivable(**{k: v if isinstance(v, bool) else str(v) for k, v in row.items()})
            for row in receivables.receivables(self.db, set(request.marketplaces))])

    @rpc
    def GetIntake(self, request, context):
        if self.backlog is None:  # a servicer without watermarks is never behind
            return pb.GetIntakeResponse()
        state, marks = self.backlog.state(), self.backlog.watermarks
        return pb.GetIntakeResponse(behind=state.behind, waiting=state.waiting, oldest_seconds=state.oldest_seconds,
                                    retry_after_seconds=state.retry_after_seconds,
                                    high_watermark=marks.high, low_watermark=marks.low)

    @rpc
    def GetOrder(self, request, context):
        return pb.GetOrderResponse(order=order_to_proto(handlers.get_order(self.db, request.id)))

    @rpc
    def ListOrders(self, request, context):
        found, token = handlers.list_orders(self.db, request.status, request.page_size, request.page_token,
                                            request.reason, request.merge_group)
        return pb.ListOrdersResponse(orders=[order_to_proto(o) for o in found], next_page_token=token)


def orders_by_status(db: Database):
    """hub_orders_by_status, counted from the database at scrape time (hubkit.metrics.Snapshot)."""
    family = GaugeMetricFamily("hub_orders_by_status", "Orders by channel and status", labels=["channel", "status"])
    for (channel, status), count in sorted(handlers.count_by_status(db).items()):
        family.add_metric([channel, status], count)
    return [family]


def main(settings) -> None:
    db = Database(settings.db_url, metadata, pool_size=pool_size(settings, grpc_server.API_THREADS),
                  prepare=settings.db_prepared_statements)
    REGISTRY.register(metrics.Snapshot(lambda: orders_by_status(db), settings.business_metrics_seconds))
    backlog = Backlog(settings.intake_watermarks, lambda: handlers.awaiting_inventory(db),
                      settings.intake_refresh_seconds, report=_report_intake)
    def register(server):
        inventory = invpb_grpc.InventoryServiceStub(grpc.insecure_channel(settings.inventory_grpc_target))
        pb_grpc.add_OrderServiceServicer_to_server(
            OrderServicer(db, backlog, inventory, settings.inventory_timeout_seconds, settings.review_first,
                          waybills.issuer_from(settings, db), settings.base_currency), server)
        review_api.register(server, db)
    grpc_server.serve("order", settings.grpc_port, register)


def _report_intake(state: IntakeState) -> None:
    INTAKE_BEHIND.set(int(state.behind))
    AWAITING_INVENTORY.set(state.waiting)
