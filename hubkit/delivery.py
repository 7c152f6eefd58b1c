"""The one failure policy of every consumer (the workers' nameko entry point in hubkit.consumer,
the connectors' plain processes in hubkit.amqp_consumer): what becomes of a message whose handler
raised, or that is not an envelope at all. No broker client here, so both can share it.

A failed message is set aside, never dropped: re-published to its retry queue with a growing
per-message TTL (the queue dead-letters it back into the main queue when it expires), after the
last attempt to its dead-letter queue with its error; the original is acked only once that
copy is confirmed."""
from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
import uuid
from dataclasses import dataclass

from hubkit import clock, topology
from hubkit.envelope import Envelope, EnvelopeError
from hubkit.inbox import PredecessorMissing

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-hub-attempts"
ERROR_HEADER = "x-hub-error"
FAILED_AT_HEADER = "x-hub-failed-at"
REPLAYED_HEADER = "x-hub-replayed"  # how often the message was replayed from its dead-letter queue (hubkit.dlq)
# the announcement of a dead letter, published by the consumer that set it aside (the contract:
# contracts.events.DeadLettered); nobody needs to consume it (a hub without a notifier drops it)
DEAD_LETTERED = "dead_lettered"
_NOTICE_IDS = uuid.UUID("6f1d1c52-0d0f-4a53-9c43-8e1b5a3f2d11")
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


def notice(decision: Decision, body: bytes, headers: dict | None) -> Envelope:
    """The dead_lettered event announcing the dead letter `decision` made of a message (`body`,
    `headers`). Its id is derived from the queue, the message and how often it was replayed: the same
    dead letter set aside twice (a redelivery after a crash before the ack) is announced with the same
    id, which the notifier keeps once; a replayed message dead-lettered again is news."""
    try:
        data = json.loads(body)
        peek = {k: data.get(k) if isinstance(data.get(k), str) else None
                for k in ("event_id", "type", "aggregate_id", "correlation_id")}
    except (ValueError, AttributeError, TypeError):
        peek = dict.fromkeys(("event_id", "type", "aggregate_id", "correlation_id"))
    sub = decision.subscription
    replays = (headers or {}).get(REPLAYED_HEADER) or 0
    key = peek["event_id"] or hashlib.sha256(body).hexdigest()
    return Envelope(
        type=DEAD_LETTERED, source=sub.service, aggregate_id=sub.queue[:64], sequence=1,
        correlation_id=peek["correlation_id"] or "", actor=f"consumer:{sub.service}",
        event_id=uuid.uuid5(_NOTICE_IDS, f"{sub.queue}|{key}|{int(replays)}").hex,
        payload={"queue": sub.queue, "dead_letter_queue": sub.dead_letter_queue, "event_id": peek["event_id"],
                 "event_type": peek["type"], "aggregate_id": peek["aggregate_id"], "attempts": decision.attempts,
                 "error": decision.error[:ERROR_MAX], "failed_at": clock.now().isoformat()})
