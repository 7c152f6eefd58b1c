"""Bad input through the gateway: a 4xx problem+json with field detail, and no change in any database."""
from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import order_body, row_counts, stock_sku, unique, wait_settled
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sku(pg_hub):
    code = unique("BAD")
    with pg_hub.client("admin") as c:
        stock_sku(c, code, quantity=5)
    return code


def _without(body, *path):
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _with(body, value, *path):
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


CASES = {
    # name: (role, make request kwargs from a valid body, status, a field expected in errors or None)
    "missing lines": ("sales", lambda b: {"json": _without(b, "lines")}, 422, "lines"),
    "missing address": ("sales", lambda b: {"json": _without(b, "shipping_address")}, 422, "shipping_address"),
    "empty lines": ("sales", lambda b: {"json": _with(b, [], "lines")}, 422, "lines"),
    "zero quantity": ("sales", lambda b: {"json": _with(b, 0, "lines", 0, "quantity")}, 422, "lines[0].quantity"),
    "negative quantity": ("sales", lambda b: {"json": _with(b, -3, "lines", 0, "quantity")}, 422,
                          "lines[0].quantity"),
    "quantity as string": ("sales", lambda b: {"json": _with(b, "1", "lines", 0, "quantity")}, 422,
                           "lines[0].quantity"),
    "price as float": ("sales", lambda b: {"json": _with(b, 19.9, "lines", 0, "unit_price")}, 422,
                       "lines[0].unit_price"),
    "price with three decimals": ("sales", lambda b: {"json": _with(b, "1.999", "lines", 0, "unit_price")}, 422,
                                  "lines[0].unit_price"),
    "unknown field": ("sales", lambda b: {"json": _with(b, "x", "coupon")}, 422, "coupon"),
    "unknown SKU": ("sales", lambda b: {"json": _with(b, "NO-SUCH-SKU-XYZ", "lines", 0, "sku")}, 422,
                    "lines[0].sku"),
    "malformed JSON": ("sales", lambda b: {"content": b'{"channel": "taobao", ', "headers":
                                           {"content-type": "application/json"}}, 400, None),
    "1 MB body": ("sales", lambda b: {"json": _with(b, "x" * (1024 * 1024), "buyer", "name")}, 413, None),
    "no API key": (None, lambda b: {"json": b}, 401, None),
    "wrong API key": ("wrong", lambda b: {"json": b}, 401, None),
    "role may not place orders": ("warehouse", lambda b: {"json": b}, 403, None),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_order_is_refused_with_problem_json_and_changes_nothing(pg_hub, sku, case):
    role, make, status, field = CASES[case]
    body = order_body(sku, unique("EXT"))
    if role == "wrong":
        client = pg_hub.client(None, headers={"X-API-Key": "hub_not-a-real-key"})
    else:
        client = pg_hub.client(role)
    pg_hub.wait_quiet()  # what earlier tests set going is not this request's doing
    before = row_counts(pg_hub)
    with client:
        reply = client.post("/orders", **make(body))
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert problem["status"] == status and problem["title"]
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem
    assert row_counts(pg_hub) == before


@pytest.mark.parametrize("receipt, status, field", [
    ({"quantity": 0}, 422, "quantity"),
    ({"quantity": -5}, 422, "quantity"),
    ({"unit_cost": "-1"}, 422, "unit_cost"),
    ({"unit_cost": "1.1234567"}, 422, "unit_cost"),
    ({"warehouse": "NO-SUCH-WH"}, 404, "warehouse"),
    ({"sku": "NO-SUCH-SKU"}, 404, "sku"),
], ids=["zero", "negative", "negative cost", "seven decimals", "unknown warehouse", "unknown sku"])
def test_bad_receipt_is_refused_and_changes_nothing(pg_hub, sku, receipt, status, field):
    client = pg_hub.client("warehouse")
    pg_hub.wait_quiet()  # what earlier tests set going is not this request's doing
    before = row_counts(pg_hub)
    with client as c:
        reply = c.post("/stock/receipts", json={"sku": sku, "warehouse": "WH-MAIN", "quantity": 1,
                                                "unit_cost": "1.00", **receipt})
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in reply.json()["errors"]]
    assert row_counts(pg_hub) == before


def test_finance_role_may_read_but_not_receive_stock(pg_hub, sku):
    client = pg_hub.client("finance")
    pg_hub.wait_quiet()  # what earlier tests set going is not this request's doing
    before = row_counts(pg_hub)
    with client as c:
        assert c.get(f"/stock/{sku}").status_code == 200
        reply = c.post("/stock/receipts", json={"sku": sku, "warehouse": "WH-MAIN", "quantity": 1})
    assert reply.status_code == 403
    assert row_counts(pg_hub) == before


