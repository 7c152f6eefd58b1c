"""The Kingdee K/3 Cloud simulator: login, signed headers, GL_VOUCHER Save and query, faults, admin API."""
from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import json
import time
import urllib.parse

import httpx
import pytest
from fastapi.testclient import TestClient

from simulators.kingdee import (
    BATCH_SAVE_PATH,
    DEFAULT_CONFIG,
    LOGIN_PATH,
    QUERY_PATH,
    SAVE_PATH,
    decode_app_secret,
    like_escape,
    like_regex,
    signed_headers,
)
from simulators.kingdee.app import create_app
from tests.unit.simulators import Clock, running

CFG = DEFAULT_CONFIG
FIELDS = "FVOUCHERID,FBillNo,FDate,FEXPLANATION,FACCOUNTID.FNumber,FDEBIT,FCREDIT"


def line(key, account, debit=0, credit=0, text="销售"):
    return {"FEXPLANATION": f"[{key}] {text}", "FACCOUNTID": {"FNumber": account}, "FDEBIT": debit,
            "FCREDIT": credit, "FCURRENCYID": {"FNumber": "PRE001"}, "FEXCHANGERATETYPE": {"FNumber": "HLTX01_SYS"},
            "FEXCHANGERATE": 1}


def model(key="HUB-S-1", day="2026-01-15", lines=None, book="001"):
    lines = lines or [line(key, "1122", debit=113.00), line(key, "6001", credit=100.00),
                      line(key, "2221.01.05", credit=13.00, text="销项税")]
    return {"FVOUCHERID": 0, "FAccountBookID": {"FNumber": book}, "FDate": day,
            "FVOUCHERGROUPID": {"FNumber": "PRE001"}, "FVOUCHERGROUPNO": "", "FDocumentStatus": "Z", "FEntity": lines}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(clock=clock)) as c:
        yield c


def login(client, secret=CFG["app_secret"]):
    r = client.post(LOGIN_PATH, json={"parameters": [CFG["acct_id"], CFG["user_name"], CFG["app_id"], secret, 2052]})
    assert r.status_code == 200
    return r


def save(client, m, sid=None, repeat=False, headers=None):
    h = dict(headers or {})
    if sid:
        h["kdservice-sessionid"] = sid
    data = {"Model": m, "ValidateRepeatJson": str(repeat).lower()}
    return client.post(SAVE_PATH, json={"formid": "GL_VOUCHER", "data": data}, headers=h)


def status(r):
    return r.json()["Result"]["ResponseStatus"]


def stats(client):
    return client.get("/__sim/stats").json()


# ---------------------------------------------------------------- section 3.3 signature, recomputed independently
def test_signed_headers_follow_section_3_3_step_by_step():
    path, now = SAVE_PATH, 1767225600.7
    acct, user, app_id, app_secret, client_sec = "acct01", "张三", "221234_ABC", "s3cret", "opaque-client-secret"
    got = signed_headers(path, acct, user, app_id, app_secret, client_sec, lcid=2052, org_num=0, now=now)

    encoded_path = urllib.parse.quote(path, encoding="utf-8").replace("/", "%2F")  # step 1
    timestamp = str(int(now))  # step 2: Unix seconds; the nonce is the same value
    nonce = timestamp
    api_sign = "POST\n" + encoded_path + "\n\n" + "x-api-nonce:" + nonce + "\n" + "x-api-timestamp:" + timestamp + "\n"

    def hmac_sha256(content, key):  # step 6: base64 of the lower-case hex string
        hex_string = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).hexdigest()
        return base64.b64encode(hex_string.encode("utf-8")).decode()

    app_data = acct + "," + user + "," + "2052" + "," + "0"  # step 7
    assert got["X-Api-ClientID"] == "221234"
    assert got["X-Api-Auth-Version"] == "2.0"
    assert got["x-api-timestamp"] == timestamp and got["x-api-nonce"] == nonce
    assert got["x-api-signheaders"] == "x-api-timestamp,x-api-nonce"
    assert got["X-Api-Signature"] == hmac_sha256(api_sign, client_sec)
    assert got["X-Kd-Appkey"] == app_id
    assert got["X-Kd-Appdata"] == base64.b64encode(app_data.encode("utf-8")).decode()
    assert got["X-Kd-Signature"] == hmac_sha256(app_id + app_data, app_secret)


