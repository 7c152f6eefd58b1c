"""The JD JOS shop simulator: signature, gateway errors, OAuth refresh, order search, shipment, stock,
order generation and changes, faults, amounts, and one real server in a subprocess."""
from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from simulators.jd import (
    DEFAULT_CONFIG,
    EN_SEARCH,
    OAUTH_PREFIX,
    REFRESH_PATH,
    ROUTER_PATH,
    SEARCH,
    SHIPMENT,
    STOCK,
    fmt_time,
    sign,
    signed_params,
)
from simulators.jd.app import create_app
from simulators.jd.orders import allocate
from tests.unit.simulators import Clock, running

CFG = DEFAULT_CONFIG
MAIN, OUTLET = CFG["shops"]
KEY, SECRET = CFG["app_key"], CFG["app_secret"]
RESULT = "jingdong_pop_order_search_responce"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(clock=clock)) as c:
        yield c


def params(clock, method, biz, token=MAIN["access_token"], secret=SECRET, app_key=KEY, **kw):
    return signed_params(method, biz, app_key=app_key, app_secret=secret, access_token=token, now=clock(), **kw)


def call(client, clock, method, biz, **kw):
    r = client.post(ROUTER_PATH, params=params(clock, method, biz, **kw))
    assert r.status_code == 200, r.text
    return r.json()


def search(client, clock, biz=None, method=SEARCH, **kw):
    body = call(client, clock, method, {"page": "1", "page_size": "100", **(biz or {})}, **kw)
    key = RESULT if method == SEARCH else "jingdong_pop_order_enSearch_responce"
    assert body[key]["code"] == "0"
    return body[key]["searchorderinfo_result"]


def ids(result):
    return [o["orderId"] for o in result["orderInfoList"]]


def generate(client, count, seed=1, shop="jd-main", **kw):
    r = client.post("/__sim/orders/generate", json={"shop": shop, "count": count, "seed": seed, **kw})
    assert r.status_code == 200, r.text
    return r.json()["orderIds"]


def advance(client, seconds):
    return client.post("/__sim/clock", json={"advance_seconds": seconds}).json()


def faults(client, **settings):
    r = client.post("/__sim/faults", json=settings)
    assert r.status_code == 200, r.text


def error_code(body):
    assert set(body) == {"error_response"}
    assert set(body["error_response"]) == {"code", "zh_desc", "en_desc"}
    return body["error_response"]["code"]


# ---------------------------------------------------------------- signature and gateway (sections 2.2, 2.5)
def test_sign_matches_the_official_vector():
    vector = {
        "360buy_param_json": '{"end_date":null,"optional_fields":null,"order_state":"WAIT_SELLER_STOCK_OUT",'
                             '"page":"1","page_size":"200","start_date":null}',
        "access_token": "yourtoken", "app_key": "yourappkey", "method": "jingdong.pop.order.search",
        "timestamp": "2021-05-07 09:20:39.683+0800", "v": "2.0",
    }
    assert sign(vector, "yourappSecret") == "D70825340F4084360B9362B60DFD7930"
    assert sign({**vector, "sign": "ignored"}, "yourappSecret") == "D70825340F4084360B9362B60DFD7930"


def test_query_params_form_body_both_timestamp_forms_and_signed_format(client, clock):
    generate(client, 3)
    assert search(client, clock)["orderTotal"] == 3  # SDK form .SSS+0800, query params
    p = params(clock, SEARCH, {"page": "1", "page_size": "10"}, timestamp=fmt_time(clock()), fmt="json")
    r = client.post(ROUTER_PATH, data=p)  # form body, plain yyyy-MM-dd HH:mm:ss, format signed too
    assert r.json()[RESULT]["searchorderinfo_result"]["orderTotal"] == 3
    p = dict(p, format="xml")  # an unsigned change of any param breaks the signature
    assert error_code(client.post(ROUTER_PATH, data=p).json()) == "12"


