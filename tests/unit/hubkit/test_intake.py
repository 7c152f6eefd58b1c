"""Backpressure's signal: behind from the high watermark, caught up only at the low one (no flapping),
Retry-After from the backlog, counted at most every refresh, and open when the state cannot be asked."""
from __future__ import annotations

import pytest

from hubkit.intake import OPEN, Backlog, IntakeGate, IntakeState, Watermarks


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def backlog(counts: list[int], oldest: float = 10.0, high=100, low=50, clock=None) -> Backlog:
    measured = iter(counts)
    return Backlog(Watermarks(high, low), lambda: (next(measured), oldest), refresh_seconds=0.0,
                   clock=clock or FakeClock())


def test_behind_from_the_high_watermark_until_down_at_the_low_one():
    counts = [0, 99, 100, 120, 80, 51, 50, 60, 99, 100]
    b = backlog(counts)
    assert [b.state().behind for _ in counts] == [False, False, True, True, True, True, False, False, False, True]


def test_a_high_watermark_of_zero_is_never_behind():
    b = backlog([0, 10_000], high=0, low=0)
    assert not b.state().behind and not b.state().behind


def test_retry_after_is_the_time_to_serve_the_backlog_down_to_the_low_watermark():
    marks = Watermarks(high=100, low=50, retry_after_max=30)
    # 100 orders served in the 12 s the oldest waited: about 8/s, 50 of them to go: about 6 s
    assert marks.retry_after(100, 12.0) == 6
    assert marks.retry_after(55, 0.2) == 1       # at least a second
    assert marks.retry_after(10_000, 900.0) == 30  # at most the maximum
    state = backlog([100], oldest=12.0).state()
    assert state == IntakeState(behind=True, waiting=100, oldest_seconds=12.0, retry_after_seconds=6)
    assert backlog([99], oldest=12.0).state().retry_after_seconds == 0  # not behind: nothing to wait for


def test_the_low_watermark_must_be_below_the_high_one():
    with pytest.raises(ValueError):
        Watermarks(high=50, low=50)
    Watermarks(high=0, low=50)  # off: the low one means nothing


def test_the_backlog_is_counted_at_most_every_refresh():
    clock, counted = FakeClock(), []

    def measure():
        counted.append(clock.now)
        return 150, 3.0
    b = Backlog(Watermarks(100, 50), measure, refresh_seconds=0.5, clock=clock)
    assert b.state().behind
    clock.now += 0.4
    b.state()
    assert len(counted) == 1
    clock.now += 0.1
    b.state()
    assert len(counted) == 2


def test_the_gate_keeps_the_answer_between_refreshes_and_stays_open_when_it_cannot_ask():
    clock, answers = FakeClock(), []
    behind = IntakeState(behind=True, waiting=150, oldest_seconds=9.0, retry_after_seconds=3)
    replies: list = [behind, RuntimeError("order service away"), OPEN]

    def ask():
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply
    gate = IntakeGate(ask, refresh_seconds=0.5, report=answers.append, clock=clock)
    assert gate.state() == behind
    clock.now += 0.2
    assert gate.fresh() and gate.state() == behind and len(answers) == 1  # kept, not asked again
    clock.now += 0.3
    assert gate.state() == OPEN  # the question failed: intake open
    clock.now += 0.5
    assert gate.state() == OPEN and answers == [behind, OPEN, OPEN]
    assert replies == []
