"""Reaching RabbitMQ: wait for it, start a local one if installed but down, declare topology.
The subscriptions are handed in (the composition root derives them from the event contracts)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from urllib.parse import urlparse

import pika
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from hubkit import topology

# What pika raises when the broker is unreachable, busy or goes away: its connection set-up failures
# (AMQPConnectorStackTimeout, AMQPConnectorAborted ...) are not AMQPErrors, and some socket and
# TLS errors come through unwrapped.
CONNECTION_ERRORS = (pika.exceptions.AMQPError, AMQPConnectorException, OSError)


class BrokerUnavailable(SystemExit):
    pass


def _installed(path: str) -> str | None:
    """Debian's RabbitMQ tools live in /usr/sbin, which is not on every PATH."""
    return path if os.path.exists(path) else None


def connect(amqp_uri: str, attempts: int = 1) -> pika.BlockingConnection:
    params = pika.URLParameters(amqp_uri)
    params.connection_attempts, params.retry_delay = attempts, 1
    return pika.BlockingConnection(params)


def ensure_running(amqp_uri: str, wait_seconds: float = 90) -> None:
    """Return once the broker answers; start the local one if it is installed but down."""
    try:
        connect(amqp_uri).close()
        return
    except CONNECTION_ERRORS:
        pass
    host = urlparse(amqp_uri).hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BrokerUnavailable(f"RabbitMQ at {host} does not answer; check HUB_AMQP_URI")
    server = shutil.which("rabbitmq-server") or _installed("/usr/sbin/rabbitmq-server")
    if not server:
        raise BrokerUnavailable("RabbitMQ is not running and not installed: install it "
                                "(apt-get install rabbitmq-server) or set HUB_AMQP_URI")
    print("starting the local RabbitMQ ...", flush=True)
    subprocess.run([server, "-detached"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            connect(amqp_uri).close()
            return
        except CONNECTION_ERRORS:
            continue
    raise BrokerUnavailable(f"RabbitMQ did not come up within {wait_seconds:.0f}s")


def declare_topology(amqp_uri: str, subscriptions) -> None:
    connection = connect(amqp_uri, attempts=3)
    try:
        topology.declare(connection.channel(), subscriptions)
    finally:
        connection.close()


def consumer_counts(amqp_uri: str, subscriptions) -> dict[str, int]:
    """Consumers per subscription queue (a passive declare answers without the management plugin)."""
    connection = connect(amqp_uri)
    try:
        channel = connection.channel()
        return {sub.queue: channel.queue_declare(sub.queue, passive=True).method.consumer_count
                for sub in subscriptions}
    finally:
        connection.close()


def waiting_messages(amqp_uri: str, subscriptions) -> dict[str, int]:
    """Messages ready in each subscription's queue and retry queue (a passive declare; those a
    consumer holds unacked are not counted)."""
    connection = connect(amqp_uri)
    try:
        channel = connection.channel()
        return {queue: channel.queue_declare(queue, passive=True).method.message_count
                for sub in subscriptions for queue in (sub.queue, sub.retry_queue)}
    finally:
        connection.close()


def purge(amqp_uri: str, subscriptions) -> None:
    """Empty every queue of the topology (a fresh world, for the demo)."""
    connection = connect(amqp_uri)
    try:
        channel = connection.channel()
        for sub in subscriptions:
            for queue in (sub.queue, sub.retry_queue, sub.dead_letter_queue):
                channel.queue_purge(queue)
    finally:
        connection.close()


def local_vhost(name: str) -> str | None:
    """The AMQP URI of vhost `name` on the local broker, created if needed; None without rabbitmqctl."""
    ctl = shutil.which("rabbitmqctl") or _installed("/usr/sbin/rabbitmqctl")
    if not ctl:
        return None
    subprocess.run([ctl, "-q", "add_vhost", name], capture_output=True)
    done = subprocess.run([ctl, "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], capture_output=True)
    return f"amqp://guest:guest@127.0.0.1:5672/{name}" if done.returncode == 0 else None


def delete_local_vhost(name: str) -> None:
    """Remove vhost `name` and its queues from the local broker: every quorum queue holds file
    descriptors of a broker that has few, so a finished run gives them back."""
    ctl = shutil.which("rabbitmqctl") or _installed("/usr/sbin/rabbitmqctl")
    if ctl:
        subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True)
