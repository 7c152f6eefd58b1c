"""Each component's settings, as the composition root assembles them: every variable and default
as before, one-line errors that stop a real process, warnings for unknown HUB_* variables, .env."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from hub import components
from hubkit import clock
from hubkit.settings import SettingsError
from services.inventory import walk

# every variable of the former flat settings object, with its default (var_dir: /v)
DEFAULTS = {
    "HUB_AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/%2F", "HUB_AMQP_MANAGEMENT_URL": "",
    "HUB_LOG_LEVEL": "INFO", "HUB_TIMEZONE": "Asia/Shanghai",
    "HUB_METRICS_PORT": 0, "HUB_RELAY_BATCH": 500, "HUB_RELAY_WINDOW": 1000, "HUB_RELAY_LEASE_SECONDS": 15.0,
    "HUB_CONSUMER_MAX_ATTEMPTS": 5, "HUB_RETRY_BASE_SECONDS": 1.0, "HUB_RETRY_MAX_SECONDS": 60.0,
    "HUB_CONSUMER_BATCH_MAX": 100, "HUB_CONSUMER_BATCH_WAIT_MS": 2.0, "HUB_CONSUMER_BACKGROUND_BATCH_WAIT_MS": 500.0,
    "HUB_CONSUMER_BATCHES_IN_FLIGHT": 1,
    "HUB_CONSUMER_PREFETCH": 200,
    "HUB_WORKER_CONCURRENCY": 10, "HUB_DB_POOL_SIZE": None, "HUB_DB_PREPARED_STATEMENTS": True,
    "HUB_BASE_CURRENCY": "CNY",
    "HUB_LIVENESS_GRACE_SECONDS": 60.0, "HUB_RELAY_IDLE_POLL_SECONDS": 5.0,
    **{f"HUB_{svc.upper()}_DB_URL": f"sqlite:////v/{svc}.db"
       for svc in (*components.SERVICES, "gateway", "ledger", "shops", "notify")},
    **{f"HUB_{svc.upper()}_GRPC_PORT": port for svc, port in zip(components.SERVICES, range(50051, 50056))},
    **{f"HUB_{svc.upper()}_GRPC_TARGET": f"127.0.0.1:{port}" for svc, port in zip(components.SERVICES, range(50051, 50056))},
    "HUB_GATEWAY_PORT": 8000, "HUB_AUDIT_INTERVAL_SECONDS": 60.0, "HUB_GATEWAY_BATCH_LIMIT": 200,
    "HUB_GATEWAY_COALESCE_ORDERS": 50,
    "HUB_GATEWAY_KEY_CACHE_SECONDS": 2.0,
    "HUB_PRINT_TEMPLATES_DIR": None, "HUB_MERCHANT_NAME": "", "HUB_MERCHANT_ADDRESS": "", "HUB_MERCHANT_TAX_ID": "",
    "HUB_MERCHANT_PHONE": "", "HUB_MERCHANT_LOGO": None,
    "HUB_IMPORT_MAX_BYTES": 20 * 1024 * 1024, "HUB_IMPORT_MAX_ROWS": 20_000,
    "HUB_VAT_RATE": Decimal("0.13"), "HUB_ACCOUNTING_CHART": "", "HUB_ACCOUNTING_ACCOUNTS": "",
    "HUB_MARKETPLACE_CHANNELS": "taobao,tmall,jd,pdd,douyin", "HUB_LEDGERS": (), "HUB_LEDGER_GRPC_PORT": 50060,
    "HUB_LEDGER_GRPC_TARGET": "127.0.0.1:50060", "HUB_SHOPS_FILE": "", "HUB_SHOPS_POLL_SECONDS": 2.0,
    "HUB_SHOPS_TAOBAO_GRPC_PORT": 50061, "HUB_SHOPS_JD_GRPC_PORT": 50062,
    "HUB_SHOPS_TAOBAO_GRPC_TARGET": "127.0.0.1:50061", "HUB_SHOPS_JD_GRPC_TARGET": "127.0.0.1:50062",
    "HUB_RESERVATION_TTL_MINUTES": 0, "HUB_PRICE_TOLERANCE": Decimal("0.05"), "HUB_COUNT_APPROVAL_LIMIT": Decimal("1000.00"),
    "HUB_LOT_EXPIRY_WARNING_DAYS": 30, "HUB_CYCLE_COUNT_SKUS": 0, "HUB_SLOW_STOCK_DAYS": 90,
    "HUB_BUSINESS_METRICS_SECONDS": 60.0,
    "HUB_BIN_WALK_PATTERN": walk.DEFAULT_PATTERN, "HUB_WAVE_MAX_ORDERS": 50, "HUB_WAVE_MAX_LINES": 200,
    "HUB_INSPECT_LOT_TRACKED": True, "HUB_INSPECT_SKUS": [], "HUB_INSPECT_SUPPLIERS": [],
    "HUB_INTAKE_HIGH_WATERMARK": 50, "HUB_INTAKE_LOW_WATERMARK": 25, "HUB_INTAKE_REFRESH_SECONDS": 0.5,
    "HUB_INTAKE_RETRY_AFTER_MAX_SECONDS": 30, "HUB_INVENTORY_TIMEOUT_SECONDS": 10.0, "HUB_ORDER_MERGE": True,
    "HUB_ORDER_MERGE_WINDOW_MINUTES": 30, "HUB_ORDER_RECEIVABLE_ACCOUNT": "1122",
    "HUB_ORDER_REVIEW_STAGE": "after_reservation",
    "HUB_CUSTOMER_PHONE_HASH_KEY": SecretStr("hub-dev-phone-key"), "HUB_CUSTOMER_RECEIVABLE_ACCOUNT": "1122",
    "HUB_CUSTOMER_RETURN_WINDOW_DAYS": 30,
    "HUB_CARRIER_URL": "", "HUB_CARRIER_APP_KEY": "", "HUB_CARRIER_APP_SECRET": "", "HUB_CARRIER_SESSION": "",
    "HUB_CARRIER_CODE": "ZTO", "HUB_CARRIER_TIMEOUT_SECONDS": 2.0,
    "HUB_CARRIER_SENDER": {"name": "warehouse", "mobile": "", "address": {"province": "", "city": "", "district": "",
                                                                          "detail": "warehouse"}},
    "HUB_NOTIFY_FILE": "", "HUB_NOTIFY_GRPC_PORT": 50063, "HUB_NOTIFY_GRPC_TARGET": "127.0.0.1:50063",
    "HUB_NOTIFY_RETRY_BASE_SECONDS": 2.0, "HUB_NOTIFY_RETRY_MAX_SECONDS": 600.0,
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no developer's .env in the way
    monkeypatch.setattr(components, "_warned", False)
    yield
    clock.configure(clock.DEFAULT_ZONE)


def _values(env) -> dict:
    """{variable: value} over every component's settings."""
    out = {}
    for component in components.SETTINGS_MODULES:
        s = components.load(component, env)
        out.update({name: getattr(s, field) for name, field in type(s).env_names().items()})
    return out


