"""JD JOS shop simulator: /routerjson (order search, shipment, stock), OAuth refresh, faults, admin API."""
from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from simulators import JSON
from simulators.faults import Switchboard, server_error
from simulators.jd import (
    DEFAULT_CONFIG,
    EN_SEARCH,
    METHODS,
    OAUTH_PREFIX,
    REFRESH_PATH,
    REFUNDS,
    ROUTER_PATH,
    SEARCH,
    SHIPMENT,
    VERSION,
    error_response,
    fmt_time,
    parse_time,
    parse_timestamp,
    sign,
)
from simulators.jd.orders import KNOWN_STATES, JdState, SimError

KINDS = ("rate_limit", "server_error", "timeout", "shift_pages", "repeat_records")
Probability = Field(default=0.0, ge=0.0, le=1.0)
SYSTEM_ERROR = ("系统异常，请稍后重试", "system error, please retry later")
PARAM_ERROR_CODE = 10100
SYSTEM_ERROR_CODE = 10000
NEW_ORDER_STATES = ("WAIT_SELLER_STOCK_OUT", "WAIT_BUYER_PAY")


# ---------------------------------------------------------------- faults
class FaultSettings(BaseModel):
    """Body of POST /__sim/faults. Posting replaces the whole set: keys left out go back to defaults."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: float = Probability
    server_error: float = Probability
    server_error_http_share: float = Field(default=0.5, ge=0.0, le=1.0)
    timeout: float = Probability
    shift_pages: float = Probability
    repeat_records: float = Probability
    slow_rate: float = Probability
    slow_seconds: float = Field(default=1.0, ge=0.0)
    hang_seconds: float = Field(default=30.0, ge=0.0)
    seed: int = 0


@dataclass(frozen=True)
class Draw:
    kind: str | None  # one of KINDS, or None
    slow: float  # seconds to wait before handling
    hang: float  # seconds to wait before answering, for timeout
    http: bool  # server_error as HTTP 500 (True) or as a business failure (False)


class Faults(Switchboard):
    """Drawn once per authenticated /routerjson call from a seeded random.Random: one number per kind in
    KINDS order (the first under its probability fires), then one for slow, one for the 500-or-business
    choice. A kind is counted when it takes effect (shift_pages/repeat_records only on a page they change)."""

    settings_class = FaultSettings
    counters = (*KINDS, "slow")

    def draw(self) -> Draw:
        with self._lock:
            s, kind = self.settings, None
            for k in KINDS:
                if self._rng.random() < getattr(s, k) and kind is None:
                    kind = k
            slow = s.slow_seconds if self._rng.random() < s.slow_rate else 0.0
            http = self._rng.random() < s.server_error_http_share
            return Draw(kind, slow, s.hang_seconds, http)


# ---------------------------------------------------------------- envelopes
def api_result(success: bool = True, zh: str = "", en: str = "", number: int = 0) -> dict:
    return {"success": success, "englishErrCode": en, "chineseErrCode": zh, "numberCode": number}


def search_key(method: str) -> str:
    return "jingdong_pop_order_enSearch_responce" if method == EN_SEARCH else "jingdong_pop_order_search_responce"


def search_answer(method: str, result: dict, total: int = 0, rows: list | None = None) -> dict:
    return {search_key(method): {"code": "0", "searchorderinfo_result": {
        "apiResult": result, "orderTotal": total, "orderInfoList": rows or []}}}


def shipment_answer(success: bool, zh: str = "", en: str = "", code: str = "") -> dict:
    return {"jingdong_pop_order_shipment_responce": {"code": "0", "sopjosshipment_result": {
        "success": success, "chineseErrCode": zh, "englishErrCode": en, "errorCode": code}}}


def stock_answer(success: bool) -> dict:
    return {"jingdong_stock_write_updateSkuStock_response": {"code": "0", "success": success}}


REFUNDS_KEY = "jingdong_pop_afs_soa_refundapply_queryPageList_responce"


def refunds_answer(success: bool, rows: list | None = None, total: int = 0, code: str = "", message: str = "") -> dict:
    return {REFUNDS_KEY: {"code": "0", "queryResult": {
        "success": success, "errorCode": code, "errorMessage": message, "totalCount": total, "result": rows or []}}}


def system_failure(method: str) -> dict:
    zh, en = SYSTEM_ERROR
    if method == REFUNDS:
        return refunds_answer(False, code=str(SYSTEM_ERROR_CODE), message=zh)
    if method in (SEARCH, EN_SEARCH):
        return search_answer(method, api_result(False, zh, en, SYSTEM_ERROR_CODE))
    if method == SHIPMENT:
        return shipment_answer(False, zh, en, str(SYSTEM_ERROR_CODE))
    return stock_answer(False)


class BadParam(ValueError):
    pass


def _opt_time(biz: dict, key: str) -> float | None:
    value = biz.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise BadParam(f"{key}格式错误[{value}]，应为yyyy-MM-dd HH:mm:ss") from None


def _int(biz: dict, key: str, default: int) -> int:
    value = biz.get(key)
    if value in (None, ""):
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadParam(f"{key}[{value}]不是整数") from None


def _names(value) -> list[str]:
    if value in (None, ""):
        return []
    parts = value if isinstance(value, list) else str(value).split(",")
    return [str(p).strip() for p in parts if str(p).strip()]


# ---------------------------------------------------------------- admin bodies
class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str
    count: int = Field(default=1, ge=1, le=5000)
    seed: int = 0
    paid_ratio: float | None = Field(default=None, ge=0.0, le=1.0)


class ChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str
    seed: int | None = None  # makes the new address of "address" reproducible


class ChurnBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str
    count: int = Field(default=1, ge=1, le=5000)
    seed: int = 0


class ClockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance_seconds: float = Field(ge=0.0)


# ---------------------------------------------------------------- app
def create_app(config: dict | None = None, clock=time.time) -> FastAPI:
    unknown = sorted(set(config or {}) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown JD simulator config keys {unknown}")
    state, faults = JdState({**copy.deepcopy(DEFAULT_CONFIG), **copy.deepcopy(config or {})}, clock), Faults()
    app = FastAPI(title="JD JOS shop simulator", default_response_class=JSON)
    app.state.jd, app.state.faults = state, faults

    def count(table: str, key: str) -> None:
        with state.lock:
            state.stats[table][key] = state.stats[table].get(key, 0) + 1

    async def collect(request: Request) -> dict:
        """Router params: URL query params, plus a form body (the query wins on a clash)."""
        params = dict(request.query_params)
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
            body = (await request.body()).decode("utf-8", errors="replace")
            for k, v in parse_qsl(body, keep_blank_values=True):
                params.setdefault(k, v)
        return params

    def gateway(params: dict) -> tuple[str | None, dict | None]:
        """(error code, None) or (None, shop). Checks in this order: method present (14), app_key (21),
        timestamp (7, 8), sign (11, 12), v (4, 5), method known (15), access_token (19)."""
        cfg = state.config
        if not params.get("method"):
            return "14", None
        if params.get("app_key") != cfg["app_key"]:
            return "21", None
        if not params.get("timestamp"):
            return "7", None
        try:
            sent = parse_timestamp(params["timestamp"])
        except ValueError:
            return "8", None
        skew, mode = cfg["timestamp_skew_seconds"], cfg["timestamp_check"]
        near = {"sim": [state.now()], "wall": [state.wall()], "either": [state.now(), state.wall()]}[mode]
        if not any(abs(sent - t) <= skew for t in near):
            return "8", None
        if not params.get("sign"):
            return "11", None
        if params["sign"].upper() != sign(params, cfg["app_secret"]):
            return "12", None
        if not params.get("v"):
            return "4", None
        if params["v"] != VERSION:
            return "5", None
        if params["method"] not in METHODS:
            return "15", None
        shop = state.shop_by_token(params.get("access_token"))
        if not shop:
            return "19", None
        return None, shop

    @app.api_route(ROUTER_PATH, methods=["POST", "GET"])
    async def router(request: Request):
        params = await collect(request)
        method = params.get("method", "")
        with state.lock:
            state.stats["router_calls"] += 1
        count("by_method", method or "(none)")
        code, shop = gateway(params)
        if code:
            count("gateway_errors", code)
            return JSON(error_response(code))
        draw = faults.draw()
        if draw.slow:
            faults.count("slow")
            await asyncio.sleep(draw.slow)
        if draw.kind == "rate_limit":
            faults.count("rate_limit")
            count("gateway_errors", "2")
            return JSON(error_response("2"))
        if draw.kind == "server_error":
            faults.count("server_error")
            return server_error() if draw.http else JSON(system_failure(method))
        raw = params.get("360buy_param_json") or "{}"
        try:
            biz = json.loads(raw)
            if not isinstance(biz, dict):
                raise ValueError
        except ValueError:
            biz = None
        if method in (SEARCH, EN_SEARCH):
            answer = search(method, shop, biz, draw)
        elif method == SHIPMENT:
            answer = shipment(shop, biz)
        elif method == REFUNDS:
            answer = refunds(shop, biz, draw)
        else:
            answer = stock(shop, biz)
        if draw.kind == "timeout":
            faults.count("timeout")
            await asyncio.sleep(draw.hang)
        return JSON(answer)

    # ------------------------------------------------------------ business methods
    def business_error() -> None:
        with state.lock:
            state.stats["business_errors"] += 1

    def search(method: str, shop: dict, biz: dict | None, draw: Draw) -> dict:
        try:
            if biz is None:
                raise BadParam("360buy_param_json不是有效的JSON对象")
            start, end = _opt_time(biz, "start_date"), _opt_time(biz, "end_date")
            states = set(_names(biz.get("order_state")))
            bad = sorted(states - KNOWN_STATES)
            if bad:
                raise BadParam(f"订单状态{bad}不正确")
            fields = set(_names(biz.get("optional_fields"))) or None
            page, size = _int(biz, "page", 1), _int(biz, "page_size", 10)
            limit = state.config["page_size_max"]
            if page < 1:
                raise BadParam(f"page[{page}]必须大于0")
            if not 1 <= size <= limit:
                raise BadParam(f"page_size[{size}]必须在1到{limit}之间")
            desc, by_created = _int(biz, "sortType", 0) == 1, _int(biz, "dateType", 0) == 1
        except BadParam as exc:
            business_error()
            return search_answer(method, api_result(False, str(exc), "invalid parameter", PARAM_ERROR_CODE))
        query = {"shop": shop, "states": states, "start": start, "end": end, "by_created": by_created, "desc": desc}
        with state.lock:
            found = state.matching(**query)
            begin = (page - 1) * size
            rows = [state.render(o, fields) for o in found[begin:begin + size]]
            if draw.kind == "repeat_records" and 0 < begin <= len(found):
                rows.insert(0, state.render(found[begin - 1], fields))
                faults.count("repeat_records")
            total = len(found)
            if draw.kind == "shift_pages" and begin + size < total and begin < total:
                event = shift(query, found, begin, begin + size)
                if event:
                    faults.count("shift_pages")
                    state.stats["shift_events"].append({**event, "page": page})
        return search_answer(method, api_result(), total, rows)

    def refunds(shop: dict, biz: dict | None, draw: Draw) -> dict:
        """Refund applications by apply or check time window, status, order; newest first. Faults: a
        shift settles or re-checks nothing but moves the next page's first application to the top (its
        check time becomes now); a repeat gives the previous page's last one again."""
        try:
            if biz is None:
                raise BadParam("360buy_param_json不是有效的JSON对象")
            apply_window = (_opt_time(biz, "applyTimeStart"), _opt_time(biz, "applyTimeEnd"))
            check_window = (_opt_time(biz, "checkTimeStart"), _opt_time(biz, "checkTimeEnd"))
            page, size = _int(biz, "pageIndex", 1), _int(biz, "pageSize", 10)
            if page < 1 or not 1 <= size <= 50:
                raise BadParam(f"pageIndex[{page}]须大于0，pageSize[{size}]须在1到50之间")
            status = str(biz["status"]) if biz.get("status") not in (None, "") else None
            order_id = str(biz["orderId"]) if biz.get("orderId") not in (None, "") else None
        except BadParam as exc:
            business_error()
            return refunds_answer(False, code=str(PARAM_ERROR_CODE), message=str(exc))
        query = {"shop": shop, "status": status, "order_id": order_id, "apply_window": apply_window,
                 "check_window": check_window}
        with state.lock:
            ranked = state.refunds_matching(**query)
            lo, hi = (page - 1) * size, page * size
            if draw.kind == "shift_pages" and ranked[hi:]:
                moved = ranked[hi]
                if moved["checkTime"] is not None:
                    moved["checkTime"] = int(state.now())
                    faults.count("shift_pages")
                    ranked = state.refunds_matching(**query)
            rows = ranked[lo:hi]
            if draw.kind == "repeat_records" and page > 1 and 0 < lo <= len(ranked) and rows:
                rows = [ranked[lo - 1], *rows]
                faults.count("repeat_records")
            return refunds_answer(True, [state.render_refund(r) for r in rows], len(ranked))

    def shift(query: dict, before: list[dict], begin: int, nxt: int) -> dict | None:
        """Change the store so that the record at index nxt (the first of the next page) is no longer the
        same: first try a new order created and modified now (lands in front when sorting desc and the
        window includes now), then re-modify the first record of this page (it leaves its place when the
        window ends before now or sorting asc by modified), then move that record to a state outside the
        order_state filter. Each attempt is undone if it does not shift; None if nothing shifts."""
        first_next = before[nxt]["orderId"]

        def shifted() -> bool:
            after = state.matching(**query)
            return len(after) <= nxt or after[nxt]["orderId"] != first_next

        saved_stats, saved_next = {k: v for k, v in state.stats.items() if isinstance(v, int)}, state.next_id

        def undo(order_id: str, snapshot: dict | None) -> None:
            if snapshot is None:
                state.orders.pop(order_id, None)
            else:
                state.orders[order_id] = snapshot
            state.stats.update(saved_stats)
            state.next_id = saved_next

        states = query["states"]
        new_state = next((s for s in NEW_ORDER_STATES if not states or s in states), None)
        if new_state:
            order = state.insert_now(query["shop"], new_state)
            if shifted():
                return {"how": "new_order", "orderId": order["orderId"]}
            undo(order["orderId"], None)
        target = before[begin]
        tid = target["orderId"]
        attempts = [("remark", "modified")]
        attempts += [(a, "state") for a in ("pay", "finish", "refund", "cancel")]
        for action, how in attempts:
            if not state.allowed(state.orders[tid], action):
                continue
            snapshot = copy.deepcopy(state.orders[tid])
            state.change(tid, action, random.Random(tid))
            if how == "state" and states and state.orders[tid]["state"] in states:
                undo(tid, snapshot)
                continue
            if shifted():
                return {"how": how, "orderId": tid, "action": action, "orderState": state.orders[tid]["state"]}
            undo(tid, snapshot)
        return None

    def shipment(shop: dict, biz: dict | None) -> dict:
        biz = biz or {}
        order_id = str(biz.get("orderId") or "").strip()
        copr, logi_no = str(biz.get("logiCoprId") or "").strip(), str(biz.get("logiNo") or "").strip()
        if not order_id or not copr or (not logi_no and copr != "1274"):
            business_error()
            with state.lock:
                state.stats["shipments_refused"] += 1
            return shipment_answer(False, "参数错误：orderId、logiCoprId、logiNo不能为空（厂家自送1274可不填运单号）",
                                   "invalid parameter", str(PARAM_ERROR_CODE))
        return shipment_answer(*state.ship(shop, order_id, copr, logi_no))

    def stock(shop: dict, biz: dict | None) -> dict:
        biz = biz or {}
        try:
            sku_id, num = str(biz.get("skuId") or "").strip(), int(str(biz.get("stockNum")).strip())
        except ValueError:
            sku_id, num = "", -1
        return stock_answer(bool(sku_id) and state.push_stock(shop, sku_id, num))

    # ------------------------------------------------------------ OAuth refresh
    @app.api_route(REFRESH_PATH, methods=["GET", "POST"])
    @app.api_route(OAUTH_PREFIX + REFRESH_PATH, methods=["GET", "POST"])
    async def refresh(request: Request):
        q = await collect(request)
        if q.get("grant_type") != "refresh_token":
            return JSON({"code": 400, "msg": "grant_type必须为refresh_token"})
        try:
            shop = state.refresh(q.get("app_key", ""), q.get("app_secret", ""), q.get("refresh_token", ""))
        except SimError as exc:
            return JSON({"code": exc.status, "msg": exc.message})
        return JSON({"access_token": shop["access_token"], "expires_in": int(shop["token_seconds"]),
                     "refresh_token": shop["refresh_token"], "scope": "snsapi_base", "token_type": "bearer",
                     "time": int(state.now() * 1000), "code": 0})

    app.include_router(admin_router(state, faults))

    @app.exception_handler(SimError)
    async def sim_error(_request: Request, exc: SimError):
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    return app


class RefundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    orderId: str
    skuId: str
    fee: Decimal | None = None
    has_good_return: bool = False
    reason: str = ""
    status: str | None = None


class SettleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str


def admin_router(state: JdState, faults: Faults) -> APIRouter:
    router = APIRouter(prefix="/__sim", tags=["simulator admin"], default_response_class=JSON)

    @router.post("/faults")
    async def set_faults(settings: FaultSettings):
        faults.configure(settings)
        return {"faults": settings.model_dump()}

    @router.get("/faults")
    async def get_faults():
        return {"faults": faults.settings.model_dump()}

    @router.get("/config")
    async def get_config():
        with state.lock:
            return {"config": state.config}

    @router.get("/tokens")
    async def tokens():
        return state.tokens()

    @router.post("/clock")
    async def advance(body: ClockBody):
        now = state.advance(body.advance_seconds)
        return {"now": now, "local": fmt_time(now), "offset_seconds": state.offset}

    @router.get("/clock")
    async def clock_now():
        now = state.now()
        return {"now": now, "local": fmt_time(now), "offset_seconds": state.offset}

    @router.post("/orders/generate")
    async def generate(body: GenerateBody):
        with state.lock:
            ids = state.generate(body.shop, body.count, body.seed, body.paid_ratio)
            return {"shop": body.shop, "orderIds": ids, "orders": [state.render(state.orders[i]) for i in ids]}

    @router.get("/orders")
    async def orders(shop: str | None = None):
        return state.all_orders(shop)

    @router.get("/orders/{order_id}")
    async def one_order(order_id: str):
        with state.lock:
            return state.render(state.order(order_id))

    @router.post("/orders/{order_id}/change")
    async def change(order_id: str, body: ChangeBody):
        with state.lock:
            rng = random.Random(body.seed) if body.seed is not None else None
            return state.render(state.change(order_id, body.action, rng))

    @router.post("/churn")
    async def churn(body: ChurnBody):
        return {"shop": body.shop, "changes": state.churn(body.shop, body.count, body.seed)}

    @router.get("/shipments")
    async def shipments(shop: str | None = None):
        with state.lock:
            return [s for s in state.shipments if shop in (None, s["shop"])]

    @router.get("/stock")
    async def stock(shop: str | None = None):
        with state.lock:
            return [s for s in state.stock if shop in (None, s["shop"])]

    @router.post("/refunds")
    async def open_refund(body: RefundBody):
        """A buyer's refund application on one SKU of an order, for tests (status success|closed checks it
        at once)."""
        with state.lock:
            r = state.open_refund(body.orderId, body.skuId, body.fee, body.has_good_return, body.reason)
            if body.status:
                r = state.settle_refund(r["id"], body.status)
            return {"refund_id": r["id"], "status": r["status"], "platform": state.render_refund(r)}

    @router.post("/refunds/{refund_id}/settle")
    async def settle_refund(refund_id: str, body: SettleBody):
        with state.lock:
            r = state.settle_refund(refund_id, body.status)
            return {"refund_id": r["id"], "status": r["status"], "platform": state.render_refund(r)}

    @router.get("/refunds")
    async def list_refunds(shop: str | None = None):
        with state.lock:
            return [state.render_refund(r) for r in state.refunds.values() if shop in (None, r["shop"])]

    @router.get("/stats")
    async def stats():
        with state.lock:
            return {**copy.deepcopy(state.stats), "orders": len(state.orders), "faults": dict(faults.fired)}

    @router.post("/reset")
    async def reset():
        state.reset()
        faults.reset()
        return {"reset": True}

    return router
