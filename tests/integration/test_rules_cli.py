"""`hub rules validate|apply|versions|rollback|replay` against the order api's ReviewService (a real
gRPC server on SQLite): what each prints, and a refused rule set named with its rule, field and
position."""
from __future__ import annotations

import pytest

from hub import apis, cli, components
from hub.supervisor import free_port
from hubkit import grpc_server
from hubkit.db import Database
from services.order import review_api
from services.order.models import metadata

pytestmark = pytest.mark.integration

GOOD = "name: strict\nrules:\n  - id: big\n    when: amount > 500\n    actions: [{kind: hold, reason: needs_review}]\n"
BAD = "name: bad\nrules:\n  - id: typo\n    when: amont > 500\n    actions: [{kind: approve}]\n"


@pytest.fixture
def order_api(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'order.db'}"
    components.migrate("order", url)
    db = Database(url, metadata, pool_size=2)
    port = free_port()
    server, health = grpc_server.start("order", port, lambda s: review_api.register(s, db))
    target = f"127.0.0.1:{port}"
    monkeypatch.setattr(apis.components, "settings", lambda: type("S", (), {"grpc_target": lambda self, _: target})())
    yield
    server.stop(0).wait()
    db.dispose()


def test_validate_apply_versions_rollback_and_replay(order_api, tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    cli.main(["rules", "validate", str(good)])
    assert capsys.readouterr().out.strip() == "valid: strict, 1 rules"
    with pytest.raises(SystemExit) as refused:
        cli.main(["rules", "validate", str(bad)])
    assert "rules[0].when" in str(refused.value) and '"position": 0' in str(refused.value)
    assert "unknown fact 'amont'" in str(refused.value)
    cli.main(["rules", "apply", str(good), "--note", "try", "--actor", "amy"])
    cli.main(["rules", "rollback", "0"])
    cli.main(["rules", "versions"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["*", "v1"] and "amy" in out[0] and out[0].endswith("try")
    assert out[1].split()[:3] == ["*", "v2", "default"] and out[1].endswith("rolled back to version 0")
    assert [line[2:].split()[0] for line in out[2:]] == ["v2", "v1", "v0"]  # newest first
    assert [line[0] for line in out[2:]] == ["*", " ", " "]  # v2 in force
    cli.main(["rules", "replay", str(good), "--since", "2026-01-01T00:00:00+08:00", "--until", "2027-01-01T00:00:00+08:00"])
    assert capsys.readouterr().out.strip() == "0 decisions evaluated, 0 would change"
    with pytest.raises(SystemExit) as window:
        cli.main(["rules", "replay", str(good), "--since", "yesterday", "--until", "2027-01-01T00:00:00+08:00"])
    assert "since" in str(window.value)
    with pytest.raises(SystemExit, match="missing.yaml"):
        cli.main(["rules", "apply", str(tmp_path / "missing.yaml")])
