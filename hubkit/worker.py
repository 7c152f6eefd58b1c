"""Runs one nameko service class as a worker process until SIGTERM or SIGINT.

eventlet must have patched the standard library before anything else was imported, so the
process is started by an entry module that patches first (hub.worker) and then calls `run`."""
from __future__ import annotations

import logging
import signal

import eventlet
from nameko.constants import AMQP_URI_CONFIG_KEY, MAX_WORKERS_CONFIG_KEY, SERIALIZER_CONFIG_KEY
from nameko.runners import ServiceRunner

from hubkit import heap, metrics
from hubkit import logging as hublog
from hubkit.consumer import CONSUMING, HUB_CONFIG_KEY
from hubkit.health import Health

log = logging.getLogger(__name__)


def nameko_config(settings) -> dict:
    """The nameko config of a service's worker, from the service's settings (a HubSettings with
    `db_url`); the settings themselves travel along for SettingsProvider."""
    return {
        AMQP_URI_CONFIG_KEY: settings.amqp_uri,
        MAX_WORKERS_CONFIG_KEY: settings.worker_concurrency,
        SERIALIZER_CONFIG_KEY: "json",
        HUB_CONFIG_KEY: {
            "db_url": settings.db_url,
            "max_attempts": settings.consumer_max_attempts,
            "batch_max": settings.consumer_batch_max,
            "batch_wait_ms": settings.consumer_batch_wait_ms,
            "background_batch_wait_ms": settings.consumer_background_batch_wait_ms,
            "batches_in_flight": settings.consumer_batches_in_flight,
            "prefetch": settings.consumer_prefetch,
            "retry_base_seconds": settings.retry_base_seconds,
            "retry_max_seconds": settings.retry_max_seconds,
            "settings": settings,
        },
    }


def run(service: str, worker_cls, settings) -> None:
    if not eventlet.patcher.is_monkey_patched("socket"):
        raise RuntimeError("a worker process must call eventlet.monkey_patch() before anything else")
    hublog.setup(f"{service}-worker", settings.log_level)
    metrics.serve(settings.metrics_port, Health(settings.liveness_grace_seconds, CONSUMING))
    runner = ServiceRunner(nameko_config(settings))
    runner.add_service(worker_cls)
    stopping = eventlet.event.Event()

    def _stop(*_):
        if not stopping.ready():
            stopping.send(True)

    def _watch():
        # nameko's container can die (an ack on a reset connection) while the process lives on,
        # consuming nothing: end the process instead, so its supervisor starts a healthy one
        try:
            runner.wait()
        except Exception:
            log.exception("%s worker's container died; exiting", service)
        if not stopping.ready():
            stopping.send(False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    heap.started()
    eventlet.spawn(_watch)
    log.info("%s worker started", service)
    if stopping.wait():
        runner.stop()
        return
    runner.kill()
    raise SystemExit(1)
