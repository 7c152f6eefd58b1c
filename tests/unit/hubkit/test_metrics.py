"""hubkit.metrics.Snapshot: business gauges read at scrape time, at most once per interval, the last
ones kept while the database cannot be read."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import OperationalError

from hubkit import metrics


def test_a_snapshot_reads_at_most_once_per_interval_and_keeps_the_last_families_when_the_database_is_away():
    reads: list[int] = []
    away = [False]

    def read():
        if away[0]:
            raise OperationalError("select", {}, Exception("server closed the connection"))
        reads.append(1)
        family = GaugeMetricFamily("hub_things", "things")
        family.add_metric([], len(reads))
        return [family]

    snapshot = metrics.Snapshot(read, seconds=3600)
    first = list(snapshot.collect())
    assert [s.value for s in first[0].samples] == [1]
    assert [s.value for s in list(snapshot.collect())[0].samples] == [1] and len(reads) == 1  # not read again
    snapshot.seconds, away[0] = 0, True
    assert [s.value for s in list(snapshot.collect())[0].samples] == [1]  # the last value stands
    away[0] = False
    assert [s.value for s in list(snapshot.collect())[0].samples] == [2]
    assert list(snapshot.describe()) == []  # registering reads nothing


def test_a_handler_starts_with_its_outcome_counters_at_zero():
    """So that Prometheus's increase() sees the first dead letter (a series born at 1 shows no growth)."""
    from prometheus_client import REGISTRY

    metrics.count_handler("svc-under-test", "on_thing_happened")
    labels = {"service": "svc-under-test", "handler": "on_thing_happened"}
    for name in ("hub_messages_handled_total", "hub_messages_failed_total", "hub_messages_dead_lettered_total",
                 "hub_messages_duplicate_total"):
        assert REGISTRY.get_sample_value(name, labels) == 0.0, name
