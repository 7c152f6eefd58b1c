"""`hub up` heals: a process that exits is started again with a growing delay, and `hub status`
shows each process with its restarts."""
from __future__ import annotations

import os
import subprocess
import sys

from hub import supervisor
from hub.supervisor import Proc, Stack


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
