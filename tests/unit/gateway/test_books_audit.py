"""The books against the stock and the documents through the gateway: real in-process gRPC servers
of inventory, procurement, order and accounting on SQLite, the FastAPI app in front of them, and the
bus played by hand: the outbox events are handed to accounting's posting handlers only when the
test says so."""
from __future__ import annotations

from concurrent import futures
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import grpc
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from gateway.areas.audit import books
from hubkit import clock
from hubkit.db import Database, UnitOfWork
from hubkit.envelope import Envelope

POSTINGS = {"stock_received": "post_stock_receipt", "stock_transferred": "post_stock_transfer",
            "purchase_received": "post_purchase", "order_shipped": "post_sale",
            "order_returned": "post_sales_return"}


@pytest.fixture
def stack(tmp_path):
    from gateway import auth
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata as gateway_metadata
    from hub import components
    from hubapi.accounting.v1 import accounting_service_pb2_grpc
    from hubapi.inventory.v1 import inventory_service_pb2_grpc
    from hubapi.order.v1 import order_service_pb2_grpc
    from hubapi.procurement.v1 import procurement_service_pb2_grpc
    from services.accounting import chart
    from services.accounting import handlers as accounting_handlers
    from services.accounting.grpc_server import AccountingServicer
    from services.accounting.models import metadata as accounting_metadata
    from services.inventory.grpc_server import InventoryServicer
    from services.inventory.models import metadata as inventory_metadata
    from services.order.grpc_server import OrderServicer
    from services.order.models import metadata as order_metadata
    from services.procurement.grpc_server import ProcurementServicer
    from services.procurement.models import metadata as procurement_metadata

    settings = components.settings({"HUB_VAR_DIR": str(tmp_path)})
    inventory_db = Database(settings.db_url("inventory"), inventory_metadata)
    accounting_db = Database(settings.db_url("accounting"), accounting_metadata)
    procurement_db = Database(settings.db_url("procurement"), procurement_metadata)
    order_db = Database(settings.db_url("order"), order_metadata)
    order_metadata.create_all(order_db.engine)
    inventory_metadata.create_all(inventory_db.engine)
    procurement_metadata.create_all(procurement_db.engine)
    accounting_metadata.create_all(accounting_db.engine)
    rules, accounts = chart.rules(settings["accounting"])
    accounting_handlers.ensure_chart(accounting_db, accounts)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    inventory_service_pb2_grpc.add_InventoryServiceServicer_to_server(
        InventoryServicer(inventory_db, settings["inventory"]), server)
    accounting_service_pb2_grpc.add_AccountingServiceServicer_to_server(AccountingServicer(accounting_db, rules),
                                                                         server)
    procurement_service_pb2_grpc.add_ProcurementServiceServicer_to_server(ProcurementServicer(procurement_db), server)
    order_service_pb2_grpc.add_OrderServiceServicer_to_server(OrderServicer(order_db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    keys = {role: {"X-API-Key": auth.add_user(gateway_db, role, role)} for role in ("warehouse", "finance", "admin",
                                                                                          "dept_manager")}
    clients = Clients(order=order_service_pb2_grpc.OrderServiceStub(channel),
                      inventory=inventory_service_pb2_grpc.InventoryServiceStub(channel),
                      procurement=procurement_service_pb2_grpc.ProcurementServiceStub(channel), customer=None,
                      accounting=accounting_service_pb2_grpc.AccountingServiceStub(channel), ledger=None, shops={},
                      channels=[channel])
    delivered: set[str] = set()

    def deliver() -> int:
        """Hand accounting every event it posts not delivered yet, as its worker would."""
        count = 0
        for db in (inventory_db, procurement_db, order_db):
            outbox = db.metadata.tables["outbox"]
            with db.reader() as s:
                rows = s.execute(select(outbox.c.body).order_by(outbox.c.id)).scalars().all()
            for body in rows:
                envelope = Envelope.from_json(body)
                if envelope.event_id in delivered or envelope.type not in POSTINGS:
                    continue
                with UnitOfWork(accounting_db, "accounting", "bus", "test") as uow:
                    getattr(accounting_handlers, POSTINGS[envelope.type])(uow, envelope, rules)
                delivered.add(envelope.event_id)
                count += 1
        return count

    with TestClient(create_app(settings["gateway"], clients)) as http:
        admin = keys["admin"]
        for code in ("SH", "BJ"):
            assert http.post("/warehouses", json={"code": code, "name": code}, headers=admin).status_code in (200, 201)
        assert http.post("/skus", json={"code": "MUG", "name": "Mug"}, headers=admin).status_code in (200, 201)
        yield SimpleNamespace(http=http, keys=keys, deliver=deliver, order_db=order_db)
    channel.close()
    server.stop(None)
    for db in (gateway_db, inventory_db, procurement_db, order_db, accounting_db):
        db.dispose()


@pytest.fixture
def hub(stack):
    return stack.http, stack.keys, stack.deliver


def audit(http, keys) -> dict:
    reply = http.get("/audit/books", headers=keys["finance"])
    assert reply.status_code == 200, reply.text
    return reply.json()


def rows(body) -> list[tuple]:
    return [(r["cost_centre"], r["books"], r["stock"], r["difference"], r["status"]) for r in body["inventory"]]


def test_books_agree_with_the_stock_once_every_event_is_posted_also_while_goods_travel(hub):
    http, keys, deliver = hub
    staff = keys["warehouse"]
    assert http.post("/stock/receipts", json={"sku": "MUG", "warehouse": "SH", "quantity": 5, "unit_cost": "4.00"},
                     headers=staff).status_code == 201
    # the receipt's voucher is still on the bus: a difference, in flight
    assert rows(audit(http, keys)) == [("warehouse:SH", "0.00", "20.00", "-20.00", "in_flight"),
                                       ("transit", "0.00", "0.00", "0.00", "agrees")]
    assert deliver() == 1
    body = audit(http, keys)
    assert (body["agrees"], body["diverged"], body["accounts"], body["payables"]) == (
        True, False, {"inventory": "1405", "goods_in_transit": "1405", "payable": "2202", "receivable": "1122"}, [])

    shipped = http.post("/transfers", json={"from_warehouse": "SH", "to_warehouse": "BJ",
                                            "lines": [{"sku": "MUG", "quantity": 3}]}, headers=staff)
    assert shipped.status_code == 201, shipped.text
    assert deliver() == 1
    # on the road: 12.00 in goods in transit, and in the stock value as in transit
    assert rows(audit(http, keys)) == [("warehouse:SH", "8.00", "8.00", "0.00", "agrees"),
                                       ("transit", "12.00", "12.00", "0.00", "agrees")]
    assert http.post(f"/transfers/{shipped.json()['transfer_id']}/receive", headers=staff).status_code == 200
    assert deliver() == 1
    assert rows(audit(http, keys)) == [("warehouse:BJ", "12.00", "12.00", "0.00", "agrees"),
                                       ("warehouse:SH", "8.00", "8.00", "0.00", "agrees"),
                                       ("transit", "0.00", "0.00", "0.00", "agrees")]


def test_a_difference_two_runs_find_unchanged_is_diverged_and_reaches_the_gauge(hub):
    http, keys, _deliver = hub
    assert http.post("/stock/receipts", json={"sku": "MUG", "warehouse": "BJ", "quantity": 2, "unit_cost": "3.50"},
                     headers=keys["warehouse"]).status_code == 201
    monitor: books.Monitor = http.app.state.books_monitor
    found = [{**r, "difference": Decimal(r["difference"])} for r in audit(http, keys)["inventory"]]
    first = clock.now()
    monitor.record({"inventory": found}, first)
    assert rows(audit(http, keys))[0] == ("warehouse:BJ", "0.00", "7.00", "-7.00", "in_flight")
    assert REGISTRY.get_sample_value("hub_books_stock_difference", {"cost_centre": "warehouse:BJ"}) == 0.0
    monitor.record({"inventory": found}, first + timedelta(seconds=60))  # the next run: the same, a lost voucher
    body = audit(http, keys)
    assert rows(body)[0] == ("warehouse:BJ", "0.00", "7.00", "-7.00", "diverged")
    assert (body["diverged"], body["inventory"][0]["diverged_since"]) == (True, first.isoformat())
    assert REGISTRY.get_sample_value("hub_books_stock_difference", {"cost_centre": "warehouse:BJ"}) == -7.0
    monitor.record({"inventory": [{**found[0], "difference": Decimal("0.00")}]}, first + timedelta(seconds=120))
    assert REGISTRY.get_sample_value("hub_books_stock_difference", {"cost_centre": "warehouse:BJ"}) == 0.0


def test_the_books_audit_is_for_finance_and_admin(hub):
    http, keys, _ = hub
    refused = http.get("/audit/books", headers=keys["warehouse"])
    assert (refused.status_code, refused.headers["content-type"]) == (403, "application/problem+json")


def payables(body) -> list[tuple]:
    return [(r["counterparty"], r["books"], r["documents"], r["difference"], r["status"]) for r in body["payables"]]


def test_the_payable_agrees_with_the_open_purchase_documents_and_payments(hub):
    http, keys, deliver = hub
    admin, finance = keys["admin"], keys["finance"]
    for supplier in ("ACME", "FAR"):
        assert http.post("/suppliers", json={"code": supplier, "name": supplier}, headers=admin).status_code == 201
    po = http.post("/purchase-orders", json={"supplier": "ACME", "warehouse": "SH", "lines": [
        {"sku": "MUG", "quantity": 10, "unit_cost": "4.00"}]}, headers=admin)
    assert po.status_code == 201, po.text
    assert http.post(f"/purchase-orders/{po.json()['id']}/approve", json={},
                     headers=keys["dept_manager"]).status_code == 200
    received = http.post(f"/purchase-orders/{po.json()['id']}/receipts", json={}, headers=admin)
    assert received.status_code == 201, received.text
    # 40.00 + 13% VAT = 45.20 received; its voucher is still on the bus
    assert payables(audit(http, keys)) == [("supplier:ACME", "0.00", "45.20", "-45.20", "in_flight")]
    deliver()
    assert payables(audit(http, keys)) == [("supplier:ACME", "45.20", "45.20", "0.00", "agrees")]
    paid = http.post("/accounting/payments", json={"direction": "paid", "counterparty": "supplier:ACME",
                                                   "amount": "20.00", "business_date": "2026-11-20",
                                                   "reference": "BANK-1"}, headers=finance)
    assert paid.status_code == 201, paid.text
    assert payables(audit(http, keys)) == [("supplier:ACME", "25.20", "25.20", "0.00", "agrees")]
    # a purchase voucher reversed by hand leaves the books short of what the documents say is owed
    [purchase] = [v for v in http.get("/accounting/vouchers", headers=finance).json()["vouchers"]
                  if v["kind"] == "purchase"]
    assert http.post(f"/accounting/vouchers/{purchase['id']}/reversal", json={"business_date": "2026-11-21"},
                     headers=finance).status_code == 201
    assert payables(audit(http, keys)) == [("supplier:ACME", "-20.00", "25.20", "-45.20", "in_flight")]
    # purchases in another currency are the books' to convert: listed, not compared
    assert http.post("/accounting/exchange-rates", json={"currency": "USD", "valid_from": "2026-01-01", "rate": "7.1"},
                     headers=finance).status_code in (200, 201)
    usd = http.post("/purchase-orders", json={"supplier": "FAR", "warehouse": "SH", "currency": "USD", "lines": [
        {"sku": "MUG", "quantity": 1, "unit_cost": "2.00", "vat_rate": "0"}]}, headers=admin)
    assert http.post(f"/purchase-orders/{usd.json()['id']}/approve", json={},
                     headers=keys["dept_manager"]).status_code == 200
    assert http.post(f"/purchase-orders/{usd.json()['id']}/receipts", json={}, headers=admin).status_code == 201
    assert payables(audit(http, keys))[1] == ("supplier:FAR", "0.00", "2.00", None, "not_compared")


def receivables(body) -> list[tuple]:
    return [(r["counterparty"], r["books"], r["documents"], r["difference"], r["status"]) for r in body["receivables"]]


def ship(stack, order: dict) -> None:
    """Inventory's reservation played by hand, then the shipment through the gateway."""
    from services.order.models import order_lines, orders
    with stack.order_db.session() as s:
        s.execute(update(order_lines).where(order_lines.c.order_id == order["id"])
                  .values(reservation="reserved", warehouse="SH"))
        s.execute(update(orders).where(orders.c.id == order["id"]).values(status="reserved"))
    shipped = stack.http.post(f"/orders/{order['id']}/shipment", json={"carrier": "SF", "tracking_number": "SF0001"},
                              headers=stack.keys["admin"])
    assert shipped.status_code == 200, shipped.text


def test_the_receivable_agrees_with_the_shipped_orders_returns_payments_and_settlements(stack):
    http, keys, deliver = stack.http, stack.keys, stack.deliver
    admin, finance = keys["admin"], keys["finance"]
    address = {"recipient": "Li", "phone": "13800000000", "province": "SH", "city": "SH", "street": "1 Road"}
    assert http.post("/accounting/exchange-rates", json={"currency": "USD", "valid_from": "2026-01-01",
                                                         "rate": "7.1"}, headers=finance).status_code in (200, 201)
    placed = [http.post("/orders", json={"channel": channel, "shop": shop, "external_order_id": ext, "currency": cur,
                                         "buyer": {"external_id": buyer}, "shipping_address": address,
                                         "lines": [{"sku": "MUG", "quantity": qty, "unit_price": price}]},
                        headers=admin)
              for channel, shop, ext, cur, buyer, qty, price in (
                  ("web", "S1", "W-1", "CNY", "B1", 3, "10.00"), ("taobao", "T1", "T-1", "CNY", "tb-buyer", 2, "15.50"),
                  ("web", "S1", "W-2", "USD", "B2", 1, "3.33"))]
    assert [p.status_code for p in placed] == [201, 201, 201], [p.text for p in placed]
    for p in placed:
        ship(stack, p.json())
    # the sales are shipped, their vouchers still on the bus; the USD order is owed at 3.33 x 7.1
    assert receivables(audit(http, keys)) == [("customer:web:B1", "0.00", "30.00", "-30.00", "in_flight"),
                                              ("customer:web:B2", "0.00", "23.64", "-23.64", "in_flight"),
                                              ("platform:taobao/T1", "0.00", "31.00", "-31.00", "in_flight")]
    deliver()
    assert receivables(audit(http, keys)) == [("customer:web:B1", "30.00", "30.00", "0.00", "agrees"),
                                              ("customer:web:B2", "23.64", "23.64", "0.00", "agrees"),
                                              ("platform:taobao/T1", "31.00", "31.00", "0.00", "agrees")]
    returned = http.post(f"/orders/{placed[0].json()['id']}/returns", json={"lines": [{"line_no": 1, "quantity": 1}]},
                         headers=admin)
    assert returned.status_code == 201, returned.text
    assert receivables(audit(http, keys))[0] == ("customer:web:B1", "30.00", "20.00", "10.00", "in_flight")
    # the USD order's return is reversed at the order's rate, to the cent of its sale
    assert http.post(f"/orders/{placed[2].json()['id']}/returns", json={}, headers=admin).status_code == 201
    assert receivables(audit(http, keys))[1] == ("customer:web:B2", "23.64", "0.00", "23.64", "in_flight")
    deliver()
    assert http.post("/accounting/payments", json={"direction": "received", "counterparty": "customer:web:B1",
                                                   "amount": "5.00", "business_date": "2026-11-20",
                                                   "reference": "BANK-2"}, headers=finance).status_code == 201
    assert http.post("/accounting/settlements", json={"channel": "taobao", "shop": "T1", "reference": "SETTLE-1",
                                                      "business_date": "2026-11-20", "gross": "31.00",
                                                      "commission": "1.00"}, headers=finance).status_code == 201
    body = audit(http, keys)
    assert receivables(body) == [("customer:web:B1", "15.00", "15.00", "0.00", "agrees"),
                                 ("customer:web:B2", "0.00", "0.00", "0.00", "agrees"),
                                 ("platform:taobao/T1", "0.00", "0.00", "0.00", "agrees")]
    assert (body["agrees"], body["accounts"]["receivable"]) == (True, "1122")


def test_a_debtor_with_orders_converted_by_the_books_is_not_compared():
    from hubapi.accounting.v1 import accounting_service_pb2 as acc
    from hubapi.order.v1 import order_service_pb2 as order
    balances = acc.GetBalancesResponse(accounts={"receivable": "1122"}, base_currency="CNY", balances=[
        acc.Balance(account="1122", aux="customer:web:EU", balance="80.00", own_documents="0.00"),
        acc.Balance(account="1122", aux="customer:web:CN", balance="7.00", own_documents="-3.00")])
    sales = order.GetReceivablesResponse(receivables=[
        order.Receivable(counterparty="customer:web:EU", currency="EUR", converted=False, shipped="10.00",
                         returned="0.00"),
        order.Receivable(counterparty="customer:web:CN", currency="CNY", shipped="12.00", returned="1.50")])
    assert [(r["counterparty"], r["books"], r["documents"], r["difference"])
            for r in books.compare_receivables(balances, sales)] == [
        ("customer:web:CN", Decimal("7.00"), Decimal("7.50"), Decimal("-0.50")),
        ("customer:web:EU", Decimal("80.00"), Decimal("10.00"), None)]


def test_a_customer_statement_prints_the_books_receivable_of_that_customer(stack):
    """对账单 against the real books: a sale, its partial return and a payment posted by accounting's own
    rules, printed for the customer they belong to, from the opening to the closing balance."""
    from hubapi.accounting.v1 import accounting_service_pb2 as acc
    from hubapi.customer.v1 import customer_service_pb2 as cus
    from hubkit import clock
    from tests.support.pdf import pages_text

    http, admin, finance = stack.http, stack.keys["admin"], stack.keys["finance"]
    address = {"recipient": "Li", "phone": "13800000000", "province": "SH", "city": "SH", "street": "1 Road"}
    placed = http.post("/orders", json={"channel": "web", "shop": "S1", "external_order_id": "W-9",
                                        "buyer": {"external_id": "B9", "name": "王芳"}, "shipping_address": address,
                                        "lines": [{"sku": "MUG", "quantity": 3, "unit_price": "10.00"}]}, headers=admin)
    assert placed.status_code == 201, placed.text
    ship(stack, placed.json())
    assert http.post(f"/orders/{placed.json()['id']}/returns", json={"lines": [{"line_no": 1, "quantity": 1}]},
                     headers=admin).status_code == 201
    assert http.post("/accounting/payments", json={"direction": "received", "counterparty": "customer:web:B9",
                                                   "amount": "5.00", "business_date": "2026-11-20",
                                                   "reference": "BANK-9"}, headers=finance).status_code == 201
    stack.deliver()

    class Customers:  # the customer service: this buyer as it knows them
        def GetCustomer(self, request, metadata=None):
            return cus.GetCustomerResponse(customer=cus.Customer(id=request.id, channel="web", external_id="B9",
                                                                 name="王芳"))
    clients = http.app.state.clients
    clients.customer = Customers()
    chart = clients.accounting.GetBalances(acc.GetBalancesRequest(roles=["receivable"], accounts_only=True))
    assert (dict(chart.accounts), len(chart.balances)) == ({"receivable": "1122"}, 0)  # no scan of the books for it

    period = clock.today().strftime("%Y-%m")
    reply = http.get("/print/customer-statements/C-9.pdf", params={"period": period}, headers=finance)
    assert reply.status_code == 200, reply.text
    text = "".join(pages_text(reply.content)[0].split())
    assert "对账单" in text and "王芳" in text and f"C-9-{period}" in text
    # the November payment is the opening (-5.00); the sale (30.00) and its return (10.00) follow; 15.00 is owed
    assert text.index("期初余额") < text.index("-5.00") < text.index("30.00") < text.index("期末余额")
    assert text.endswith("页") and "本期合计/期末余额Closingbalance30.0010.0015.00" in text
