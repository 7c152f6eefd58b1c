"""Taobao TOP: signed router calls, incremental order pulls by modified time, shipment and stock pushes."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from connectors.shops.allocate import allocate
from connectors.shops.core import (
    PlatformLine,
    PlatformOrder,
    PlatformRefund,
    amount,
    broken_order,
    broken_refund,
    missing_field,
)
from connectors.shops.platform import PlatformClient, PlatformError, RateLimited, TokenExpired, Transient
from hubkit.sql import chunks

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUS = {"TRADE_NO_CREATE_PAY": "awaiting_payment", "WAIT_BUYER_PAY": "awaiting_payment",
          "PAY_PENDING": "awaiting_payment", "WAIT_PRE_AUTH_CONFIRM": "awaiting_payment",
          "WAIT_SELLER_SEND_GOODS": "paid", "PAID_FORBID_CONSIGN": "paid", "SELLER_CONSIGNED_PART": "paid",
          "WAIT_BUYER_CONFIRM_GOODS": "shipped", "TRADE_BUYER_SIGNED": "shipped", "TRADE_FINISHED": "completed",
          "TRADE_CLOSED": "cancelled", "TRADE_CLOSED_BY_TAOBAO": "cancelled"}
FIELDS = ("tid,status,modified,created,payment,post_fee,discount_fee,buyer_nick,buyer_open_uid,receiver_name,"
          "receiver_mobile,receiver_state,receiver_city,receiver_district,receiver_address,receiver_zip,buyer_message,"
          "orders")
PAGE_SIZE = 100
STOCK_PER_CALL = 20  # SKUs of one item per taobao.skus.quantity.update
BAN = re.compile(r"ban will last (?:for )?(\d+) more seconds")  # "for": the real text (section 1.5)
TRANSIENT_CODES = {"10", "15", "520"}  # service unavailable, remote errors: the isp.* family
REFUND_FIELDS = "refund_id,tid,oid,refund_fee,status,has_good_return,modified,good_status,order_status"
# a refund's status (taobao.refunds.receive.get): only SUCCESS gives money back, CLOSED never will;
# WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS, WAIT_SELLER_CONFIRM_GOODS, SELLER_REFUSE_BUYER still may
REFUND_STATUS = {"SUCCESS": "success", "CLOSED": "closed"}


def sign(params: dict, secret: str, method: str = "md5") -> str:
    """TOP signature: non-empty params but `sign`, keys sorted, k1v1k2v2...; md5 wraps with the secret."""
    body = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign" and params[k] not in (None, ""))
    if method == "md5":
        return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()
    digest = hashlib.sha256 if method == "hmac-sha256" else hashlib.md5
    return hmac.new(secret.encode("utf-8"), body.encode("utf-8"), digest).hexdigest().upper()


REQUIRED = ("tid|tid_str", "status", "modified", "payment", "orders")  # of a trade
LINE_REQUIRED = ("oid|oid_str", "num", "price")  # of each of its orders.order


def _time(value: str) -> datetime:
    return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


def _time_or_now(value) -> datetime:
    try:
        return _time(str(value))
    except ValueError:
        return datetime.now(SHANGHAI)


class TaobaoClient(PlatformClient):
    platform = "taobao"

    def _request(self, params: dict) -> dict:
        params = {**params, "app_key": self.config.app_key, "format": "json", "v": "2.0", "sign_method": "md5",
                  "timestamp": datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")}
        params["sign"] = sign(params, self.config.app_secret)
        body = self.post("/router/rest", data=params)
        error = body.get("error_response")
        if error:
            code, sub = str(error.get("code")), str(error.get("sub_code") or "")
            message = f"TOP {code} {error.get('msg')} {sub} {error.get('sub_msg') or ''}".strip()
            if code == "7":
                ban = BAN.search(str(error.get("sub_msg") or ""))
                raise RateLimited(message, wait_seconds=float(ban.group(1)) if ban else 1.0)
            if code == "27":
                raise TokenExpired(message)
            if sub.endswith(":B04"):  # already shipped or closed: the shipment is there
                return {"already_shipped": True}
            if code in TRANSIENT_CODES and (sub.startswith("isp.") or code != "15"):
                raise Transient(message)
            raise PlatformError(message)
        return body

    def _call(self, shop, method: str, business: dict) -> dict:
        return self._request({"method": method, "session": self.token(shop), **business})

    def refresh(self, shop) -> tuple[str, str]:
        body = self._request({"method": "taobao.top.auth.token.refresh", "refresh_token": self.refresh_token_of(shop)})
        token = json.loads(body["top_auth_token_refresh_response"]["token_result"])
        return token["access_token"], token.get("refresh_token") or self.refresh_token_of(shop)

    def _read_window(self, shop, start: datetime, end: datetime) -> tuple[dict, int]:
        found, page, total = {}, 1, 0
        while True:
            body = self.call(shop, "taobao.trades.sold.increment.get", {
                "fields": FIELDS, "start_modified": start.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "end_modified": end.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "page_no": page, "page_size": PAGE_SIZE})
            result = body["trades_sold_increment_get_response"]
            total = int(result.get("total_results") or 0) if page == 1 else total
            trades = (result.get("trades") or {}).get("trade") or []
            for raw in trades:
                order = self.normalize(shop, raw)
                if order.external_order_id not in found or found[order.external_order_id].modified < order.modified:
                    found[order.external_order_id] = order
            if not trades or page * PAGE_SIZE >= total:
                return found, total
            page += 1

    def orders_modified(self, shop, start: datetime, end: datetime) -> list[PlatformOrder]:
        """Every order modified in [start, end]. Pages can shift while they are read (an order
        modified meanwhile moves), so a window is read again until one pass saw as many distinct
        orders as the platform counted."""
        return self.read_while_shifting(lambda: self._read_window(shop, start, end), f"{start}..{end}: ")

    def _read_refunds(self, shop, start: datetime, end: datetime) -> tuple[dict, int]:
        found, page, total = {}, 1, 0
        while True:
            body = self.call(shop, "taobao.refunds.receive.get", {
                "fields": REFUND_FIELDS, "start_modified": start.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "end_modified": end.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "page_no": page, "page_size": PAGE_SIZE})
            result = body["refunds_receive_get_response"]
            total = int(result.get("total_results") or 0) if page == 1 else total
            rows = (result.get("refunds") or {}).get("refund") or []
            for raw in rows:
                refund = self.refund(shop, raw)
                if refund.refund_id not in found or found[refund.refund_id].modified < refund.modified:
                    found[refund.refund_id] = refund
            if not rows or page * PAGE_SIZE >= total:
                return found, total
            page += 1

    def refunds_modified(self, shop, start: datetime, end: datetime) -> list[PlatformRefund]:
        """Every refund modified in [start, end], read as orders are (again while pages shift)."""
        return self.read_while_shifting(lambda: self._read_refunds(shop, start, end), f"refunds {start}..{end}: ")

    def refund(self, shop, raw: dict) -> PlatformRefund:
        missing = missing_field(raw, ("refund_id", "tid", "oid", "refund_fee", "status", "modified"))
        if missing:  # held, naming the field, rather than failing every pull
            return broken_refund("taobao", shop.shop, raw, "refund_id", missing)
        return PlatformRefund(
            platform="taobao", shop=shop.shop, refund_id=str(raw["refund_id"]), external_order_id=str(raw["tid"]),
            line_id=str(raw["oid"]), amount=amount(raw, "refund_fee"),
            status=REFUND_STATUS.get(str(raw["status"]), "waiting"),
            goods_return=str(raw.get("has_good_return")).lower() == "true", platform_status=str(raw["status"]),
            modified=_time(raw["modified"]), raw=raw)

    def normalize(self, shop, raw: dict) -> PlatformOrder:
        missing = missing_field(raw, REQUIRED, ("orders", "order"), LINE_REQUIRED)
        if missing:  # held, naming the field, rather than failing the whole pull
            return broken_order("taobao", shop.shop, raw, ("tid_str", "tid"), _time_or_now(raw.get("modified")),
                                "missing_field", f"the trade has no {missing}")
        items = (raw.get("orders") or {}).get("order") or []
        post_fee, payment = amount(raw, "post_fee"), amount(raw, "payment")
        divided = [self._goods(i, len(items), payment, post_fee) for i in items]
        shipping = allocate(divided, post_fee)  # the post fee spread once
        lines = [PlatformLine(line_id=str(i.get("oid_str") or i["oid"]),
                              outer_sku=i.get("outer_sku_id") or i.get("outer_iid") or str(i.get("sku_id") or ""),
                              quantity=int(i["num"]), price=amount(i, "price"), paid=d + f, shipping=f,
                              refund_status=None if i.get("refund_status") in (None, "NO_REFUND")
                              else i["refund_status"].lower())
                 for i, d, f in zip(items, divided, shipping)]
        return PlatformOrder(
            platform="taobao", shop=shop.shop, external_order_id=str(raw.get("tid_str") or raw["tid"]),
            modified=_time(raw["modified"]), status=STATUS.get(raw.get("status"), "paid"),
            paid_total=amount(raw, "payment"), lines=lines,
            buyer={"external_id": raw.get("buyer_open_uid") or raw.get("buyer_nick", ""),
                   "name": raw.get("receiver_name", ""), "phone": raw.get("receiver_mobile", "")},
            address={"recipient": raw.get("receiver_name", ""), "phone": raw.get("receiver_mobile", ""),
                     "province": raw.get("receiver_state", ""), "city": raw.get("receiver_city", ""),
                     "district": raw.get("receiver_district", ""), "street": raw.get("receiver_address", ""),
                     "postal_code": raw.get("receiver_zip", "")},
            buyer_message=str(raw.get("buyer_message") or ""), raw=raw)

    @staticmethod
    def _goods(line: dict, lines: int, payment: Decimal, post_fee: Decimal) -> Decimal:
        """What the buyer paid for a line's goods, without shipping: `divide_order_fee`, else the line
        `payment`, less the post fee where a single line's `payment` includes it (section 1.4 doc note:
        then it equals the trade's payment; without the quirk it is the payment less the post fee)."""
        if line.get("divide_order_fee") not in (None, ""):
            return amount(line, "divide_order_fee")
        paid = amount(line, "payment")
        if lines == 1 and post_fee and paid == payment:
            return paid - post_fee
        return paid

    def confirm_shipment(self, shop, external_order_id: str, carrier: str, tracking: str, line_ids: list) -> None:
        params = {"tid": external_order_id, "out_sid": tracking, "company_code": carrier.upper()}
        if line_ids:  # part of the trade: its lines by oid
            params.update({"sub_tid": ",".join(line_ids), "is_split": 1})
        body = self.call(shop, "taobao.logistics.offline.send", params)
        if not body.get("already_shipped") and not body["logistics_offline_send_response"]["shipping"]["is_success"]:
            raise PlatformError("Taobao did not accept the shipment")

    def push_stock(self, shop, platform_ref: str, quantity: int) -> None:
        num_iid, outer = platform_ref.split(":", 1)
        self.call(shop, "taobao.skus.quantity.update", {"num_iid": num_iid, "outerid_quantities": f"{outer}:{quantity}",
                                                        "type": 1})

    def push_stocks(self, shop, quantities: list[tuple[str, int]]) -> list[PlatformError | None]:
        """An item's SKUs together: taobao.skus.quantity.update takes up to STOCK_PER_CALL of one num_iid."""
        items: dict[str, list[int]] = {}  # num_iid -> the indexes of its quantities
        for at, (ref, _) in enumerate(quantities):
            items.setdefault(ref.split(":", 1)[0], []).append(at)
        outcomes: list[PlatformError | None] = [None] * len(quantities)
        for num_iid, indexes in items.items():
            for part in chunks(indexes, STOCK_PER_CALL):
                pairs = ";".join(f"{quantities[at][0].split(':', 1)[1]}:{quantities[at][1]}" for at in part)
                try:
                    self.call(shop, "taobao.skus.quantity.update",
                              {"num_iid": num_iid, "outerid_quantities": pairs, "type": 1})
                except PlatformError as exc:
                    for at in part:
                        outcomes[at] = exc
        return outcomes

    def platform_refs(self, order: PlatformOrder) -> dict[str, str]:
        """outer SKU -> "num_iid:outer SKU", learned from pulled orders (for stock pushes)."""
        return {(i.get("outer_sku_id") or i.get("outer_iid")): f"{i['num_iid']}:{i.get('outer_sku_id') or i.get('outer_iid')}"
                for i in (order.raw.get("orders") or {}).get("order") or [] if i.get("outer_sku_id") or i.get("outer_iid")}
