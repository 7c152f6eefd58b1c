"""The one failure policy of every consumer (the workers' nameko entry point in hubkit.consumer,
the connectors' plain processes in hubkit.amqp_consumer): what becomes of a message whose handler
raised, or that is not an envelope at all. No broker client here, so both can share it.

A failed message is set aside, never dropped: re-published to its retry queue with a growing
per-message TTL (the queue dead-letters it back into the main queue when it expires), after the
last attempt to its dead-letter queue with its error; the original is acked only once that
copy is confirmed."""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass

from hubkit import topology
from hubkit.envelope import EnvelopeError
from hubkit.inbox import PredecessorMissing

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-hub-attempts"
ERROR_HEADER = "x-hub-error"
FAILED_AT_HEADER = "x-hub-failed-at"
PREDECESSOR_ATTEMPTS = 12  # with the back-off cap, several minutes of waiting
ERROR_MAX = 2000  # header values travel with every copy: keep them small


def retry_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off: base, 2*base, 4*base ... capped."""
    return min(base * 2 ** (attempt - 1), cap)


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(settings.consumer_max_attempts, settings.retry_base_seconds, settings.retry_max_seconds)


@dataclass(frozen=True)
class Decision:
    """Where the copy of a failed message goes: `delay` set means the retry queue, None the
    dead-letter queue; both through the set-aside exchange, routed by the queue's own name."""
    subscription: topology.Subscription
    attempts: int
    budget: int  # attempts allowed in all
    error: str
    delay: float | None = None

    @property
    def dead_letter(self) -> bool:
        return self.delay is None

    @property
    def exchange(self) -> str:
        return topology.SET_ASIDE_EXCHANGE

    @property
    def routing_key(self) -> str:
        return self.subscription.dead_letter_queue if self.dead_letter else self.subscription.retry_queue

    def headers(self, original: dict | None) -> dict:
        """The original headers plus attempts, error and time of failure."""
        return {**(original or {}), ATTEMPTS_HEADER: self.attempts, ERROR_HEADER: self.error[:ERROR_MAX],
                FAILED_AT_HEADER: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def log(self) -> None:
        if self.dead_letter:
            log.error("%s dead-lettered after %d attempt(s): %s", self.subscription.queue, self.attempts,
                      self.error)
        else:
            log.warning("%s failed (attempt %d/%d), retrying in %.1fs: %s", self.subscription.queue,
                        self.attempts, self.budget, self.delay, self.error)


def describe(exc: BaseException) -> str:
    """`Type: message`, as the dead-letter listing shows it."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def after_failure(sub: topology.Subscription, headers: dict | None, exc: BaseException,
                  policy: Policy) -> Decision:
    """The handler of `sub` raised `exc` on a message carrying `headers`: retry, or give up."""
    if isinstance(exc, EnvelopeError):  # not an envelope, or not the event its contract describes
        return poison(sub, f"{type(exc).__name__}: {exc}")
    attempts = int((headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
    # an event that waits for its predecessor is not failing: it keeps waiting (with back-off)
    # well past the budget of a handler that raised
    budget = max(policy.max_attempts, PREDECESSOR_ATTEMPTS) if isinstance(exc, PredecessorMissing) \
        else policy.max_attempts
    if attempts < budget:
        return Decision(sub, attempts, budget, describe(exc),
                        retry_delay(attempts, policy.retry_base_seconds, policy.retry_max_seconds))
    return Decision(sub, attempts, budget, describe(exc))


def poison(sub: topology.Subscription, error: str) -> Decision:
    """A message that is no envelope, or an event that does not fit its contract: retrying cannot
    help, dead-letter it at once."""
    return Decision(sub, 1, 1, error)
