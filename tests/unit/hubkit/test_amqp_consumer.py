"""The plain-process consumer's handling of one message and of a broker that goes away, against
a fake channel (the real broker: tests/integration/test_connector_delivery.py)."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pika
import pytest
from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout

from hubkit import amqp_consumer, events, metrics, topology
from hubkit.amqp_consumer import Consumer, SetAsideFailed
from hubkit.delivery import ATTEMPTS_HEADER, ERROR_HEADER, Policy
from hubkit.envelope import Envelope


class Voucher(events.Event):
    """A contract of the kernel's own tests (the kernel never imports contracts/)."""
    type = "voucher_posted"
    publisher = "accounting"
    subscribers = ("ledger",)

    id: str


SUB = events.subscription(Voucher, "ledger")


class FakeChannel:
    def __init__(self, publish_error=None):
        self.calls, self.publish_error = [], publish_error

    def basic_publish(self, exchange, routing_key, body, properties, mandatory=False):
        if self.publish_error:
            raise self.publish_error
        self.calls.append(("publish", exchange, routing_key, properties))

    def basic_ack(self, tag):
        self.calls.append(("ack", tag))


def _envelope(payload=None, schema_version=1) -> bytes:
    return Envelope(type="voucher_posted", source="accounting", aggregate_id="voucher:1", sequence=1,
                    payload={"id": "v1"} if payload is None else payload, correlation_id="c1", actor="test",
                    schema_version=schema_version).to_json().encode()


def _deliver(handler, body=None, headers=None, channel=None):
    consumer = Consumer("amqp://unused", Policy(max_attempts=3, retry_base_seconds=0.5, retry_max_seconds=3))
    consumer.subscribe(Voucher, "ledger", handler)
    channel = channel or FakeChannel()
    props = pika.BasicProperties(content_type="application/json", headers=headers, message_id="m1")
    consumer._deliver(channel, SimpleNamespace(delivery_tag=7), props, _envelope() if body is None else body,
                      consumer.routes[SUB.queue])
    return channel.calls


def _count(counter, handler):
    return counter.labels("ledger", handler)._value.get()


def test_a_handled_message_is_acked_and_counted():
    seen = []

    def on_voucher(event, envelope):
        seen.append((event, envelope.payload))
    before = _count(metrics.MESSAGES_HANDLED, "on_voucher")
    assert _deliver(on_voucher) == [("ack", 7)]
    assert seen == [(Voucher(id="v1"), {"id": "v1"})] and _count(metrics.MESSAGES_HANDLED, "on_voucher") == before + 1


def test_a_duplicate_is_acked_and_counted_as_such():
    def dup(event, envelope):
        return False
    before = _count(metrics.MESSAGES_DUPLICATE, "dup")
    assert _deliver(dup) == [("ack", 7)]
    assert _count(metrics.MESSAGES_DUPLICATE, "dup") == before + 1


def failing(event, envelope):
    raise KeyError("number")


def test_a_failing_handler_sends_a_copy_to_the_retry_queue_then_acks():
    before = _count(metrics.MESSAGES_FAILED, "failing")
    (publish, exchange, key, props), ack = _deliver(failing)
    assert (publish, exchange, key, ack) == ("publish", topology.SET_ASIDE_EXCHANGE, "ledger.voucher_posted.retry", ("ack", 7))
    assert props.expiration == "500" and props.delivery_mode == 2 and props.message_id == "m1"
    assert props.headers[ATTEMPTS_HEADER] == 1 and props.headers[ERROR_HEADER] == "KeyError: 'number'"
    assert _count(metrics.MESSAGES_FAILED, "failing") == before + 1


def test_the_last_attempt_goes_to_the_dead_letter_queue():
    before = _count(metrics.MESSAGES_DEAD_LETTERED, "failing")
    (_, exchange, key, props), ack = _deliver(failing, headers={ATTEMPTS_HEADER: 2})
    assert (exchange, key, ack) == (topology.SET_ASIDE_EXCHANGE, "ledger.voucher_posted.dlq", ("ack", 7))
    assert props.expiration is None and props.headers[ATTEMPTS_HEADER] == 3
    assert _count(metrics.MESSAGES_DEAD_LETTERED, "failing") == before + 1


def test_no_envelope_is_dead_lettered_at_once_without_calling_the_handler():
    (_, exchange, _, props), ack = _deliver(failing, body=b"{not json")
    assert exchange == topology.SET_ASIDE_EXCHANGE and ack == ("ack", 7)
    assert props.headers[ATTEMPTS_HEADER] == 1 and props.headers[ERROR_HEADER].startswith("EnvelopeError")