def test_gateway_errors(client, clock):
    biz = {"page": "1", "page_size": "10"}
    assert error_code(call(client, clock, SEARCH, biz, secret="wrong-secret")) == "12"
    assert error_code(call(client, clock, SEARCH, biz, app_key="nope")) == "21"
    p = params(clock, SEARCH, biz)
    del p["sign"]
    assert error_code(client.post(ROUTER_PATH, params=p).json()) == "11"
    stale = signed_params(SEARCH, biz, app_key=KEY, app_secret=SECRET, access_token=MAIN["access_token"],
                          now=clock() - 361)
    assert error_code(client.post(ROUTER_PATH, params=stale).json()) == "8"
    fresh = signed_params(SEARCH, biz, app_key=KEY, app_secret=SECRET, access_token=MAIN["access_token"],
                          now=clock() - 300)
    assert RESULT in client.post(ROUTER_PATH, params=fresh).json()
    p = params(clock, SEARCH, biz)
    del p["timestamp"]
    p["sign"] = sign(p, SECRET)
    assert error_code(client.post(ROUTER_PATH, params=p).json()) == "7"
    assert error_code(call(client, clock, SEARCH, biz, timestamp="2026/01/01 08:00:00")) == "8"
    assert error_code(call(client, clock, SEARCH, biz, token="not-a-token")) == "19"
    assert error_code(call(client, clock, "jingdong.no.such.method", biz)) == "15"
    body = client.post(ROUTER_PATH, params=params(clock, SEARCH, biz, secret="x")).json()
    assert body == {"error_response": {"code": "12", "zh_desc": "无效签名", "en_desc": "Invalid Signature"}}
    assert client.get("/__sim/stats").json()["gateway_errors"] == {"12": 2, "21": 1, "11": 1, "8": 2, "7": 1,
                                                                  "19": 1, "15": 1}


def test_expired_token_gives_19_then_refresh_works(client, clock):
    generate(client, 2)
    assert search(client, clock)["orderTotal"] == 2
    advance(client, MAIN["token_seconds"] + 1)  # the simulator clock; the wall clock (timestamps) stays
    assert error_code(call(client, clock, SEARCH, {})) == "19"
    refused = client.get(REFRESH_PATH, params={"app_key": KEY, "app_secret": SECRET, "grant_type": "refresh_token",
                                               "refresh_token": "bogus"}).json()
    assert refused["code"] == 402 and "access_token" not in refused
    r = client.get(REFRESH_PATH, params={"app_key": KEY, "app_secret": SECRET, "grant_type": "refresh_token",
                                         "refresh_token": MAIN["refresh_token"]}).json()
    assert set(r) >= {"access_token", "expires_in", "refresh_token"}
    assert r["expires_in"] == MAIN["token_seconds"] and r["access_token"] != MAIN["access_token"]
    assert search(client, clock, token=r["access_token"])["orderTotal"] == 2
    assert error_code(call(client, clock, SEARCH, {}, token=MAIN["access_token"])) == "19"
    # the other shop's token is still the configured one, and expired too
    assert error_code(call(client, clock, SEARCH, {}, token=OUTLET["access_token"])) == "19"
    again = client.get(REFRESH_PATH, params={"app_key": KEY, "app_secret": SECRET, "grant_type": "refresh_token",
                                             "refresh_token": MAIN["refresh_token"]}).json()
    assert again["code"] == 402  # refresh tokens rotate
    tokens = {t["shop"]: t for t in client.get("/__sim/tokens").json()}
    assert tokens["jd-main"]["access_token"] == r["access_token"] and not tokens["jd-main"]["expired"]


def test_refresh_without_rotation_keeps_the_old_token_until_it_expires(clock):
    with TestClient(create_app({"refresh_rotates": False}, clock=clock)) as client:
        q = {"app_key": KEY, "app_secret": SECRET, "grant_type": "refresh_token",
             "refresh_token": MAIN["refresh_token"]}
        advance(client, 100)
        r = client.get(REFRESH_PATH, params=q).json()
        assert r["refresh_token"] == MAIN["refresh_token"]
        assert search(client, clock)["orderTotal"] == 0  # the configured token still works
        advance(client, MAIN["token_seconds"] - 50)
        assert error_code(call(client, clock, SEARCH, {})) == "19"
        assert search(client, clock, token=r["access_token"])["orderTotal"] == 0
        assert client.get(REFRESH_PATH, params={**q, "app_secret": "x"}).json()["code"] == 401
        assert client.get(REFRESH_PATH, params={**q, "grant_type": "code"}).json()["code"] == 400


