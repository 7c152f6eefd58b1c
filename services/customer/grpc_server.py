"""The customer api process: gRPC servicer -> handlers (customers are created and updated by the
worker from order events; their terms are set here)."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from hubapi.customer.v1 import customer_service_pb2 as pb
from hubapi.customer.v1 import customer_service_pb2_grpc as pb_grpc
from hubkit import grpc_server, imports, metrics, money
from hubkit.db import Database, UnitOfWork, as_utc, pool_size
from hubkit.errors import InvalidArgument
from services.customer import handlers, profiles
from services.customer.config import DEV_PHONE_HASH_KEY
from services.customer.models import metadata

rpc = grpc_server.rpc("customer")


def _time(moment) -> str:
    return as_utc(moment).isoformat() if moment is not None else ""


def after_sale_to_proto(a: dict, currency: str) -> pb.AfterSale:
    return pb.AfterSale(kind=a["kind"], reference=a["reference"], reason=a["reason"],
                        amount=money.to_proto(a["amount"], a["currency"] or currency) if a["amount"] is not None
                        else None, quantity=a["quantity"] or 0, lines=a["lines"], at=_time(a["at"]))


def order_to_proto(o: dict) -> pb.CustomerOrder:
    return pb.CustomerOrder(order_id=o["order_id"], channel=o["channel"], shop=o["shop"],
                            external_order_id=o["external_order_id"], total=money.to_proto(o["total"], o["currency"]),
                            status=o["status"], placed_at=_time(o["placed_at"]), shipped_at=_time(o["shipped_at"]),
                            carrier=o.get("carrier") or "", tracking_number=o.get("tracking_number") or "",
                            after_sales=[after_sale_to_proto(a, o["currency"]) for a in o.get("after_sales", [])],
                            refunded=money.to_proto(o.get("refunded", 0), o["currency"]))


def _money(amount, currency: str):
    return money.to_proto(amount, currency or "CNY")


def customer_to_proto(c: dict, books_currency: str = "CNY") -> pb.Customer:
    """A customer (with its orders and profile when GetCustomer read them; a FindCustomers row has none)."""
    currency = c["currency"] or books_currency
    extra: dict = {}
    if "exposure" in c:
        extra = dict(
            tags=c["tags"], channels=c["channels"], merged_ids=c["merged_ids"], duplicate_ids=c["duplicate_ids"],
            notes=[pb.CustomerNote(id=n["id"], text=n["text"], written_by=n["written_by"],
                                   written_at=_time(n["written_at"])) for n in c["notes"]],
            tier_history=[pb.TierChange(tier=t["tier"], previous=t["previous"], source=t["source"],
                                        rule_set_version=t["rule_set_version"] or 0, facts=t["facts"],
                                        trace=t["trace"], changed_by=t["changed_by"], at=_time(t["at"]))
                          for t in c["tier_history"]],
            payments=[pb.CustomerPayment(voucher_id=p["voucher_id"], number=p["number"], reference=p["reference"],
                                         amount=_money(p["amount"], books_currency), at=_time(p["at"]))
                      for p in c["payments"]],
            audit=[pb.AuditEntry(action=a["action"], actor=a["actor"], at=_time(a["at"]), why=a["why"],
                                 detail=a["detail"]) for a in c["audit"]],
            exposure=_money(c["exposure"], currency), receivable=_money(c["receivable"], books_currency),
            open_orders=_money(c["open_orders"], currency),
            credit_available=str(c["available"]) if c["available"] is not None else "",
            return_rate=str(c["return_rate"]), window_days=c["window_days"], window_orders=c["window_orders"],
            window_returns=c["window_returns"])
    return pb.Customer(
        id=c["id"], channel=c["channel"], external_id=c["external_id"], name=c["name"], phone=c["phone"],
        email=c["email"], order_count=c["order_count"],
        lifetime_value=money.to_proto(c["lifetime_value"], c["currency"]),
        first_order_at=_time(c["first_order_at"]), last_order_at=_time(c["last_order_at"]),
        tier=c.get("tier") or "", credit_limit=str(c["credit_limit"]) if c.get("credit_limit") is not None else "",
        merged_into=c.get("merged_into") or "",
        orders=[order_to_proto(o) for o in c.get("orders", [])], **extra)


def rule_set_to_proto(r: dict) -> pb.TierRuleSet:
    return pb.TierRuleSet(version=r["version"], name=r["name"], note=r["note"], created_by=r["created_by"],
                          created_at=r["created_at"], in_force=r["in_force"], document=r["document"],
                          customers_retiered=r.get("retiered", {}).get("customers", 0),
                          tiers_changed=r.get("retiered", {}).get("changed", 0))


class CustomerServicer(pb_grpc.CustomerServiceServicer):
    def __init__(self, db: Database, window_days: int = 30, books_currency: str = "CNY",
                 phone_hash_key: bytes = DEV_PHONE_HASH_KEY.encode("utf-8")):
        self.db, self.window_days, self.books_currency = db, window_days, books_currency
        self.phone_hash_key = phone_hash_key  # the worker's (Settings.phone_hash_key): the same hash

    def _answer(self, customer: dict) -> pb.GetCustomerResponse:
        return pb.GetCustomerResponse(customer=customer_to_proto(customer, self.books_currency))

    def _change(self, context, change) -> pb.GetCustomerResponse:
        """Run `change(uow) -> customer id` in one transaction and answer the customer as it left it."""
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            customer_id = change(uow)
            return self._answer(handlers.get_customer_in(uow.session, customer_id, self.window_days))

    @rpc
    def GetCustomer(self, request, context):
        grpc_server.caller(context)
        return self._answer(handlers.get_customer(self.db, request.id, self.window_days))

    @rpc
    def FindCustomers(self, request, context):
        grpc_server.caller(context)
        found = handlers.find_customers(self.db, request.channel, request.external_id, request.phone,
                                        request.order_id, request.limit)
        return pb.FindCustomersResponse(customers=[customer_to_proto(c, self.books_currency) for c in found])

    @rpc
    def SetCustomerTerms(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        limit = _credit_limit(request.credit_limit)
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            customer = handlers.set_terms(uow, request.id, request.tier, limit)
            return self._answer(customer)

    @rpc
    def SetBuyerTerms(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        limit = _credit_limit(request.credit_limit)
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            customer = handlers.set_buyer_terms(uow, request.channel, request.external_id, request.tier, limit)
            return self._answer(customer)

    @rpc
    def ImportCustomers(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        rows = [dict(row=r.row, channel=r.channel, external_id=r.external_id, tier=r.tier,
                     credit_limit=r.credit_limit, name=r.name, phone=r.phone) for r in request.rows]
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            return imports.command(uow, context, request.dry_run, lambda: handlers.import_customers(
                uow, rows, self.phone_hash_key, request.dry_run), "import_customers")

    @rpc
    def MergeCustomers(self, request, context):
        return self._change(context, lambda uow: profiles.merge(uow, request.id, request.into, request.why))

    @rpc
    def UnmergeCustomer(self, request, context):
        return self._change(context, lambda uow: profiles.unmerge(uow, request.id, request.why))

    @rpc
    def TagCustomer(self, request, context):
        return self._change(context, lambda uow: profiles.tag(uow, request.id, request.tag, request.remove))

    @rpc
    def AddCustomerNote(self, request, context):
        return self._change(context, lambda uow: profiles.add_note(uow, request.id, request.text))

    @rpc
    def ApplyTierRules(self, request, context):
        actor, correlation_id = grpc_server.caller(context)
        with UnitOfWork(self.db, "customer", actor, correlation_id) as uow:
            return rule_set_to_proto(profiles.apply_tier_rules(uow, request.document, request.note))

    @rpc
    def ListTierRules(self, request, context):
        grpc_server.caller(context)
        return pb.ListTierRulesResponse(versions=[rule_set_to_proto(r) for r in profiles.tier_rule_versions(self.db)])

    @rpc
    def TierToRules(self, request, context):
        return self._change(context, lambda uow: profiles.tier_to_rules(uow, request.id, request.why))

    @rpc
    def ExplainTier(self, request, context):
        grpc_server.caller(context)
        return pb.ExplainTierResponse(**profiles.explain_tier(self.db, request.id))


def _credit_limit(text: str):
    """The request's credit limit: None when empty (no limit)."""
    if not text:
        return None
    try:
        return money.to_decimal(text)
    except ValueError:
        raise InvalidArgument("the customer terms are invalid",
                              [{"field": "credit_limit", "message": "a decimal amount such as 5000.00"}])


def customer_gauges(db: Database) -> list[GaugeMetricFamily]:
    family = GaugeMetricFamily("hub_customers", "Customers by tier", labels=["tier"])
    for tier, count in sorted(handlers.count_by_tier(db).items()):
        family.add_metric([tier], count)
    return [family]


def main(settings) -> None:
    db = Database(settings.db_url, metadata, pool_size=pool_size(settings, grpc_server.API_THREADS),
                  prepare=settings.db_prepared_statements)
    REGISTRY.register(metrics.Snapshot(lambda: customer_gauges(db), settings.business_metrics_seconds))
    grpc_server.serve("customer", settings.grpc_port,
                      lambda server: pb_grpc.add_CustomerServiceServicer_to_server(
                          CustomerServicer(db, settings.return_window_days, settings.base_currency,
                                           settings.phone_hash_key.get_secret_value().encode("utf-8")), server))
