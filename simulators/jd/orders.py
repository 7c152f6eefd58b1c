"""The JD simulator's state: shops and tokens, the simulator clock, orders (generation, changes, search),
shipments and stock pushes. Pure Python, no HTTP: app.py serves it.

Amount rule (every generated order obeys it; see allocate()):
  line goods  g_i = jdPrice_i * itemTotal_i;                orderTotalPrice = sum(g_i)
  couponDetailList: "30-单品促销优惠" entries carry the skuId of their line (line discounts);
                    every other type ("100-店铺优惠", "41-京东券优惠") has skuId "" (order-level discounts)
  sellerDiscount   = sum of the seller-funded coupons (types 30 and 100), already inside couponDetailList
  orderSellerPrice = orderTotalPrice - sellerDiscount
  orderPayment     = orderTotalPrice - sum(all couponDetailList.couponPrice) + freightPrice
"""
from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from simulators import CENT, amount, money
from simulators.jd import fmt_time

STATE_REMARKS = {
    "WAIT_BUYER_PAY": "等待付款",  # simulator-only: not in JD's documented list
    "WAIT_SELLER_STOCK_OUT": "等待出库",
    "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
    "WAIT_SELLER_DELIVERY": "等待发货",
    "POP_ORDER_PAUSE": "暂停",
    "FINISHED_L": "完成",
    "TRADE_CANCELED": "取消",
    "LOCKED": "已锁定",
    "WAIT_SEND_CODE": "等待发码",
}
# accepted in order_state filters (third-party lists use them) but never produced
EXTRA_FILTER_STATES = ("PAUSE", "RECEIPT_CONFIRM", "TRADE_CLOSED", "TRADE_REFUNDED")
KNOWN_STATES = frozenset(STATE_REMARKS) | frozenset(EXTRA_FILTER_STATES)

UNSHIPPED = ("WAIT_BUYER_PAY", "WAIT_SELLER_STOCK_OUT")
PAID = ("WAIT_SELLER_STOCK_OUT", "WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L")
SHIPPED = ("WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L")

SKU_PROMO = "30-单品促销优惠"  # seller-funded, per line (the only type with a skuId)
SHOP_DISCOUNT = "100-店铺优惠"  # seller-funded, order level
JD_COUPON = "41-京东券优惠"  # platform-funded, order level
SELLER_FUNDED = (SKU_PROMO, SHOP_DISCOUNT)

# a refund application's status (UNCONFIRMED numbering, docs/EXTERNAL_APIS.md section 2.6): 0 未审核,
# 1 审核通过, 2 审核不通过
REFUND_STATUS = {"waiting": "0", "success": "1", "closed": "2"}
ACTIONS = ("pay", "cancel", "refund", "address", "finish", "remark")
CHURN_WEIGHTS = {"pay": 3, "address": 2, "finish": 2, "cancel": 1, "refund": 1, "remark": 1}

ADDRESSES = [
    ("广东", "广州市", "海珠区", "赤岗街道", "新港中路397号"),
    ("北京", "北京市", "朝阳区", "建外街道", "建国路88号"),
    ("上海", "上海市", "浦东新区", "陆家嘴街道", "世纪大道100号"),
    ("浙江", "杭州市", "西湖区", "西溪街道", "文三路478号"),
    ("江苏", "南京市", "鼓楼区", "宁海路街道", "北京西路2号"),
    ("四川", "成都市", "武侯区", "玉林街道", "人民南路四段1号"),
    ("湖北", "武汉市", "洪山区", "珞南街道", "珞喻路1037号"),
]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "晓明", "海燕"]
BUYER_REMARKS = ["", "", "", "", "请尽快发货", "不要放快递柜", "送礼用，不要放价签"]
SOURCES = ["移动端订单", "移动端订单", "PC订单", "微信订单"]


