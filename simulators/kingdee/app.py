"""Kingdee K/3 Cloud WebAPI simulator: login, GL_VOUCHER Save and ExecuteBillQuery (docs/EXTERNAL_APIS.md section 3)."""
from __future__ import annotations

import asyncio
import operator
import re
import time
import uuid

from fastapi import FastAPI, Request

from simulators import JSON, Book, amount, canonical, entry, is_detail, loads, parse_date
from simulators.faults import Faults, admin_router, server_error
from simulators.kingdee import (
    BATCH_SAVE_PATH,
    DEFAULT_CONFIG,
    LOGIN_PATH,
    LOGOUT_PATH,
    QUERY_PATH,
    SAVE_PATH,
    SESSION,
    SESSION_LOST,
    Refusal,
    batch_result,
    ci,
    failure,
    like_regex,
    parse_filter,
    query_request,
    ref,
    save_request,
    success,
    verify_signed,
)


class KingdeeBook(Book):
    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.seen: set[str] = set()  # canonical Models of stored vouchers (ValidateRepeatJson)
            self.stats.update(batch_save_calls=0, batch_models=0)

    @staticmethod
    def normalise(config: dict) -> dict:
        config = Book.normalise(config)
        if config.get("like_dialect") not in ("sqlserver", "literal"):
            raise ValueError("like_dialect must be 'sqlserver' or 'literal'")
        re.compile(config["external_key_pattern"])
        return config


def validate(model: dict, cfg: dict) -> dict:
    """Check a GL_VOUCHER Model against the ledger; the parts to store, or Refusal(11) naming every problem."""
    errors: list[tuple[str, str]] = []
    book_no = ref(ci(model, "FAccountBookID"))
    if book_no != cfg["account_book"]:
        errors.append(("FAccountBookID", f"账簿[{book_no}]不存在或未启用"))
    day = period = None
    try:
        day = parse_date(ci(model, "FDate"))
        period = f"{day.year:04d}-{day.month:02d}"
        if period in cfg["closed_periods"]:
            errors.append(("FDate", f"期间已结账：会计期间{period}已结账，不能保存凭证"))
    except ValueError as exc:
        errors.append(("FDate", str(exc)))
    group = ref(ci(model, "FVOUCHERGROUPID"))
    if group not in cfg["voucher_groups"]:
        errors.append(("FVOUCHERGROUPID", f"凭证字[{group}]不存在"))
    rows = ci(model, "FEntity")
    if not isinstance(rows, list) or not rows:
        errors.append(("FEntity", "凭证分录不能为空"))
        rows = []
    lines, total_debit, total_credit = [], 0, 0
    for i, row in enumerate(rows, 1):
        where = f"第{i}行分录"
        if not isinstance(row, dict):
            errors.append(("FEntity", f"{where}格式错误"))
            continue
        account = ref(ci(row, "FACCOUNTID"))
        if account not in cfg["accounts"]:
            errors.append(("FACCOUNTID", f"{where}：科目编码[{account}]不存在"))
        elif not is_detail(account, cfg["accounts"], "."):
            errors.append(("FACCOUNTID", f"{where}：科目[{account}]不是明细科目，不能录入凭证"))
        for key, known, label in (("FCURRENCYID", cfg["currencies"], "币别"),
                                  ("FEXCHANGERATETYPE", cfg["rate_types"], "汇率类型")):
            if ref(ci(row, key)) not in known:
                errors.append((key, f"{where}：{label}[{ref(ci(row, key))}]不存在"))
        try:
            debit, credit = amount(ci(row, "FDEBIT")), amount(ci(row, "FCREDIT"))
        except ValueError as exc:
            errors.append(("FDEBIT", f"{where}：{exc}"))
            continue
        if debit and credit:
            errors.append(("FDEBIT", f"{where}：借方金额和贷方金额不能同时录入"))
        elif not debit and not credit:
            errors.append(("FDEBIT", f"{where}：借方金额和贷方金额不能同时为0"))
        total_debit, total_credit = total_debit + debit, total_credit + credit
        dims = ci(row, "FDetailID")
        aux = {k: ref(v) for k, v in dims.items() if ref(v)} if isinstance(dims, dict) else {}
        lines.append(entry(account, debit, credit, str(ci(row, "FEXPLANATION") or ""), aux))
    if not errors and total_debit != total_credit:
        errors.append(("FDEBIT", f"借贷不平衡：借方合计{total_debit}，贷方合计{total_credit}"))
    if errors:
        raise Refusal(11, errors)
    tags = (re.match(cfg["external_key_pattern"], line["explanation"]) for line in lines)
    external_key = next((m.group(1) for m in tags if m), None)
    return {"day": day, "period": period, "prefix": cfg["voucher_groups"][group], "entries": lines,
            "external_key": external_key}


