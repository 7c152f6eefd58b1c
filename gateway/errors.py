"""The one table from gRPC status to HTTP, and problem+json (RFC 9457) responses."""
from __future__ import annotations

import json

import grpc
from fastapi.responses import JSONResponse

from hubkit.grpc_server import FIELD_ERRORS_KEY

HTTP_FOR = {
    grpc.StatusCode.INVALID_ARGUMENT: (422, "invalid-argument"),
    grpc.StatusCode.NOT_FOUND: (404, "not-found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "conflict"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "too-many-requests"),
    grpc.StatusCode.UNAVAILABLE: (503, "service-unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout"),
}


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
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


class Problem(Exception):
    """A refusal as problem+json: raised by routes for refusals decided at the gateway, and made
    from every gRPC error by from_rpc_error."""

    def __init__(self, status: int, kind: str, title: str, errors: list | None = None):
        super().__init__(title)
        self.status, self.kind, self.title, self.errors = status, kind, title, errors

    def response(self) -> JSONResponse:
        return problem(self.status, self.kind, self.title, errors=self.errors)


def from_rpc_error(exc: grpc.RpcError, strip_prefix: str = "") -> Problem:
    """The one translation of a service's refusal: the status through HTTP_FOR, its message as the
    title, its field errors (less strip_prefix when the service names fields of a nested message)."""
    status, kind = HTTP_FOR.get(exc.code(), (502, "upstream-error"))
    fields = []
    for key, value in (exc.trailing_metadata() or ()):
        if key == FIELD_ERRORS_KEY:
            fields = json.loads(value)
    if strip_prefix:
        fields = [{**f, "field": f["field"].removeprefix(strip_prefix)} for f in fields]
    return Problem(status, kind, exc.details() or exc.code().name, fields)