def test_refresh_is_served_on_its_own_oauth_path_too(client, clock):
    q = {"app_key": KEY, "app_secret": SECRET, "grant_type": "refresh_token", "refresh_token": MAIN["refresh_token"]}
    r = client.get(OAUTH_PREFIX + REFRESH_PATH, params=q).json()
    assert r["code"] == 0 and r["access_token"] != MAIN["access_token"]
    assert search(client, clock, token=r["access_token"])["orderTotal"] == 0
    assert client.post(OAUTH_PREFIX + REFRESH_PATH, data={**q, "refresh_token": r["refresh_token"]}).json()["code"] == 0


# ---------------------------------------------------------------- order search (section 2.3)
def test_search_by_modified_window_and_by_creation_time(client, clock):
    old = generate(client, 4, seed=1)
    t_old = client.get("/__sim/clock").json()["now"]
    advance(client, 600)
    new = generate(client, 3, seed=2)
    changed = client.post(f"/__sim/orders/{old[0]}/change", json={"action": "address"}).json()
    now = client.get("/__sim/clock").json()["now"]
    assert changed["modified"] == fmt_time(now)
    window = {"start_date": fmt_time(t_old + 300), "end_date": fmt_time(now), "dateType": 0}
    assert sorted(ids(search(client, clock, window))) == sorted(new + [old[0]])
    # by creation time the re-modified old order stays out of the window
    created = search(client, clock, {**window, "dateType": 1})
    assert set(ids(created)) <= set(new) and old[0] not in ids(created)
    # both ends inclusive
    exact = search(client, clock, {"start_date": fmt_time(now), "end_date": fmt_time(now)})
    assert sorted(ids(exact)) == sorted(new + [old[0]])
    # the other shop sees none of them
    assert search(client, clock, token=OUTLET["access_token"])["orderTotal"] == 0


def test_paging_and_sort_desc(client, clock):
    for seed in range(5):
        generate(client, 5, seed=seed)
        advance(client, 7)
    full = search(client, clock, {"sortType": 1})
    assert full["orderTotal"] == 25 and full["apiResult"] == {"success": True, "englishErrCode": "",
                                                             "chineseErrCode": "", "numberCode": 0}
    keys = [(o["modified"], int(o["orderId"])) for o in full["orderInfoList"]]
    assert keys == sorted(keys, reverse=True)
    pages = [search(client, clock, {"sortType": 1, "page": str(p), "page_size": "10"}) for p in (1, 2, 3, 4)]
    assert [len(p["orderInfoList"]) for p in pages] == [10, 10, 5, 0]
    assert all(p["orderTotal"] == 25 for p in pages)
    assert sum((ids(p) for p in pages), []) == ids(full)
    asc = search(client, clock, {"sortType": 0})
    assert ids(asc) == ids(full)[::-1]
    too_big = search(client, clock, {"page_size": "101"})
    assert too_big["apiResult"]["success"] is False and too_big["apiResult"]["numberCode"] == 10100
    assert too_big["orderTotal"] == 0 and too_big["orderInfoList"] == []


def test_state_filter_optional_fields_and_en_search(client, clock):
    got = generate(client, 20, seed=3, paid_ratio=0.5)
    unpaid = search(client, clock, {"order_state": "WAIT_BUYER_PAY"})
    paid = search(client, clock, {"order_state": "WAIT_SELLER_STOCK_OUT,FINISHED_L"})
    assert unpaid["orderTotal"] + paid["orderTotal"] == 20 and unpaid["orderTotal"] > 0 and paid["orderTotal"] > 0
    assert all(o["paymentConfirmTime"] == "" for o in unpaid["orderInfoList"])
    slim = search(client, clock, {"optional_fields": "orderId,orderState,modified"})
    assert all(set(o) == {"orderId", "orderState", "modified"} for o in slim["orderInfoList"])
    en = search(client, clock, method=EN_SEARCH)
    assert sorted(ids(en)) == sorted(got)
    bad = search(client, clock, {"order_state": "NO_SUCH_STATE"})
    assert bad["apiResult"]["success"] is False
    bad = search(client, clock, {"start_date": "2026-01-01"})
    assert bad["apiResult"]["success"] is False and "start_date" in bad["apiResult"]["chineseErrCode"]


