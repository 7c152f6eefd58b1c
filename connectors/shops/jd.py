"""JD JOS: signed router calls, order search by modified time, shipment and stock pushes."""
from __future__ import annotations

import hashlib
import json
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
from hubkit.money import cents

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUS = {"WAIT_BUYER_PAY": "awaiting_payment", "WAIT_SELLER_STOCK_OUT": "paid", "WAIT_SELLER_DELIVERY": "paid",
          "POP_ORDER_PAUSE": "paid", "LOCKED": "paid", "WAIT_GOODS_RECEIVE_CONFIRM": "shipped",
          "FINISHED_L": "completed", "TRADE_CANCELED": "cancelled"}
# carrier code -> JD logiCoprId (the merchant's carrier list); 1274 = delivered by the merchant itself
CARRIERS = {"SF": "467", "ZTO": "1499", "YTO": "463", "STO": "470", "YUNDA": "1327", "EMS": "465", "JD": "2087",
            "DEPPON": "3046", "SELF": "1274"}
PAGE_SIZE = 100
REFUND_PAGE_SIZE = 50
# a refund application's status (docs/EXTERNAL_APIS.md section 2.6, numbering UNCONFIRMED): 1 审核通过 gives
# the money back, 2 审核不通过 never will; any other number is left waiting (never applied on a guess)
REFUND_STATUS = {"1": "success", "2": "closed"}


def sign(params: dict, secret: str) -> str:
    """MD5(secret + k1v1k2v2... + secret) over every parameter sent but `sign`, keys sorted; upper hex."""
    body = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign")
    return hashlib.md5(f"{secret}{body}{secret}".encode()).hexdigest().upper()


REQUIRED = ("orderId", "orderState", "modified", "orderPayment", "itemInfoList")  # of an order
LINE_REQUIRED = ("skuId", "jdPrice", "itemTotal")  # of each of its itemInfoList
COUPON_REQUIRED = ("couponPrice",)  # of each of its couponDetailList


def _time(value: str) -> datetime:
    return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


def _time_or_now(value) -> datetime:
    try:
        return _time(str(value))
    except ValueError:
        return datetime.now(SHANGHAI)


def _line_ids(items: list[dict]) -> list[str]:
    """JD lines have no id of their own: a line is its skuId, and a SKU's second, third... line in the
    order (the same SKU twice, e.g. a gift and a sale) is skuId#2, skuId#3, so every line's id is its own."""
    ids, seen = [], {}
    for i in items:
        sku = str(i["skuId"])
        seen[sku] = seen.get(sku, 0) + 1
        ids.append(sku if seen[sku] == 1 else f"{sku}#{seen[sku]}")
    return ids