def test_default_client_sec_is_what_the_sdk_derives_from_the_app_id():
    pad = codecs.encode("0054s397" + "p6234378" + "o09pn7q3" + "r5qropr7", "rot13").encode("ascii")  # step 4
    part = CFG["app_id"].split("_")[1]
    expected = base64.b64encode(bytes(b ^ pad[i] for i, b in enumerate(base64.b64decode(part)))).decode()
    assert decode_app_secret(part) == expected == CFG["client_sec"]
    assert decode_app_secret("short") == ""


def signed(path=SAVE_PATH, now=None, **override):
    args = dict(acct_id=CFG["acct_id"], user_name=CFG["user_name"], app_id=CFG["app_id"],
                app_secret=CFG["app_secret"], client_sec=CFG["client_sec"])
    return signed_headers(path, **{**args, **override}, now=now)


def test_signed_headers_authenticate_without_login(client, clock):
    assert status(save(client, model(), headers=signed(now=clock.t)))["IsSuccess"] is True
    bad = status(save(client, model("HUB-S-2"), headers=signed(now=clock.t, app_secret="wrong")))
    assert (bad["IsSuccess"], bad["MsgCode"]) == (False, 2) and "签名" in bad["Errors"][0]["Message"]
    stale = status(save(client, model("HUB-S-3"), headers=signed(now=clock.t - 301)))
    assert stale["MsgCode"] == 1 and "时间" in stale["Errors"][0]["Message"]
    assert len(client.get("/__sim/vouchers").json()) == 1


# ---------------------------------------------------------------- login and sessions
def test_login_success_sets_session_and_wrong_secret_is_refused(client):
    r = login(client)
    body = r.json()
    assert body["LoginResultType"] == 1 and body["Context"]["DBid"] == CFG["acct_id"]
    assert r.cookies["kdservice-sessionid"] == body["KDSVCSessionId"]
    obj = client.post(LOGIN_PATH, json={"acctid": CFG["acct_id"], "username": CFG["user_name"], "appid": CFG["app_id"],
                                        "appsecret": CFG["app_secret"], "lcid": 2052}).json()
    assert obj["LoginResultType"] == 1
    refused = login(client, secret="nope").json()
    assert refused["LoginResultType"] == 0 and refused["Message"] and refused["KDSVCSessionId"] is None


def test_session_by_header_or_cookie_and_expiry(client, clock):
    sid = login(client).json()["KDSVCSessionId"]
    assert status(save(client, model("HUB-A")))["IsSuccess"] is True  # the cookie the client kept
    client.cookies.clear()
    assert status(save(client, model("HUB-B")))["MsgCode"] == 1  # no session at all
    assert status(save(client, model("HUB-C"), sid=sid))["IsSuccess"] is True  # the header
    clock.t += CFG["session_seconds"] + 1
    lost = status(save(client, model("HUB-D"), sid=sid))
    assert (lost["IsSuccess"], lost["MsgCode"]) == (False, 1) and "重新登录" in lost["Errors"][0]["Message"]
    assert [v["external_key"] for v in client.get("/__sim/vouchers").json()] == ["HUB-A", "HUB-C"]


