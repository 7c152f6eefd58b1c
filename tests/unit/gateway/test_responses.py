"""Every operation answers through its response model with nothing lost: the services are fakes
whose replies have every field set, and response models forbid extra fields, so a field a presenter
returns that its model does not declare (or a value of the wrong type) fails here, where FastAPI
would otherwise drop it silently."""
from __future__ import annotations

import json
import re
import time

import pytest
from fastapi.testclient import TestClient
from google.protobuf import message_factory

from hubapi.accounting.v1 import accounting_service_pb2
from hubapi.customer.v1 import customer_service_pb2
from hubapi.inventory.v1 import inventory_reports_pb2
from hubapi.inventory.v1 import inventory_service_pb2 as inv
from hubapi.ledger.v1 import ledger_service_pb2
from hubapi.notify.v1 import notify_service_pb2
from hubapi.order.v1 import order_service_pb2, review_service_pb2
from hubapi.procurement.v1 import procurement_service_pb2 as pro
from hubapi.shops.v1 import shop_service_pb2

# A decimal, so that presenters summing or rounding amounts can; other strings do not care.
SAMPLE = {"string": "1.50", "bytes": b"PK", "bool": True, "double": 1.5, "float": 1.5, "int": 7}


def _sample(field):
    if field.type == field.TYPE_STRING:
        return SAMPLE["string"]
    if field.type == field.TYPE_BYTES:
        return SAMPLE["bytes"]
    if field.type == field.TYPE_BOOL:
        return SAMPLE["bool"]
    if field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
        return SAMPLE["double"]
    return SAMPLE["int"]