# ---------------------------------------------------------------- query
FIELDS = {  # FieldKeys (lower-case) -> value for entry i of stored voucher v; one row per entry
    "fvoucherid": lambda v, i: int(v["id"]),
    "fbillno": lambda v, i: v["number"],
    "fdate": lambda v, i: v["date"] + "T00:00:00",
    "fyear": lambda v, i: int(v["period"][:4]),
    "fperiod": lambda v, i: int(v["period"][5:]),
    "fvouchergroupno": lambda v, i: str(v["seq"]),
    "faccountbookid.fnumber": lambda v, i: ref(ci(v["raw"], "FAccountBookID")),
    "fvouchergroupid.fnumber": lambda v, i: ref(ci(v["raw"], "FVOUCHERGROUPID")),
    "fentryid": lambda v, i: i + 1,
    "fentity_fentryid": lambda v, i: i + 1,
    "fexplanation": lambda v, i: v["entries"][i]["explanation"],
    "faccountid.fnumber": lambda v, i: v["entries"][i]["account"],
    "fdebit": lambda v, i: amount(v["entries"][i]["debit"]),
    "fcredit": lambda v, i: amount(v["entries"][i]["credit"]),
    "fcurrencyid.fnumber": lambda v, i: ref(ci(ci(v["raw"], "FEntity")[i], "FCURRENCYID")),
}


def check_field(field: str) -> str:
    if field not in FIELDS:
        raise Refusal(9, [("FieldKeys", f"元数据中标识为{field}的字段不存在")])
    return field


COMPARE = {"=": operator.eq, "<>": operator.ne, "!=": operator.ne, ">=": operator.ge, "<=": operator.le,
           ">": operator.gt, "<": operator.lt}


def matches(clauses, v: dict, i: int, dialect: str) -> bool:
    for field, op, lit in clauses:
        have = FIELDS[field](v, i)
        if op.endswith("like"):
            hit = like_regex(lit, dialect).fullmatch(str(have)) is not None
            if (op == "like") != hit:
                return False
            continue
        if field == "fdate":
            have, lit = have[:10], lit[:10]
        elif not isinstance(have, str):
            try:
                lit = amount(lit) if "." in lit else int(lit)
            except ValueError:
                raise Refusal(8, [("FilterString", f"过滤条件中{field}的值{lit}不是数字")]) from None
        if not COMPARE[op](have, lit):
            return False
    return True


