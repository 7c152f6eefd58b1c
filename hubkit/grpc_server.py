"""gRPC server for a service's api process: health service, metrics, one table
from domain errors to status codes, and who is calling (metadata)."""
from __future__ import annotations

import functools
import json
import logging
import signal
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from hubkit import heap, metrics
from hubkit import logging as hublog
from hubkit.db import once_more_if_disconnected
from hubkit.errors import Conflict, HubError, InvalidArgument, NotFound, PermissionDenied, Unavailable

log = logging.getLogger(__name__)

ACTOR_KEY = "x-hub-actor"
CORRELATION_KEY = "x-correlation-id"
FIELD_ERRORS_KEY = "x-hub-field-errors"
THREADS = 16  # calls a server handles at once (plus one thread for metrics scrapes: API_THREADS)
API_THREADS = THREADS + 1  # threads of an api process that may hold a database connection at once
# A client refuses trailing metadata past 8 KiB (gRPC's default soft limit; RESOURCE_EXHAUSTED from
# 16 KiB on): the field errors get half of it, the status message a little, the rest is gRPC's own.
FIELD_ERRORS_BUDGET = 4096
MESSAGE_BUDGET = 512

STATUS_FOR = {  # the one table: domain error -> gRPC status
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_for(exc: HubError) -> grpc.StatusCode:
    """The status a domain error answers (also what one refused item of a batch call reports)."""
    return next((STATUS_FOR[k] for k in type(exc).__mro__ if k in STATUS_FOR), grpc.StatusCode.INTERNAL)


def caller(context) -> tuple[str, str]:
    """(actor, correlation id) from the call metadata; every change records the actor."""
    md = dict(context.invocation_metadata())
    correlation = md.get(CORRELATION_KEY, "")
    hublog.correlation_id.set(correlation)  # log lines of this call carry it
    return md.get(ACTOR_KEY, "") or "anonymous", correlation


def refusal(message: str, fields: list[dict]) -> tuple[str, str | None]:
    """(status message, field errors as JSON or None) that fit the metadata budgets: the field errors
    in their order as far as they fit, and the message says how many are listed when not all are; a
    message that quotes a long input is cut."""
    kept, size = [], 2
    for field in fields:
        size += len(json.dumps(field)) + 2
        if size > FIELD_ERRORS_BUDGET:
            break
        kept.append(field)
    if len(kept) < len(fields):
        message = f"{message} (the first {len(kept)} of {len(fields)} field errors)"
    if len(message) > MESSAGE_BUDGET:
        message = message[:MESSAGE_BUDGET - 1] + "…"
    return message, json.dumps(kept) if fields else None


def rpc(service: str):
    """Wrap a servicer method: latency histogram and domain errors -> status + field details."""
    def decorate(method):
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self, request, context):
            started, code = time.perf_counter(), "OK"
            try:
                # a call whose connection died with a database restart before it committed runs again
                return once_more_if_disconnected(lambda: method(self, request, context))
            except HubError as exc:
                status = status_for(exc)
                code = status.name
                message, fields = refusal(exc.message, exc.fields)
                if fields:
                    context.set_trailing_metadata(((FIELD_ERRORS_KEY, fields),))
                context.abort(status, message)
            except Exception:
                if code == "OK":
                    code = "INTERNAL"
                    log.exception("%s.%s failed", service, name)
                raise
            finally:
                metrics.GRPC_LATENCY.labels(service, name, code).observe(time.perf_counter() - started)
        return wrapper
    return decorate


def start(service: str, port: int, register, max_workers: int = THREADS):
    """Start a server with `register(server)` adding the servicers, plus the health service.
    Returns (server, health servicer); the caller stops them."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"0.0.0.0:{port}")
    if not bound:
        raise RuntimeError(f"cannot bind gRPC port {port}")
    server.start()
    for name in ("", f"hubapi.{service}.v1"):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s serving gRPC on port %d", service, bound)
    return server, health_servicer


def serve(service: str, port: int, register, max_workers: int = THREADS) -> None:
    """start(), then block until SIGTERM/SIGINT and stop gracefully."""
    server, health_servicer = start(service, port, register, max_workers)
    heap.started()
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    health_servicer.enter_graceful_shutdown()
    server.stop(grace=5).wait()
