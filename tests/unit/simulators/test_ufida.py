"""The Yonyou U8 OpenAPI simulator: token, tradeid, voucher add (both body shapes, sync/async),
idempotency by biz_id/tradeid and reserve2, only documented paths, faults, admin API."""
from __future__ import annotations

import re
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from simulators.ufida import ADD_PATH, DEFAULT_CONFIG, TOKEN_PATH, TRADEID_PATH
from simulators.ufida.app import create_app
from tests.unit.simulators import Clock, running

CFG = DEFAULT_CONFIG


def nested(reserve2="HUB-U-1", year=2026, period=1, debit="113.00", credits=("100.00", "13.00"), sales="6001"):
    return {"voucher": {
        "voucher_type": "记", "fiscal_year": year, "accounting_period": period, "date": f"{year}-{period:02d}-15",
        "enter": "hub", "attachment_number": 0, "voucher_making_system": "CDM", "reserve2": reserve2,
        "debit": {"entry": [{"entry_id": 1, "account_code": "1122", "abstract": "销售", "natural_debit_currency": debit,
                             "auxiliary": {"cust_id": "C001", "dept_id": ""}}]},
        "credit": {"entry": [{"entry_id": 2, "account_code": sales, "abstract": "销售",
                              "natural_credit_currency": credits[0]},
                             {"entry_id": 3, "account_code": "22210105", "abstract": "销项税",
                              "natural_credit_currency": credits[1]}]}}}


def flat(reserve2="HUB-U-F"):
    return {"voucher": {"voucher_type": "记", "fiscal_year": 2026, "accounting_period": 1, "date": "2026-01-20",
                        "voucher_making_system": "CDM", "reserve2": reserve2, "entry": [
                            {"account_code": "1405", "abstract": "采购入库", "natural_debit_currency": 50,
                             "natural_credit_currency": 0},
                            {"account_code": "2202", "abstract": "采购入库", "natural_debit_currency": 0,
                             "natural_credit_currency": 50}]}}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(clock=clock)) as c:
        yield c


def get_token(client, secret=CFG["app_secret"]):
    return client.get(TOKEN_PATH, params={"from_account": CFG["from_account"], "app_key": CFG["app_key"],
                                          "app_secret": secret}).json()


def params(token, **extra):
    return {"from_account": CFG["from_account"], "to_account": CFG["to_account"], "app_key": CFG["app_key"],
            "token": token, **extra}


def add(client, token, body, biz_id=None, tradeid=None, sync=1, timeout=None):
    extra = {k: v for k, v in (("biz_id", biz_id), ("tradeid", tradeid), ("sync", sync)) if v is not None}
    kwargs = {"timeout": timeout} if timeout else {}
    return client.post(ADD_PATH, params=params(token, **extra), json=body, **kwargs)


def stats(client):
    return client.get("/__sim/stats").json()


def test_token_success_refusal_and_tradeid(client):
    ok = get_token(client)
    assert ok["errcode"] == "0" and ok["errmsg"] == "成功"
    assert ok["token"]["appKey"] == CFG["app_key"] and ok["token"]["expiresIn"] == 7200
    assert re.fullmatch(r"[0-9a-f]{32}", ok["token"]["id"])
    bad = get_token(client, secret="wrong")
    assert bad["errcode"] != "0" and bad["errmsg"] and "token" not in bad
    trade = client.get(TRADEID_PATH, params={"from_account": CFG["from_account"], "app_key": CFG["app_key"],
                                             "token": ok["token"]["id"]}).json()
    assert trade["errcode"] == "0" and trade["trade"]["id"]


def test_token_expires(client, clock):
    token = get_token(client)["token"]["id"]
    assert add(client, token, nested(), biz_id="B1").json()["errcode"] == "0"
    clock.t += 7201
    r = add(client, token, nested("HUB-U-2"), biz_id="B2")
    assert r.status_code == 200 and r.json()["errcode"] != "0" and "参数token已过期" in r.json()["errmsg"]
    assert len(client.get("/__sim/vouchers").json()) == 1