@pytest.mark.parametrize("body, problem", [
    (_envelope({"id": "v1", "number": "x"}), "number: Extra inputs are not permitted"),
    (_envelope({}), "id: Field required"),
    (_envelope(schema_version=2), "schema version 2 is not accepted"),
])
def test_an_event_that_does_not_fit_its_contract_is_dead_lettered_at_once(body, problem):
    before = _count(metrics.MESSAGES_DEAD_LETTERED, "failing")
    (_, exchange, key, props), ack = _deliver(failing, body=body)
    assert (exchange, key, ack) == (topology.SET_ASIDE_EXCHANGE, "ledger.voucher_posted.dlq", ("ack", 7))
    assert props.headers[ATTEMPTS_HEADER] == 1 and props.headers[ERROR_HEADER].startswith("InvalidEvent")
    assert problem in props.headers[ERROR_HEADER]
    assert _count(metrics.MESSAGES_DEAD_LETTERED, "failing") == before + 1


def test_a_copy_that_is_not_confirmed_leaves_the_original_unacked():
    channel = FakeChannel(publish_error=pika.exceptions.UnroutableError([]))
    with pytest.raises(SetAsideFailed):
        _deliver(failing, channel=channel)
    assert channel.calls == []


def test_a_broker_that_cannot_be_reached_is_retried_on_later_polls(monkeypatch):
    attempts = []

    def refuse(params):
        attempts.append(params)
        raise AMQPConnectorStackTimeout("timeout")  # not a pika AMQPError
    monkeypatch.setattr(amqp_consumer.pika, "BlockingConnection", refuse)
    consumer = Consumer("amqp://guest:guest@127.0.0.1:1/%2F", Policy())
    consumer.poll(0.01)
    consumer.poll(0.01)  # within the back-off: no new attempt
    assert len(attempts) == 1 and consumer.connection is None
    consumer._reconnect_at = 0
    consumer.poll(0.01)
    assert len(attempts) == 2


def test_a_failed_set_aside_drops_the_connection_so_the_broker_redelivers():
    closed = []

    class Connection:
        is_open = True

        def process_data_events(self, time_limit):
            raise SetAsideFailed("no confirm")

        def close(self):
            closed.append(True)
    consumer = Consumer("amqp://unused", Policy())
    consumer.connection = Connection()
    consumer.poll(0.01)
    assert closed == [True] and consumer.connection is None


def test_only_subscribers_named_by_the_contract_consume():
    with pytest.raises(events.ContractError):
        Consumer("amqp://unused", Policy()).subscribe(Voucher, "inventory", failing)


def test_a_message_s_correlation_id_does_not_leak_into_the_next():
    from hubkit import logging as hublog

    def sets_it(event, envelope):
        hublog.correlation_id.set(envelope.correlation_id)
    before = hublog.correlation_id.get(None)
    _deliver(sets_it)
    assert hublog.correlation_id.get(None) == before


def test_a_batched_route_gets_what_one_poll_brought_and_acks_each_by_its_outcome():
    consumer = Consumer("amqp://unused", Policy(max_attempts=3, retry_base_seconds=0.5, retry_max_seconds=3))
    batches = []

    def on_vouchers(batch):
        batches.append([event.id for event, _ in batch])
        return [True, False, KeyError("number")]
    consumer.subscribe(Voucher, "ledger", on_vouchers, batched=True)
    channel, route = FakeChannel(), consumer.routes[SUB.queue]
    for tag, voucher in enumerate(["v1", "v2", "v3"], start=1):
        consumer._deliver(channel, SimpleNamespace(delivery_tag=tag), pika.BasicProperties(headers=None),
                          _envelope({"id": voucher}), route)
    assert channel.calls == [] and batches == []  # gathered until the poll hands them over
    consumer._hand_over()
    assert batches == [["v1", "v2", "v3"]]
    assert channel.calls[:2] == [("ack", 1), ("ack", 2)]
    (_, _, key, props), ack = channel.calls[2:]
    assert key == "ledger.voucher_posted.retry" and ack == ("ack", 3) and props.headers[ATTEMPTS_HEADER] == 1


def test_wake_makes_a_poll_return_while_the_broker_is_away():
    consumer = Consumer("amqp://unused", Policy())
    consumer._reconnect_at = time.monotonic() + 3600  # away: the poll would wait out its whole time limit
    polling = threading.Thread(target=consumer.poll, args=(3600,), daemon=True)
    polling.start()
    consumer.wake()
    polling.join(60)
    assert not polling.is_alive()


def test_wake_asks_an_open_connection_for_a_callback_that_ends_its_poll():
    asked = []

    class Connection:
        def add_callback_threadsafe(self, callback):  # pika's one thread-safe call; its poll returns after it
            asked.append(callback)
    consumer = Consumer("amqp://unused", Policy())
    consumer.connection = Connection()
    consumer.wake()
    assert len(asked) == 1
