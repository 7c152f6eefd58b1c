"""The order service's Cainiao-style waybill client against the simulator (in process): the TOP signature
it sends, and how it sorts the carrier's answers into issued, certainly not issued, ambiguous and refused."""
from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi.testclient import TestClient

from services.order.carrier import Ambiguous, CainiaoClient, CarrierConfig, NotIssued, Refused, sign
from simulators.cainiao import DEFAULT_CONFIG
from simulators.cainiao import sign as simulator_sign
from simulators.cainiao.app import create_app

SENDER = {"name": "仓库", "mobile": "1", "address": {"province": "浙江省", "city": "杭州市", "detail": "1号"}}
RECIPIENT = {"name": "韩梅梅", "mobile": "2", "address": {"province": "上海", "city": "上海市", "detail": "2号"}}


def client_for(transport, cp_code="ZTO", secret=DEFAULT_CONFIG["app_secret"]) -> CainiaoClient:
    return CainiaoClient(CarrierConfig(base_url="http://carrier", app_key=DEFAULT_CONFIG["app_key"], app_secret=secret,
                                       session=DEFAULT_CONFIG["session"], cp_code=cp_code, sender=SENDER),
                         transport=transport)


def in_process(app) -> httpx.BaseTransport:
    """The simulator app as a sync transport (the test client's own)."""
    return TestClient(app)._transport


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def client(app):
    return client_for(in_process(app))


def test_the_signature_is_tops_md5_and_agrees_with_the_simulator():
    params = {"method": "x", "app_key": "k", "v": "2.0", "empty": "", "b": "中文", "sign": "old"}
    wrapped = "s" + "app_keyk" + "b中文" + "methodx" + "v2.0" + "s"  # sorted, empty values and sign left out
    assert sign(params, "s") == hashlib.md5(wrapped.encode("utf-8")).hexdigest().upper()
    assert sign(params, "s") == simulator_sign(params, "s")


def test_a_number_is_taken_and_found_again_by_its_order(client):
    got = client.get_waybill("O-1-P1", "O-1", RECIPIENT)
    assert (got.object_id, got.cp_code) == ("O-1-P1", "ZTO") and got.waybill_code.startswith("ZT")
    assert client.find_waybills("O-1") == [got]
    assert client.find_waybills("O-2") == []


def _answer(status: int, body) -> httpx.MockTransport:
    def handle(request):
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)
    return httpx.MockTransport(handle)


def _error(code, sub_code=""):
    return {"error_response": {"code": code, "msg": "m", "sub_code": sub_code, "request_id": "r"}}


@pytest.mark.parametrize("transport, kind", [
    (_answer(200, _error(7, "accesscontrol.limited-by-app-api-access-count")), NotIssued),  # rate limit
    (_answer(200, _error(27, "invalid-sessionkey")), NotIssued),
    (_answer(500, "simulated internal server error"), Ambiguous),
    (_answer(200, _error(520, "isp.remote-service-timeout")), Ambiguous),
    (_answer(200, "<html>gateway</html>"), Ambiguous),
    (_answer(200, {"cainiao_waybill_ii_get_response": {"modules": {}}}), Ambiguous),  # no number named
    (_answer(200, _error(15, "isv.cp-code-not-subscribed")), Refused),
    (_answer(403, "forbidden"), NotIssued),
])
def test_answers_are_sorted_by_what_they_say_about_the_carriers_state(transport, kind):
    with pytest.raises(kind):
        client_for(transport).get_waybill("O-1-P1", "O-1", RECIPIENT)


def test_a_timeout_is_ambiguous_and_a_refused_connection_is_not():
    def timeout(request):
        raise httpx.ReadTimeout("late", request=request)

    def refused(request):
        raise httpx.ConnectError("refused", request=request)
    with pytest.raises(Ambiguous):
        client_for(httpx.MockTransport(timeout)).get_waybill("O-1-P1", "O-1", RECIPIENT)
    with pytest.raises(NotIssued):
        client_for(httpx.MockTransport(refused)).get_waybill("O-1-P1", "O-1", RECIPIENT)


def test_the_simulators_refusals_reach_the_client_as_what_they_mean(app):
    with pytest.raises(NotIssued, match="TOP 25"):  # a wrong secret: signature refused, nothing done
        client_for(in_process(app), secret="wrong").get_waybill("O-1-P1", "O-1", RECIPIENT)
    with pytest.raises(Refused, match="cp-code-not-subscribed"):
        client_for(in_process(app), cp_code="EMS").get_waybill("O-1-P1", "O-1", RECIPIENT)
