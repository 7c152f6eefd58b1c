"""Yonyou U8 OpenAPI simulator: token, tradeid, voucher add (sync and async) and its result (section 4.1),
and nothing the reference does not document."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request

from simulators import JSON, Book, loads
from simulators.faults import Faults, admin_router, server_error
from simulators.ufida import (
    ADD_PATH,
    AUTH,
    DEFAULT_CONFIG,
    DUPLICATE,
    NOT_FOUND,
    OK,
    PARAM,
    RATE,
    RATE_LIMITED,
    REPEAT_ANSWERS,
    RESULT_PATH,
    TOKEN,
    TOKEN_EXPIRED,
    TOKEN_PATH,
    TRADEID_PATH,
    U8_PATHS,
    U8Error,
    parse_voucher,
)


class U8Book(Book):
    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.done: dict[tuple, dict] = {}  # ("biz_id"|"tradeid", value) -> the first successful result
            self.by_reserve2: dict[str, dict] = {}  # reserve2 -> stored record
            self.results: dict[str, dict] = {}  # requestid -> final result of an async add
            self.calls: Counter[str] = Counter()  # "METHOD /path" -> calls (admin paths not counted)

    @staticmethod
    def normalise(config: dict) -> dict:
        config = Book.normalise(config)
        ZoneInfo(config["timezone"])
        if not isinstance(config["voucher_types"], list):
            raise ValueError("voucher_types must be a list")
        if config["repeat_answer"] not in REPEAT_ANSWERS:
            raise ValueError(f"repeat_answer must be one of {list(REPEAT_ANSWERS)}")
        return config


def create_app(config: dict | None = None, clock=time.time) -> FastAPI:
    unknown = sorted(set(config or {}) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown U8 simulator config keys {unknown}")
    book, faults = U8Book({**DEFAULT_CONFIG, **(config or {})}, clock), Faults()
    app = FastAPI(title="Yonyou U8 OpenAPI simulator", default_response_class=JSON)
    app.include_router(admin_router(book, faults))
    app.state.book, app.state.faults = book, faults

    @app.middleware("http")
    async def record_call(request: Request, call_next):
        """Every call but the admin API is counted by path, so a test can tell that a client used
        only what U8 documents (any other path is answered 404 by the framework)."""
        if not request.url.path.startswith("/__sim"):
            with book.lock:
                book.calls[f"{request.method} {request.url.path}"] += 1
        return await call_next(request)

    @app.get("/__sim/calls")
    async def calls():
        with book.lock:
            served = dict(book.calls)
        return {"calls": served,
                "not_u8": {call: n for call, n in served.items() if call.split(" ", 1)[1] not in U8_PATHS}}

    def require(q, *names: str) -> None:
        missing = [n for n in names if not q.get(n)]
        if missing:
            raise U8Error(PARAM, f"缺少必要参数{','.join(missing)}")

    def check_caller(q, to_account: bool) -> None:
        """from_account, app_key and a live token (and to_account for ledger calls), or U8Error."""
        require(q, "from_account", "app_key", "token", *(("to_account",) if to_account else ()))
        with book.lock:
            cfg = book.config
            if (q["from_account"], q["app_key"]) != (cfg["from_account"], cfg["app_key"]):
                raise U8Error(AUTH, f"调用方from_account[{q['from_account']}]或app_key[{q['app_key']}]不存在")
            token = book.session(q["token"])
            if not token or token["app_key"] != q["app_key"]:
                raise U8Error(TOKEN, TOKEN_EXPIRED)
            if to_account and q["to_account"] != cfg["to_account"]:
                raise U8Error(AUTH, f"提供方to_account[{q['to_account']}]不存在或未授权")

    def today():
        return datetime.fromtimestamp(book.clock(), ZoneInfo(book.config["timezone"])).date()

    @app.get(TOKEN_PATH)
    async def token(request: Request):
        q = request.query_params
        try:
            require(q, "from_account", "app_key", "app_secret")
            with book.lock:
                cfg = book.config
                if (q["from_account"], q["app_key"], q["app_secret"]) != (
                        cfg["from_account"], cfg["app_key"], cfg["app_secret"]):
                    raise U8Error(AUTH, "from_account、app_key或app_secret错误，获取token失败")
                ttl = cfg["token_seconds"]
                token_id = book.issue(ttl, app_key=q["app_key"])
        except U8Error as exc:
            return exc.body()
        return {"errcode": OK, "errmsg": "成功", "token": {"appKey": q["app_key"], "expiresIn": ttl, "id": token_id}}

    @app.get(TRADEID_PATH)
    async def tradeid(request: Request):
        try:
            check_caller(request.query_params, to_account=False)
        except U8Error as exc:
            return exc.body()
        return {"errcode": OK, "errmsg": "", "trade": {"id": str(uuid.uuid4())}}

    @app.post(ADD_PATH)
    async def add(request: Request):
        q = request.query_params
        book.count("save_calls")
        draw = faults.draw()
        if draw.slow:
            await asyncio.sleep(draw.slow)
        stored = False
        try:
            if draw.kind == "expire_session":
                book.revoke(q.get("token"))
                raise U8Error(TOKEN, TOKEN_EXPIRED)
            if draw.kind == "rate_limit":
                raise U8Error(RATE, RATE_LIMITED)
            if draw.kind == "server_error":
                book.count("rejected")
                return server_error()
            check_caller(q, to_account=True)
            if not (q.get("biz_id") or q.get("tradeid")):
                raise U8Error(PARAM, "缺少必要参数tradeid或biz_id")
            if q.get("sync", "0") not in ("0", "1"):
                raise U8Error(PARAM, f"参数sync[{q['sync']}]只能为0或1")
            try:
                body = loads(await request.body())
            except ValueError:
                raise U8Error(PARAM, "请求内容不是有效的JSON") from None
            key = ("biz_id", q["biz_id"]) if q.get("biz_id") else ("tradeid", q["tradeid"])
            with book.lock:
                result = book.done.get(key)
                if result is not None:  # a repeated key: nothing stored, the voucher held is named
                    book.count("duplicates_refused")
                    if book.config["repeat_answer"] == "duplicate_error":
                        result = U8Error(DUPLICATE, f"{key[0]}[{key[1]}]已导入凭证（凭证id {result['id']}），"
                                                    "请勿重复导入").body()
                else:
                    result, stored = store(body, key, q.get("tradeid") or str(uuid.uuid4()))
        except U8Error as exc:
            book.count(exc.outcome)
            return exc.body()
        if stored and draw.kind == "timeout_after_store":
            await asyncio.sleep(draw.hang)
        if q.get("sync") == "1":
            return result
        requestid = uuid.uuid4().hex
        with book.lock:
            book.results[requestid] = result
        return {"errcode": OK, "errmsg": "", "tradeid": result.get("tradeid") or q.get("tradeid", ""),
                "url": f"{str(request.base_url).rstrip('/')}{RESULT_PATH}?requestid={requestid}"}

    def store(body, key: tuple, tradeid: str) -> tuple[dict, bool]:
        """Validate and store under book.lock: (result, stored). A business refusal is a result too,
        so an async caller finds it at the result URL; it is counted here, not remembered for replay."""
        try:
            parts = parse_voucher(body, book.config, today())
            external = parts["external_key"]
            if external and external in book.by_reserve2:
                raise U8Error(DUPLICATE, f"外部凭证业务号reserve2[{external}]已存在（凭证id "
                                         f"{book.by_reserve2[external]['id']}），不能重复导入", "duplicates_refused")
        except U8Error as exc:
            book.count(exc.outcome)
            return exc.body(), False
        record = book.store(raw=body["voucher"], **parts)
        if external:
            book.by_reserve2[external] = record
        result = {"errcode": OK, "errmsg": "", "id": record["id"], "tradeid": tradeid}
        book.done[key] = result
        return result, True

    @app.get(RESULT_PATH)
    async def result(requestid: str = ""):
        with book.lock:
            found = book.results.get(requestid)
        return found or {"errcode": NOT_FOUND, "errmsg": f"requestid[{requestid}]不存在"}

    return app
