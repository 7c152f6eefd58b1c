"""Demand forecasts as a pure library: a daily series in, the next days out. No I/O, no clock, plain
Python (no numpy): procurement's replenishment uses it, and a KPI read model can reuse it.

Named methods (`METHODS`), each `f(series, horizon, **params) -> list[float]` (one value per day
ahead, never negative):

- `moving_average`: the mean of the last `window` days, flat.
- `exponential_smoothing`: simple exponential smoothing (level only, `alpha`), flat.
- `holt`: Holt's linear trend (`alpha`, `beta`).
- `holt_winters`: Holt-Winters additive (level, trend and a season of `season_length` days; `alpha`,
  `beta`, `gamma`). A series shorter than two seasons falls back to `holt`.

`forecast(method, series, horizon, promotion_factor=1, **params)` answers a `Forecast` that names its
method and parameters; a promotion factor multiplies every day ahead (1.5: half as much again).
`sales_forecast` is the one way a SKU's daily sales become a forecast (replenishment and the stock
report's forecast both call it).
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta


def _check(series: Sequence[float], horizon: int) -> list[float]:
    if horizon < 0:
        raise ValueError("horizon must not be negative")
    values = [float(v) for v in series]
    if any(v != v for v in values):  # NaN
        raise ValueError("the series has a missing value")
    return values


def _unit(name: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be from 0 to 1")
    return float(value)


def _floor(values: list[float]) -> list[float]:
    return [max(0.0, v) for v in values]


def moving_average(series: Sequence[float], horizon: int, window: int = 7) -> list[float]:
    values = _check(series, horizon)
    if window < 1:
        raise ValueError("window must be at least 1")
    last = values[-window:]
    level = sum(last) / len(last) if last else 0.0
    return _floor([level] * horizon)


def exponential_smoothing(series: Sequence[float], horizon: int, alpha: float = 0.3) -> list[float]:
    values, alpha = _check(series, horizon), _unit("alpha", alpha)
    if not values:
        return [0.0] * horizon
    level = values[0]
    for y in values[1:]:
        level = alpha * y + (1 - alpha) * level
    return _floor([level] * horizon)


def holt(series: Sequence[float], horizon: int, alpha: float = 0.3, beta: float = 0.1) -> list[float]:
    values, alpha, beta = _check(series, horizon), _unit("alpha", alpha), _unit("beta", beta)
    if len(values) < 2:
        return moving_average(values, horizon, window=1)
    level, trend = values[0], values[1] - values[0]
    for y in values[1:]:
        previous = level
        level = alpha * y + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
    return _floor([level + h * trend for h in range(1, horizon + 1)])


def holt_winters(series: Sequence[float], horizon: int, season_length: int = 7, alpha: float = 0.3,
                 beta: float = 0.1, gamma: float = 0.1) -> list[float]:
    """Additive Holt-Winters. Initial state from the first two seasons: the trend is the change of
    their means per day, the level is the first season's line at its last day, a day's seasonal is
    its distance from that line; then the usual recursions from the second season on."""
    values = _check(series, horizon)
    alpha, beta, gamma = _unit("alpha", alpha), _unit("beta", beta), _unit("gamma", gamma)
    m = season_length
    if m < 2:
        raise ValueError("season_length must be at least 2")
    if len(values) < 2 * m:
        return holt(values, horizon, alpha, beta)
    first, second = sum(values[:m]) / m, sum(values[m:2 * m]) / m
    trend = (second - first) / m
    seasonals = [values[i] - (first + (i - (m - 1) / 2) * trend) for i in range(m)]
    level = first + (m - 1) / 2 * trend
    for t in range(m, len(values)):
        y, s_old, previous = values[t], seasonals[t % m], level
        level = alpha * (y - s_old) + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
        seasonals[t % m] = gamma * (y - level) + (1 - gamma) * s_old
    n = len(values)
    return _floor([level + h * trend + seasonals[(n + h - 1) % m] for h in range(1, horizon + 1)])


METHODS: dict[str, Callable[..., list[float]]] = {
    "moving_average": moving_average,
    "exponential_smoothing": exponential_smoothing,
    "holt": holt,
    "holt_winters": holt_winters,
}
PARAMETERS: dict[str, tuple[str, ...]] = {
    "moving_average": ("window",),
    "exponential_smoothing": ("alpha",),
    "holt": ("alpha", "beta"),
    "holt_winters": ("season_length", "alpha", "beta", "gamma"),
}


@dataclass(frozen=True)
class Forecast:
    method: str
    values: list[float]
    promotion_factor: float = 1.0
    params: dict = field(default_factory=dict)
    history: list[float] = field(default_factory=list)  # the daily series it was made from, oldest first

    @property
    def total(self) -> float:
        return sum(self.values)


def forecast(method: str, series: Sequence[float], horizon: int, promotion_factor: float = 1.0,
             **params) -> Forecast:
    """The named method's forecast for `horizon` days, times the promotion factor."""
    if method not in METHODS:
        raise ValueError(f"unknown forecast method {method!r} (known: {', '.join(METHODS)})")
    unknown = sorted(set(params) - set(PARAMETERS[method]))
    if unknown:
        raise ValueError(f"{method} takes no parameter {unknown[0]!r}")
    if not 0 <= promotion_factor <= 100:
        raise ValueError("promotion_factor must be from 0 to 100")
    values = METHODS[method](series, horizon, **params)
    return Forecast(method, [v * promotion_factor for v in values], float(promotion_factor), dict(params))


# -- a SKU's daily sales, forecast ---------------------------------------------------------------
MAX_HORIZON = 366
MAX_HISTORY = 730


def window(today: date, days: int) -> list[date]:
    """The window's days, oldest first, today last."""
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def daily_series(sales: Mapping[date, float], today: date, days: int,
                 stocked_out: Collection[date] = ()) -> list[float]:
    """Units sold per day over the `days` days up to `today`, oldest first, the days out of stock left
    out (a day with nothing to sell says nothing about demand). A day that sold counts even if it ran
    out (the day it sold out)."""
    return [float(sales.get(d, 0)) for d in _window(today, days) if d not in stocked_out or sales.get(d, 0) > 0]


@functools.lru_cache(maxsize=64)
def _window(today: date, days: int) -> tuple[date, ...]:
    """window, kept: every SKU's series of a day is over the same days."""
    return tuple(window(today, days))


@functools.cache
def _defaults(method: str) -> dict:
    """A method's parameters with their defaults (read from its signature once)."""
    return {name: p.default for name, p in inspect.signature(METHODS[method]).parameters.items()
            if name in PARAMETERS[method]}


def sales_forecast(method: str, sales: Mapping[date, float], today: date, history_days: int, horizon: int,
                   promotion_factor: float = 1.0, stocked_out: Collection[date] = (), **params) -> Forecast:
    """THE sales forecast of a SKU (replenishment's and the stock report's): the daily series of the
    `history_days` days up to `today` (daily_series), then `forecast`. A moving average without a
    window averages the whole series. The Forecast carries the series it used (`history`) and the
    parameters in force, defaults included."""
    series = daily_series(sales, today, history_days, stocked_out)
    if method == "moving_average" and "window" not in params:
        params["window"] = max(1, len(series))
    ahead = forecast(method, series, horizon, promotion_factor, **params)
    defaults = _defaults(method)
    return replace(ahead, params={**defaults, **ahead.params}, history=series)
