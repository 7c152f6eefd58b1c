"""Backpressure: whether the hub is behind, so that intake slows instead of the time from an order's
acceptance to inventory's answer growing without bound.

The signal is the number of orders accepted and not yet answered by inventory (the order service's
pending orders). `Backlog` (in the order service) counts them at most every `refresh_seconds` and
turns the count into a state with hysteresis: behind from the high watermark on, and caught up
again only at or below the low one, so intake does not flap. `IntakeGate` (in the gateway and the
shop connectors) asks for that state at most every `refresh_seconds`, keeps it, and stays open
when it cannot ask (placing an order then fails on its own)."""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeState:
    behind: bool
    waiting: int = 0              # orders accepted and not yet answered by inventory
    oldest_seconds: float = 0.0   # how long the oldest of them has waited
    retry_after_seconds: int = 0  # when behind: about how long the backlog takes to come down to the low watermark


OPEN = IntakeState(behind=False)


@dataclass(frozen=True)
class Watermarks:
    high: int                  # behind from this many waiting orders on (0: never behind)
    low: int                   # caught up again at or below this many
    retry_after_max: int = 30  # Retry-After never says more than this (seconds)

    def __post_init__(self):
        if self.high and not 0 <= self.low < self.high:
            raise ValueError("the low watermark must be below the high one")

    def retry_after(self, waiting: int, oldest_seconds: float) -> int:
        """Seconds until the backlog is down to the low watermark, served at the rate it is being served
        now: the oldest order waited `oldest_seconds` for the `waiting` orders ahead of a new one, about
        waiting / oldest_seconds orders per second. At least 1, at most `retry_after_max`."""
        if waiting <= 0:
            return 1
        estimate = oldest_seconds * (waiting - self.low) / waiting
        return max(1, min(self.retry_after_max, math.ceil(estimate)))


class Backlog:
    """The hub's intake state from `measure()` -> (waiting orders, seconds the oldest has waited),
    measured at most every `refresh_seconds` (the answer in between is the last one)."""

    def __init__(self, watermarks: Watermarks, measure: Callable[[], tuple[int, float]], refresh_seconds: float,
                 report: Callable[[IntakeState], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.watermarks, self.measure, self.refresh_seconds = watermarks, measure, refresh_seconds
        self.report, self.clock = report, clock
        self._lock = threading.Lock()
        self._state, self._measured_at = OPEN, -math.inf

    def state(self) -> IntakeState:
        with self._lock:
            if self.clock() - self._measured_at >= self.refresh_seconds:
                waiting, oldest = self.measure()
                self._state, self._measured_at = self.next_state(self._state.behind, waiting, oldest), self.clock()
                if self.report is not None:
                    self.report(self._state)
            return self._state

    def next_state(self, behind: bool, waiting: int, oldest_seconds: float) -> IntakeState:
        """Hysteresis: once behind, still behind until the backlog is at the low watermark."""
        w = self.watermarks
        if not w.high:
            behind = False
        elif behind:
            behind = waiting > w.low
        else:
            behind = waiting >= w.high
        return IntakeState(behind, waiting, round(oldest_seconds, 3),
                           w.retry_after(waiting, oldest_seconds) if behind else 0)


class IntakeGate:
    """What a process that takes orders in knows of the hub's intake state: `ask()` (the order
    service's answer) at most every `refresh_seconds`, kept in between. A failed question leaves
    intake open: it is logged once per failure streak, and asked again after `refresh_seconds`."""

    def __init__(self, ask: Callable[[], IntakeState], refresh_seconds: float,
                 report: Callable[[IntakeState], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.ask, self.refresh_seconds, self.report, self.clock = ask, refresh_seconds, report, clock
        self._lock = threading.Lock()
        self._state, self._asked_at, self._failing = OPEN, -math.inf, False

    def fresh(self) -> bool:
        """Whether the last answer is recent enough to go by without asking."""
        return self.clock() - self._asked_at < self.refresh_seconds

    def state(self) -> IntakeState:
        """The state, asked again if the last answer is older than `refresh_seconds`; while another
        thread asks, the last answer."""
        if self.fresh() or not self._lock.acquire(blocking=False):
            return self._state
        try:
            if not self.fresh():
                self._refresh()
            return self._state
        finally:
            self._lock.release()

    def _refresh(self) -> None:
        try:
            state = self.ask()
            self._failing = False
        except Exception as exc:  # noqa: BLE001 - whatever the reason, intake stays open
            if not self._failing:
                log.warning("cannot ask whether the hub is behind (%s); intake stays open", type(exc).__name__)
            self._failing, state = True, OPEN
        self._state, self._asked_at = state, self.clock()
        if self.report is not None:
            self.report(state)

    def last(self) -> IntakeState:
        """The last answer, without asking."""
        return self._state
