"""The shop connectors' platform clients against canned platform answers (httpx.MockTransport):
error parsing, order normalisation, amounts (docs/EXTERNAL_APIS.md sections 1 and 2)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

import httpx
import pytest

from connectors.shops import core
from connectors.shops.jd import JdClient
from connectors.shops.platform import PlatformConfig, PlatformError, RateLimited, Shop
from connectors.shops.taobao import TaobaoClient

TB_SHOP = Shop(platform="taobao", shop="tb-main", access_token="tok", refresh_token="rt")
JD_SHOP = Shop(platform="jd", shop="jd-main", access_token="tok", refresh_token="rt")
RECEIVER = {"receiver_name": "张三", "receiver_mobile": "13800000000", "receiver_state": "浙江省",
            "receiver_city": "杭州市", "receiver_district": "西湖区", "receiver_address": "文三路 1 号"}


def tb_trade(lines: list[dict], payment: str, post_fee: str = "0.00", tid: int = 3028689400000001) -> dict:
    """A TOP trade (section 1.4 fields), lines given as {oid, outer_sku_id, num, price, payment}."""
    return {"tid": tid, "tid_str": str(tid), "status": "WAIT_SELLER_SEND_GOODS", "modified": "2026-01-01 10:00:00",
            "created": "2026-01-01 09:59:00", "payment": payment, "post_fee": post_fee, "buyer_nick": "tb_buyer",
            **RECEIVER,
            "orders": {"order": [{"oid": ln["oid"], "oid_str": str(ln["oid"]), "num_iid": 100, "sku_id": "1",
                                  "outer_sku_id": ln["outer_sku_id"], "num": ln["num"], "price": ln["price"],
                                  "payment": ln["payment"], "divide_order_fee": ln.get("divide", ln["payment"]),
                                  "refund_status": "NO_REFUND"} for ln in lines]}}


def jd_order(items: list[dict], payment: str, freight: str = "0.00", coupons: list | None = None,
             order_id: str = "249786309732") -> dict:
    """A JD OrderSearchInfo (section 2.3), items given as {skuId, jdPrice, itemTotal}."""
    return {"orderId": order_id, "orderState": "WAIT_SELLER_STOCK_OUT", "modified": "2026-01-01 10:00:00",
            "orderPayment": payment, "freightPrice": freight, "pin": "jd_buyer",
            "itemInfoList": [{"outerSkuId": i.get("outerSkuId", i["skuId"]), **i} for i in items],
            "couponDetailList": coupons or [],
            "consigneeInfo": {"fullname": "李四", "mobile": "13900000000", "province": "广东", "city": "广州市",
                              "county": "海珠区", "fullAddress": "赤岗街道 2 号"}}


class NoTokens:
    def get(self, shop):
        return None

    def save(self, shop, access, refresh):
        pass


def replying(answer, seen: list | None = None) -> httpx.MockTransport:
    """A transport answering every request with `answer` (a dict, or the raw JSON text)."""
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return httpx.Response(200, content=text.encode(), headers={"content-type": "application/json"})
    return httpx.MockTransport(handle)


def taobao(answer, seen=None) -> TaobaoClient:
    return TaobaoClient(PlatformConfig(url="http://top.test", app_key="k", app_secret="s", attempts=1),
                        NoTokens(), transport=replying(answer, seen))


@pytest.mark.parametrize("sub_msg, seconds", [("This ban will last for 31062 more seconds", 31062.0),
                                              ("This ban will last for 2 more seconds", 2.0),
                                              ("This ban will last 7 more seconds", 7.0)])
def test_taobao_ban_length_is_read_from_the_real_text_and_the_short_form(sub_msg, seconds):
    client = taobao({"error_response": {"code": 7, "msg": "App Call Limited",
                                        "sub_code": "accesscontrol.limited-by-app-api-access-count",
                                        "sub_msg": sub_msg}})
    with pytest.raises(RateLimited) as raised:
        client._call(TB_SHOP, "taobao.trades.sold.increment.get", {})
    assert raised.value.wait_seconds == seconds


def jd(answer=None, seen=None, **config) -> JdClient:
    return JdClient(PlatformConfig(url="http://jd.test", app_key="k", app_secret="s", attempts=1, **config),
                    NoTokens(), transport=replying(answer or {}, seen))


def held(order: core.PlatformOrder) -> core.Held:
    with pytest.raises(core.Held) as raised:
        core.hub_order(order, {ln.outer_sku: [{"sku": ln.outer_sku, "quantity": 1}] for ln in order.lines})
    return raised.value


@pytest.mark.parametrize("path, field", [(("modified",), "modified"), (("payment",), "payment"),
                                         (("status",), "status"), (("orders",), "orders"),
                                         (("orders", "order", 0, "num"), "orders.order[0].num"),
                                         (("orders", "order", 1, "price"), "orders.order[1].price")])
def test_a_taobao_trade_missing_a_required_field_is_held_naming_it(path, field):
    trade = tb_trade([{"oid": 1, "outer_sku_id": "A", "num": 1, "price": "10.00", "payment": "10.00"},
                      {"oid": 2, "outer_sku_id": "B", "num": 1, "price": "5.00", "payment": "5.00"}], "15.00")
    record = trade
    for key in path[:-1]:
        record = record[key]
    del record[path[-1]]
    order = taobao({}).normalize(TB_SHOP, trade)
    assert order.external_order_id == "3028689400000001"
    problem = held(order)
    assert problem.reason == "missing_field" and field in problem.detail


def test_a_taobao_pull_holds_a_broken_trade_and_keeps_the_others():
    good = tb_trade([{"oid": 1, "outer_sku_id": "A", "num": 1, "price": "10.00", "payment": "10.00"}], "10.00")
    broken = tb_trade([{"oid": 2, "outer_sku_id": "A", "num": 1, "price": "10.00", "payment": "10.00"}], "10.00",
                      tid=3028689400000002)
    del broken["tid"], broken["tid_str"]
    client = taobao({"trades_sold_increment_get_response": {"total_results": 2,
                                                           "trades": {"trade": [good, broken]}}})
    orders = client.orders_modified(TB_SHOP, datetime(2026, 1, 1, tzinfo=timezone.utc),
                                    datetime(2026, 1, 1, 1, tzinfo=timezone.utc))
    assert len(orders) == 2
    ok = next(o for o in orders if o.external_order_id == "3028689400000001")
    assert core.hub_order(ok, {"A": [{"sku": "A", "quantity": 1}]})["lines"][0]["amount"] == "10.00"
    bad = next(o for o in orders if o.external_order_id != "3028689400000001")
    assert held(bad).reason == "missing_field" and "tid" in held(bad).detail


@pytest.mark.parametrize("path, field", [(("modified",), "modified"), (("orderPayment",), "orderPayment"),
                                         (("orderState",), "orderState"),
                                         (("itemInfoList", 0, "itemTotal"), "itemInfoList[0].itemTotal"),
                                         (("itemInfoList", 1, "jdPrice"), "itemInfoList[1].jdPrice"),
                                         (("couponDetailList", 0, "couponPrice"), "couponDetailList[0].couponPrice")])
def test_a_jd_order_missing_a_required_field_is_held_naming_it(path, field):
    order = jd_order([{"skuId": "1", "jdPrice": "10.00", "itemTotal": "1"},
                      {"skuId": "2", "jdPrice": "5.00", "itemTotal": "1"}], "14.00",
                     coupons=[{"skuId": "", "couponType": "100-店铺优惠", "couponPrice": "1.00"}])
    record = order
    for key in path[:-1]:
        record = record[key]
    del record[path[-1]]
    normalized = jd().normalize(JD_SHOP, order)
    assert normalized.external_order_id == "249786309732"
    problem = held(normalized)
    assert problem.reason == "missing_field" and field in problem.detail


WINDOW = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, 1, tzinfo=timezone.utc))


def test_taobao_amounts_sent_as_json_numbers_parse_exactly():
    trade = tb_trade([{"oid": 1, "outer_sku_id": "A", "num": 1, "price": "X", "payment": "Y"},
                      {"oid": 2, "outer_sku_id": "B", "num": 1, "price": "X", "payment": "Z"}], "T")
    text = json.dumps({"trades_sold_increment_get_response": {"total_results": 1, "trades": {"trade": [trade]}}})
    # numbers, as some gateways send them: 0.1 + 0.2 is not 0.3 in binary floating point
    for q, number in (('"X"', "0.1"), ('"Y"', "0.1"), ('"Z"', "0.2"), ('"T"', "0.3")):
        text = text.replace(q, number)
    text = text.replace('"divide_order_fee": 0.1', '"divide_order_fee": 0.1')
    order, = taobao(text).orders_modified(TB_SHOP, *WINDOW)
    assert order.paid_total == Decimal("0.3") and [ln.price for ln in order.lines] == [Decimal("0.1")] * 2
    assert [ln.paid for ln in order.lines] == [Decimal("0.1"), Decimal("0.2")]
    payload = core.hub_order(order, {"A": [{"sku": "A", "quantity": 1}], "B": [{"sku": "B", "quantity": 1}]})
    assert [ln["amount"] for ln in payload["lines"]] == ["0.10", "0.20"]


def test_jd_amounts_sent_as_json_numbers_parse_exactly():
    order = jd_order([{"skuId": "1", "jdPrice": "X", "itemTotal": "1"},
                      {"skuId": "2", "jdPrice": "Y", "itemTotal": "1"}], "T", freight="F")
    text = json.dumps({"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
        "apiResult": {"success": True}, "orderTotal": 1, "orderInfoList": [order]}}})
    for q, number in (('"X"', "0.1"), ('"Y"', "0.2"), ('"T"', "1.005"), ('"F"', "0.705")):
        text = text.replace(q, number)
    normalized, = jd(text).orders_modified(JD_SHOP, *WINDOW)
    assert normalized.paid_total == Decimal("1.005")  # as sent (as a float it is 1.00499999...)
    assert [ln.price for ln in normalized.lines] == [Decimal("0.1"), Decimal("0.2")]
    # half a cent rounds up from the text (a float would have rounded 0.70499... and 1.00499... down)
    assert sum(ln.paid for ln in normalized.lines) == Decimal("1.01")
    assert core.hub_order(normalized, {"1": [{"sku": "A", "quantity": 1}], "2": [{"sku": "B", "quantity": 1}]})


# the real single-line trade of section 1.4: line payment 148.00 = trade payment, post fee 8.00 included
REAL_SINGLE = {"tid": "227668460417201790", "status": "TRADE_FINISHED", "modified": "2018-10-23 10:31:20",
               "payment": "148.00", "post_fee": "8.00", **RECEIVER,
               "orders": {"order": [{"oid": "227668460417201790", "num": 1, "num_iid": 559884639463,
                                     "outer_iid": "06-18-08", "price": "160.00", "discount_fee": "20.00",
                                     "adjust_fee": "0.00", "divide_order_fee": "140.00", "payment": "148.00",
                                     "total_fee": "140.00", "refund_status": "NO_REFUND"}]}}


@pytest.mark.parametrize("divide_order_fee", [True, False])
@pytest.mark.parametrize("quirk", [True, False])
def test_a_single_line_trade_adds_up_to_the_payment_with_the_post_fee_once(quirk, divide_order_fee):
    trade = json.loads(json.dumps(REAL_SINGLE))
    line = trade["orders"]["order"][0]
    if not quirk:
        line["payment"] = "140.00"
    if not divide_order_fee:
        del line["divide_order_fee"]
    order = taobao({}).normalize(TB_SHOP, trade)
    assert [ln.paid for ln in order.lines] == [Decimal("148.00")]
    payload = core.hub_order(order, {"06-18-08": [{"sku": "TEE", "quantity": 1}]})
    assert payload["lines"][0]["amount"] == "148.00"


def test_trades_from_the_simulator_add_up_with_its_default_single_line_quirk():
    from fastapi.testclient import TestClient

    from simulators.taobao.app import create_app
    from tests.unit.simulators import Clock

    with TestClient(create_app(clock=Clock())) as sim:
        trades = sim.post("/__sim/orders/generate", json={"shop": "tb-main", "count": 60, "seed": 3}).json()["orders"]
    single = [t for t in trades if len(t["orders"]["order"]) == 1 and Decimal(t["post_fee"]) > 0]
    assert single and single[0]["orders"]["order"][0]["payment"] == single[0]["payment"]
    client = taobao({})
    for t in trades:
        for ln in t["orders"]["order"]:  # the fallback, as from a client asking for fewer fields
            del ln["divide_order_fee"]
        if Decimal(t["discount_fee"]) == 0:  # without divide_order_fee an order discount cannot be spread
            order = client.normalize(TB_SHOP, t)
            assert sum(ln.paid for ln in order.lines) == Decimal(t["payment"]), t


def test_jd_token_refresh_goes_to_the_oauth_url_of_the_config():
    seen: list[httpx.Request] = []
    expired = {"error_response": {"code": "19", "zh_desc": "无效access_token", "en_desc": "Invalid access_token"}}
    found = {"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": {
        "apiResult": {"success": True}, "orderTotal": 0, "orderInfoList": []}}}

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "oauth.jd.test":
            body = {"access_token": "new-at", "refresh_token": "new-rt", "expires_in": 86400, "code": 0}
        else:
            body = found if request.url.params.get("access_token") == "new-at" else expired
        return httpx.Response(200, json=body)

    saved = []

    class Tokens(NoTokens):
        def get(self, shop):
            return saved[-1] if saved else None

        def save(self, shop, access, refresh):
            saved.append((access, refresh))

    client = JdClient(PlatformConfig(url="http://api.jd.test", app_key="k", app_secret="s", attempts=1,
                                     oauth_url="http://oauth.jd.test/base/"), Tokens(),
                      transport=httpx.MockTransport(handle))
    client.call(JD_SHOP, "jingdong.pop.order.search", {})
    refresh, = [r for r in seen if r.url.path.endswith("/oauth2/refresh_token")]
    assert (refresh.url.host, refresh.url.path) == ("oauth.jd.test", "/base/oauth2/refresh_token")
    assert refresh.url.params["refresh_token"] == "rt" and refresh.url.params["grant_type"] == "refresh_token"
    assert saved == [("new-at", "new-rt")]
    assert {r.url.host for r in seen if r.url.path == "/routerjson"} == {"api.jd.test"}


def test_the_shops_file_names_the_oauth_url_and_defaults_it_to_the_router_url(tmp_path):
    from connectors.shops import config

    shop = {"shop": "jd-main", "access_token": "a", "refresh_token": "r"}
    path = tmp_path / "shops.json"
    path.write_text(json.dumps({
        "jd": {"url": "https://api.jd.com", "oauth_url": "https://open-oauth.jd.com", "app_key": "k",
               "app_secret": "s", "shops": [shop]},
        "taobao": {"url": "http://127.0.0.1:8703", "app_key": "k", "app_secret": "s",
                   "shops": [{**shop, "shop": "tb-main"}]}}))
    loaded = config.load(str(path))
    assert loaded["jd"][0].oauth_url == "https://open-oauth.jd.com"
    assert loaded["taobao"][0].oauth_url == "http://127.0.0.1:8703"


def test_jd_lines_with_the_same_sku_get_their_own_line_ids_and_share_the_sku_coupon_once():
    order = jd_order([{"skuId": "100012", "jdPrice": "10.00", "itemTotal": "1"},
                      {"skuId": "200034", "jdPrice": "5.00", "itemTotal": "1"},
                      {"skuId": "100012", "jdPrice": "10.00", "itemTotal": "2"}], "33.00", freight="6.00",
                     coupons=[{"skuId": "100012", "couponType": "30-单品促销优惠", "couponPrice": "3.00"},
                              {"skuId": "", "couponType": "100-店铺优惠", "couponPrice": "5.00"}])
    normalized = jd().normalize(JD_SHOP, order)
    ids = [ln.line_id for ln in normalized.lines]
    assert ids == ["100012", "200034", "100012#2"] and len(set(ids)) == 3
    assert sum(ln.paid for ln in normalized.lines) == Decimal("33.00")
    payload = core.hub_order(normalized, {"100012": [{"sku": "TEA", "quantity": 1}],
                                          "200034": [{"sku": "CUP", "quantity": 1}]})
    assert payload["platform_line_ids"] == ids
    # what was paid for each line's goods, its share of the freight left out (a goods-back refund's measure)
    assert sum(Decimal(g) for g in payload["platform_line_goods"]) == Decimal("27.00")
    assert [Decimal(line["amount"]) - Decimal(g) for line, g in zip(payload["lines"], payload["platform_line_goods"])] \
        == [ln.shipping for ln in normalized.lines]
    assert jd().normalize(JD_SHOP, order).lines == normalized.lines  # the same ids on every read


def test_the_buyers_message_of_a_taobao_trade_or_a_jd_order_travels_to_the_hub_and_only_when_there_is_one():
    mapped = {"A": [{"sku": "A", "quantity": 1}]}
    trade = tb_trade([{"oid": 1, "outer_sku_id": "A", "num": 1, "price": "10.00", "payment": "10.00"}], "10.00")
    silent = core.hub_order(taobao({}).normalize(TB_SHOP, trade), mapped)
    noted = core.hub_order(taobao({}).normalize(TB_SHOP, {**trade, "buyer_message": " 请尽快发货 ",
                                                          "has_buyer_message": True}), mapped)
    assert "buyer_message" not in silent and noted["buyer_message"] == "请尽快发货"
    order = jd_order([{"skuId": "A", "jdPrice": "10.00", "itemTotal": "1"}], "10.00")
    assert core.hub_order(jd().normalize(JD_SHOP, {**order, "orderRemark": "不要放快递柜"}), mapped)[
        "buyer_message"] == "不要放快递柜"
    assert "buyer_message" not in core.hub_order(jd().normalize(JD_SHOP, {**order, "orderRemark": ""}), mapped)


def test_the_taobao_client_asks_for_the_buyers_message():
    from connectors.shops.taobao import FIELDS
    assert "buyer_message" in FIELDS.split(",")


def test_the_taobao_simulator_gives_some_trades_a_buyers_message():
    from fastapi.testclient import TestClient

    from simulators.taobao.app import create_app
    from tests.unit.simulators import Clock

    with TestClient(create_app(clock=Clock())) as sim:
        trades = sim.post("/__sim/orders/generate", json={"shop": "tb-main", "count": 20, "seed": 3}).json()["orders"]
    noted = [t for t in trades if t.get("has_buyer_message")]
    assert 0 < len(noted) < len(trades) and all(t["buyer_message"] for t in noted)
    assert not any("buyer_message" in t for t in trades if not t.get("has_buyer_message"))


# ---------------------------------------------------------------- refunds
@pytest.mark.parametrize("status, outcome", [("SUCCESS", "success"), ("CLOSED", "closed"),
                                             ("WAIT_SELLER_AGREE", "waiting"), ("SELLER_REFUSE_BUYER", "waiting"),
                                             ("WAIT_BUYER_RETURN_GOODS", "waiting")])
def test_a_taobao_refund_succeeds_only_on_success_and_never_after_closed(status, outcome):
    client = TaobaoClient(PlatformConfig("http://tb", "k", "s"), NoTokens())
    refund = client.refund(TB_SHOP, {"refund_id": 80000000000002, "tid": 3028689400000001, "oid": 3028689500000001,
                                     "refund_fee": "12.30", "status": status, "has_good_return": True,
                                     "modified": "2026-01-01 10:00:05"})
    assert (refund.status, refund.refund_id, refund.external_order_id, refund.line_id) == (
        outcome, "80000000000002", "3028689400000001", "3028689500000001")
    assert refund.amount == Decimal("12.30") and refund.goods_return is True
    assert refund.modified == datetime(2026, 1, 1, 2, 0, 5, tzinfo=timezone.utc)  # Shanghai time


@pytest.mark.parametrize("status, outcome", [("1", "success"), ("2", "closed"), ("0", "waiting"), ("3", "waiting")])
def test_a_jd_refund_application_is_in_fen_and_only_an_approved_one_succeeds(status, outcome):
    client = JdClient(PlatformConfig("http://jd", "k", "s"), NoTokens())
    refund = client.refund(JD_SHOP, {"id": 90000001, "orderId": "249786309732", "skuId": "10054887745652",
                                     "applyRefundSum": 1230, "status": status, "applyTime": "2026-01-01 09:00:00",
                                     "checkTime": "2026-01-01 10:00:00"})
    assert (refund.status, refund.amount, refund.line_id, refund.goods_return) == (
        outcome, Decimal("12.30"), "10054887745652", False)
    assert refund.modified == datetime(2026, 1, 1, 2, 0, 0, tzinfo=timezone.utc)  # the check settles it


def test_a_refund_missing_a_required_field_is_held_naming_it_not_a_failed_pull():
    tb = TaobaoClient(PlatformConfig("http://tb", "k", "s"), NoTokens()).refund(
        TB_SHOP, {"refund_id": 80000000000009, "tid": 3028689400000001, "refund_fee": "1.00", "status": "SUCCESS",
                  "modified": "2026-01-01 10:00:05"})
    jd = JdClient(PlatformConfig("http://jd", "k", "s"), NoTokens()).refund(JD_SHOP, {"orderId": "1", "status": "1"})
    assert (tb.status, tb.refund_id, tb.platform_status) == ("broken", "80000000000009", "no oid")
    assert jd.status == "broken" and jd.refund_id.startswith("unknown-") and jd.platform_status == "no id"


def test_taobao_pushes_the_quantities_of_one_item_together_twenty_at_most_and_says_which_failed():
    seen: list[httpx.Request] = []
    answers = iter([{"skus_quantity_update_response": {"item": {}}},
                    {"error_response": {"code": 41, "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter"}},
                    {"skus_quantity_update_response": {"item": {}}}])

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=next(answers))
    client = TaobaoClient(PlatformConfig(url="http://top.test", app_key="k", app_secret="s", attempts=1),
                          NoTokens(), transport=httpx.MockTransport(handle))
    quantities = [(f"111:TEE-{n}", n) for n in range(21)] + [("222:MUG", 5)]
    outcomes = client.push_stocks(TB_SHOP, quantities)
    calls = [dict(parse_qsl(r.content.decode())) for r in seen]
    assert [(c["method"], c["num_iid"], c["type"]) for c in calls] == [("taobao.skus.quantity.update", "111", "1")] * 2 + [
        ("taobao.skus.quantity.update", "222", "1")]
    assert calls[0]["outerid_quantities"] == ";".join(f"TEE-{n}:{n}" for n in range(20))
    assert calls[1]["outerid_quantities"] == "TEE-20:20" and calls[2]["outerid_quantities"] == "MUG:5"
    assert outcomes[:20] == [None] * 20 and outcomes[21] is None
    assert isinstance(outcomes[20], PlatformError)  # only the call that failed keeps its quantity for later