def test_order_info_shape_and_types(client, clock):
    generate(client, 30, seed=4)
    for o in search(client, clock)["orderInfoList"]:
        for key in ("orderId", "venderId", "orderType", "payType", "orderTotalPrice", "orderSellerPrice",
                    "orderPayment", "freightPrice", "sellerDiscount", "orderState", "orderStateRemark",
                    "orderStartTime", "paymentConfirmTime", "modified", "orderRemark", "venderRemark", "pin"):
            assert isinstance(o[key], str), key
        assert set(o["consigneeInfo"]) >= {"fullname", "telephone", "mobile", "fullAddress", "province", "city",
                                           "county", "town"}
        for it in o["itemInfoList"]:
            assert {"skuId", "skuName", "jdPrice", "itemTotal", "wareId"} <= set(it)
            assert all(isinstance(v, str) for v in it.values())
        for c in o["couponDetailList"]:
            assert set(c) == {"orderId", "skuId", "couponType", "couponPrice"} and c["orderId"] == o["orderId"]
        assert o["venderId"] == MAIN["venderId"] and o["orderType"] == "22"


# ---------------------------------------------------------------- amounts
def test_amounts_are_consistent_and_allocate_exactly(client, clock):
    generate(client, 200, seed=7)
    orders = client.get("/__sim/orders").json()
    seen = {"sku": 0, "order": 0, "freight": 0}
    for o in orders:
        d = {k: Decimal(o[k]) for k in ("orderTotalPrice", "orderSellerPrice", "orderPayment", "freightPrice",
                                        "sellerDiscount")}
        goods = sum(Decimal(i["jdPrice"]) * int(i["itemTotal"]) for i in o["itemInfoList"])
        coupons = sum((Decimal(c["couponPrice"]) for c in o["couponDetailList"]), Decimal("0"))
        seller = sum((Decimal(c["couponPrice"]) for c in o["couponDetailList"]
                      if c["couponType"].split("-")[0] in ("30", "100")), Decimal("0"))
        assert d["orderTotalPrice"] == goods
        assert d["sellerDiscount"] == seller
        assert d["orderSellerPrice"] == goods - seller
        assert d["orderPayment"] == goods - coupons + d["freightPrice"]
        line_skus = {i["skuId"] for i in o["itemInfoList"]}
        for c in o["couponDetailList"]:
            assert (c["skuId"] in line_skus) if c["couponType"].startswith("30-") else c["skuId"] == ""
        lines = allocate(o)
        assert sum(Decimal(x["payment"]) for x in lines) == d["orderPayment"]
        assert sum(Decimal(x["freight"]) for x in lines) == d["freightPrice"]
        assert all(Decimal(x["payment"]) >= 0 for x in lines)
        seen["sku"] += any(c["skuId"] for c in o["couponDetailList"])
        seen["order"] += any(not c["skuId"] for c in o["couponDetailList"])
        seen["freight"] += d["freightPrice"] > 0
    assert all(n >= 10 for n in seen.values()), seen
    assert {len(o["itemInfoList"]) for o in orders} == {1, 2, 3}
    starts = [o["orderStartTime"] for o in orders]
    assert len(set(starts)) < len(starts)  # several orders created in the same second