class JdClient(PlatformClient):
    ships_once = True  # jingdong.pop.order.shipment: several waybills in one call, no second shipment
    platform = "jd"

    def _call(self, shop, method: str, business: dict) -> dict:
        params = {"method": method, "app_key": self.config.app_key, "access_token": self.token(shop),
                  "timestamp": datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"), "v": "2.0",
                  "360buy_param_json": json.dumps(business, separators=(",", ":"), ensure_ascii=False)}
        params["sign"] = sign(params, self.config.app_secret)
        body = self.post("/routerjson", params=params)
        error = body.get("error_response")
        if error:
            code = str(error.get("code"))
            message = f"JD {code}: {error.get('en_desc') or error.get('zh_desc')}"
            if code == "2":
                raise RateLimited(message, wait_seconds=1.0)
            if code == "19":
                raise TokenExpired(message)
            raise PlatformError(message)
        return body

    def refresh(self, shop) -> tuple[str, str]:
        oauth = (self.config.oauth_url or self.config.url).rstrip("/")  # JD serves OAuth from its own host
        body = self.get(f"{oauth}/oauth2/refresh_token", params={
            "app_key": self.config.app_key, "app_secret": self.config.app_secret, "grant_type": "refresh_token",
            "refresh_token": self.refresh_token_of(shop)})
        if not body.get("access_token"):
            raise PlatformError(f"JD token refresh refused: {body.get('msg')}")
        return body["access_token"], body.get("refresh_token") or self.refresh_token_of(shop)

    def orders_modified(self, shop, start: datetime, end: datetime) -> list[PlatformOrder]:
        """Every order modified in [start, end]; a window whose pages shifted while read (fewer
        distinct orders than JD counted) is read again."""
        return self.read_while_shifting(lambda: self._read_window(shop, start, end), f"{start}..{end}: ")

    def _read_window(self, shop, start: datetime, end: datetime) -> tuple[dict, int]:
        found, page, total = {}, 1, 0
        while True:
            body = self.call(shop, "jingdong.pop.order.search", {
                "start_date": start.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "end_date": end.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "order_state": "", "page": str(page), "page_size": str(PAGE_SIZE), "dateType": 0, "sortType": 1})
            result = body["jingdong_pop_order_search_responce"]["searchorderinfo_result"]
            if not result["apiResult"].get("success"):
                raise Transient(f"JD order search failed: {result['apiResult'].get('chineseErrCode')}")
            for raw in result.get("orderInfoList") or []:
                order = self.normalize(shop, raw)
                if order.external_order_id not in found or found[order.external_order_id].modified < order.modified:
                    found[order.external_order_id] = order
            if page == 1:  # the count of the first page holds for the window
                total = int(result.get("orderTotal") or 0)
            if page * PAGE_SIZE >= total or not result.get("orderInfoList"):
                return found, total
            page += 1

    def _read_refunds(self, shop, start: datetime, end: datetime) -> tuple[dict, int]:
        found, page, total = {}, 1, 0
        while True:
            body = self.call(shop, "jingdong.pop.afs.soa.refundapply.queryPageList", {
                "checkTimeStart": start.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "checkTimeEnd": end.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "pageIndex": page, "pageSize": REFUND_PAGE_SIZE, "showSku": True})
            result = body["jingdong_pop_afs_soa_refundapply_queryPageList_responce"]["queryResult"]
            if not result.get("success"):
                raise Transient(f"JD refund query failed: {result.get('errorMessage')}")
            rows = result.get("result") or []
            for raw in rows:
                refund = self.refund(shop, raw)
                if refund.refund_id not in found or found[refund.refund_id].modified < refund.modified:
                    found[refund.refund_id] = refund
            if page == 1:
                total = int(result.get("totalCount") or 0)
            if page * REFUND_PAGE_SIZE >= total or not rows:
                return found, total
            page += 1

    def refunds_modified(self, shop, start: datetime, end: datetime) -> list[PlatformRefund]:
        """Every refund application checked (approved or refused) in [start, end]: the check is what
        changes it; read again while pages shift, as orders are."""
        return self.read_while_shifting(lambda: self._read_refunds(shop, start, end), f"refunds {start}..{end}: ")

    def refund(self, shop, raw: dict) -> PlatformRefund:
        missing = missing_field(raw, ("id", "orderId", "skuId", "applyRefundSum", "status", "applyTime"))
        if missing:  # held, naming the field, rather than failing every pull
            return broken_refund("jd", shop.shop, raw, "id", missing)
        fen = amount(raw, "applyRefundSum")  # in fen (UNCONFIRMED, section 2.6)
        return PlatformRefund(
            platform="jd", shop=shop.shop, refund_id=str(raw["id"]), external_order_id=str(raw["orderId"]),
            line_id=str(raw["skuId"]), amount=cents(fen / 100), status=REFUND_STATUS.get(str(raw["status"]), "waiting"),
            goods_return=str(raw.get("hasGoodsReturn")).lower() == "true", platform_status=str(raw["status"]),
            modified=_time(raw.get("checkTime") or raw["applyTime"]), raw=raw)

    def normalize(self, shop, raw: dict) -> PlatformOrder:
        missing = (missing_field(raw, REQUIRED, ("itemInfoList",), LINE_REQUIRED)
                   or missing_field(raw, (), ("couponDetailList",), COUPON_REQUIRED))
        if missing:  # held, naming the field, rather than failing the whole pull
            return broken_order("jd", shop.shop, raw, ("orderId",), _time_or_now(raw.get("modified")),
                                "missing_field", f"the order has no {missing}")
        items = raw.get("itemInfoList") or []
        coupons = raw.get("couponDetailList") or []
        goods = [cents(amount(i, "jdPrice") * int(i["itemTotal"])) for i in items]
        own = [Decimal(0)] * len(items)  # a SKU's own coupons, split over its lines (one SKU may be on several)
        for sku in {str(i["skuId"]) for i in items}:
            at = [n for n, i in enumerate(items) if str(i["skuId"]) == sku]
            total = sum((amount(c, "couponPrice") for c in coupons if str(c.get("skuId") or "") == sku), Decimal(0))
            for n, part in zip(at, allocate([goods[n] for n in at], total) if len(at) > 1 else [total]):
                own[n] = part
        order_level = sum((amount(c, "couponPrice") for c in coupons if not c.get("skuId")), Decimal(0))
        net = [g - o for g, o in zip(goods, own)]
        discount = allocate(net, order_level)
        freight = allocate(goods, amount(raw, "freightPrice"))
        refund = "requested" if raw.get("orderState") == "LOCKED" or raw.get("returnOrder") == "1" else None
        lines = [PlatformLine(line_id=line_id, outer_sku=i.get("outerSkuId") or i["skuId"],
                              quantity=int(i["itemTotal"]), price=amount(i, "jdPrice"),
                              paid=n - d + f, shipping=f, refund_status=refund)
                 for i, line_id, n, d, f in zip(items, _line_ids(items), net, discount, freight)]
        consignee = raw.get("consigneeInfo") or {}
        return PlatformOrder(
            platform="jd", shop=shop.shop, external_order_id=str(raw["orderId"]), modified=_time(raw["modified"]),
            status=STATUS.get(raw.get("orderState"), "paid"), paid_total=amount(raw, "orderPayment"), lines=lines,
            buyer={"external_id": raw.get("pin", ""), "name": consignee.get("fullname", ""),
                   "phone": consignee.get("mobile", "")},
            address={"recipient": consignee.get("fullname", ""), "phone": consignee.get("mobile", ""),
                     "province": consignee.get("province", ""), "city": consignee.get("city", ""),
                     "district": consignee.get("county", ""), "street": consignee.get("fullAddress", "")},
            buyer_message=str(raw.get("orderRemark") or ""), raw=raw)

    def confirm_shipment(self, shop, external_order_id: str, carrier: str, tracking: str, line_ids: list) -> None:
        """One shipment per JD order. An order shipped in parcels comes once, with every parcel: `carrier`
        and `tracking` as JD takes several (carriers `|`-separated, each carrier's waybills `,`-separated
        in the same order: "ZTO|SF" and "T1,T2|T3"). JD's shipment names no lines."""
        carriers = carrier.upper().split("|")
        unknown = [c for c in carriers if c not in CARRIERS]
        if unknown:
            raise PlatformError(f"no JD carrier id for carrier {unknown[0]!r}")
        body = self.call(shop, "jingdong.pop.order.shipment", {
            "orderId": int(external_order_id), "logiCoprId": "|".join(CARRIERS[c] for c in carriers), "logiNo": tracking})
        result = body["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]
        if str(result.get("success")).lower() != "true" and "已出库" not in str(result.get("chineseErrCode")):
            raise PlatformError(f"JD shipment refused: {result.get('chineseErrCode') or result.get('englishErrCode')}")

    def push_stock(self, shop, platform_ref: str, quantity: int) -> None:
        body = self.call(shop, "jingdong.stock.write.updateSkuStock", {"skuId": int(platform_ref),
                                                                       "stockNum": quantity})
        if str(body["jingdong_stock_write_updateSkuStock_response"].get("success")).lower() != "true":
            raise Transient("JD refused the stock update")

    def platform_refs(self, order: PlatformOrder) -> dict[str, str]:
        """outer SKU -> JD skuId, learned from pulled orders (for stock pushes)."""
        return {i.get("outerSkuId") or i["skuId"]: i["skuId"] for i in order.raw.get("itemInfoList") or []}
