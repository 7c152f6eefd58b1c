"""Starts and stops the hub's processes as separate OS processes (`hub up`, the demo, the tests)."""
from __future__ import annotations

import ctypes
import json
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
    account: str | None = None       # the component whose broker user it connects as (none: the gateway)
    relayed: tuple[str, ...] = ()    # the services whose outboxes it relays, each as that service's user
    probes: bool = False             # serves /livez and /readyz on its metrics port (hubkit.health)
    popen: subprocess.Popen | None = None
    started_at: float = 0.0          # monotonic time of the last start
    restarts: int = 0                # restarts since `hub up` began
    crashes_in_a_row: int = 0        # sets the back-off; forgotten once the process stays up a while
    restart_at: float | None = None  # when an exited process is started again
    probed_at: float = 0.0           # when /livez was last asked
    unanswered: int | None = None    # /livez asks in a row without an answer (None: never answered yet)


# An exited process is started again after 1 s, 2 s, 4 s ... at most a minute; one that stayed up
# this long before it exited starts the back-off over.
RESTART_FIRST_SECONDS, RESTART_MAX_SECONDS, STEADY_SECONDS = 1.0, 60.0, 60.0
LIVENESS_PROBE_SECONDS = 5.0  # how often `hub up` asks a running process's /livez, as Kubernetes would
LIVENESS_UNANSWERED = 6       # asks in a row without an answer that show a hung process (30 s)


def restart_delay(crashes_in_a_row: int) -> float:
    return min(RESTART_FIRST_SECONDS * 2 ** max(crashes_in_a_row - 1, 0), RESTART_MAX_SECONDS)


PR_SET_PDEATHSIG = 1  # linux/prctl.h
# looked up once here: between fork and exec the child should only call, not load (other threads
# of the parent may hold the loader's locks)
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_SIGKILL = int(signal.SIGKILL)


def _die_with(parent: int):
    """Runs in the child between fork and exec: the kernel kills the child when the thread that
    started it ends, so no hub process outlives a supervisor, demo or test session that was killed
    (SIGKILL and SIGTERM give it no chance to stop its children)."""
    def preexec() -> None:
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, _SIGKILL)
        if os.getppid() != parent:  # it died before the line above: nobody would be told
            os._exit(1)
    return preexec


def spawn(argv: list, **kwargs) -> subprocess.Popen:
    """Start a child process of the hub (a component, a simulator, the demo) in a session of its
    own, so that it can be signalled (killed -9) without its siblings, and so that it dies with the
    process that started it. Start it from a thread that lives as long as the child should."""
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with(os.getpid()), **kwargs)


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


def process_table(metrics_ports, ledgers=(), shop_platforms=(), notify=False) -> list[Proc]:
    """Every service has an api and a worker if it consumes events; one process relays the outboxes of
    those that publish any (a thread each: ~65 MiB a process, almost all of it the libraries); the
    ledger connector when ledgers are configured, the notifier when notification targets are."""
    py = sys.executable
    procs = []
    for svc in SERVICES:
        procs.append(Proc(f"{svc}-api", [py, "-m", "hub.cli", "api", svc], 0, svc))
        if components.has_worker(svc):
            procs.append(Proc(f"{svc}-worker", [py, "-m", "hub.worker", svc], 0, svc, probes=True))
    relayed = tuple(svc for svc in SERVICES if components.has_relay(svc))
    procs.append(Proc("relays", [py, "-m", "hub.cli", "relay", *relayed], 0, probes=True, relayed=relayed))
    procs.append(Proc("gateway", [py, "-m", "hub.cli", "gateway"], 0))
    if ledgers:
        procs.append(Proc("ledger-connector", [py, "-m", "hub.cli", "ledger", "run"], 0, "ledger", probes=True))
    for platform in shop_platforms:
        procs.append(Proc(f"shops-{platform}", [py, "-m", "hub.cli", "connectors", "run", "--platform", platform], 0,
                          f"shops_{platform}", probes=True))
    if notify:
        procs.append(Proc("notifier", [py, "-m", "hub.cli", "notify", "run"], 0, "notify", probes=True))
    for proc in procs:
        proc.metrics_port = metrics_ports(proc.name)
    return procs


