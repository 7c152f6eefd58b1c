"""Taobao Open Platform (TOP) shop simulator (docs/EXTERNAL_APIS.md section 1).

This module holds no server, so the connector and tests can import it cheaply: the router path, the default
config, the signature (section 1.3), the error envelope (section 1.5) and the rendering of a neutral
`simulators.shops.Order` as a TOP trade (section 1.4). The server is in app.py.
"""
from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from simulators import money
from simulators.shops import (
    CLOSED,
    PAID,
    PART_SHIPPED,
    REFUND_CLOSED,
    REFUND_DONE,
    REFUND_NONE,
    REFUND_REQUESTED,
    REFUND_SUCCESS,
    REFUND_WAITING,
    SHIPPED,
    UNPAID,
    Order,
    Refund,
    local_time,
)

PATH = "/router/rest"
SIGN_METHODS = ("md5", "hmac", "hmac-sha256")

DEFAULT_CONFIG = {
    "app_key": "23456789",
    "app_secret": "5f1a9c3e7b2d4e6f8a0b1c2d3e4f5a6b",
    "shops": [
        {"shop": "tb-main", "seller_nick": "模拟旗舰店",
         "session": "6100a7e3c1f94b2d8e5f60718293a4b5c6d7e8f90123456789abcdef2206",
         "refresh_token": "6102b8f4d2a05c3e9f6071829304b5c6d7e8f9a01234567890abcdef2206", "token_seconds": 86400},
        {"shop": "tb-outlet", "seller_nick": "模拟折扣店",
         "session": "6100c9a5e3b16d4f0a71829304a5b6c7d8e9f0a12345678901bcdef03307",
         "refresh_token": "6102d0b6f4c27e5a1b82930415b6c7d8e9f0a1b23456789012cdef03307", "token_seconds": 86400},
    ],
    "catalogue": [
        {"outer_sku_id": "TEE-WHT-M", "outer_item_id": "TEE", "title": "纯棉圆领T恤 白色 M", "price": "59.00"},
        {"outer_sku_id": "TEE-WHT-L", "outer_item_id": "TEE", "title": "纯棉圆领T恤 白色 L", "price": "59.00"},
        {"outer_sku_id": "TEE-BLK-L", "outer_item_id": "TEE", "title": "纯棉圆领T恤 黑色 L", "price": "65.00"},
        {"outer_sku_id": "MUG-350", "outer_item_id": "MUG", "title": "陶瓷马克杯 350ml", "price": "29.90"},
        {"outer_sku_id": "BAG-CANVAS", "outer_item_id": "BAG", "title": "帆布托特包", "price": "88.00"},
        {"outer_sku_id": "TEA-LJ-250", "outer_item_id": "TEA", "title": "明前龙井 250g", "price": "268.00"},
        {"outer_sku_id": "TEA-LJ-500", "outer_item_id": "TEA", "title": "明前龙井 500g", "price": "499.00"},
    ],
    "timestamp_skew_seconds": 600,
    "timestamp_check": "either",  # "sim": within skew of the simulator clock; "wall": of the real clock; or either
    "initial_orders": 0,
    "first_order_id": 3028689400000001,
    "first_line_id": 3028689500000001,
    "single_line_payment_includes_post_fee": True,  # the section 1.4 doc note, as the real platform does
}


# ---------------------------------------------------------------- signature (section 1.3)
def sign(params: dict, secret: str, method: str = "md5") -> str:
    """TOP signature: every param except `sign` whose key and value are non-empty, sorted by key (byte order),
    concatenated key+value; md5 = MD5(secret+s+secret), hmac = HMAC-MD5(secret, s),
    hmac-sha256 = HMAC-SHA256(secret, s); uppercase hex. Values are taken as str and encoded UTF-8."""
    items = sorted((str(k), str(v)) for k, v in params.items()
                   if k != "sign" and str(k) != "" and v is not None and str(v) != "")
    text = "".join(k + v for k, v in items)  # str order = code point order = UTF-8 byte order
    data, key = text.encode("utf-8"), secret.encode("utf-8")
    if method == "md5":
        digest = hashlib.md5(key + data + key).hexdigest()
    elif method == "hmac":
        digest = hmac.new(key, data, hashlib.md5).hexdigest()
    elif method == "hmac-sha256":
        digest = hmac.new(key, data, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"sign_method must be one of {SIGN_METHODS}")
    return digest.upper()


