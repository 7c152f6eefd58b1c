"""What every hub benchmark needs around its measurement: its own vhost and databases (PostgreSQL or
SQLite files), simulators on loopback, a whole hub on free ports, and all of it removed at the end,
the vhost too (quorum queues hold broker file descriptors). Logs stay in var/bench/<session>/log."""
from __future__ import annotations

import statistics
import subprocess
import tempfile
from pathlib import Path

from hub import components
from hub.supervisor import free_port
from tests.e2e.test_ledgers import _simulator
from tests.support import infra
from tests.support.hub import Hub

HUB_DATABASES = (*components.SERVICES, "gateway")


class BenchSession:
    """`with BenchSession("postgresql", databases) as s:` then `s.simulator(...)`, `s.start_hub(...)`."""

    def __init__(self, backend: str, databases=HUB_DATABASES):
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"backend must be sqlite or postgresql, not {backend!r}")
        self.backend, self.databases = backend, tuple(databases)
        self.name = infra.session_name()
        self.log_dir = Path(components.PROJECT_ROOT) / "var" / "bench" / self.name / "log"
        self.hub: Hub | None = None
        self.sims: dict[str, subprocess.Popen] = {}
        self.urls: dict[str, str] = {}
        self.vhost_uri = ""
        self._tmp = tempfile.TemporaryDirectory(prefix="hub-bench-")
        self._made_dbs = False
        self._scratch: list[str] = []

    def __enter__(self) -> BenchSession:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.vhost_uri = infra.create_vhost(self.name)
            if self.backend == "postgresql":
                self._made_dbs = True
                self.urls = infra.create_databases(self.name, self.databases)
            else:
                self.urls = {db: f"sqlite:///{Path(self._tmp.name) / (db + '.db')}" for db in self.databases}
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def simulator(self, kind: str, config=None) -> str:
        """Start the simulator `kind` (taobao, jd, kingdee, ufida) on a free loopback port; its URL."""
        port = free_port()
        self.sims[kind] = _simulator(kind, port, self.log_dir, config)
        return f"http://127.0.0.1:{port}"

    def scratch_database(self, name: str) -> str:
        """A PostgreSQL database of this session that the hub does not use (for raw baselines); its name."""
        infra.create_databases(f"{self.name}_scratch", [name])
        self._scratch.append(name)
        return f"{self.name}_scratch_{name}"

    def start_hub(self, extra_env: dict | None = None) -> Hub:
        self.hub = Hub(self.vhost_uri, self.urls, self.log_dir, extra_env=extra_env)
        self.hub.start()
        return self.hub

    def close(self) -> None:
        if self.hub is not None:
            self.hub.stop(graceful=True)  # as deployed: its logs show how each process stopped
            self.hub = None
        for proc in self.sims.values():
            proc.terminate()
            proc.wait(10)
        self.sims = {}
        if self._scratch:
            infra.drop_databases(f"{self.name}_scratch", self._scratch)
            self._scratch = []
        if self._made_dbs:
            infra.drop_databases(self.name, self.databases)
            self._made_dbs = False
        if self.vhost_uri:
            infra.delete_vhost(self.name)
            self.vhost_uri = ""
        self._tmp.cleanup()


def check_alive(hub: Hub) -> None:
    """Stop a bench at once when one of the hub's processes has exited (its log says why)."""
    dead = [name for name in hub.stack.procs if not hub.stack.running(name)]
    if dead:
        raise RuntimeError(f"hub processes exited: {dead}; see their logs in {hub.stack.log_dir}")


def log_problems(log_dir: Path) -> dict:
    """Per log file, how many ERROR/CRITICAL/Traceback lines it has (only the files that have any)."""
    found = {}
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        bad = sum(1 for l in lines if "ERROR" in l or "Traceback" in l or "CRITICAL" in l)
        if bad:
            found[log.stem] = bad
    return found


def percentiles_ms(seconds, points=(50, 95, 99)) -> dict[str, float] | None:
    """{"p50": ms, ...} of durations given in seconds; None when there are fewer than two."""
    if len(seconds) < 2:
        return None
    q = statistics.quantiles(seconds, n=100, method="inclusive")
    return {f"p{p}": round(q[p - 1] * 1000, 1) for p in points}
