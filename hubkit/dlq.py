"""Dead letters: list them with their errors, and replay them into their queue once fixed. The
subscriptions whose dead-letter queues to look at are handed in."""
from __future__ import annotations

import json

import pika

from hubkit import broker
from hubkit.delivery import ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, REPLAYED_HEADER


def _peek(body: bytes) -> dict:
    try:
        data = json.loads(body)
        return {k: data.get(k) for k in ("event_id", "type", "aggregate_id", "sequence")}
    except (ValueError, AttributeError):
        return {"event_id": None, "type": None, "raw": body[:200].decode("utf-8", "replace")}


def list_dead_letters(amqp_uri: str, subscriptions, queue: str | None = None) -> list[dict]:
    """Every dead letter, left in place (read without ack, returned when the channel closes)."""
    connection = broker.connect(amqp_uri)
    found = []
    try:
        channel = connection.channel()
        for sub in subscriptions:
            if queue and queue not in (sub.queue, sub.dead_letter_queue):
                continue
            count = channel.queue_declare(sub.dead_letter_queue, passive=True).method.message_count
            for _ in range(count):
                method, props, body = channel.basic_get(sub.dead_letter_queue, auto_ack=False)
                if method is None:
                    break
                headers = props.headers or {}
                error = headers.get(ERROR_HEADER)
                if error is None and headers.get("x-death"):
                    error = f"dead-lettered by the broker: {headers['x-death'][0].get('reason')}"
                found.append({"queue": sub.queue, **_peek(body), "attempts": headers.get(ATTEMPTS_HEADER),
                              "error": error, "failed_at": headers.get(FAILED_AT_HEADER)})
    finally:
        connection.close()
    return found


def replay(amqp_uri: str, subscriptions, queue: str | None = None, event_id: str | None = None) -> int:
    """Move dead letters back into their consumer's queue (attempts reset), confirmed one by one."""
    connection = broker.connect(amqp_uri)
    replayed = 0
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for sub in subscriptions:
            if queue and queue not in (sub.queue, sub.dead_letter_queue):
                continue
            count = channel.queue_declare(sub.dead_letter_queue, passive=True).method.message_count
            for _ in range(count):
                method, props, body = channel.basic_get(sub.dead_letter_queue, auto_ack=False)
                if method is None:
                    break
                if event_id and _peek(body).get("event_id") != event_id:
                    continue  # left unacked: back in the queue when the channel closes
                headers = {k: v for k, v in (props.headers or {}).items()
                           if k not in (ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, "x-death")}
                # counted: a replayed message dead-lettered again is a new dead letter (delivery.notice)
                props.headers = {**headers, REPLAYED_HEADER: int(headers.get(REPLAYED_HEADER) or 0) + 1}
                props.expiration = None
                channel.basic_publish("", sub.queue, body, props, mandatory=True)
                channel.basic_ack(method.delivery_tag)
                replayed += 1
    except pika.exceptions.UnroutableError as exc:
        raise SystemExit(f"replay failed, message left in the dead-letter queue: {exc}")
    finally:
        connection.close()
    return replayed
