"""CPU time and resident memory of groups of processes, read from /proc (Linux).

A `CpuMeter` samples every process of its groups in a background thread, so that a process that
starts during a window (a new PostgreSQL backend) is counted from zero and one that exits keeps
what it used up to its last sample (up to one sampling interval is lost for those)."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

Groups = Callable[[], dict[str, list[int]]]  # group name -> pids, asked again at every sample


def cpu_ms(pid: int) -> float | None:
    """utime + stime of a process so far (its own threads; not its children), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0


def descendants(pid: int) -> list[int]:
    """The process and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def pids_named(comm: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is `comm`, e.g. RabbitMQ's beam.smp."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return found


class CpuMeter:
    """CPU milliseconds per group between `start()` and `stop()`; the peak resident memory of each of
    `rss_groups` (summed over its processes) and of all of them together."""

    def __init__(self, groups: Groups, interval: float = 0.5, rss_groups: tuple[str, ...] = ()):
        self.groups, self.interval, self.rss_groups = groups, interval, rss_groups
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._group_of: dict[int, str] = {}
        self.peak_rss: dict[str, int] = {}
        self.peak_rss_total = 0  # the largest sum over the rss groups in one sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.seconds = 0.0
        self._began = 0.0

    def _sample(self, first: bool = False) -> None:
        total_rss = 0
        for group, pids in self.groups().items():
            rss = 0
            for pid in pids:
                used = cpu_ms(pid)
                if used is None:
                    continue
                if pid not in self._last:
                    # there at the start: count from now; born during the window: count all it used
                    self._first[pid] = used if first else 0.0
                    self._group_of[pid] = group
                self._last[pid] = used
                if group in self.rss_groups:
                    rss += rss_bytes(pid)
            if group in self.rss_groups:
                self.peak_rss[group] = max(self.peak_rss.get(group, 0), rss)
                total_rss += rss
        self.peak_rss_total = max(self.peak_rss_total, total_rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> CpuMeter:
        self._began = time.monotonic()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.seconds = time.monotonic() - self._began
        return self.used()

    def used(self) -> dict[str, float]:
        """CPU ms per group over the window."""
        out: dict[str, float] = {}
        for pid, last in self._last.items():
            group = self._group_of[pid]
            out[group] = out.get(group, 0.0) + last - self._first[pid]
        return out

