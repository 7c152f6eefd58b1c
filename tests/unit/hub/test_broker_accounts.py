"""Each component's broker user, derived from the contracts: what it may publish and read, the URI
it connects with, and the supervisor handing each process only its own."""
from __future__ import annotations

import json

import httpx
import pytest

from hub import components, supervisor
from hubkit import broker, topology

ADMIN = "amqp://admin:s3cret@rabbit.example:5672/hub"
# the events only the notifier consumes (low_stock is procurement's too)
NOTIFIED = ("order_held", "approval_waiting", "voucher_refused", "shop_failing", "dead_lettered")


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _accounts(env):
    return {a.name: (a, uri) for a, uri in components.broker_accounts(components.settings(env)).items()}


def _shops_file(tmp_path) -> str:
    shop = {"url": "http://127.0.0.1:1", "app_key": "k", "app_secret": "s",
            "shops": [{"shop": "main", "access_token": "a", "refresh_token": "r", "stock_ratio": 0.5}]}
    path = tmp_path / "shops.json"
    path.write_text(json.dumps({"taobao": shop}))
    return str(path)


def test_without_shops_or_ledgers_only_the_services_have_users_and_queues(tmp_path):
    settings = components.settings({"HUB_AMQP_URI": ADMIN})
    assert set(_accounts({"HUB_AMQP_URI": ADMIN})) == set(components.SERVICES)
    assert {s.service for s in components.configured_subscriptions(settings)} == set(components.SERVICES)
    # the order service's review keeps the buyers' receivables from voucher_posted; procurement keeps
    # positions from stock_changed (issue 15); order_held and the other kinds a person acts on are only the notifier's
    assert components.unconsumed_events(settings) == set(NOTIFIED)


def test_a_configured_connector_gets_its_user_its_queues_and_its_events(tmp_path):
    env = {"HUB_AMQP_URI": ADMIN, "HUB_LEDGERS": "ufida", "HUB_SHOPS_FILE": _shops_file(tmp_path)}
    accounts, settings = _accounts(env), components.settings(env)
    assert set(accounts) == {*components.SERVICES, "ledger", "shops_taobao"}
    # each announces its own trouble (shop_failing, voucher_refused) and, as every consumer, its dead letters
    assert accounts["shops_taobao"][0] == broker.Account("shops_taobao", ("channel_order_changed", "shop_failing",
                                                                          "dead_lettered"), True)
    assert accounts["ledger"][0] == broker.Account("ledger", ("voucher_refused", "dead_lettered"), True)
    assert all("dead_lettered" in accounts[svc][0].publishes for svc in components.SERVICES)
    assert {s.queue for s in components.configured_subscriptions(settings)} >= {
        "ledger.voucher_posted", "shops_taobao.order_shipped", "shops_taobao.stock_changed"}
    assert not any(s.service == "shops_jd" for s in components.configured_subscriptions(settings))
    assert components.unconsumed_events(settings) == set(NOTIFIED)


def _notify_file(tmp_path, events) -> str:
    path = tmp_path / "notify.json"
    path.write_text(json.dumps({"targets": [{"name": "ops", "url": "http://127.0.0.1:1/hook", "format": "json",
                                             "secret": "s", "events": events}]}))
    return str(path)


def test_the_notifier_gets_a_user_and_the_queues_of_only_the_events_its_targets_want(tmp_path):
    env = {"HUB_AMQP_URI": ADMIN, "HUB_NOTIFY_FILE": _notify_file(tmp_path, ["order_held"])}
    accounts, settings = _accounts(env), components.settings(env)
    assert accounts["notify"][0] == broker.Account("notify", ("dead_lettered",), True)
    notify = {s.queue for s in components.configured_subscriptions(settings) if s.service == "notify"}
    assert notify == {"notify.order_held"}  # not low_stock: no target wants it
    assert "order_held" not in components.unconsumed_events(settings)


def test_without_notification_targets_the_notifier_has_no_user_and_no_queue(tmp_path):
    settings = components.settings({"HUB_AMQP_URI": ADMIN})
    assert "notify" not in _accounts({"HUB_AMQP_URI": ADMIN})
    assert not any(s.service == "notify" for s in components.configured_subscriptions(settings))


def test_a_derived_uri_names_the_vhost_and_only_the_admin_password_opens_it():
    _, uri = _accounts({"HUB_AMQP_URI": ADMIN})["order"]
    assert uri.startswith("amqp://order%40hub:") and uri.endswith("@rabbit.example:5672/hub")
    assert "s3cret" not in uri
    assert broker.account_uri(ADMIN, "order") == uri  # stable: the supervisor and `hub migrate` agree
    assert broker.account_uri(ADMIN.replace("s3cret", "other"), "order") != uri
    assert broker.account_uri("amqp://guest:guest@127.0.0.1:5672/%2F", "order").startswith("amqp://order%40%2F:")


