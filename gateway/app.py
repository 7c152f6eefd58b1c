"""The gateway's HTTP app: authentication, body limits, problem+json errors, metrics, offline docs."""
from __future__ import annotations

import asyncio
import importlib.resources
import logging
import time
import uuid
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway import auth, errors, idempotency, intake, openapi, webhooks
from gateway.areas import ROUTERS
from gateway.areas.audit import books
from gateway.areas.orders.routes import placing
from gateway.areas.printing.routes import printer
from gateway.clients import Clients
from gateway.common import exports
from gateway.common.inputs import refuse_nul
from gateway.common.schemas import PATTERN_MESSAGES, PROBLEMS
from gateway.models import metadata
from hubkit import heap, metrics
from hubkit import logging as hublog
from hubkit.db import Database

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
OPEN_PATHS = {"/healthz", "/metrics", "/docs", "/openapi.json"}
DOCS_ASSETS = "/docs/assets"  # Swagger UI's own files, served here: the docs work without the internet
SIGNED_PREFIX = "/webhooks/"
IMPORTS_PREFIX = "/imports/"


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(DOCS_ASSETS + "/")


def _message(problem) -> str:
    """pydantic's message, but what a date or month pattern means instead of the pattern itself."""
    pattern = (problem.get("ctx") or {}).get("pattern")
    return PATTERN_MESSAGES.get(pattern, problem["msg"]) if problem.get("type") == "string_pattern_mismatch" \
        else problem["msg"]


