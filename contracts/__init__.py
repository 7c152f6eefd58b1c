"""The hub's integration events: one typed definition per event (contracts.events), and the
catalog of them all, from which the broker's queues and the processes are derived. Imports only
the kernel, so every service and connector may import it."""
from contracts import events
from contracts.events import *  # noqa: F401,F403 (the contracts, by name)
from hubkit.events import Catalog

CATALOG = Catalog(*(getattr(events, name) for name in events.__all__))