def test_sync_add_in_both_shapes_is_stored_and_numbered(client):
    token = get_token(client)["token"]["id"]
    first = add(client, token, nested(), tradeid="T-1").json()
    assert first == {"errcode": "0", "errmsg": "", "id": first["id"], "tradeid": "T-1"}
    second = add(client, token, flat(), biz_id="B-F").json()
    assert second["errcode"] == "0" and second["id"] != first["id"]
    stored = client.get("/__sim/vouchers").json()
    assert [(v["number"], v["period"], v["external_key"]) for v in stored] == [
        ("记-0001", "2026-01", "HUB-U-1"), ("记-0002", "2026-01", "HUB-U-F")]
    assert stored[0]["entries"] == [
        {"account": "1122", "debit": "113.00", "credit": "0.00", "explanation": "销售", "aux": {"cust_id": "C001"}},
        {"account": "6001", "debit": "0.00", "credit": "100.00", "explanation": "销售", "aux": {}},
        {"account": "22210105", "debit": "0.00", "credit": "13.00", "explanation": "销项税", "aux": {}}]
    assert stored[0]["id"] == first["id"] and stored[0]["date"] == "2026-01-15"


def test_async_add_answers_a_result_url(client):
    token = get_token(client)["token"]["id"]
    ack = add(client, token, nested(), biz_id="B-A", sync=None).json()
    assert ack["errcode"] == "0" and "/result?requestid=" in ack["url"] and "id" not in ack
    final = client.get(ack["url"]).json()
    assert final["errcode"] == "0" and final["id"]
    replay = client.get(add(client, token, nested(), biz_id="B-A", sync=0).json()["url"]).json()
    assert replay == final
    refused = client.get(add(client, token, nested("HUB-U-9", sales="9999"), biz_id="B-Z", sync=0).json()["url"])
    assert refused.json()["errcode"] != "0" and "9999" in refused.json()["errmsg"]


@pytest.mark.parametrize("body, words", [
    (nested(sales="6009"), ["6009", "不存在"]),
    (nested(debit="113.01"), ["借贷不平衡"]),
    (nested(year=2025, period=12), ["2025-12", "已结账"]),
    (nested(sales="2221"), ["2221", "末级"]),
    ({"voucher": {**nested()["voucher"], "voucher_making_system": ""}}, ["CDM"]),
])
def test_invalid_voucher_is_refused_and_nothing_stored(client, body, words):
    client.post("/__sim/config", json={"closed_periods": ["2025-12"]})
    token = get_token(client)["token"]["id"]
    r = add(client, token, body, biz_id="B-X")
    assert r.status_code == 200 and r.json()["errcode"] == "50001"
    assert all(w in r.json()["errmsg"] for w in words), r.json()["errmsg"]
    assert client.get("/__sim/vouchers").json() == []
    assert stats(client)["rejected"] == 1


def test_replays_return_the_first_result_and_reserve2_is_unique(client):
    token = get_token(client)["token"]["id"]
    first = add(client, token, nested(), biz_id="B-1").json()
    assert add(client, token, nested(), biz_id="B-1").json() == first  # same biz_id: same answer, not stored again
    by_trade = add(client, token, flat(), tradeid="T-9").json()
    assert add(client, token, flat(), tradeid="T-9").json() == by_trade
    dup = add(client, token, nested(), biz_id="B-2").json()  # same reserve2, new biz_id
    assert dup["errcode"] == "50002" and "HUB-U-1" in dup["errmsg"] and "已存在" in dup["errmsg"]
    assert len(client.get("/__sim/vouchers").json()) == 2
    s = stats(client)
    assert (s["save_calls"], s["stored"], s["duplicates_refused"], s["rejected"]) == (5, 2, 3, 0)


