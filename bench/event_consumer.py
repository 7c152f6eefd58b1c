"""A batched event handler's whole cost per message in a worker: what bench.event_kernel measures plus
the consumer (kombu's receiving, hubkit.consumer's gathering, settling, acks, metrics), through RabbitMQ.

N events are published to the handler's queue in a fresh vhost first; then a nameko container
(eventlet, as a worker runs) with one `@handle_events` handler, whose effect only emits one event per
event applied, on a SQLite file, takes them with `batch_max` 1 (a transaction and an ack round per
event, as latency-critical handlers mostly run at 10-30 orders/s) and 10. Reported: CPU microseconds per
message of the process (time.process_time from the first batch to the last settled; median of --rounds
rounds after a warm-up round), and the function calls per message (Python and C, as cProfile counts
them in one more round: a figure a busy machine does not move).

    python -m bench.event_consumer [--events N] [--rounds R] [--json]
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pika  # noqa: E402
from nameko.constants import AMQP_URI_CONFIG_KEY, MAX_WORKERS_CONFIG_KEY, SERIALIZER_CONFIG_KEY  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402

from bench.event_kernel import Seen, _envelopes, metadata  # noqa: E402
from hubkit import broker, events, inbox, topology  # noqa: E402
from hubkit.consumer import HUB_CONFIG_KEY, handle_events  # noqa: E402
from hubkit.db import Database  # noqa: E402
from hubkit.nameko_deps import DatabaseProvider  # noqa: E402
from hubkit.settings import HubSettings  # noqa: E402
from tests.support import infra  # noqa: E402


class Placed(events.Event):
    type = "bench_placed"
    publisher = "order"
    subscribers = ("bench",)
    order_id: str


class Bench:
    name = "bench"
    db = DatabaseProvider(metadata)
    applied = 0
    first: float | None = None
    profile: cProfile.Profile | None = None

    @handle_events(Placed)
    def on_placed(self, uow, batch):
        if Bench.first is None:
            Bench.first = time.process_time()
            if Bench.profile is not None:
                Bench.profile.enable()  # the thread's: every green thread's calls from here
        for _event, envelope in batch:
            with inbox.on_behalf_of(uow, envelope):
                uow.emit(Seen(ref=envelope.aggregate_id), envelope.aggregate_id)
        uow.after_commit(lambda: setattr(Bench, "applied", Bench.applied + len(batch)))


def _publish(amqp_uri: str, n: int) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    channel.confirm_delivery()
    for envelope in _envelopes(n):
        envelope = type(envelope)(**{**envelope.to_dict(), "type": Placed.type, "payload": {"order_id": "o"}})
        channel.basic_publish(topology.EVENTS_EXCHANGE, Placed.type, envelope.to_json(),
                              pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                                   delivery_mode=2, type=Placed.type))
    connection.close()


def run(amqp_uri: str, db_url: str, n: int, batch: int, count_calls: bool = False) -> float:
    _publish(amqp_uri, n)
    settings = HubSettings()
    config = {AMQP_URI_CONFIG_KEY: amqp_uri, MAX_WORKERS_CONFIG_KEY: settings.worker_concurrency,
              SERIALIZER_CONFIG_KEY: "json",
              HUB_CONFIG_KEY: {"db_url": db_url, "batch_max": batch, "batch_wait_ms": settings.consumer_batch_wait_ms,
                               "batches_in_flight": 1, "prefetch": settings.consumer_prefetch, "settings": settings}}
    Bench.applied, Bench.first = 0, None
    Bench.profile = cProfile.Profile() if count_calls else None
    container = ServiceContainer(Bench, config)
    container.start()
    try:
        deadline = time.monotonic() + 300
        while Bench.applied < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{Bench.applied} of {n} applied")
            eventlet.sleep(0.01)
        eventlet.sleep(0.05)  # the last acks
        cpu = time.process_time() - (Bench.first or 0.0)
    finally:
        if Bench.profile is not None:
            Bench.profile.disable()
        container.stop()
    if Bench.profile is not None:
        return sum(stat[1] for stat in pstats.Stats(Bench.profile).stats.values()) / n  # type: ignore[attr-defined]
    return cpu * 1e6 / n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1000, help="events per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    name = f"{infra.session_name()}_consumer"
    amqp_uri = infra.create_vhost(name)
    folder = tempfile.TemporaryDirectory()
    try:
        broker.declare_topology(amqp_uri, [events.subscription(Placed, "bench")])
        db_url = f"sqlite:///{Path(folder.name) / 'bench.db'}"
        db = Database(db_url, metadata, pool_size=1)
        metadata.create_all(db.engine)
        db.dispose()
        results = []
        for batch in (1, 10):
            runs = [run(amqp_uri, db_url, args.events, batch) for _ in range(args.rounds + 1)][1:]
            calls = run(amqp_uri, db_url, args.events, batch, count_calls=True)
            results.append({"batch": batch, "cpu_us_per_message": round(statistics.median(runs), 1),
                            "rounds": [round(r, 1) for r in runs], "calls_per_message": round(calls, 1)})
    finally:
        folder.cleanup()
        infra.delete_vhost(name)
    if args.json:
        print(json.dumps(results))
        return
    for row in results:
        print(f"batch_max {row['batch']:>2}: {row['cpu_us_per_message']:>7} us CPU per message {row['rounds']}, "
              f"{row['calls_per_message']} calls per message")


if __name__ == "__main__":
    main()
