"""The broker a hub sets up (`hub migrate` on the real RabbitMQ): queues only for the consumers it
runs, one user per component that may publish only the events it owns, and a relay that neither
sticks on an event nobody here consumes nor spins on a full queue."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import pika
import pytest
from sqlalchemy import insert, select, text

from hub import components
from hub.supervisor import free_port
from hubkit import broker, clock, outbox, topology
from hubkit.db import Database
from hubkit.envelope import Envelope
from services.accounting.models import metadata as accounting_metadata
from services.order.models import metadata as order_metadata
from tests.support import infra
from tests.support.hub import wait_for

pytestmark = pytest.mark.integration


def _migrate(env: dict) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", "migrate"], env={**os.environ, **env},
                          cwd=components.PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _queues(vhost: str) -> set[str]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name"], check=True,
                         capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines()[1:] if line.strip()}


def _users(vhost: str) -> set[str]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_users"], check=True, capture_output=True, text=True).stdout
    return {line.split("\t")[0] for line in out.splitlines() if line.split("\t")[0].endswith(f"@{vhost}")}


@pytest.fixture(scope="module")
def bare_hub(session_name, tmp_path_factory):
    """A hub with no shops and no ledgers, migrated: (its settings, its vhost)."""
    vhost = f"{session_name}_brk"
    var = tmp_path_factory.mktemp("bare-hub")
    env = {"HUB_AMQP_URI": infra.create_vhost(vhost), "HUB_VAR_DIR": str(var)}
    try:
        _migrate(env)
        yield components.settings(env), vhost
    finally:
        infra.delete_vhost(vhost)


# First in the module, before the bare hub below is migrated: beside it, this hub's 156 quorum queues ran a
# default broker's 927 file descriptors out in CI (its users could not log in after the import).
def test_a_hub_with_shops_ledgers_and_notifications_declares_their_queues_and_users(session_name, tmp_path):
    vhost = f"{session_name}_full"
    shops_file, notify_file = tmp_path / "shops.json", tmp_path / "notify.json"
    shops_file.write_text(json.dumps({"taobao": {**SHOP, "url": "http://127.0.0.1:1"},
                                      "jd": {**SHOP, "url": "http://127.0.0.1:1"}}))
    notify_file.write_text(json.dumps({"targets": [{"name": "ops", "url": "http://127.0.0.1:1", "format": "wecom",
                                                    "events": ["order_held", "low_stock"]}]}))
    env = {"HUB_AMQP_URI": infra.create_vhost(vhost), "HUB_VAR_DIR": str(tmp_path),
           "HUB_SHOPS_FILE": str(shops_file), "HUB_LEDGERS": "ufida", "HUB_NOTIFY_FILE": str(notify_file)}
    try:
        line = _migrate(env)
        queues = _queues(vhost)
        # only what a configured component consumes: the notifier's queues of the two events its target
        # wants, not those of the four other kinds it could be told of (56 subscriptions known)
        assert len(queues) == 156 and 3 * len(components.subscriptions()) == 168
        assert {"ledger.voucher_posted", "shops_jd.stock_changed", "shops_taobao.order_shipped",
                "notify.order_held", "notify.low_stock", "procurement.goods_issued",
                "procurement.stock_changed"} <= queues
        assert "52 subscriptions (156 queues) declared; 9 component users set up through rabbitmqctl" in line
        accounts = {a.name: a for a in components.broker_accounts(components.settings(env))}
        assert accounts["shops_jd"].publishes == ("channel_order_changed", "shop_failing", "dead_lettered")
        assert accounts["ledger"].publishes == ("voucher_refused", "dead_lettered") and accounts["ledger"].consumes
        assert accounts["notify"].publishes == ("dead_lettered",) and accounts["notify"].consumes
        assert _users(vhost) == {f"{n}@{vhost}" for n in (*components.SERVICES, "ledger", "shops_taobao", "shops_jd",
                                                          "notify")}
    finally:
        infra.delete_vhost(vhost)


def test_migrate_without_shops_ledgers_or_notifications_declares_no_connector_queues(bare_hub):
    settings, vhost = bare_hub
    queues = _queues(vhost)
    assert not {q for q in queues if q.startswith(("ledger.", "shops_", "notify."))}
    expected = {name for sub in components.subscriptions() if sub.service in components.SERVICES
                for name in (sub.queue, sub.retry_queue, sub.dead_letter_queue)}
    assert queues == expected and len(queues) == 135


def test_migrate_gives_each_component_a_user_of_its_own(bare_hub):
    _, vhost = bare_hub
    assert _users(vhost) == {f"{svc}@{vhost}" for svc in components.SERVICES}


def _user_channel(settings, account: str):
    uri = {a.name: u for a, u in components.broker_accounts(settings).items()}[account]
    connection = broker.connect(uri)
    return connection, _confirming(connection)


def _confirming(connection):
    channel = connection.channel()
    channel.confirm_delivery()  # a publish waits for the broker's answer: a refusal shows at once
    return channel


def _depth(settings, queue: str) -> int:
    connection = broker.connect(settings.amqp_uri)
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def _publish(channel, exchange: str, key: str) -> None:
    body = Envelope(type="order_placed", source="order", aggregate_id="o-forged", sequence=1,
                    payload={"order_id": "o-forged"}, correlation_id="", actor="x").to_json()
    channel.basic_publish(exchange, key, body, pika.BasicProperties(delivery_mode=2), mandatory=True)


def test_a_component_cannot_publish_an_event_it_does_not_own(bare_hub):
    settings, _ = bare_hub
    before = _depth(settings, "customer.order_placed")
    connection, channel = _user_channel(settings, "inventory")
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            _publish(channel, topology.EVENTS_EXCHANGE, "order_placed")
        assert refused.value.reply_code == 403 and "ACCESS_REFUSED" in refused.value.reply_text
        # nor around the events exchange: straight into the queue, or through another's retry queue
        for exchange, key in (("", "customer.order_placed"),
                              (topology.SET_ASIDE_EXCHANGE, "customer.order_placed.retry")):
            channel = _confirming(connection)
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
                _publish(channel, exchange, key)
            assert refused.value.reply_code == 403
    finally:
        connection.close()
    assert _depth(settings, "customer.order_placed") == before
    assert _depth(settings, "customer.order_placed.retry") == 0

    # its owner may: the same message arrives
    connection, channel = _user_channel(settings, "order")
    try:
        _publish(channel, topology.EVENTS_EXCHANGE, "order_placed")
    finally:
        connection.close()
    wait_for(lambda: _depth(settings, "customer.order_placed") == before + 1, 10, 0.2, "the owner's event")


def test_a_consumer_may_set_aside_only_into_its_own_queues(bare_hub):
    settings, _ = bare_hub
    connection, channel = _user_channel(settings, "customer")
    try:
        _publish(channel, topology.SET_ASIDE_EXCHANGE, "customer.order_cancelled.dlq")
        wait_for(lambda: _depth(settings, "customer.order_cancelled.dlq") == 1, 10, 0.2, "the dead letter")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            _publish(channel, topology.SET_ASIDE_EXCHANGE, "inventory.order_cancelled.dlq")
    finally:
        connection.close()
    assert _depth(settings, "inventory.order_cancelled.dlq") == 0


def test_a_removed_vhost_takes_its_component_users_along(session_name):
    vhost = f"{session_name}_usr"
    uri = infra.create_vhost(vhost)
    try:
        broker.set_up_accounts(uri, {broker.Account("ledger", (), True): broker.account_uri(uri, "ledger")})
        assert _users(vhost) == {f"ledger@{vhost}"}
    finally:
        infra.delete_vhost(vhost)
    assert _users(vhost) == set()


# -- the relay -------------------------------------------------------------------------------
@contextmanager
def _relay(settings, db_url: str, tmp_path, service: str = "accounting", **env):
    """`hub relay <service>` (accounting by default) as the hub starts it (with the service's own broker
    user) on the outbox at `db_url`, with these settings besides; yields its metrics port."""
    own_uri = {a.name: u for a, u in components.broker_accounts(settings).items()}[service]
    with _relay_process(tmp_path, [service], HUB_AMQP_URI=own_uri, **{f"HUB_{service.upper()}_DB_URL": db_url},
                        **env) as (port, _):
        yield port


@contextmanager
def _relay_process(tmp_path, services, **env):
    """`hub relay <services…>` with these variables (its log in relay.log); yields (its metrics port,
    the process), stopped by SIGTERM at the end."""
    port = free_port()
    env = {**os.environ, "HUB_VAR_DIR": str(tmp_path), "HUB_METRICS_PORT": str(port), **env}
    with open(tmp_path / "relay.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "relay", *services], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=components.PROJECT_ROOT, start_new_session=True)
    try:
        yield port, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


@pytest.fixture
def accounting_relay(bare_hub, tmp_path):
    """The accounting relay on an outbox of its own (SQLite); yields (the outbox's database, the
    relay's metrics URL)."""
    settings, _ = bare_hub
    db_url = f"sqlite:///{tmp_path / 'accounting.db'}"
    components.migrate("accounting", db_url)
    db = Database(db_url, accounting_metadata)
    with _relay(settings, db_url, tmp_path, HUB_RELAY_LEASE_SECONDS="2") as port:
        yield db, f"http://127.0.0.1:{port}/metrics"
    db.dispose()


@pytest.fixture
def outbox_url(request, session_name, tmp_path):
    """A migrated accounting outbox of its own: a PostgreSQL database, or a SQLite file."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'accounting.db'}"
        components.migrate("accounting", url)
        yield url
        return
    prefix = f"{session_name}_{tmp_path.name[-12:].replace('-', '_').lower()}"
    url = infra.create_databases(prefix, ["accounting"])["accounting"]
    try:
        components.migrate("accounting", url)
        yield url
    finally:
        infra.drop_databases(prefix, ["accounting"])


def _outbox_voucher(db, number: str) -> str:
    envelope = Envelope(type="voucher_posted", source="accounting", aggregate_id=number, sequence=1,
                        payload={"id": number}, correlation_id="", actor="test")
    outbox = db.metadata.tables["outbox"]
    with db.session() as s:
        s.execute(insert(outbox).values(event_id=envelope.event_id, event_type=envelope.type,
                                        body=envelope.to_json(), created_at=clock.now()))
    return envelope.event_id


def _row(db, event_id: str):
    outbox = db.metadata.tables["outbox"]
    with db.reader() as s:
        return s.execute(select(outbox.c.published_at, outbox.c.attempts, outbox.c.not_before)
                         .where(outbox.c.event_id == event_id)).one()


def test_a_relay_counts_an_event_no_configured_consumer_subscribes_to_as_delivered(bare_hub, tmp_path):
    settings, _ = bare_hub
    db_url = f"sqlite:///{tmp_path / 'order.db'}"
    components.migrate("order", db_url)
    db = Database(db_url, order_metadata)
    envelope = Envelope(type="order_held", source="order", aggregate_id="o-1", sequence=1,
                        payload={"order_id": "o-1"}, correlation_id="", actor="test")
    # order_held: only the notifier subscribes, and no notification target runs here (stock_changed was
    # this example until procurement subscribed to it, issue 15)
    with db.session() as s:
        s.execute(insert(db.metadata.tables["outbox"]).values(
            event_id=envelope.event_id, event_type=envelope.type, body=envelope.to_json(), created_at=clock.now()))
    try:
        with _relay(settings, db_url, tmp_path, service="order", HUB_RELAY_LEASE_SECONDS="2") as port:
            wait_for(lambda: _row(db, envelope.event_id).published_at is not None, 30, 0.2, "the event marked published")
            assert _row(db, envelope.event_id).attempts == 0
            assert 'hub_outbox_unconsumed_total{event="order_held",service="order"} 1.0' in \
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        db.dispose()


def test_one_process_relays_several_outboxes_each_service_as_its_own_broker_user(bare_hub, tmp_path):
    settings, _ = bare_hub
    own = {a.name: u for a, u in components.broker_accounts(settings).items()}
    dbs = {}
    for service, metadata in (("order", order_metadata), ("accounting", accounting_metadata)):
        url = f"sqlite:///{tmp_path / (service + '.db')}"
        components.migrate(service, url)
        dbs[service] = Database(url, metadata)
    placed = Envelope(type="order_placed", source="order", aggregate_id="o-relays", sequence=1,
                      payload={"order_id": "o-relays"}, correlation_id="", actor="test")
    with dbs["order"].session() as s:
        s.execute(insert(dbs["order"].metadata.tables["outbox"]).values(
            event_id=placed.event_id, event_type=placed.type, body=placed.to_json(), created_at=clock.now()))
    voucher = _outbox_voucher(dbs["accounting"], "v-relays")
    before = _depth(settings, "customer.order_placed")
    # each relay must take its own service's URI: the order user may not publish voucher_posted, nor the
    # accounting user order_placed (topic permissions), and HUB_AMQP_URI lets nobody in
    env = {"HUB_AMQP_URI": settings.amqp_uri.replace("@", "x@", 1), "HUB_RELAY_LEASE_SECONDS": "2",
           "HUB_AMQP_URI_ORDER": own["order"], "HUB_AMQP_URI_ACCOUNTING": own["accounting"],
           **{f"HUB_{svc.upper()}_DB_URL": str(db.engine.url) for svc, db in dbs.items()}}
    try:
        with _relay_process(tmp_path, ["order", "accounting"], **env) as (port, proc):
            wait_for(lambda: _row(dbs["order"], placed.event_id).published_at is not None
                     and _row(dbs["accounting"], voucher).published_at is not None, 30, 0.2, "both events published")
            wait_for(lambda: _depth(settings, "customer.order_placed") == before + 1, 10, 0.2,
                     "the order event routed")
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert 'hub_outbox_published_total{service="order"} 1.0' in metrics
            assert 'hub_outbox_published_total{service="accounting"} 1.0' in metrics
    finally:
        for db in dbs.values():
            db.dispose()
    assert proc.returncode == 0  # both relays stop on the one signal
    lines = [json.loads(line) for line in (tmp_path / "relay.log").read_text().splitlines() if line.startswith("{")]
    assert {line["process"] for line in lines if "connected" in line["msg"]} == {"order-relay", "accounting-relay"}


def test_a_relay_publishes_again_later_what_a_full_queue_refused(bare_hub, accounting_relay):
    settings, _ = bare_hub
    db, _ = accounting_relay
    # a consumer that is away, with a queue that holds one message
    connection = broker.connect(settings.amqp_uri)
    channel = connection.channel()
    channel.queue_declare("away.voucher_posted", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    channel.queue_bind("away.voucher_posted", topology.EVENTS_EXCHANGE, "voucher_posted")
    try:
        ids = [_outbox_voucher(db, f"v-{n}") for n in range(3)]
        wait_for(lambda: sum(_row(db, i).published_at is not None for i in ids) == 1, 30, 0.2, "one voucher in")
        wait_for(lambda: all(_row(db, i).attempts >= 1 for i in ids if _row(db, i).published_at is None),
                 10, 0.2, "the refused vouchers set to wait")
        time.sleep(1.5)  # the refused rows wait (1 s, then 2 s ...) instead of being sent again at once
        assert all(_row(db, i).attempts <= 3 for i in ids)
        # the consumer comes back and takes what is there: the rest follow, none lost
        for _ in range(60):
            channel.queue_purge("away.voucher_posted")
            if all(_row(db, i).published_at is not None for i in ids):
                break
            time.sleep(0.5)
        assert all(_row(db, i).published_at is not None for i in ids)
    finally:
        channel.queue_delete("away.voucher_posted")
        connection.close()


def _emit_voucher(db, number: str) -> str:
    """A voucher_posted event written as the services write events (hubkit.outbox.emit)."""
    with db.session() as s:
        return outbox.emit(s, db.metadata.tables, source="accounting", event_type="voucher_posted",
                           aggregate_id=number, payload={"id": number}, actor="test", correlation_id="").event_id


def _published_within(db, event_id: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _row(db, event_id).published_at is not None:
            return True
        time.sleep(0.05)
    return False


# an idle relay looks at its outbox every 30 s and renews its lease every 40 s: whatever it
# publishes sooner, it was woken for
SLEEPY = {"HUB_RELAY_IDLE_POLL_SECONDS": "30", "HUB_RELAY_LEASE_SECONDS": "120"}


@pytest.mark.parametrize("outbox_url", ["postgresql", "sqlite"], indirect=True)
def test_an_idle_relay_publishes_a_commit_at_once_not_at_its_next_poll(bare_hub, outbox_url, tmp_path):
    settings, _ = bare_hub
    db = Database(outbox_url, accounting_metadata)
    with _relay(settings, outbox_url, tmp_path, **SLEEPY):
        first = _emit_voucher(db, "v-0")
        wait_for(lambda: _row(db, first).published_at is not None, 30, 0.1, "the relay up and publishing")
        for n in range(1, 4):
            time.sleep(1)  # idle: the next look at the outbox is 30 s away
            event_id = _emit_voucher(db, f"v-{n}")
            assert _published_within(db, event_id, 2), f"event {n} waited for the idle poll"
    db.dispose()


@pytest.mark.parametrize("outbox_url", ["postgresql"], indirect=True)
def test_a_commit_whose_wake_up_is_lost_is_published_by_the_idle_poll(bare_hub, outbox_url, tmp_path):
    settings, _ = bare_hub
    db = Database(outbox_url, accounting_metadata)
    with _relay(settings, outbox_url, tmp_path, HUB_RELAY_IDLE_POLL_SECONDS="2", HUB_RELAY_LEASE_SECONDS="120"):
        first = _emit_voucher(db, "v-0")
        wait_for(lambda: _row(db, first).published_at is not None, 30, 0.1, "the relay up and publishing")
        time.sleep(1)
        silent = _outbox_voucher(db, "v-1")  # written without the NOTIFY: nothing wakes the relay
        assert _published_within(db, silent, 6), "the idle poll did not find the row"
    db.dispose()


@pytest.mark.parametrize("outbox_url", ["postgresql"], indirect=True)
def test_a_relay_whose_listening_connection_is_cut_listens_again(bare_hub, outbox_url, tmp_path):
    settings, _ = bare_hub
    db = Database(outbox_url, accounting_metadata)
    database = outbox_url.rsplit("/", 1)[1]

    def listeners(terminate: bool = False) -> int:
        what = "pg_terminate_backend(pid)" if terminate else "pid"
        with db.session() as s:
            return len(s.execute(text(f"SELECT {what} FROM pg_stat_activity "  # noqa: S608 (no input)
                                      "WHERE datname = :db AND query = 'LISTEN hub_outbox'"),
                                 {"db": database}).all())

    with _relay(settings, outbox_url, tmp_path, **SLEEPY) as port:
        first = _emit_voucher(db, "v-0")
        wait_for(lambda: _row(db, first).published_at is not None, 30, 0.1, "the relay up and publishing")
        assert listeners(terminate=True) == 1
        # not listening: it polls as before, and stays ready
        during = _emit_voucher(db, "v-1")
        assert _published_within(db, during, 2)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        wait_for(listeners, 10, 0.2, "the relay listening again")
        time.sleep(1)  # idle again
        after = _emit_voucher(db, "v-2")
        assert _published_within(db, after, 2), "the relay did not listen again"
    db.dispose()


SHOP = {"app_key": "k", "app_secret": "s", "shops": [{"shop": "main", "access_token": "a", "refresh_token": "r",
                                                     "stock_ratio": 0.5}]}


def test_a_queue_an_older_version_declared_keeps_its_arguments_and_the_rest_is_declared(session_name):
    vhost = f"{session_name}_old"
    uri = infra.create_vhost(vhost)
    sub = topology.Subscription("order", "stock_short")
    try:
        connection = broker.connect(uri)
        before = dict(topology.main_queue_arguments(sub))
        del before["x-max-length"]  # as the hub declared it before main queues were bounded
        connection.channel().queue_declare(sub.queue, durable=True, arguments=before)
        connection.close()
        assert broker.declare_topology(uri, [sub, topology.Subscription("order", "stock_reserved")]) == [sub.queue]
        assert {sub.retry_queue, sub.dead_letter_queue, "order.stock_reserved"} <= _queues(vhost)
        connection = broker.connect(uri)
        _publish(_confirming(connection), topology.EVENTS_EXCHANGE, "stock_short")  # still bound and routed
        connection.close()
        assert broker.declare_topology(uri, [sub]) == [sub.queue]  # and again: idempotent
    finally:
        infra.delete_vhost(vhost)