def filled(cls, **values):
    """A message with every field set (one element in each list and map), but for `values`."""
    msg = cls(**values)
    for f in cls.DESCRIPTOR.fields:
        if f.name in values:
            continue
        target = getattr(msg, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            target["0-30"] = SAMPLE["string"]
        elif f.message_type is not None:
            sub = filled(message_factory.GetMessageClass(f.message_type))
            (target.add() if f.is_repeated else target).CopyFrom(sub)
        elif f.is_repeated:
            target.append(_sample(f))
        else:
            setattr(msg, f.name, _sample(f))
    return msg


class FakeService:
    """Answers every call of a gRPC service with a filled reply, or with what an override returns."""

    def __init__(self, module, service: str, **overrides):
        methods = module.DESCRIPTOR.services_by_name[service].methods
        self._replies = {m.name: message_factory.GetMessageClass(m.output_type) for m in methods}
        self._overrides = overrides

    def __getattr__(self, name):
        reply = self._replies[name]
        override = self._overrides.get(name)
        return lambda request, metadata=None, **_: override(request) if override else filled(reply)


def _inventory():
    return FakeService(
        inv, "InventoryService",
        GetSkus=lambda r: inv.GetSkusResponse(skus=[inv.Sku(code=c) for c in r.codes]),  # known, untracked
        Scan=lambda r: filled(inv.ScanResponse, kind="sku"),  # an item's barcode
        # a wave whose order o1 is packed: it may ship, and a pack scan packs it
        GetWave=lambda r: filled(inv.Wave, orders=[filled(inv.WaveOrder, order_id="o1", status="packed")]),
        PackWave=lambda r: filled(inv.PackWaveResponse, order_status="packed"))


def _succeeded(result_cls, requests):
    """A batch reply with a filled result per item, none of them refused (the refusals come from the gateway)."""
    results = []
    for _ in requests:
        result = filled(result_cls)
        result.ClearField("error")
        results.append(result)
    return results


def _order():
    pb = order_service_pb2
    return FakeService(pb, "OrderService",
                       GetIntake=lambda r: pb.GetIntakeResponse(),  # not behind: new orders are taken
                       PlaceOrders=lambda r: pb.PlaceOrdersResponse(results=_succeeded(pb.PlaceOrderResult, r.orders)),
                       ShipOrders=lambda r: pb.ShipOrdersResponse(results=_succeeded(pb.ShipOrderResult, r.shipments)),
                       HoldOrders=lambda r: pb.OrderActionsResponse(results=_succeeded(pb.OrderActionResult, r.items)),
                       ReleaseHolds=lambda r: pb.OrderActionsResponse(results=_succeeded(pb.OrderActionResult, r.items)),
                       RejectOrders=lambda r: pb.OrderActionsResponse(results=_succeeded(pb.OrderActionResult, r.items)),
                       GetOrderAudit=lambda r: pb.GetOrderAuditResponse(
                           entries=[filled(pb.AuditEntry, detail='{"status_before": "reserved"}')]),
                       **{name: lambda r: _rma() for name in ("CreateRma", "GetRma", "ReceiveRma", "InspectRma",
                                                              "SettleRma")})


def _rma():
    pb = order_service_pb2
    return pb.RmaResponse(rma=filled(pb.Rma, steps=[filled(pb.AuditEntry, detail='{"rma_id": "r1"}')]), created=True)


def _review():
    """Its JSON fields (a rule set's document, a decision's facts, trace and actions) hold JSON."""
    pb = review_service_pb2

    def version():
        return filled(pb.RuleSetVersion, document='{"name": "x", "rules": []}')
    return FakeService(pb, "ReviewService", ApplyRuleSet=lambda r: version(), RollBackRuleSet=lambda r: version(),
                       ListRuleSets=lambda r: pb.ListRuleSetsResponse(versions=[version()]),
                       ListDecisions=lambda r: pb.ListDecisionsResponse(decisions=[filled(
                           pb.Decision, facts='{"amount": "1.50"}', trace='[{"rule": "r", "matched": true}]',
                           actions='[{"rule": "r", "kind": "approve"}]')]))


def _customer():
    """Its JSON fields (a tier change's facts and trace, an audit entry's detail, a tier rule set) hold JSON."""
    pb = customer_service_pb2

    def customer():
        return filled(pb.Customer, tier_history=[filled(pb.TierChange, facts='{"spend": "1.50"}',
                                                        trace='[{"tier": "vip", "matched": true}]')],
                      audit=[filled(pb.AuditEntry, detail='{"into": "c1"}')])

    def answer(r):
        return pb.GetCustomerResponse(customer=customer())

    def rule_set():
        return filled(pb.TierRuleSet, document='{"name": "x", "tiers": []}')
    return FakeService(pb, "CustomerService", GetCustomer=answer, SetCustomerTerms=answer, SetBuyerTerms=answer,
                       MergeCustomers=answer, UnmergeCustomer=answer, TagCustomer=answer, AddCustomerNote=answer,
                       TierToRules=answer,
                       ApplyTierRules=lambda r: rule_set(),
                       ListTierRules=lambda r: pb.ListTierRulesResponse(versions=[rule_set()]),
                       ExplainTier=lambda r: filled(pb.ExplainTierResponse, facts='{"spend": "1.50"}',
                                                    trace='[{"tier": "vip", "matched": true}]'))


def _procurement():
    """Its JSON fields (a suggestion's terms, a plan, a demand rule set) hold JSON."""
    alerts = [filled(pro.StockAlert, kind="lot_expiring"), filled(pro.StockAlert, kind="lot_hold_changed")]
    def chain():
        return filled(pro.ApprovalChainVersion, document='{"name": "x", "steps": []}')

    def suggestion():
        return filled(pro.PurchaseSuggestion, terms_json='{"quantity": 5, "basis": "velocity"}')
    rules = pro.DemandRules(version=1, document='{"name": "x", "rules": []}')
    return FakeService(pro, "ProcurementService",
                       ListStockAlerts=lambda r: pro.ListStockAlertsResponse(alerts=alerts),
                       ListSuggestions=lambda r: pro.ListSuggestionsResponse(suggestions=[suggestion()]),
                       DismissSuggestion=lambda r: pro.DismissSuggestionResponse(suggestion=suggestion()),
                       SetReplenishmentTerms=lambda r: pro.SetReplenishmentTermsResponse(
                           plan_json='{"quantity": 5}', suggestion=suggestion(), suggested=True),
                       GetDemandRules=lambda r: rules, PutDemandRules=lambda r: rules,
                       ApplyApprovalChain=lambda r: chain(),
                       ListApprovalChains=lambda r: pro.ListApprovalChainsResponse(versions=[chain()]))


ADDRESS = {"recipient": "Li Lei", "street": "1 Road"}
LINE = {"sku": "TEA", "quantity": 1, "unit_price": "1.00"}
BODIES = {
    "POST /purchasing/inspections/{inspection_id}/result": {"passed": 7, "failed": 3, "disposition": "scrap"},
    "PUT /purchasing/scorecard/config": {"weights": {"on_time": "0.5", "fill": "0.5", "quality": "0"},
                                         "bands": [{"grade": "A", "min": "50", "max": "100"},
                                                   {"grade": "B", "min": "0", "max": "50"}]},
    "POST /orders": {"channel": "web", "shop": "s1", "external_order_id": "e1", "shipping_address": ADDRESS,
                     "lines": [LINE]},
    "POST /orders/batch": {"orders": [{"channel": "web", "shop": "s1", "external_order_id": "e1",
                                       "shipping_address": ADDRESS, "lines": [LINE]}, {"lines": []}]},
    "POST /shipments/batch": {"shipments": [{"order_id": "o1", "carrier": "SF", "tracking_number": "SF1234"},
                                            {"order_id": "o2"}]},
    "POST /orders/{order_id}/shipment": {"carrier": "SF", "tracking_number": "SF1234"},
    "POST /orders/{order_id}/returns": {},
    "POST /orders/{order_id}/refunds": {"lines": [{"line_no": 1, "amount": "1.00"}], "reason": "dented"},
    "POST /rmas": {"order_id": "o1", "kind": "exchange", "lines": [{"line_no": 1, "quantity": 1}],
                   "external_id": "TB-R1"},
    "POST /rmas/{rma_id}/receive": {"warehouse": "SH", "scans": [{"sku": "TEA"}]},
    "POST /rmas/{rma_id}/inspect": {"lines": [{"line_no": 1, "resellable": 1}]},
    "POST /rmas/{rma_id}/settle": {},
    "POST /orders/{order_id}/holds": {"reason": "manual", "note": "call the buyer"},
    "POST /orders/{order_id}/release": {},
    "POST /orders/{order_id}/reject": {},
    "POST /orders/{order_id}/shipping-address": {"shipping_address": ADDRESS},
    "POST /orders/{order_id}/warehouse": {"warehouse": "SH"},
    "POST /orders/holds:release": {"order_ids": ["o1", "o2"]},
    "POST /orders/holds:place": {"filter": {"status": "reserved"}, "reason": "address_check", "note": "verify"},
    "POST /orders/holds:reject": {"reason": "manual"},
    "POST /skus": {"code": "TEA", "name": "Tea"},
    "POST /warehouses": {"code": "SH", "name": "Shanghai"},
    "PUT /allocation-rules": {"coverage": [{"province": "Zhejiang", "warehouses": ["SH"]}],
                              "shops": [{"channel": "jd", "warehouses": ["SH"]}]},
    "POST /stock/receipts": {"sku": "TEA", "warehouse": "SH", "quantity": 1},
    "POST /stock/adjustments": {"sku": "TEA", "warehouse": "SH", "reason": "count", "quantity": 1},
    "POST /warehouses/{code}/bins": {"codes": ["A-01"]},
    "PUT /stock/limits": {"sku": "TEA", "warehouse": "SH", "minimum": 1, "maximum": 2},
    "POST /stock/moves": {"sku": "TEA", "warehouse": "SH", "from_bin": "A", "to_bin": "B", "quantity": 1},
    "POST /kits/{kit_sku}/assemble": {"warehouse": "SH", "quantity": 1},
    "POST /kits/{kit_sku}/disassemble": {"warehouse": "SH", "quantity": 1},
    "POST /transfers": {"from_warehouse": "SH", "to_warehouse": "BJ", "lines": [{"sku": "TEA", "quantity": 1}]},
    "POST /counts": {"warehouse": "SH"},
    "POST /scan/lookup": {"warehouse": "SH", "code": "TEA"},
    "POST /scan/receive": {"warehouse": "SH", "bin": "A", "code": "TEA", "quantity": 1, "unit_cost": "1"},
    "POST /scan/pick": {"order_id": "o1", "line_no": 1, "warehouse": "SH", "bin": "A", "code": "TEA"},
    "POST /waves": {"warehouse": "SH", "max_orders": 10},
    "POST /waves/{wave_id}/pack": {"order_id": "o1", "code": "TEA"},
    "POST /waves/{wave_id}/ship": {"order_id": "o1", "carrier": "SF", "tracking_number": "SF0001"},
    "POST /scan/move": {"warehouse": "SH", "from_bin": "A", "to_bin": "B", "code": "TEA"},
    "POST /scan/count": {"count_id": "c1", "bin": "A", "code": "TEA"},
    "POST /suppliers": {"code": "S1", "name": "Supplier"},
    "PUT /purchasing/replenishment/{sku}/{warehouse}": {"lead_time_days": 5, "supplier": "S1"},
    "PUT /purchasing/demand-rules": {"document": {"name": "x", "rules": []}},
    "POST /purchasing/suggestions/purchase-order": {"warehouse": "SH", "supplier": "S1"},
    "POST /purchase-orders": {"supplier": "S1", "warehouse": "SH",
                              "lines": [{"sku": "TEA", "quantity": 1, "unit_cost": "1"}]},
    "POST /purchase-orders/{purchase_order_id}/receipts": {},
    "POST /purchase-orders/{purchase_order_id}/returns": {"lines": [{"line_no": 1, "quantity": 1}]},
    "POST /purchase-orders/{purchase_order_id}/invoices": {"supplier": "S1", "lines": [
        {"line_no": 1, "quantity": 1, "unit_price": "1.04"}]},
    "POST /receipts/{receipt_id}/landed-costs": {"supplier": "SF", "charge": "freight", "amount": "10.00"},
    "POST /requisitions": {"warehouse": "SH", "category": "office",
                           "lines": [{"sku": "TEA", "quantity": 1, "supplier": "S1", "unit_cost": "1"}]},
    "POST /requisitions/from-suggestions": {"suggestions": [{"suggestion_id": "0" * 32, "supplier": "S1",
                                                             "unit_cost": "1"}]},
    "POST /requisitions/purchase-orders": {"requisition_ids": ["r1"]},
    "POST /requisitions/{requisition_id}/approve": {},
    "POST /requisitions/{requisition_id}/reject": {"comment": "too dear"},
    "POST /purchase-orders/{purchase_order_id}/approve": {"comment": "fine"},
    "POST /purchase-orders/{purchase_order_id}/reject": {"comment": "too dear"},
    "POST /purchasing/delegations": {"delegate": "bob", "starts_at": "2026-12-01", "ends_at": "2026-12-08T00:00:00Z"},
    "POST /purchasing/approval-chains": {"document": "name: x\nsteps: [{id: a, approver: {role: dept_manager}}]\n"},
    "POST /accounting/payments": {"direction": "paid", "counterparty": "supplier:S1", "amount": "1.00",
                                  "business_date": "2024-01-01", "reference": "r1"},
    "POST /accounting/settlements": {"channel": "taobao", "shop": "s1", "reference": "r1",
                                     "business_date": "2024-01-01", "gross": "1.00"},
    "POST /accounting/opening-balances": {"business_date": "2024-01-01", "lines": [{"account": "1001", "debit": "1"}]},
    "POST /accounting/vouchers/{voucher_id}/reversal": {},
    "POST /accounting/exchange-rates": {"currency": "USD", "valid_from": "2024-01-01", "rate": "7.1"},
    "PUT /ledger/mappings/{ledger}/{hub_account}": {"ledger_account": "1001"},
    "PUT /connectors/{platform}/sku-mappings/{outer_sku}": {"components": [{"sku": "TEA"}]},
    "POST /review/rule-sets/validate": {"document": {"name": "x", "rules": []}},
    "POST /review/rule-sets": {"document": "name: x\nrules: []\n"},
    "POST /review/replay": {"document": {"name": "x"}, "since": "2026-01-01T00:00:00+08:00",
                            "until": "2026-02-01T00:00:00+08:00"},
    "PUT /customers/{customer_id}/terms": {"tier": "vip", "credit_limit": "5000.00"},
    "PUT /price-lists/{code}": {"name": "Retail", "lines": [{"sku": "TEA-001", "unit_price": "59.90"}]},
    "PUT /customers/terms": {"channel": "storefront", "external_id": "B-1", "tier": "vip", "credit_limit": "5000.00"},
    "POST /customers/{customer_id}/merge": {"into": "c2", "why": "the same buyer on two shops"},
    "POST /customers/{customer_id}/unmerge": {"why": "two people"},
    "POST /customers/{customer_id}/tags": {"tag": "business"},
    "POST /customers/{customer_id}/notes": {"text": "prefers SF"},
    "POST /customer-tiers/rules": {"document": {"name": "x", "tiers": [{"tier": "vip", "when": "spend > 1"}]}},
}
_PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}
QUERIES = {"GET /customers": {"phone": "13800000000"}, "GET /price-lists/price": {"sku": "TEA-001"},
            "GET /stock/reports/slow-movers": {"days": 30},
           "GET /purchasing/scorecard": _PERIOD,
           "GET /print/customer-statements/{customer_id}.pdf": {"period": "2026-03"}, "GET /purchasing/scorecard.xlsx": _PERIOD,
           "GET /stock/reports/turnover": {"date_from": "2024-01-01", "date_to": "2024-01-31"},
           "GET /stock/reports/turnover.xlsx": {"date_from": "2024-01-01", "date_to": "2024-01-31"},
           "GET /stock/reports/slow-movers.xlsx": {"days": 30}, "GET /stock/reports/forecast": {"horizon": 7},
           "GET /stock/reports/forecast.xlsx": {"horizon": 7},
           "GET /purchasing/on-time": _PERIOD, "GET /purchasing/on-time.xlsx": _PERIOD,
           "GET /kpis/sales": _PERIOD, "GET /kpis/sales.xlsx": _PERIOD, "GET /kpis/customers/abc": _PERIOD,
           "GET /kpis/customers/abc.xlsx": _PERIOD}
