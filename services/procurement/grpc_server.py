"""The procurement api process: gRPC servicer -> handlers."""
from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from hubapi.procurement.v1 import procurement_service_pb2 as pb
from hubapi.procurement.v1 import procurement_service_pb2_grpc as pb_grpc
from hubkit import clock, commands, grpc_server, imports, metrics, money
from hubkit.db import Database, UnitOfWork, as_utc, pool_size
from hubkit.errors import FieldErrors
from services.procurement import approvals, chains, domain, handlers, planning, replenish, requisitions, scorecard
from services.procurement.models import metadata

rpc = grpc_server.rpc("procurement")


def _lines(lines: list[dict]) -> list[pb.ReceiptLine]:
    return [pb.ReceiptLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"]) for l in lines]


def receipt_to_proto(r: dict) -> pb.Receipt:
    return pb.Receipt(id=r["id"], received_at=as_utc(r["received_at"]).isoformat(), reference=r["reference"],
                      received_by=r["received_by"], lines=_lines(r["lines"]), status=r.get("status") or "accepted",
                      refused_reason=r.get("refused_reason") or "", refused_at=_iso(r.get("refused_at")),
                      invoice_pending=bool(r.get("invoice_pending")))


def return_to_proto(r: dict) -> pb.PurchaseReturn:
    return pb.PurchaseReturn(id=r["id"], returned_at=_iso(r["returned_at"]), reason=r["reason"],
                             reference=r["reference"], returned_by=r["returned_by"], lines=_lines(r["lines"]),
                             status=r["status"], refused_reason=r["refused_reason"] or "",
                             refused_at=_iso(r["refused_at"]))


def purchase_order_to_proto(po: dict) -> pb.PurchaseOrder:
    cur = po["currency"]
    return pb.PurchaseOrder(
        id=po["id"], supplier=po["supplier"], warehouse=po["warehouse"], currency=cur, status=po["status"],
        lines=[pb.PurchaseOrderLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"],
                                    received=l["received"], unit_cost=str(money.unit_cost(l["unit_cost"])),
                                    vat_rate=str(money.to_decimal(l["vat_rate"]).quantize(domain.VAT_PLACES)),
                                    amount=money.to_proto(money.cents(l["amount"]), cur), returned=l["returned"],
                                    expected_on=l["expected_on"].isoformat() if l.get("expected_on") else "")
               for l in po["lines"]],
        receipts=[receipt_to_proto(r) for r in po["receipts"]],
        returns=[return_to_proto(r) for r in po.get("returns", [])],
        created_by=po["created_by"], created_at=as_utc(po["created_at"]).isoformat(),
        exchange_rate=format(po["exchange_rate"].normalize(), "f") if po.get("exchange_rate") is not None else "",
        approval=po.get("approval") or "approved", approval_steps=[step_to_proto(x) for x in po.get("steps", [])],
        approval_log=[entry_to_proto(x) for x in po.get("log", [])], chain_version=po.get("chain_version") or 0,
        requisition_id=po.get("requisition_id") or "", supplier_name=po.get("supplier_name") or "")


def step_to_proto(st: dict) -> pb.ApprovalStep:
    return pb.ApprovalStep(
        document_kind=st["document_kind"], document_id=st["document_id"], step_no=st["step_no"],
        step_id=st["step_id"], role=st["role"] or "", user=st["user_name"] or "", status=st["status"],
        opened_at=st["opened_at"] or "", decided_by=st["decided_by"] or "", on_behalf_of=st["on_behalf_of"] or "",
        decided_at=st["decided_at"] or "", comment=st["comment"] or "", requester=st["requester"],
        amount=str(money.cents(st["amount"])))


def entry_to_proto(e: dict) -> pb.ApprovalEntry:
    return pb.ApprovalEntry(step_no=e["step_no"] or 0, action=e["action"], actor=e["actor"],
                            on_behalf_of=e["on_behalf_of"] or "", comment=e["comment"], at=e["at"])


