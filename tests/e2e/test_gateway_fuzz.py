"""A schema-driven fuzzer (schemathesis) against the real gateway process dialling the real services:
every operation in the OpenAPI document gets generated requests, valid and invalid, and each answer
must be no server error, of a status and content the document declares, with a body that fits its
schema; a write that is refused (4xx) must change no row in any database.

The hub here runs only what answers requests (the api processes and the gateway; no worker, no relay),
so nothing changes rows behind the requests' backs and "no row changed" is exact. Bounded for CI: a
few derandomized examples per operation."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import DATABASES
from tests.e2e.helpers import row_counts
from tests.support import infra
from tests.support.hub import Hub

pytestmark = pytest.mark.e2e

# per operation and generation mode (valid, invalid); HUB_FUZZ_EXAMPLES=200 for a longer hunt
EXAMPLES_PER_OPERATION = int(os.environ.get("HUB_FUZZ_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# The answer to a refused request sent with an Idempotency-Key is kept on purpose (a retry gets it back).
KEPT_ANSWERS = "gateway.idempotency_keys"
# Served by the ledger and shop connectors and the notifier, which this hub does not run: the gateway must say
# so (503 with Retry-After), which is also what it answers while any service is down.
ABSENT = ("/ledger/", "/connectors/", "/notifications/")


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def answering_hub(request, session_name, tmp_path_factory):
    """The api processes and the gateway, on databases of their own (PostgreSQL, then SQLite files)."""
    name = f"{session_name}_fz{request.param[0]}"
    logs = tmp_path_factory.mktemp("fuzz-hub-logs")
    on_postgres = request.param == "postgresql"
    urls = (infra.create_databases(name, DATABASES) if on_postgres
            else {db: f"sqlite:///{logs / (db + '.db')}" for db in DATABASES})
    hub = Hub(infra.create_vhost(name), urls, logs, processes=lambda p: p == "gateway" or p.endswith("-api"))
    try:
        yield hub.start()
    finally:
        hub.stop()
        infra.delete_vhost(name, wait=False)
        if on_postgres:
            infra.drop_databases(name, DATABASES)


def _labels() -> list[str]:
    """The operations, from the document the gateway's code builds (the test reads the running
    gateway's own /openapi.json)."""
    import tempfile

    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.clients import Clients
    from hubkit import settings as hub_settings

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": tempfile.mkdtemp(prefix="fuzz-doc-")})
    clients = Clients(order=None, inventory=None, procurement=None, customer=None, accounting=None, ledger=None,
                      shops={}, channels=[])
    doc = create_app(settings, clients).openapi()
    return [f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item]


@pytest.fixture(scope="module")
def gateway_schema(answering_hub):
    return schemathesis.openapi.from_url(f"{answering_hub.stack.gateway_url}/openapi.json")


@pytest.fixture(scope="module")
def rows(answering_hub):
    """Rows per table, measured again only after a request that may have changed them."""
    class Rows:
        known: dict | None = None

        def now(self) -> dict:
            counts = row_counts(answering_hub)
            counts.pop(KEPT_ANSWERS)
            return counts

        def before(self) -> dict:
            if self.known is None:
                self.known = self.now()
            return self.known
    return Rows()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", _labels())
def test_no_generated_request_gets_a_server_error_or_an_undeclared_answer(answering_hub, gateway_schema, rows, label,
                                                                          mode):
    operation = gateway_schema.find_operation_by_label(label)
    admin = {"X-API-Key": answering_hub.key("admin")}
    absent = any(part in label for part in ABSENT)
    checks = [c for c in CHECKS if not (absent and c is not_a_server_error)]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def each(case):
        write = case.method.upper() in WRITES
        before = rows.before() if write else None
        case.headers = {**(case.headers or {}), **admin}  # a generated X-API-Key would only test a 401
        response = case.call()
        case.validate_response(response, checks=checks, headers=admin)
        if absent and response.status_code >= 500:
            assert response.status_code == 503 and int(response.headers["retry-after"][0]) > 0, response.text
        if write and 400 <= response.status_code < 500:
            assert rows.now() == before, f"refused with {response.status_code} but changed rows"
        elif write:
            rows.known = None  # accepted (or failed): it may have changed rows

    try:
        each()
    except Unsatisfiable:  # e.g. invalid requests for an operation whose every input is free text
        pytest.skip(f"no {mode.value} request can be built from this operation's schema")
