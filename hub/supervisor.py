"""Starts and stops the hub's processes as separate OS processes (`hub up`, the demo, the tests)."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub import components
from hub.components import PROJECT_ROOT, SERVICES
from hubkit import broker
from hubkit.grpc_health import check as grpc_serving


@dataclass
class Proc:
    name: str
    argv: list
    metrics_port: int
    popen: subprocess.Popen | None = None


_handed_out: set[int] = set()


def free_port() -> int:
    """A port that is free now, chosen below the kernel's ephemeral range, so that the outgoing
    connections of other processes cannot take it before our process binds it. Never the same
    port twice in one process: two hubs started by one test session (or demo) never share one."""
    low, high = 20000, 32000
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port between {low} and {high}")


def process_table(metrics_ports, ledgers=(), shop_platforms=()) -> list[Proc]:
    """Every service has an api; a worker if it consumes events, a relay if it publishes any;
    the ledger connector when ledgers are configured."""
    py = sys.executable
    procs = []
    for svc in SERVICES:
        procs.append(Proc(f"{svc}-api", [py, "-m", "hub.cli", "api", svc], 0))
        if components.has_worker(svc):
            procs.append(Proc(f"{svc}-worker", [py, "-m", "hub.worker", svc], 0))
        if components.has_relay(svc):
            procs.append(Proc(f"{svc}-relay", [py, "-m", "hub.cli", "relay", svc], 0))
    procs.append(Proc("gateway", [py, "-m", "hub.cli", "gateway"], 0))
    if ledgers:
        procs.append(Proc("ledger-connector", [py, "-m", "hub.cli", "ledger", "run"], 0))
    for platform in shop_platforms:
        procs.append(Proc(f"shops-{platform}", [py, "-m", "hub.cli", "connectors", "run", "--platform", platform], 0))
    for proc in procs:
        proc.metrics_port = metrics_ports(proc.name)
    return procs


def shop_platforms(settings) -> tuple:
    """The platforms with shops in HUB_SHOPS_FILE: each gets its connector process."""
    if not settings.shops_file:
        return ()
    from connectors.shops import config as shop_config
    return tuple(shop_config.load(settings.shops_file))


class Stack:
    """The processes of the embedded default (or of a test session), each in its own
    process group so that one can be killed -9 without touching the others."""

    def __init__(self, env: dict, log_dir: Path, metrics_ports=lambda name: 0):
        self.env = {**os.environ, **env}
        self.settings = components.settings(self.env)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = {p.name: p for p in process_table(metrics_ports, self.settings.ledgers,
                                                       shop_platforms(self.settings))}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway_port}"

    def start(self, *names, env: dict | None = None) -> None:
        """Start (or restart, if dead) the named processes; `env` adds variables for this start only."""
        for name in names or self.procs:
            proc = self.procs[name]
            if proc.popen is not None and proc.popen.poll() is None:
                continue
            log = open(self.log_dir / f"{name}.log", "ab")
            proc_env = {**self.env, **(env or {}), "HUB_METRICS_PORT": str(proc.metrics_port)}
            proc.popen = subprocess.Popen(proc.argv, env=proc_env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True, cwd=PROJECT_ROOT)
            log.close()

    def signal(self, name: str, sig=signal.SIGTERM) -> None:
        popen = self.procs[name].popen
        if popen is not None and popen.poll() is None:
            os.killpg(popen.pid, sig)

    def kill(self, name: str) -> None:
        """kill -9, as a crash would."""
        self.signal(name, signal.SIGKILL)
        self.procs[name].popen.wait(10)

    def stop(self, *names, timeout: float = 15) -> None:
        names = names or tuple(self.procs)
        for name in names:
            self.signal(name, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in names:
            popen = self.procs[name].popen
            if popen is None:
                continue
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.signal(name, signal.SIGKILL)
                popen.wait(5)

    def running(self, name: str) -> bool:
        popen = self.procs[name].popen
        return popen is not None and popen.poll() is None

    def wait_ready(self, timeout: float = 60) -> None:
        """APIs answer health checks, the gateway /healthz, every queue has a consumer."""
        deadline = time.monotonic() + timeout
        pending = set(self.procs)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                if not self.running(name):
                    raise RuntimeError(f"{name} exited early; see {self.log_dir / (name + '.log')}")
                if self._ready(name):
                    pending.discard(name)
            if pending:
                time.sleep(0.3)
        if pending:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(pending)} (logs in {self.log_dir})")

    def _ready(self, name: str) -> bool:
        svc, _, role = name.partition("-")
        if name == "gateway":
            try:
                return httpx.get(f"{self.gateway_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        if role == "api":
            return grpc_serving(f"127.0.0.1:{self.settings.grpc_ports[svc]}", timeout=1)
        if svc == "shops":
            return grpc_serving(f"127.0.0.1:{self.settings.shops_grpc_ports[role]}", timeout=1)
        if name == "ledger-connector":
            return grpc_serving(f"127.0.0.1:{self.settings.ledger_grpc_port}", timeout=1)
        if role == "worker":
            try:
                counts = broker.consumer_counts(self.settings.amqp_uri, components.subscriptions(svc))
            except broker.CONNECTION_ERRORS:  # a busy broker: ask again on the next round
                return False
            return all(n > 0 for q, n in counts.items() if q.startswith(svc + "."))
        return True  # relays have nothing to probe; they log and retry on their own


# -- the embedded default: `hub up` and the demo -------------------------------
METRICS_BASE_PORT = int(os.environ.get("HUB_METRICS_BASE_PORT", "9100"))  # 0: no metrics ports


def start_embedded() -> Stack:
    """Migrate, declare the topology and start every process; return once all are ready."""
    s = components.settings()
    broker.ensure_running(s.amqp_uri)
    components.migrate_all(s)
    broker.declare_topology(s.amqp_uri, components.subscriptions())
    names = [p.name for p in process_table(lambda _: 0, s.ledgers, shop_platforms(s))]
    # the gateway serves /metrics on its own HTTP port
    stack = Stack({}, s.var_dir / "log", metrics_ports=lambda name: 0 if name == "gateway" or not METRICS_BASE_PORT
                  else METRICS_BASE_PORT + names.index(name))
    stack.start()
    try:
        stack.wait_ready(90)
    except Exception:
        stack.stop()
        raise
    return stack


def run_up() -> None:
    stack = start_embedded()
    print(f"hub is up: gateway {stack.gateway_url} (OpenAPI at /docs), logs in {stack.log_dir}; Ctrl-C stops it")
    for name, proc in stack.procs.items():
        where = f"{stack.gateway_url}/metrics" if name == "gateway" else f":{proc.metrics_port}/metrics"
        print(f"  {name:18s} pid {proc.popen.pid:<7d} metrics {where}")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            time.sleep(0.5)
            dead = [n for n in stack.procs if not stack.running(n)]
            if dead:
                print(f"process(es) exited: {dead}; stopping the hub")
                break
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("hub stopped")