PATH_VALUES = {"platform": "taobao", "version": "1", "kind": "skus"}  # any other path parameter: "SH" fits every pattern


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from gateway import auth, webhooks
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata as gateway_metadata
    from hubkit import settings as hub_settings
    from hubkit.db import Database

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path_factory.mktemp("responses"))})
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    admin = {"X-API-Key": auth.add_user(gateway_db, "admin", "admin")}
    secret = webhooks.add_storefront(gateway_db, "SH")
    clients = Clients(
        order=_order(), inventory=_inventory(), procurement=_procurement(),
        customer=_customer(),
        accounting=FakeService(accounting_service_pb2, "AccountingService"),
        ledger=FakeService(ledger_service_pb2, "LedgerService"),
        shops={"taobao": FakeService(shop_service_pb2, "ShopConnectorService")}, channels=[],
        inventory_reports=FakeService(inventory_reports_pb2, "InventoryReports"), review=_review(),
        notify=FakeService(notify_service_pb2, "NotifyService"))
    app = create_app(settings, clients)
    with TestClient(app) as http:
        yield app, http, admin, secret
    gateway_db.dispose()


def _operations(app):
    for path, item in app.openapi()["paths"].items():
        for method in item:
            yield f"{method.upper()} {path}", method.upper(), path