class SimError(Exception):
    """A refused admin or business operation: status for the admin API, message for the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def normalise(config: dict) -> dict:
    """Check a config and canonicalise shops and catalogues. ValueError on nonsense."""
    shops = config.get("shops")
    if not isinstance(shops, list) or not shops:
        raise ValueError("shops must be a non-empty list")
    names, tokens, venders = set(), set(), set()
    for s in shops:
        for key in ("shop", "venderId", "access_token", "refresh_token"):
            if not isinstance(s.get(key), (str, int)) or str(s[key]) == "":
                raise ValueError(f"every shop needs {key}")
            s[key] = str(s[key])
        s["token_seconds"] = float(s.get("token_seconds", 86400))
        if s["shop"] in names or s["access_token"] in tokens or s["venderId"] in venders:
            raise ValueError("shop names, venderIds and access_tokens must be unique")
        names.add(s["shop"]), tokens.add(s["access_token"]), venders.add(s["venderId"])
        if "catalogue" in s:
            s["catalogue"] = _catalogue(s["catalogue"])
    config["catalogue"] = _catalogue(config.get("catalogue", []))
    if config.get("timestamp_check") not in ("sim", "wall", "either"):
        raise ValueError("timestamp_check must be 'sim', 'wall' or 'either'")
    unknown = set(config.get("blank_consignee_states", [])) - set(STATE_REMARKS)
    if unknown:
        raise ValueError(f"blank_consignee_states: unknown states {sorted(unknown)}")
    return config


def _catalogue(items) -> list[dict]:
    if not isinstance(items, list):
        raise ValueError("catalogue must be a list")
    out = []
    for it in items:
        sku = {k: str(it.get(k, "") or "") for k in ("skuId", "outerSkuId", "wareId", "skuName")}
        if not sku["skuId"]:
            raise ValueError("every catalogue item needs a skuId")
        price = amount(it.get("jdPrice"))
        if price <= 0:
            raise ValueError(f"sku {sku['skuId']}: jdPrice must be > 0")
        out.append({**sku, "jdPrice": money(price)})
    return out


def allocate(info: dict) -> list[dict]:
    """Split an order's discounts and freight onto its lines, as documented in simulators/README.md.

    info is an OrderSearchInfo dict (strings). Per line i (in itemInfoList order):
      goods_i    = jdPrice_i * itemTotal_i
      sku_i      = sum of couponDetailList entries whose skuId is the line's skuId
      order_i    = share of the order-level coupons (skuId ""), pro rata to (goods_i - sku_i)
      freight_i  = share of freightPrice, pro rata to goods_i
      payment_i  = goods_i - sku_i - order_i + freight_i
    A share is rounded half-up to 0.01 on every line but the last; the last line takes the remainder,
    so sum(payment_i) == orderPayment exactly.
    """
    lines = info["itemInfoList"]
    goods = [Decimal(it["jdPrice"]) * int(it["itemTotal"]) for it in lines]
    coupons = info.get("couponDetailList") or []
    sku = [sum((Decimal(c["couponPrice"]) for c in coupons if c["skuId"] and c["skuId"] == it["skuId"]),
               Decimal("0")) for it in lines]
    order_level = sum((Decimal(c["couponPrice"]) for c in coupons if not c["skuId"]), Decimal("0"))
    net = [g - s for g, s in zip(goods, sku)]
    order_share = _pro_rata(order_level, net)
    freight_share = _pro_rata(Decimal(info["freightPrice"]), goods)
    return [{"skuId": it["skuId"], "goods": money(g), "sku_discount": money(s), "order_discount": money(o),
             "freight": money(f), "payment": money(g - s - o + f)}
            for it, g, s, o, f in zip(lines, goods, sku, order_share, freight_share)]


def _pro_rata(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    base = sum(weights, Decimal("0"))
    if not weights:
        return []
    if base == 0:
        return [Decimal("0.00")] * (len(weights) - 1) + [total]
    shares = [(total * w / base).quantize(CENT, ROUND_HALF_UP) for w in weights[:-1]]
    return shares + [total - sum(shares, Decimal("0"))]


class JdState:
    """Everything the simulator holds, guarded by one lock. clock is the wall clock (injectable);
    the simulator clock is clock() + offset, moved by advance()."""

    def __init__(self, config: dict, clock: Callable[[], float] = time.time):
        self.wall = clock
        self.lock = threading.RLock()
        self._initial = normalise(copy.deepcopy(config))
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = copy.deepcopy(self._initial)
            self.offset = 0.0
            now = self.now()
            self.shops: dict[str, dict] = {}
            for s in self.config["shops"]:
                self.shops[s["shop"]] = {**s, "expires_at": now + s["token_seconds"], "older": {}}
            self.orders: dict[str, dict] = {}
            self.next_id = int(self.config["order_id_start"])
            self.shipments: list[dict] = []
            self.stock: list[dict] = []
            self.refunds: dict[str, dict] = {}
            self.next_refund = 90000001
            self.stats = {"router_calls": 0, "by_method": {}, "gateway_errors": {}, "business_errors": 0,
                          "refreshes": 0, "refresh_refused": 0, "generated": 0, "changes": 0,
                          "shipments": 0, "shipments_refused": 0, "stock_pushes": 0, "stock_refused": 0,
                          "shift_events": []}

    # ------------------------------------------------------------ clock
    def now(self) -> float:
        return self.wall() + self.offset

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.offset += seconds
            return self.now()

    # ------------------------------------------------------------ shops and tokens
    def shop(self, name: str) -> dict:
        found = self.shops.get(name)
        if not found:
            raise SimError(404, f"unknown shop {name!r}; known: {sorted(self.shops)}")
        return found

    def shop_by_token(self, token: str | None) -> dict | None:
        """The shop whose access token this is and is still valid on the simulator clock, else None."""
        with self.lock:
            for s in self.shops.values():
                if token and s["access_token"] == token:
                    return s if s["expires_at"] > self.now() else None
                if token and token in s["older"]:
                    return s if s["older"][token] > self.now() else None
            return None

    def refresh(self, app_key: str, app_secret: str, refresh_token: str) -> dict:
        """A new access token for the shop holding refresh_token, valid token_seconds. With refresh_rotates
        (default) the old access token stops working at once and the refresh token is replaced; without it
        the old access token lives until its own expiry and the refresh token stays."""
        with self.lock:
            if app_key != self.config["app_key"] or app_secret != self.config["app_secret"]:
                self.stats["refresh_refused"] += 1
                raise SimError(401, "app_key或app_secret无效")
            shop = next((s for s in self.shops.values() if refresh_token and s["refresh_token"] == refresh_token), None)
            if not shop:
                self.stats["refresh_refused"] += 1
                raise SimError(402, "refresh_token无效或已过期")
            if not self.config["refresh_rotates"]:
                shop["older"][shop["access_token"]] = shop["expires_at"]
            shop["access_token"] = "jdsim-at-" + uuid.uuid4().hex
            if self.config["refresh_rotates"]:
                shop["refresh_token"] = "jdsim-rt-" + uuid.uuid4().hex
            shop["expires_at"] = self.now() + shop["token_seconds"]
            self.stats["refreshes"] += 1
            return shop

    def tokens(self) -> list[dict]:
        with self.lock:
            return [{"shop": s["shop"], "venderId": s["venderId"], "access_token": s["access_token"],
                     "refresh_token": s["refresh_token"], "expires_at": fmt_time(s["expires_at"]),
                     "expired": s["expires_at"] <= self.now()} for s in self.shops.values()]

    def catalogue(self, shop: dict) -> list[dict]:
        return shop.get("catalogue") or self.config["catalogue"]

    # ------------------------------------------------------------ orders
    def _new_id(self, rng: random.Random) -> str:
        oid = self.next_id
        self.next_id += 1 + rng.randrange(40)
        return str(oid)

    def generate(self, shop_name: str, count: int, seed: int, paid_ratio: float | None = None) -> list[str]:
        """count new orders for the shop, reproducible from seed (given the same history of ids).

        Every new order has modified = now (so all of one call share a second); creation times go back
        in groups of 1-3 orders per second; paid orders were paid between creation and now."""
        with self.lock:
            shop = self.shop(shop_name)
            cat = self.catalogue(shop)
            if not cat:
                raise SimError(409, f"shop {shop_name} has no catalogue")
            rng = random.Random(seed)
            paid = self.config["paid_ratio"] if paid_ratio is None else paid_ratio
            now = int(self.now())
            created, t = [], now
            while len(created) < count:
                t -= rng.randint(0, 3) if not created else rng.randint(1, 90)
                created.extend([t] * min(rng.randint(1, 3), count - len(created)))
            ids = []
            for start in sorted(created):
                order = self._make(shop, cat, rng, start, now, rng.random() >= paid)
                self.orders[order["orderId"]] = order
                ids.append(order["orderId"])
            self.stats["generated"] += len(ids)
            return ids

    def _make(self, shop: dict, cat: list[dict], rng: random.Random, created: int, now: int, unpaid: bool,
              state: str | None = None) -> dict:
        oid = self._new_id(rng)
        items = []
        for sku in rng.sample(cat, min(rng.choice([1, 1, 2, 2, 3]), len(cat))):
            items.append({**sku, "qty": rng.choice([1, 1, 1, 2, 3])})
        goods = [Decimal(it["jdPrice"]) * it["qty"] for it in items]
        coupons = []
        for it, g in zip(items, goods):
            if rng.random() < 0.3:
                d = (g * rng.choice([Decimal("0.05"), Decimal("0.10"), Decimal("0.15")])).quantize(CENT, ROUND_HALF_UP)
                if d > 0:
                    coupons.append({"skuId": it["skuId"], "couponType": SKU_PROMO, "couponPrice": d})
        net = sum(goods, Decimal("0")) - sum((c["couponPrice"] for c in coupons), Decimal("0"))
        if rng.random() < 0.3:
            d = Decimal(rng.choice([5, 10, 20]))
            if d <= net * Decimal("0.3"):
                coupons.append({"skuId": "", "couponType": SHOP_DISCOUNT, "couponPrice": d})
                net -= d
        if rng.random() < 0.25:
            d = Decimal(rng.choice([3, 5, 10]))
            if d <= net * Decimal("0.3"):
                coupons.append({"skuId": "", "couponType": JD_COUPON, "couponPrice": d})
        freight = Decimal(rng.choice([6, 8, 10, 12])) if rng.random() < 0.35 else Decimal("0")
        state = state or ("WAIT_BUYER_PAY" if unpaid else "WAIT_SELLER_STOCK_OUT")
        paid = None if state == "WAIT_BUYER_PAY" else min(now, created + rng.choice([0, 0, 0, 1, 5, 30]))
        return {"orderId": oid, "shop": shop["shop"], "venderId": shop["venderId"], "state": state,
                "created": created, "paid": paid, "modified": now, "ended": None, "items": items,
                "coupons": coupons, "freight": freight, "consignee": self._consignee(rng),
                "pin": "jd_" + "".join(rng.choice("0123456789abcdef") for _ in range(10)),
                "orderRemark": rng.choice(BUYER_REMARKS), "venderRemark": "", "returnOrder": "0",
                "waybill": "", "logisticsId": "", "orderSource": rng.choice(SOURCES)}

    @staticmethod
    def _consignee(rng: random.Random, other: dict | None = None) -> dict:
        while True:
            prov, city, county, town, street = rng.choice(ADDRESSES)
            full = f"{prov}{city}{county}{town}{street}{rng.randint(1, 30)}栋{rng.randint(1, 32)}{rng.randint(1, 4):02d}"
            if not other or other["fullAddress"] != full:
                break
        digits = "".join(rng.choice("0123456789") for _ in range(8))
        mobile = "1" + rng.choice(["38", "39", "58", "86", "36", "77"]) + digits
        return {"fullname": rng.choice(SURNAMES) + rng.choice(GIVEN), "telephone": rng.choice([mobile, mobile, ""]),
                "mobile": mobile, "fullAddress": full, "province": prov, "city": city, "county": county, "town": town}

    def order(self, order_id: str) -> dict:
        found = self.orders.get(str(order_id))
        if not found:
            raise SimError(404, f"订单{order_id}不存在")
        return found

    def change(self, order_id: str, action: str, rng: random.Random | None = None) -> dict:
        """Apply one admin change; modified becomes the simulator clock. SimError(409) if not allowed."""
        with self.lock:
            o = self.order(order_id)
            state, now = o["state"], int(self.now())
            rng = rng or random.Random(f"{order_id}:{action}:{now}")
            if action not in ACTIONS:
                raise SimError(422, f"unknown action {action!r}; known: {list(ACTIONS)}")
            if not self.allowed(o, action):
                raise SimError(409, f"订单{order_id}状态为{state}，不能{action}")
            if action == "pay":
                o["state"], o["paid"] = "WAIT_SELLER_STOCK_OUT", now
            elif action == "cancel":
                o["state"], o["ended"] = "TRADE_CANCELED", now
            elif action == "refund":
                o["state"], o["returnOrder"] = "LOCKED", "1"
            elif action == "address":
                o["consignee"] = self._consignee(rng, o["consignee"])
            elif action == "finish":
                o["state"], o["ended"] = "FINISHED_L", now
            elif action == "remark":
                o["venderRemark"] = f"备注{fmt_time(now)}"
            o["modified"] = now
            self.stats["changes"] += 1
            return o

    @staticmethod
    def allowed(o: dict, action: str) -> bool:
        state = o["state"]
        return {"pay": state == "WAIT_BUYER_PAY", "cancel": state in UNSHIPPED, "refund": state in PAID,
                "address": state in UNSHIPPED, "finish": state == "WAIT_GOODS_RECEIVE_CONFIRM",
                "remark": True}[action]

    def churn(self, shop_name: str, count: int, seed: int) -> list[dict]:
        """count random changes on the shop's orders (an order may change more than once)."""
        with self.lock:
            self.shop(shop_name)
            rng = random.Random(seed)
            mine = sorted((o for o in self.orders.values() if o["shop"] == shop_name), key=lambda o: int(o["orderId"]))
            done = []
            for _ in range(count):
                options = [(o, a) for o in mine for a in CHURN_WEIGHTS if a != "remark" and self.allowed(o, a)]
                if not options:
                    options = [(o, "remark") for o in mine]
                if not options:
                    break
                o, action = rng.choices(options, weights=[CHURN_WEIGHTS[a] for _, a in options])[0]
                self.change(o["orderId"], action, rng)
                done.append({"orderId": o["orderId"], "action": action, "orderState": o["state"]})
            return done

    def insert_now(self, shop: dict, state: str) -> dict:
        """A brand-new order created and modified now (used by the shift_pages fault)."""
        with self.lock:
            rng = random.Random(self.next_id)
            now = int(self.now())
            order = self._make(shop, self.catalogue(shop), rng, now, now, False, state=state)
            self.orders[order["orderId"]] = order
            self.stats["generated"] += 1
            return order

    # ------------------------------------------------------------ search
    def matching(self, shop: dict, states: set[str], start: float | None, end: float | None, by_created: bool,
                 desc: bool) -> list[dict]:
        key = "created" if by_created else "modified"
        with self.lock:
            found = [o for o in self.orders.values() if o["shop"] == shop["shop"]
                     and (not states or o["state"] in states)
                     and (start is None or o[key] >= start) and (end is None or o[key] <= end)]
        return sorted(found, key=lambda o: (o[key], int(o["orderId"])), reverse=desc)

    # ------------------------------------------------------------ rendering
    def render(self, o: dict, fields: set[str] | None = None) -> dict:
        """An order as OrderSearchInfo: every value a string (amounts with 2 decimals)."""
        goods = sum((Decimal(it["jdPrice"]) * it["qty"] for it in o["items"]), Decimal("0"))
        all_coupons = sum((c["couponPrice"] for c in o["coupons"]), Decimal("0"))
        seller = sum((c["couponPrice"] for c in o["coupons"] if c["couponType"] in SELLER_FUNDED), Decimal("0"))
        consignee = dict(o["consignee"])
        if o["state"] in self.config["blank_consignee_states"]:
            consignee = {k: "" for k in consignee}
        items = []
        for it in o["items"]:
            line = {"skuId": it["skuId"], "outerSkuId": it["outerSkuId"], "skuName": it["skuName"],
                    "jdPrice": it["jdPrice"], "itemTotal": str(it["qty"]), "wareId": it["wareId"], "giftPoint": "0",
                    "productNo": "", "newStoreId": "0"}
            if not it["outerSkuId"]:
                del line["outerSkuId"]  # JD leaves it out when the seller set none
            items.append(line)
        info = {
            "orderId": o["orderId"], "venderId": o["venderId"], "orderType": "22", "payType": "4-在线支付",
            "orderTotalPrice": money(goods), "orderSellerPrice": money(goods - seller),
            "orderPayment": money(goods - all_coupons + o["freight"]), "freightPrice": money(o["freight"]),
            "sellerDiscount": money(seller), "balanceUsed": "0.00", "orderState": o["state"],
            "orderStateRemark": STATE_REMARKS[o["state"]], "deliveryType": "任意时间", "invoiceInfo": "不需要开具发票",
            "orderRemark": o["orderRemark"], "orderStartTime": fmt_time(o["created"]),
            "orderEndTime": fmt_time(o["ended"]) if o["ended"] else "",
            "paymentConfirmTime": fmt_time(o["paid"]) if o["paid"] else "",
            "modified": fmt_time(o["modified"]), "venderRemark": o["venderRemark"], "pin": o["pin"],
            "returnOrder": o["returnOrder"], "waybill": o["waybill"], "logisticsId": o["logisticsId"],
            "orderSource": o["orderSource"], "consigneeInfo": consignee, "itemInfoList": items,
            "couponDetailList": [{"orderId": o["orderId"], "skuId": c["skuId"], "couponType": c["couponType"],
                                  "couponPrice": money(c["couponPrice"])} for c in o["coupons"]],
        }
        if fields:
            info = {k: v for k, v in info.items() if k in fields}
        return info

    def all_orders(self, shop_name: str | None = None) -> list[dict]:
        with self.lock:
            return [self.render(o) for o in sorted(self.orders.values(), key=lambda o: int(o["orderId"]))
                    if not shop_name or o["shop"] == shop_name]

    # ------------------------------------------------------------ refunds (docs/EXTERNAL_APIS.md section 2.6)
    def open_refund(self, order_id: str, sku_id: str, fee: Decimal | None = None, has_good_return: bool = False,
                    reason: str = "") -> dict:
        """A buyer's refund application on one SKU line of a paid order, waiting for the seller's check.
        `fee` defaults to the line's share of what the buyer paid (simulators/README.md allocation)."""
        with self.lock:
            o = self.order(order_id)
            if o["state"] not in PAID and o["state"] != "LOCKED":
                raise SimError(409, f"订单{order_id}状态为{o['state']}，不能申请退款")
            shares = {a["skuId"]: Decimal(a["payment"]) for a in allocate(self.render(o))}
            if str(sku_id) not in shares:
                raise SimError(404, f"订单{order_id}没有商品{sku_id}")
            if any(r["orderId"] == o["orderId"] and r["skuId"] == str(sku_id) and r["status"] != "closed"
                   for r in self.refunds.values()):
                raise SimError(409, f"订单{order_id}商品{sku_id}已有退款申请")
            fee = shares[str(sku_id)] if fee is None else fee
            if not Decimal(0) < fee <= shares[str(sku_id)]:
                raise SimError(409, f"退款金额须大于0且不超过{shares[str(sku_id)]}")
            now = int(self.now())
            refund_id = str(self.next_refund)
            self.next_refund += 1
            self.refunds[refund_id] = {
                "id": refund_id, "orderId": o["orderId"], "shop": o["shop"], "skuId": str(sku_id), "fee": fee,
                "has_good_return": has_good_return, "status": "waiting", "applyTime": now, "checkTime": None,
                "shipped": o["state"] in SHIPPED, "reason": reason or "其他", "pin": o["pin"]}
            return self.refunds[refund_id]

    def settle_refund(self, refund_id: str, status: str) -> dict:
        """The seller's check of a waiting application: success (审核通过) or closed (审核不通过)."""
        with self.lock:
            r = self.refunds.get(str(refund_id))
            if r is None:
                raise SimError(404, f"退款单{refund_id}不存在")
            if status not in ("success", "closed") or r["status"] != "waiting":
                raise SimError(409, f"退款单{refund_id}状态为{r['status']}，只有待审核的退款单可以审核为success或closed")
            r["status"], r["checkTime"] = status, int(self.now())
            return r

    def render_refund(self, r: dict) -> dict:
        """A refund application as jingdong.pop.afs.soa.refundapply.queryPageList lists it (showSku)."""
        return {"id": int(r["id"]), "orderId": r["orderId"], "buyerId": r["pin"], "buyerName": r["pin"],
                "applyTime": fmt_time(r["applyTime"]), "checkTime": fmt_time(r["checkTime"]) if r["checkTime"] else "",
                "applyRefundSum": int(r["fee"] * 100), "status": REFUND_STATUS[r["status"]], "reason": r["reason"],
                "skuId": r["skuId"], "hasGoodsReturn": r["has_good_return"], "orderState": self.orders[r["orderId"]]["state"]}

    def refunds_matching(self, shop: dict, status: str | None, order_id: str | None, apply_window: tuple,
                         check_window: tuple) -> list[dict]:
        def within(value, window) -> bool:
            lo, hi = window
            return (lo is None or (value is not None and value >= lo)) and (hi is None or (value is not None and value <= hi))
        with self.lock:
            found = [r for r in self.refunds.values() if r["shop"] == shop["shop"]
                     and (status is None or REFUND_STATUS[r["status"]] == status)
                     and order_id in (None, r["orderId"])
                     and within(r["applyTime"], apply_window) and within(r["checkTime"], check_window)]
        return sorted(found, key=lambda r: (r["checkTime"] or r["applyTime"], int(r["id"])), reverse=True)

    # ------------------------------------------------------------ shipment and stock
    def ship(self, shop: dict, order_id: str, logi_copr_id: str, logi_no: str) -> tuple[bool, str, str, str]:
        """(success, chineseErrCode, englishErrCode, errorCode); on success the order is shipped."""
        with self.lock:
            o = self.orders.get(order_id)
            if not o or o["shop"] != shop["shop"]:
                return self._refuse_ship(f"订单{order_id}不存在或不属于当前商家", "order not found", "10401")
            if o["state"] in SHIPPED:
                return self._refuse_ship(f"订单{order_id}已出库，不能重复发货", "order has already been shipped", "10402")
            if o["state"] != "WAIT_SELLER_STOCK_OUT":
                why = {"WAIT_BUYER_PAY": "未付款", "TRADE_CANCELED": "已取消", "LOCKED": "已锁定"}.get(o["state"], o["state"])
                return self._refuse_ship(f"订单{order_id}{why}，不能发货", f"order state {o['state']} cannot be shipped",
                                         "10403")
            now = int(self.now())
            o["state"], o["modified"] = "WAIT_GOODS_RECEIVE_CONFIRM", now
            o["waybill"], o["logisticsId"] = logi_no, logi_copr_id
            self.shipments.append({"shop": shop["shop"], "orderId": order_id, "logiCoprId": logi_copr_id,
                                   "logiNo": logi_no, "parcels": parcels_of(logi_copr_id, logi_no),
                                   "at": fmt_time(now)})
            self.stats["shipments"] += 1
            return True, "", "", ""

    def _refuse_ship(self, zh: str, en: str, code: str) -> tuple[bool, str, str, str]:
        self.stats["shipments_refused"] += 1
        return False, zh, en, code

    def push_stock(self, shop: dict, sku_id: str, stock_num: int) -> bool:
        with self.lock:
            sku = next((s for s in self.catalogue(shop) if s["skuId"] == sku_id), None)
            if sku is None or stock_num < 0:
                self.stats["stock_refused"] += 1
                return False
            self.stock.append({"shop": shop["shop"], "skuId": sku_id, "outerSkuId": sku["outerSkuId"],
                               "stockNum": stock_num, "at": fmt_time(self.now())})
            self.stats["stock_pushes"] += 1
            return True


def parcels_of(logi_copr_id: str, logi_no: str) -> list[dict]:
    """The parcels one JD shipment names: carriers `|`-separated, each carrier's waybills `,`-separated
    in the same order (docs/EXTERNAL_APIS.md 2.4), one {logiCoprId, logiNo} per waybill."""
    coprs, groups = logi_copr_id.split("|"), logi_no.split("|")
    return [{"logiCoprId": c, "logiNo": w.strip()} for c, g in zip(coprs, groups) for w in g.split(",") if w.strip()]
