"""Idempotency-Key on POST: the same key and body get the first answer back; the same key
with another body is refused. Keys belong to the user who sent them.

A key in progress belongs to the gateway process running its first request, which holds it by a
lease renewed while the request runs. A retry takes the key over at once when that process is
known dead (same host, its pid gone or taken by this process), else when the lease ran out; the
retry then reaches the service again, whose commands answer a repeat with the original outcome
(shipping an order already shipped with the same carrier and tracking number)."""
from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import uuid
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
# A first request's hold on its key, renewed a few times within it while the request runs: a key
# whose gateway died on another host is free again after this.
LEASE = timedelta(seconds=15)


def _fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


def _process_dead(owner: str, me: str) -> bool:
    """Whether the gateway process `owner` (host:pid:boot) is known to be gone: only a process of
    this host can be looked at."""
    host, _, rest = owner.partition(":")
    pid, _, boot = rest.partition(":")
    my_host, _, my_rest = me.partition(":")
    if host != my_host or not pid.isdigit():
        return False
    if int(pid) == os.getpid():  # our pid, another boot: its process is gone (a restarted container)
        return owner != me
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a process of another user: maybe a gateway still
        return False
    return False


class IdempotencyStore:
    def __init__(self, db: Database):
        self.db = db
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.exit_before_answer = os.environ.get("HUB_FAULT_GATEWAY_EXIT_BEFORE_ANSWER") == "1"

    def claim(self, user: str, key: str, fingerprint: str) -> Response | None:
        """None: this request goes ahead (the key is now ours). Otherwise the answer to send."""
        now = clock.now()
        k = keys.c
        try:
            with self.db.session() as s:
                row = s.execute(select(keys).where(k.user_name == user, k.key == key)).first()
                if row is None:
                    s.execute(keys.insert().values(user_name=user, key=key, request_hash=fingerprint,
                                                   created_at=now, owner=self.owner, lease_until=now + LEASE))
                    return None
                if row.request_hash != fingerprint:
                    return errors.problem(422, "idempotency-key-reused",
                                          "this Idempotency-Key was used with a different request")
                if row.status_code is not None:
                    return Response(row.response_body, status_code=row.status_code, media_type=row.content_type,
                                     headers={"idempotent-replayed": "true"})
                held = row.lease_until is not None and as_utc(row.lease_until) > now
                if held and not _process_dead(row.owner or "", self.owner):
                    return errors.problem(409, "request-in-progress",
                                          "a request with this Idempotency-Key is still in progress")
                # its first request's gateway died: this retry goes ahead (the service answers a
                # command it already applied with its outcome)
                taken = s.execute(update(keys).where(k.user_name == user, k.key == key, k.status_code.is_(None),
                                                     k.owner == row.owner)
                                  .values(created_at=now, owner=self.owner, lease_until=now + LEASE)).rowcount
                return None if taken else errors.problem(409, "request-in-progress",
                                                         "a request with this Idempotency-Key is still in progress")
        except IntegrityError:  # another request claimed the key a moment ago
            return errors.problem(409, "request-in-progress",
                                  "a request with this Idempotency-Key is still in progress")

    def renew(self, user: str, key: str) -> None:
        k = keys.c
        with self.db.session() as s:
            s.execute(update(keys).where(k.user_name == user, k.key == key, k.owner == self.owner,
                                         k.status_code.is_(None)).values(lease_until=clock.now() + LEASE))

    async def holding(self, user: str, key: str) -> None:
        """Renew the lease on `key` until cancelled (when its request is answered)."""
        while True:
            await asyncio.sleep(LEASE.total_seconds() / 3)
            await run_in_threadpool(self.renew, user, key)

    def settle(self, user: str, key: str, status: int, body: bytes, content_type: str) -> None:
        """Keep a final answer; forget a server error or a "not now" (429: the hub is behind) so that a
        retry can go ahead."""
        k = keys.c
        with self.db.session() as s:
            where = (k.user_name == user) & (k.key == key)
            if status >= 500 or status == 429:
                s.execute(delete(keys).where(where))
            else:
                s.execute(update(keys).where(where).values(status_code=status, response_body=body,
                                                           content_type=content_type, owner=None, lease_until=None))


async def guarded(request, call_next, store: IdempotencyStore, body: bytes):
    """`call_next(request)` answers with the route's whole response (its body read)."""
    key = request.headers.get(HEADER)
    if key is None:
        return await call_next(request)
    if not key or len(key) > MAX_KEY_LENGTH:
        return errors.problem(400, "invalid-idempotency-key", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    user = request.state.user.name
    answer = await run_in_threadpool(store.claim, user, key, _fingerprint(request.method, request.url.path, body))
    if answer is not None:
        return answer
    holding = asyncio.create_task(store.holding(user, key))
    try:
        response = await call_next(request)
        content = response.body
    except Exception:
        await run_in_threadpool(store.settle, user, key, 500, b"", "")
        raise
    finally:
        holding.cancel()
    if store.exit_before_answer:  # fault injection (tests): the gateway dies after the service answered
        os._exit(137)
    await run_in_threadpool(store.settle, user, key, response.status_code, content,
                            response.headers.get("content-type", ""))
    return Response(content, status_code=response.status_code, headers=dict(response.headers))
