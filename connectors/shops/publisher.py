"""Publishing channel order changes: pika, publisher confirms, mandatory, in the hub's envelope."""
from __future__ import annotations

import pika

from hubkit import topology
from hubkit.envelope import Envelope


class ConfirmedPublisher:
    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.connection = self.channel = None

    def _open(self):
        if self.channel is None or self.channel.is_closed:
            self.connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
            self.channel = self.connection.channel()
            self.channel.confirm_delivery()

    def publish(self, envelope: Envelope) -> None:
        """Returns once the broker confirmed it; raises (nothing recorded as sent) otherwise."""
        try:
            self._open()
            self.channel.basic_publish(topology.EVENTS_EXCHANGE, envelope.type, envelope.to_json(),
                                       pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                            message_id=envelope.event_id, type=envelope.type,
                                                            app_id=envelope.source), mandatory=True)
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
