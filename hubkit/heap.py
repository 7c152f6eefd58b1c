"""The garbage collector in a long-running hub process.

What a process builds while it starts (its modules, app, pools, compiled statements: 100,000 and
more objects) lives as long as the process. Left in the collector's oldest generation, every full
pass walked all of it again (about 0.1 s each on the bench machine, every few thousand surviving
objects); frozen once the process is ready, the passes walk only what was made since."""
from __future__ import annotations

import gc


def started() -> None:
    """Call once, when the process is ready to work: what exists now is kept out of the
    collector's passes for good (its cycles, if any, are never collected: they are the process's)."""
    gc.collect()  # startup's own garbage is collected first, not frozen with the rest
    gc.freeze()
