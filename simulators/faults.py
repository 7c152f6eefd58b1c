"""The fault switchboard every simulator shares, and the admin API under /__sim.

Faults are drawn once per voucher-save call from a seeded random.Random, so a run is repeatable:
each call draws one number per kind, in KINDS order, and the first kind whose number falls under
its probability fires (at most one per call); "slow" is drawn independently on top.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from simulators import JSON, Book

KINDS = ("expire_session", "rate_limit", "server_error", "timeout_after_store")

Probability = Field(default=0.0, ge=0.0, le=1.0)


class FaultSettings(BaseModel):
    """Body of POST /__sim/faults. Posting replaces the whole set: keys left out go back to defaults."""

    model_config = ConfigDict(extra="forbid")

    timeout_after_store: float = Probability
    server_error: float = Probability
    expire_session: float = Probability
    rate_limit: float = Probability
    slow_rate: float = Probability
    slow_seconds: float = Field(default=1.0, ge=0.0)
    hang_seconds: float = Field(default=30.0, ge=0.0)
    seed: int = 0


@dataclass(frozen=True)
class Draw:
    kind: str | None  # one of KINDS, or None
    slow: float  # seconds to wait before handling (0 = none)
    hang: float  # seconds to wait after storing, for timeout_after_store


class Switchboard:
    """Seeded fault settings and their counters, safe across threads. Each simulator's subclass
    says which settings it takes, which counters it keeps, and how a call draws its faults."""

    settings_class: type = BaseModel
    counters: tuple = ()

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """No faults, counters at zero."""
        self.configure(self.settings_class())
        with self._lock:
            self.fired = {name: 0 for name in self.counters}

    def configure(self, settings) -> None:
        """New probabilities and a fresh random.Random(seed); the counters keep running."""
        with self._lock:
            self.settings = settings
            self._rng = random.Random(settings.seed)

    def count(self, name: str) -> None:
        with self._lock:
            self.fired[name] += 1


class Faults(Switchboard):
    settings_class = FaultSettings
    kinds = KINDS  # drawn in this order: the first under its probability fires
    counters = (*KINDS, "slow")

    def draw(self) -> Draw:
        with self._lock:
            s = self.settings
            kind = None
            for k in self.kinds:
                if self._rng.random() < getattr(s, k) and kind is None:
                    kind = k
            slow = s.slow_seconds if self._rng.random() < s.slow_rate else 0.0
            if kind:
                self.fired[kind] += 1
            if slow:
                self.fired["slow"] += 1
            return Draw(kind, slow, s.hang_seconds)


def server_error() -> PlainTextResponse:
    """The injected HTTP 500 (nothing stored): an IIS/gateway-style plain body, not a platform envelope."""
    return PlainTextResponse("simulated internal server error", status_code=500)


def admin_router(book: Book, faults: Faults) -> APIRouter:
    router = APIRouter(prefix="/__sim", tags=["simulator admin"], default_response_class=JSON)

    @router.post("/faults")
    async def set_faults(settings: FaultSettings):
        faults.configure(settings)
        return {"faults": settings.model_dump()}

    @router.get("/faults")
    async def get_faults():
        return {"faults": faults.settings.model_dump()}

    @router.post("/config")
    async def set_config(patch: dict = Body(...)):
        try:
            return {"config": book.update_config(patch)}
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @router.get("/config")
    async def get_config():
        with book.lock:
            return {"config": book.config}

    @router.get("/vouchers")
    async def vouchers():
        return book.public()

    @router.get("/stats")
    async def stats():
        with book.lock:
            return {**book.stats, "faults": dict(faults.fired)}

    @router.post("/reset")
    async def reset():
        book.reset()
        faults.reset()
        return {"reset": True}

    return router