class _Guard:
    """Around every request: the gateway's checks (`checked`), the Idempotency-Key of a POST, the
    correlation id on the answer, the latency metric, and a problem+json 500 (or 503) instead of the
    ASGI server's plain text when something fails. Plain ASGI: Starlette's `@app.middleware("http")`
    runs each request in a task group with memory streams, which cost more CPU than most routes."""

    def __init__(self, app, checked, idempotent, store):
        self.app, self.checked, self.idempotent, self.store = app, checked, idempotent, store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), []
        request = Request(scope, receive)

        async def sending(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)
        try:
            await self._answer(request, sending)
        except Exception as exc:  # never a plain-text 500 from the ASGI server
            if status:
                raise  # the answer has begun: too late for another
            response = errors.unexpected(exc)
            response.headers["x-correlation-id"] = getattr(request.state, "correlation_id", "")
            await response(scope, receive, sending)
        matched = scope.get("route")
        route = matched.path if matched is not None else "unmatched"  # no label per made-up path
        metrics.HTTP_LATENCY.labels(request.method, route, str(status[0])).observe(time.perf_counter() - started)

    async def _answer(self, request: Request, send) -> None:
        scope, receive = request.scope, request.receive
        refusal = await self.checked(request)
        if refusal is not None:
            return await refusal(scope, receive, send)
        if request.method in ("POST", "PUT", "PATCH") and not _streamed(request):
            receive = _replaying(await request.body(), receive)  # the checks have read it
        correlation = request.state.correlation_id
        if self.idempotent(request) and not _streamed(request) and request.headers.get(idempotency.HEADER) is not None:
            async def call_next(_request) -> Response:
                return await _read_whole(self.app, scope, receive)
            response = await idempotency.guarded(request, call_next, self.store, await request.body())
            response.headers["x-correlation-id"] = correlation
            return await response(scope, receive, send)

        async def correlated(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-correlation-id"] = correlation
            await send(message)
        await self.app(scope, receive, correlated)


def _streamed(request: Request) -> bool:
    """An import's upload: read by its route as it streams in (its content hash is its idempotency key)."""
    return request.method == "POST" and request.url.path.startswith(IMPORTS_PREFIX)


def _replaying(body: bytes, receive):
    """A receive that gives the routes a body read already, then the client's own messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()
    return replay


async def _read_whole(app, scope, receive) -> Response:
    """The app's answer to a request, read whole (the Idempotency-Key keeps it)."""
    start, chunks = {}, []

    async def keep(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
    await app(scope, receive, keep)
    response = Response(b"".join(chunks), status_code=start["status"])
    response.raw_headers = list(start.get("headers", []))
    return response


class _Gateway(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, completed once (gateway.openapi): the statuses each operation answers
        as problem+json, the API key, the Idempotency-Key header, the exports (CSV, xlsx)."""
        first = self.openapi_schema is None
        schema = super().openapi()  # built once, then cached
        if first:
            openapi.complete(schema, signed=lambda path: path.startswith(SIGNED_PREFIX),
                             exported=exports.exported_paths(self.routes))
        return schema


def create_app(settings, clients: Clients | None = None) -> FastAPI:
    app = _Gateway(title="Commerce hub gateway", version="0.1.0",
                   description="Orders and stock for a multichannel merchant. Every call needs an "
                               "`X-API-Key` header; errors are application/problem+json.",
                   docs_url=None, redoc_url=None, dependencies=[Depends(refuse_nul), Depends(exports.negotiate)])
    app.state.clients = clients or Clients.connect(settings)
    app.state.base_currency = settings.base_currency  # documents in another need accounting's rate
    app.state.batch_limit = settings.gateway_batch_limit
    app.state.known_skus = set()  # SKUs inventory named as known (gateway.common.access.known_skus)
    app.state.imports = {"max_bytes": settings.import_max_bytes, "max_rows": settings.import_max_rows}
    app.state.intake = intake.gate(app.state.clients, settings.intake_refresh_seconds)  # backpressure
    app.state.placing = placing(app.state.clients, settings.gateway_coalesce_orders)
    gateway_db = Database(settings.gateway_db_url, metadata, prepare=settings.db_prepared_statements)
    app.state.keys = auth.KeyStore(gateway_db, settings.gateway_key_cache_seconds)
    app.state.idempotency = idempotency.IdempotencyStore(gateway_db)
    app.state.webhooks = webhooks.WebhookVerifier(gateway_db)
    app.state.books_monitor = books.Monitor()
    app.state.printer = printer(settings)  # the templates, the merchant's directory first
    for router in ROUTERS:
        app.include_router(router, responses=PROBLEMS)

    swagger_ui = importlib.resources.files("fastapi_offline") / "static"  # pinned in pyproject.toml
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui)), name="docs-assets")

    async def _checked(request: Request) -> Response | None:
        """The gateway's own checks before any route: the caller's API key (webhooks carry an HMAC
        instead) and the body's size. A refusal to send, or None when the request goes on."""
        request.state.correlation_id = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        hublog.correlation_id.set(request.state.correlation_id)
        signed = request.url.path.startswith(SIGNED_PREFIX)  # webhooks carry an HMAC instead of a key
        if not _open(request.url.path) and not signed:
            key = request.headers.get("x-api-key", "")
            if not key:
                return errors.problem(401, "unauthenticated", "missing X-API-Key header",
                                      headers={"WWW-Authenticate": "ApiKey"})
            user = app.state.keys.user_for(key)
            if user is None:
                return errors.problem(401, "unauthenticated", "unknown or revoked API key",
                                      headers={"WWW-Authenticate": "ApiKey"})
            request.state.user = user
        if _streamed(request):  # an import streams its file itself, under its own limit
            declared = request.headers.get("content-length")
            limit = app.state.imports["max_bytes"]
            if declared and declared.isdigit() and int(declared) > limit:
                return errors.problem(413, "payload-too-large", f"the file is larger than {limit} bytes "
                                      "(HUB_IMPORT_MAX_BYTES)")
        elif request.method in ("POST", "PUT", "PATCH"):
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                return errors.problem(413, "payload-too-large", f"body larger than {MAX_BODY_BYTES} bytes")
            if len(await request.body()) > MAX_BODY_BYTES:
                return errors.problem(413, "payload-too-large", f"body larger than {MAX_BODY_BYTES} bytes")
        return None

    def _idempotent(request: Request) -> bool:
        """A POST to a route of the API (an Idempotency-Key on it is honoured)."""
        return request.method == "POST" and not _open(request.url.path) \
            and not request.url.path.startswith(SIGNED_PREFIX)

    app.add_middleware(exports.Converter)  # inside the guard: an export's failure is its problem+json 500
    app.add_middleware(_Guard, checked=_checked, idempotent=_idempotent, store=app.state.idempotency)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request, exc: RequestValidationError):
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return errors.problem(400, "malformed-json", "the body is not valid JSON")
        return errors.problem(422, "invalid-argument", "the request is invalid",
                              errors=[{"field": errors.field_path(p["loc"]), "message": _message(p)} for p in problems])

    @app.exception_handler(errors.Problem)
    async def on_problem(_request, exc: errors.Problem):
        return exc.response()

    @app.exception_handler(grpc.RpcError)
    async def on_rpc_error(_request, exc: grpc.RpcError):
        return errors.from_rpc_error(exc).response()

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException):
        """What routing and body parsing refuse themselves: no such route (404), method (405), a body
        that cannot be read (400: not UTF-8, nested too deep)."""
        kind, title = {
            400: ("malformed-json", "the body is not valid JSON: not UTF-8, or nested too deeply"),
            404: ("not-found", "no such endpoint"),
            405: ("method-not-allowed", f"{request.method} is not allowed here"),
        }.get(exc.status_code, (HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-"), str(exc.detail)))
        return errors.problem(exc.status_code, kind, title, headers=exc.headers)

    @app.exception_handler(Exception)
    async def on_unexpected(_request, exc: Exception):
        return errors.unexpected(exc)

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def main(settings) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's own loop wakes every 0.1 s, to refresh the Date header once a second and to
        see whether it should stop; this one wakes once a second, the header's resolution (a
        stop is noticed within a second)."""

        async def main_loop(self) -> None:
            while not await self.on_tick(0):  # tick 0: the header is refreshed on each
                await asyncio.sleep(1.0)

    app = create_app(settings)
    if settings.audit_interval_seconds:
        books.run_periodically(app.state.clients, app.state.books_monitor, settings.audit_interval_seconds)
    # httptools and uvloop, not uvicorn's "auto" choice: the gateway runs on what its tests ran on
    server = Server(uvicorn.Config(app, host="0.0.0.0", port=settings.gateway_port, log_level="warning",
                                   access_log=False, http="httptools", loop="uvloop"))
    heap.started()
    server.run()
    if not server.started:  # as uvicorn.run: the port could not be bound
        raise SystemExit(f"the gateway could not start on port {settings.gateway_port}")
