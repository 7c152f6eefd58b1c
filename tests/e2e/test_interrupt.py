"""Interrupting `make test` (Ctrl-C, or pytest killed outright) leaves no hub process behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub import components
from tests.support import infra
from tests.support.hub import wait_for

pytestmark = pytest.mark.e2e

# a small e2e test: its session starts a whole hub before the test body runs
INNER = "tests/e2e/test_idempotency_key.py::test_keys_belong_to_their_user"


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_an_interrupted_test_session_leaves_no_hub_process_behind(sig, tmp_path):
    session = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", INNER],
                               cwd=components.PROJECT_ROOT, stdout=open(tmp_path / "inner.log", "wb"),
                               stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy())
    hub: set[int] = set()
    try:
        # once its gateway runs, its whole hub is starting
        wait_for(lambda: session.poll() is not None or any("gateway" in _cmdline(p) for p in _descendants(session.pid)),
                 180, 0.2, "the inner session's gateway")
        hub = {p for p in _descendants(session.pid) if "hub." in _cmdline(p) or "simulators" in _cmdline(p)}
        assert session.poll() is None, "the inner session ended before it was interrupted"
        assert len(hub) >= 10, sorted(_cmdline(p) for p in hub)
        os.kill(session.pid, sig)  # pytest alone, as a terminal's Ctrl-C or kill -9 of pytest would
        session.wait(120)
        wait_for(lambda: not [p for p in hub if _alive(p)], 60, 0.2, "the hub's processes to end")
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait(10)
        for pid in hub:  # what this test failed to prove gone must not outlive it either
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        infra.remove_session_leftovers(session.pid)  # a killed session's vhost keeps its queues' descriptors
