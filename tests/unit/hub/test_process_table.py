"""The README's process table names every process `hub up` starts."""
from __future__ import annotations

import re

from hub.components import PLATFORMS, PROJECT_ROOT
from hub.supervisor import process_table


def test_the_readme_lists_every_process_hub_up_starts():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Processes and ports"):].split("\n\n")[2]
    listed = {name for row in table.splitlines() if row.startswith("| `")
              for name in re.findall(r"`([a-z]+(?:-[a-z]+)?)`", row.split("|")[1])}
    started = {p.name for p in process_table(lambda _: 0, ledgers=("kingdee",), shop_platforms=PLATFORMS,
                                                   notify=True)}
    assert started == listed


def test_one_process_relays_every_publishing_service_and_a_worker_runs_for_each_consumer():
    procs = {p.name: p for p in process_table(lambda _: 0)}
    # every service publishes: the customer service its customers' terms (customer_terms_changed)
    services = ("order", "inventory", "procurement", "customer", "accounting")
    assert procs["relays"].relayed == services
    assert procs["relays"].argv[-6:] == ["relay", *services]
    assert not [name for name in procs if name.endswith("-relay")]
    assert {f"{svc}-worker" for svc in services} <= set(procs)


def test_a_hub_without_notification_targets_runs_no_notifier():
    assert "notifier" not in {p.name for p in process_table(lambda _: 0)}
    assert "notifier" in {p.name for p in process_table(lambda _: 0, notify=True)}
