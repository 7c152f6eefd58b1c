"""The Cainiao e-waybill simulator's server: the TOP router with `cainiao.waybill.ii.get` (issue one number
per parcel request) and `cainiao.waybill.ii.query.by.tradecode` (the numbers issued for an order), faults
and the admin API under /__sim. All state in memory.

A get call issues a **new** number for every request it carries, even for an object_id or an order it
has seen before: the simulator does not de-duplicate (the reference only asks callers not to take a number
twice for one order), so a client that retries blindly after a lost answer ends up holding two numbers,
and the admin stats show it (`issued_per_object`)."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request
from pydantic import Field

from simulators import JSON
from simulators.cainiao import (
    CANCEL,
    DEFAULT_CONFIG,
    GET,
    GET_PARAM,
    MAX_DTOS,
    MAX_TRADE_ORDERS,
    PATH,
    QUERY,
    QUERY_PARAM,
    TopError,
    error_body,
    invalid,
    missing,
    render,
    request_id,
    sign,
)
from simulators.faults import Faults as BaseFaults
from simulators.faults import FaultSettings, server_error

SHANGHAI = ZoneInfo("Asia/Shanghai")
KINDS = ("rate_limit", "server_error", "timeout_after_issue")


class WaybillFaults(FaultSettings):
    """Body of POST /__sim/faults: rate_limit, server_error, timeout_after_issue, slow_rate (probabilities),
    slow_seconds, hang_seconds, seed. Keys left out go back to their defaults."""

    timeout_after_store: float = Field(default=0.0, ge=0.0, le=0.0)  # not used here (timeout_after_issue)
    expire_session: float = Field(default=0.0, ge=0.0, le=0.0)  # not used here
    timeout_after_issue: float = Field(default=0.0, ge=0.0, le=1.0)


class Faults(BaseFaults):
    """The shared draw (simulators.faults) over the carrier's own kinds."""
    settings_class = WaybillFaults
    kinds = KINDS
    counters = (*KINDS, "slow")


class Carrier:
    """The issued waybills and counters, safe across threads."""

    def __init__(self, config: dict | None, clock):
        unknown = set(config or {}) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        self.startup = {**DEFAULT_CONFIG, **(config or {})}
        self.clock, self.lock, self.faults = clock, threading.Lock(), Faults()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = json.loads(json.dumps(self.startup))
            self.next_number = dict(self.config["cp_codes"])
            self.waybills: list[dict] = []
            self.stats = {"calls": {}, "errors": {}, "issued": 0}
        self.faults.reset()

    def count(self, group: str, key) -> None:
        with self.lock:
            self.stats[group][str(key)] = self.stats[group].get(str(key), 0) + 1

    def issue(self, cp_code: str, dto: dict) -> dict:
        with self.lock:
            number = self.next_number[cp_code]
            self.next_number[cp_code] = number + 1
            waybill = {"waybill_code": f"{cp_code[:2]}{number}", "cp_code": cp_code, "object_id": dto["object_id"],
                       "trade_order_list": dto["trade_order_list"], "recipient": dto["recipient"],
                       "template_url": dto.get("template_url") or "", "issued_at": self.clock()}
            self.waybills.append(waybill)
            self.stats["issued"] += 1
            return waybill

    def cancel(self, cp_code: str, waybill_code: str) -> None:
        """Cancel an issued number (idempotent: a cancelled one again is fine); an unknown one is refused."""
        with self.lock:
            found = [w for w in self.waybills if w["waybill_code"] == waybill_code and w["cp_code"] == cp_code]
            if not found:
                raise TopError(15, "Remote service error", "isv.WAYBILL_NOT_EXIST", f"面单号{waybill_code}不存在")
            for w in found:
                if not w.get("cancelled_at"):
                    w["cancelled_at"] = self.clock()
                    self.stats["cancelled"] = self.stats.get("cancelled", 0) + 1

    def of_order(self, order_code: str) -> list[dict]:
        with self.lock:
            return [w for w in self.waybills if order_code in w["trade_order_list"]]


def _json_param(p: dict, name: str):
    if not p.get(name):
        raise missing(name)
    try:
        return json.loads(p[name])
    except ValueError:
        raise invalid(name, f"{name}须为JSON") from None


