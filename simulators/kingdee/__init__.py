"""Kingdee K/3 Cloud WebAPI simulator (docs/EXTERNAL_APIS.md section 3).

This module holds no server, so the connector and tests can import it cheaply: the paths, the
default config, the signature-header algorithm of the official Python SDK (section 3.3) and its
server-side check, and the FilterString language of ExecuteBillQuery. The server is in app.py.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from urllib.parse import quote

from simulators import loads

SVC = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub."
LOGIN_PATH = SVC + "AuthService.LoginByAppSecret.common.kdsvc"
LOGOUT_PATH = SVC + "AuthService.Logout.common.kdsvc"
SAVE_PATH = SVC + "DynamicFormService.Save.common.kdsvc"
BATCH_SAVE_PATH = SVC + "DynamicFormService.BatchSave.common.kdsvc"
QUERY_PATH = SVC + "DynamicFormService.ExecuteBillQuery.common.kdsvc"
SESSION = "kdservice-sessionid"
SESSION_LOST = "会话信息已丢失，请重新登录"

DEFAULT_CONFIG = {
    "acct_id": "0c30c597dc1565d147b3a371",  # data centre id (DBid)
    "user_name": "hub",
    "app_id": "300001_aHViLXNpbS1rM2Nsb3VkLXNlY3JldCEh",
    "app_secret": "919a478ce0957387dd907cd949e78cf2",
    "client_sec": "WEVXGRVaVBoIBVFfW0ZTFRFVWhEEQ0US",  # = decode_app_secret(app_id part 2), as the SDK derives it
    "account_book": "001",
    "voucher_groups": {"PRE001": "记"},
    "currencies": ["PRE001"],
    "rate_types": ["HLTX01_SYS"],
    "accounts": {
        "1001": "库存现金", "1002": "银行存款", "1122": "应收账款", "1123": "预付账款", "1405": "库存商品",
        "2202": "应付账款", "2203": "预收账款", "2221": "应交税费", "2221.01": "应交增值税",
        "2221.01.01": "进项税额", "2221.01.05": "销项税额", "4001": "实收资本", "4103": "本年利润",
        "6001": "主营业务收入", "6051": "其他业务收入", "6401": "主营业务成本", "6601": "销售费用",
        "6602": "管理费用", "6711": "营业外支出",
    },
    "closed_periods": [],
    "session_seconds": 1800,
    "signature_max_skew_seconds": 300,
    "like_dialect": "sqlserver",  # "sqlserver": [...] in LIKE is a character class, as on SQL Server; "literal"
    "external_key_pattern": r"^\[(HUB-[^\]]+)\]",
}

# ROT13 of "0054s397p6234378o09pn7q3r5qropr7", the SDK's XOR seed without its random filler digits
_XOR_PAD = b"0054f397c6234378b09ca7d3e5debce7"
MAX_SKEW_SECONDS = 300


def decode_app_secret(encoded: str) -> str:
    """The SDK's DecodeAppSecret: base64(base64decode(s) XOR pad) for a 32-character s, else ''."""
    if len(encoded) != 32:
        return ""
    raw = base64.b64decode(encoded)
    return base64.b64encode(bytes(b ^ _XOR_PAD[i] for i, b in enumerate(raw))).decode("ascii")


def split_app_id(app_id: str) -> tuple[str, str]:
    """(client_id, client_sec) as the SDK derives them from an app id '<clientId>_<encodedSecret>'."""
    parts = app_id.split("_")
    if len(parts) != 2:
        return "", ""
    return parts[0], decode_app_secret(parts[1])


def hmac_sha256(content: str, key: str) -> str:
    """The SDK's HmacSHA256: base64 of the lower-case hex digest string (not of the raw digest)."""
    digest = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("utf-8")).decode("ascii")


def encode_path(path: str) -> str:
    return quote(path, encoding="utf-8").replace("/", "%2F")


def api_sign_content(path: str, nonce: str, timestamp: str) -> str:
    return f"POST\n{encode_path(path)}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"


def app_data(acct_id: str, user_name: str, lcid: int | str = 2052, org_num: int | str = 0) -> str:
    return f"{acct_id},{user_name},{lcid},{org_num}"


def signed_headers(path: str, acct_id: str, user_name: str, app_id: str, app_secret: str, client_sec: str,
                   lcid: int = 2052, org_num: int = 0, now: float | None = None) -> dict:
    """The headers the official Python SDK sends instead of a login (section 3.3).

    path is the URL path after the host, e.g. '/k3cloud/Kingdee.BOS.WebApi.ServicesStub.
    DynamicFormService.Save.common.kdsvc'. client_sec is passed explicitly (the SDK derives it
    with decode_app_secret(app_id.split('_')[1]); newer SDKs differ, so it is treated as opaque).
    """
    ts = str(int(time.time() if now is None else now))
    data = app_data(acct_id, user_name, lcid, org_num)
    return {
        "X-Api-ClientID": app_id.split("_")[0] if "_" in app_id else "",
        "X-Api-Auth-Version": "2.0",
        "x-api-timestamp": ts,
        "x-api-nonce": ts,
        "x-api-signheaders": "x-api-timestamp,x-api-nonce",
        "X-Api-Signature": hmac_sha256(api_sign_content(path, ts, ts), client_sec),
        "X-Kd-Appkey": app_id,
        "X-Kd-Appdata": base64.b64encode(data.encode("utf-8")).decode("ascii"),
        "X-Kd-Signature": hmac_sha256(app_id + data, app_secret),
        "Content-Type": "application/json",
        "Accept-Charset": "utf-8",
    }