def _call(http, admin, secret, name, method, path):
    from gateway import webhooks

    if name == "POST /webhooks/storefront/{storefront}":
        body = json.dumps({"external_order_id": "e1", "version": 1, "status": "paid", "shipping_address": ADDRESS,
                           "lines": [LINE]}).encode()
        stamp = str(int(time.time()))
        return http.post(path, content=body, headers={"X-Hub-Timestamp": stamp, "content-type": "application/json",
                                                       "X-Hub-Signature": "sha256=" + webhooks.signature(
                                                           secret, stamp, body)})
    if name == "POST /imports/{kind}":  # a file, not JSON: the template as the merchant fills it
        from gateway.areas.imports import engine
        return http.post(path, content=engine.template_csv("skus"), headers={**admin, "content-type": "text/csv"},
                         params={"dry_run": "true"})
    return http.request(method, path, json=BODIES.get(name), params=QUERIES.get(name), headers=admin)


def test_every_operation_answers_every_field(hub):
    app, http, admin, secret = hub
    seen = 0
    for name, method, template in _operations(app):
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m[1], "SH"), template)
        reply = _call(http, admin, secret, name, method, path)  # a field a model forgets raises here
        assert 200 <= reply.status_code < 300, (name, reply.status_code, reply.text)
        seen += 1
    # 75, allocation's (3), the holds routes (9), review's (6), a customer's terms (1), double check (1),
    # unmerge (1), change warehouse (1), pick waves (4), the notifications' delivery log and re-send (2),
    # RMAs (5: create, get, receive, inspect, settle); supplier invoices, landed costs and the provisional list (3);
    # replenishment terms, demand rules (get, put), a purchase order from suggestions (4);
    # incoming inspection (3), the supplier scorecard, its workbook and its bands (4);
    # requisitions and approvals (12); cancel a parcel's waybill (1); the turnover and slow movers workbooks,
    # the sales forecast and its workbook (4); the supplier on-time KPI and its workbook (2);
    # the sales KPIs and their workbooks (4); printed documents (6, and a wave's 3 batches);
    # one customer across channels (merge, unmerge, tag, untag, note, tier explained, tier rules listed and
    # applied: 8); imports: two templates and the import (3); a tier handed back to the rules (1);
    # price lists: put, list, get, the price that applies (4)
    assert seen == 173


def test_a_forgotten_field_fails(hub, monkeypatch, caplog):
    """The net has no hole: a presenter returning a field its model does not declare is an error
    (logged; the client gets a 500 problem that says nothing of the inside)."""
    from fastapi.exceptions import ResponseValidationError

    from gateway.areas.stock import routes
    from gateway.common.presenters import level_json

    _, http, admin, _ = hub
    monkeypatch.setattr(routes, "level_json", lambda level: {**level_json(level), "new_field": 1})
    reply = http.get("/stock/TEA", headers=admin)
    assert (reply.status_code, reply.headers["content-type"]) == (500, "application/problem+json")
    assert "new_field" not in reply.text
    assert any(r.exc_info and isinstance(r.exc_info[1], ResponseValidationError) for r in caplog.records)