def _apply_request(p: dict, carrier: Carrier) -> tuple[str, list[dict]]:
    """The get call's request, checked whole (nothing is issued for a call with one bad request)."""
    req = _json_param(p, GET_PARAM)
    if not isinstance(req, dict):
        raise invalid(GET_PARAM, "须为对象")
    cp_code = req.get("cp_code")
    if not cp_code:
        raise missing("cp_code")
    if cp_code not in carrier.config["cp_codes"]:
        raise TopError(15, "Remote service error", "isv.cp-code-not-subscribed", f"未开通该物流公司的电子面单服务:{cp_code}")
    if not isinstance(req.get("sender"), dict) or not req["sender"].get("address"):
        raise missing("sender.address")
    dtos = req.get("trade_order_info_dtos")
    if not isinstance(dtos, list) or not dtos:
        raise missing("trade_order_info_dtos")
    if len(dtos) > MAX_DTOS:
        raise invalid("trade_order_info_dtos", f"请求面单信息数量不能超过{MAX_DTOS}")
    checked = []
    for i, dto in enumerate(dtos):
        where = f"trade_order_info_dtos[{i}]"
        if not isinstance(dto, dict) or not str(dto.get("object_id") or "").strip():
            raise missing(f"{where}.object_id")
        orders = ((dto.get("order_info") or {}).get("trade_order_list")) if isinstance(dto.get("order_info"),
                                                                                       dict) else None
        if not isinstance(orders, list) or not orders or not all(isinstance(o, str) and o for o in orders):
            raise missing(f"{where}.order_info.trade_order_list")
        if len(orders) > MAX_TRADE_ORDERS:
            raise invalid(f"{where}.order_info.trade_order_list", f"订单号数量不能超过{MAX_TRADE_ORDERS}")
        recipient = dto.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("name") or not isinstance(recipient.get("address"),
                                                                                         dict):
            raise missing(f"{where}.recipient")
        checked.append({"object_id": str(dto["object_id"]), "trade_order_list": orders, "recipient": recipient,
                        "template_url": dto.get("template_url")})
    return cp_code, checked


