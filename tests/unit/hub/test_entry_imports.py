"""Each kind of hub process imports what it runs, not the whole hub: every library a process imports
stays in its resident memory for its life (issue 12: the hub's 17 processes under 1.5 GiB). Each case
starts a fresh interpreter as the supervisor does and looks at sys.modules once the process got as far
as its run function (which is not run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hub.components import PROJECT_ROOT

# libraries of some commands only: a spreadsheet (openpyxl), a print (jinja2, weasyprint), an HTTP
# client (httpx, which brings rich and click), a migration (alembic), the HTTP server (fastapi)
SOME_COMMANDS_ONLY = {"openpyxl", "weasyprint", "jinja2", "barcode", "segno", "httpx", "rich", "click", "alembic",
                      "fastapi", "starlette", "uvicorn"}

CASES = {
    # python -m hub.cli relay order, up to hubkit.relay.main
    "relay": ("import hubkit.relay; hubkit.relay.main = lambda *a, **k: None\n"
              "import hub.cli; hub.cli.main(['relay', 'order'])",
              SOME_COMMANDS_ONLY | {"grpc", "nameko", "eventlet", "sqlalchemy.orm"}),  # Core is all it uses
    # python -m hub.cli api order, up to the service's grpc_server.main
    "api": ("import hub.cli\nfrom hub import components\ncomponents.load('order'); components.api_main('order')",
            SOME_COMMANDS_ONLY | {"nameko", "eventlet"}),
    # python -m hub.worker order, up to hubkit.worker.run
    "worker": ("import hub.worker\nfrom hub import components\n"
               "components.load('order'); components.worker_class('order')",
               SOME_COMMANDS_ONLY | {"grpc"}),
    # python -m hub.cli gateway, up to gateway.app.main (the app with every route)
    "gateway": ("import hub.cli\nfrom gateway import app\nfrom hub import components\n"
                "app.create_app(components.load('gateway'))",
                SOME_COMMANDS_ONLY - {"fastapi", "starlette", "uvicorn"}),
}


def imported_packages(code: str) -> set[str]:
    """The packages and the modules imported by `code`, run in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{*sys.modules, *(m.split('.')[0] for m in sys.modules)}})))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_process_does_not_import_what_only_other_commands_need(kind):
    code, unwanted = CASES[kind]
    imported = imported_packages(code)
    assert "sqlalchemy" in imported  # the probe got as far as the process's own modules
    assert imported & unwanted == set()
