"""A worker and a relay, each a real process on the real broker, answer /readyz and /livez by what
they really do: ready while consuming (the worker) or connected with their database answering (the
relay); not ready once the broker shuts them out, not live once that lasted longer than their grace,
and ready again when the broker lets them back in."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from hub import components
from hub.supervisor import free_port, spawn
from hubkit import broker, topology
from tests.support import infra
from tests.support.hub import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vhost(session_name):
    name = f"{session_name}_probes"
    uri = infra.create_vhost(name)
    try:
        connection = broker.connect(uri, attempts=3)
        topology.declare(connection.channel(), components.subscriptions("customer"))
        connection.close()
        yield name, uri
    finally:
        infra.delete_vhost(name)


def _status(port: int, path: str) -> tuple[int, str] | tuple[None, str]:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=3)
    except httpx.HTTPError as exc:
        return None, str(exc)
    return answer.status_code, answer.text


def _connections(vhost: str) -> list[str]:
    return infra._rabbitmqctl("list_connections", "-p", vhost, "--silent", "pid").split()


@pytest.mark.parametrize("service, argv", [
    ("customer", ["-m", "hub.worker", "customer"]),
    ("order", ["-m", "hub.cli", "relay", "order"]),
], ids=["worker", "relay"])
def test_a_process_shut_out_by_the_broker_is_not_ready_then_not_live_and_ready_again_when_let_back(
        vhost, tmp_path, service, argv):
    name, uri = vhost
    db_url = f"sqlite:///{tmp_path / (service + '.db')}"
    components.migrate(service, db_url)
    port = free_port()
    env = {**os.environ, "HUB_AMQP_URI": uri, f"HUB_{service.upper()}_DB_URL": db_url, "HUB_VAR_DIR": str(tmp_path),
           "HUB_METRICS_PORT": str(port), "HUB_LIVENESS_GRACE_SECONDS": "2", "HUB_RELAY_LEASE_SECONDS": "2"}
    with open(tmp_path / "process.log", "ab") as log:
        proc = spawn([sys.executable, *argv], env=env, stdout=log, stderr=subprocess.STDOUT,
                     cwd=components.PROJECT_ROOT)
    try:
        wait_for(lambda: _status(port, "/readyz")[0] == 200, 60, 0.3, "the process to be ready")
        assert _status(port, "/livez")[0] == 200
        infra._rabbitmqctl("clear_permissions", "-p", name, "guest")
        try:
            for pid in _connections(name):  # as a broker restart would, but it does not let them back in
                infra._rabbitmqctl("close_connection", pid, "test: shut out")
            status, why = wait_for(lambda: (answer := _status(port, "/readyz"))[0] == 503 and answer, 30, 0.2,
                                   "/readyz to fail")
            wait_for(lambda: _status(port, "/livez")[0] == 503, 30, 0.2, "/livez to fail")
            assert proc.poll() is None  # it lives on, trying; its supervisor restarts it on /livez
        finally:
            infra._rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        wait_for(lambda: _status(port, "/readyz")[0] == 200, 60, 0.3, "the process to be ready again")
        assert _status(port, "/livez")[0] == 200
        assert ("consumers" if service == "customer" else "relay") in why, why
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
