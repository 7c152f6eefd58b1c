"""Publishing without an outbox, for the connectors: pika, publisher confirms, in the hub's envelope
(the shop connectors' channel order changes, mandatory; the connectors' announcements for the
notifier, which no consumer of a hub without one wants, not mandatory)."""
from __future__ import annotations

from typing import Any

import pika

from hubkit import topology
from hubkit.envelope import Envelope


class ConfirmedPublisher:
    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.connection: Any = None
        self.channel: Any = None

    def _open(self):
        if self.channel is None or self.channel.is_closed:
            self.connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
            self.channel = self.connection.channel()
            self.channel.confirm_delivery()

    def publish(self, envelope: Envelope, mandatory: bool = True) -> None:
        """Returns once the broker confirmed it; raises (nothing recorded as sent) otherwise
        (mandatory: also when no queue takes it)."""
        try:
            self._open()
            self.channel.basic_publish(topology.EVENTS_EXCHANGE, envelope.type, envelope.to_json(),
                                       pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                            message_id=envelope.event_id, type=envelope.type,
                                                            app_id=envelope.source), mandatory=mandatory)
        except Exception:
            self.close()
            raise

    def close(self):
        try:
            if self.connection is not None and self.connection.is_open:
                self.connection.close()
        except Exception:
            pass
        self.connection = self.channel = None
