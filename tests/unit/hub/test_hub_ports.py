"""Two hubs on one machine never meet: every gRPC server of a test hub (services, the ledger
connector, the shop connectors) gets a port of its own, and what the gateway dials is that port."""
from __future__ import annotations

import pytest

from hub import components
from hub.supervisor import free_port
from tests.support.hub import Hub


def _hub(tmp_path, name):
    urls = {db: f"sqlite:///{tmp_path / name / (db + '.db')}" for db in (*components.SERVICES, "gateway")}
    hub = Hub("amqp://guest:guest@127.0.0.1:5672/%2F", urls, tmp_path / name / "log")
    return hub


def _ports(hub) -> set[int]:
    """Every port a hub's processes bind, as their settings read it (defaults included)."""
    s = hub.stack.settings
    return {*s.grpc_ports.values(), s.ledger_grpc_port, *s.shops_grpc_ports.values(), s.notify_grpc_port,
            s.gateway_port}


def _targets(hub) -> set[str]:
    """Everything a hub's gateway dials."""
    s = hub.stack.settings
    return {*(s.grpc_target(svc) for svc in components.SERVICES), s.ledger_grpc_target, *s.shops_grpc_targets.values(),
            s.gateway.notify_grpc_target}


@pytest.fixture
def hubs(tmp_path):
    made = [_hub(tmp_path, "one"), _hub(tmp_path, "two")]
    yield made
    for hub in made:
        hub.stop()


def test_two_hubs_never_share_a_port(hubs):
    one, two = hubs
    assert not _ports(one) & _ports(two)
    assert not _targets(one) & _targets(two)
    for hub in hubs:  # and within one hub, no two processes on one port
        assert len(_ports(hub)) == len(components.GRPC_SERVERS) + 1


def test_every_grpc_server_of_a_hub_is_dialled_at_its_own_port(hubs):
    for hub in hubs:
        s = hub.stack.settings
        assert {n for n in components.GRPC_SERVERS if f"HUB_{n.upper()}_GRPC_PORT" not in hub.env} == set()
        for svc, port in s.grpc_ports.items():
            assert s.grpc_target(svc) == f"127.0.0.1:{port}"
        assert s.ledger_grpc_port != 50060 and s.ledger_grpc_target == f"127.0.0.1:{s.ledger_grpc_port}"
        for platform, port in s.shops_grpc_ports.items():
            assert s.shops_grpc_targets[platform] == f"127.0.0.1:{port}"
    one, two = hubs
    assert one.stack.settings.ledger_grpc_target != two.stack.settings.ledger_grpc_target


def test_the_demo_keeps_what_the_environment_names_and_picks_the_rest():
    given = {"HUB_LEDGER_GRPC_PORT": "40001", "HUB_ORDER_GRPC_TARGET": "orders.internal:50051"}
    env = components.grpc_endpoints(free_port, given)
    assert not {"HUB_LEDGER_GRPC_PORT", "HUB_LEDGER_GRPC_TARGET", "HUB_ORDER_GRPC_PORT",
                "HUB_ORDER_GRPC_TARGET"} & set(env)
    assert env["HUB_SHOPS_JD_GRPC_TARGET"] == f"127.0.0.1:{env['HUB_SHOPS_JD_GRPC_PORT']}"
    assert {f"HUB_{n.upper()}_GRPC_PORT" for n in components.GRPC_SERVERS} - set(env) == {
        "HUB_LEDGER_GRPC_PORT", "HUB_ORDER_GRPC_PORT"}


def test_free_port_never_hands_out_a_port_twice():
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_a_port_the_test_names_is_dialled_there(tmp_path):
    urls = {db: f"sqlite:///{tmp_path / (db + '.db')}" for db in (*components.SERVICES, "gateway")}
    hub = Hub("amqp://guest:guest@127.0.0.1:5672/%2F", urls, tmp_path / "log",
              extra_env={"HUB_LEDGER_GRPC_PORT": "40123"})
    try:
        assert hub.stack.settings.ledger_grpc_target == "127.0.0.1:40123"
    finally:
        hub.stop()
