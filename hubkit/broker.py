"""Reaching RabbitMQ: wait for it, start a local one if installed but down, declare topology, and
give each component a broker user of its own. The subscriptions and the accounts are handed in (the
composition root derives them from the event contracts)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlparse, urlunparse

import httpx
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


_INEQUIVALENT = re.compile(r"PRECONDITION_FAILED - inequivalent arg .* for queue '([^']+)'")


def declare_topology(amqp_uri: str, subscriptions) -> list[str]:
    """Declare the topology; returns the main queues an older version declared with other
    arguments (before the length bound), which keep theirs: the broker never changes a queue's
    arguments, only a policy or recreating the queue empty does."""
    subscriptions, kept = list(subscriptions), list[str]()
    connection = connect(amqp_uri, attempts=3)
    try:
        while True:
            try:
                topology.declare(connection.channel(), subscriptions, keep=kept)
                return kept
            except pika.exceptions.ChannelClosedByBroker as exc:
                found = _INEQUIVALENT.match(exc.reply_text or "")
                if exc.reply_code != 406 or not found or found.group(1) in kept:
                    raise
                kept.append(found.group(1))
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
        return waiting_messages_on(connection.channel(), subscriptions)
    finally:
        connection.close()


def waiting_messages_on(channel, subscriptions) -> dict[str, int]:
    """`waiting_messages` on an open channel (one asking often keeps its connection)."""
    return {queue: channel.queue_declare(queue, passive=True).method.message_count
            for sub in subscriptions for queue in (sub.queue, sub.retry_queue)}


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
    """Remove vhost `name`, its queues and its components' users from the local broker: every
    quorum queue holds file descriptors of a broker that has few, so a finished run gives them back.
    One `rabbitmqctl eval` does it all (each rabbitmqctl call starts a VM, a second and more); a
    broker whose internals differ gets the separate commands."""
    ctl = shutil.which("rabbitmqctl") or _installed("/usr/sbin/rabbitmqctl")
    if not ctl:
        return
    vhost, suffix = erlang_binary(name), erlang_binary(f"@{name}")
    done = ctl_eval(
        f"V = {vhost}, S = {suffix}, By = <<\"hub\">>, "
        "Users = [proplists:get_value(user, U) || U <- rabbit_auth_backend_internal:list_users()], "
        "Mine = [U || U <- Users, is_binary(U), binary:longest_common_suffix([U, S]) =:= byte_size(S)], "
        "ok = case rabbit_vhost:exists(V) of true -> rabbit_vhost:delete(V, By); false -> ok end, "
        "[ok = rabbit_auth_backend_internal:delete_user(U, By) || U <- Mine], ok.")
    if not done:
        subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True)
        delete_users(name)


def ctl_eval(expression: str) -> bool:
    """Run an Erlang expression in the local broker (`rabbitmqctl eval`); whether it returned."""
    ctl = _rabbitmqctl()
    return ctl is not None and subprocess.run([ctl, "-q", "eval", expression], capture_output=True).returncode == 0


def erlang_binary(text: str) -> str:
    """`text` as an Erlang binary literal (vhost and user names are plain, but quoted all the same)."""
    return "<<" + json.dumps(text) + "/utf8>>"


# -- broker users: one per component, allowed only what it owns ---------------------------------
@dataclass(frozen=True)
class Account:
    """A component's broker user: the event types it may publish on the events exchange, and
    whether it consumes (its queues are `<name>.*`, set aside through the set-aside exchange)."""
    name: str                        # the consumer/publisher name: order, ledger, shops_taobao
    publishes: tuple[str, ...] = ()
    consumes: bool = False


def vhost_of(amqp_uri: str) -> str:
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def account_uri(admin_uri: str, account: str) -> str:
    """The URI a component connects with when none is configured for it: the admin URI's broker and
    vhost, user `<account>@<vhost>` (users are per broker, so each vhost has its own), password
    derived from the admin's (HMAC-SHA256): whoever runs `hub migrate` and the supervisor can set
    it, a component that is handed only its own URI cannot work out another's."""
    parts = urlparse(admin_uri)
    user = f"{account}@{vhost_of(admin_uri)}"
    secret = unquote(parts.password or "").encode()
    password = hmac.new(secret, user.encode(), hashlib.sha256).hexdigest()[:32]
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{password}@{f'[{host}]' if ':' in host else host}" + \
        (f":{parts.port}" if parts.port else "")
    return urlunparse(parts._replace(netloc=netloc))


def _credentials(amqp_uri: str) -> tuple[str, str]:
    parts = urlparse(amqp_uri)
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")