shop_platforms = components.shop_platforms


def _last_line(log: Path) -> str:
    """What a process wrote last (its fatal error, e.g. a port already in use), shortened."""
    with open(log, "rb") as f:
        f.seek(max(f.seek(0, os.SEEK_END) - 4096, 0))
        lines = [l.strip() for l in f.read().decode(errors="replace").splitlines() if l.strip()]
    return (lines[-1] if lines else "no output")[:300]


class Stack:
    """The processes of the embedded default (or of a test session), each in its own
    process group so that one can be killed -9 without touching the others, and each dying with
    the process that started it (see `spawn`)."""

    def __init__(self, env: dict, log_dir: Path, metrics_ports=lambda name: 0):
        self.env = {**os.environ, **env}
        self.settings = components.settings(self.env)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = {p.name: p for p in process_table(metrics_ports, self.settings.ledgers,
                                                       shop_platforms(self.settings),
                                                       bool(components.notified_events(self.settings)))}
        self.broker_uris = {a.name: uri for a, uri in components.broker_accounts(self.settings).items()}
        self._own_users: bool | None = None  # do the components' broker users log in? (asked at the first start)

    def process_env(self, proc: Proc) -> dict:
        """The environment of one process: its component's broker URI as HUB_AMQP_URI (the relays'
        process: each relayed service's as HUB_AMQP_URI_<SERVICE>), and no other broker credentials
        (the admin's and the other components' stay with the supervisor)."""
        env = {k: v for k, v in self.env.items() if not k.startswith(("HUB_AMQP_URI", "HUB_AMQP_MANAGEMENT"))}
        if self._own_users is None:
            self._own_users = broker.can_log_in(next(iter(self.broker_uris.values())))
            if not self._own_users:
                print("hub: warning: the components' broker users cannot log in (see `hub migrate`); "
                      "every process connects with HUB_AMQP_URI", file=sys.stderr, flush=True)
        if not self._own_users:
            env["HUB_AMQP_URI"] = self.settings.amqp_uri
            return env
        if proc.account:
            env["HUB_AMQP_URI"] = self.broker_uris[proc.account]
        env.update({f"HUB_AMQP_URI_{svc.upper()}": self.broker_uris[svc] for svc in proc.relayed})
        return env

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
            proc_env = {**self.process_env(proc), **(env or {}), "HUB_METRICS_PORT": str(proc.metrics_port)}
            proc.popen = spawn(proc.argv, env=proc_env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
            proc.started_at, proc.restart_at, proc.unanswered = time.monotonic(), None, None
            log.close()

    def heal(self, now: float | None = None, say=print) -> list[str]:
        """Start again, with back-off, every process that exited, and end (to start it again) one
        whose /livez says it cannot heal itself; returns those started now."""
        now = time.monotonic() if now is None else now
        started = []
        for name, proc in self.procs.items():
            if proc.popen is None:
                continue
            if proc.popen.poll() is None:
                if proc.probes and now - proc.probed_at >= LIVENESS_PROBE_SECONDS:
                    proc.probed_at = now
                    answer = self._probe(name, "/livez")
                    if answer is None and proc.unanswered is not None:
                        proc.unanswered += 1
                        answer = (proc.unanswered < LIVENESS_UNANSWERED, "it does not answer")
                    elif answer is not None:
                        proc.unanswered = 0
                    if answer is not None and not answer[0]:
                        say(f"{name} is not live ({answer[1]}); killing it")
                        self.kill(name)
                if proc.popen.poll() is None:
                    continue
            if proc.restart_at is None:
                steady = now - proc.started_at >= STEADY_SECONDS
                proc.crashes_in_a_row = 1 if steady else proc.crashes_in_a_row + 1
                proc.restart_at = now + restart_delay(proc.crashes_in_a_row)
                say(f"{name} exited with code {proc.popen.returncode}; restarting it in "
                    f"{proc.restart_at - now:.0f}s (see {self.log_dir / (name + '.log')})")
            elif now >= proc.restart_at:
                proc.restarts += 1
                self.start(name)
                started.append(name)
        return started

    def status(self) -> list[dict]:
        """Each process: pid, running or waiting to restart, restarts so far."""
        return [{"name": name, "pid": proc.popen.pid if proc.popen else None, "running": self.running(name),
                 "restarts": proc.restarts} for name, proc in self.procs.items()]

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
        """APIs and connectors answer health checks, the gateway /healthz; workers, relays and
        connectors answer /readyz (consumers attached, broker and database reachable)."""
        deadline = time.monotonic() + timeout
        pending = set(self.procs)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                if not self.running(name):
                    log = self.log_dir / (name + ".log")
                    raise RuntimeError(f"{name} exited early ({_last_line(log)}); see {log}")
                if self._ready(name):
                    pending.discard(name)
            if pending:
                time.sleep(0.3)
        if pending:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(pending)} (logs in {self.log_dir})")

    def _probe(self, name: str, path: str) -> tuple[bool, str] | None:
        """A process's /readyz or /livez: (200?, the reasons it gave), None when it serves no
        probes or does not answer."""
        proc = self.procs[name]
        if not (proc.probes and proc.metrics_port):
            return None
        try:
            answer = httpx.get(f"http://127.0.0.1:{proc.metrics_port}{path}", timeout=2)
        except httpx.HTTPError:
            return None
        return (answer.status_code == 200, answer.text.strip()) if answer.status_code in (200, 503) else None

    def _ready(self, name: str) -> bool:
        svc, _, role = name.partition("-")
        proc = self.procs[name]
        if proc.probes and proc.metrics_port:
            answer = self._probe(name, "/readyz")
            if answer is None or not answer[0]:
                return False
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
        if role == "worker" and not proc.metrics_port:  # no /readyz to ask: the broker's count of consumers
            try:
                counts = broker.consumer_counts(self.settings.amqp_uri, components.subscriptions(svc))
            except broker.CONNECTION_ERRORS:  # a busy broker: ask again on the next round
                return False
            return all(n > 0 for q, n in counts.items() if q.startswith(svc + "."))
        return True