# ---------------------------------------------------------------- save
def test_valid_voucher_is_stored_and_numbered_per_period(client):
    login(client)
    first = save(client, model("HUB-S-1")).json()
    assert first["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert first["Result"]["Number"] == "记-0001"
    assert first["Result"]["ResponseStatus"]["SuccessEntitys"] == [{"Id": first["Result"]["Id"], "Number": "记-0001",
                                                                     "DIndex": 0}]
    assert save(client, model("HUB-S-2")).json()["Result"]["Number"] == "记-0002"
    old_form = {"parameters": ["GL_VOUCHER", json.dumps({"Model": model("HUB-S-3", day="2026-02-01")})]}
    feb = client.post(SAVE_PATH, json=old_form).json()
    assert feb["Result"]["Number"] == "记-0001"
    stored = client.get("/__sim/vouchers").json()
    assert stored[0] == {"id": str(first["Result"]["Id"]), "number": "记-0001", "date": "2026-01-15",
                         "period": "2026-01", "external_key": "HUB-S-1", "entries": [
                             {"account": "1122", "debit": "113.00", "credit": "0.00", "explanation": "[HUB-S-1] 销售",
                              "aux": {}},
                             {"account": "6001", "debit": "0.00", "credit": "100.00", "explanation": "[HUB-S-1] 销售",
                              "aux": {}},
                             {"account": "2221.01.05", "debit": "0.00", "credit": "13.00",
                              "explanation": "[HUB-S-1] 销项税", "aux": {}}]}
    assert stored[2]["period"] == "2026-02"


@pytest.mark.parametrize("bad, words", [
    (model(lines=[line("HUB-X", "1122", debit=113), line("HUB-X", "6001.99", credit=113)]), ["6001.99", "不存在"]),
    (model(lines=[line("HUB-X", "1122", debit=113), line("HUB-X", "6001", credit=100)]), ["借贷不平衡"]),
    (model(day="2025-12-31"), ["期间已结账", "2025-12"]),
    (model(lines=[line("HUB-X", "1122", debit=1.005), line("HUB-X", "6001", credit=1.005)]), ["2位小数"]),
    (model(lines=[line("HUB-X", "2221", debit=1), line("HUB-X", "6001", credit=1)]), ["2221", "明细科目"]),
    (model(book="999"), ["账簿[999]"]),
])
def test_invalid_voucher_is_refused_with_msgcode_11_and_nothing_stored(client, bad, words):
    login(client)
    client.post("/__sim/config", json={"closed_periods": ["2025-12"]})
    r = save(client, bad)
    st = status(r)
    assert r.status_code == 200 and (st["IsSuccess"], st["MsgCode"], st["ErrorCode"]) == (False, 11, 500)
    message = " ".join(e["Message"] for e in st["Errors"])
    assert all(w in message for w in words), message
    assert client.get("/__sim/vouchers").json() == []
    assert stats(client)["rejected"] == 1 and stats(client)["stored"] == 0


def test_validate_repeat_json_refuses_an_identical_model(client):
    login(client)
    assert status(save(client, model(), repeat=True))["IsSuccess"] is True
    again = status(save(client, model(), repeat=True))
    assert (again["IsSuccess"], again["MsgCode"]) == (False, 11) and "重复" in again["Errors"][0]["Message"]
    assert status(save(client, model()))["IsSuccess"] is True  # without the flag the ledger stores it again
    s = stats(client)
    assert (s["save_calls"], s["stored"], s["duplicates_refused"], s["rejected"]) == (3, 2, 1, 0)


def batch_save(client, models, repeat=False):
    data = {"Model": models, "BatchCount": 2, "ValidateRepeatJson": str(repeat).lower()}
    return client.post(BATCH_SAVE_PATH, json={"formid": "GL_VOUCHER", "data": data})


def test_batch_save_keeps_the_valid_models_and_names_each_refused_one_by_its_index(client):
    login(client)
    unbalanced = model("HUB-B2", lines=[line("HUB-B2", "1122", debit=113), line("HUB-B2", "6001", credit=100)])
    st = status(batch_save(client, [model("HUB-B1"), unbalanced, model("HUB-B3"), model("HUB-B4", day="x")]))
    assert (st["IsSuccess"], st["MsgCode"], st["ErrorCode"]) == (False, 11, 500)
    assert [(e["DIndex"], e["Number"]) for e in st["SuccessEntitys"]] == [(0, "记-0001"), (2, "记-0002")]
    assert {e["DIndex"] for e in st["Errors"]} == {1, 3}
    assert "借贷不平衡" in next(e["Message"] for e in st["Errors"] if e["DIndex"] == 1)
    assert [v["external_key"] for v in client.get("/__sim/vouchers").json()] == ["HUB-B1", "HUB-B3"]
    s = stats(client)
    assert (s["batch_save_calls"], s["batch_models"], s["stored"], s["rejected"], s["save_calls"]) == (1, 4, 2, 2, 0)


def test_batch_save_all_valid_is_a_success_and_validate_repeat_json_applies_per_model(client):
    login(client)
    ok = status(batch_save(client, [model("HUB-B1"), model("HUB-B2")], repeat=True))
    assert (ok["IsSuccess"], ok["Errors"], [e["DIndex"] for e in ok["SuccessEntitys"]]) == (True, [], [0, 1])
    again = status(batch_save(client, [model("HUB-B2"), model("HUB-B3")], repeat=True))
    assert [e["DIndex"] for e in again["SuccessEntitys"]] == [1]
    assert [e["DIndex"] for e in again["Errors"]] == [0] and "重复" in again["Errors"][0]["Message"]
    assert status(batch_save(client, []))["MsgCode"] == 8  # an empty batch is a request error
    assert stats(client)["duplicates_refused"] == 1


def test_batch_save_faults_apply_to_the_whole_call(client):
    login(client)
    client.post("/__sim/faults", json={"server_error": 1})
    assert batch_save(client, [model("HUB-B1"), model("HUB-B2")]).status_code == 500
    client.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 0.2})
    assert status(batch_save(client, [model("HUB-B1"), model("HUB-B2")]))["IsSuccess"] is True
    assert len(client.get("/__sim/vouchers").json()) == 2


