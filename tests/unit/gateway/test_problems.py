"""No input gets a 5xx, and every answer that is not a success is problem+json: the gateway's app
(real middleware, routing and validation) with fake services at the gRPC boundary."""
from __future__ import annotations

import json

import grpc
import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


class RpcError(grpc.RpcError):
    """What a stub raises when a service refuses or fails."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing=()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


class Books:
    """The accounting stub: accounts are listed; what `fail_with` holds is raised instead."""

    fail_with: Exception | None = None

    def ListAccounts(self, request, metadata=None):
        from hubapi.accounting.v1 import accounting_service_pb2 as pb
        if self.fail_with is not None:
            raise self.fail_with
        return pb.ListAccountsResponse()


def _app(tmp_path, db_url: str | None = None, books=None):
    from gateway.app import create_app
    from gateway.clients import Clients
    from gateway.models import metadata
    from hub import components
    from hubkit.db import Database

    env = {"HUB_VAR_DIR": str(tmp_path), **({"HUB_GATEWAY_DB_URL": db_url} if db_url else {})}
    settings = components.settings(env)
    db = Database(settings.gateway_db_url, metadata)
    if db_url is None:
        metadata.create_all(db.engine)
    clients = Clients(order=None, inventory=None, procurement=None, customer=None, accounting=books or Books(),
                      ledger=None, shops={}, channels=[])
    return create_app(settings["gateway"], clients), db


@pytest.fixture
def gateway(tmp_path):
    from gateway import auth
    books = Books()
    app, db = _app(tmp_path, books=books)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http, {"X-API-Key": auth.add_user(db, "fin", "finance")}, books, \
            {"X-API-Key": auth.add_user(db, "boss", "admin")}
    db.dispose()


def _problem(reply, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == PROBLEM
    body = reply.json()
    assert body["status"] == status and body["title"]
    return body


def _fields(reply, status: int = 422) -> dict:
    return {e["field"]: e["message"] for e in _problem(reply, status).get("errors", [])}


# -- routing and body parsing -------------------------------------------------------------------
def test_an_unknown_route_is_a_404_problem(gateway):
    http, key, *_ = gateway
    body = _problem(http.get("/no/such/thing", headers=key), 404)
    assert body["type"].endswith("/not-found") and "/no/such/thing" not in str(body)  # the path is not echoed


def test_made_up_paths_share_one_metrics_label(gateway):
    from prometheus_client import REGISTRY
    http, key, *_ = gateway
    http.get("/made/up/path-4711", headers=key)
    routes = {s.labels.get("route") for m in REGISTRY.collect() if m.name == "hub_http_request_latency_seconds"
              for s in m.samples}
    assert "unmatched" in routes and "/made/up/path-4711" not in routes


def test_a_method_the_route_does_not_have_is_a_405_problem_naming_the_allowed_ones(gateway):
    http, key, *_ = gateway
    reply = http.delete("/accounting/accounts", headers=key)
    _problem(reply, 405)
    assert "GET" in reply.headers["allow"]


@pytest.mark.parametrize("body", [b'{"direction": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000],
                         ids=["not UTF-8", "nested 100,000 deep"])
def test_a_body_that_cannot_be_parsed_is_a_400_problem(gateway, body):
    http, key, *_ = gateway
    reply = http.post("/accounting/payments", content=body, headers={**key, "content-type": "application/json"})
    assert _problem(reply, 400)["type"].endswith("/malformed-json")


# -- text, integers, dates ----------------------------------------------------------------------
def test_a_nul_character_anywhere_is_refused_naming_each_field(gateway):
    http, key, *_ = gateway
    assert _fields(http.get("/accounting/accounts/10%0001/detail", params={"aux": "a\x00"}, headers=key)) == {
        "path.account": "must not contain the NUL character", "query.aux": "must not contain the NUL character"}
    body = {"direction": "paid", "counterparty": "supplier:\x00", "amount": "1.00", "business_date": "2026-01-01",
            "reference": "r\x00"}
    fields = _fields(http.post("/accounting/payments", json=body, headers=key))
    assert set(fields) == {"counterparty", "reference"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-le"])
def test_a_nul_character_in_a_body_not_in_utf8_is_refused_too(gateway, encoding):
    """The NUL check walks only a body that can hold one: one in UTF-16 or UTF-32 (json reads them)
    holds zero bytes everywhere, so it is walked."""
    http, key, *_ = gateway
    body = json.dumps({"direction": "paid", "counterparty": "supplier:\x00", "amount": "1.00",
                       "business_date": "2026-01-01", "reference": "r"}).encode(encoding)
    reply = http.post("/accounting/payments", content=body, headers={**key, "content-type": "application/json"})
    assert _fields(reply) == {"counterparty": "must not contain the NUL character"}


def test_an_integer_beyond_its_protobuf_field_is_refused_naming_it(gateway):
    http, _, _, admin = gateway
    reply = http.get("/stock/reports/slow-movers", params={"days": 2**31}, headers=admin)
    assert "query.days" in _fields(reply)


@pytest.mark.parametrize("path, params, field", [
    ("/stock/reports/value-at", {"as_of": "0001-01-01"}, "query.as_of"),
    ("/stock/reports/value-at", {"as_of": "9999-12-31T23:59:59+14:00"}, "query.as_of"),
    ("/stock/reports/turnover", {"date_from": "2026-01-01", "date_to": "9999-12-31"}, "query.date_to"),
    ("/stock/reports/ageing", {"as_of": "9999-12-31"}, "query.as_of"),
    ("/stock/reports/slow-movers", {"days": 30, "as_of": "0001-01-01"}, "query.as_of"),
    ("/stock/reports/turnover.xlsx", {"date_from": "2026-01-01", "date_to": "9999-12-31"}, "query.date_to"),
    ("/stock/reports/forecast", {"horizon": 7, "as_of": "0001-01-01"}, "query.as_of"),
    ("/purchasing/on-time", {"from": "0001-01-01", "to": "2026-01-31"}, "query.from"),
    ("/accounting/ageing/1122", {"as_of": "0001-01-01"}, "query.as_of"),
    ("/accounting/trial-balance", {"period": "9999-12"}, "query.period"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else v)
def test_a_date_at_the_edge_of_the_calendar_is_refused_naming_it(gateway, path, params, field):
    http, _, _, admin = gateway
    fields = _fields(http.get(path, params=params, headers=admin))
    assert fields[field].startswith("expected a "), fields


def test_a_business_date_at_the_edge_of_the_calendar_is_refused_naming_it(gateway):
    http, key, *_ = gateway
    body = {"direction": "paid", "counterparty": "supplier:S1", "amount": "1.00", "business_date": "9999-12-31",
            "reference": "r1"}
    assert "business_date" in _fields(http.post("/accounting/payments", json=body, headers=key))


# -- failures -----------------------------------------------------------------------------------
def test_a_service_that_is_not_available_is_a_503_with_retry_after(gateway):
    http, key, books, _ = gateway
    books.fail_with = RpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; 127.0.0.1:50055")
    reply = http.get("/accounting/accounts", headers=key)
    problem = _problem(reply, 503)
    assert int(reply.headers["retry-after"]) > 0
    assert "127.0.0.1" not in json.dumps(problem)


def test_a_service_failure_never_shows_its_exception_text(gateway):
    http, key, books, _ = gateway
    books.fail_with = RpcError(grpc.StatusCode.UNKNOWN, "Exception calling application: secret table xyz")
    reply = http.get("/accounting/accounts", headers=key)
    _problem(reply, 502)
    assert "secret" not in reply.text


def test_a_failure_inside_the_gateway_is_a_500_problem_without_its_text(gateway):
    http, key, books, _ = gateway
    books.fail_with = RuntimeError("secret internals")
    reply = http.get("/accounting/accounts", headers=key)
    _problem(reply, 500)
    assert "secret" not in reply.text and reply.headers["x-correlation-id"]


def test_the_gateway_database_being_down_is_a_503_with_retry_after(tmp_path):
    from hub.supervisor import free_port
    # nothing listens there: what a PostgreSQL outage looks like to the API key lookup
    app, db = _app(tmp_path, db_url=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/gateway")
    with TestClient(app, raise_server_exceptions=False) as http:
        reply = http.get("/accounting/accounts", headers={"X-API-Key": "hub_some-key"})
    db.dispose()
    _problem(reply, 503)
    assert int(reply.headers["retry-after"]) > 0
    assert "psycopg2" not in reply.text and "127.0.0.1" not in reply.text


# -- the docs, offline --------------------------------------------------------------------------
def test_the_docs_need_no_internet(gateway):
    http, *_ = gateway
    page = http.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text and "http://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs/assets/{asset}" in page.text
        reply = http.get(f"/docs/assets/{asset}")  # no API key needed
        assert reply.status_code == 200 and len(reply.content) > 10_000
