"""The connectors' publisher against the real broker: a batch goes out in one confirm window and is
confirmed as a whole; a message no queue takes (mandatory) or one a full queue refuses fails alone, the
others of the window named as confirmed; after a lost connection the next window connects again."""
from __future__ import annotations

import json
import socket

import kombu
import pytest

from hubkit import topology
from hubkit.envelope import Envelope
from hubkit.publisher import ConfirmedPublisher, PublishFailed
from tests.support import infra

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(session_name):
    """A vhost of its own with the events exchange and two queues: `taken` takes every order_placed,
    `full` takes every stock_changed and refuses more than two."""
    name = f"{session_name}_pub"
    uri = infra.create_vhost(name)
    with kombu.Connection(uri) as admin:
        channel = admin.default_channel
        channel.exchange_declare(topology.EVENTS_EXCHANGE, "topic", durable=True)
        for queue, key, arguments in (("taken", "order_placed", {}),
                                      ("full", "stock_changed", {"x-max-length": 2, "x-overflow": "reject-publish"})):
            channel.queue_declare(queue, durable=True, arguments=arguments)
            channel.queue_bind(queue, topology.EVENTS_EXCHANGE, key)
    yield uri
    infra.delete_vhost(name, wait=False)


def _envelope(event_type: str, n: int) -> Envelope:
    return Envelope(type=event_type, source="shops", aggregate_id=f"a-{n}", sequence=1, payload={"n": n},
                    correlation_id="", actor="test")


def _depth(uri: str, queue: str) -> int:
    with kombu.Connection(uri) as c:
        return c.default_channel.queue_declare(queue, passive=True).message_count


def test_a_window_is_confirmed_as_a_whole(broker):
    publisher = ConfirmedPublisher(broker)
    page = [_envelope("order_placed", n) for n in range(50)]
    publisher.publish_many(page)
    publisher.publish(_envelope("order_placed", 50))
    assert _depth(broker, "taken") == 51
    with kombu.Connection(broker) as c:
        first = c.default_channel.basic_get("taken", no_ack=True)
    assert first.properties["message_id"] == page[0].event_id and first.properties["type"] == "order_placed"
    assert first.properties["delivery_mode"] == 2 and first.properties["content_type"] == "application/json"
    assert Envelope.from_dict(json.loads(first.body)) == page[0]
    publisher.close()


def test_a_message_no_queue_takes_or_a_full_queue_refuses_fails_alone(broker):
    publisher = ConfirmedPublisher(broker)
    page = [_envelope("order_placed", 0), _envelope("nobody_wants", 1), _envelope("order_placed", 2)]
    with pytest.raises(PublishFailed, match="unroutable") as failed:
        publisher.publish_many(page)
    assert failed.value.confirmed == {0, 2}
    publisher.publish_many(page, mandatory=False)  # an announcement nobody may want
    assert _depth(broker, "taken") == 4

    with pytest.raises(PublishFailed, match="refused") as refused:
        publisher.publish_many([_envelope("stock_changed", n) for n in range(4)])
    assert refused.value.confirmed == {0, 1}
    assert _depth(broker, "full") == 2
    publisher.close()


def test_after_a_lost_connection_the_next_window_connects_again(broker):
    publisher = ConfirmedPublisher(broker)
    publisher.publish(_envelope("order_placed", 0))
    publisher.connection.connection.sock.shutdown(socket.SHUT_RDWR)  # the broker or the network went away
    with pytest.raises(PublishFailed) as lost:
        publisher.publish_many([_envelope("order_placed", n) for n in (1, 2)])
    assert lost.value.confirmed == frozenset()
    publisher.publish_many([_envelope("order_placed", n) for n in (1, 2)])
    assert _depth(broker, "taken") == 3
    publisher.close()
