"""What every request's text must be, whatever the route: no NUL character, which PostgreSQL refuses
in text (a service would fail writing it). Checked once, for the path, the query and a JSON body,
before any route runs; a refusal names each field. (A lone surrogate, which has no UTF-8, is refused
by the models themselves; the path and query arrive decoded without one.)"""
from __future__ import annotations

from fastapi import Request

from gateway.errors import Problem

NUL = "\x00"


def _json_strings(document):
    """(field, text) for every string in a JSON document, keys included; iterative, so that a deeply
    nested body cannot exhaust the stack."""
    stack = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where or "body", value
        elif isinstance(value, dict):
            for key, item in value.items():
                field = f"{where}.{key}" if where else key
                stack.append((field, key))
                stack.append((field, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def _may_hold_nul(body: bytes) -> bool:
    """Whether a JSON body can hold a NUL in a string, without walking it (every body would pay for
    the walk): UTF-8 JSON writes NUL only as the escape \\u0000 (a raw control character is not JSON),
    and a body in UTF-16 or UTF-32, which json reads too, has zero bytes all over; such bodies are walked."""
    return b"\\u0000" in body or b"\x00" in body


async def refuse_nul(request: Request) -> None:
    """A route dependency of the whole app (422 with every bad field)."""
    found = [(f"path.{name}", value) for name, value in request.path_params.items() if isinstance(value, str)]
    found += [(f"query.{name}", name) for name in request.query_params]
    found += [(f"query.{name}", value) for name, value in request.query_params.multi_items()]
    media = request.headers.get("content-type", "")
    if request.method in ("POST", "PUT", "PATCH") and (not media or "json" in media) \
            and _may_hold_nul(await request.body()):  # what FastAPI reads as JSON
        try:
            found += _json_strings(await request.json())  # the document FastAPI parsed for the route, if it did
        except (ValueError, RecursionError):
            pass  # not JSON: the body's own validation says so
    errors, seen = [], set()
    for field, text in found:
        if NUL in text and field not in seen:
            seen.add(field)
            errors.append({"field": field, "message": "must not contain the NUL character"})
    if errors:
        raise Problem(422, "invalid-argument", "the request is invalid", errors)
