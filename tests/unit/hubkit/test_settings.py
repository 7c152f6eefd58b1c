"""The settings machinery of the kernel: typed values, one-line errors, the .env file, unknown names."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import Field

from hubkit import clock
from hubkit import settings as hubsettings
from hubkit.settings import HubSettings, Money, Port, SettingsError


class Example(HubSettings):
    """A component's settings as a service declares them."""
    db_url: str = Field(default_factory=hubsettings.sqlite_in_var_dir("example"), validation_alias="HUB_EXAMPLE_DB_URL")
    example_port: Port = 50099
    example_limit: Money = Decimal("10.00")


@pytest.fixture(autouse=True)
def _no_env_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no developer's .env in the way
    yield
    clock.configure(clock.DEFAULT_ZONE)


def test_values_are_typed_and_defaults_derive_from_others(tmp_path):
    s = hubsettings.load(Example, {"HUB_VAR_DIR": str(tmp_path), "HUB_EXAMPLE_PORT": "6000",
                                   "HUB_EXAMPLE_LIMIT": "12.50", "HUB_RELAY_BATCH": "7", "HUB_LOG_LEVEL": "debug"})
    assert (s.example_port, s.example_limit, s.relay_batch, s.log_level) == (6000, Decimal("12.50"), 7, "DEBUG")
    assert s.db_url == f"sqlite:///{tmp_path / 'example.db'}"
    assert hubsettings.load(Example, {"HUB_EXAMPLE_DB_URL": "postgresql://x/y"}).db_url == "postgresql://x/y"
    assert hubsettings.load(Example, {"HUB_EXAMPLE_PORT": ""}).example_port == 50099  # empty: unset


@pytest.mark.parametrize("name, value, message", [
    ("HUB_EXAMPLE_PORT", "eighty", "Input should be a valid integer, unable to parse string as an integer"),
    ("HUB_EXAMPLE_PORT", "70000", "Input should be less than or equal to 65535"),
    ("HUB_RELAY_WINDOW", "0", "Input should be greater than 0"),
    ("HUB_EXAMPLE_LIMIT", "1,000", "Input should be a valid decimal"),
    ("HUB_TIMEZONE", "Mars/Olympus", "not a known time zone"),
    ("HUB_LOG_LEVEL", "LOUD", "not a log level"),
])
def test_a_bad_value_is_one_line_naming_the_variable(name, value, message):
    with pytest.raises(SettingsError) as caught:
        hubsettings.load(Example, {name: value})
    text = str(caught.value)
    assert text.startswith(f"hub: {name}: {message}") and text.endswith(f"(got {value!r})"), text
    assert "\n" not in text
    assert isinstance(caught.value, SystemExit)  # the process exits with it, no traceback


def test_each_bad_variable_gets_its_line():
    with pytest.raises(SettingsError) as caught:
        hubsettings.load(Example, {"HUB_EXAMPLE_PORT": "x", "HUB_VAR_DIR": "/tmp", "HUB_DB_POOL_SIZE": "-1"})
    assert [line.split(":")[1].strip() for line in str(caught.value).splitlines()] == [
        "HUB_DB_POOL_SIZE", "HUB_EXAMPLE_PORT"]


def test_the_time_zone_configures_the_one_clock():
    hubsettings.load(Example, {"HUB_TIMEZONE": "Pacific/Kiritimati"})
    assert str(clock.zone()) == "Pacific/Kiritimati"
    assert isinstance(clock.today(), date)


def test_a_dotenv_file_is_honoured_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("HUB_EXAMPLE_PORT=6100\nHUB_RELAY_BATCH=9\n", encoding="utf-8")
    s = hubsettings.load(Example, {"HUB_RELAY_BATCH": "11"})
    assert (s.example_port, s.relay_batch) == (6100, 11)
    assert hubsettings.load(Example, {}, env_file=None).example_port == 50099
    (tmp_path / ".env").write_text("HUB_EXAMPLE_PORT=sixty\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^hub: HUB_EXAMPLE_PORT: .*\(got 'sixty'\)$"):
        hubsettings.load(Example, {})


def test_every_setting_has_its_variable():
    names = Example.env_names()
    assert names["HUB_EXAMPLE_DB_URL"] == "db_url" and names["HUB_EXAMPLE_PORT"] == "example_port"
    assert {"HUB_AMQP_URI", "HUB_TIMEZONE", "HUB_DB_POOL_SIZE", "HUB_RETRY_MAX_SECONDS"} <= set(names)


def test_unknown_variables_are_named_with_a_close_match(tmp_path):
    (tmp_path / ".env").write_text("HUB_EXAMPEL_LIMIT=3\n", encoding="utf-8")
    seen = hubsettings.hub_variables({"HUB_EXAMPLE_PROT": "1", "HUB_EXAMPLE_PORT": "1", "PATH": "/bin",
                                      "HUB_TEST_X": "1", "HUB_WHATEVER": "1"})
    assert seen == {"HUB_EXAMPLE_PROT", "HUB_EXAMPLE_PORT", "HUB_TEST_X", "HUB_WHATEVER", "HUB_EXAMPEL_LIMIT"}
    warnings = hubsettings.unknown_variables(seen, Example.env_names(), known_prefixes=("HUB_TEST_",))
    assert warnings == [
        "HUB_EXAMPEL_LIMIT is set but is no setting of any component; did you mean HUB_EXAMPLE_LIMIT?",
        "HUB_EXAMPLE_PROT is set but is no setting of any component; did you mean HUB_EXAMPLE_PORT?",
        "HUB_WHATEVER is set but is no setting of any component"]