def create_app(config: dict | None = None, clock=time.time) -> FastAPI:
    carrier = Carrier(config, clock)
    app = FastAPI(title="Cainiao e-waybill simulator", default_response_class=JSON)
    app.state.carrier = carrier

    def authenticate(p: dict) -> None:
        cfg = carrier.config
        if not p.get("app_key"):
            raise TopError(28, "Missing App Key")
        if p["app_key"] != cfg["app_key"]:
            raise TopError(29, "Invalid App Key")
        if not p.get("method"):
            raise TopError(21, "Missing Method")
        if p["method"] not in METHODS:
            raise TopError(22, "Invalid Method", "isv.method-not-exist", f"不存在的方法名:{p['method']}")
        if p.get("v") != "2.0":
            raise TopError(32, "Missing Version") if not p.get("v") else TopError(34, "Unsupported Version")
        if (p.get("format") or "xml") != "json":
            raise TopError(23, "Invalid Format", "isv.invalid-format", "模拟器只支持format=json")
        sign_method = p.get("sign_method") or "md5"
        if not p.get("sign"):
            raise TopError(24, "Missing Signature")
        if not p.get("timestamp"):
            raise TopError(30, "Missing Timestamp")
        try:
            expected = sign(p, cfg["app_secret"], sign_method)
        except ValueError:
            raise invalid("sign_method", "sign_method须为md5/hmac/hmac-sha256") from None
        if p["sign"].upper() != expected:
            raise TopError(25, "Invalid Signature", "isv.signature-invalid", "签名无效")
        try:
            ts = datetime.strptime(p["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI).timestamp()
        except ValueError:
            raise TopError(31, "Invalid Timestamp", "isv.invalid-timestamp", "时间戳格式须为yyyy-MM-dd HH:mm:ss") from None
        if abs(ts - carrier.clock()) > cfg["timestamp_skew_seconds"]:
            raise TopError(31, "Invalid Timestamp", "isv.invalid-timestamp", "时间戳与服务器时间相差过大")
        if not p.get("session"):
            raise TopError(26, "Missing Session")
        if p["session"] != cfg["session"]:
            raise TopError(27, "Invalid Session", "invalid-sessionkey", "SessionKey非法")

    def waybill_get(p: dict) -> dict:
        cp_code, dtos = _apply_request(p, carrier)
        issued = [render(carrier.issue(cp_code, dto)) for dto in dtos]
        return {"modules": {"waybill_cloud_print_response": issued}}

    def query_by_tradecode(p: dict) -> dict:
        items = _json_param(p, QUERY_PARAM)
        if not isinstance(items, list) or not items:
            raise missing(QUERY_PARAM)
        modules = []
        for i, item in enumerate(items):
            code = item.get("biz_sub_code") if isinstance(item, dict) else None
            if not code:
                raise missing(f"{QUERY_PARAM}[{i}].biz_sub_code")
            found = carrier.of_order(str(code))
            modules.append({"biz_sub_code": code, "object_id": item.get("object_id") or "",
                            "waybill_cloud_print_response_list": {"waybill_cloud_print_response":
                                                                  [render(w) for w in found]}})
        return {"modules": {"waybill_cloud_print_with_result_desc_response": modules}}

    def waybill_cancel(p: dict) -> dict:
        cp_code, code = p.get("cp_code") or "", p.get("waybill_code") or ""
        if not cp_code:
            raise missing("cp_code")
        if not code:
            raise missing("waybill_code")
        carrier.cancel(cp_code, code)
        return {"cancel_result": True}

    METHODS = {GET: waybill_get, QUERY: query_by_tradecode, CANCEL: waybill_cancel}

    @app.api_route(PATH, methods=["GET", "POST"])
    async def router(request: Request):
        rid = request_id()
        draw = carrier.faults.draw()
        if draw.slow:
            await asyncio.sleep(draw.slow)
        p = dict(request.query_params)
        if request.method == "POST":
            p.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        method = p.get("method") or "(none)"
        carrier.count("calls", method)
        try:
            if draw.kind == "rate_limit":
                raise TopError(7, "App Call Limited", "accesscontrol.limited-by-app-api-access-count",
                               "This ban will last for 1 more seconds")
            if draw.kind == "server_error":
                carrier.count("errors", "http500")
                return server_error()
            authenticate(p)
            answer = {method.replace(".", "_") + "_response": {**METHODS[method](p), "request_id": rid}}
        except TopError as err:
            carrier.count("errors", err.code)
            answer = error_body(err, rid)
        if draw.kind == "timeout_after_issue":
            await asyncio.sleep(draw.hang)  # done (a number issued if it was a get), the answer is late
        return JSON(answer)

    app.include_router(_admin(carrier))
    return app


def _admin(carrier: Carrier) -> APIRouter:
    router = APIRouter(prefix="/__sim", tags=["simulator admin"], default_response_class=JSON)

    @router.post("/faults")
    async def set_faults(settings: WaybillFaults):
        carrier.faults.configure(settings)
        return {"faults": settings.model_dump(include={*KINDS, "slow_rate", "slow_seconds", "hang_seconds", "seed"})}

    @router.get("/faults")
    async def get_faults():
        return {"faults": carrier.faults.settings.model_dump(
            include={*KINDS, "slow_rate", "slow_seconds", "hang_seconds", "seed"})}

    @router.get("/waybills")
    async def waybills(order: str | None = None):
        with carrier.lock:
            rows = [w for w in carrier.waybills if order is None or order in w["trade_order_list"]]
            return [{k: v for k, v in w.items() if k != "template_url"} for w in rows]

    @router.get("/stats")
    async def stats():
        with carrier.lock:
            per_object: dict[str, int] = {}
            for w in carrier.waybills:
                per_object[w["object_id"]] = per_object.get(w["object_id"], 0) + 1
            return {**carrier.stats, "objects": len(per_object),
                    "objects_with_more_than_one": sorted(o for o, n in per_object.items() if n > 1),
                    "faults": dict(carrier.faults.fired)}

    @router.post("/config")
    async def set_config(patch: dict):
        unknown = set(patch) - set(DEFAULT_CONFIG)
        if unknown:
            raise HTTPException(status_code=422, detail=f"unknown config keys: {sorted(unknown)}")
        with carrier.lock:
            carrier.config.update(patch)
            for cp, first in carrier.config["cp_codes"].items():
                carrier.next_number.setdefault(cp, first)
            return {"config": carrier.config}

    @router.get("/config")
    async def get_config():
        with carrier.lock:
            return {"config": carrier.config}

    @router.post("/reset")
    async def reset():
        carrier.reset()
        return {"reset": True}

    return router
