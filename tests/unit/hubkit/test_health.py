"""/readyz and /livez (hubkit.health, served by hubkit.metrics): ready while every loop is attached
and ticking; not live once it was not ready for longer than the grace."""
from __future__ import annotations

import time

import httpx

from hub.supervisor import free_port
from hubkit import metrics
from hubkit.health import Beat, Health
from tests.support.hub import wait_for


def test_a_loop_is_not_ready_until_attached_and_not_live_after_the_grace():
    beat = Beat("consumer")
    health = Health(0.2, beat)
    assert health.readiness() == ["consumer: starting"] and health.liveness() == []
    beat.up()
    assert health.readiness() == [] and health.liveness() == []
    beat.down("the broker cancelled the consumer of ledger.voucher_posted")
    assert health.readiness() == ["consumer: the broker cancelled the consumer of ledger.voucher_posted"]
    time.sleep(0.3)
    [why] = health.liveness()
    assert why.startswith("consumer: the broker cancelled") and "not ready for" in why
    beat.up()
    assert health.readiness() == [] and health.liveness() == []


def test_a_loop_that_stopped_ticking_is_not_ready():
    beat = Beat("relay", stale_after=0.1)
    beat.up()
    health = Health(60, beat)
    time.sleep(0.2)
    assert health.readiness()[0].startswith("relay: no progress for")
    assert health.liveness() == []  # the grace has not passed yet
    beat.tick()
    assert health.readiness() == []


def test_the_metrics_port_answers_the_probes_and_the_metrics():
    port, beat = free_port(), Beat("consumer")
    metrics.serve(port, Health(60, beat))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get(f"{url}/readyz") is not None, 10, 0.1, "the server")
    answer = httpx.get(f"{url}/readyz")
    assert answer.status_code == 503 and answer.text == "consumer: starting\n"
    assert httpx.get(f"{url}/livez").status_code == 200
    assert "\nhub_process_ready 0.0\n" in httpx.get(f"{url}/metrics").text
    beat.up()
    assert httpx.get(f"{url}/readyz").text == "ok\n"
    text = httpx.get(f"{url}/metrics").text
    assert "hub_messages_handled_total" in text and "\nhub_process_ready 1.0\n" in text


def _get(url):
    try:
        return httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return None
