"""`hub up` heals: a process that exits is started again with a growing delay, and `hub status`
shows each process with its restarts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from hub import supervisor
from hub.supervisor import Proc, Stack
from tests.support.hub import wait_for


def _flaky_stack(tmp_path) -> Stack:
    stack = Stack({"HUB_VAR_DIR": str(tmp_path)}, tmp_path / "log")
    stack.procs = {"flaky": Proc("flaky", [sys.executable, "-c", "import sys; sys.exit(3)"], 0)}
    return stack


def _exited(stack: Stack) -> None:
    stack.procs["flaky"].popen.wait(10)


def test_an_exited_process_is_started_again_after_a_growing_delay(tmp_path):
    stack, said = _flaky_stack(tmp_path), []
    stack.start()
    _exited(stack)
    t0 = stack.procs["flaky"].started_at
    assert stack.heal(t0 + 0.1, said.append) == []           # noticed: restart in 1 s
    assert "flaky exited with code 3; restarting it in 1s" in said[0]
    assert stack.heal(t0 + 0.6, said.append) == []           # not yet
    assert stack.heal(t0 + 1.2, said.append) == ["flaky"]    # started again
    _exited(stack)
    t1 = stack.procs["flaky"].started_at
    stack.heal(t1 + 0.1, said.append)
    assert "restarting it in 2s" in said[-1]                 # the second crash in a row waits longer
    assert stack.heal(t1 + 1.5, said.append) == []
    assert stack.heal(t1 + 2.2, said.append) == ["flaky"]
    assert stack.procs["flaky"].restarts == 2


def test_a_crash_after_a_long_run_starts_the_back_off_over(tmp_path):
    stack, said = _flaky_stack(tmp_path), []
    proc = stack.procs["flaky"]
    proc.crashes_in_a_row = 5  # it had crashed often before ...
    stack.start()
    _exited(stack)
    stack.heal(proc.started_at + supervisor.STEADY_SECONDS + 1, said.append)  # ... but then ran for long
    assert "restarting it in 1s" in said[0]


def test_the_delay_is_capped():
    assert [supervisor.restart_delay(n) for n in (1, 2, 3, 7, 20)] == [1, 2, 4, 60, 60]


def test_hub_status_shows_each_process_with_its_restarts(tmp_path):
    stack = _flaky_stack(tmp_path)
    stack.start()
    _exited(stack)
    stack.procs["flaky"].restarts = 4
    supervisor.write_status(tmp_path / supervisor.STATUS_FILE, stack)  # as `hub up` does, this process its supervisor
    done = subprocess.run([sys.executable, "-m", "hub.cli", "status"], env={**os.environ, "HUB_VAR_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, cwd=supervisor.PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    assert "flaky" in done.stdout and "waiting to restart" in done.stdout and "restarts 4" in done.stdout


def test_hub_status_says_so_when_no_hub_runs(tmp_path):
    (tmp_path / supervisor.STATUS_FILE).write_text('{"supervisor": 999999999, "processes": []}')  # a stale file
    done = subprocess.run([sys.executable, "-m", "hub.cli", "status"], env={**os.environ, "HUB_VAR_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, cwd=supervisor.PROJECT_ROOT)
    assert done.returncode == 1 and "not running" in done.stderr


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def _probed_stack(tmp_path, attached: bool) -> Stack:
    """One process that serves /livez and /readyz: its consumers attached (and ticking) or never."""
    port = supervisor.free_port()
    script = ("import time\nfrom hubkit import metrics\nfrom hubkit.health import Beat, Health\n"
              f"beat = Beat('consumers')\nmetrics.serve({port}, Health(0.5, beat))\n"
              f"while True:\n    {'beat.up()' if attached else 'pass'}\n    time.sleep(0.2)\n")
    stack = Stack({"HUB_VAR_DIR": str(tmp_path)}, tmp_path / "log")
    stack.procs = {"consumer": Proc("consumer", [sys.executable, "-c", script], port, probes=True)}
    return stack


def test_a_process_that_is_not_live_is_killed_and_started_again(tmp_path):
    stack, said = _probed_stack(tmp_path, attached=False), []
    stack.start()
    try:
        with pytest.raises(TimeoutError, match="consumer"):
            stack.wait_ready(3)  # its /readyz says 503: never ready
        livez = f"http://127.0.0.1:{stack.procs['consumer'].metrics_port}/livez"
        wait_for(lambda: _status(livez) == 503, 30, 0.2, "/livez to fail")
        stack.heal(say=said.append)
        assert not stack.running("consumer")
        assert "consumer is not live (consumers: starting (not ready for" in said[0]
        assert "consumer exited" in said[1]
    finally:
        stack.stop()


def test_a_live_process_is_left_alone_and_ready(tmp_path):
    stack, said = _probed_stack(tmp_path, attached=True), []
    stack.start()
    try:
        stack.wait_ready(30)
        time.sleep(1)  # longer than its grace
        assert stack.heal(say=said.append) == [] and said == []
        assert stack.running("consumer")
    finally:
        stack.stop()


def test_a_process_that_stopped_answering_its_probes_is_killed_and_started_again(tmp_path):
    stack, said = _probed_stack(tmp_path, attached=True), []
    stack.start()
    proc = stack.procs["consumer"]
    try:
        stack.wait_ready(30)
        now = time.monotonic()
        stack.heal(now, said.append)  # it answers
        os.kill(proc.popen.pid, signal.SIGSTOP)  # hung: alive, answering nothing
        for n in range(1, supervisor.LIVENESS_UNANSWERED + 1):
            stack.heal(now + n * supervisor.LIVENESS_PROBE_SECONDS, said.append)
        assert not stack.running("consumer")
        assert said[0] == "consumer is not live (it does not answer); killing it"
    finally:
        stack.stop()


def test_a_process_that_exits_at_start_is_named_with_the_last_line_it_wrote(tmp_path):
    """`make demo` beside a running `hub up` found its ports taken: the error says so, not only
    where the log is."""
    stack = Stack({"HUB_VAR_DIR": str(tmp_path)}, tmp_path / "log")
    stack.procs = {"api": Proc("api", [sys.executable, "-c", "raise OSError(98, 'Address already in use')"], 0)}
    stack.start()
    stack.procs["api"].popen.wait(10)
    with pytest.raises(RuntimeError, match=r"api exited early \(OSError: \[Errno 98\] Address already in use\); "
                                           r"see .*api\.log"):
        stack.wait_ready(5)
