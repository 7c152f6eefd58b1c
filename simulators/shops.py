"""Platform-neutral core of the shop simulators (Taobao TOP, JD JOS): clock, orders, changes, shipments, stock, tokens,
faults and the admin API under /__sim.

Nothing here knows a platform's field names or status words: an `Order` keeps neutral facts (lines, prices,
discounts, neutral status) and each platform app renders it in its own JSON (`render` passed to `admin_router`).

Money: Decimal everywhere, 2 decimals. A line pays `price * qty + adjust - discount`; the order pays the sum of its
lines + `post_fee` - `order_discount`. The order discount is allocated to lines by `allocate` (largest remainder, see
there), so `sum(line.payment - share) + post_fee == order.payment` exactly.

Times: whole seconds of the simulator clock (`SimClock`: a base clock plus an offset moved by POST /__sim/clock),
shown as `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (UTC+8, no daylight saving) by `local_time`.
"""
from __future__ import annotations

import copy
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from simulators import JSON, amount, money
from simulators.faults import Switchboard

CN_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
CENT = Decimal("0.01")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# ---------------------------------------------------------------- time
def local_time(ts: float) -> str:
    """Epoch seconds -> 'yyyy-MM-dd HH:mm:ss' in Asia/Shanghai."""
    return datetime.fromtimestamp(int(ts), CN_TZ).strftime(TIME_FORMAT)


def parse_local_time(text: Any) -> int:
    """'yyyy-MM-dd HH:mm:ss' (Asia/Shanghai) -> epoch seconds; ValueError for anything else."""
    if not isinstance(text, str) or len(text) != 19:
        raise ValueError(f"time {text!r} is not yyyy-MM-dd HH:mm:ss")
    return int(datetime.strptime(text, TIME_FORMAT).replace(tzinfo=CN_TZ).timestamp())


class SimClock:
    """The simulator clock: base() + offset. `advance` moves it forward (or back) for every later reading."""

    def __init__(self, base: Callable[[], float] = time.time):
        self.base = base
        self.offset = 0.0

    def __call__(self) -> float:
        return self.base() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def second(self) -> int:
        """Now, in whole seconds (the resolution of every order time)."""
        return int(math.floor(self()))


