"""JD JOS (京东开放平台) shop simulator (docs/EXTERNAL_APIS.md section 2).

This module holds no server, so the connector and tests can import it cheaply: the paths, the default
config, the signature of section 2.2, a client-side helper that builds signed router params, time
formats and the gateway error table of section 2.5. The order store is in orders.py, the server in app.py.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timedelta, timezone

ROUTER_PATH = "/routerjson"
REFRESH_PATH = "/oauth2/refresh_token"
# JD serves OAuth from its own host (open-oauth.jd.com); the simulator serves it under this prefix as
# well, so that a client's OAuth URL (the router's URL + OAUTH_PREFIX) is told apart from the router's
OAUTH_PREFIX = "/open-oauth"
VERSION = "2.0"

SEARCH = "jingdong.pop.order.search"
EN_SEARCH = "jingdong.pop.order.enSearch"
SHIPMENT = "jingdong.pop.order.shipment"
STOCK = "jingdong.stock.write.updateSkuStock"
REFUNDS = "jingdong.pop.afs.soa.refundapply.queryPageList"
METHODS = (SEARCH, EN_SEARCH, SHIPMENT, STOCK, REFUNDS)

# JD answers in China time (Asia/Shanghai has had no DST since 1991, so a fixed +08:00 is exact)
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FMT = "%Y-%m-%d %H:%M:%S"
_TS = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d{1,3})?\s*([+-]\d{2}:?\d{2})?$")

DEFAULT_CONFIG = {
    "app_key": "C8A7F3D1E2B94F60A1D3E5C7B9F20468",
    "app_secret": "5f2e8c1a9b7d4e60a3c5b7d9e1f20486",
    "shops": [
        {"shop": "jd-main", "venderId": "10622317", "access_token": "jdsim-at-main-0001",
         "refresh_token": "jdsim-rt-main-0001", "token_seconds": 86400},
        {"shop": "jd-outlet", "venderId": "10622318", "access_token": "jdsim-at-outlet-0001",
         "refresh_token": "jdsim-rt-outlet-0001", "token_seconds": 86400},
    ],
    # shared by every shop that has no "catalogue" of its own
    "catalogue": [
        {"skuId": "100012043978", "outerSkuId": "HUB-TEA-250", "wareId": "100008348542", "jdPrice": "59.90",
         "skuName": "西湖龙井绿茶 250g 罐装"},
        {"skuId": "100012043979", "outerSkuId": "HUB-TEA-500", "wareId": "100008348542", "jdPrice": "109.00",
         "skuName": "西湖龙井绿茶 500g 礼盒"},
        {"skuId": "100020665903", "outerSkuId": "HUB-CUP-01", "wareId": "100010665111", "jdPrice": "35.00",
         "skuName": "玻璃茶杯 带滤网 350ml"},
        {"skuId": "100020665904", "outerSkuId": "HUB-POT-01", "wareId": "100010665112", "jdPrice": "168.00",
         "skuName": "紫砂茶壶 西施壶 220ml"},
        {"skuId": "100031122578", "outerSkuId": "HUB-SET-01", "wareId": "100015522001", "jdPrice": "299.00",
         "skuName": "功夫茶具套装 12件"},
        {"skuId": "100031122579", "outerSkuId": "", "wareId": "100015522002", "jdPrice": "9.90",
         "skuName": "茶巾 吸水棉麻 2条装"},
    ],
    "timestamp_skew_seconds": 360,
    "timestamp_check": "either",  # "sim" | "wall" | "either": which clock the ±skew window is measured on
    "page_size_max": 100,
    "order_id_start": 300000000001,
    "paid_ratio": 0.85,  # share of generated orders that start paid (WAIT_SELLER_STOCK_OUT); the rest WAIT_BUYER_PAY
    "refresh_rotates": True,  # a refresh revokes the old access token and replaces the refresh token
    "blank_consignee_states": [],  # e.g. ["TRADE_CANCELED", "LOCKED"]: consigneeInfo answered with empty strings
}

# section 2.5 (codes 2-21); code is a string in the answer
GATEWAY_ERRORS = {
    "2": ("限制时间内调用失败次数", "App Call Limited"),
    "4": ("缺少版本参数", "Missing Version"),
    "5": ("不支持的版本号", "Unsupported Version"),
    "7": ("缺少时间戳参数", "Missing Timestamp"),
    "8": ("非法的时间戳参数", "Invalid Timestamp"),
    "11": ("缺少签名参数", "Missing Signature"),
    "12": ("无效签名", "Invalid Signature"),
    "14": ("缺少方法名参数", "Missing Method"),
    "15": ("不存在的方法名", "Invalid Method"),
    "19": ("无效access_token", "Invalid access_token"),
    "21": ("无效app_key", "Invalid app_key"),
}


def sign(params: dict, secret: str) -> str:
    """Section 2.2: MD5(secret + k1v1 + k2v2 ... + secret), keys sorted, 'sign' left out, upper-case hex.

    Every other param is signed, with its value exactly as sent (None counts as ''), encoded UTF-8."""
    body = "".join(f"{k}{'' if params[k] is None else params[k]}" for k in sorted(params) if k != "sign")
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()


def fmt_time(epoch: float) -> str:
    """Epoch seconds -> 'yyyy-MM-dd HH:mm:ss' in China time."""
    return datetime.fromtimestamp(int(epoch), CST).strftime(TIME_FMT)


def parse_time(text: str) -> float:
    """'yyyy-MM-dd HH:mm:ss' (China time) -> epoch seconds. ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a date-time string")
    return datetime.strptime(text, TIME_FMT).replace(tzinfo=CST).timestamp()


def parse_timestamp(text: str) -> float:
    """The router's timestamp param: 'yyyy-MM-dd HH:mm:ss' (China time) or the SDK's
    'yyyy-MM-dd HH:mm:ss.SSS+0800' (the offset is honoured). ValueError otherwise."""
    m = _TS.match(text or "")
    if not m:
        raise ValueError(f"timestamp {text!r}")
    moment = datetime.strptime(m.group(1), TIME_FMT)
    tz = CST
    if m.group(3):
        off = m.group(3).replace(":", "")
        minutes = int(off[1:3]) * 60 + int(off[3:5])
        tz = timezone(timedelta(minutes=minutes if off[0] == "+" else -minutes))
    return moment.replace(tzinfo=tz).timestamp() + (float(m.group(2)) if m.group(2) else 0.0)


def sdk_timestamp(epoch: float | None = None) -> str:
    """The official Python SDK's form, e.g. '2021-05-07 09:20:39.683+0800'."""
    epoch = time.time() if epoch is None else epoch
    d = datetime.fromtimestamp(epoch, CST)
    return d.strftime(TIME_FMT) + f".{int(d.microsecond / 1000):03d}+0800"


def signed_params(method: str, business: dict | str | None, *, app_key: str, app_secret: str, access_token: str,
                  now: float | None = None, timestamp: str | None = None, fmt: str | None = None) -> dict:
    """The router params a client sends (all as URL query params or a form body), sign included."""
    param_json = business if isinstance(business, str) else json.dumps(business or {}, ensure_ascii=False,
                                                                       separators=(",", ":"))
    params = {"method": method, "app_key": app_key, "access_token": access_token,
              "timestamp": timestamp or sdk_timestamp(now), "v": VERSION, "360buy_param_json": param_json}
    if fmt:
        params["format"] = fmt
    params["sign"] = sign(params, app_secret)
    return params


def error_response(code: str) -> dict:
    zh, en = GATEWAY_ERRORS[code]
    return {"error_response": {"code": code, "zh_desc": zh, "en_desc": en}}
