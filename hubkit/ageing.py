"""Age buckets shared by the ageing reports (receivables and payables, stock by cost layer)."""
from __future__ import annotations

from hubkit.errors import FieldErrors

DEFAULT_BUCKETS = (30, 60, 90)


def bucket_labels(buckets=DEFAULT_BUCKETS) -> list[str]:
    """(30, 60, 90) -> ["0-30", "31-60", "61-90", "over-90"]."""
    labels, low = [], 0
    for limit in buckets:
        labels.append(f"{low}-{limit}")
        low = limit + 1
    return labels + [f"over-{buckets[-1]}"]


def check_buckets(buckets, errors: FieldErrors) -> tuple[int, ...]:
    """Increasing positive whole numbers of days; a field error (and the defaults) otherwise."""
    try:
        result = tuple(buckets)
        ok = bool(result) and all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in result) \
            and all(a < b for a, b in zip(result, result[1:]))
    except TypeError:
        result, ok = (), False
    if not ok:
        errors.add("buckets", "expected increasing positive whole numbers of days")
    return result if ok else DEFAULT_BUCKETS