def test_a_repeated_key_can_be_answered_with_a_duplicate_error_naming_the_voucher(client):
    client.post("/__sim/config", json={"repeat_answer": "duplicate_error"})
    token = get_token(client)["token"]["id"]
    vid = add(client, token, nested(), biz_id="B-1").json()["id"]
    again = add(client, token, nested(), biz_id="B-1").json()
    assert again["errcode"] == "50002" and "B-1" in again["errmsg"] and vid in again["errmsg"]
    assert len(client.get("/__sim/vouchers").json()) == 1
    assert client.post("/__sim/config", json={"repeat_answer": "maybe"}).status_code == 422


def test_only_documented_paths_are_served_and_every_call_is_recorded(client):
    token = get_token(client)["token"]["id"]
    add(client, token, nested(), biz_id="B-1")
    # no voucher read is documented for U8 (docs/EXTERNAL_APIS.md 4.1): the simulator offers none
    for path in ("/api/voucher/get", "/api/voucher/batch_get"):
        assert client.get(path, params=params(token, reserve2="HUB-U-1", period="2026-01")).status_code == 404
    calls = client.get("/__sim/calls").json()
    assert calls["calls"] == {"GET /system/token": 1, "POST /api/voucher/add": 1, "GET /api/voucher/get": 1,
                              "GET /api/voucher/batch_get": 1}
    assert calls["not_u8"] == {"GET /api/voucher/get": 1, "GET /api/voucher/batch_get": 1}


def test_faults(client):
    token = get_token(client)["token"]["id"]
    client.post("/__sim/faults", json={"server_error": 1})
    assert add(client, token, nested(), biz_id="B-1").status_code == 500
    client.post("/__sim/faults", json={"rate_limit": 1})
    limited = add(client, token, nested(), biz_id="B-1").json()
    assert limited["errcode"] != "0" and "频繁" in limited["errmsg"]
    client.post("/__sim/faults", json={"expire_session": 1})
    assert "参数token已过期" in add(client, token, nested(), biz_id="B-1").json()["errmsg"]
    client.post("/__sim/faults", json={})
    assert "参数token已过期" in add(client, token, nested(), biz_id="B-1").json()["errmsg"]  # revoked for good
    assert client.get("/__sim/vouchers").json() == []
    token = get_token(client)["token"]["id"]
    client.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 0.3})
    started = time.monotonic()
    assert add(client, token, nested(), biz_id="B-1").json()["errcode"] == "0"
    assert time.monotonic() - started >= 0.3
    s = stats(client)
    assert (s["save_calls"], s["stored"], s["rejected"]) == (5, 1, 4)
    assert s["faults"] == {"expire_session": 1, "rate_limit": 1, "server_error": 1, "timeout_after_store": 1,
                           "slow": 0}


def test_real_server_over_http(tmp_path):
    with running("simulators.ufida", tmp_path, {"token_seconds": 600}) as base:
        with httpx.Client(base_url=base, timeout=5) as http:
            token = get_token(http)
            assert token["token"]["expiresIn"] == 600
            token = token["token"]["id"]
            ack = add(http, token, nested(), biz_id="B-H1", sync=0).json()
            assert ack["url"].startswith(base + "/result?requestid=")
            assert http.get(ack["url"]).json()["errcode"] == "0"
            http.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 1.5})
            with pytest.raises(httpx.ReadTimeout):
                add(http, token, nested("HUB-H2"), biz_id="B-H2", timeout=0.3)
            http.post("/__sim/faults", json={})
            [found] = [v for v in http.get("/__sim/vouchers").json() if v["external_key"] == "HUB-H2"]
            # stored although the caller timed out; the same biz_id is answered with that voucher
            assert add(http, token, nested("HUB-H2"), biz_id="B-H2").json()["id"] == found["id"]
            assert http.get("/__sim/stats").json()["stored"] == 2