def test_a_configured_uri_wins_over_the_derived_one():
    given = "amqp://order-prod:pw@rabbit.example:5672/hub"
    assert _accounts({"HUB_AMQP_URI": ADMIN, "HUB_AMQP_URI_ORDER": given})["order"][1] == given


def test_the_definitions_allow_a_component_only_what_it_owns():
    order = broker.Account("order", ("order_placed", "order_shipped"), True)
    customer = broker.Account("customer", (), True)
    doc = broker.definitions("hub", {order: "amqp://order%40hub:pw1@h/hub", customer: "amqp://customer%40hub:pw2@h/hub"})
    assert [u["name"] for u in doc["users"]] == ["order@hub", "customer@hub"]
    perms = {p["user"]: p for p in doc["permissions"]}
    assert perms["order@hub"] == {"user": "order@hub", "vhost": "hub", "configure": "",
                                  "write": r"^(hub\.events|hub\.set\-aside)$", "read": r"^order\."}
    assert perms["customer@hub"]["write"] == r"^(hub\.set\-aside)$"  # it publishes no event
    topics = {(t["user"], t["exchange"]): t["write"] for t in doc["topic_permissions"]}
    assert topics[("order@hub", topology.EVENTS_EXCHANGE)] == "^(order_placed|order_shipped)$"
    assert topics[("customer@hub", topology.EVENTS_EXCHANGE)] == "^$"
    assert topics[("customer@hub", topology.SET_ASIDE_EXCHANGE)] == r"^customer\."


def test_the_management_api_gets_the_definitions_with_the_admin_credentials(monkeypatch):
    sent = {}

    def post(url, json, auth, timeout):
        sent.update(url=url, json=json, auth=auth)
        return httpx.Response(204)
    monkeypatch.setattr(httpx, "post", post)
    doc = {"users": [], "permissions": [], "topic_permissions": []}
    assert broker.import_definitions(ADMIN, doc, "http://rabbit.example:15672/") == "the management API"
    assert sent == {"url": "http://rabbit.example:15672/api/definitions", "json": doc, "auth": ("admin", "s3cret")}


def test_without_a_management_api_a_remote_broker_cannot_get_users():
    with pytest.raises(broker.AccountsUnavailable, match="HUB_AMQP_MANAGEMENT_URL"):
        broker.import_definitions(ADMIN, {"users": []})


def test_the_supervisor_hands_each_process_only_its_own_broker_uri(tmp_path, monkeypatch):
    env = {"HUB_AMQP_URI": ADMIN, "HUB_LEDGERS": "ufida", "HUB_AMQP_URI_LEDGER": "amqp://l:pw@rabbit.example/hub"}
    monkeypatch.setattr(broker, "can_log_in", lambda uri: True)
    stack = supervisor.Stack(env, tmp_path / "log")
    own = {a.name: uri for a, uri in components.broker_accounts(stack.settings).items()}
    for name in ("order-worker", "customer-worker", "ledger-connector"):
        proc_env = stack.process_env(stack.procs[name])
        assert proc_env["HUB_AMQP_URI"] == own[stack.procs[name].account]
        assert not [k for k in proc_env if k.startswith("HUB_AMQP_URI_")]
        assert "s3cret" not in json.dumps(proc_env)
    # the relays' process: each relayed service's own URI, under that service's name, and no other
    relays_env = stack.process_env(stack.procs["relays"])
    assert {k: v for k, v in relays_env.items() if k.startswith("HUB_AMQP_URI")} == \
        {f"HUB_AMQP_URI_{svc.upper()}": own[svc] for svc in stack.procs["relays"].relayed}
    assert "s3cret" not in json.dumps(relays_env)
    assert "s3cret" not in json.dumps(stack.process_env(stack.procs["gateway"]))


def test_a_relay_takes_its_services_uri_from_the_environment_not_from_the_env_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the settings read `.env`
    (tmp_path / ".env").write_text("HUB_AMQP_URI_ORDER=amqp://order:from-the-file@rabbit.example/hub\n")
    monkeypatch.setenv("HUB_AMQP_URI", ADMIN)
    monkeypatch.delenv("HUB_AMQP_URI_ORDER", raising=False)
    # what the supervisor hands the relays' process where the component users cannot log in
    assert components.relay_settings("order").amqp_uri == ADMIN
    monkeypatch.setenv("HUB_AMQP_URI_ORDER", "amqp://order:pw@rabbit.example/hub")
    assert components.relay_settings("order").amqp_uri == "amqp://order:pw@rabbit.example/hub"
    assert components.relay_settings("inventory").amqp_uri == ADMIN


def test_without_component_users_every_process_falls_back_to_the_shared_uri(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(broker, "can_log_in", lambda uri: False)  # `hub migrate` could not make them
    stack = supervisor.Stack({"HUB_AMQP_URI": ADMIN}, tmp_path / "log")
    assert {stack.process_env(p)["HUB_AMQP_URI"] for p in stack.procs.values()} == {ADMIN}
    assert "cannot log in" in capsys.readouterr().err
