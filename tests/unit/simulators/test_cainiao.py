"""The Cainiao e-waybill simulator: TOP signature and gateway checks, the get call (a new number on every
call, the whole call refused for one bad request), the look-up by order, faults and the admin API."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from simulators.cainiao import DEFAULT_CONFIG, GET, PATH, QUERY, sign
from simulators.cainiao.app import create_app
from tests.unit.simulators import Clock

CFG = DEFAULT_CONFIG
SENDER = {"name": "仓库", "mobile": "13800000000", "address": {"province": "浙江省", "city": "杭州市", "detail": "1号"}}
RECIPIENT = {"name": "韩梅梅", "mobile": "13900000000", "address": {"province": "上海", "city": "上海市", "detail": "2号"}}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(clock=clock)) as c:
        yield c


def stamp(clock) -> str:
    return datetime.fromtimestamp(clock(), ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")


def call(client, clock, method, secret=CFG["app_secret"], session=CFG["session"], **biz):
    params = {"method": method, "app_key": CFG["app_key"], "session": session, "timestamp": stamp(clock),
              "format": "json", "v": "2.0", "sign_method": "md5", **biz}
    params["sign"] = sign(params, secret, "md5")
    return client.post(PATH, data=params)


def dto(object_id="O-1-P1", order="O-1", **over):
    return {"object_id": object_id, "order_info": {"order_channels_type": "OTHERS", "trade_order_list": [order]},
            "recipient": RECIPIENT, **over}


def get(client, clock, *dtos, cp_code="ZTO", **kw):
    request = {"cp_code": cp_code, "sender": SENDER, "trade_order_info_dtos": list(dtos)}
    return call(client, clock, GET, param_waybill_cloud_print_apply_new_request=json.dumps(request), **kw)


def query(client, clock, order):
    return call(client, clock, QUERY, param_list=json.dumps([{"biz_sub_code": order}]))


def test_get_issues_one_number_per_request_and_another_on_every_call(client, clock):
    first = get(client, clock, dto()).json()["cainiao_waybill_ii_get_response"]
    again = get(client, clock, dto()).json()["cainiao_waybill_ii_get_response"]
    [a], [b] = (r["modules"]["waybill_cloud_print_response"] for r in (first, again))
    assert a["object_id"] == b["object_id"] == "O-1-P1" and a["cp_code"] == "ZTO"
    assert a["waybill_code"] == "ZT75000000000001" and b["waybill_code"] == "ZT75000000000002"
    assert json.loads(a["print_data"])["data"]["waybillCode"] == a["waybill_code"]
    assert first["request_id"]
    stats = client.get("/__sim/stats").json()
    assert stats["issued"] == 2 and stats["objects_with_more_than_one"] == ["O-1-P1"]


def test_query_by_tradecode_lists_the_orders_numbers(client, clock):
    get(client, clock, dto("A-P1", "A"), dto("B-P1", "B"))
    answer = query(client, clock, "A").json()["cainiao_waybill_ii_query_by_tradecode_response"]
    [module] = answer["modules"]["waybill_cloud_print_with_result_desc_response"]
    found = module["waybill_cloud_print_response_list"]["waybill_cloud_print_response"]
    assert [w["object_id"] for w in found] == ["A-P1"]
    none = query(client, clock, "C").json()["cainiao_waybill_ii_query_by_tradecode_response"]
    assert none["modules"]["waybill_cloud_print_with_result_desc_response"][0][
        "waybill_cloud_print_response_list"]["waybill_cloud_print_response"] == []


@pytest.mark.parametrize("change, code, sub_code", [
    ({"secret": "wrong"}, 25, "isv.signature-invalid"),
    ({"session": "nope"}, 27, "invalid-sessionkey"),
])
def test_gateway_checks_answer_top_error_envelopes_and_issue_nothing(client, clock, change, code, sub_code):
    r = get(client, clock, dto(), **change)
    assert r.status_code == 200
    error = r.json()["error_response"]
    assert (error["code"], error.get("sub_code")) == (code, sub_code) and error["request_id"]
    assert client.get("/__sim/waybills").json() == []


def test_a_stale_timestamp_is_refused(client, clock):
    r = get(client, clock, dto())
    assert "error_response" not in r.json()
    clock.t += 3600
    params = {"method": GET, "app_key": CFG["app_key"], "session": CFG["session"], "format": "json", "v": "2.0",
              "timestamp": "2020-01-01 00:00:00", "param_waybill_cloud_print_apply_new_request": "{}"}
    params["sign"] = sign(params, CFG["app_secret"])
    assert client.post(PATH, data=params).json()["error_response"]["code"] == 31


@pytest.mark.parametrize("bad, sub_code", [
    ({"object_id": ""}, "isv.missing-parameter:trade_order_info_dtos[1].object_id"),
    ({"recipient": None}, "isv.missing-parameter:trade_order_info_dtos[1].recipient"),
    ({"order_info": {"trade_order_list": []}}, "isv.missing-parameter:trade_order_info_dtos[1].order_info.trade_order_list"),
])
def test_one_bad_request_refuses_the_whole_call(client, clock, bad, sub_code):
    error = get(client, clock, dto(), {**dto("X-P1", "X"), **bad}).json()["error_response"]
    assert (error["code"], error["sub_code"]) == (40, sub_code)
    assert client.get("/__sim/waybills").json() == []


def test_an_unsubscribed_carrier_and_too_many_requests_are_refused(client, clock):
    error = get(client, clock, dto(), cp_code="EMS").json()["error_response"]
    assert (error["code"], error["sub_code"]) == (15, "isv.cp-code-not-subscribed")
    error = get(client, clock, *[dto(f"O-{i}-P1", f"O-{i}") for i in range(11)]).json()["error_response"]
    assert error["code"] == 41
    assert client.get("/__sim/waybills").json() == []


def test_faults_rate_limit_and_server_error_issue_nothing(client, clock):
    assert client.post("/__sim/faults", json={"rate_limit": 1.0}).status_code == 200
    assert get(client, clock, dto()).json()["error_response"]["code"] == 7
    client.post("/__sim/faults", json={"server_error": 1.0})
    r = get(client, clock, dto())
    assert r.status_code == 500 and r.text == "simulated internal server error"
    assert client.get("/__sim/waybills").json() == []
    assert client.get("/__sim/stats").json()["faults"]["rate_limit"] == 1
    assert client.post("/__sim/faults", json={"rate_limit": 2}).status_code == 422
    assert client.post("/__sim/faults", json={"nope": 0.1}).status_code == 422


def test_timeout_after_issue_issues_then_answers_late(client, clock):
    client.post("/__sim/faults", json={"timeout_after_issue": 1.0, "hang_seconds": 0.05})
    r = get(client, clock, dto())
    assert r.status_code == 200  # late, but the number exists
    [issued] = client.get("/__sim/waybills").json()
    assert r.json()["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"][0][
        "waybill_code"] == issued["waybill_code"]
    assert client.post("/__sim/reset").status_code == 200
    assert client.get("/__sim/waybills").json() == [] and client.get("/__sim/faults").json()["faults"][
        "timeout_after_issue"] == 0
