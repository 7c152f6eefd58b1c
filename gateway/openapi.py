"""The OpenAPI document, completed from what the gateway does around the routes: per operation each
status it can answer, as problem+json; the API key as a security scheme on the operations that need
it; the Idempotency-Key header on the POSTs that honour it."""
from __future__ import annotations

from collections.abc import Callable, Collection

from gateway.common import exports
from gateway.common.schemas import problem_schemas
from gateway.idempotency import MAX_KEY_LENGTH

API_KEY = "ApiKey"
WRITES = {"post", "put", "patch", "delete"}
MEANING = {
    400: "The body is not JSON (or not UTF-8, or nested too deeply), or the Idempotency-Key is malformed",
    401: "No X-API-Key header, or an unknown or revoked key",
    403: "The user's role may not do this",
    404: "Something the request names does not exist",
    406: "The Accept header admits none of JSON, CSV and xlsx (an unknown `format` is a 422)",
    409: "In conflict with the current state (or a request with this Idempotency-Key is still running)",
    413: "The body is larger than 256 KiB (a file to import: than HUB_IMPORT_MAX_BYTES, or more rows than "
         "HUB_IMPORT_MAX_ROWS)",
    415: "The file is not a spreadsheet (xlsx, or CSV in UTF-8)",
    422: "The request is invalid: `errors` names each field",
    429: "The hub is behind with the orders it has: send this one again after Retry-After seconds "
         "(an Idempotency-Key is not held by a 429)",
    500: "The gateway failed (the details are in its log, under the x-correlation-id)",
    502: "A service failed to answer",
    503: "A service or the gateway's database is not available: try again after Retry-After seconds",
    504: "A service did not answer in time",
}
FAILURES = (500, 502, 503, 504)  # any operation, whatever the request
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 1}}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Makes a retry safe: the same key and body get the first answer back "
                   "(`Idempotent-Replayed: true`); the same key with another body is refused (422); "
                   "a key whose first request is still running gets 409. Keys belong to the user.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH}}


def statuses(method: str, operation: dict, signed: bool, exported: bool = False) -> list[int]:
    """What an operation can answer besides its successes. Every operation checks the text of its
    path and query (422); a write may conflict, carries a body (too large, not JSON) and a key; an
    exporting GET negotiates its representation (406)."""
    codes = {422, *FAILURES}
    codes |= {401, 409} if signed else {401, 403}
    if method in WRITES:
        codes |= {400, 409, 413}
    if operation.get("parameters") or operation.get("requestBody"):
        codes.add(404)
    if exported:
        codes.add(406)
    if "429" in operation.get("responses", {}):  # a route that takes new orders in (gateway.intake)
        codes.add(429)
    if "415" in operation.get("responses", {}):  # a route that takes a file (imports)
        codes.add(415)
    return sorted(codes)


def _problem(status: int) -> dict:
    answer = {"description": MEANING[status],
              "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status in (429, 503):
        answer["headers"] = RETRY_AFTER
    return answer


def complete(doc: dict, signed: Callable[[str], bool], exported: Collection[str] = ()) -> None:
    """Complete FastAPI's document in place; `signed(path)`: the route carries an HMAC signature
    instead of an API key (webhooks); `exported`: the paths whose GET answers CSV and xlsx too
    (gateway.common.exports)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(problem_schemas())
    components["securitySchemes"] = {API_KEY: {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "A user's key (`hub users add NAME --role ROLE`); the role decides what it may do"}}
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            is_signed = signed(path)
            answers = operation.setdefault("responses", {})
            for code in ("4XX", "5XX"):
                answers.pop(code, None)
            exports_too = method == "get" and path in exported
            for status in statuses(method, operation, is_signed, exports_too):
                answers[str(status)] = _problem(status)
            if exports_too:
                exports.document(operation)
            operation["security"] = [] if is_signed else [{API_KEY: []}]
            if method == "post" and not is_signed and not path.startswith("/imports/"):  # a file's hash is its key
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