# ---------------------------------------------------------------- money
def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` (cents) across `weights` in proportion, by the largest-remainder rule.

    Each share is first rounded down to the cent; the cents still missing go, one each, to the shares with the
    largest dropped remainder (ties: the earlier line). So the shares add up to `total` exactly, and no share
    exceeds its weight when total <= sum(weights). All-zero weights split evenly the same way.
    """
    n = len(weights)
    if n == 0:
        return []
    weights = [Decimal(w) for w in weights]
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [Decimal(1)] * n, Decimal(n)
    exact = [total * w / whole for w in weights]
    shares = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
    missing = int((total - sum(shares)) / CENT)
    order = sorted(range(n), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:missing]:
        shares[i] += CENT
    return shares


# ---------------------------------------------------------------- catalogue
def normalise_catalogue(entries: Any) -> list[dict]:
    """Catalogue rows: {outer_sku_id, price} required; item_id, sku_id, outer_item_id, title derived when absent.

    Rows with the same outer_item_id belong to one item (one item_id). Ids are stable for a given catalogue.
    """
    if not isinstance(entries, list) or not entries:
        raise ValueError("catalogue must be a non-empty list of {outer_sku_id, price, ...}")
    out, seen, item_ids = [], set(), {}
    for i, row in enumerate(entries):
        if not isinstance(row, dict) or not row.get("outer_sku_id") or "price" not in row:
            raise ValueError(f"catalogue[{i}] needs outer_sku_id and price")
        sku = str(row["outer_sku_id"])
        if sku in seen:
            raise ValueError(f"catalogue: outer_sku_id {sku} appears twice")
        seen.add(sku)
        price = amount(row["price"])
        if price <= 0:
            raise ValueError(f"catalogue: price of {sku} must be > 0")
        outer_item = str(row.get("outer_item_id") or sku.rsplit("-", 1)[0])
        item_id = int(row.get("item_id") or item_ids.get(outer_item) or 600000000001 + len(item_ids))
        item_ids.setdefault(outer_item, item_id)
        out.append({"outer_sku_id": sku, "price": money(price), "outer_item_id": outer_item, "item_id": item_id,
                    "sku_id": str(row.get("sku_id") or 5000000000001 + i), "title": str(row.get("title") or sku)})
    return out


# ---------------------------------------------------------------- orders
UNPAID, PAID, PART_SHIPPED, SHIPPED, CLOSED = "unpaid", "paid", "part_shipped", "shipped", "closed"
REFUND_NONE, REFUND_REQUESTED, REFUND_DONE = "none", "requested", "refunded"
# a refund record's own state (the platform's after-sales record, apart from the line's refund flag)
REFUND_WAITING, REFUND_SUCCESS, REFUND_CLOSED = "waiting", "success", "closed"
ACTIONS = ("pay", "cancel", "refund", "address")


class Refused(Exception):
    """A change or shipment the order's state does not allow. `reason` is a neutral word the platform maps."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass
class Line:
    line_id: int
    item_id: int
    sku_id: str
    outer_item_id: str
    outer_sku_id: str
    title: str
    price: Decimal
    qty: int
    discount: Decimal = Decimal("0.00")  # line-level (item) discount
    adjust: Decimal = Decimal("0.00")  # seller's manual adjustment, added
    share: Decimal = Decimal("0.00")  # allocated part of the order-level discount
    shipped_at: int | None = None
    carrier: str | None = None
    waybill: str | None = None
    refund: str = REFUND_NONE
    refund_id: int | None = None

    @property
    def gross(self) -> Decimal:
        return self.price * self.qty

    @property
    def payment(self) -> Decimal:
        """price * qty + adjust - discount (before the order-level discount)."""
        return self.gross + self.adjust - self.discount

    @property
    def divided(self) -> Decimal:
        """What the buyer paid for this line after the order-level discount (shipping excluded)."""
        return self.payment - self.share


@dataclass
class Order:
    order_id: int
    shop: str
    buyer_nick: str
    buyer_id: str
    created: int
    modified: int
    status: str
    lines: list[Line]
    post_fee: Decimal
    order_discount: Decimal
    receiver: dict
    paid_at: int | None = None
    shipped_at: int | None = None
    closed_at: int | None = None
    closed_paid: bool = False  # closed after payment (refunded) rather than before
    mod_seq: int = 0  # order of modifications within the same second (later = higher)

    @property
    def goods_total(self) -> Decimal:
        return sum((ln.gross for ln in self.lines), Decimal("0.00"))

    @property
    def adjust(self) -> Decimal:
        return sum((ln.adjust for ln in self.lines), Decimal("0.00"))

    @property
    def line_discounts(self) -> Decimal:
        return sum((ln.discount for ln in self.lines), Decimal("0.00"))

    @property
    def payment(self) -> Decimal:
        return sum((ln.payment for ln in self.lines), Decimal("0.00")) + self.post_fee - self.order_discount

    def line(self, line_id: int) -> Line | None:
        return next((ln for ln in self.lines if ln.line_id == line_id), None)


NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷", "吴强"]
PLACES = [("浙江省", "杭州市", "西湖区", "310000"), ("上海", "上海市", "浦东新区", "200120"),
          ("广东省", "广州市", "海珠区", "510220"), ("北京", "北京市", "朝阳区", "100020"),
          ("江苏省", "南京市", "鼓楼区", "210009"), ("四川省", "成都市", "武侯区", "610041")]
STREETS = ["文三路", "世纪大道", "新港中路", "建国路", "中山北路", "人民南路"]


@dataclass
class Refund:
    """A buyer's refund (after-sales) request on one line: opened waiting for the seller, then settled as
    success (the money went back) or closed (withdrawn or refused). `modified` moves on every change."""
    refund_id: int
    order_id: int
    line_id: int
    fee: Decimal
    has_good_return: bool
    status: str
    created: int
    modified: int
    shipped: bool  # whether the line had shipped when the refund was asked for
    reason: str = ""
    mod_seq: int = 0


def random_receiver(rng: random.Random) -> dict:
    state, city, district, zip_code = rng.choice(PLACES)
    return {"name": rng.choice(NAMES), "state": state, "city": city, "district": district,
            "address": f"{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室",
            "zip": zip_code, "mobile": f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}"}


class OrderStore:
    """Every order of every shop, in creation order, plus every shipment. Not locked: the caller holds the lock."""

    def __init__(self, catalogue: list[dict], first_order_id: int, first_line_id: int):
        self.catalogue = catalogue
        self.orders: dict[int, Order] = {}
        self.shipments: list[dict] = []
        self._next_order, self._next_line = first_order_id, first_line_id
        self._next_refund = 80000000000001
        self._mod_seq = 0
        self.refunds: dict[int, Refund] = {}

    def _modified(self, order: Order, now: int) -> None:
        self._mod_seq += 1
        order.modified, order.mod_seq = now, self._mod_seq

    # ---------------------------------------------------------------- creation
    def generate(self, shop: str, count: int, seed: int, now: int, paid_ratio: float = 0.8) -> list[Order]:
        """`count` new orders with created = modified = now (they share that second): 1-3 lines each, some line
        discounts and adjustments, some order-level discounts and shipping fees; paid with probability paid_ratio."""
        rng = random.Random(f"generate:{shop}:{seed}")
        made = []
        for _ in range(count):
            picks = rng.sample(self.catalogue, min(len(self.catalogue), rng.choice((1, 1, 1, 2, 2, 3))))
            order_id = self._next_order
            self._next_order += 1
            lines = []
            for row in picks:
                qty = rng.choice((1, 1, 1, 2, 3))
                price = Decimal(row["price"])
                discount = Decimal("0.00")
                if rng.random() < 0.25:
                    discount = (price * qty * rng.choice((5, 10, 15)) / 100).quantize(CENT, ROUND_HALF_UP)
                adjust = Decimal(rng.choice(("1.00", "2.50"))) if rng.random() < 0.1 else Decimal("0.00")
                if len(picks) == 1:
                    line_id = order_id  # a single-line order's line id equals the order id (as on Taobao)
                else:
                    line_id = self._next_line
                    self._next_line += 1
                lines.append(Line(line_id, row["item_id"], row["sku_id"], row["outer_item_id"], row["outer_sku_id"],
                                  row["title"], price, qty, discount, adjust))
            lines_payment = sum((ln.payment for ln in lines), Decimal("0.00"))
            post_fee = Decimal("0.00")
            if rng.random() < 0.5:
                post_fee = Decimal(rng.choice(("6.00", "8.00", "10.00", "12.00")))
            order_discount = Decimal("0.00")
            if rng.random() < 0.35:
                cap = (lines_payment * Decimal("0.3")).quantize(CENT, ROUND_DOWN)
                order_discount = min(Decimal(rng.choice(("3.33", "5.00", "10.00", "20.00", "7.77"))), cap)
            for ln, share in zip(lines, allocate(order_discount, [ln.payment for ln in lines])):
                ln.share = share
            paid = rng.random() < paid_ratio
            order = Order(order_id=order_id, shop=shop, buyer_nick=f"tb{rng.randint(10**7, 10**8 - 1)}",
                          buyer_id=f"AAH{uuid.UUID(int=rng.getrandbits(128)).hex[:21]}", created=now, modified=now,
                          status=PAID if paid else UNPAID, lines=lines, post_fee=post_fee,
                          order_discount=order_discount, receiver=random_receiver(rng), paid_at=now if paid else None)
            self._modified(order, now)
            self.orders[order_id] = order
            made.append(order)
        return made

    # ---------------------------------------------------------------- changes
    def applicable(self, order: Order) -> list[str]:
        """The actions `change` would accept for this order now."""
        acts = []
        if order.status == UNPAID:
            acts += ["pay", "cancel", "address"]
        elif order.status == PAID:
            acts += ["cancel", "address"]
        if order.status in (PAID, PART_SHIPPED, SHIPPED) and any(ln.refund == REFUND_NONE for ln in order.lines):
            acts.append("refund")
        return [a for a in ACTIONS if a in acts]

    def change(self, order_id: int, action: str, now: int, rng: random.Random | None = None,
               line_id: int | None = None) -> Order:
        """Apply one buyer/platform change and bump `modified` to now. Refused(reason, message) if not allowed:
        pay (unpaid -> paid), cancel (unpaid -> closed; paid and nothing shipped -> closed with every line refunded),
        refund (a paid line, shipped or not, gets refund 'requested'), address (new receiver, before shipping)."""
        order = self.orders.get(order_id)
        if order is None:
            raise Refused("not_found", f"order {order_id} does not exist")
        if action not in ACTIONS:
            raise Refused("bad_action", f"action must be one of {list(ACTIONS)}")
        if action not in self.applicable(order):
            raise Refused("state", f"cannot {action} order {order_id} in state {order.status}")
        rng = rng or random.Random(f"change:{order_id}:{action}:{now}")
        if action == "pay":
            order.status, order.paid_at = PAID, now
        elif action == "cancel":
            order.closed_paid = order.status == PAID
            if order.closed_paid:
                for ln in order.lines:
                    ln.refund = REFUND_DONE
                    ln.refund_id = ln.refund_id or self._refund_id()
            order.status, order.closed_at = CLOSED, now
        elif action == "refund":
            open_lines = [ln for ln in order.lines if ln.refund == REFUND_NONE]
            target = order.line(line_id) if line_id is not None else rng.choice(open_lines)
            if target is None or target.refund != REFUND_NONE:
                raise Refused("state", f"line {line_id} of order {order_id} has no refundable state")
            self._open_refund(order, target, now, None, False, "")
        elif action == "address":
            before = order.receiver
            while order.receiver == before:
                order.receiver = random_receiver(rng)
        self._modified(order, now)
        return order

    def _open_refund(self, order: Order, line: Line, now: int, fee: Decimal | None, has_good_return: bool,
                     reason: str) -> Refund:
        line.refund, line.refund_id = REFUND_REQUESTED, self._refund_id()
        self._mod_seq += 1
        refund = Refund(line.refund_id, order.order_id, line.line_id, line.divided if fee is None else fee,
                        has_good_return, REFUND_WAITING, now, now, line.shipped_at is not None, reason, self._mod_seq)
        self.refunds[refund.refund_id] = refund
        return refund

    def open_refund(self, order_id: int, line_id: int, now: int, fee: Decimal | None = None,
                    has_good_return: bool = False, reason: str = "") -> Refund:
        """A buyer asks for a refund of one paid line (waiting for the seller); the trade's `modified` moves.
        `fee` defaults to what the buyer paid for the line's goods (shipping excluded). Refused: not_found,
        state (unpaid or closed order, a line with a refund already), amount (fee <= 0 or above the line's)."""
        order = self.orders.get(order_id)
        if order is None:
            raise Refused("not_found", f"order {order_id} does not exist")
        line = order.line(line_id)
        if line is None:
            raise Refused("not_found", f"line {line_id} is not part of order {order_id}")
        if order.status not in (PAID, PART_SHIPPED, SHIPPED) or line.refund != REFUND_NONE:
            raise Refused("state", f"line {line_id} of order {order_id} has no refundable state")
        if fee is not None and not (Decimal(0) < fee <= line.divided):
            raise Refused("amount", f"refund fee must be > 0 and at most {line.divided}")
        refund = self._open_refund(order, line, now, fee, has_good_return, reason)
        self._modified(order, now)
        return refund

    def settle_refund(self, refund_id: int, status: str, now: int) -> Refund:
        """The seller (or the platform) settles a waiting refund: success gives the money back (the line's
        refund flag says so), closed withdraws it (the line may be refunded again). The trade's and the refund's
        `modified` move. Refused: not_found, state (settled already, or an unknown outcome)."""
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise Refused("not_found", f"refund {refund_id} does not exist")
        if status not in (REFUND_SUCCESS, REFUND_CLOSED) or refund.status != REFUND_WAITING:
            raise Refused("state", f"refund {refund_id} is {refund.status}; only a waiting refund is settled, "
                                   f"as {REFUND_SUCCESS} or {REFUND_CLOSED}")
        order = self.orders[refund.order_id]
        line = order.line(refund.line_id)
        assert line is not None
        refund.status = status
        line.refund = REFUND_DONE if status == REFUND_SUCCESS else REFUND_NONE
        self.touch_refund(refund, now)
        self._modified(order, now)
        return refund

    def touch_refund(self, refund: Refund, now: int) -> None:
        self._mod_seq += 1
        refund.modified, refund.mod_seq = now, self._mod_seq

    def _refund_id(self) -> int:
        self._next_refund += 1
        return self._next_refund

    def touch(self, order_id: int, now: int) -> None:
        """Bump `modified` to now with no other change (a platform-side update such as a memo or flag)."""
        self._modified(self.orders[order_id], now)

    def churn(self, shop: str, count: int, seed: int, now: int) -> list[dict]:
        """`count` random changes to random orders of the shop (orders with nothing applicable are skipped)."""
        rng = random.Random(f"churn:{shop}:{seed}")
        ids = [o.order_id for o in self.orders.values() if o.shop == shop]
        done = []
        for _ in range(count if ids else 0):
            order = self.orders[rng.choice(ids)]
            acts = self.applicable(order)
            if not acts:
                continue
            action = rng.choice(acts)
            self.change(order.order_id, action, now, rng)
            done.append({"order_id": order.order_id, "action": action})
        return done

    # ---------------------------------------------------------------- shipping
    def ship(self, order_id: int, line_ids: list[int] | None, carrier: str, waybill: str, now: int,
             shop: str | None = None) -> dict:
        """Ship the given lines (None = every line not yet shipped) and record the shipment.
        Refused reasons: not_found (also: another shop's order), unknown_line, not_paid, closed, already_shipped."""
        order = self.orders.get(order_id)
        if order is None or (shop is not None and order.shop != shop):
            raise Refused("not_found", f"order {order_id} does not exist")
        if order.status == CLOSED:
            raise Refused("closed", f"order {order_id} is closed")
        if order.status == UNPAID:
            raise Refused("not_paid", f"order {order_id} is not paid")
        if line_ids is None:
            targets = [ln for ln in order.lines if ln.shipped_at is None]
        else:
            targets = []
            for lid in dict.fromkeys(line_ids):
                ln = order.line(lid)
                if ln is None:
                    raise Refused("unknown_line", f"line {lid} is not part of order {order_id}")
                targets.append(ln)
        if not targets or any(ln.shipped_at is not None for ln in targets):
            raise Refused("already_shipped", f"order {order_id}: already shipped")
        for ln in targets:
            ln.shipped_at, ln.carrier, ln.waybill = now, carrier, waybill
        order.status = SHIPPED if all(ln.shipped_at is not None for ln in order.lines) else PART_SHIPPED
        order.shipped_at = order.shipped_at or now
        self._modified(order, now)
        record = {"shop": order.shop, "order_id": order_id, "line_ids": [ln.line_id for ln in targets],
                  "partial": line_ids is not None, "carrier": carrier, "waybill": waybill, "at": local_time(now),
                  "ts": now}
        self.shipments.append(record)
        return record


# ---------------------------------------------------------------- stock
class StockBook:
    """Every stock push per shop and SKU, and the resulting level. Not locked: the caller holds the lock."""

    def __init__(self):
        self.pushes: list[dict] = []
        self.levels: dict[tuple[str, str], int] = {}

    def push(self, shop: str, row: dict, quantity: int, incremental: bool, now: int, method: str) -> int:
        key = (shop, row["outer_sku_id"])
        level = max(0, self.levels.get(key, 0) + quantity) if incremental else quantity
        self.levels[key] = level
        self.pushes.append({"shop": shop, "item_id": row["item_id"], "sku_id": row["sku_id"],
                            "outer_id": row["outer_sku_id"], "quantity": quantity, "level": level,
                            "type": "increment" if incremental else "set", "method": method,
                            "at": local_time(now), "ts": now})
        return level


# ---------------------------------------------------------------- access tokens
class Tokens:
    """Per-shop access tokens that expire on the simulator clock, renewable with the shop's refresh token.

    The configured `session` is valid for token_seconds from start-up (or reset). A refresh issues a new access
    token for token_seconds; earlier tokens stay valid until their own expiry. The refresh token does not change.
    """

    def __init__(self, shops: list[dict], now: int):
        self.by_token: dict[str, tuple[str, int]] = {}  # token -> (shop, expires_at)
        self.refresh_tokens = {s["refresh_token"]: s["shop"] for s in shops}
        self.lifetimes = {s["shop"]: int(s["token_seconds"]) for s in shops}
        for s in shops:
            self.by_token[s["session"]] = (s["shop"], now + self.lifetimes[s["shop"]])

    def check(self, token: str | None, now: float) -> tuple[str | None, str]:
        """(shop, "") for a valid token; (None, "missing" | "unknown" | "expired") otherwise."""
        if not token:
            return None, "missing"
        found = self.by_token.get(token)
        if found is None:
            return None, "unknown"
        if found[1] <= now:
            return None, "expired"
        return found[0], ""

    def refresh(self, refresh_token: str, now: int) -> dict | None:
        shop = self.refresh_tokens.get(refresh_token or "")
        if shop is None:
            return None
        token = "6201" + uuid.uuid4().hex + uuid.uuid4().hex[:20]
        self.by_token[token] = (shop, now + self.lifetimes[shop])
        return {"shop": shop, "access_token": token, "refresh_token": refresh_token,
                "expires_in": self.lifetimes[shop], "expire_time": (now + self.lifetimes[shop]) * 1000}


# ---------------------------------------------------------------- faults
KINDS = ("rate_limit", "server_error", "timeout")
Probability = Field(default=0.0, ge=0.0, le=1.0)


class ShopFaultSettings(BaseModel):
    """Body of POST /__sim/faults. Posting replaces the whole set: keys left out go back to defaults."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: float = Probability
    server_error: float = Probability
    timeout: float = Probability
    slow_rate: float = Probability
    shift_pages: float = Probability
    repeat_records: float = Probability
    slow_seconds: float = Field(default=1.0, ge=0.0)
    hang_seconds: float = Field(default=30.0, ge=0.0)
    ban_seconds: int = Field(default=1, ge=0)
    server_error_http_share: float = Field(default=0.5, ge=0.0, le=1.0)
    seed: int = 0


@dataclass(frozen=True)
class ShopDraw:
    kind: str | None  # one of KINDS, or None
    slow: float  # seconds to wait first (0 = none)
    hang: float  # seconds to wait before answering, for "timeout"
    http500: bool  # a server_error answered as HTTP 500 (else the platform's remote-error envelope)
    shift: bool  # shift_pages drawn (applies to paged queries only)
    repeat: bool  # repeat_records drawn (applies to paged queries only)


class ShopFaults(Switchboard):
    """Seeded faults, drawn once per API call. Every call draws the same count of numbers (one per kind in KINDS
    order, then slow, http share, shift, repeat) so a run is repeatable; the first kind under its probability fires."""

    settings_class = ShopFaultSettings
    counters = (*KINDS, "slow", "shift_pages", "repeat_records", "banned_calls")

    def draw(self) -> ShopDraw:
        with self._lock:
            s, rng = self.settings, self._rng
            kind = None
            for k in KINDS:
                if rng.random() < getattr(s, k) and kind is None:
                    kind = k
            slow = s.slow_seconds if rng.random() < s.slow_rate else 0.0
            http500 = rng.random() < s.server_error_http_share
            shift, repeat = rng.random() < s.shift_pages, rng.random() < s.repeat_records
            if kind:
                self.fired[kind] += 1
            if slow:
                self.fired["slow"] += 1
            return ShopDraw(kind, slow, s.hang_seconds, http500, shift, repeat)

    def pick(self, n: int) -> int:
        """A seeded index in range(n) (for choosing the record a fault moves)."""
        with self._lock:
            return self._rng.randrange(n)


# ---------------------------------------------------------------- the whole state
def normalise_shops(shops: Any) -> list[dict]:
    if not isinstance(shops, list) or not shops:
        raise ValueError("shops must be a non-empty list")
    out, names = [], set()
    for i, s in enumerate(shops):
        missing = [k for k in ("shop", "session", "refresh_token") if not (isinstance(s, dict) and s.get(k))]
        if missing:
            raise ValueError(f"shops[{i}] lacks {missing}")
        if s["shop"] in names:
            raise ValueError(f"shop {s['shop']} appears twice")
        names.add(s["shop"])
        out.append({**s, "seller_nick": s.get("seller_nick") or s["shop"],
                    "token_seconds": int(s.get("token_seconds", 86400))})
    return out


class ShopSim:
    """Config, clock, orders, stock, tokens, faults and counters of one shop simulator, guarded by one lock."""

    def __init__(self, config: dict, clock: Callable[[], float] = time.time):
        self.lock = threading.RLock()
        self.clock = SimClock(clock)
        self._initial = copy.deepcopy(config)
        self.faults = ShopFaults()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clock.offset = 0.0
            self.config = copy.deepcopy(self._initial)
            self.config["shops"] = normalise_shops(self.config["shops"])
            self.config["catalogue"] = normalise_catalogue(self.config["catalogue"])
            self.shops = {s["shop"]: s for s in self.config["shops"]}
            self.skus = {row["outer_sku_id"]: row for row in self.config["catalogue"]}
            self.store = OrderStore(self.config["catalogue"], int(self.config.get("first_order_id", 3028689400000001)),
                                    int(self.config.get("first_line_id", 3028689500000001)))
            self.stock = StockBook()
            self.tokens = Tokens(self.config["shops"], self.clock.second())
            self.bans: dict[tuple, float] = {}
            self.stats = {"calls": {}, "errors": {}}
            self.faults.reset()
            for i, shop in enumerate(self.shops):
                if self.config.get("initial_orders"):
                    self.store.generate(shop, int(self.config["initial_orders"]), i, self.clock.second())

    def count_call(self, method: str) -> None:
        with self.lock:
            self.stats["calls"][method] = self.stats["calls"].get(method, 0) + 1

    def count_error(self, code: Any) -> None:
        with self.lock:
            self.stats["errors"][str(code)] = self.stats["errors"].get(str(code), 0) + 1

    def ban(self, key: tuple, seconds: int) -> None:
        with self.lock:
            self.bans[key] = self.clock() + seconds

    def banned_for(self, key: tuple) -> int:
        """Whole seconds left of a rate-limit ban on key (0 = not banned)."""
        with self.lock:
            left = self.bans.get(key, 0) - self.clock()
            return math.ceil(left) if left > 0 else 0


# ---------------------------------------------------------------- admin API
class Generate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str
    count: int = Field(ge=1, le=10000)
    seed: int = 0
    paid_ratio: float = Field(default=0.8, ge=0.0, le=1.0)


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str
    line_id: int | None = None
    seed: int | None = None


class Churn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str
    count: int = Field(ge=1, le=100000)
    seed: int = 0


class RefundOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: int
    line_id: int
    fee: Decimal | None = None
    has_good_return: bool = False
    reason: str = ""
    status: str | None = None  # settle at once: success | closed


class RefundSettle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str


class ClockMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advance_seconds: float


def admin_router(sim: ShopSim, render: Callable[[Order], dict], order_key: str = "order_id",
                 line_key: str = "line_id", item_key: str = "item_id",
                 render_refund: Callable[[Refund], dict] | None = None) -> APIRouter:
    """The /__sim admin API every shop simulator shares. `render` turns an Order into the platform's JSON;
    `order_key`/`line_key`/`item_key` name the order, line and item ids in admin answers and change bodies
    (Taobao: tid, oid, num_iid)."""
    router = APIRouter(prefix="/__sim", tags=["simulator admin"], default_response_class=JSON)

    def known_shop(shop: str) -> None:
        if shop not in sim.shops:
            raise HTTPException(404, f"unknown shop {shop!r}; known: {sorted(sim.shops)}")

    @router.post("/orders/generate")
    async def generate(body: Generate):
        with sim.lock:
            known_shop(body.shop)
            made = sim.store.generate(body.shop, body.count, body.seed, sim.clock.second(), body.paid_ratio)
            return {order_key + "s": [o.order_id for o in made], "orders": [render(o) for o in made]}

    @router.post("/orders/{order_id}/change")
    async def change(order_id: int, body: dict = Body(...)):
        body = {("line_id" if k == line_key else k): v for k, v in body.items()}
        try:
            req = Change(**body)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        with sim.lock:
            rng = random.Random(req.seed) if req.seed is not None else None
            try:
                order = sim.store.change(order_id, req.action, sim.clock.second(), rng, req.line_id)
            except Refused as exc:
                raise HTTPException(404 if exc.reason == "not_found" else 409, exc.message) from None
            return render(order)

    @router.post("/refunds")
    async def open_refund(body: dict = Body(...)):
        """A buyer's refund of one line, for tests: {tid|order_id, oid|line_id, fee?, has_good_return?,
        reason?, status?} (status success|closed settles it at once)."""
        body = {({order_key: "order_id", line_key: "line_id"}.get(k, k)): v for k, v in body.items()}
        try:
            req = RefundOpen(**body)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        with sim.lock:
            try:
                refund = sim.store.open_refund(req.order_id, req.line_id, sim.clock.second(), req.fee,
                                               req.has_good_return, req.reason)
                if req.status:
                    refund = sim.store.settle_refund(refund.refund_id, req.status, sim.clock.second())
            except Refused as exc:
                raise HTTPException(404 if exc.reason == "not_found" else 409, exc.message) from None
            return _refund_answer(refund)

    @router.post("/refunds/{refund_id}/settle")
    async def settle_refund(refund_id: int, body: RefundSettle):
        with sim.lock:
            try:
                refund = sim.store.settle_refund(refund_id, body.status, sim.clock.second())
            except Refused as exc:
                raise HTTPException(404 if exc.reason == "not_found" else 409, exc.message) from None
            return _refund_answer(refund)

    @router.get("/refunds")
    async def refunds(shop: str | None = None):
        with sim.lock:
            return [_refund_answer(r) for r in sim.store.refunds.values()
                    if shop in (None, sim.store.orders[r.order_id].shop)]

    def _refund_answer(refund: Refund) -> dict:
        neutral = {"refund_id": refund.refund_id, order_key: refund.order_id, line_key: refund.line_id,
                   "fee": money(refund.fee), "has_good_return": refund.has_good_return, "status": refund.status,
                   "shipped": refund.shipped, "modified": local_time(refund.modified)}
        return {**neutral, "platform": render_refund(refund)} if render_refund else neutral

    @router.post("/churn")
    async def churn(body: Churn):
        with sim.lock:
            known_shop(body.shop)
            done = sim.store.churn(body.shop, body.count, body.seed, sim.clock.second())
            return {"changes": [{order_key: d["order_id"], "action": d["action"]} for d in done]}

    @router.get("/orders")
    async def orders(shop: str | None = None):
        with sim.lock:
            return [render(o) for o in sim.store.orders.values() if shop in (None, o.shop)]

    @router.get("/shipments")
    async def shipments(shop: str | None = None):
        with sim.lock:
            return [{"shop": r["shop"], order_key: r["order_id"], line_key + "s": r["line_ids"],
                     "partial": r["partial"], "carrier": r["carrier"], "waybill": r["waybill"], "at": r["at"]}
                    for r in sim.store.shipments if shop in (None, r["shop"])]

    @router.get("/stock")
    async def stock(shop: str | None = None):
        with sim.lock:
            return [{(item_key if k == "item_id" else k): v for k, v in p.items() if k != "ts"}
                    for p in sim.stock.pushes if shop in (None, p["shop"])]

    @router.post("/clock")
    async def move_clock(body: ClockMove):
        with sim.lock:
            sim.clock.advance(body.advance_seconds)
            return {"now": sim.clock(), "local": local_time(sim.clock()), "offset_seconds": sim.clock.offset}

    @router.get("/clock")
    async def get_clock():
        return {"now": sim.clock(), "local": local_time(sim.clock()), "offset_seconds": sim.clock.offset}

    @router.post("/faults")
    async def set_faults(settings: ShopFaultSettings):
        sim.faults.configure(settings)
        return {"faults": settings.model_dump()}

    @router.get("/faults")
    async def get_faults():
        return {"faults": sim.faults.settings.model_dump()}

    @router.get("/config")
    async def get_config():
        with sim.lock:
            return {"config": sim.config}

    @router.get("/stats")
    async def stats():
        with sim.lock:
            return {"calls": dict(sim.stats["calls"]), "errors": dict(sim.stats["errors"]),
                    "faults": dict(sim.faults.fired), "orders": len(sim.store.orders),
                    "shipments": len(sim.store.shipments), "stock_pushes": len(sim.stock.pushes)}

    @router.post("/reset")
    async def reset():
        sim.reset()
        return {"reset": True}

    return router