def signed(params: dict, secret: str) -> dict:
    """params plus their `sign` (sign_method taken from params, md5 when absent)."""
    return {**params, "sign": sign(params, secret, params.get("sign_method") or "md5")}


# ---------------------------------------------------------------- errors (section 1.5)
class TopError(Exception):
    """One error_response: code, msg, sub_code, sub_msg."""

    def __init__(self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None):
        super().__init__(f"{code} {msg} {sub_code or ''} {sub_msg or ''}")
        self.code, self.msg, self.sub_code, self.sub_msg = code, msg, sub_code, sub_msg


def request_id() -> str:
    return uuid.uuid4().hex[:12]


def error_body(err: TopError, rid: str | None = None) -> dict:
    body: dict[str, Any] = {"code": err.code, "msg": err.msg}
    if err.sub_code:
        body["sub_code"] = err.sub_code
    if err.sub_msg:
        body["sub_msg"] = err.sub_msg
    body["request_id"] = rid or request_id()
    return {"error_response": body}


def missing(name: str) -> TopError:
    return TopError(40, "Missing Required Arguments", f"isv.missing-parameter:{name}", f"缺少必选参数:{name}")


def invalid(name: str, why: str) -> TopError:
    return TopError(41, "Invalid Arguments", f"isv.invalid-parameter:{name}", why)


B04 = TopError(15, "Remote service error", "isv.logistics-offline-service-error:B04",
               "订单状态不对该物流订单已经发货或者已关闭，不能重复发货")


# ---------------------------------------------------------------- trade JSON (section 1.4)
TRADE_STATUS = {UNPAID: "WAIT_BUYER_PAY", PAID: "WAIT_SELLER_SEND_GOODS", PART_SHIPPED: "SELLER_CONSIGNED_PART",
                SHIPPED: "WAIT_BUYER_CONFIRM_GOODS"}
REFUND_STATUS = {REFUND_NONE: "NO_REFUND", REFUND_REQUESTED: "WAIT_SELLER_AGREE", REFUND_DONE: "SUCCESS"}


def trade_status(order: Order) -> str:
    if order.status == CLOSED:
        return "TRADE_CLOSED" if order.closed_paid else "TRADE_CLOSED_BY_TAOBAO"
    return TRADE_STATUS[order.status]


def line_status(order: Order, line) -> str:
    if order.status in (CLOSED, UNPAID):
        return trade_status(order)
    return "WAIT_BUYER_CONFIRM_GOODS" if line.shipped_at is not None else "WAIT_SELLER_SEND_GOODS"


BUYER_MESSAGES = ("请尽快发货", "不要放快递柜", "送礼用，不要放价签")


