"""The Prometheus files in deploy/ as Prometheus itself reads them: promtool checks the rules and the
config and runs the rule tests (alerts_test.yml: series in, alerts out). tests/e2e/test_observability.py
runs every rule and dashboard query against a scraped hub."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is missing: `make bootstrap` installs Prometheus")


def promtool(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=cwd)  # type: ignore[list-item]
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_alert_rules_are_valid():
    assert "SUCCESS" in promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))


def test_the_prometheus_config_is_valid_with_its_rules(tmp_path):
    # the compose file mounts the rules at /etc/prometheus; here they are read where they are
    config = (PROMETHEUS / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in config
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/alerts.yml", str(PROMETHEUS / "alerts.yml")))
    out = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert "SUCCESS" in out and "rule files found" in out


def test_the_alerts_fire_on_their_series_and_not_before():
    """Books against stock, dead letters, a worker not consuming, a shop in error or lagging, a ledger
    confirming nothing (alerts_test.yml)."""
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml", cwd=Path(__file__).parent)


def test_a_rule_test_that_expects_the_wrong_alert_fails(tmp_path):
    """The rule tests can fail: the same file expecting the alert on the warehouse that agrees."""
    wrong = (Path(__file__).parent / "alerts_test.yml").read_text().replace(
        "../../../deploy/prometheus/alerts.yml", str(PROMETHEUS / "alerts.yml")).replace(
        'cost_centre: "warehouse:SH"}', 'cost_centre: "warehouse:BJ"}', 1)
    (tmp_path / "wrong.yml").write_text(wrong)
    done = subprocess.run([PROMTOOL, "test", "rules", "wrong.yml"], capture_output=True, text=True,  # type: ignore[list-item]
                          timeout=60, cwd=tmp_path)
    assert done.returncode != 0 and 'cost_centre="warehouse:SH"' in done.stdout + done.stderr


def test_the_dashboards_are_provisionable_and_their_panels_do_not_overlap():
    """Grafana loads every JSON in deploy/grafana/dashboards: a uid each, panel ids unique, every query
    on the provisioned datasource, no two panels on the same grid cell (the queries themselves run in
    tests/e2e/test_observability.py)."""
    boards = [json.loads(p.read_text()) for p in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))]
    assert {b["uid"] for b in boards} == {"hub-operations", "hub-business"}
    for board in boards:
        panels = board["panels"]
        assert len({p["id"] for p in panels}) == len(panels), board["uid"]
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            g = panel["gridPos"]
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert g["x"] + g["w"] <= 24 and not mine & cells, f"{board['uid']}: {panel['title']} overlaps"
            cells |= mine
            for target in panel.get("targets", []):
                assert target["expr"] and target["datasource"]["uid"] == "${datasource}", panel["title"]
