"""One relay, alone: its CPU while idle and the latency from an outbox commit to the event reaching a
consumer, at a low rate (the cost and the promptness of how the relay learns of new rows).

    python -m bench.relay_wake [--sqlite] [--idle-seconds 20] [--events 200] [--rate 10]

Starts `hub relay accounting` on a fresh outbox (a PostgreSQL database of its own, or a SQLite file)
and a vhost of its own, binds a queue to `voucher_posted`, measures the relay's CPU from /proc over
the idle window, then commits `--events` events one transaction each at `--rate` per second and
reports the median and p95 from commit to delivery."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="the outbox in SQLite (default PostgreSQL)")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="events committed per second")
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
        relay = subprocess.Popen([sys.executable, "-m", "hub.cli", "relay", "accounting"], env=env, stdout=log,
                                 stderr=subprocess.STDOUT, cwd=components.PROJECT_ROOT, start_new_session=True)
        time.sleep(3)  # started, connected, its first rounds done
        before, started = cpu_ms(relay.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu_ms(relay.pid) - before) / (time.monotonic() - started)
        print(f"relay idle CPU: {idle:.1f} ms/s over {args.idle_seconds:.0f} s")

        committed: dict[str, float] = {}
        arrived: dict[str, float] = {}  # an event may arrive before its commit time is noted
        done = threading.Event()

        def consume():
            consumer = broker.connect(amqp)
            ch = consumer.channel()
            for _method, properties, _body in ch.consume("bench.voucher_posted", auto_ack=True,
                                                         inactivity_timeout=1):
                if properties is not None:
                    arrived[properties.message_id] = time.monotonic()
                if done.is_set() and len(arrived) >= len(committed):
                    break
            consumer.close()

        reader = threading.Thread(target=consume)
        reader.start()
        db = Database(db_url, metadata)
        for n in range(args.events):
            with db.session() as s:
                envelope = outbox.emit(s, metadata.tables, source="accounting", event_type="voucher_posted",
                                       aggregate_id=f"v-{n}", payload={"id": n}, actor="bench", correlation_id="")
            committed[envelope.event_id] = time.monotonic()
            time.sleep(1 / args.rate)
        done.set()
        reader.join(60)
        db.dispose()
        ms = sorted((arrived[i] - t) * 1000 for i, t in committed.items() if i in arrived)
        print(f"commit -> delivered over {len(ms)} of {args.events} events at {args.rate:g}/s: "
              f"median {statistics.median(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms")
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
