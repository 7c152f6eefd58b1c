"""A whole hub for a test session: its own vhost and databases, every process a real OS
process on free ports, plus helpers to talk to it and look into its databases."""
from __future__ import annotations

import importlib
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway import auth
from gateway.models import metadata as gateway_metadata
from hub import components
from hub.supervisor import Stack, free_port
from hubkit.db import Database

BY_GATEWAY_URL: dict[str, Hub] = {}


class Hub:
    def __init__(self, amqp_uri: str, db_urls: dict, log_dir: Path, extra_env: dict | None = None,
                 processes=None):
        self.env = {
            "HUB_AMQP_URI": amqp_uri,
            **{f"HUB_{name.upper()}_DB_URL": url for name, url in db_urls.items()},
            # every gRPC server (services, ledger and shop connectors) on its own port, dialled there,
            # unless extra_env names it
            **components.grpc_endpoints(free_port, extra_env),
            "HUB_GATEWAY_PORT": str(free_port()),
            # fast retries so poison reaches the dead-letter queue within a test
            "HUB_RETRY_BASE_SECONDS": "0.2", "HUB_CONSUMER_MAX_ATTEMPTS": "3",
            "HUB_RELAY_LEASE_SECONDS": "2", "HUB_LOG_LEVEL": "INFO",
            "HUB_AUDIT_INTERVAL_SECONDS": "2",  # the books audit's gauge within a test's patience
            # replenishment's signals gather 500 ms as deployed: every test waits for its hub to be quiet
            "HUB_CONSUMER_BACKGROUND_BATCH_WAIT_MS": "20",
            "HUB_BUSINESS_METRICS_SECONDS": "1",  # the business gauges as fresh as a test's scrape
            # several hubs share the machine's PostgreSQL (100 connections): small pools
            "HUB_DB_POOL_SIZE": "3",
            # no backpressure: fault tests pile up orders on purpose (test_backpressure sets its own)
            "HUB_INTAKE_HIGH_WATERMARK": "0",
            **(extra_env or {}),
        }
        self.settings = components.settings(self.env)
        ports = {}
        self.stack = Stack(self.env, log_dir, metrics_ports=lambda name: ports.setdefault(name, free_port()))
        self.whole = processes is None  # a part of the hub applies no event: nothing to audit after a test
        if processes is not None:  # a part of the hub, e.g. only what answers requests (no workers, no relays)
            self.stack.procs = {name: p for name, p in self.stack.procs.items() if processes(name)}
        self.dbs = {svc: Database(db_urls[svc], importlib.import_module(f"services.{svc}.models").metadata)
                    for svc in components.SERVICES}
        self.gateway_db = Database(db_urls["gateway"], gateway_metadata)
        self._keys: dict[str, str] = {}
        self._http = httpx.Client(timeout=5)  # asks the workers what they hold, many times a second
        self._broker: tuple | None = None  # (connection, channel) `busy` asks on: opening one costs more than asking
        self._subscriptions = [sub for svc in components.SERVICES for sub in components.subscriptions(svc)]

    def start(self) -> Hub:
        # what `hub migrate` does, in this process (a process of its own spent seconds on its imports)
        settings = components.settings(self.stack.env)  # with what a test added to the env since
        components.migrate_all(settings)
        components.prepare_broker(settings)
        self.stack.start()
        self.stack.wait_ready(90)
        return self

    def stop(self, graceful: bool = False) -> None:
        """End every process. A test hub is thrown away with its vhost and databases and nothing
        looks at how it stopped: kill -9 (a worker's own stop takes seconds), unless `graceful`."""
        self._close_broker()
        self._http.close()
        if not graceful:
            for name in self.stack.procs:
                self.stack.signal(name, signal.SIGKILL)
        self.stack.stop()
        for db in (*self.dbs.values(), self.gateway_db):
            db.dispose()

    def key(self, role: str) -> str:
        if role not in self._keys:
            self._keys[role] = auth.add_user(self.gateway_db, f"test-{role}-{len(self._keys)}-{time.time_ns()}", role)
        return self._keys[role]

    def client(self, role: str | None = "admin", headers: dict | None = None) -> httpx.Client:
        """A client acting as a new user of `role` (None: no API key, only `headers`)."""
        headers = {**({"X-API-Key": self.key(role)} if role else {}), **(headers or {})}
        BY_GATEWAY_URL[str(self.stack.gateway_url).rstrip("/")] = self  # its clients' hub (tests/support/approvals)
        return httpx.Client(base_url=self.stack.gateway_url, headers=headers, timeout=30)

    def metric(self, process: str, name: str, **labels) -> float:
        """Sum of a metric's samples (matching labels) scraped from one process."""
        port = self.stack.procs[process].metrics_port
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def busy(self) -> dict:
        """What is still on its way: unpublished outbox rows per service, and messages waiting in
        the services' queues (the connectors' queues do not feed the books)."""
        from hubkit import outbox
        waiting = {}
        for svc, db in self.dbs.items():
            with db.reader() as s:
                pending, _ = outbox.backlog(s, db.metadata.tables["outbox"])
            if pending:
                waiting[f"{svc} outbox"] = pending
        queues = self._waiting_messages()
        return {**waiting, **{q: n for q, n in queues.items() if n}, **self._in_hand()}

    def _in_hand(self) -> dict[str, int]:
        """Deliveries each worker holds and has not settled (hub_messages_in_hand): the part of a
        message's way the broker's ready count does not show. A worker that does not answer holds
        nothing the broker will not deliver again (a killed one's deliveries go back to its queue)."""
        held = {}
        if self._http.is_closed:  # a hub stopped and started again
            self._http = httpx.Client(timeout=5)
        for name, proc in self.stack.procs.items():
            if not name.endswith("-worker") or not proc.metrics_port:
                continue
            try:
                text = self._http.get(f"http://127.0.0.1:{proc.metrics_port}/metrics",
                                      params={"name[]": "hub_messages_in_hand"}).text
            except httpx.HTTPError:
                continue
            count = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith("hub_messages_in_hand{"))
            if count:
                held[f"{name} in hand"] = int(count)
        return held

    def _waiting_messages(self) -> dict[str, int]:
        """Messages ready in the services' queues, asked on the connection kept for it (opened
        again once if the broker dropped it: a test may restart the broker)."""
        from hubkit import broker
        for attempt in (1, 2):
            try:
                if self._broker is None or not self._broker[1].is_open:
                    self._close_broker()
                    connection = broker.connect(self.env["HUB_AMQP_URI"])
                    self._broker = (connection, connection.channel())
                return broker.waiting_messages_on(self._broker[1], self._subscriptions)
            except broker.CONNECTION_ERRORS:
                self._close_broker()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _close_broker(self) -> None:
        from hubkit import broker
        if self._broker is not None:
            try:
                self._broker[0].close()
            except broker.CONNECTION_ERRORS:
                pass
            self._broker = None

    def wait_quiet(self, timeout: float = 60, calm: float = 0.3) -> None:
        """Until nothing is on its way for `calm` seconds in a row. Every step of a message's way is
        seen: an unpublished outbox row (a handler's new events commit with its inbox row and stay
        unpublished until the relay marks them, MARK_SECONDS after their confirm), a message ready in a
        queue or its retry queue, a delivery a worker holds; `calm` covers what none of them shows, a
        delivery still in the worker's socket or a retry on its way back from the retry queue."""
        quiet_since = None
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            busy = self.busy()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= calm:
                return
            if now > deadline:
                raise AssertionError(f"the hub is not quiet after {timeout}s: {busy}")
            time.sleep(0.05)

    def restart(self, name: str, env: dict | None = None) -> None:
        self.stack.start(name, env=env)
        self.stack.wait_ready(60)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