def requisition_to_proto(r: dict) -> pb.Requisition:
    return pb.Requisition(
        id=r["id"], requester=r["requester"], warehouse=r["warehouse"], currency=r["currency"],
        total=str(money.cents(r["total"])), status=r["status"], chain_version=r["chain_version"],
        facts=pb.RequisitionFacts(category=r["category"], material_type=r["material_type"], project=r["project"],
                                  cost_centre=r["cost_centre"], department=r["department"], note=r["note"]),
        rejected_reason=r["rejected_reason"] or "", created_at=r["created_at"], updated_at=r["updated_at"],
        lines=[pb.RequisitionLine(line_no=l["line_no"], sku=l["sku"], quantity=l["quantity"], supplier=l["supplier"],
                                  unit_cost=str(money.unit_cost(l["unit_cost"])),
                                  vat_rate=str(money.to_decimal(l["vat_rate"]).quantize(domain.VAT_PLACES)),
                                  amount=str(money.cents(l["amount"])), suggestion_id=l["suggestion_id"] or "",
                                  purchase_order_id=l["purchase_order_id"] or "") for l in r["lines"]],
        approval_steps=[step_to_proto(x) for x in r["steps"]], approval_log=[entry_to_proto(x) for x in r["log"]])


def chain_to_proto(v: dict) -> pb.ApprovalChainVersion:
    return pb.ApprovalChainVersion(version=v["version"], name=v["name"], note=v["note"], created_by=v["created_by"],
                                   created_at=v["created_at"], steps=v["steps"], in_force=v["in_force"],
                                   document=v["document"])


def _facts(f) -> dict:
    return dict(category=f.category, material_type=f.material_type, project=f.project, cost_centre=f.cost_centre,
                department=f.department, note=f.note)


def _moment(errors: FieldErrors, name: str, raw: str):
    return domain.parse_time(errors, name, raw) if raw else errors.add(name, "required: an ISO 8601 moment")


def bill_to_proto(b: dict) -> pb.PurchaseBill:
    return pb.PurchaseBill(
        id=b["id"], kind=b["kind"], purchase_order_id=b["purchase_order_id"], receipt_id=b["receipt_id"] or "",
        supplier=b["supplier"], reference=b["reference"], charge=b["charge"], basis=b["basis"],
        **{k: str(money.cents(b[k])) for k in ("provisional", "total_net", "total_tax", "total")},
        billed_at=_iso(b["billed_at"]), billed_by=b["billed_by"],
        lines=[pb.PurchaseBillLine(receipt_id=l["receipt_id"], line_no=l["line_no"], sku=l["sku"],
                                   quantity=l["quantity"],
                                   unit_price=str(money.unit_cost(l["unit_price"])) if l["unit_price"] is not None else "",
                                   **{k: str(money.cents(l[k])) for k in ("provisional", "amount", "change")})
               for l in b["lines"]])


def _iso(moment) -> str:
    return as_utc(moment).isoformat() if moment is not None else ""


def suggestion_to_proto(d: dict) -> pb.PurchaseSuggestion:
    return pb.PurchaseSuggestion(
        id=d["id"], sku=d["sku"], warehouse=d["warehouse"], status=d["status"], available=d["available"],
        minimum=d["minimum"], maximum=d["maximum"], quantity=d["quantity"], signalled_at=_iso(d["signalled_at"]),
        created_at=_iso(d["created_at"]), updated_at=_iso(d["updated_at"]), closed_by=d["closed_by"] or "",
        closed_at=_iso(d["closed_at"]), purchase_order_id=d["purchase_order_id"] or "",
        basis=d.get("basis") or "", terms_json=d.get("terms") or "", supplier=d.get("supplier") or "",
        last_price="" if d.get("last_price") is None else str(money.unit_cost(d["last_price"])),
        rule_set_version=d.get("rule_set_version") or 0)


def alert_to_proto(a: dict) -> pb.StockAlert:
    details = a["details"]
    return pb.StockAlert(
        id=a["id"], kind=a["kind"], sku=a["sku"], lot=a["lot"], warehouse=a["warehouse"] or "",
        quantity=details.get("quantity") or 0, occurred_at=_iso(a["occurred_at"]),
        expires_on=details.get("expires_on") or "", days_left=details.get("days_left") or 0,
        held=bool(details.get("held")), reason=details.get("reason") or "", note=details.get("note") or "")