# ---------------------------------------------------------------- query
def query(client, filter_string, field_keys=FIELDS, **extra):
    data = {"FormId": "GL_VOUCHER", "FieldKeys": field_keys, "FilterString": filter_string, "StartRow": 0,
            "Limit": 2000, **extra}
    return client.post(QUERY_PATH, json={"data": data})


def test_query_by_external_key_tag_and_date(client):
    login(client)
    ids = [save(client, model(k, day=d)).json()["Result"]["Id"]
           for k, d in (("HUB-S-1", "2026-01-15"), ("HUB-S-10", "2026-01-20"), ("HUB-S-2", "2026-02-03"))]
    rows = query(client, f"FEXPLANATION like '{like_escape('[HUB-S-1]')}%'").json()
    assert rows == [[ids[0], "记-0001", "2026-01-15T00:00:00", "[HUB-S-1] 销售", "1122", 113.0, 0.0],
                    [ids[0], "记-0001", "2026-01-15T00:00:00", "[HUB-S-1] 销售", "6001", 0.0, 100.0],
                    [ids[0], "记-0001", "2026-01-15T00:00:00", "[HUB-S-1] 销项税", "2221.01.05", 0.0, 13.0]]
    feb = query(client, "FEXPLANATION like '%HUB-S-%' and FDate >= '2026-02-01' and FDate <= '2026-02-28'").json()
    assert {r[0] for r in feb} == {ids[2]}
    assert query(client, "FEXPLANATION like '%[[]HUB-NONE]%'").json() == []
    assert len(query(client, "", Limit=2).json()) == 2
    err = query(client, "", field_keys="FVOUCHERID,FNoSuchField").json()
    assert err[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 9  # errors come wrapped in [[...]]


def test_like_follows_sql_server_brackets():
    assert like_regex("[[]HUB-1]%").fullmatch("[HUB-1] x")
    assert not like_regex("[[]HUB-1]%").fullmatch("[HUB-10] x")
    assert like_regex("[HUB-1]%").fullmatch("H")  # unescaped: a character class, as on SQL Server
    assert like_regex("[HUB-1]%", "literal").fullmatch("[HUB-1] x")


# ---------------------------------------------------------------- faults and admin
def test_faults_server_error_rate_limit_and_expire_session(client):
    sid = login(client).json()["KDSVCSessionId"]
    client.post("/__sim/faults", json={"server_error": 1})
    r = save(client, model("HUB-F1"))
    assert r.status_code == 500
    client.post("/__sim/faults", json={"rate_limit": 1})
    limited = status(save(client, model("HUB-F2")))
    assert limited["MsgCode"] == 14 and "频繁" in limited["Errors"][0]["Message"]
    client.post("/__sim/faults", json={"expire_session": 1})
    assert status(save(client, model("HUB-F3")))["MsgCode"] == 1
    client.post("/__sim/faults", json={})
    assert status(save(client, model("HUB-F4"), sid=sid))["MsgCode"] == 1  # the session really is gone
    login(client)
    assert status(save(client, model("HUB-F5")))["IsSuccess"] is True
    assert [v["external_key"] for v in client.get("/__sim/vouchers").json()] == ["HUB-F5"]
    s = stats(client)
    assert (s["save_calls"], s["stored"], s["rejected"], s["duplicates_refused"]) == (5, 1, 4, 0)
    assert {k: s["faults"][k] for k in ("server_error", "rate_limit", "expire_session")} == {
        "server_error": 1, "rate_limit": 1, "expire_session": 1}


def test_timeout_after_store_stores_first_then_hangs(client):
    login(client)
    client.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 0.3})
    started = time.monotonic()
    assert status(save(client, model("HUB-T")))["IsSuccess"] is True
    assert time.monotonic() - started >= 0.3
    assert stats(client)["faults"]["timeout_after_store"] == 1


