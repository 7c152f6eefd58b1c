"""hubkit.heap: what exists when a process is ready is kept out of the collector's passes."""
import gc

from hubkit import heap


def test_started_freezes_what_exists_and_the_collector_still_runs():
    gc.unfreeze()
    try:
        kept = [object() for _ in range(1000)]
        heap.started()
        assert gc.get_freeze_count() >= len(kept)
        garbage = []
        garbage.append(garbage)  # a cycle made after: collected as before
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