class ProcurementServicer(pb_grpc.ProcurementServiceServicer):
    def __init__(self, db: Database, price_tolerance=domain.DEFAULT_PRICE_TOLERANCE):
        self.db = db
        self.price_tolerance = price_tolerance

    def _uow(self, context) -> UnitOfWork:
        actor, correlation_id = grpc_server.caller(context)
        return UnitOfWork(self.db, "procurement", actor, correlation_id)

    @rpc
    def UpsertSupplier(self, request, context):
        with self._uow(context) as uow:
            created = handlers.upsert_supplier(uow, request.supplier.code, request.supplier.name)
            return pb.UpsertSupplierResponse(supplier=request.supplier, created=created)

    @rpc
    def ImportSuppliers(self, request, context):
        rows = [(r.row, r.supplier.code, r.supplier.name) for r in request.rows]
        with self._uow(context) as uow:
            return imports.command(uow, context, request.dry_run,
                                   lambda: handlers.import_suppliers(uow, rows, request.dry_run), "import_suppliers")

    @rpc
    def CreatePurchaseOrder(self, request, context):
        errors, rate = FieldErrors(), None
        try:
            rate = money.exchange_rate(request.exchange_rate) if request.exchange_rate else None
        except ValueError as exc:
            errors.add("exchange_rate", str(exc))
        errors.raise_if_any("the purchase order is invalid")
        cmd = domain.CreatePurchaseOrder(
            supplier=request.supplier, warehouse=request.warehouse, currency=request.currency, exchange_rate=rate,
            lines=[domain.LineInput(sku=l.sku, quantity=l.quantity, unit_cost=l.unit_cost, vat_rate=l.vat_rate,
                                    expected_on=l.expected_on)
                   for l in request.lines])
        with self._uow(context) as uow:
            def apply() -> pb.CreatePurchaseOrderResponse:
                po = handlers.read_purchase_order(uow.session, handlers.create_purchase_order(uow, cmd))
                return pb.CreatePurchaseOrderResponse(purchase_order=purchase_order_to_proto(po))
            return commands.once(uow, context, pb.CreatePurchaseOrderResponse, apply)

    @rpc
    def GetPurchaseOrder(self, request, context):
        po = handlers.get_purchase_order(self.db, request.id)
        return pb.GetPurchaseOrderResponse(purchase_order=purchase_order_to_proto(po))

    @rpc
    def ReceivePurchaseOrder(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.ReceivePurchaseOrderResponse:
                receipt_id = handlers.receive_purchase_order(
                    uow, request.purchase_order_id, [(l.line_no, l.quantity) for l in request.lines],
                    request.reference, {l.line_no: {"bin": l.bin, "lot": l.lot, "expires_on": l.expires_on,
                                                    "serials": list(l.serials)} for l in request.lines},
                    request.invoice_pending)
                po = handlers.read_purchase_order(uow.session, request.purchase_order_id)
                receipt = next(r for r in po["receipts"] if r["id"] == receipt_id)
                return pb.ReceivePurchaseOrderResponse(purchase_order=purchase_order_to_proto(po),
                                                       receipt=receipt_to_proto(receipt))
            return commands.once(uow, context, pb.ReceivePurchaseOrderResponse, apply)

    @rpc
    def ReturnPurchaseOrder(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.ReturnPurchaseOrderResponse:
                return_id = handlers.return_purchase(uow, request.purchase_order_id,
                                                     [(l.line_no, l.quantity) for l in request.lines],
                                                     request.reason, request.reference)
                po = handlers.read_purchase_order(uow.session, request.purchase_order_id)
                return pb.ReturnPurchaseOrderResponse(purchase_order=purchase_order_to_proto(po), return_id=return_id)
            return commands.once(uow, context, pb.ReturnPurchaseOrderResponse, apply)

    @rpc
    def InvoicePurchaseOrder(self, request, context):
        lines = [domain.InvoiceLineInput(line_no=l.line_no, quantity=l.quantity, unit_price=l.unit_price,
                                         vat_rate=l.vat_rate) for l in request.lines]
        with self._uow(context) as uow:
            def apply() -> pb.InvoicePurchaseOrderResponse:
                bill_id = handlers.invoice_purchase(uow, request.purchase_order_id, request.supplier, request.reference,
                                                    lines, self.price_tolerance)
                return pb.InvoicePurchaseOrderResponse(bill=bill_to_proto(handlers.read_bill(uow.session, bill_id)))
            return commands.once(uow, context, pb.InvoicePurchaseOrderResponse, apply)

    @rpc
    def AddLandedCost(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.AddLandedCostResponse:
                bill_id, _ = handlers.bill_landed_cost(
                    uow, request.receipt_id, request.supplier, request.reference, request.charge, request.basis,
                    request.amount, request.vat_rate, {w.line_no: w.weight for w in request.weights})
                return pb.AddLandedCostResponse(bill=bill_to_proto(handlers.read_bill(uow.session, bill_id)))
            return commands.once(uow, context, pb.AddLandedCostResponse, apply)

    @rpc
    def ListProvisional(self, request, context):
        return pb.ListProvisionalResponse(lines=[pb.ProvisionalLine(
            **{k: row[k] for k in ("supplier", "purchase_order_id", "warehouse", "currency", "receipt_id", "line_no",
                                   "sku", "quantity")},
            received_at=_iso(row["received_at"]), unit_cost=str(row["unit_cost"]), amount=str(row["amount"]))
            for row in handlers.provisional_payables(self.db)])

    @rpc
    def ListSuggestions(self, request, context):
        found = handlers.list_suggestions(self.db, request.status, request.warehouse, request.limit)
        return pb.ListSuggestionsResponse(suggestions=[suggestion_to_proto(d) for d in found])

    @rpc
    def DismissSuggestion(self, request, context):
        with self._uow(context) as uow:
            suggestion_id = handlers.dismiss_suggestion(uow, request.sku, request.warehouse)
            return pb.DismissSuggestionResponse(
                suggestion=suggestion_to_proto(handlers.read_suggestion(uow.session, suggestion_id)))

    @rpc
    def ListStockAlerts(self, request, context):
        found = handlers.list_stock_alerts(self.db, request.kind, request.sku, request.limit)
        return pb.ListStockAlertsResponse(alerts=[alert_to_proto(a) for a in found])

    @rpc
    def SetReplenishmentTerms(self, request, context):
        try:
            factor = float(Decimal(request.promotion_factor or "1"))
        except (InvalidOperation, ValueError):
            factor = -1.0  # refused by the terms' check, by field
        terms = replenish.Terms(
            lead_time_days=request.lead_time_days, review_period_days=request.review_period_days,
            safety_stock=request.safety_stock, min_order_quantity=request.min_order_quantity,
            order_multiple=request.order_multiple, window_days=request.window_days,
            promotion_factor=factor if math.isfinite(factor) else -1.0, supplier=request.supplier or None)
        with self._uow(context) as uow:
            suggestion_id = planning.set_terms(uow, request.sku, request.warehouse, terms)
            plan = planning.explain(uow.session, request.sku, request.warehouse, clock.now().date())
            reply = pb.SetReplenishmentTermsResponse(plan_json=json.dumps(plan, sort_keys=True) if plan else "",
                                                     suggested=suggestion_id is not None)
            if suggestion_id is not None:
                reply.suggestion.CopyFrom(suggestion_to_proto(handlers.read_suggestion(uow.session, suggestion_id)))
            return reply

    @rpc
    def GetDemandRules(self, request, context):
        with self.db.reader() as s:
            return pb.DemandRules(**planning.get_rules(s))

    @rpc
    def PutDemandRules(self, request, context):
        with self._uow(context) as uow:
            planning.put_rules(uow, request.document)
            return pb.DemandRules(**planning.get_rules(uow.session))

    @rpc
    def OrderSuggestions(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.CreatePurchaseOrderResponse:
                po_id = handlers.order_suggestions(uow, request.warehouse, request.supplier, list(request.skus))
                return pb.CreatePurchaseOrderResponse(
                    purchase_order=purchase_order_to_proto(handlers.read_purchase_order(uow.session, po_id)))
            return commands.once(uow, context, pb.CreatePurchaseOrderResponse, apply)

    @rpc
    def GetScorecard(self, request, context):
        return scorecard_to_proto(handlers.supplier_scorecard(self.db, getattr(request, "from"), request.to,
                                                              request.supplier, request.grade))

    @rpc
    def ExportScorecard(self, request, context):
        report = handlers.supplier_scorecard(self.db, getattr(request, "from"), request.to, request.supplier,
                                             request.grade)
        name = f"scorecard-{report['from'].isoformat()}-{report['to'].isoformat()}.xlsx"
        return pb.ExportScorecardResponse(xlsx=scorecard.workbook(report), filename=name)

    @rpc
    def GetOnTimeReport(self, request, context):
        report = handlers.on_time_report(self.db, getattr(request, "from"), request.to, request.supplier,
                                         request.group or "month")
        return pb.GetOnTimeReportResponse(
            **{"from": report["from"].isoformat()}, to=report["to"].isoformat(), group=report["group"],
            rows=[_on_time_row(r) for r in report["rows"]], suppliers=[_on_time_row(r) for r in report["suppliers"]])

    @rpc
    def GetScorecardConfig(self, request, context):
        return config_to_proto(handlers.get_scorecard_config(self.db))

    @rpc
    def SetScorecardConfig(self, request, context):
        with self._uow(context) as uow:
            return config_to_proto(handlers.set_scorecard_config(uow, request.document))

    @rpc
    def GetPayables(self, request, context):
        return pb.GetPayablesResponse(payables=[pb.Payable(**{k: str(v) for k, v in row.items()})
                                                for row in handlers.payables(self.db)])


    # -- requisitions and approvals -----------------------------------------------------------------
    @rpc
    def CreateRequisition(self, request, context):
        cmd = requisitions.NewRequisition(
            warehouse=request.warehouse, currency=request.currency, **_facts(request.facts),
            lines=[requisitions.RequisitionLine(sku=l.sku, quantity=l.quantity, supplier=l.supplier,
                                                unit_cost=l.unit_cost, vat_rate=l.vat_rate) for l in request.lines])
        with self._uow(context) as uow:
            def apply() -> pb.RequisitionResponse:
                rid = requisitions.create(uow, cmd)
                return pb.RequisitionResponse(requisition=requisition_to_proto(requisitions.read(uow.session, rid)))
            return commands.once(uow, context, pb.RequisitionResponse, apply)

    @rpc
    def RequisitionFromSuggestions(self, request, context):
        picks = [dict(suggestion_id=p.suggestion_id, supplier=p.supplier, unit_cost=p.unit_cost, vat_rate=p.vat_rate,
                      quantity=p.quantity) for p in request.suggestions]
        cmd = requisitions.NewRequisition(warehouse="", lines=[], currency=request.currency, **_facts(request.facts))
        with self._uow(context) as uow:
            def apply() -> pb.RequisitionResponse:
                rid = requisitions.from_suggestions(uow, picks, cmd)
                return pb.RequisitionResponse(requisition=requisition_to_proto(requisitions.read(uow.session, rid)))
            return commands.once(uow, context, pb.RequisitionResponse, apply)

    @rpc
    def GetRequisition(self, request, context):
        return pb.RequisitionResponse(requisition=requisition_to_proto(requisitions.get(self.db, request.id)))

    @rpc
    def OrderRequisitions(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.OrderRequisitionsResponse:
                po_ids = requisitions.order(uow, list(request.requisition_ids))
                return pb.OrderRequisitionsResponse(purchase_orders=[
                    purchase_order_to_proto(handlers.read_purchase_order(uow.session, i)) for i in po_ids])
            return commands.once(uow, context, pb.OrderRequisitionsResponse, apply)

    @rpc
    def DecideApproval(self, request, context):
        with self._uow(context) as uow:
            def apply() -> pb.DecideApprovalResponse:
                after = approvals.decide(uow, request.document_kind, request.document_id, request.approve,
                                         request.role, request.comment)
                reply = pb.DecideApprovalResponse(approval=after)
                if request.document_kind == chains.REQUISITION:
                    reply.requisition.CopyFrom(requisition_to_proto(requisitions.read(uow.session, request.document_id)))
                else:
                    reply.purchase_order.CopyFrom(purchase_order_to_proto(
                        handlers.read_purchase_order(uow.session, request.document_id)))
                return reply
            return commands.once(uow, context, pb.DecideApprovalResponse, apply)

    @rpc
    def Delegate(self, request, context):
        errors = FieldErrors()
        starts, ends = _moment(errors, "starts_at", request.starts_at), _moment(errors, "ends_at", request.ends_at)
        errors.raise_if_any("the delegation is invalid")
        with self._uow(context) as uow:
            return pb.DelegateResponse(id=approvals.delegate(uow, request.role, request.delegate, starts, ends,
                                                             request.note))

    @rpc
    def ListWaitingApprovals(self, request, context):
        return pb.ListWaitingApprovalsResponse(steps=[step_to_proto(x) for x in
                                                      approvals.waiting(self.db, request.limit or 100)])

    @rpc
    def ApplyApprovalChain(self, request, context):
        with self._uow(context) as uow:
            return chain_to_proto(approvals.apply_chain(uow, request.document, request.note))

    @rpc
    def ListApprovalChains(self, request, context):
        return pb.ListApprovalChainsResponse(versions=[chain_to_proto(v) for v in approvals.chain_versions(self.db)])


def _text(value) -> str:
    return "" if value is None else str(value)


def _on_time_row(r: dict) -> pb.OnTimeRow:
    return pb.OnTimeRow(on_time_rate=_text(r["on_time_rate"]), **{k: v for k, v in r.items() if k != "on_time_rate"})


def scorecard_to_proto(report: dict) -> pb.GetScorecardResponse:
    return pb.GetScorecardResponse(
        **{"from": report["from"].isoformat()}, to=report["to"].isoformat(), config=json.dumps(report["config"]),
        rows=[pb.ScorecardRow(supplier=r["supplier"], name=r["name"], grade=r["grade"],
                              received_units=r["received_units"], inspected_units=r["inspected_units"],
                              **{k: _text(r[k]) for k in scorecard.KEYS}) for r in report["rows"]])


def config_to_proto(found: tuple) -> pb.ScorecardConfig:
    config, by, at = found
    return pb.ScorecardConfig(document=json.dumps(scorecard.config_json(config)), updated_by=by, updated_at=_iso(at))


ON_TIME_WINDOW_DAYS = 90  # the supplier on-time gauges look this far back


def delivery_gauges(db: Database) -> list[GaugeMetricFamily]:
    """Supplier deliveries on time at scrape time, without a supplier label (suppliers are many): the
    units and the number of suppliers that delivered late; GET /purchasing/scorecard names them."""
    timeliness = handlers.delivery_timeliness(db, ON_TIME_WINDOW_DAYS)
    units = GaugeMetricFamily("hub_procurement_received_units", f"Units received in the last {ON_TIME_WINDOW_DAYS} "
                              "days on lines with an expected date, on time or late", labels=["timeliness"])
    for key in ("on_time", "late"):
        units.add_metric([key], sum(row[key] for row in timeliness.values()))
    late = GaugeMetricFamily("hub_procurement_suppliers_late", f"Suppliers with a late delivery in the last "
                             f"{ON_TIME_WINDOW_DAYS} days")
    late.add_metric([], sum(1 for row in timeliness.values() if row["late"]))
    return [units, late]


def main(settings) -> None:
    db = Database(settings.db_url, metadata, pool_size=pool_size(settings, grpc_server.API_THREADS),
                  prepare=settings.db_prepared_statements)
    REGISTRY.register(metrics.Snapshot(lambda: delivery_gauges(db), settings.business_metrics_seconds))
    grpc_server.serve("procurement", settings.grpc_port,
                      lambda server: pb_grpc.add_ProcurementServiceServicer_to_server(
                          ProcurementServicer(db, settings.price_tolerance), server))
