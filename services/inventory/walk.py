"""The walk through a warehouse: bin codes parsed into zone, aisle, bay and level, and ordered so
that a picker walks zone by zone, aisle by aisle, bay by bay, level by level. How codes are written
is configuration (the inventory setting bin_walk_pattern: a regular expression with the named groups
zone, aisle, bay and level, any of them optional); numbers compare as numbers (aisle 2 before 10).
A code the pattern does not match (the warehouse's unnamed bin '' too) comes after every walked bin,
by its code."""
from __future__ import annotations

import re
from functools import lru_cache

# A-01-03-2: zone A, aisle 1, bay 3, level 2; A-01 or A01: zone A, aisle 1; each part after the zone optional
DEFAULT_PATTERN = (r"^(?P<zone>[A-Za-z]+)[-_.]?(?P<aisle>\d+)?(?:[-_.](?P<bay>\d+))?(?:[-_.](?P<level>\d+))?$")
PARTS = ("zone", "aisle", "bay", "level")


def check_pattern(pattern: str) -> str:
    """The pattern, if it compiles and names only the walk's parts (at least one); else ValueError."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bin_walk_pattern does not compile: {exc}") from None
    names = set(compiled.groupindex)
    if not names or names - set(PARTS):
        raise ValueError(f"bin_walk_pattern names groups {sorted(names)}: use some of {list(PARTS)}")
    return pattern


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(check_pattern(pattern))


def parse(code: str, pattern: str = DEFAULT_PATTERN) -> dict | None:
    """{zone, aisle, bay, level} of a bin code (missing parts '' or 0), None when it does not match."""
    m = _compiled(pattern).match(code or "")
    if m is None or not code:
        return None
    parts = m.groupdict()

    def number(name: str) -> int:
        value = parts.get(name) or ""
        return int(value) if value.isdigit() else 0

    return {"zone": (parts.get("zone") or "").upper(), "aisle": number("aisle"), "bay": number("bay"),
            "level": number("level")}


def key(code: str, pattern: str = DEFAULT_PATTERN) -> tuple:
    """Sort key of a bin along the walk."""
    p = parse(code, pattern)
    if p is None:
        return (1, "", 0, 0, 0, code or "")
    return (0, p["zone"], p["aisle"], p["bay"], p["level"], code)


def ordered(codes, pattern: str = DEFAULT_PATTERN) -> list[str]:
    return sorted(codes, key=lambda c: key(c, pattern))