# ---------------------------------------------------------------- app
def create_app(config: dict | None = None, clock=time.time) -> FastAPI:
    unknown = sorted(set(config or {}) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown Kingdee simulator config keys {unknown}")
    book, faults = KingdeeBook({**DEFAULT_CONFIG, **(config or {})}, clock), Faults()
    app = FastAPI(title="Kingdee K/3 Cloud WebAPI simulator", default_response_class=JSON)
    app.include_router(admin_router(book, faults))
    app.state.book, app.state.faults = book, faults

    async def body_of(request: Request):
        try:
            return loads(await request.body())
        except ValueError:
            raise Refusal(8, [("", "参数错误：请求内容不是有效的JSON")]) from None

    def session_id(request: Request) -> str | None:
        return request.headers.get(SESSION) or request.cookies.get(SESSION)

    def authenticate(request: Request) -> None:
        h = request.headers
        if h.get("X-Kd-Signature") or h.get("X-Api-Signature"):
            with book.lock:
                problem = verify_signed(h, request.url.path, request.url.query, book.config, book.clock())
            if problem:
                raise Refusal(problem[0], [("", problem[1])])
        elif not book.session(session_id(request)):
            raise Refusal(1, [("", SESSION_LOST)])

    @app.post(LOGIN_PATH)
    async def login(request: Request):
        try:
            body = loads(await request.body())
        except ValueError:
            body = None
        params = ci(body, "parameters") if isinstance(body, dict) else None
        if isinstance(params, list) and len(params) >= 4:
            acct, user, app_id, secret = (str(p) for p in params[:4])
            lcid = params[4] if len(params) > 4 else 2052
        elif isinstance(body, dict) and ci(body, "acctid") is not None:
            acct, user, app_id = (str(ci(body, k, "")) for k in ("acctid", "username", "appid"))
            secret, lcid = str(ci(body, "appsecret", ci(body, "appsec", ""))), ci(body, "lcid", 2052)
        else:
            return _login_failed("参数错误：应为 [acctId, userName, appId, appSecret, lcid]")
        with book.lock:
            cfg = book.config
            if acct != cfg["acct_id"]:
                return _login_failed(f"数据中心[{acct}]不存在")
            if (user, app_id, secret) != (cfg["user_name"], cfg["app_id"], cfg["app_secret"]):
                return _login_failed("用户名、应用ID或应用密钥错误，登录失败")
            sid = book.issue(cfg["session_seconds"], user=user, acct=acct)
        asp = uuid.uuid4().hex[:24]
        response = JSON({
            "Message": None, "MessageCode": "CheckPasswordPolicy", "LoginResultType": 1, "KDSVCSessionId": sid,
            "Context": {"UserLocale": "zh-CN", "LogLocale": "zh-CN", "DBid": acct, "DatabaseType": 3,
                        "SessionId": asp, "UserId": 100008, "UserName": user, "CustomName": "模拟组织",
                        "DisplayVersion": "8.2.0.sim", "DataCenterName": "模拟数据中心", "UserToken": str(uuid.uuid4()),
                        "CurrentOrganizationInfo": {"ID": 1, "Name": "模拟组织"}, "IsCH_ZH_AutoTrans": False,
                        "ClientType": 32, "WeiboAuthInfo": None, "UTimeZone": None, "STimeZone": None, "Lcid": lcid},
            "FormId": None, "RedirectFormParam": None, "FormInputObject": None, "ErrorStackTrace": None,
            "Lcid": lcid, "AccessToken": None, "KdAccessResult": None, "IsSuccessByAPI": True})
        response.set_cookie(SESSION, sid, httponly=True, path="/")
        response.set_cookie("ASP.NET_SessionId", asp, httponly=True, path="/")
        return response

    @app.post(LOGOUT_PATH)
    async def logout(request: Request):
        book.revoke(session_id(request))
        return True

    def store_one(model: dict, repeat: bool) -> dict:
        """Validate and keep one Model (under the book's lock); Refusal when it is not kept."""
        parts = validate(model, book.config)
        canon = canonical(model)
        if repeat and canon in book.seen:
            raise Refusal(11, [("", "重复提交：相同的Json数据包已经保存过（ValidateRepeatJson），本次不再保存")],
                          outcome="duplicates_refused")
        record = book.store(raw=model, **parts)
        book.seen.add(canon)
        return record

    async def save_call(request: Request, counter: str, keep):
        """What Save and BatchSave share: the fault drawn for the call, authentication, and a
        hang after storing (the answer is lost, the vouchers are kept)."""
        book.count(counter)
        draw = faults.draw()
        if draw.slow:
            await asyncio.sleep(draw.slow)
        try:
            if draw.kind == "expire_session":
                book.revoke(session_id(request))
                raise Refusal(1, [("", SESSION_LOST)])
            if draw.kind == "rate_limit":
                raise Refusal(14, [("", "调用限制：接口调用过于频繁，超过每分钟允许的次数，请稍后再试")])
            if draw.kind == "server_error":
                book.count("rejected")
                return server_error()
            authenticate(request)
            answer = keep(await body_of(request))
        except Refusal as refusal:
            book.count(refusal.outcome)
            return JSON(failure(refusal.msg_code, refusal.errors))
        if draw.kind == "timeout_after_store":
            await asyncio.sleep(draw.hang)
        return JSON(answer)

    @app.post(SAVE_PATH)
    async def save(request: Request):
        def keep(body):
            model, repeat = save_request(body)
            with book.lock:
                return success(store_one(model, repeat))
        return await save_call(request, "save_calls", keep)

    @app.post(BATCH_SAVE_PATH)
    async def batch_save(request: Request):
        """Each Model is validated and kept on its own: the valid ones are stored even when others
        are refused, and the answer names both by their index (DIndex)."""
        def keep(body):
            models, repeat = save_request(body, batch=True)
            saved, refused = [], []
            with book.lock:
                for i, model in enumerate(models):
                    try:
                        saved.append((i, store_one(model, repeat)))
                    except Refusal as refusal:
                        book.count(refusal.outcome)
                        refused.append((i, refusal))
                book.stats["batch_models"] += len(models)
            return batch_result(saved, refused)
        return await save_call(request, "batch_save_calls", keep)

    @app.post(QUERY_PATH)
    async def query(request: Request):
        try:
            authenticate(request)
            data = query_request(await body_of(request))
            fields = [check_field(f.strip().lower()) for f in str(ci(data, "FieldKeys", "")).split(",") if f.strip()]
            if not fields:
                raise Refusal(8, [("FieldKeys", "参数错误：FieldKeys不能为空")])
            try:
                parsed = parse_filter(str(ci(data, "FilterString") or ""))
                clauses = [(check_field(field), op, lit) for field, op, lit in parsed]
            except ValueError as exc:
                raise Refusal(8, [("FilterString", str(exc))]) from None
            start, limit = int(ci(data, "StartRow", 0) or 0), int(ci(data, "Limit", 0) or 0)
            top = int(ci(data, "TopRowCount", 0) or 0)
            with book.lock:
                dialect = book.config["like_dialect"]
                rows = [[FIELDS[f](v, i) for f in fields] for v in book.vouchers
                        for i in range(len(v["entries"])) if matches(clauses, v, i, dialect)]
        except Refusal as refusal:
            return JSON([[failure(refusal.msg_code, refusal.errors)]])
        except (TypeError, ValueError):
            return JSON([[failure(8, [("", "参数错误：StartRow/Limit/TopRowCount应为整数")])]])
        rows = rows[:top] if top else rows
        return JSON(rows[start:start + limit] if limit else rows[start:])

    return app


def _login_failed(message: str) -> JSON:
    return JSON({"Message": message, "MessageCode": None, "LoginResultType": 0, "Context": None,
                 "KDSVCSessionId": None, "FormId": None, "RedirectFormParam": None, "FormInputObject": None,
                 "ErrorStackTrace": None, "Lcid": 0, "AccessToken": None, "KdAccessResult": None,
                 "IsSuccessByAPI": False})
