"""The journey benchmark's arithmetic: figures per rate from the orders' times, and CPU read from /proc."""
from __future__ import annotations

import subprocess
import sys
import time

from bench.journey import Order, summarise
from bench.procstat import CpuMeter, cpu_ms


def _order(i: float, error=None, reserved=None, posted=None, confirmed=None) -> Order:
    return Order(intended=i, external_id=f"o{i}", sent=i + 0.001, id=f"id{i}", accepted=i + 0.05, error=error,
                 reserved=None if reserved is None else i + reserved,
                 vouchers_posted=None if posted is None else i + posted,
                 ledger_confirmed=None if confirmed is None else i + confirmed)


def test_summarise_counts_completion_in_the_window_backlog_and_latency_from_intended_arrival():
    # rate 2/s for 2 s: arrivals at 0, 0.5, 1.0, 1.5; the window ends at 2.0
    arrivals = [_order(0.0, reserved=0.2, posted=1.0, confirmed=1.5),      # done within the window
                _order(0.5, reserved=0.3, posted=1.2, confirmed=1.7),      # confirmed at 2.2: after it
                _order(1.0, reserved=0.4, posted=1.4),                     # never confirmed
                _order(1.5, error="HTTP 503")]                                   # refused by the gateway
    s = summarise(arrivals, rate=2, seconds=2, window_end=2.0)
    assert (s["offered"], s["accepted"], s["arrival_errors"]) == (4, 3, {"HTTP 503": 1})
    assert (s["completed_in_window"], s["completed_per_s"], s["completed"]) == (1, 0.5, 2)
    assert s["backlog_at_end"] == {"not_reserved": 0, "vouchers_not_posted": 1, "not_confirmed": 2}
    assert s["reserved_per_s"] == 1.5
    assert s["latency_ms"]["reserved"]["p50"] == 300.0
    assert s["latency_ms"]["ledger_confirmed"] == {"p50": 1600.0, "p95": 1690.0, "p99": 1698.0}
    assert s["latency_ms"]["shipment_posted"] is None  # no order was shipped


BUSY = "import time\nwhile time.process_time() < 0.5: pass\ntime.sleep(30)"


def test_cpu_meter_counts_a_process_born_during_the_window_from_zero():
    child = None
    # sampled seldom, so that the child is first seen well into its life
    meter = CpuMeter(lambda: {"child": [child.pid] if child else [], "me": []}, interval=0.3).start()
    try:
        child = subprocess.Popen([sys.executable, "-c", BUSY])
        deadline = time.monotonic() + 30
        while (cpu_ms(child.pid) or 0) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # it sleeps now: its CPU time no longer moves
        used = meter.stop()
        total = cpu_ms(child.pid)
    finally:
        if child is not None:
            child.kill()
            child.wait()
    # all it used, its start-up included, though the meter first saw it some way into its life
    assert total is not None and total >= 400
    assert abs(used["child"] - total) <= 20
    assert "me" not in used