def test_every_variable_keeps_its_name_and_default():
    values = _values({"HUB_VAR_DIR": "/v"})
    assert {name: values.get(name, "(missing)") for name in DEFAULTS} == DEFAULTS
    assert set(values) - set(DEFAULTS) == {"HUB_VAR_DIR", "HUB_LEDGER_SECRETS_FILE"}


@pytest.mark.parametrize(("env", "window"), [
    ({}, 30), ({"HUB_ORDER_MERGE_WINDOW_MINUTES": "5"}, 5), ({"HUB_ORDER_MERGE_WINDOW_MINUTES": "0"}, None),
    ({"HUB_ORDER_MERGE": "false"}, None)])
def test_the_order_merge_window_or_merge_off(env, window):
    s = components.load("order", env)
    assert s.merge_window == (None if window is None else timedelta(minutes=window))


@pytest.mark.parametrize(("env", "first"), [
    ({}, False), ({"HUB_ORDER_REVIEW_STAGE": "after_reservation"}, False),
    ({"HUB_ORDER_REVIEW_STAGE": "before_reservation"}, True)])
def test_the_order_review_stage(env, first):
    assert components.load("order", env).review_first is first


def test_an_unknown_review_stage_stops_the_process():
    with pytest.raises(SettingsError, match="HUB_ORDER_REVIEW_STAGE"):
        components.load("order", {"HUB_ORDER_REVIEW_STAGE": "before"})


def test_a_target_follows_the_port_it_dials():
    values = _values({"HUB_ORDER_GRPC_PORT": "6001", "HUB_LEDGER_GRPC_PORT": "6002", "HUB_SHOPS_JD_GRPC_PORT": "6003",
                      "HUB_ACCOUNTING_GRPC_TARGET": "books:7000"})
    assert (values["HUB_ORDER_GRPC_TARGET"], values["HUB_LEDGER_GRPC_TARGET"], values["HUB_SHOPS_JD_GRPC_TARGET"]) == (
        "127.0.0.1:6001", "127.0.0.1:6002", "127.0.0.1:6003")
    assert components.load("ledger", {"HUB_ACCOUNTING_GRPC_TARGET": "books:7000"}).grpc_target("accounting") == "books:7000"


def test_a_hub_with_notification_targets_migrates_the_notifiers_database(tmp_path):
    targets = tmp_path / "notify.json"
    targets.write_text('{"targets": [{"name": "ops", "url": "http://x", "format": "wecom", "events": ["low_stock"]}]}')
    s = components.settings({"HUB_VAR_DIR": "/v", "HUB_NOTIFY_FILE": str(targets)})
    assert components.database_urls(s)["notify"] == "sqlite:////v/notify.db"


