"""Idempotency-Key on POST: the same key and body get the first answer back; the same key
with another body is refused. Keys belong to the user who sent them."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway import errors
from gateway.models import idempotency_keys as keys
from hubkit import clock
from hubkit.db import Database, as_utc

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 128
# A first request that never finished (its gateway died) stops blocking its key after this.
STALE_AFTER = timedelta(seconds=60)


def _fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


class IdempotencyStore:
    def __init__(self, db: Database):
        self.db = db

    def claim(self, user: str, key: str, fingerprint: str) -> Response | None:
        """None: this request goes ahead (the key is now ours). Otherwise the answer to send."""
        now = clock.now()
        k = keys.c
        try:
            with self.db.session() as s:
                row = s.execute(select(keys).where(k.user_name == user, k.key == key)).first()
                if row is None:
                    s.execute(keys.insert().values(user_name=user, key=key, request_hash=fingerprint,
                                                   created_at=now))
                    return None
                if row.request_hash != fingerprint:
                    return errors.problem(422, "idempotency-key-reused",
                                          "this Idempotency-Key was used with a different request")
                if row.status_code is not None:
                    return Response(row.response_body, status_code=row.status_code, media_type=row.content_type,
                                     headers={"idempotent-replayed": "true"})
                if as_utc(row.created_at) > now - STALE_AFTER:
                    return errors.problem(409, "request-in-progress",
                                          "a request with this Idempotency-Key is still in progress")
                s.execute(update(keys).where(k.user_name == user, k.key == key).values(created_at=now))
                return None
        except IntegrityError:  # another request claimed the key a moment ago
            return errors.problem(409, "request-in-progress",
                                  "a request with this Idempotency-Key is still in progress")

    def settle(self, user: str, key: str, status: int, body: bytes, content_type: str) -> None:
        """Keep a final answer; forget a server error so that a retry can go ahead."""
        k = keys.c
        with self.db.session() as s:
            where = (k.user_name == user) & (k.key == key)
            if status >= 500:
                s.execute(delete(keys).where(where))
            else:
                s.execute(update(keys).where(where).values(status_code=status, response_body=body,
                                                           content_type=content_type))


async def guarded(request, call_next, store: IdempotencyStore, body: bytes):
    key = request.headers.get(HEADER)
    if key is None:
        return await call_next(request)
    if not key or len(key) > MAX_KEY_LENGTH:
        return errors.problem(400, "invalid-idempotency-key", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    user = request.state.user.name
    answer = await run_in_threadpool(store.claim, user, key, _fingerprint(request.method, request.url.path, body))
    if answer is not None:
        return answer
    try:
        response = await call_next(request)
    except Exception:
        await run_in_threadpool(store.settle, user, key, 500, b"", "")
        raise
    content = b"".join([chunk async for chunk in response.body_iterator])
    await run_in_threadpool(store.settle, user, key, response.status_code, content,
                            response.headers.get("content-type", ""))
    return Response(content, status_code=response.status_code, headers=dict(response.headers))
