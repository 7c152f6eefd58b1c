"""The Taobao TOP shop simulator: signature, gateway checks, order pulls, shipping, stock, tokens, faults, admin API."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from simulators.shops import allocate
from simulators.taobao import DEFAULT_CONFIG, PATH, sign, signed
from simulators.taobao.app import create_app
from tests.unit.simulators import Clock, running

CFG = DEFAULT_CONFIG
KEY, SECRET = CFG["app_key"], CFG["app_secret"]
MAIN, OUTLET = CFG["shops"]
FIELDS = "tid,tid_str,status,type,modified,created,payment,total_fee,post_fee,discount_fee,adjust_fee,orders"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    with TestClient(create_app(clock=clock)) as c:
        yield c


def now_text(client) -> str:
    return client.get("/__sim/clock").json()["local"]


def call(client, method, session=MAIN["session"], secret=SECRET, sign_method="md5", timestamp=None, get=False,
         **biz):
    params = {"method": method, "app_key": KEY, "session": session, "timestamp": timestamp or now_text(client),
              "format": "json", "v": "2.0", "sign_method": sign_method, **biz}
    params = {k: v for k, v in params.items() if v is not None}
    params["sign"] = sign(params, secret, sign_method)
    r = client.get(PATH, params=params) if get else client.post(PATH, data=params)
    assert r.status_code == 200, r.text
    return r.json()


def error(answer) -> dict:
    assert "error_response" in answer, answer
    return answer["error_response"]


def generate(client, count, seed=1, shop="tb-main", paid_ratio=1.0):
    r = client.post("/__sim/orders/generate", json={"shop": shop, "count": count, "seed": seed,
                                                    "paid_ratio": paid_ratio})
    assert r.status_code == 200, r.text
    return r.json()["orders"]


def advance(client, seconds):
    assert client.post("/__sim/clock", json={"advance_seconds": seconds}).status_code == 200


def increment(client, start, end, page_no=1, page_size=40, **extra):
    return call(client, "taobao.trades.sold.increment.get", fields=FIELDS, start_modified=start, end_modified=end,
                page_no=str(page_no), page_size=str(page_size), **extra)


def pages(client, start, end, page_size):
    """Every trade of the window, page by page from page 1 (tids in the order served)."""
    tids, page_no = [], 1
    while True:
        body = increment(client, start, end, page_no, page_size)["trades_sold_increment_get_response"]
        tids += [t["tid"] for t in body.get("trades", {}).get("trade", [])]
        if not body["has_next"]:
            return tids, body
        page_no += 1


def page_tids(client, start, end, page_no, page_size):
    body = increment(client, start, end, page_no, page_size)["trades_sold_increment_get_response"]
    return [t["tid"] for t in body["trades"]["trade"]]


def trade(client, tid):
    return next(t for t in client.get("/__sim/orders").json() if t["tid"] == tid)


# ---------------------------------------------------------------- section 1.3 signature
OFFICIAL = {"app_key": "12345678", "fields": "num_iid,title,nick,price,num", "format": "json",
            "method": "taobao.item.seller.get", "num_iid": "11223344", "session": "test", "sign_method": "md5",
            "timestamp": "2016-01-01 12:00:00", "v": "2.0"}
OFFICIAL_STRING = ("app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.get"
                   "num_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0")


def test_sign_matches_the_official_md5_vector():
    assert sign(OFFICIAL, "helloworld", "md5") == "66987CB115214E59E6EC978214934FB8"
    assert hashlib.md5(("helloworld" + OFFICIAL_STRING + "helloworld").encode()).hexdigest().upper() == \
        "66987CB115214E59E6EC978214934FB8"
    # `sign` itself and empty values are not signed
    assert sign({**OFFICIAL, "sign": "X", "partner_id": "", "simplify": None}, "helloworld", "md5") == \
        "66987CB115214E59E6EC978214934FB8"


def test_sign_hmac_variants_are_keyed_digests_without_secret_wrapping():
    params = {**OFFICIAL, "sign_method": "hmac", "title": "龙井"}
    text = "".join(k + str(v) for k, v in sorted(params.items())).encode("utf-8")
    assert sign(params, "helloworld", "hmac") == hmac.new(b"helloworld", text, hashlib.md5).hexdigest().upper()
    params["sign_method"] = "hmac-sha256"
    text = "".join(k + str(v) for k, v in sorted(params.items())).encode("utf-8")
    expected = hmac.new(b"helloworld", text, hashlib.sha256).hexdigest().upper()
    assert sign(params, "helloworld", "hmac-sha256") == expected and len(expected) == 64
    with pytest.raises(ValueError):
        sign(params, "helloworld", "sha1")


# ---------------------------------------------------------------- gateway checks (sections 1.2, 1.5)
def test_gateway_refuses_bad_key_signature_timestamp_and_session(client, clock):
    generate(client, 1)
    ok = call(client, "taobao.trades.sold.get", fields="tid")
    assert ok["trades_sold_get_response"]["total_results"] == 1
    assert error(call(client, "taobao.trades.sold.get", secret="wrong", fields="tid"))["code"] == 25
    e = error(call(client, "taobao.trades.sold.get", fields="tid", timestamp="2025-12-31 23:00:00"))
    assert e["code"] == 31 and e["request_id"]
    assert error(call(client, "taobao.trades.sold.get", fields="tid", timestamp="2026/01/01 08:00:00"))["code"] == 31
    e = error(call(client, "taobao.trades.sold.get", session="6100nonsense", fields="tid"))
    assert (e["code"], e["msg"], e["sub_code"]) == (27, "Invalid session", "invalid-sessionkey")
    assert error(call(client, "taobao.trades.sold.get", session=None, fields="tid"))["code"] == 26
    assert error(call(client, "taobao.no.such.method"))["code"] == 22
    # 9 minutes of skew are fine (the window is 10 minutes), GET with a query works like POST
    assert "trades_sold_get_response" in call(client, "taobao.trades.sold.get", fields="tid", get=True,
                                              timestamp="2026-01-01 08:09:00")
    # unknown app key, missing sign / timestamp: the exact §1.5 envelope
    base = {"method": "taobao.trades.sold.get", "app_key": "99999999", "session": MAIN["session"], "format": "json",
            "v": "2.0", "timestamp": now_text(client), "fields": "tid"}
    r = client.post(PATH, data=signed(base, SECRET))
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["error_response"]
    assert list(body["error_response"]) == ["code", "msg", "request_id"]
    assert body["error_response"]["code"] == 29 and body["error_response"]["msg"] == "Invalid App Key"
    base["app_key"] = KEY
    assert error(client.post(PATH, data=base).json())["code"] == 24
    no_ts = {k: v for k, v in base.items() if k != "timestamp"}
    assert error(client.post(PATH, data=signed(no_ts, SECRET)).json())["code"] == 30
    assert error(client.post(PATH, data=signed({**base, "format": "xml"}, SECRET)).json())["code"] == 23
    assert error(client.post(PATH, data=signed({**base, "v": "1.0"}, SECRET)).json())["code"] == 34


def test_timestamp_may_follow_the_simulator_or_the_wall_clock(clock):
    for check, sim_ok, wall_ok in (("either", True, True), ("sim", True, False), ("wall", False, True)):
        with TestClient(create_app({"timestamp_check": check}, clock=clock)) as c:
            advance(c, 3600)
            for stamp, ok in ((now_text(c), sim_ok), ("2026-01-01 08:00:00", wall_ok)):
                answer = call(c, "taobao.trades.sold.get", fields="tid", timestamp=stamp)
                assert ("error_response" not in answer) == ok, (check, stamp, answer)
                assert ok or answer["error_response"]["code"] == 31


def test_expired_session_is_refused_and_refresh_gives_a_working_token(client):
    generate(client, 1)
    advance(client, MAIN["token_seconds"])
    e = error(call(client, "taobao.trades.sold.get", fields="tid"))
    assert (e["code"], e["sub_code"]) == (27, "invalid-sessionkey")
    answer = call(client, "taobao.top.auth.token.refresh", session=None, sign_method="hmac-sha256",
                  refresh_token=MAIN["refresh_token"])
    token = json.loads(answer["top_auth_token_refresh_response"]["token_result"])
    assert token["expires_in"] == MAIN["token_seconds"] and token["refresh_token"] == MAIN["refresh_token"]
    assert token["access_token"] != MAIN["session"]
    ok = call(client, "taobao.trades.sold.get", session=token["access_token"], sign_method="hmac", fields="tid")
    assert ok["trades_sold_get_response"]["total_results"] == 1
    assert error(call(client, "taobao.top.auth.token.refresh", session=None, refresh_token="nope"))["code"] == 15
    advance(client, MAIN["token_seconds"])
    assert error(call(client, "taobao.trades.sold.get", session=token["access_token"], fields="tid"))["code"] == 27


def test_shops_see_only_their_own_trades(client):
    generate(client, 2, shop="tb-main")
    generate(client, 3, shop="tb-outlet")
    body = call(client, "taobao.trades.sold.get", session=OUTLET["session"], fields="tid,seller_nick")
    trades = body["trades_sold_get_response"]["trades"]["trade"]
    assert len(trades) == 3 and {t["seller_nick"] for t in trades} == {OUTLET["seller_nick"]}
    mine = trades[0]["tid"]
    e = error(call(client, "taobao.trade.fullinfo.get", fields="tid", tid=str(mine)))
    assert e["code"] == 15


# ---------------------------------------------------------------- order pulls (section 1.4)
def test_increment_pages_are_sorted_by_modified_desc_and_cover_the_window(client, clock):
    start = now_text(client)
    made = []
    for seed in range(4):  # 4 seconds, 3 orders each: ties inside every second
        made += [t["tid"] for t in generate(client, 3, seed=seed, paid_ratio=0.5)]
        advance(client, 1)
    first = made[0]
    client.post(f"/__sim/orders/{first}/change", json={"action": "address"})  # now the most recently modified
    end = now_text(client)
    tids, last = pages(client, start, end, page_size=5)
    assert sorted(tids) == sorted(made) and len(tids) == len(set(tids)) == 12
    assert tids[0] == first and last["total_results"] == 12
    everything = {t["tid"]: t for t in client.get("/__sim/orders").json()}
    modified = [everything[t]["modified"] for t in tids]
    assert modified == sorted(modified, reverse=True)
    # use_has_next: has_next only, no total; past the end: no "trades" key at all
    body = increment(client, start, end, 3, 5, use_has_next="true")["trades_sold_increment_get_response"]
    assert "total_results" not in body and body["has_next"] is False and len(body["trades"]["trade"]) == 2
    body = increment(client, start, end, 9, 5)["trades_sold_increment_get_response"]
    assert body["total_results"] == 12 and "trades" not in body
    # the first page holds exactly the requested fields, lines in the non-simplified wrapper
    one = increment(client, start, end, 1, 1)["trades_sold_increment_get_response"]["trades"]["trade"][0]
    assert set(one) == set(FIELDS.split(",")) and isinstance(one["orders"]["order"], list)
    simple = increment(client, start, end, 1, 1, simplify="true")["trades_sold_increment_get_response"]
    assert isinstance(simple["trades"], list) and isinstance(simple["trades"][0]["orders"], list)


def test_increment_refuses_spans_over_a_day_and_missing_or_bad_arguments(client):
    e = error(increment(client, "2026-01-01 00:00:00", "2026-01-02 00:00:01"))
    assert e["code"] == 41
    assert "trades_sold_increment_get_response" in increment(client, "2026-01-01 00:00:00", "2026-01-02 00:00:00")
    assert error(call(client, "taobao.trades.sold.increment.get", fields="tid",
                      end_modified="2026-01-01 08:00:00"))["code"] == 40
    assert error(increment(client, "2026-01-01 00:00:00", "2026-01-01 01:00:00", page_size=101))["code"] == 41
    assert error(increment(client, "2026-01-01T00:00:00", "2026-01-01 01:00:00"))["code"] == 41
    assert error(call(client, "taobao.trades.sold.increment.get", start_modified="2026-01-01 00:00:00",
                      end_modified="2026-01-01 01:00:00"))["code"] == 40  # fields


def test_sold_get_by_created_window_and_fullinfo(client):
    old = generate(client, 2, seed=1)
    advance(client, 3600)
    new = generate(client, 1, seed=2)
    body = call(client, "taobao.trades.sold.get", fields="tid,created", start_created=now_text(client))
    assert [t["tid"] for t in body["trades_sold_get_response"]["trades"]["trade"]] == [new[0]["tid"]]
    body = call(client, "taobao.trades.sold.get", fields="tid", page_size="2", page_no="1")
    assert body["trades_sold_get_response"]["total_results"] == 3
    assert [t["tid"] for t in body["trades_sold_get_response"]["trades"]["trade"]] == [new[0]["tid"], old[1]["tid"]]
    full = call(client, "taobao.trade.fullinfo.get", fields=FIELDS + ",receiver_name,orders.oid",
                tid=str(old[0]["tid"]))
    assert full["trade_fullinfo_get_response"]["trade"] == {k: v for k, v in old[0].items()
                                                           if k in FIELDS.split(",") + ["receiver_name"]}
    narrow = call(client, "taobao.trade.fullinfo.get", fields="tid,orders.oid,orders.payment", tid=str(old[0]["tid"]))
    lines = narrow["trade_fullinfo_get_response"]["trade"]["orders"]["order"]
    assert all(set(ln) == {"oid", "payment"} for ln in lines)


def test_trade_json_has_the_section_1_4_fields_and_formats(client):
    trades = generate(client, 20, seed=5, paid_ratio=0.5)
    statuses = {t["status"] for t in trades}
    assert statuses == {"WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS"}
    for t in trades:
        assert isinstance(t["tid"], int) and t["tid_str"] == str(t["tid"]) and t["type"] == "fixed"
        assert t["created"] == t["modified"] == "2026-01-01 08:00:00"  # Asia/Shanghai local time
        assert ("pay_time" in t) == (t["status"] == "WAIT_SELLER_SEND_GOODS") and "consign_time" not in t
        for key in ("seller_nick", "buyer_nick", "buyer_open_uid", "receiver_name", "receiver_state", "receiver_city",
                    "receiver_district", "receiver_address", "receiver_zip", "receiver_mobile"):
            assert t[key]
        for key in ("payment", "total_fee", "post_fee", "discount_fee", "adjust_fee"):
            assert isinstance(t[key], str) and Decimal(t[key]).as_tuple().exponent == -2
        for ln in t["orders"]["order"]:
            assert isinstance(ln["oid"], int) and ln["oid_str"] == str(ln["oid"])
            assert ln["refund_status"] == "NO_REFUND" and ln["status"] == t["status"]
            for key in ("num_iid", "sku_id", "outer_iid", "outer_sku_id", "title", "num", "price", "divide_order_fee"):
                assert key in ln
    single = [t for t in trades if len(t["orders"]["order"]) == 1]
    assert single and all(t["orders"]["order"][0]["oid"] == t["tid"] for t in single)


def test_amounts_are_consistent_and_lines_add_up_to_the_payment():
    with TestClient(create_app({"single_line_payment_includes_post_fee": False}, clock=Clock())) as client:
        trades = generate(client, 300, seed=11)
    saw_discount = saw_post = saw_multi = saw_adjust = False
    for t in trades:
        lines = t["orders"]["order"]
        d = lambda x: Decimal(x)  # noqa: E731
        for ln in lines:
            assert d(ln["payment"]) == d(ln["price"]) * ln["num"] + d(ln["adjust_fee"]) - d(ln["discount_fee"])
            assert d(ln["divide_order_fee"]) == d(ln["payment"]) - d(ln["part_mjz_discount"]) >= 0
            saw_adjust |= d(ln["adjust_fee"]) > 0
        assert d(t["payment"]) == sum(d(ln["payment"]) for ln in lines) + d(t["post_fee"]) - d(t["discount_fee"])
        assert d(t["payment"]) == sum(d(ln["divide_order_fee"]) for ln in lines) + d(t["post_fee"])
        assert d(t["total_fee"]) == sum(d(ln["price"]) * ln["num"] for ln in lines)
        assert d(t["adjust_fee"]) == sum(d(ln["adjust_fee"]) for ln in lines)
        # a client reproduces the allocation from the public rule
        shares = allocate(d(t["discount_fee"]), [d(ln["payment"]) for ln in lines])
        assert shares == [d(ln["part_mjz_discount"]) for ln in lines]
        saw_discount |= d(t["discount_fee"]) > 0 and len(lines) > 1
        saw_post |= d(t["post_fee"]) > 0
        saw_multi |= len(lines) == 3
    assert saw_discount and saw_post and saw_multi and saw_adjust


def test_allocate_uses_largest_remainder_and_adds_up():
    assert allocate(Decimal("10.00"), [Decimal("1"), Decimal("1"), Decimal("1")]) == \
        [Decimal("3.34"), Decimal("3.33"), Decimal("3.33")]
    assert allocate(Decimal("3.33"), [Decimal("100.00"), Decimal("50.00")]) == [Decimal("2.22"), Decimal("1.11")]
    assert allocate(Decimal("0.05"), [Decimal("0"), Decimal("0")]) == [Decimal("0.03"), Decimal("0.02")]
    assert sum(allocate(Decimal("7.77"), [Decimal("29.90"), Decimal("65.00"), Decimal("0.10")])) == Decimal("7.77")


def test_single_line_quirk_is_on_by_default_and_puts_the_post_fee_into_the_line_payment(client):
    trades = generate(client, 60, seed=3)
    t = next(t for t in trades if len(t["orders"]["order"]) == 1 and Decimal(t["post_fee"]) > 0)
    line = t["orders"]["order"][0]
    assert line["payment"] == t["payment"]
    assert Decimal(line["divide_order_fee"]) + Decimal(t["post_fee"]) == Decimal(t["payment"])
    multi = next(t for t in trades if len(t["orders"]["order"]) > 1 and Decimal(t["post_fee"]) > 0)
    assert sum(Decimal(ln["payment"]) for ln in multi["orders"]["order"]) + Decimal(multi["post_fee"]) \
        - Decimal(multi["discount_fee"]) == Decimal(multi["payment"])  # several lines: no post fee in them
    with TestClient(create_app({"single_line_payment_includes_post_fee": False}, clock=Clock())) as c:
        t = next(t for t in generate(c, 60, seed=3) if len(t["orders"]["order"]) == 1 and Decimal(t["post_fee"]) > 0)
        assert Decimal(t["orders"]["order"][0]["payment"]) + Decimal(t["post_fee"]) - Decimal(t["discount_fee"]) \
            == Decimal(t["payment"])


# ---------------------------------------------------------------- changes
def test_changes_move_status_and_bump_modified(client):
    unpaid = [t["tid"] for t in generate(client, 4, paid_ratio=0.0)]
    advance(client, 5)
    later = now_text(client)
    assert client.post(f"/__sim/orders/{unpaid[0]}/change", json={"action": "pay"}).json()["status"] == \
        "WAIT_SELLER_SEND_GOODS"
    closed = client.post(f"/__sim/orders/{unpaid[1]}/change", json={"action": "cancel"}).json()
    assert closed["status"] == "TRADE_CLOSED_BY_TAOBAO" and closed["modified"] == later
    before = trade(client, unpaid[2])
    moved = client.post(f"/__sim/orders/{unpaid[2]}/change", json={"action": "address"}).json()
    assert moved["receiver_address"] != before["receiver_address"] or moved["receiver_city"] != before["receiver_city"]
    assert client.post(f"/__sim/orders/{unpaid[3]}/change", json={"action": "refund"}).status_code == 409
    refunded = client.post(f"/__sim/orders/{unpaid[0]}/change", json={"action": "refund"}).json()
    assert [ln["refund_status"] for ln in refunded["orders"]["order"]].count("WAIT_SELLER_AGREE") == 1
    assert refunded["modified"] == later
    paid_then_cancel = client.post(f"/__sim/orders/{unpaid[0]}/change", json={"action": "cancel"}).json()
    assert paid_then_cancel["status"] == "TRADE_CLOSED"
    assert {ln["refund_status"] for ln in paid_then_cancel["orders"]["order"]} == {"SUCCESS"}
    assert client.post("/__sim/orders/1/change", json={"action": "pay"}).status_code == 404
    assert client.post(f"/__sim/orders/{unpaid[3]}/change", json={"action": "explode"}).status_code == 409
    churn = client.post("/__sim/churn", json={"shop": "tb-main", "count": 20, "seed": 4}).json()["changes"]
    assert churn and all(c["action"] in ("pay", "cancel", "refund", "address") for c in churn)


# ---------------------------------------------------------------- shipping (section 1.6)
def test_partial_shipment_with_sub_tid_then_the_rest_then_b04(client):
    trades = generate(client, 40, seed=2)
    t = next(t for t in trades if len(t["orders"]["order"]) >= 2)
    tid, oids = t["tid"], [ln["oid"] for ln in t["orders"]["order"]]
    advance(client, 60)
    ok = call(client, "taobao.logistics.offline.send", tid=str(tid), out_sid="SF1001", company_code="SF",
              sub_tid=str(oids[0]), is_split="1")
    assert ok["logistics_offline_send_response"]["shipping"] == {"is_success": True}
    after = trade(client, tid)
    assert after["status"] == "SELLER_CONSIGNED_PART" and after["modified"] == now_text(client)
    first, *rest = after["orders"]["order"]
    assert (first["status"], first["invoice_no"], first["logistics_company"]) == \
        ("WAIT_BUYER_CONFIRM_GOODS", "SF1001", "SF")
    assert all(ln["status"] == "WAIT_SELLER_SEND_GOODS" and "invoice_no" not in ln for ln in rest)
    again = error(call(client, "taobao.logistics.offline.send", tid=str(tid), out_sid="SF1001", company_code="SF",
                       sub_tid=str(oids[0]), is_split="1"))
    assert again == {"code": 15, "msg": "Remote service error", "sub_code": "isv.logistics-offline-service-error:B04",
                     "sub_msg": "订单状态不对该物流订单已经发货或者已关闭，不能重复发货", "request_id": again["request_id"]}
    call(client, "taobao.logistics.offline.send", tid=str(tid), out_sid="YT2002", company_code="YTO")
    done = trade(client, tid)
    assert done["status"] == "WAIT_BUYER_CONFIRM_GOODS" and "consign_time" in done
    assert {ln["status"] for ln in done["orders"]["order"]} == {"WAIT_BUYER_CONFIRM_GOODS"}
    e = error(call(client, "taobao.logistics.offline.send", tid=str(tid), out_sid="YT2002", company_code="YTO"))
    assert e["sub_code"] == "isv.logistics-offline-service-error:B04"
    shipments = client.get("/__sim/shipments").json()
    assert [(s["tid"], s["oids"], s["waybill"], s["partial"]) for s in shipments] == \
        [(tid, [oids[0]], "SF1001", True), (tid, oids[1:], "YT2002", False)]
    # refusals: unpaid, unknown trade, foreign sub_tid, sub_tid without is_split
    unpaid = generate(client, 1, seed=9, paid_ratio=0.0)[0]["tid"]
    assert error(call(client, "taobao.logistics.offline.send", tid=str(unpaid), out_sid="X", company_code="SF"))[
        "sub_code"].endswith(":B04")
    assert error(call(client, "taobao.logistics.offline.send", tid="123", out_sid="X", company_code="SF"))[
        "sub_code"].endswith(":ORDER_NOT_FOUND_ERROR")
    paid = generate(client, 1, seed=9)[0]["tid"]
    assert error(call(client, "taobao.logistics.offline.send", tid=str(paid), out_sid="X", company_code="SF",
                      sub_tid=str(oids[0]), is_split="1"))["code"] == 41  # a line of another trade
    assert error(call(client, "taobao.logistics.offline.send", tid=str(paid), out_sid="X", company_code="SF",
                      sub_tid=str(paid)))["code"] == 41  # is_split missing
    assert trade(client, paid)["status"] == "WAIT_SELLER_SEND_GOODS"
    assert error(call(client, "taobao.logistics.offline.send", tid=str(unpaid), company_code="SF"))["code"] == 40


# ---------------------------------------------------------------- stock (section 1.6)
def test_stock_pushes_are_recorded_per_shop_and_outer_id(client):
    tee = 600000000001
    ok = call(client, "taobao.skus.quantity.update", num_iid=str(tee), outerid_quantities="TEE-WHT-M:10;TEE-BLK-L:0",
              type="1")
    item = ok["skus_quantity_update_response"]["item"]
    assert item["num_iid"] == tee and item["num"] == 10
    assert [(s["outer_id"], s["quantity"]) for s in item["skus"]["sku"]] == [("TEE-WHT-M", 10), ("TEE-BLK-L", 0)]
    advance(client, 30)
    ok = call(client, "taobao.item.quantity.update", session=OUTLET["session"], num_iid="600000000002",
              outer_id="MUG-350", quantity="7", type="1")
    assert ok["item_quantity_update_response"]["item"]["num"] == 7
    pushes = client.get("/__sim/stock").json()
    assert [(p["shop"], p["num_iid"], p["outer_id"], p["quantity"], p["at"]) for p in pushes] == [
        ("tb-main", tee, "TEE-WHT-M", 10, "2026-01-01 08:00:00"),
        ("tb-main", tee, "TEE-BLK-L", 0, "2026-01-01 08:00:00"),
        ("tb-outlet", 600000000002, "MUG-350", 7, "2026-01-01 08:00:30")]
    assert error(call(client, "taobao.skus.quantity.update", num_iid=str(tee), outerid_quantities="MUG-350:1"))[
        "code"] == 15  # not a SKU of this item
    assert error(call(client, "taobao.skus.quantity.update", num_iid="1", outerid_quantities="MUG-350:1"))["code"] == 15
    assert error(call(client, "taobao.item.quantity.update", num_iid=str(tee), outer_id="TEE-WHT-M",
                      quantity="-1"))["code"] == 41
    assert len(client.get("/__sim/stock").json()) == 3  # refused pushes are not recorded


# ---------------------------------------------------------------- faults
def faults(client, **settings):
    r = client.post("/__sim/faults", json=settings)
    assert r.status_code == 200, r.text


def test_rate_limit_bans_for_the_announced_seconds(client):
    faults(client, rate_limit=1, ban_seconds=3)
    e = error(call(client, "taobao.trades.sold.get", fields="tid"))
    assert (e["code"], e["msg"], e["sub_code"], e["sub_msg"]) == (
        7, "App Call Limited", "accesscontrol.limited-by-app-api-access-count", "This ban will last for 3 more seconds")
    faults(client)
    advance(client, 1)
    assert error(call(client, "taobao.trades.sold.get", fields="tid"))["sub_msg"] == \
        "This ban will last for 2 more seconds"
    assert "trades_sold_increment_get_response" in increment(client, "2026-01-01 07:00:00", "2026-01-01 08:00:00")
    advance(client, 2)
    assert "trades_sold_get_response" in call(client, "taobao.trades.sold.get", fields="tid")
    assert client.get("/__sim/stats").json()["faults"]["rate_limit"] == 1


def test_server_error_as_http_500_or_520(client):
    faults(client, server_error=1, server_error_http_share=1)
    params = signed({"method": "taobao.trades.sold.get", "app_key": KEY, "session": MAIN["session"], "v": "2.0",
                     "format": "json", "timestamp": now_text(client), "fields": "tid"}, SECRET)
    assert client.post(PATH, data=params).status_code == 500
    faults(client, server_error=1, server_error_http_share=0)
    e = error(call(client, "taobao.trades.sold.get", fields="tid"))
    assert (e["code"], e["sub_code"]) == (520, "isp.remote-service-timeout")


def test_timeout_applies_the_call_then_hangs_and_slow_waits_first(client):
    tid = generate(client, 1)[0]["tid"]
    faults(client, timeout=1, hang_seconds=0.3)
    began = time.monotonic()
    call(client, "taobao.logistics.offline.send", tid=str(tid), out_sid="T1", company_code="SF")
    assert time.monotonic() - began >= 0.3
    assert trade(client, tid)["status"] == "WAIT_BUYER_CONFIRM_GOODS"  # shipped although the answer was late
    faults(client, slow_rate=1, slow_seconds=0.2)
    began = time.monotonic()
    call(client, "taobao.trades.sold.get", fields="tid")
    assert time.monotonic() - began >= 0.2
    fired = client.get("/__sim/stats").json()["faults"]
    assert fired["timeout"] == 1 and fired["slow"] == 1


def test_shift_pages_moves_a_later_order_to_the_top_between_page_requests(client):
    start = now_text(client)
    made = [t["tid"] for t in generate(client, 10)]
    advance(client, 1)
    end = "2026-01-01 08:10:00"  # the window reaches past now, so a newly modified order enters at the top
    page1 = page_tids(client, start, end, 1, 4)
    faults(client, shift_pages=1)
    page2 = page_tids(client, start, end, 2, 4)
    faults(client)
    page3 = page_tids(client, start, end, 3, 4)
    assert page2[0] == page1[-1]  # everything shifted down by one: the boundary record is served twice
    seen = page1 + page2 + page3
    assert len(set(seen)) == 9 and len(seen) == 10  # ... and one order was missed by this pass
    missed = (set(made) - set(seen)).pop()
    top = increment(client, start, end, 1, 4)["trades_sold_increment_get_response"]["trades"]["trade"][0]
    assert top["tid"] == missed and top["modified"] == "2026-01-01 08:00:01"
    assert client.get("/__sim/stats").json()["faults"]["shift_pages"] == 1


def test_repeat_records_serves_the_previous_pages_last_record_again(client):
    start = now_text(client)
    generate(client, 6)
    end = now_text(client)
    page1 = increment(client, start, end, 1, 3)["trades_sold_increment_get_response"]["trades"]["trade"]
    faults(client, repeat_records=1)
    page2 = increment(client, start, end, 2, 3)["trades_sold_increment_get_response"]["trades"]["trade"]
    assert page2[0]["tid"] == page1[-1]["tid"] and len(page2) == 4
    assert {t["tid"] for t in page1 + page2} == {t["tid"] for t in client.get("/__sim/orders").json()}


def test_faults_repeat_with_a_seed_and_reset_clears_state(client):
    def run():
        faults(client, rate_limit=0.3, ban_seconds=0, seed=7)
        return [error(a)["code"] if "error_response" in a else 0
                for a in (call(client, "taobao.trades.sold.get", fields="tid") for _ in range(12))]
    first = run()
    assert 7 in first and 0 in first and run() == first
    generate(client, 2)
    advance(client, 100)
    assert client.post("/__sim/reset").json() == {"reset": True}
    stats = client.get("/__sim/stats").json()
    assert stats["orders"] == 0 and stats["calls"] == {} and stats["faults"]["rate_limit"] == 0
    assert client.get("/__sim/clock").json()["local"] == "2026-01-01 08:00:00"
    assert client.post("/__sim/faults", json={"rate_limt": 1}).status_code == 422


# ---------------------------------------------------------------- the real server over HTTP
def test_real_server_over_http(tmp_path):
    config = {"shops": [{"shop": "s1", "seller_nick": "店一", "session": "sess-1", "refresh_token": "ref-1",
                         "token_seconds": 3600}], "initial_orders": 5}
    with running("simulators.taobao", tmp_path, config) as base:
        with httpx.Client(base_url=base, timeout=5) as http:
            clock = http.get("/__sim/clock").json()
            start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(clock["now"] + 8 * 3600 - 3600))
            params = {"method": "taobao.trades.sold.increment.get", "app_key": KEY, "session": "sess-1",
                      "timestamp": clock["local"], "format": "json", "v": "2.0", "sign_method": "hmac",
                      "fields": "tid,payment,orders", "start_modified": start, "end_modified": clock["local"]}
            body = http.post(PATH, data=signed(params, SECRET)).json()["trades_sold_increment_get_response"]
            assert body["total_results"] == 5
            tid = body["trades"]["trade"][0]["tid"]
            assert http.post(f"/__sim/orders/{tid}/change", json={"action": "address"}).status_code == 200
            http.post("/__sim/faults", json={"timeout": 1, "hang_seconds": 1.5})
            with pytest.raises(httpx.ReadTimeout):
                http.post(PATH, data=signed({**params, "timestamp": clock["local"]}, SECRET), timeout=0.3)
            assert http.get("/__sim/stats").json()["calls"]["taobao.trades.sold.increment.get"] == 2


# ---------------------------------------------------------------- refunds
REFUND_FIELDS = "refund_id,tid,oid,refund_fee,status,has_good_return,modified,good_status"


def _refunds(client, **biz) -> dict:
    return call(client, "taobao.refunds.receive.get", fields=REFUND_FIELDS, **biz)["refunds_receive_get_response"]


def test_a_refund_opened_then_settled_is_listed_by_its_modified_time_and_moves_the_trade(client):
    trade = generate(client, 1)[0]
    oid = trade["orders"]["order"][0]["oid"]
    opened = client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid})
    assert opened.status_code == 200, opened.text
    refund = opened.json()["platform"]
    assert refund["status"] == "WAIT_SELLER_AGREE" and refund["has_good_return"] is False
    assert refund["refund_fee"] == trade["orders"]["order"][0]["divide_order_fee"]
    client.post("/__sim/clock", json={"advance_seconds": 5})
    settled = client.post(f"/__sim/refunds/{refund['refund_id']}/settle", json={"status": "success"})
    assert settled.json()["platform"]["status"] == "SUCCESS"
    listed = _refunds(client, start_modified=settled.json()["modified"], end_modified=settled.json()["modified"])
    assert listed["total_results"] == 1
    assert [(r["refund_id"], r["tid"], r["oid"], r["status"]) for r in listed["refunds"]["refund"]] == \
        [(refund["refund_id"], trade["tid"], oid, "SUCCESS")]
    line = client.get("/__sim/orders").json()[0]["orders"]["order"][0]
    assert line["refund_status"] == "SUCCESS" and line["refund_id"] == refund["refund_id"]
    # settled once: a second outcome is refused
    assert client.post(f"/__sim/refunds/{refund['refund_id']}/settle", json={"status": "closed"}).status_code == 409


def test_refunds_of_a_closed_request_and_bad_input_are_refused_as_the_platform_would(client):
    trade = generate(client, 1, seed=3)[0]
    oid = trade["orders"]["order"][0]["oid"]
    assert client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": 1}).status_code == 404
    assert client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid, "fee": "0"}).status_code == 409
    closed = client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid, "has_good_return": True,
                                                 "status": "closed"}).json()
    assert closed["platform"]["status"] == "CLOSED" and closed["platform"]["has_good_return"] is True
    # closed: the line may be refunded again
    assert client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": oid}).status_code == 200
    assert _refunds(client, status="CLOSED")["total_results"] == 1


def test_refund_pages_shift_and_repeat_under_faults(client):
    for trade in generate(client, 6, seed=9):
        client.post("/__sim/refunds", json={"tid": trade["tid"], "oid": trade["orders"]["order"][0]["oid"]})
    assert client.post("/__sim/faults", json={"shift_pages": 1.0, "repeat_records": 1.0}).status_code == 200
    second = _refunds(client, page_no=2, page_size=2)
    assert len(second["refunds"]["refund"]) == 3  # the previous page's last one again
    stats = client.get("/__sim/stats").json()["faults"]
    assert stats["shift_pages"] >= 1 and stats["repeat_records"] >= 1
