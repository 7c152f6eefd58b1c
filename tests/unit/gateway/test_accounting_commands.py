"""Accounting commands through the gateway: a real in-process gRPC server with the accounting
servicer on SQLite, and the FastAPI app in front of it."""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from fastapi.testclient import TestClient

from hubkit.db import Database

PROBLEM = "application/problem+json"


@pytest.fixture
def hub(tmp_path):
    from gateway import auth
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata as gateway_metadata
    from hub import components
    from hubapi.accounting.v1 import accounting_service_pb2_grpc
    from services.accounting import chart, handlers
    from services.accounting.grpc_server import AccountingServicer
    from services.accounting.models import metadata

    settings = components.settings({"HUB_VAR_DIR": str(tmp_path)})
    db = Database(settings.db_url("accounting"), metadata)
    metadata.create_all(db.engine)
    rules, accounts = chart.rules(settings["accounting"])
    handlers.ensure_chart(db, accounts)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    accounting_service_pb2_grpc.add_AccountingServiceServicer_to_server(AccountingServicer(db, rules), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    gateway_db = Database(settings.gateway_db_url, gateway_metadata)
    gateway_metadata.create_all(gateway_db.engine)
    finance = {"X-API-Key": auth.add_user(gateway_db, "finance", "finance")}
    clients = Clients(order=None, inventory=None, procurement=None, customer=None,
                      accounting=accounting_service_pb2_grpc.AccountingServiceStub(channel), ledger=None, shops={},
                      channels=[channel])
    with TestClient(create_app(settings["gateway"], clients)) as http:
        yield http, finance, db
    channel.close()
    server.stop(None)
    gateway_db.dispose()
    db.dispose()


def payment(amount, reference="BANK-0001"):
    return {"direction": "paid", "counterparty": "supplier:ACME", "amount": amount, "business_date": "2026-11-20",
            "reference": reference}


def vouchers(http, headers):
    reply = http.get("/accounting/vouchers", headers=headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return body["vouchers"]


def test_the_same_bank_reference_with_another_amount_is_refused(hub):
    http, finance, _ = hub
    first = http.post("/accounting/payments", json=payment("100.00"), headers=finance)
    assert first.status_code == 201, first.text
    again = http.post("/accounting/payments", json=payment("100.00"), headers=finance)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]  # a retry: the voucher already posted
    other = http.post("/accounting/payments", json=payment("120.00"), headers=finance)
    assert other.status_code == 409, other.text
    assert other.headers["content-type"] == PROBLEM
    body = other.json()
    assert "100.00" in body["title"] and "120.00" in body["title"], body
    assert [e["field"] for e in body["errors"]] == ["amount"]
    assert len(vouchers(http, finance)) == 1


@pytest.mark.parametrize("field,value", [("counterparty", "supplier:OTHER"), ("business_date", "2026-11-21")])
def test_the_same_bank_reference_for_another_supplier_or_day_is_refused(hub, field, value):
    """The reference names one bank transaction: the same one again with another supplier or day is
    not a retry, and answering the first voucher would leave the second payment unbooked."""
    http, finance, _ = hub
    first = http.post("/accounting/payments", json=payment("100.00"), headers=finance)
    assert first.status_code == 201, first.text
    other = http.post("/accounting/payments", json={**payment("100.00"), field: value}, headers=finance)
    assert other.status_code == 409, other.text
    assert other.headers["content-type"] == PROBLEM
    body = other.json()
    assert [e["field"] for e in body["errors"]] == [field]
    assert payment("100.00")[field] in body["errors"][0]["message"] and value in body["errors"][0]["message"]
    assert len(vouchers(http, finance)) == 1

def test_a_settlement_or_opening_balances_posted_again_with_other_amounts_are_refused(hub):
    """Their source id (the platform's settlement number, the opening day) makes them one: the same
    again is a retry, other amounts under it would be dropped silently."""
    http, finance, _ = hub
    settlement = {"channel": "taobao", "shop": "flagship", "reference": "STL-1", "business_date": "2026-11-20",
                  "gross": "100.00", "commission": "5.00"}
    opening = {"business_date": "2026-11-01", "lines": [{"account": "1122", "debit": "50.00", "aux": "customer:x"},
                                                        {"account": "2202", "credit": "50.00", "aux": "supplier:y"}]}
    for path, body, other, field in (
            ("/accounting/settlements", settlement, {**settlement, "gross": "120.00"}, "reference"),
            ("/accounting/opening-balances", opening,
             {**opening, "lines": [{**line, "debit" if "debit" in line else "credit": "60.00"}
                                   for line in opening["lines"]]}, "business_date")):
        first = http.post(path, json=body, headers=finance)
        assert first.status_code == 201, first.text
        again = http.post(path, json=body, headers=finance)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]  # a retry
        refused = http.post(path, json=other, headers=finance)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert first.json()["number"] in refused.json()["title"]
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert len(vouchers(http, finance)) == 2

def closed_periods(db):
    from sqlalchemy import select

    from services.accounting.models import periods
    with db.session() as s:
        return list(s.execute(select(periods.c.period)).scalars())


def test_closing_a_period_in_the_future_is_refused_and_writes_nothing(hub, monkeypatch):
    from datetime import date

    from hubkit import clock
    http, finance, db = hub
    monkeypatch.setattr(clock, "today", lambda: date(2026, 11, 30))  # the merchant's day, from the one clock
    refused = http.post("/accounting/periods/2026-12/close", headers=finance)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert "2026-12" in refused.json()["title"]
    assert [e["field"] for e in refused.json()["errors"]] == ["period"]
    assert http.post("/accounting/periods/2027-01/close", headers=finance).status_code == 422
    assert closed_periods(db) == []
    # the current period and a past one close
    for period in ("2026-11", "2026-10"):
        closed = http.post(f"/accounting/periods/{period}/close", headers=finance)
        assert closed.status_code == 200, closed.text
    assert sorted(closed_periods(db)) == ["2026-10", "2026-11"]


def test_an_opening_balance_on_the_inventory_account_is_refused_naming_the_opening_stock_receipt(hub):
    http, finance, db = hub
    body = {"business_date": "2026-01-01", "lines": [{"account": "1002", "debit": "100.00"},
                                                     {"account": "1405", "debit": "12000.00"},
                                                     {"account": "4001", "credit": "12100.00"}]}
    refused = http.post("/accounting/opening-balances", json=body, headers=finance)
    assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM), refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["lines[1].account"]
    assert "POST /stock/receipts, reason opening" in refused.json()["errors"][0]["message"]
    assert vouchers(http, finance) == []
