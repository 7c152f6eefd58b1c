"""Liveness and readiness of the processes that consume or publish (workers, relays, connectors),
served beside /metrics on the metrics port (hubkit.metrics.serve):

- `/readyz` answers 200 while every loop of the process is attached (its consumers are consuming,
  its broker connection and database answer) and has ticked within `STALE_SECONDS`; else 503 with
  the reasons, one a line.
- `/livez` answers 503 once the process has not been ready for `grace` seconds on end
  (HUB_LIVENESS_GRACE_SECONDS): a process that cannot heal itself is restarted by its supervisor
  (Kubernetes' liveness probe, `hub up`).

A loop reports through a `Beat`: `tick()` each round, `up()` once attached, `down(reason)` when it
lost what it needs."""
from __future__ import annotations

import time

STALE_SECONDS = 10.0  # a loop that has not ticked for this long is stuck (each ticks at least every second)


class Beat:
    def __init__(self, name: str, stale_after: float = STALE_SECONDS):
        self.name, self.stale_after = name, stale_after
        self.last_tick = time.monotonic()
        self.down_since: float | None = self.last_tick  # not attached until it says so
        self.reason = "starting"

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def up(self) -> None:
        self.down_since = None
        self.tick()

    def down(self, reason: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
        self.reason = reason

    def failing(self, now: float) -> tuple[float, str] | None:
        """(since when, why) this loop is not ready; None while it is."""
        if self.down_since is not None:
            return self.down_since, f"{self.name}: {self.reason}"
        if now - self.last_tick > self.stale_after:
            return self.last_tick + self.stale_after, f"{self.name}: no progress for {now - self.last_tick:.0f}s"
        return None


class Health:
    def __init__(self, grace: float, *beats: Beat):
        self.grace, self.beats = grace, beats

    def readiness(self) -> list[str]:
        """Why the process is not ready (empty: it is)."""
        now = time.monotonic()
        return [f[1] for f in (b.failing(now) for b in self.beats) if f]

    def liveness(self) -> list[str]:
        """Why the process should be restarted: not ready for longer than the grace (empty: live)."""
        now = time.monotonic()
        return [f"{why} (not ready for {now - since:.0f}s)"
                for since, why in (f for f in (b.failing(now) for b in self.beats) if f) if now - since > self.grace]
