"""Publishing without an outbox, for the connectors: publisher confirms, in the hub's envelope (the
shop connectors' channel order changes, mandatory; the connectors' announcements for the notifier,
which no consumer of a hub without one wants, not mandatory).

A batch (a shop's page of pulled orders) goes out in one confirm window: every message is written,
then the broker's confirms are read together, one wait for the page instead of a round trip per
message. py-amqp (kombu's transport, which parses the URI) gives the acks, nacks and returns as
events of the channel."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import amqp
import kombu

from hubkit import topology
from hubkit.envelope import Envelope

CONFIRM_SECONDS = 30.0  # a window whose confirms have not all come by then fails (its connection is dropped)


class PublishFailed(Exception):
    """Some messages of a window were not confirmed (nacked, returned as unroutable, or the connection
    or the wait failed): `confirmed` holds the indexes of those the broker did confirm."""

    def __init__(self, message: str, confirmed: frozenset[int]):
        super().__init__(message)
        self.confirmed = confirmed


class ConfirmedPublisher:
    def __init__(self, amqp_uri: str, confirm_seconds: float = CONFIRM_SECONDS):
        self.amqp_uri, self.confirm_seconds = amqp_uri, confirm_seconds
        self.connection: Any = None  # kombu's, for its URI parsing; the py-amqp connection under it
        self.channel: Any = None
        self._next_tag = 1  # the delivery tag the broker gives the channel's next publish
        # the window being confirmed: delivery tag -> index in the batch (until acked or nacked), each
        # event id's index, the indexes confirmed, and those that failed (why)
        self._window: dict[int, int] = {}
        self._indexes: dict[str, int] = {}
        self._confirmed: set[int] = set()
        self._failed: dict[int, str] = {}

    def _open(self):
        if self.channel is not None:
            return
        self.connection = kombu.Connection(self.amqp_uri, connect_timeout=10)
        self.connection.connect()
        channel = self.connection.connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._acked)
        channel.events["basic_nack"].add(self._nacked)
        channel.events["basic_return"].add(self._returned)
        self.channel, self._next_tag = channel, 1

    def publish(self, envelope: Envelope, mandatory: bool = True) -> None:
        """Returns once the broker confirmed it; raises (nothing recorded as sent) otherwise
        (mandatory: also when no queue takes it)."""
        self.publish_many([envelope], mandatory)

    def publish_many(self, envelopes: Sequence[Envelope], mandatory: bool = True) -> None:
        """Publish them all, then wait for their confirms together; returns once every one is confirmed.
        Raises PublishFailed otherwise, naming the ones confirmed (mandatory: one no queue takes fails)."""
        if not envelopes:
            return
        self._window, self._confirmed, self._failed = {}, set(), {}
        self._indexes = {e.event_id: i for i, e in enumerate(envelopes)}
        try:
            self._open()
            for i, envelope in enumerate(envelopes):
                message = amqp.Message(envelope.to_json(), content_type="application/json", delivery_mode=2,
                                       message_id=envelope.event_id, type=envelope.type, app_id=envelope.source)
                self.channel.basic_publish(message, exchange=topology.EVENTS_EXCHANGE, routing_key=envelope.type,
                                           mandatory=mandatory)
                self._window[self._next_tag] = i
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_seconds
            while self._window:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._window)} of {len(envelopes)} not confirmed "
                                       f"within {self.confirm_seconds:.0f} s")
                self.connection.connection.drain_events(timeout=left)
        except Exception as exc:
            self.close()  # a late confirm of this window must not count for the next one
            raise PublishFailed(f"{type(exc).__name__}: {exc}", frozenset(self._confirmed)) from exc
        if self._failed:
            raise PublishFailed("; ".join(self._failed.values()), frozenset(self._confirmed))

    # the channel's events, while drain_events reads the confirms
    def _settled(self, tag: int, multiple: bool) -> list[int]:
        tags = [t for t in self._window if t <= tag] if multiple else [tag] if tag in self._window else []
        return [self._window.pop(t) for t in tags]

    def _acked(self, tag: int, multiple: bool) -> None:
        # a message no queue took is acked after its return: it stays failed
        self._confirmed.update(i for i in self._settled(tag, multiple) if i not in self._failed)

    def _nacked(self, tag: int, multiple: bool) -> None:
        for i in self._settled(tag, multiple):
            self._failed[i] = f"message {i} of the window refused by the broker"

    def _returned(self, exc, _exchange, routing_key, message) -> None:
        i = self._indexes.get(message.properties.get("message_id"), -1)  # a return names no delivery tag
        self._failed[i] = f"message {i} of the window unroutable ({routing_key}): {exc}"

    def close(self):
        try:
            if self.connection is not None:
                self.connection.release()
        except Exception:
            pass
        self.connection = self.channel = None
