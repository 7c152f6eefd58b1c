"""Helpers for the ledger simulator tests: a fake clock and a real server in a subprocess."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


class Clock:
    """A settable clock for the simulators' session and token lifetimes."""

    def __init__(self, t: float = 1_767_225_600.0):  # 2026-01-01T00:00:00Z
        self.t = t

    def __call__(self) -> float:
        return self.t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(module: str, tmp_path: Path, config: dict | None = None):
    """python -m <module> on a free port; yields its base URL; stops it (by its own pid) afterwards."""
    port = free_port()
    args = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)]
    if config is not None:
        path = tmp_path / f"{module}.json"
        path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        args += ["--config", str(path)]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/__sim/stats", timeout=0.5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    output = proc.communicate()[0].decode(errors="replace")
                    raise RuntimeError(f"{module} did not start: {output}")
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
