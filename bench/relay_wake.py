"""One relay, alone: its CPU while idle, the latency from an outbox commit to the event reaching a
consumer at a low rate (the cost and the promptness of how the relay learns of new rows), and its CPU
per event published.

    python -m bench.relay_wake [--sqlite] [--idle-seconds 20] [--events 200] [--rate 10] [--batch 50]
                               [--profile FILE]

Starts `hub relay accounting` on a fresh outbox (a PostgreSQL database of its own, or a SQLite file)
and a vhost of its own, binds a queue to `voucher_posted`, measures the relay's CPU from /proc over
the idle window, then commits `--events` events one transaction each at `--rate` per second and
reports the median and p95 from commit to delivery and the relay's CPU per event over that phase;
then `--events` more in transactions of `--batch` rows, `--rate` transactions per second, and the
CPU per event again. `--profile FILE` runs the relay under cProfile, timed by CPU time, and writes its
stats there when it stops (the CPU figures then include the profiler's cost)."""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.procstat import cpu_ms
from hub import components
from hubkit import broker, outbox, topology
from hubkit.db import Database
from services.accounting.models import metadata
from tests.support import infra

PROFILED = ("import cProfile, runpy, sys, time; sys.argv[0] = 'hub'; p = cProfile.Profile(time.process_time); "
            "p.enable()\ntry: runpy.run_module('hub.cli', run_name='__main__')\nfinally: p.disable(); "
            "p.dump_stats({out!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="the outbox in SQLite (default PostgreSQL)")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="transactions committed per second")
    parser.add_argument("--batch", type=int, default=50, help="rows per transaction in the second phase")
    parser.add_argument("--profile", help="write the relay's cProfile stats to this file")
    args = parser.parse_args()

    name = infra.session_name()
    amqp = infra.create_vhost(name)
    var = Path(tempfile.mkdtemp(prefix="relay-wake-"))
    db_url = f"sqlite:///{var / 'accounting.db'}" if args.sqlite else \
        infra.create_databases(name, ["accounting"])["accounting"]
    relay = None
    try:
        components.migrate("accounting", db_url)
        connection = broker.connect(amqp)
        channel = connection.channel()
        topology.declare(channel, [])
        channel.queue_declare("bench.voucher_posted")
        channel.queue_bind("bench.voucher_posted", topology.EVENTS_EXCHANGE, "voucher_posted")
        log = open(var / "relay.log", "ab")
        env = {**os.environ, "HUB_AMQP_URI": amqp, "HUB_ACCOUNTING_DB_URL": db_url, "HUB_VAR_DIR": str(var)}
        command = ["-m", "hub.cli", "relay", "accounting"]
        if args.profile:  # CPU time, not wall time: a wall-clock profile of a relay is mostly its waits
            command = ["-c", PROFILED.format(out=os.path.abspath(args.profile)), "relay", "accounting"]
        relay = subprocess.Popen([sys.executable, *command], env=env,
                                 stdout=log, stderr=subprocess.STDOUT, cwd=components.PROJECT_ROOT, start_new_session=True)
        committed: dict[str, float] = {}
        arrived: dict[str, float] = {}  # an event may arrive before its commit time is noted
        expected = [0]
        done = threading.Event()

        def consume():
            consumer = broker.connect(amqp)
            ch = consumer.channel()
            for _method, properties, _body in ch.consume("bench.voucher_posted", auto_ack=True,
                                                         inactivity_timeout=1):
                if properties is not None:
                    arrived[properties.message_id] = time.monotonic()
                if done.is_set() and len(arrived) >= expected[0]:
                    break
            consumer.close()

        reader = threading.Thread(target=consume)
        reader.start()
        db = Database(db_url, metadata)

        def commit(rows: int, first: int) -> None:
            with db.session() as s:
                ids = [outbox.emit(s, metadata.tables, source="accounting", event_type="voucher_posted",
                                   aggregate_id=f"v-{n}", payload={"id": n}, actor="bench", correlation_id="").event_id
                       for n in range(first, first + rows)]
            now = time.monotonic()
            committed.update((i, now) for i in ids)

        def delivered(deadline: float) -> None:
            while len(arrived) < expected[0] and time.monotonic() - max(committed.values()) < deadline:
                time.sleep(0.1)

        # a first event, published: the relay is up, connected and past its first rounds
        expected[0] = 1
        commit(1, -1)
        delivered(120)
        time.sleep(1)
        before, started = cpu_ms(relay.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu_ms(relay.pid) - before) / (time.monotonic() - started)
        print(f"relay idle CPU: {idle:.1f} ms/s over {args.idle_seconds:.0f} s")
        committed.clear()
        arrived.clear()
        expected[0] = 0

        def phase(rows: int, first: int) -> float:
            """Commit --events events `rows` to a transaction; the relay's CPU ms per event."""
            expected[0] += args.events
            before = cpu_ms(relay.pid)
            for n in range(first, first + args.events, rows):
                commit(min(rows, first + args.events - n), n)
                time.sleep(1 / args.rate)
            delivered(30)
            time.sleep(0.5)  # its last confirms marked
            return (cpu_ms(relay.pid) - before) / args.events

        single = phase(1, 0)
        ms = sorted((arrived[i] - t) * 1000 for i, t in committed.items() if i in arrived)
        print(f"commit -> delivered over {len(ms)} of {args.events} events at {args.rate:g}/s: "
              f"median {statistics.median(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms")
        print(f"relay CPU per event, one event per transaction: {single:.2f} ms")
        batched = phase(args.batch, args.events)
        done.set()
        reader.join(60)
        db.dispose()
        print(f"relay CPU per event, {args.batch} events per transaction: {batched:.3f} ms "
              f"({len(arrived)} of {2 * args.events} events delivered in all)")
        connection.close()
    finally:
        if relay is not None:
            os.killpg(relay.pid, signal.SIGTERM)
            relay.wait(15)
        infra.delete_vhost(name)
        if not args.sqlite:
            infra.drop_databases(name, ["accounting"])


if __name__ == "__main__":
    main()
