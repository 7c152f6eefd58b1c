"""A worker process whose nameko container died exits (so its supervisor starts a healthy one)
instead of living on and consuming nothing."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from hub.components import PROJECT_ROOT

PROBE = textwrap.dedent("""
    import eventlet
    eventlet.monkey_patch()
    from nameko.extensions import DependencyProvider
    from hubkit import settings, worker

    class Doomed(DependencyProvider):
        def start(self):
            self.container.spawn_managed_thread(self.fail)  # a managed thread that raises kills the container

        def fail(self):
            eventlet.sleep(0.5)
            raise ConnectionResetError("the broker reset the connection mid-ack")

    class Probe:
        name = "probe"
        doomed = Doomed()

    class ProbeSettings(settings.HubSettings):
        db_url: str = "sqlite://"

    worker.run("probe", Probe, settings.load(ProbeSettings, {}))
""")


def test_a_worker_whose_container_died_exits_non_zero():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          cwd=PROJECT_ROOT)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "container died; exiting" in done.stderr
