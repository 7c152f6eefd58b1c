"""The gateway's HTTP app: authentication, body limits, problem+json errors, metrics."""
from __future__ import annotations

import time
import uuid
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from gateway import auth, errors, idempotency, webhooks
from gateway.areas import ROUTERS
from gateway.areas.audit import books
from gateway.clients import Clients
from gateway.common.schemas import PROBLEMS, problem_schemas
from gateway.models import metadata
from hubkit import logging as hublog
from hubkit import metrics
from hubkit.db import Database

MAX_BODY_BYTES = 256 * 1024
OPEN_PATHS = {"/healthz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect"}
SIGNED_PREFIX = "/webhooks/"


class _Gateway(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, plus the Problem schema that every operation's 4XX and 5XX refer to
        (FastAPI would file a response model under application/json, not application/problem+json)."""
        first = self.openapi_schema is None
        schema = super().openapi()  # built once, then cached
        if first:
            schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
        return schema


def create_app(settings, clients: Clients | None = None) -> FastAPI:
    app = _Gateway(title="Commerce hub gateway", version="0.1.0",
                   description="Orders and stock for a multichannel merchant. Every call needs an "
                               "`X-API-Key` header; errors are application/problem+json.")
    app.state.clients = clients or Clients.connect(settings)
    app.state.base_currency = settings.base_currency  # documents in another need accounting's rate
    app.state.batch_limit = settings.gateway_batch_limit
    gateway_db = Database(settings.gateway_db_url, metadata)
    app.state.keys = auth.KeyStore(gateway_db)
    app.state.idempotency = idempotency.IdempotencyStore(gateway_db)
    app.state.webhooks = webhooks.WebhookVerifier(gateway_db)
    app.state.books_monitor = books.Monitor()
    for router in ROUTERS:
        app.include_router(router, responses=PROBLEMS)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        started = time.perf_counter()
        route = request.url.path
        response = await _guarded(request, call_next)
        matched = request.scope.get("route")
        if matched is not None:
            route = matched.path
        metrics.HTTP_LATENCY.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - started)
        return response

    async def _guarded(request: Request, call_next):
        request.state.correlation_id = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        hublog.correlation_id.set(request.state.correlation_id)
        signed = request.url.path.startswith(SIGNED_PREFIX)  # webhooks carry an HMAC instead of a key
        if request.url.path not in OPEN_PATHS and not signed:
            key = request.headers.get("x-api-key", "")
            if not key:
                return errors.problem(401, "unauthenticated", "missing X-API-Key header",
                                      headers={"WWW-Authenticate": "ApiKey"})
            user = app.state.keys.user_for(key)
            if user is None:
                return errors.problem(401, "unauthenticated", "unknown or revoked API key",
                                      headers={"WWW-Authenticate": "ApiKey"})
            request.state.user = user
        if request.method in ("POST", "PUT", "PATCH"):
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                return errors.problem(413, "payload-too-large", f"body larger than {MAX_BODY_BYTES} bytes")
            body = await request.body()  # cached by Starlette for the route
            if len(body) > MAX_BODY_BYTES:
                return errors.problem(413, "payload-too-large", f"body larger than {MAX_BODY_BYTES} bytes")
            if request.method == "POST" and request.url.path not in OPEN_PATHS and not signed:
                response = await idempotency.guarded(request, call_next, app.state.idempotency, body)
                response.headers["x-correlation-id"] = request.state.correlation_id
                return response
        response = await call_next(request)
        response.headers["x-correlation-id"] = request.state.correlation_id
        return response

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request, exc: RequestValidationError):
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return errors.problem(400, "malformed-json", "the body is not valid JSON")
        return errors.problem(422, "invalid-argument", "the request is invalid",
                              errors=[{"field": errors.field_path(p["loc"]), "message": p["msg"]} for p in problems])

    @app.exception_handler(errors.Problem)
    async def on_problem(_request, exc: errors.Problem):
        return exc.response()

    @app.exception_handler(grpc.RpcError)
    async def on_rpc_error(_request, exc: grpc.RpcError):
        return errors.from_rpc_error(exc).response()

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def main(settings) -> None:
    import uvicorn

    app = create_app(settings)
    if settings.audit_interval_seconds:
        books.run_periodically(app.state.clients, app.state.books_monitor, settings.audit_interval_seconds)
    uvicorn.run(app, host="0.0.0.0", port=settings.gateway_port, log_level="warning",
                access_log=False)
