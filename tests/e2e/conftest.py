"""After every end-to-end test: once the hub it used is quiet (every event published and
applied), its books equal its stock, per warehouse and for goods in transit, and its payable the
open purchase documents, per supplier."""
from __future__ import annotations

import json
import time

import pytest

from tests.conftest import DATABASES
from tests.support import infra
from tests.support.hub import Hub
from tests.support.webhooks import Receiver


# The end-to-end hubs live as long as this package's tests, not the whole session: each holds about
# 90 quorum queues (some 260 of the broker's file descriptors, 1024 on a default install), which the
# integration tests that follow need for hubs of their own.
@pytest.fixture(scope="package")
def webhook_receiver():
    """The PostgreSQL hub's notification target: a real HTTP server that answers 503 twice to each
    event before it takes it (tests/support/webhooks.py)."""
    with Receiver(failures=2) as receiver:
        yield receiver


@pytest.fixture(scope="package")
def pg_hub(session_name, tmp_path_factory, webhook_receiver):
    """The whole hub on PostgreSQL, each process a separate OS process, on databases of its own (not
    the session's, which the integration tests write into: the books audit would see their postings).
    Its notifier tells the webhook receiver of every order held (3 queues more, only here)."""
    vhost, prefix = f"{session_name}_pg", f"{session_name}_e2e"
    logs = tmp_path_factory.mktemp("pg-hub-logs")
    targets = logs / "notify.json"
    targets.write_text(json.dumps({"targets": [{"name": "ops", "url": f"{webhook_receiver.url}/json",
                                                "format": "json", "secret": webhook_receiver.secret,
                                                "events": ["order_held"]}]}))
    hub = Hub(infra.create_vhost(vhost), infra.create_databases(prefix, DATABASES), logs, extra_env={
        "HUB_NOTIFY_FILE": str(targets), "HUB_NOTIFY_DB_URL": f"sqlite:///{logs / 'notify.db'}",
        "HUB_NOTIFY_RETRY_BASE_SECONDS": "0.2",
        "HUB_NOTIFY_RETRY_MAX_SECONDS": "1"})
    hub.webhook_receiver = webhook_receiver
    try:
        yield hub.start()
    finally:
        hub.stop()
        infra.delete_vhost(vhost, wait=False)
        infra.drop_databases(prefix, DATABASES)


# Per module (it outlives the books audit after its test); its one test runs before the PostgreSQL hub
# starts (OWN_HUBS_FIRST), and the module's next test comes after it is gone.
@pytest.fixture(scope="module")
def sqlite_hub(session_name, tmp_path_factory):
    """The whole hub on the embedded default (SQLite files), in its own vhost."""
    vhost = f"{session_name}_lite"
    var = tmp_path_factory.mktemp("sqlite-hub")
    urls = {name: f"sqlite:///{var / (name + '.db')}" for name in DATABASES}
    hub = Hub(infra.create_vhost(vhost), urls, var / "log")
    try:
        yield hub.start()
    finally:
        hub.stop()
        infra.delete_vhost(vhost, wait=False)


# The tests that start whole hubs of their own run first, one hub at a time, before any test starts the
# package's PostgreSQL hub: beside it, another hub's quorum queues (some 135 each) run a default broker's
# 927 file descriptors out (its processes time out in the AMQP handshake).
OWN_HUBS_FIRST = (*(f"tests/e2e/{module}.py::" for module in
                    ("test_ledgers", "test_channels", "test_backpressure", "test_gateway_fuzz", "test_demo",
                     "test_bench_journey", "test_interrupt", "test_backup_restore")),
                  "tests/e2e/test_concurrent_reservations.py::test_fifty_parallel_orders_never_oversell_on_sqlite")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not item.nodeid.startswith(OWN_HUBS_FIRST))  # stable: the rest keep their order


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def books_differences(hub: Hub) -> list[dict]:
    """Rows of the books audit (inventory per cost centre, payables per supplier, receivables per
    debtor) that differ."""
    with hub.client("finance") as finance:
        reply = finance.get("/audit/books")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return [row for part in ("inventory", "payables", "receivables") for row in body[part]
            if row["difference"] not in ("0.00", None)]


@pytest.fixture(autouse=True)
def books_agree_with_the_stock(request):
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.passed:
        return  # the test's own failure says more
    hubs = [value for value in request.node.funcargs.values() if isinstance(value, Hub) and value.whole]
    for hub in hubs:
        hub.wait_quiet(90)
        differences = books_differences(hub)
        if differences:  # a handler that held its message through the calm moment: once more
            time.sleep(2)
            hub.wait_quiet(90)
            differences = books_differences(hub)
        assert differences == [], f"the books differ from the stock once the hub is quiet: {differences}"
