"""Replenishment that follows demand, as pure functions (no I/O): sales velocity with the days out of
stock left out, the stock position netted with open purchase orders and goods in transit, the target
(minimum/maximum, velocity over lead time and review period, or a merchant's demand rule), the order
quantity rounded to the supplier's minimum and multiple, and the terms that explain it."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date

from hubkit import forecast as fc
from hubkit.errors import FieldErrors

DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Terms:
    """A SKU's replenishment terms in a warehouse (what the buyer sets; the defaults otherwise)."""
    lead_time_days: int = 7
    review_period_days: int = 7
    safety_stock: int = 0
    min_order_quantity: int = 1
    order_multiple: int = 1
    window_days: int = DEFAULT_WINDOW_DAYS
    promotion_factor: float = 1.0
    supplier: str | None = None

    def check(self) -> Terms:
        errors = FieldErrors()
        for name, low, high in (("lead_time_days", 0, 365), ("review_period_days", 0, 365),
                                ("safety_stock", 0, 10**9), ("min_order_quantity", 1, 10**9),
                                ("order_multiple", 1, 10**9), ("window_days", 1, 366)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors.add(name, f"a whole number from {low} to {high}")
        if not 0 <= self.promotion_factor <= 100:
            errors.add("promotion_factor", "from 0 to 100")
        if self.supplier is not None and not 0 < len(self.supplier) <= 64:
            errors.add("supplier", "1 to 64 characters")
        errors.raise_if_any("the replenishment terms are invalid")
        return self


def window(today: date, days: int) -> list[date]:
    """The window's days, oldest first, today last (hubkit.forecast's)."""
    return fc.window(today, days)


def daily_sales(sales: dict[date, int], stocked_out: set[date], today: date, days: int) -> list[float]:
    """Units sold per day over the window, the days out of stock left out: hubkit.forecast.daily_series,
    the series the forecast is made from."""
    return fc.daily_series(sales, today, days, stocked_out)


def velocity(sales: dict[date, int], stocked_out: set[date], today: date, days: int) -> tuple[float, int, int]:
    """(average units a day, days counted, days out of stock left out)."""
    series = daily_sales(sales, stocked_out, today, days)
    out = days - len(series)
    return (sum(series) / len(series) if series else 0.0), len(series), out


def round_order(need: int, min_order_quantity: int, order_multiple: int) -> int:
    """The need raised to the minimum order quantity, then up to a whole multiple."""
    if need <= 0:
        return 0
    quantity = max(need, min_order_quantity)
    return -(-quantity // order_multiple) * order_multiple


@dataclass(frozen=True)
class Position:
    available: int
    on_order: int = 0      # open purchase orders' quantities not yet received
    in_transit: int = 0    # goods on their way into the warehouse (transfers)
    minimum: int | None = None
    maximum: int | None = None

    @property
    def net(self) -> int:
        return self.available + self.on_order + self.in_transit


def plan(position: Position, terms: Terms, daily_velocity: float, rule: dict | None = None) -> dict:
    """The explanation of what to order: every input, each candidate target and why it applies, the
    one chosen (the highest), the need (target - net position) and the quantity after rounding.
    `rule` is a matched demand rule's {"rule": id, "quantity": units} (its own target)."""
    v = max(0.0, daily_velocity)
    reorder_point = math.ceil(v * terms.lead_time_days + terms.safety_stock)
    order_up_to = math.ceil(v * (terms.lead_time_days + terms.review_period_days) + terms.safety_stock)
    candidates = []
    if position.maximum is not None and position.minimum is not None and position.net <= position.minimum:
        candidates.append({"basis": "minimum_maximum", "target": position.maximum,
                           "why": f"net position {position.net} <= minimum {position.minimum}: up to the maximum"})
    if v > 0 and position.net <= reorder_point:
        candidates.append({"basis": "velocity", "target": order_up_to,
                           "why": f"net position {position.net} <= reorder point {reorder_point} "
                                  f"(velocity x lead time + safety stock): up to velocity x "
                                  f"(lead time + review period) + safety stock"})
    if rule is not None:
        candidates.append({"basis": f"rule:{rule['rule']}", "target": max(0, math.ceil(rule["quantity"])),
                           "why": f"demand rule {rule['rule']} matched"})
    chosen = max(candidates, key=lambda c: c["target"], default=None)
    need = (chosen["target"] - position.net) if chosen else 0
    quantity = round_order(need, terms.min_order_quantity, terms.order_multiple)
    return {
        "available": position.available, "on_order": position.on_order, "in_transit": position.in_transit,
        "net_position": position.net, "minimum": position.minimum, "maximum": position.maximum,
        "velocity": round(v, 4), "days_of_cover": round(position.available / v, 2) if v > 0 else None,
        "reorder_point": reorder_point, "order_up_to": order_up_to,
        "terms": {f.name: getattr(terms, f.name) for f in fields(terms)},  # its fields are plain values: no deep copy
        "candidates": candidates, "basis": chosen["basis"] if chosen else None,
        "target": chosen["target"] if chosen else None, "need": max(0, need), "quantity": quantity,
        "rounding": (f"need {need} -> at least {terms.min_order_quantity}, a multiple of {terms.order_multiple}"
                     if quantity else None),
    }