def buyer_message(order: Order) -> str:
    """What the buyer wrote to the seller: one trade in five has a message (by its id, so the draw of
    everything else stays as it was)."""
    return BUYER_MESSAGES[order.order_id // 5 % len(BUYER_MESSAGES)] if order.order_id % 5 == 0 else ""


def render_trade(order: Order, seller_nick: str, single_line_quirk: bool = False) -> dict:
    """The whole trade as TOP JSON (non-simplified: orders wrapped as {"order": [...]}). Fields without a value
    (pay_time before payment, consign_time before shipment, ...) are left out, as TOP does.
    single_line_quirk: a single line's `payment` is the trade's payment, post fee included (section 1.4 doc note)."""
    trade = {
        "tid": order.order_id, "tid_str": str(order.order_id), "status": trade_status(order), "type": "fixed",
        "seller_nick": seller_nick, "buyer_nick": order.buyer_nick, "buyer_open_uid": order.buyer_id,
        "created": local_time(order.created), "modified": local_time(order.modified),
        "pay_time": local_time(order.paid_at) if order.paid_at is not None else None,
        "consign_time": local_time(order.shipped_at) if order.shipped_at is not None else None,
        "end_time": local_time(order.closed_at) if order.closed_at is not None else None,
        "payment": money(order.payment), "total_fee": money(order.goods_total), "post_fee": money(order.post_fee),
        "discount_fee": money(order.order_discount), "adjust_fee": money(order.adjust), "shipping_type": "express",
        "receiver_name": order.receiver["name"], "receiver_state": order.receiver["state"],
        "receiver_city": order.receiver["city"], "receiver_district": order.receiver["district"],
        "receiver_address": order.receiver["address"], "receiver_zip": order.receiver["zip"],
        "receiver_mobile": order.receiver["mobile"],
        "buyer_message": buyer_message(order) or None, "has_buyer_message": bool(buyer_message(order)),
        "orders": {"order": [render_line(order, ln, single_line_quirk and len(order.lines) == 1)
                             for ln in order.lines]},
    }
    return {k: v for k, v in trade.items() if v is not None}


def render_line(order: Order, ln, add_post_fee: bool = False) -> dict:
    line = {
        "oid": ln.line_id, "oid_str": str(ln.line_id), "num_iid": ln.item_id, "sku_id": ln.sku_id,
        "outer_iid": ln.outer_item_id, "outer_sku_id": ln.outer_sku_id, "title": ln.title, "num": ln.qty,
        "price": money(ln.price), "total_fee": money(ln.payment),
        "payment": money(order.payment if add_post_fee else ln.payment),
        "discount_fee": money(ln.discount), "adjust_fee": money(ln.adjust), "divide_order_fee": money(ln.divided),
        "part_mjz_discount": money(ln.share), "status": line_status(order, ln),
        "refund_status": REFUND_STATUS[ln.refund], "refund_id": ln.refund_id,
        "consign_time": local_time(ln.shipped_at) if ln.shipped_at is not None else None,
        "logistics_company": ln.carrier, "invoice_no": ln.waybill, "shipping_type": "express",
    }
    return {k: v for k, v in line.items() if v is not None}


def select_fields(trade: dict, fields: set[str]) -> dict:
    """Keep the requested trade fields; `orders` keeps whole lines, `orders.x` keeps only field x of each line."""
    out = {k: v for k, v in trade.items() if k in fields and k != "orders"}
    sub = {f.split(".", 1)[1] for f in fields if f.startswith("orders.") or f.startswith("order.")}
    if "orders" in fields:
        out["orders"] = trade["orders"]
    elif sub:
        out["orders"] = {"order": [{k: v for k, v in ln.items() if k in sub} for ln in trade["orders"]["order"]]}
    return out


def simplified(obj: Any) -> Any:
    """The simplify=true shape: list wrappers {"trade": [...]}, {"order": [...]}, {"sku": [...]} become bare lists."""
    if isinstance(obj, dict):
        (key, value), = obj.items() if len(obj) == 1 else [(None, None)]
        if key in ("trade", "order", "sku", "refund") and isinstance(value, list):
            return [simplified(x) for x in value]
        return {k: simplified(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [simplified(x) for x in obj]
    return obj


# ---------------------------------------------------------------- refunds (docs/EXTERNAL_APIS.md section 1.7)
REFUND_RECORD_STATUS = {REFUND_WAITING: "WAIT_SELLER_AGREE", REFUND_SUCCESS: "SUCCESS", REFUND_CLOSED: "CLOSED"}


def render_refund(refund: Refund, order: Order, seller_nick: str) -> dict:
    """One refund as taobao.refunds.receive.get answers it (the fields its `fields` param lists)."""
    line = order.line(refund.line_id)
    assert line is not None
    return {
        "refund_id": refund.refund_id, "refund_id_str": str(refund.refund_id), "tid": order.order_id,
        "oid": line.line_id, "title": line.title, "buyer_nick": order.buyer_nick, "seller_nick": seller_nick,
        "total_fee": money(line.payment), "payment": money(line.divided), "refund_fee": money(refund.fee),
        "status": REFUND_RECORD_STATUS[refund.status], "created": local_time(refund.created),
        "modified": local_time(refund.modified), "has_good_return": refund.has_good_return,
        "good_status": ("BUYER_RETURNED_GOODS" if refund.has_good_return
                        else "BUYER_RECEIVED" if refund.shipped else "BUYER_NOT_RECEIVED"),
        "order_status": trade_status(order), "refund_phase": "aftersale" if refund.shipped else "onsale",
        "reason": refund.reason or "其他", "desc": "",
    }