def verify_signed(headers, path: str, query: str, config: dict, now: float) -> tuple[int, str] | None:
    """Check signature headers against the configured app. None if valid, else (MsgCode, message):
    1 for a stale or unreadable timestamp (sign again and retry), 2 for a wrong app, user or signature."""
    get = lambda name: headers.get(name) or ""  # noqa: E731 - header look-up is case-insensitive
    ts, nonce = get("x-api-timestamp"), get("x-api-nonce")
    try:
        seconds = int(ts)
    except ValueError:
        return 1, f"时间戳x-api-timestamp[{ts}]无效"
    if seconds > 10 ** 11:  # the C# SDK sends milliseconds
        seconds //= 1000
    if abs(now - seconds) > config.get("signature_max_skew_seconds", MAX_SKEW_SECONDS):
        return 1, "请求已过期：时间戳x-api-timestamp与服务器时间相差超过5分钟"
    app_id = config["app_id"]
    client_id, derived_sec = split_app_id(app_id)
    client_sec = config.get("client_sec") or derived_sec
    if get("X-Kd-Appkey") != app_id or get("X-Api-ClientID") != client_id:
        return 2, f"应用ID[{get('X-Kd-Appkey')}]未授权"
    # the Python SDK signs the path; the C# SDK signs path and query: accept either
    candidates = [path] + ([f"{path}?{query}"] if query else [])
    if not any(hmac.compare_digest(get("X-Api-Signature"), hmac_sha256(api_sign_content(p, nonce, ts), client_sec))
               for p in candidates):
        return 2, "签名X-Api-Signature验证失败"
    try:
        data = base64.b64decode(get("X-Kd-Appdata"), validate=True).decode("utf-8")
    except ValueError:
        return 2, "X-Kd-Appdata格式错误"
    acct, user, *_ = data.split(",") + ["", ""]
    if acct != config["acct_id"] or user != config["user_name"]:
        return 2, f"数据中心[{acct}]或用户[{user}]无权访问"
    if not hmac.compare_digest(get("X-Kd-Signature"), hmac_sha256(app_id + data, config["app_secret"])):
        return 2, "签名X-Kd-Signature验证失败"
    return None


# ---------------------------------------------------------------- ExecuteBillQuery FilterString
CLAUSE = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(not\s+like|like|>=|<=|<>|!=|=|>|<)\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*",
                    re.I)
AND = re.compile(r"and\b", re.I)


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """"FEXPLANATION like '%x%' and FDate >= '2024-01-01'" -> [(field lower-case, op, literal)].

    The simulator's subset of the SQL-like FilterString: clauses 'field op value' joined by 'and'
    (no 'or', no parentheses); ValueError for anything else."""
    clauses, pos = [], 0
    while text.strip():
        m = CLAUSE.match(text, pos)
        if not m:
            raise ValueError(f"过滤条件无法解析（模拟器支持以and连接的“字段 操作符 值”）：{text[pos:]}")
        lit = m.group(3)
        lit = lit[1:-1].replace("''", "'") if lit.startswith("'") else lit
        clauses.append((m.group(1).lower(), re.sub(r"\s+", " ", m.group(2).lower()), lit))
        pos = m.end()
        if pos >= len(text):
            break
        joiner = AND.match(text, pos)
        if not joiner:
            raise ValueError(f"过滤条件无法解析：{text[pos:]}")
        pos = joiner.end()
    return clauses


