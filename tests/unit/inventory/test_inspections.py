from types import SimpleNamespace

import pytest

from hubkit.errors import InvalidArgument
from services.inventory import inspections


def _fields(exc_info) -> set:
    return {f["field"] for f in exc_info.value.fields}


@pytest.mark.parametrize("passed, failed, disposition, status", [
    (10, 0, "", "passed"), (0, 10, "scrap", "failed"), (7, 3, "return", "partial")])
def test_a_result_that_adds_up_to_the_units_received_is_accepted(passed, failed, disposition, status):
    inspections.check_result(10, passed, failed, disposition, "")
    assert inspections.status_of(passed, failed) == status


def test_inspecting_more_or_fewer_than_received_is_refused_naming_the_field():
    with pytest.raises(InvalidArgument, match="the inspection result is invalid") as more:
        inspections.check_result(10, 10, 1, "scrap", "")
    assert "more than the 10 received" in more.value.fields[0]["message"]
    with pytest.raises(InvalidArgument) as fewer:
        inspections.check_result(10, 5, 0, "", "")
    assert _fields(fewer) == {"passed"}


def test_failed_units_need_a_disposition_and_passed_ones_none():
    with pytest.raises(InvalidArgument) as missing:
        inspections.check_result(10, 4, 6, "", "")
    with pytest.raises(InvalidArgument) as needless:
        inspections.check_result(10, 10, 0, "scrap", "")
    with pytest.raises(InvalidArgument) as bad:
        inspections.check_result(10, -1, True, "burn", "x" * 501)
    assert _fields(missing) == _fields(needless) == {"disposition"}
    assert _fields(bad) == {"passed", "failed", "note"}


def test_by_default_every_lot_tracked_receipt_is_inspected_otherwise_the_listed_skus_and_suppliers():
    tea, cup = SimpleNamespace(code="TEA", lot_tracked=True), SimpleNamespace(code="CUP", lot_tracked=False)
    default = inspections.Policy()
    assert default.requires(tea, "ANY") and not default.requires(cup, "ANY")
    listed = inspections.Policy(lot_tracked=False, skus=frozenset({"TEA"}), suppliers=frozenset({"FARM"}))
    assert listed.requires(tea, "OTHER")
    other_tea = SimpleNamespace(code="TEA-2", lot_tracked=True)
    assert listed.requires(other_tea, "FARM") and not listed.requires(other_tea, "OTHER")
    assert not listed.requires(cup, "FARM")  # no lot to quarantine
