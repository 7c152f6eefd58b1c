"""The one table from gRPC status to HTTP, and problem+json (RFC 9457) responses. A server error
(5xx) says what happened in general words only: the details go to the log, under the correlation id."""
from __future__ import annotations

import json
import logging

import grpc
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa

from hubkit.grpc_server import FIELD_ERRORS_KEY

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # what a client is told to wait while a service or the database is away
HTTP_FOR = {
    grpc.StatusCode.INVALID_ARGUMENT: (422, "invalid-argument"),
    grpc.StatusCode.NOT_FOUND: (404, "not-found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "conflict"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
    grpc.StatusCode.UNAVAILABLE: (503, "service-unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout"),
}
# Server errors: what the client is told, never the exception's own text
TITLE_FOR = {
    502: "a service failed to answer this request",
    503: "a service is not available; try again shortly",
    504: "a service did not answer in time",
}
# the gateway's own database is away (connection refused or lost, pool exhausted)
DATABASE_DOWN = (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError)


def field_path(loc) -> str:
    """A validation error's location as the problem names the field: lines[0].sku."""
    out = ""
    for p in (p for p in loc if p != "body"):
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def problem(status: int, kind: str, title: str, detail: str = "", errors: list | None = None,
            headers: dict | None = None) -> JSONResponse:
    body = {"type": f"https://commerce-hub.dev/problems/{kind}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


class Problem(Exception):
    """A refusal as problem+json: raised by routes for refusals decided at the gateway, and made
    from every gRPC error by from_rpc_error."""

    def __init__(self, status: int, kind: str, title: str, errors: list | None = None, headers: dict | None = None):
        super().__init__(title)
        self.status, self.kind, self.title, self.errors, self.headers = status, kind, title, errors, headers

    def response(self) -> JSONResponse:
        return problem(self.status, self.kind, self.title, errors=self.errors, headers=self.headers)


def from_rpc_error(exc: grpc.RpcError, strip_prefix: str = "") -> Problem:
    """The one translation of a service's refusal: the status through HTTP_FOR, its message as the
    title, its field errors (less strip_prefix when the service names fields of a nested message).
    A failure (5xx) gets a general title; the service's own text is logged."""
    status, kind = HTTP_FOR.get(exc.code(), (502, "upstream-error"))
    if status >= 500:
        log.error("service call failed: %s %s", exc.code().name, exc.details())
        return Problem(status, kind, TITLE_FOR[status])
    fields = []
    for key, value in (exc.trailing_metadata() or ()):
        if key == FIELD_ERRORS_KEY:
            fields = json.loads(value)
    if strip_prefix:
        fields = [{**f, "field": f["field"].removeprefix(strip_prefix)} for f in fields]
    return Problem(status, kind, exc.details() or exc.code().name, fields)


def from_item_error(error) -> Problem:
    """The same translation for one item of a batch call, refused with its own ItemError (its status
    code's name, message and field errors)."""
    status, kind = HTTP_FOR.get(getattr(grpc.StatusCode, error.code, None), (502, "upstream-error"))
    if status >= 500:
        log.error("service call failed for one item: %s %s", error.code, error.message)
        return Problem(status, kind, TITLE_FOR[status])
    return Problem(status, kind, error.message or error.code,
                   [{"field": f.field, "message": f.message} for f in error.fields])


def unexpected(exc: BaseException) -> JSONResponse:
    """Anything a route or the gateway itself did not expect: 503 while the gateway's database is
    away, else 500; logged with its traceback, told in general words."""
    if isinstance(exc, DATABASE_DOWN):
        log.error("the gateway's database is not available: %s", exc.__class__.__name__)
        return problem(503, "service-unavailable", "the gateway's database is not available; try again shortly")
    log.error("request failed", exc_info=exc)
    return problem(500, "internal-error", "the gateway failed to handle this request")