def test_every_change_records_the_user(pg_hub, sku):
    with pg_hub.client("sales") as c:
        reply = c.post("/orders", json=order_body(sku, unique("WHO")))
    assert reply.status_code == 201
    assert reply.json()["created_by"].startswith("test-sales")


def test_repeated_external_order_id_returns_the_first_order(pg_hub, sku):
    body = order_body(sku, unique("DUP"))
    with pg_hub.client("sales") as c:
        first = c.post("/orders", json=body)
        wait_settled(c, [first.json()["id"]])  # its reservation has run its course
        wait_for(lambda: pg_hub.metric("relays", "hub_outbox_pending", service="order") == 0, 30, 0.3, "the outbox to drain")
        pg_hub.wait_quiet()  # the first order's consequences (postings, history) have all landed
        before = row_counts(pg_hub)
        second = c.post("/orders", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert row_counts(pg_hub) == before


# -- no input gets a 5xx (issue 11) -------------------------------------------------------------------
def _problem(reply, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    return reply.json()


def _fields(reply) -> list[str]:
    return [e["field"] for e in _problem(reply, 422).get("errors", [])]


def test_a_nul_character_is_refused_naming_the_field_and_changes_nothing(pg_hub, sku):
    body = order_body(sku, unique("NUL"))
    body["buyer"]["name"] = "Li\x00Lei"
    client = pg_hub.client("sales")
    pg_hub.wait_quiet()  # what earlier tests set going is not this request's doing
    before = row_counts(pg_hub)
    with client as c:
        assert _fields(c.post("/orders", json=body)) == ["buyer.name"]
        assert _fields(c.get("/customers", params={"phone": "138\x00"})) == ["query.phone"]
        assert _fields(c.get(f"/stock/{sku}%00")) == ["path.sku"]
    assert row_counts(pg_hub) == before


@pytest.mark.parametrize("path, params, field", [
    ("/stock/reports/slow-movers", {"days": 2**31}, "query.days"),
    ("/stock/reports/value-at", {"as_of": "0001-01-01"}, "query.as_of"),
    ("/stock/reports/value-at", {"as_of": "9999-12-31"}, "query.as_of"),
    ("/stock/reports/turnover", {"date_from": "0001-01-01", "date_to": "2026-01-31"}, "query.date_from"),
    ("/stock/reports/turnover", {"date_from": "2026-01-01", "date_to": "9999-12-31"}, "query.date_to"),
    ("/stock/reports/ageing", {"as_of": "9999-12-31"}, "query.as_of"),
    ("/stock/reports/slow-movers", {"days": 30, "as_of": "0001-01-01"}, "query.as_of"),
    ("/accounting/ageing/1122", {"as_of": "9999-12-31"}, "query.as_of"),
], ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v)
def test_a_number_or_date_beyond_what_the_services_compute_with_is_a_422(pg_hub, path, params, field):
    with pg_hub.client("admin") as c:
        assert field in _fields(c.get(path, params=params))


def test_a_long_list_of_field_errors_from_a_service_is_a_422_with_the_fields(pg_hub):
    """The service finds 800 bad lines: more than a gRPC client takes in its trailing metadata, so it
    lists the first ones and says how many there are."""
    body = {"business_date": "2026-01-01", "lines": [{"account": "1001"}] * 800}  # neither debit nor credit
    client = pg_hub.client("finance")
    pg_hub.wait_quiet()  # what earlier tests set going is not this request's doing
    before = row_counts(pg_hub)
    with client as c:
        reply = c.post("/accounting/opening-balances", json=body)
    problem = _problem(reply, 422)
    fields = [e["field"] for e in problem["errors"]]
    assert fields[:2] == ["lines[0]", "lines[1]"] and len(fields) < 800
    assert "of 800 field errors" in problem["title"]
    assert row_counts(pg_hub) == before


def test_a_service_that_is_not_running_is_a_503_with_retry_after(pg_hub):
    with pg_hub.client("finance") as c:  # this hub runs no ledger connector
        reply = c.get("/ledger/status")
    problem = _problem(reply, 503)
    assert int(reply.headers["retry-after"]) > 0
    assert "127.0.0.1" not in problem["title"]


def test_routing_and_parsing_refusals_are_problems_too(pg_hub):
    with pg_hub.client("sales") as c:
        _problem(c.get("/no/such/route"), 404)
        not_allowed = c.delete("/orders")
        _problem(not_allowed, 405)
        assert "POST" in not_allowed.headers["allow"]
        _problem(c.post("/orders", content=b'{"channel": "\xff"}', headers={"content-type": "application/json"}), 400)
        _problem(c.post("/orders", content=b"[" * 50_000 + b"]" * 50_000,
                        headers={"content-type": "application/json"}), 400)