def test_faults_are_repeatable_with_a_seed_and_reset_clears_everything(client):
    def run():
        login(client)
        client.post("/__sim/faults", json={"server_error": 0.5, "seed": 7})
        return [save(client, model(f"HUB-R{i}")).status_code for i in range(12)]

    first = run()
    assert 500 in first and 200 in first
    client.post("/__sim/reset")
    assert stats(client) == {"save_calls": 0, "stored": 0, "rejected": 0, "duplicates_refused": 0,
                             "batch_save_calls": 0, "batch_models": 0,
                             "faults": {"expire_session": 0, "rate_limit": 0, "server_error": 0,
                                        "timeout_after_store": 0, "slow": 0}}
    assert run() == first
    assert client.post("/__sim/faults", json={"server_eror": 1}).status_code == 422
    assert client.post("/__sim/config", json={"nonsense": 1}).status_code == 422


# ---------------------------------------------------------------- the real server over HTTP
def test_real_server_over_http(tmp_path):
    with running("simulators.kingdee", tmp_path, {"closed_periods": ["2025-12"]}) as base:
        with httpx.Client(base_url=base, timeout=5) as http:
            r = http.post(LOGIN_PATH, json={"parameters": [CFG["acct_id"], CFG["user_name"], CFG["app_id"],
                                                               CFG["app_secret"], 2052]})
            assert "kdservice-sessionid=" in r.headers["set-cookie"]
            assert status(save(http, model("HUB-H1")))["IsSuccess"] is True  # cookie kept by the client
            assert status(save(http, model("HUB-H2", day="2025-12-31")))["MsgCode"] == 11
            http.post("/__sim/faults", json={"timeout_after_store": 1, "hang_seconds": 1.5})
            with pytest.raises(httpx.ReadTimeout):
                http.post(SAVE_PATH, json={"formid": "GL_VOUCHER", "data": {"Model": model("HUB-H3")}}, timeout=0.3)
            assert [v["external_key"] for v in http.get("/__sim/vouchers").json()] == ["HUB-H1", "HUB-H3"]
            rows = query(http, f"FEXPLANATION like '{like_escape('[HUB-H3]')}%'").json()
            assert len(rows) == 3 and rows[0][1] == "记-0002"
