"""What a purchase receipt line may say about how its goods arrive (bin, lot, expiry, serials)."""
import pytest

from hubkit.errors import InvalidArgument
from services.procurement import domain


def test_tracking_of_received_lines_is_kept_and_empty_entries_dropped():
    plan = [(1, 3), (2, 2)]
    tracking = {1: {"bin": "A-01", "lot": "L1", "expires_on": "2099-01-31", "serials": []},
                2: {"bin": "", "lot": "", "expires_on": "", "serials": []}}
    assert domain.check_tracking(plan, tracking) == {1: {"bin": "A-01", "lot": "L1", "expires_on": "2099-01-31"}}


@pytest.mark.parametrize("entry, field", [
    ({"expires_on": "2099-02-30", "lot": "L1"}, "expires_on"),
    ({"expires_on": "2099-01-31"}, "expires_on"),
    ({"serials": ["S1", "S1", "S2"]}, "serials"),
    ({"serials": ["S1"]}, "serials"),
    ({"lot": "bad lot"}, "lot"),
    ({"bin": "-A"}, "bin"),
])
def test_bad_tracking_is_refused_with_its_field(entry, field):
    with pytest.raises(InvalidArgument) as refused:
        domain.check_tracking([(1, 3)], {1: entry})
    assert [e["field"] for e in refused.value.fields] == [f"lines[line_no=1].{field}"]


def test_tracking_for_a_line_not_being_received_is_refused():
    with pytest.raises(InvalidArgument, match="invalid"):
        domain.check_tracking([(1, 3)], {2: {"lot": "L1"}})
