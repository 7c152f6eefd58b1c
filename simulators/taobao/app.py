"""Taobao TOP shop simulator: the /router/rest gateway (sections 1.1-1.6) over the neutral shop core (shops.py)."""
from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request

from simulators import JSON
from simulators.faults import server_error
from simulators.shops import Order, Refund, Refused, ShopDraw, ShopSim, admin_router, local_time, parse_local_time
from simulators.taobao import (
    B04,
    DEFAULT_CONFIG,
    PATH,
    SIGN_METHODS,
    TopError,
    error_body,
    invalid,
    missing,
    render_refund,
    render_trade,
    request_id,
    select_fields,
    sign,
    simplified,
    trade_status,
)

DAY = 86400
QUARTER = 90 * DAY
NO_SESSION = {"taobao.top.auth.token.refresh"}


def response_root(method: str) -> str:
    """taobao.trades.sold.get -> trades_sold_get_response (the JSON root of a successful answer)."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def create_app(config: dict | None = None, clock: Callable[[], float] = time.time) -> FastAPI:
    unknown = sorted(set(config or {}) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown Taobao simulator config keys {unknown}")
    sim = ShopSim({**DEFAULT_CONFIG, **(config or {})}, clock)
    if sim.config["timestamp_check"] not in ("sim", "wall", "either"):
        raise ValueError("timestamp_check must be 'sim', 'wall' or 'either'")

    def render(order: Order) -> dict:
        return render_trade(order, sim.shops[order.shop]["seller_nick"],
                            bool(sim.config["single_line_payment_includes_post_fee"]))

    def refund_json(refund: Refund) -> dict:
        order = sim.store.orders[refund.order_id]
        return render_refund(refund, order, sim.shops[order.shop]["seller_nick"])

    app = FastAPI(title="Taobao TOP shop simulator", default_response_class=JSON)
    app.include_router(admin_router(sim, render, order_key="tid", line_key="oid", item_key="num_iid",
                                    render_refund=refund_json))
    app.state.sim = sim

    # ---------------------------------------------------------------- parameters
    async def params_of(request: Request) -> dict:
        params = dict(request.query_params)
        if request.method == "POST":
            raw = await request.body()
            ctype = request.headers.get("content-type", "")
            if raw and ("x-www-form-urlencoded" in ctype or not ctype):
                try:
                    params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    raise TopError(47, "Invalid encoding", "isv.invalid-encoding", "请求须为UTF-8编码") from None
            elif raw and "multipart/form-data" in ctype:
                raise TopError(41, "Invalid Arguments", "isv.invalid-parameter", "模拟器只接受x-www-form-urlencoded")
        return params

    def authenticate(p: dict) -> str | None:
        """The gateway checks of section 1.2/1.3, in order; the caller's shop (None for token refresh)."""
        cfg = sim.config
        if not p.get("app_key"):
            raise TopError(28, "Missing App Key")
        if p["app_key"] != cfg["app_key"]:
            raise TopError(29, "Invalid App Key")
        method = p.get("method")
        if not method:
            raise TopError(21, "Missing Method")
        if method not in METHODS:
            raise TopError(22, "Invalid Method", "isv.method-not-exist", f"不存在的方法名:{method}")
        if not p.get("v"):
            raise TopError(32, "Missing Version")
        if p["v"] != "2.0":
            raise TopError(34 if re.fullmatch(r"\d+(\.\d+)*", p["v"]) else 33,
                           "Unsupported Version" if re.fullmatch(r"\d+(\.\d+)*", p["v"]) else "Invalid Version")
        if (p.get("format") or "xml") != "json":
            raise TopError(23, "Invalid Format", "isv.invalid-format", "模拟器只支持format=json")
        sign_method = p.get("sign_method") or "md5"
        if sign_method not in SIGN_METHODS:
            raise invalid("sign_method", f"sign_method须为{'/'.join(SIGN_METHODS)}")
        if not p.get("sign"):
            raise TopError(24, "Missing Signature")
        if not p.get("timestamp"):
            raise TopError(30, "Missing Timestamp")
        if p["sign"].upper() != sign(p, cfg["app_secret"], sign_method):
            raise TopError(25, "Invalid Signature", "isv.signature-invalid", "签名无效")
        try:
            ts = parse_local_time(p["timestamp"])
        except ValueError:
            raise TopError(31, "Invalid Timestamp", "isv.invalid-timestamp",
                           "时间戳格式须为yyyy-MM-dd HH:mm:ss") from None
        references = {"sim": [sim.clock()], "wall": [sim.clock.base()],
                      "either": [sim.clock(), sim.clock.base()]}[cfg["timestamp_check"]]
        if all(abs(ts - ref) > cfg["timestamp_skew_seconds"] for ref in references):
            raise TopError(31, "Invalid Timestamp", "isv.invalid-timestamp",
                           f"时间戳与服务器时间{local_time(sim.clock())}相差超过{cfg['timestamp_skew_seconds'] // 60}分钟")
        if method in NO_SESSION:
            return None
        if not p.get("session"):
            raise TopError(26, "Missing Session")
        with sim.lock:
            shop, why = sim.tokens.check(p["session"], sim.clock())
        if shop is None:
            raise TopError(27, "Invalid session", "invalid-sessionkey",
                           "SessionKey已过期" if why == "expired" else "SessionKey非法")
        return shop

    # ---------------------------------------------------------------- argument helpers
    def need(p: dict, name: str) -> str:
        if not p.get(name):
            raise missing(name)
        return p[name]

    def integer(p: dict, name: str, default: int | None = None, low: int | None = None, high: int | None = None):
        if not p.get(name):
            if default is None:
                raise missing(name)
            return default
        try:
            value = int(p[name])
        except ValueError:
            raise invalid(name, f"{name}须为整数") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise invalid(name, f"{name}须在{low}到{high}之间")
        return value

    def moment(p: dict, name: str, required: bool = True) -> int | None:
        if not p.get(name):
            if required:
                raise missing(name)
            return None
        try:
            return parse_local_time(p[name])
        except ValueError:
            raise invalid(name, f"{name}格式须为yyyy-MM-dd HH:mm:ss") from None

    def boolean(p: dict, name: str) -> bool:
        return str(p.get(name, "")).lower() in ("true", "1")

    def fields_of(p: dict) -> set[str]:
        fields = {f.strip() for f in need(p, "fields").split(",") if f.strip()}
        if not fields:
            raise missing("fields")
        return fields

    def own_order(shop: str, tid_text: str, name: str = "tid") -> Order:
        try:
            tid = int(tid_text)
        except ValueError:
            raise invalid(name, f"{name}须为数字") from None
        order = sim.store.orders.get(tid)
        if order is None or order.shop != shop:
            raise TopError(15, "Remote service error", "isv.trade-not-exist", f"交易{tid}不存在")
        return order

    # ---------------------------------------------------------------- trade queries
    def matcher(p: dict) -> Callable[[Order], bool]:
        status, buyer = p.get("status"), p.get("buyer_nick")
        open_uid = p.get("buyer_open_uid") or p.get("buyer_open_id")
        types = {t.strip() for t in (p.get("type") or "").split(",") if t.strip()}

        def ok(o: Order) -> bool:
            if status and trade_status(o) != status:
                return False
            if types and not types & {"fixed", "guarantee_trade"}:
                return False
            return buyer in (None, "", o.buyer_nick) and open_uid in (None, "", o.buyer_id)
        return ok

    def paged(p: dict, shop: str, draw: ShopDraw, in_window: Callable[[Order], bool],
              sort_key: Callable[[Order], tuple], by_modified: bool) -> dict:
        fields = fields_of(p)
        page_no = integer(p, "page_no", 1, 1)
        page_size = integer(p, "page_size", 40, 1, 100)
        use_has_next = boolean(p, "use_has_next")
        extra = matcher(p)

        def rank() -> list[Order]:
            found = [o for o in sim.store.orders.values() if o.shop == shop and in_window(o) and extra(o)]
            return sorted(found, key=sort_key, reverse=True)

        with sim.lock:
            ranked = rank()
            lo, hi = (page_no - 1) * page_size, page_no * page_size
            if draw.shift:  # an order is modified between two page requests: it jumps to the top
                movable = (ranked[hi:] or ranked[1:]) if by_modified else []
                if movable:
                    sim.store.touch(movable[sim.faults.pick(len(movable))].order_id, sim.clock.second())
                else:
                    sim.store.generate(shop, 1, sim.faults.pick(10**9), sim.clock.second(), 1.0)
                sim.faults.count("shift_pages")
                ranked = rank()
            page = ranked[lo:hi]
            if draw.repeat and page_no > 1 and 0 < lo <= len(ranked) and page:
                page = [ranked[lo - 1]] + page  # the previous page's last record, once more
                sim.faults.count("repeat_records")
            trades = [select_fields(render(o), fields) for o in page]
        body: dict = {} if use_has_next else {"total_results": len(ranked)}
        body["has_next"] = hi < len(ranked)
        if trades:
            body["trades"] = {"trade": trades}
        return body

    def trades_sold_increment_get(p: dict, shop: str, draw: ShopDraw) -> dict:
        start, end = moment(p, "start_modified"), moment(p, "end_modified")
        if end < start:
            raise invalid("end_modified", "end_modified不能早于start_modified")
        if end - start > DAY:
            raise invalid("start_modified", "start_modified与end_modified的时间跨度不能超过一天")
        return paged(p, shop, draw, lambda o: start <= o.modified <= end,
                     lambda o: (o.modified, o.mod_seq), by_modified=True)

    def trades_sold_get(p: dict, shop: str, draw: ShopDraw) -> dict:
        oldest = sim.clock.second() - QUARTER
        start, end = moment(p, "start_created", False), moment(p, "end_created", False)
        start = max(start if start is not None else oldest, oldest)
        if end is not None and end < start:
            raise invalid("end_created", "end_created不能早于start_created")
        return paged(p, shop, draw, lambda o: start <= o.created and (end is None or o.created <= end),
                     lambda o: (o.created, o.order_id), by_modified=False)

    def trade_fullinfo_get(p: dict, shop: str, draw: ShopDraw) -> dict:
        fields = fields_of(p)
        with sim.lock:
            return {"trade": select_fields(render(own_order(shop, need(p, "tid"))), fields)}

    # ---------------------------------------------------------------- refunds (section 1.7)
    def refunds_receive_get(p: dict, shop: str, draw: ShopDraw) -> dict:
        """The seller's refunds, newest modified first, in an optional modified window; one status or all.
        Faults as for trades: a refund modified between two pages jumps to the top (shift), the previous
        page's last refund comes once more (repeat)."""
        fields = fields_of(p)
        start, end = moment(p, "start_modified", False), moment(p, "end_modified", False)
        if start is not None and end is not None and end < start:
            raise invalid("end_modified", "end_modified不能早于start_modified")
        status, buyer = p.get("status") or None, p.get("buyer_nick") or None
        page_no, page_size = integer(p, "page_no", 1, 1), integer(p, "page_size", 40, 1, 100)

        def rank() -> list[Refund]:
            found = [r for r in sim.store.refunds.values() if sim.store.orders[r.order_id].shop == shop
                     and (start is None or start <= r.modified) and (end is None or r.modified <= end)
                     and (status is None or refund_json(r)["status"] == status)
                     and buyer in (None, sim.store.orders[r.order_id].buyer_nick)]
            return sorted(found, key=lambda r: (r.modified, r.mod_seq), reverse=True)

        with sim.lock:
            ranked = rank()
            lo, hi = (page_no - 1) * page_size, page_no * page_size
            if draw.shift and ranked[hi:]:  # a later page's refund changes meanwhile: it moves to the top
                sim.store.touch_refund(ranked[hi:][sim.faults.pick(len(ranked[hi:]))], sim.clock.second())
                sim.faults.count("shift_pages")
                ranked = rank()
            page = ranked[lo:hi]
            if draw.repeat and page_no > 1 and 0 < lo <= len(ranked) and page:
                page = [ranked[lo - 1]] + page
                sim.faults.count("repeat_records")
            rows = [{k: v for k, v in refund_json(r).items() if k in fields} for r in page]
        body: dict = {} if boolean(p, "use_has_next") else {"total_results": len(ranked)}
        body["has_next"] = hi < len(ranked)
        if rows:
            body["refunds"] = {"refund": rows}
        return body

    # ---------------------------------------------------------------- shipping
    def logistics_offline_send(p: dict, shop: str, draw: ShopDraw) -> dict:
        tid_text, out_sid, company = need(p, "tid"), need(p, "out_sid"), need(p, "company_code")
        is_split = p.get("is_split") or "0"
        oids = None
        if p.get("sub_tid"):
            if is_split != "1":
                raise invalid("is_split", "按子订单发货(sub_tid)时is_split须为1")
            try:
                oids = [int(x) for x in p["sub_tid"].split(",") if x.strip()]
            except ValueError:
                raise invalid("sub_tid", "sub_tid须为逗号分隔的子订单号") from None
        elif is_split == "1":
            raise missing("sub_tid")
        try:
            tid = int(tid_text)
        except ValueError:
            raise invalid("tid", "tid须为数字") from None
        with sim.lock:
            try:
                sim.store.ship(tid, oids, company, out_sid, sim.clock.second(), shop=shop)
            except Refused as exc:
                if exc.reason == "not_found":
                    raise TopError(15, "Remote service error",
                                   "isv.logistics-offline-service-error:ORDER_NOT_FOUND_ERROR", f"订单{tid}不存在") from None
                if exc.reason == "unknown_line":
                    raise invalid("sub_tid", f"子订单不属于交易{tid}: {p['sub_tid']}") from None
                raise B04 from None
        return {"shipping": {"is_success": True}}

    # ---------------------------------------------------------------- stock
    def item_rows(num_iid_text: str) -> tuple[int, list[dict]]:
        try:
            num_iid = int(num_iid_text)
        except ValueError:
            raise invalid("num_iid", "num_iid须为数字") from None
        rows = [r for r in sim.config["catalogue"] if r["item_id"] == num_iid]
        if not rows:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"商品{num_iid}不存在")
        return num_iid, rows

    def find_sku(rows: list[dict], *, outer_id: str | None = None, sku_id: str | None = None) -> dict:
        for r in rows:
            if (sku_id and r["sku_id"] == sku_id) or (outer_id and r["outer_sku_id"] == outer_id):
                return r
        if outer_id and len(rows) == 1 and rows[0]["outer_item_id"] == outer_id:
            return rows[0]
        raise TopError(15, "Remote service error", "isv.sku-not-exist", f"SKU不存在:{sku_id or outer_id}")

    def quantity_of(text: str, incremental: bool, name: str) -> int:
        try:
            qty = int(text)
        except ValueError:
            raise invalid(name, f"库存数量须为整数:{text}") from None
        if qty < 0 and not incremental:
            raise invalid(name, "全量更新时库存数量不能为负数")
        return qty

    def stock_mode(p: dict) -> bool:
        kind = integer(p, "type", 1, 1, 2)
        return kind == 2

    def item_answer(shop: str, num_iid: int, rows: list[dict], touched: list[dict]) -> dict:
        now = local_time(sim.clock())
        levels = sim.stock.levels
        skus = [{"sku_id": int(r["sku_id"]), "outer_id": r["outer_sku_id"],
                 "quantity": levels.get((shop, r["outer_sku_id"]), 0), "modified": now} for r in touched]
        return {"item": {"iid": str(num_iid), "num_iid": num_iid,
                         "num": sum(levels.get((shop, r["outer_sku_id"]), 0) for r in rows),
                         "modified": now, "skus": {"sku": skus}}}

    def skus_quantity_update(p: dict, shop: str, draw: ShopDraw) -> dict:
        method = "taobao.skus.quantity.update"
        num_iid, rows = item_rows(need(p, "num_iid"))
        incremental = stock_mode(p)
        by_outer = bool(p.get("outerid_quantities"))
        text = p.get("outerid_quantities") or p.get("skuid_quantities")
        if not text:
            raise missing("outerid_quantities")
        pairs = [x for x in text.split(";") if x.strip()]
        if len(pairs) > 20:
            raise invalid("outerid_quantities", "一次最多更新20个SKU")
        updates = []
        for pair in pairs:
            key, sep, qty = pair.rpartition(":")
            if not sep or not key:
                raise invalid("outerid_quantities", f"格式须为 outerId:数量;…，收到{pair}")
            row = find_sku(rows, outer_id=key) if by_outer else find_sku(rows, sku_id=key)
            updates.append((row, quantity_of(qty, incremental, "outerid_quantities")))
        with sim.lock:
            for row, qty in updates:
                sim.stock.push(shop, row, qty, incremental, sim.clock.second(), method)
            return item_answer(shop, num_iid, rows, [r for r, _ in updates])

    def item_quantity_update(p: dict, shop: str, draw: ShopDraw) -> dict:
        method = "taobao.item.quantity.update"
        num_iid, rows = item_rows(need(p, "num_iid"))
        incremental = stock_mode(p)
        qty = quantity_of(need(p, "quantity"), incremental, "quantity")
        if p.get("sku_id"):
            row = find_sku(rows, sku_id=p["sku_id"])
        elif p.get("outer_id"):
            row = find_sku(rows, outer_id=p["outer_id"])
        elif len(rows) == 1:
            row = rows[0]
        else:
            raise missing("outer_id")
        with sim.lock:
            sim.stock.push(shop, row, qty, incremental, sim.clock.second(), method)
            return item_answer(shop, num_iid, rows, [row])

    # ---------------------------------------------------------------- tokens
    def top_auth_token_refresh(p: dict, shop: str | None, draw: ShopDraw) -> dict:
        with sim.lock:
            got = sim.tokens.refresh(need(p, "refresh_token"), sim.clock.second())
        if got is None:
            raise TopError(15, "Remote service error", "isv.refresh-token-invalid", "refresh_token无效或已过期")
        seller = sim.shops[got["shop"]]
        result = {"access_token": got["access_token"], "refresh_token": got["refresh_token"],
                  "expires_in": got["expires_in"], "re_expires_in": 0, "r1_expires_in": got["expires_in"],
                  "r2_expires_in": 0, "w1_expires_in": got["expires_in"], "w2_expires_in": 0,
                  "expire_time": got["expire_time"], "token_type": "Bearer",
                  "taobao_user_nick": seller["seller_nick"],
                  "taobao_user_id": str(2200000000001 + list(sim.shops).index(got["shop"]))}
        return {"token_result": json.dumps(result, ensure_ascii=False, separators=(",", ":"))}

    METHODS = {
        "taobao.trades.sold.increment.get": trades_sold_increment_get,
        "taobao.trades.sold.get": trades_sold_get,
        "taobao.trade.fullinfo.get": trade_fullinfo_get,
        "taobao.logistics.offline.send": logistics_offline_send,
        "taobao.skus.quantity.update": skus_quantity_update,
        "taobao.item.quantity.update": item_quantity_update,
        "taobao.top.auth.token.refresh": top_auth_token_refresh,
        "taobao.refunds.receive.get": refunds_receive_get,
    }

    # ---------------------------------------------------------------- the gateway
    @app.api_route(PATH, methods=["GET", "POST"])
    async def router(request: Request):
        rid = request_id()
        draw = sim.faults.draw()
        if draw.slow:
            await asyncio.sleep(draw.slow)
        try:
            p = await params_of(request)
        except TopError as err:
            sim.count_call("(unreadable)")
            sim.count_error(err.code)
            return JSON(error_body(err, rid))
        method = p.get("method") or "(none)"
        sim.count_call(method)
        try:
            ban_key = (p.get("app_key"), method)
            left = sim.banned_for(ban_key)
            if left:
                sim.faults.count("banned_calls")
                raise rate_limited(left)
            if draw.kind == "rate_limit":
                seconds = sim.faults.settings.ban_seconds
                sim.ban(ban_key, seconds)
                raise rate_limited(seconds)
            if draw.kind == "server_error":
                if draw.http500:
                    sim.count_error("http500")
                    return server_error()
                raise TopError(520, "Remote service error", "isp.remote-service-timeout", "API调用服务超时")
            shop = authenticate(p)
            body = METHODS[method](p, shop, draw)
            if boolean(p, "simplify"):
                body = simplified(body)
            answer = {response_root(method): {**body, "request_id": rid}}
        except TopError as err:
            sim.count_error(err.code)
            answer = error_body(err, rid)
        if draw.kind == "timeout":
            await asyncio.sleep(draw.hang)
        return JSON(answer)

    return app


def rate_limited(seconds: int) -> TopError:
    return TopError(7, "App Call Limited", "accesscontrol.limited-by-app-api-access-count",
                    f"This ban will last for {seconds} more seconds")

