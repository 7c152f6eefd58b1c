"""The one failure policy of the workers and the connectors (hubkit.delivery)."""
from __future__ import annotations

import pytest

from hubkit import delivery, topology
from hubkit.delivery import ATTEMPTS_HEADER, ERROR_HEADER, FAILED_AT_HEADER, Policy, after_failure, poison
from hubkit.inbox import PredecessorMissing

SUB = topology.Subscription("ledger", "voucher_posted")
POLICY = Policy(max_attempts=3, retry_base_seconds=0.5, retry_max_seconds=3.0)


def test_retry_delay_grows_and_is_capped():
    assert [delivery.retry_delay(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_first_failure_goes_to_the_retry_queue_after_the_base_delay():
    d = after_failure(SUB, None, KeyError("number"), POLICY)
    assert (d.dead_letter, d.attempts, d.delay) == (False, 1, 0.5)
    assert (d.exchange, d.routing_key) == (topology.SET_ASIDE_EXCHANGE, "ledger.voucher_posted.retry")
    assert d.error == "KeyError: 'number'"


def test_attempts_count_on_from_the_header_and_the_delay_grows():
    d = after_failure(SUB, {ATTEMPTS_HEADER: 1}, ValueError("bad"), POLICY)
    assert (d.dead_letter, d.attempts, d.delay) == (False, 2, 1.0)


def test_the_last_attempt_dead_letters_with_the_error_into_the_dead_letter_queue():
    d = after_failure(SUB, {ATTEMPTS_HEADER: 2, "x-other": "kept"}, ValueError("bad"), POLICY)
    assert (d.dead_letter, d.attempts, d.delay) == (True, 3, None)
    assert (d.exchange, d.routing_key) == (topology.SET_ASIDE_EXCHANGE, "ledger.voucher_posted.dlq")
    headers = d.headers({ATTEMPTS_HEADER: 2, "x-other": "kept"})
    assert headers[ATTEMPTS_HEADER] == 3 and headers[ERROR_HEADER] == "ValueError: bad"
    assert headers["x-other"] == "kept" and headers[FAILED_AT_HEADER].endswith("Z")


@pytest.mark.parametrize("max_attempts", [1, 5])
def test_any_exception_gets_exactly_max_attempts(max_attempts):
    policy, headers, decisions = Policy(max_attempts, 1.0, 60.0), None, []
    while not decisions or not decisions[-1].dead_letter:
        decisions.append(after_failure(SUB, headers, RuntimeError("boom"), policy))
        headers = decisions[-1].headers(headers)
    assert [d.attempts for d in decisions] == list(range(1, max_attempts + 1))


def test_a_missing_predecessor_waits_longer_than_a_failure():
    waits = after_failure(SUB, {ATTEMPTS_HEADER: 5}, PredecessorMissing("order 1 first"), POLICY)
    assert not waits.dead_letter and waits.delay == 3.0 and waits.budget == delivery.PREDECESSOR_ATTEMPTS
    last = after_failure(SUB, {ATTEMPTS_HEADER: delivery.PREDECESSOR_ATTEMPTS - 1}, PredecessorMissing("x"), POLICY)
    assert last.dead_letter


def test_no_envelope_is_dead_lettered_at_once():
    d = poison(SUB, "EnvelopeError: not JSON")
    assert (d.dead_letter, d.attempts, d.routing_key) == (True, 1, SUB.dead_letter_queue)


def test_a_long_error_is_cut_in_the_header():
    d = after_failure(SUB, None, ValueError("x" * 10_000), POLICY)
    assert len(d.headers(None)[ERROR_HEADER]) == delivery.ERROR_MAX


def test_the_policy_reads_the_hub_settings():
    from hubkit import settings as hubsettings
    s = hubsettings.load(env={"HUB_CONSUMER_MAX_ATTEMPTS": "7", "HUB_RETRY_BASE_SECONDS": "0.2",
                              "HUB_RETRY_MAX_SECONDS": "9"})
    assert Policy.from_settings(s) == Policy(7, 0.2, 9.0)