def _password_hash(password: str) -> str:
    # RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _exactly(names: Iterable[str]) -> str:
    names = sorted(names)
    return f"^({'|'.join(re.escape(n) for n in names)})$" if names else "^$"


def definitions(vhost: str, accounts: dict[Account, str]) -> dict:
    """RabbitMQ definitions (users, permissions, topic permissions) of the accounts, each with the
    URI it connects with. A user may configure nothing (`hub migrate` declares the topology), write
    to the events exchange only the types it owns and to the set-aside exchange only its own
    queues' keys (topic permissions), and read only its own queues; it has no write on the default
    exchange, which would reach any queue by name."""
    doc: dict[str, list] = {"users": [], "permissions": [], "topic_permissions": []}
    for account, uri in accounts.items():
        user, password = _credentials(uri)
        own = f"^{re.escape(account.name)}\\."
        exchanges = ([topology.EVENTS_EXCHANGE] if account.publishes else []) + \
            ([topology.SET_ASIDE_EXCHANGE] if account.consumes else [])
        doc["users"].append({"name": user, "password_hash": _password_hash(password),
                             "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []})
        doc["permissions"].append({"user": user, "vhost": vhost, "configure": "", "write": _exactly(exchanges),
                                   "read": own if account.consumes else ""})
        doc["topic_permissions"] += [
            {"user": user, "vhost": vhost, "exchange": topology.EVENTS_EXCHANGE,
             "write": _exactly(account.publishes), "read": "^$"},
            {"user": user, "vhost": vhost, "exchange": topology.SET_ASIDE_EXCHANGE,
             "write": own if account.consumes else "^$", "read": "^$"}]
    return doc


class AccountsUnavailable(Exception):
    """Neither the management API nor a working local rabbitmqctl: no users can be made."""


def _rabbitmqctl() -> str | None:
    return shutil.which("rabbitmqctl") or _installed("/usr/sbin/rabbitmqctl")


def import_definitions(admin_uri: str, doc: dict, management_url: str = "") -> str:
    """Load `doc` into the broker: through the management API when its URL is given (with the admin
    URI's credentials), else the local rabbitmqctl. Returns which way it went."""
    if management_url:
        reply = httpx.post(f"{management_url.rstrip('/')}/api/definitions", json=doc,
                           auth=_credentials(admin_uri), timeout=30)
        if reply.status_code >= 300:
            raise AccountsUnavailable(f"the management API at {management_url} answered {reply.status_code}: "
                                      f"{reply.text[:200]}")
        return "the management API"
    ctl = _rabbitmqctl()
    host = urlparse(admin_uri).hostname or "127.0.0.1"
    if not ctl or host not in ("127.0.0.1", "localhost", "::1"):
        raise AccountsUnavailable("set HUB_AMQP_MANAGEMENT_URL (the broker's management API) to create "
                                  "the components' broker users")
    done = subprocess.run([ctl, "-q", "import_definitions"], input=json.dumps(doc), text=True,
                          capture_output=True)
    if done.returncode != 0:
        raise AccountsUnavailable(f"rabbitmqctl import_definitions failed: {(done.stderr or done.stdout).strip()[:200]}")
    return "rabbitmqctl"


def set_up_accounts(admin_uri: str, accounts: dict[Account, str], management_url: str = "",
                    wait_seconds: float = 30) -> str:
    """Create or update each component's user with its permissions; return once they can log in."""
    how = import_definitions(admin_uri, definitions(vhost_of(admin_uri), accounts), management_url)
    deadline = time.monotonic() + wait_seconds
    for uri in accounts.values():  # the import completes asynchronously
        while True:
            try:
                connect(uri).close()
                break
            except CONNECTION_ERRORS:
                if time.monotonic() > deadline:
                    raise AccountsUnavailable(f"user {_credentials(uri)[0]} cannot log in after the import")
                time.sleep(0.2)
    return how


def can_log_in(amqp_uri: str) -> bool:
    try:
        connect(amqp_uri).close()
        return True
    except CONNECTION_ERRORS:
        return False


def delete_users(vhost: str) -> None:
    """Remove the components' users of `vhost` (named `<account>@<vhost>`) from the local broker."""
    ctl = _rabbitmqctl()
    if not ctl:
        return
    listed = subprocess.run([ctl, "-q", "list_users", "--no-table-headers"], capture_output=True, text=True)
    for line in listed.stdout.splitlines():
        user = line.split("\t")[0]
        if user.endswith(f"@{vhost}"):
            subprocess.run([ctl, "-q", "delete_user", user], capture_output=True)