def like_regex(pattern: str, dialect: str = "sqlserver") -> re.Pattern:
    """SQL LIKE as a case-insensitive regex (use fullmatch): % and _, and on SQL Server (the usual
    K/3 Cloud database) also [abc], [a-z], [^a]; so a literal '[' must be written '[[]'."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        close = pattern.find("]", i + 1) if c == "[" and dialect == "sqlserver" else -1
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif close > i + 1 and pattern[i + 1:close] != "^":
            out.append(_sql_class(pattern[i + 1:close]))
            i = close
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def _sql_class(body: str) -> str:
    """A SQL Server [...] set as a regex class; a reversed range such as B-1 matches nothing."""
    neg, body = (True, body[1:]) if body.startswith("^") else (False, body)
    parts, k = [], 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            if body[k] <= body[k + 2]:
                parts.append(f"{re.escape(body[k])}-{re.escape(body[k + 2])}")
            k += 3
        else:
            parts.append(re.escape(body[k]))
            k += 1
    if not parts:
        return r"[\s\S]" if neg else r"[^\s\S]"
    return f"[{'^' if neg else ''}{''.join(parts)}]"


def like_escape(text: str) -> str:
    """Text to match literally inside a SQL Server LIKE pattern: [ % _ become [[] [%] [_]."""
    return re.sub(r"([\[%_])", r"[\1]", text)


# ---------------------------------------------------------------- envelopes and request bodies
class Refusal(Exception):
    def __init__(self, msg_code: int, errors: list[tuple[str, str]], outcome: str = "rejected"):
        super().__init__(errors)
        self.msg_code, self.errors, self.outcome = msg_code, errors, outcome


def failure(msg_code: int, errors: list[tuple[str, str]]) -> dict:
    return {"Result": {"ResponseStatus": {
        "ErrorCode": 500, "IsSuccess": False, "MsgCode": msg_code, "SuccessEntitys": [], "SuccessMessages": [],
        "Errors": [{"FieldName": field, "Message": message, "DIndex": 0} for field, message in errors]}}}


def batch_result(saved: list[tuple[int, dict]], refused: list[tuple[int, Refusal]]) -> dict:
    """BatchSave's answer: one envelope; SuccessEntitys and Errors name each Model by its index
    in the request (DIndex). IsSuccess only when every Model was saved."""
    errors = [{"FieldName": field, "Message": message, "DIndex": i}
              for i, refusal in refused for field, message in refusal.errors]
    status = {"IsSuccess": not refused, "Errors": errors, "SuccessMessages": [],
              "SuccessEntitys": [{"Id": int(r["id"]), "Number": r["number"], "DIndex": i} for i, r in saved],
              "MsgCode": refused[0][1].msg_code if refused else 0}
    if refused:
        status["ErrorCode"] = 500
    return {"Result": {"ResponseStatus": status, "NeedReturnData": [{} for _ in saved]}}


def success(record: dict) -> dict:
    vid, number = int(record["id"]), record["number"]
    return {"Result": {"ResponseStatus": {
        "IsSuccess": True, "Errors": [], "SuccessEntitys": [{"Id": vid, "Number": number, "DIndex": 0}],
        "SuccessMessages": [], "MsgCode": 0}, "Id": vid, "Number": number, "NeedReturnData": [{}]}}


def ci(obj, key: str, default=None):
    """Case-insensitive key look-up (Kingdee's field keys are case-insensitive; clients mix FNumber/FNUMBER)."""
    if not isinstance(obj, dict):
        return default
    if key in obj:
        return obj[key]
    low = key.lower()
    return next((v for k, v in obj.items() if k.lower() == low), default)


def ref(value) -> str:
    """A base-data reference: {"FNumber": "x"} (or a bare string) -> "x"."""
    if isinstance(value, dict):
        value = ci(value, "FNumber")
    return "" if value is None else str(value)


def save_request(body, batch: bool = False) -> tuple:
    """(Model, ValidateRepeatJson) from the new {"formid","data"} or the old {"parameters": [...]} body;
    for BatchSave (batch=True) Model is the list of Models."""
    if not isinstance(body, dict):
        raise Refusal(8, [("", "参数错误：请求内容应为JSON对象")])
    params = ci(body, "parameters")
    if params is not None:
        if not isinstance(params, list) or len(params) < 2:
            raise Refusal(8, [("parameters", "参数错误：parameters应为[FormId, 数据包]")])
        form_id, data = params[0], params[1]
    else:
        form_id, data = ci(body, "formid"), ci(body, "data")
    if isinstance(data, str):
        try:
            data = loads(data)
        except ValueError:
            raise Refusal(8, [("data", "参数错误：数据包不是有效的JSON")]) from None
    if not form_id:
        raise Refusal(5, [("formid", "单据标识为空")])
    if str(form_id).upper() != "GL_VOUCHER":
        raise Refusal(8, [("formid", f"参数错误：模拟器只支持表单GL_VOUCHER，不支持[{form_id}]")])
    model = ci(data, "Model")
    if batch and (not isinstance(model, list) or not model or not all(isinstance(m, dict) for m in model)):
        raise Refusal(8, [("Model", "参数错误：批量保存的Model应为非空的数据包数组")])
    if not batch and not isinstance(model, dict):
        raise Refusal(8, [("Model", "参数错误：数据包中缺少Model")])
    return model, str(ci(data, "ValidateRepeatJson", "false")).lower() == "true"


def query_request(body) -> dict:
    """The query parameters from {"data": {...}}, {"parameters": ["<json>"]} or the bare object."""
    params = ci(body, "parameters") if isinstance(body, dict) else None
    if isinstance(params, list) and params:
        data = params[0]
    else:
        data = ci(body, "data", body) if isinstance(body, dict) else body
    if isinstance(data, str):
        try:
            data = loads(data)
        except ValueError:
            raise Refusal(8, [("data", "参数错误：数据包不是有效的JSON")]) from None
    if not isinstance(data, dict):
        raise Refusal(8, [("data", "参数错误：缺少查询参数")])
    if str(ci(data, "FormId", "")).upper() != "GL_VOUCHER":
        raise Refusal(8, [("FormId", f"参数错误：模拟器只支持表单GL_VOUCHER，不支持[{ci(data, 'FormId', '')}]")])
    return data