# ---------------------------------------------------------------- shipment and stock (section 2.4)
def test_shipment_then_repeat(client, clock):
    made = client.post("/__sim/orders/generate", json={"shop": "jd-main", "count": 1, "paid_ratio": 1}).json()
    oid = made["orderIds"][0]
    assert made["orders"][0]["orderId"] == oid and made["orders"][0]["orderState"] == "WAIT_SELLER_STOCK_OUT"
    biz = {"orderId": oid, "logiCoprId": "467", "logiNo": "SF1234567890"}
    first = call(client, clock, SHIPMENT, biz)
    assert first == {"jingdong_pop_order_shipment_responce": {"code": "0", "sopjosshipment_result": {
        "success": True, "chineseErrCode": "", "englishErrCode": "", "errorCode": ""}}}
    order = client.get(f"/__sim/orders/{oid}").json()
    assert order["orderState"] == "WAIT_GOODS_RECEIVE_CONFIRM" and order["waybill"] == "SF1234567890"
    repeat = call(client, clock, SHIPMENT, biz)["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]
    assert repeat["success"] is False and "已出库" in repeat["chineseErrCode"]
    assert repeat["englishErrCode"] == "order has already been shipped"
    shipments = client.get("/__sim/shipments").json()
    assert [(s["orderId"], s["logiNo"], s["shop"]) for s in shipments] == [(oid, "SF1234567890", "jd-main")]
    missing = call(client, clock, SHIPMENT, {"orderId": "1", "logiCoprId": "467", "logiNo": "x"})
    assert missing["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]["success"] is False
    other_shop = call(client, clock, SHIPMENT, biz, token=OUTLET["access_token"])
    assert "不存在" in other_shop["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]["chineseErrCode"]
    stats = client.get("/__sim/stats").json()
    assert stats["shipments"] == 1 and stats["shipments_refused"] == 3


def test_stock_push_is_recorded(client, clock):
    sku = CFG["catalogue"][0]
    ok = call(client, clock, STOCK, {"skuId": int(sku["skuId"]), "stockNum": 42})
    assert ok == {"jingdong_stock_write_updateSkuStock_response": {"code": "0", "success": True}}
    bad = call(client, clock, STOCK, {"skuId": "999", "stockNum": 1})
    assert bad["jingdong_stock_write_updateSkuStock_response"]["success"] is False
    pushes = client.get("/__sim/stock").json()
    assert pushes == [{"shop": "jd-main", "skuId": sku["skuId"], "outerSkuId": sku["outerSkuId"], "stockNum": 42,
                       "at": fmt_time(clock())}]


# ---------------------------------------------------------------- admin changes
def test_changes_bump_modified_and_follow_the_state_machine(client, clock):
    unpaid = generate(client, 3, seed=5, paid_ratio=0.0)
    advance(client, 60)
    now = fmt_time(client.get("/__sim/clock").json()["now"])
    o = client.post(f"/__sim/orders/{unpaid[0]}/change", json={"action": "pay"}).json()
    assert (o["orderState"], o["paymentConfirmTime"], o["modified"]) == ("WAIT_SELLER_STOCK_OUT", now, now)
    before = client.get(f"/__sim/orders/{unpaid[1]}").json()["consigneeInfo"]
    o = client.post(f"/__sim/orders/{unpaid[1]}/change", json={"action": "address"}).json()
    assert o["consigneeInfo"]["fullAddress"] != before["fullAddress"] and o["modified"] == now
    o = client.post(f"/__sim/orders/{unpaid[2]}/change", json={"action": "cancel"}).json()
    assert o["orderState"] == "TRADE_CANCELED" and o["orderEndTime"] == now
    r = client.post(f"/__sim/orders/{unpaid[2]}/change", json={"action": "refund"})
    assert r.status_code == 409
    o = client.post(f"/__sim/orders/{unpaid[0]}/change", json={"action": "refund"}).json()
    assert (o["orderState"], o["returnOrder"]) == ("LOCKED", "1")
    assert client.post("/__sim/orders/1/change", json={"action": "pay"}).status_code == 404
    assert client.post(f"/__sim/orders/{unpaid[0]}/change", json={"action": "fly"}).status_code == 422


def test_churn_is_seeded(client, clock):
    def run():
        client.post("/__sim/reset")
        generate(client, 20, seed=9)
        return client.post("/__sim/churn", json={"shop": "jd-main", "count": 15, "seed": 3}).json()["changes"]

    first, second = run(), run()
    assert first == second and len(first) == 15
    assert {c["action"] for c in first} <= {"pay", "cancel", "refund", "address", "finish", "remark"}


# ---------------------------------------------------------------- faults
def test_rate_limit_and_server_errors(client, clock):
    generate(client, 3)
    faults(client, rate_limit=1.0)
    assert error_code(call(client, clock, SEARCH, {})) == "2"
    assert call(client, clock, SEARCH, {})["error_response"]["en_desc"] == "App Call Limited"
    faults(client, server_error=1.0, server_error_http_share=1.0)
    r = client.post(ROUTER_PATH, params=params(clock, SEARCH, {}))
    assert r.status_code == 500
    faults(client, server_error=1.0, server_error_http_share=0.0)
    res = search(client, clock)
    assert res["apiResult"]["success"] is False and res["apiResult"]["numberCode"] == 10000 and res["orderTotal"] == 0
    oid = client.get("/__sim/orders").json()[0]["orderId"]
    ship = call(client, clock, SHIPMENT, {"orderId": oid, "logiCoprId": "1274"})
    assert ship["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]["success"] is False
    assert client.get("/__sim/shipments").json() == []
    faults(client)
    assert search(client, clock)["orderTotal"] == 3
    fired = client.get("/__sim/stats").json()["faults"]
    assert fired["rate_limit"] == 2 and fired["server_error"] == 3


def test_timeout_hangs_after_processing_and_slow_waits(client, clock):
    oid = generate(client, 1, paid_ratio=1)[0]
    faults(client, timeout=1.0, hang_seconds=0.3)
    started = time.monotonic()
    body = call(client, clock, SHIPMENT, {"orderId": oid, "logiCoprId": "467", "logiNo": "SF1"})
    assert time.monotonic() - started >= 0.3
    assert body["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]["success"] is True
    faults(client, slow_rate=1.0, slow_seconds=0.2)
    started = time.monotonic()
    assert search(client, clock)["orderTotal"] == 1
    assert time.monotonic() - started >= 0.2
    fired = client.get("/__sim/stats").json()["faults"]
    assert fired["timeout"] == 1 and fired["slow"] == 1


def test_faults_are_seeded_and_probabilistic(client, clock):
    def outcomes():
        faults(client, rate_limit=0.5, seed=11)
        return ["error_response" in call(client, clock, SEARCH, {}) for _ in range(20)]

    first, second = outcomes(), outcomes()
    assert first == second and 0 < sum(first) < 20


def test_repeat_records_repeats_the_previous_pages_last(client, clock):
    generate(client, 12, seed=6)
    page1 = search(client, clock, {"sortType": 1, "page_size": "5"})
    faults(client, repeat_records=1.0)
    page2 = search(client, clock, {"sortType": 1, "page": "2", "page_size": "5"})
    assert ids(page2)[0] == ids(page1)[-1] and len(page2["orderInfoList"]) == 6
    assert page2["orderTotal"] == 12
    assert client.get("/__sim/stats").json()["faults"]["repeat_records"] == 1


def test_shift_pages_desc_inserts_a_new_order_in_front(client, clock):
    generate(client, 12, seed=8)
    now = client.get("/__sim/clock").json()["now"]
    window = {"start_date": fmt_time(now - 3600), "end_date": fmt_time(now + 60), "sortType": 1, "page_size": "5"}
    faults(client, shift_pages=1.0)
    page1 = search(client, clock, window)
    faults(client)
    page2 = search(client, clock, {**window, "page": "2"})
    assert page2["orderTotal"] == page1["orderTotal"] + 1 == 13
    assert ids(page2)[0] == ids(page1)[-1]  # everything moved down one place
    event = client.get("/__sim/stats").json()["shift_events"]
    assert len(event) == 1 and event[0]["how"] == "new_order" and event[0]["page"] == 1
    assert search(client, clock, {**window, "page_size": "1"})["orderInfoList"][0]["orderId"] == event[0]["orderId"]


def test_shift_pages_asc_skips_a_record(client, clock):
    for seed in range(3):
        generate(client, 4, seed=seed)
        advance(client, 10)
    now = client.get("/__sim/clock").json()["now"]
    window = {"start_date": fmt_time(now - 3600), "end_date": fmt_time(now - 5), "sortType": 0, "page_size": "5"}
    everything = ids(search(client, clock, {**window, "page_size": "100"}))
    faults(client, shift_pages=1.0)
    page1 = search(client, clock, window)
    faults(client)
    page2 = search(client, clock, {**window, "page": "2"})
    assert ids(page1) == everything[:5]
    assert ids(page2) == everything[6:11]  # the record that was 6th is never seen on page 2
    event = client.get("/__sim/stats").json()["shift_events"][0]
    assert event["how"] == "modified" and event["orderId"] == everything[0]
    assert page2["orderTotal"] == 11  # the re-modified order left the window


def test_reset_and_bad_admin_bodies(client, clock):
    generate(client, 3)
    faults(client, rate_limit=1.0)
    advance(client, 100)
    assert client.post("/__sim/faults", json={"nonsense": 1}).status_code == 422
    assert client.post("/__sim/orders/generate", json={"shop": "nope", "count": 1}).status_code == 404
    assert client.post("/__sim/reset").json() == {"reset": True}
    assert client.get("/__sim/orders").json() == [] and client.get("/__sim/clock").json()["offset_seconds"] == 0
    assert search(client, clock)["orderTotal"] == 0


# ---------------------------------------------------------------- a real server
def test_real_server_in_a_subprocess(tmp_path):
    with running("simulators.jd", tmp_path, {"page_size_max": 50}) as base:
        with httpx.Client(base_url=base, timeout=10) as http:
            made = http.post("/__sim/orders/generate", json={"shop": "jd-outlet", "count": 4, "seed": 2})
            assert made.status_code == 200
            p = signed_params(SEARCH, {"page": "1", "page_size": "50", "sortType": 1}, app_key=KEY, app_secret=SECRET,
                              access_token=OUTLET["access_token"])
            body = http.post(ROUTER_PATH, params=p).json()
            assert body[RESULT]["searchorderinfo_result"]["orderTotal"] == 4
            p = signed_params(SEARCH, {"page": "1", "page_size": "51"}, app_key=KEY, app_secret=SECRET,
                              access_token=OUTLET["access_token"])
            body = http.post(ROUTER_PATH, data=p).json()  # form body
            assert body[RESULT]["searchorderinfo_result"]["apiResult"]["success"] is False


# ---------------------------------------------------------------- refunds
REFUNDS_KEY = "jingdong_pop_afs_soa_refundapply_queryPageList_responce"


def refunds(client, clock, **biz):
    body = call(client, clock, "jingdong.pop.afs.soa.refundapply.queryPageList",
                {"pageIndex": 1, "pageSize": 50, **biz})
    return body[REFUNDS_KEY]["queryResult"]


def test_a_refund_application_is_listed_by_its_check_time_once_the_seller_checked_it(client, clock):
    order_id = generate(client, 1, paid_ratio=1.0)[0]
    order = client.get(f"/__sim/orders/{order_id}").json()
    sku = order["itemInfoList"][0]["skuId"]
    opened = client.post("/__sim/refunds", json={"orderId": order_id, "skuId": sku})
    assert opened.status_code == 200, opened.text
    assert opened.json()["platform"]["status"] == "0"
    now = fmt_time(clock())
    assert refunds(client, clock, checkTimeStart=now)["totalCount"] == 0  # not checked yet
    advance(client, 3)
    settled = client.post(f"/__sim/refunds/{opened.json()['refund_id']}/settle", json={"status": "success"}).json()
    listed = refunds(client, clock, checkTimeStart=now)
    assert listed["success"] is True and listed["totalCount"] == 1
    row = listed["result"][0]
    assert (row["orderId"], row["skuId"], row["status"]) == (order_id, sku, "1")
    assert row["applyRefundSum"] == settled["platform"]["applyRefundSum"] > 0  # in fen
    assert client.post(f"/__sim/refunds/{row['id']}/settle", json={"status": "closed"}).status_code == 409
    assert client.post("/__sim/refunds", json={"orderId": order_id, "skuId": sku}).status_code == 409  # one open


def test_refund_pages_repeat_under_faults_and_bad_params_are_business_errors(client, clock):
    for order_id in generate(client, 4, seed=5, paid_ratio=1.0):
        sku = client.get(f"/__sim/orders/{order_id}").json()["itemInfoList"][0]["skuId"]
        client.post("/__sim/refunds", json={"orderId": order_id, "skuId": sku, "status": "closed"})
    assert refunds(client, clock, pageSize=0)["success"] is False
    faults(client, repeat_records=1.0)
    second = refunds(client, clock, pageIndex=2, pageSize=2)
    assert len(second["result"]) == 3 and second["totalCount"] == 4
