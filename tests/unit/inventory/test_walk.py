"""The walk through a warehouse: bins ordered by zone, aisle, bay and level, numbers as numbers,
unparsed codes last; the pattern is configuration and a bad one is refused at start."""
from __future__ import annotations

import pytest

from services.inventory import walk
from services.inventory.config import Settings


def test_bins_are_walked_by_zone_aisle_bay_level():
    codes = ["B-01-01-1", "A-10-01-1", "A-02-03-2", "A-02-03-1", "A-02-11-1", "A-02-01-3", "a-01"]
    assert walk.ordered(codes) == ["a-01", "A-02-01-3", "A-02-03-1", "A-02-03-2", "A-02-11-1", "A-10-01-1",
                                   "B-01-01-1"]


def test_numbers_compare_as_numbers_not_text():
    assert walk.ordered(["A-10", "A-9", "A-1"]) == ["A-1", "A-9", "A-10"]
    assert walk.parse("A-01-03") == {"zone": "A", "aisle": 1, "bay": 3, "level": 0}
    assert walk.parse("C07-2-4") == {"zone": "C", "aisle": 7, "bay": 2, "level": 4}


def test_codes_off_the_pattern_and_the_unnamed_bin_come_last():
    assert walk.parse("") is None and walk.parse("DOCK 1") is None
    assert walk.ordered(["", "DOCK 1", "Z-9", "A-1"]) == ["A-1", "Z-9", "", "DOCK 1"]


def test_another_coding_is_configuration():
    # a warehouse that writes the level first: L<level>/Z<zone>/A<aisle>/B<bay>
    pattern = r"^L(?P<level>\d+)/Z(?P<zone>\w)/A(?P<aisle>\d+)/B(?P<bay>\d+)$"
    codes = ["L1/ZB/A01/B01", "L2/ZA/A01/B02", "L1/ZA/A02/B01", "L1/ZA/A01/B02"]
    assert walk.ordered(codes, pattern) == ["L1/ZA/A01/B02", "L2/ZA/A01/B02", "L1/ZA/A02/B01", "L1/ZB/A01/B01"]
    assert Settings(bin_walk_pattern=pattern).bin_walk_pattern == pattern


@pytest.mark.parametrize("pattern", ["(", r"^(?P<row>\d+)$", r"^\d+$"])
def test_a_bad_pattern_is_refused(pattern):
    with pytest.raises(ValueError):
        walk.check_pattern(pattern)
    with pytest.raises(ValueError):
        Settings(bin_walk_pattern=pattern)


def test_a_counts_lines_say_where_each_comes_along_the_walk_for_its_count_sheet():
    from services.inventory.grpc_server import _count

    def line(no, bin_code, sku):
        return {"line_no": no, "sku": sku, "bin": bin_code, "lot": "", "serial": "", "expected": 1, "counted": None,
                "value": None}
    count = _count({"count_id": "c1", "status": "open",
                    "lines": [line(1, "B-01-01-1", "TEA"), line(2, "A-10-02-1", "POT"), line(3, "A-02-05-2", "CUP"),
                              line(4, "", "LOOSE"), line(5, "A-02-05-2", "BOWL")]})
    assert [(l.line_no, l.walk_seq) for l in count.lines] == [(1, 4), (2, 3), (3, 2), (4, 5), (5, 1)]
