"""Approval chains: which steps a document goes through (thresholds, categories, projects), who may
approve a step (own right, delegation windows), and what is refused (four eyes, out of turn)."""
from datetime import datetime, timedelta, timezone

import pytest

from gateway.models import ROLES as GATEWAY_ROLES
from hubkit.errors import Conflict, InvalidArgument, PermissionDenied
from services.procurement import chains

T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def _roles(chain, **facts):
    steps, _ = chains.resolve(chain, {"kind": "requisition", **facts})
    return [s.role or s.user for s in steps]


@pytest.mark.parametrize("amount, expected", [
    ("0.01", ["dept_manager"]), ("4999.99", ["dept_manager"]),
    ("5000", ["dept_manager", "finance_director"]), ("5000.00", ["dept_manager", "finance_director"]),
    ("5000.01", ["dept_manager", "finance_director"]), ("250000", ["dept_manager", "finance_director"])])
def test_default_chain_at_and_around_5000(amount, expected):
    assert _roles(chains.default_chain(), amount=amount) == expected


def test_the_trace_names_the_facts_each_step_read():
    steps, trace = chains.resolve(chains.default_chain(), {"amount": "5000"})
    assert [s.step_no for s in steps] == [1, 2]
    assert trace[1] == {"step": "finance-director", "facts": {"amount": "5000"}, "applies": True}


CUSTOM = """
name: by category and project
parameters: {overdue_hours: 4}
steps:
  - {id: manager, approver: {role: dept_manager}}
  - id: it-lead
    when: category == "it" or material_type == "electronics"
    approver: {user: li.lei}
  - id: project-owner
    when: project == "P-ALPHA" and cost_centre =~ "^CC-1"
    approver: {user: han.mei}
  - id: director
    when: amount >= 20000
    approver: {role: finance_director}
"""


def test_categories_material_types_and_projects_add_their_steps():
    chain = chains.compile_chain(CUSTOM)
    assert chain.overdue_hours == 4
    assert _roles(chain, amount="100", category="office") == ["dept_manager"]
    assert _roles(chain, amount="100", category="it") == ["dept_manager", "li.lei"]
    assert _roles(chain, amount="100", material_type="electronics") == ["dept_manager", "li.lei"]
    assert _roles(chain, amount="100", project="P-ALPHA", cost_centre="CC-12") == ["dept_manager", "han.mei"]
    assert _roles(chain, amount="100", project="P-ALPHA", cost_centre="CC-2") == ["dept_manager"]
    assert _roles(chain, amount="20000", category="it") == ["dept_manager", "li.lei", "finance_director"]


@pytest.mark.parametrize("document, field", [
    ("name: x\nsteps: [{id: a, when: 'amount >>= 1', approver: {role: dept_manager}}]", "steps[0].when"),
    ("name: x\nsteps: [{id: a, when: 'amout > 1', approver: {role: dept_manager}}]", "steps[0].when"),
    ("name: x\nsteps: [{id: a, when: 'amount + 1', approver: {role: dept_manager}}]", "steps[0].when"),
    ("name: x\nsteps: [{id: a, approver: {role: nobody}}]", "steps[0].approver"),
    ("name: x\nsteps: [{id: a, approver: {role: dept_manager, user: bob}}]", "steps[0].approver"),
    ("name: x\nsteps: [{id: a, approver: {role: dept_manager}}, {id: a, approver: {user: b}}]", "steps[1].id"),
    ("name: x\nsteps: []", "steps"),
    ("name: x\nparameters: {overdue_hours: 0}\nsteps: [{id: a, approver: {user: b}}]", "parameters"),
    ("name: x\nsteps: [{id: a, approver: {user: b}, run: 'import os'}]", "steps[0].run"),
    ("[1, 2", "document"),
])
def test_an_invalid_chain_is_refused_naming_the_field(document, field):
    with pytest.raises(InvalidArgument) as refused:
        chains.compile_chain(document)
    assert field in [f["field"] for f in refused.value.fields], refused.value.fields


def test_the_roles_are_the_gateways():
    assert set(chains.ROLES) == set(GATEWAY_ROLES)


def _steps(*statuses):
    roles = ["dept_manager", "finance_director"]
    return [{"step_no": i + 1, "step_id": f"s{i + 1}", "role": roles[i], "user_name": None, "status": st,
             "decided_by": None, "on_behalf_of": None} for i, st in enumerate(statuses)]


def test_delegation_counts_only_inside_its_window():
    d = chains.Delegation("wang.manager", "dept_manager", "zhao.deputy", T0, T0 + timedelta(days=3))
    assert chains.qualifies("dept_manager", None, "zhao.deputy", "purchasing", [d], T0) == "wang.manager"
    assert chains.qualifies("dept_manager", None, "zhao.deputy", "purchasing", [d], T0 + timedelta(days=3) -
                            timedelta(seconds=1)) == "wang.manager"
    assert chains.qualifies("dept_manager", None, "zhao.deputy", "purchasing", [d], T0 + timedelta(days=3)) is None
    assert chains.qualifies("dept_manager", None, "zhao.deputy", "purchasing", [d], T0 - timedelta(seconds=1)) is None
    assert chains.qualifies("finance_director", None, "zhao.deputy", "purchasing", [d], T0) is None
    assert chains.qualifies("dept_manager", None, "wang.manager", "dept_manager", [], T0) == ""
    named = chains.Delegation("han.mei", "finance", "zhao.deputy", T0, T0 + timedelta(hours=1))
    assert chains.qualifies(None, "han.mei", "zhao.deputy", "sales", [named], T0) == "han.mei"


def test_four_eyes_out_of_turn_and_strangers_are_refused():
    with pytest.raises(PermissionDenied):  # the requester, even holding the role
        chains.check_decision("requisition", "R1", "wang", _steps("waiting", "queued"), "wang", "dept_manager", [], T0)
    with pytest.raises(Conflict, match="waiting first"):
        chains.check_decision("requisition", "R1", "li", _steps("waiting", "queued"), "fd", "finance_director", [], T0)
    with pytest.raises(PermissionDenied):
        chains.check_decision("requisition", "R1", "li", _steps("waiting", "queued"), "ann", "sales", [], T0)
    with pytest.raises(Conflict, match="waits for no approval"):
        chains.check_decision("requisition", "R1", "li", _steps("approved", "approved"), "fd", "finance_director", [],
                              T0)
    step, on_behalf = chains.check_decision("requisition", "R1", "li", _steps("approved", "waiting"), "fd",
                                            "finance_director", [], T0)
    assert (step["step_no"], on_behalf) == (2, "")
    # a delegate who is the requester is still the requester
    d = chains.Delegation("wang", "dept_manager", "li", T0, T0 + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        chains.check_decision("requisition", "R1", "li", _steps("waiting", "queued"), "li", "purchasing", [d], T0)