def test_the_composition_root_sees_every_component():
    s = components.settings({"HUB_VAR_DIR": "/v", "HUB_INVENTORY_GRPC_PORT": "6002", "HUB_LEDGERS": "kingdee, ufida"})
    assert s.grpc_ports["inventory"] == 6002 and s.grpc_target("inventory") == "127.0.0.1:6002"
    assert s.ledgers == ("kingdee", "ufida") and s["inventory"].count_approval_limit == Decimal("1000.00")
    # the notifier's database only with notification targets: a deployment without them names no URL for it
    assert components.database_urls(s) == {name: f"sqlite:////v/{name}.db" for name in components.MIGRATION_TREES
                                           if name != "notify"}
    assert (s.gateway_port, s.shops_grpc_ports, s.ledger_grpc_target) == (
        8000, {"taobao": 50061, "jd": 50062}, "127.0.0.1:50060")


def test_a_bad_value_is_one_line_naming_the_variable():
    with pytest.raises(SettingsError) as caught:
        components.load("gateway", {"HUB_GATEWAY_PORT": "eighty"})
    assert str(caught.value) == ("hub: HUB_GATEWAY_PORT: Input should be a valid integer, unable to parse string "
                                 "as an integer (got 'eighty')")
    with pytest.raises(SettingsError) as caught:  # read by several components, told once
        components.settings({"HUB_ACCOUNTING_GRPC_PORT": "0", "HUB_LEDGERS": "sap", "HUB_VAT_RATE": "13%"})
    assert str(caught.value).splitlines() == [
        "hub: HUB_ACCOUNTING_GRPC_PORT: Input should be greater than or equal to 1 (got '0')",
        "hub: HUB_VAT_RATE: Input should be a valid decimal (got '13%')",
        "hub: HUB_LEDGERS: Input should be 'kingdee' or 'ufida' (got 'sap')"]


def test_an_unknown_variable_is_warned_about_once_with_a_close_match(capsys):
    env = {"HUB_GATEWAY_PROT": "8080", "HUB_TEST_PG_URL": "x", "HUB_KINGDEE_URL": "http://k", "HUB_NOTHING_LIKE_IT": "1"}
    components.load("gateway", env)
    components.settings(env)
    assert capsys.readouterr().err.splitlines() == [
        "hub: warning: HUB_GATEWAY_PROT is set but is no setting of any component; did you mean HUB_GATEWAY_PORT?",
        "hub: warning: HUB_NOTHING_LIKE_IT is set but is no setting of any component"]


def test_a_dotenv_file_is_honoured(tmp_path, capsys):
    (tmp_path / ".env").write_text("HUB_GATEWAY_PORT=8100\nHUB_ORDER_GRPC_PORT=6100\nHUB_ORDR_DB_URL=x\n",
                                   encoding="utf-8")
    s = components.settings({"HUB_ORDER_GRPC_PORT": "6200"})
    assert (s.gateway_port, s.grpc_ports["order"], s.grpc_target("order")) == (8100, 6200, "127.0.0.1:6200")
    assert "HUB_ORDR_DB_URL is set but is no setting of any component; did you mean HUB_ORDER_DB_URL?" in \
        capsys.readouterr().err


def _hub(tmp_path, *argv, **env):
    return subprocess.run([sys.executable, "-m", "hub.cli", *argv], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HUB_VAR_DIR": str(tmp_path), **env})


@pytest.mark.parametrize("argv, env, line", [
    (("api", "order"), {"HUB_ORDER_GRPC_PORT": "eighty"},
     "hub: HUB_ORDER_GRPC_PORT: Input should be a valid integer, unable to parse string as an integer (got 'eighty')"),
    (("migrate",), {"HUB_RELAY_BATCH": "-5"}, "hub: HUB_RELAY_BATCH: Input should be greater than 0 (got '-5')"),
    (("gateway",), {"HUB_TIMEZONE": "Asia/Shangai"},
     "hub: HUB_TIMEZONE: not a known time zone (an IANA name such as Asia/Shanghai) (got 'Asia/Shangai')"),
    (("api", "accounting"), {"HUB_BASE_CURRENCY": "RMB"},
     "hub: HUB_BASE_CURRENCY: not an ISO 4217 currency code such as CNY (got 'RMB')"),
])
def test_a_process_with_a_bad_value_exits_with_one_line(tmp_path, argv, env, line):
    done = _hub(tmp_path, *argv, **env)
    assert done.returncode != 0
    assert done.stderr.splitlines() == [line], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not list(tmp_path.glob("*.db"))  # it touched nothing


def test_a_process_warns_of_a_misspelt_variable(tmp_path):
    done = _hub(tmp_path, "migrate", HUB_RELAY_BACTH="100", HUB_RELAY_BATCH="0")
    assert done.stderr.splitlines() == [
        "hub: warning: HUB_RELAY_BACTH is set but is no setting of any component; did you mean HUB_RELAY_BATCH?",
        "hub: HUB_RELAY_BATCH: Input should be greater than 0 (got '0')"]
    assert done.returncode != 0