# -- the embedded default: `hub up` and the demo -------------------------------
METRICS_BASE_PORT = int(os.environ.get("HUB_METRICS_BASE_PORT", "9100"))  # 0: no metrics ports


def start_embedded() -> Stack:
    """Migrate, declare the topology and start every process; return once all are ready."""
    s = components.settings()
    broker.ensure_running(s.amqp_uri)
    components.migrate_all(s)
    print(f"broker: {components.prepare_broker(s)}", file=sys.stderr, flush=True)  # stdout may be JSON (demo)
    names = [p.name for p in process_table(lambda _: 0, s.ledgers, shop_platforms(s),
                                           bool(components.notified_events(s)))]
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
    status_file = stack.settings.var_dir / STATUS_FILE
    try:
        while not stopping:
            time.sleep(0.5)
            stack.heal(say=lambda line: print(line, flush=True))
            write_status(status_file, stack)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        status_file.unlink(missing_ok=True)
        print("hub stopped")


STATUS_FILE = "hub-status.json"  # under HUB_VAR_DIR, while `hub up` runs


def write_status(path: Path, stack: Stack) -> None:
    """What `hub status` shows: the supervisor and each of its processes."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"supervisor": os.getpid(), "processes": stack.status()}))
    tmp.replace(path)  # readers never see half a file


def read_status(path: Path) -> dict | None:
    """The status `hub up` keeps, or None when no live `hub up` keeps it."""
    try:
        status = json.loads(path.read_text())
        os.kill(status["supervisor"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return status


