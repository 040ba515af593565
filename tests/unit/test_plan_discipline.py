"""Plan discipline without Flask: a frozen plan, its baseline and approved plan changes;
scenarios editable from a stage; run-rates of recurring effects; the reporting cycle's
open (reminders) and lock. Every capability is switched on in a tenant's JSON here."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.config.compiler import compile_checked, problems_of
from steerco.engine import plan, tenants
from steerco.engine.errors import Forbidden, ValidationFailed
from steerco.engine.periods import ReportingCycle
from steerco.engine.records import Submission
from steerco.store.models import ApprovalTask, AuditEvent, Notification, PlanBaseline
from .test_workflow_engine import MONDAY, World, workflow_documents


def plan_documents() -> dict[str, Any]:
    """The workflow tenant with the plan frozen from "decided" on, plan changes approved by
    the CFO, actuals entered from "decided" on and a recurring grid."""
    docs = workflow_documents(approvals=[])
    workflow = docs["workflows"]["workflows"][0]
    for stage in workflow["stages"]:
        stage["plan_frozen"] = stage["key"] != "defined"
    workflow["plan_change"] = {"approvals": [{"key": "cfo", "label": "CFO approves the plan change", "role": "cfo"}]}
    grid = next(f for f in docs["fields"]["fields"] if f["key"] == "financials")
    grid.update(editable_from={"actual": "decided"}, effect="recurring")
    return docs


@pytest.fixture
def world(session, make_tenant, make_user) -> World:  # type: ignore[no-untyped-def]
    w = World(session, make_tenant, make_user, plan_documents())
    w.add("owner", "owner")
    w.add("cfo", "cfo")
    return w


def _grid(world: World, record) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    level = world.records("owner").config.levels["measure"]
    return world.records("owner").stored_values(world.fresh(record), level)["financials"]


def _decided(world: World):  # type: ignore[no-untyped-def]
    measure = world.measure("owner", **{"potential": "500", "due": "2026-12-31",
                                        "financials.plan.2026-01": "100", "financials.plan.2026-02": "200"})
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    return world.fresh(measure)


def _edit(world: World, measure, **cells: str):  # type: ignore[no-untyped-def]
    return world.records("owner").update(measure, Submission(measure.title, MultiDict(cells)), measure.version)


def test_the_plan_freezes_at_the_stage_and_a_change_needs_its_approval_beside_the_baseline(world: World) -> None:
    measure = _decided(world)
    assert measure.stage_key == "decided"
    assert plan.baselines(world.session, world.tenant.id, [measure.id]) == {
        measure.id: {"financials": {"2026-01": 100.0, "2026-02": 200.0}}}
    with pytest.raises(ValidationFailed) as refused:
        _edit(world, measure, **{"financials.plan.2026-01": "150"})
    assert "the plan is frozen since “Decided”" in refused.value.errors["financials"]
    assert "Request a plan change" in refused.value.errors["financials"]
    world.session.rollback()
    measure = world.fresh(measure)
    request = world.flow("owner").request_plan_change(
        measure, Submission(measure.title, MultiDict({"financials.plan.2026-01": "150"})), "price rise")
    world.session.commit()
    assert request.state == "pending" and request.changes == {"financials": {"plan": {"2026-01": 150.0}}}
    assert _grid(world, measure)["plan"]["2026-01"] == 100.0  # not applied before the approval
    task = world.session.scalar(select(ApprovalTask).where(ApprovalTask.request_id == request.id))
    with pytest.raises(Forbidden):
        world.flow("owner").decide(task.id, "approve")
    world.session.rollback()
    world.flow("cfo").decide(task.id, "approve")
    world.session.commit()
    assert _grid(world, measure)["plan"] == {"2026-01": 150.0, "2026-02": 200.0}
    assert world.fresh(measure).stage_key == "decided"
    assert plan.baselines(world.session, world.tenant.id, [measure.id])[measure.id]["financials"] == {
        "2026-01": 100.0, "2026-02": 200.0}
    kinds = list(world.session.scalars(select(AuditEvent.kind).where(AuditEvent.record_id == measure.id)))
    assert {"plan.frozen", "plan_change.requested", "approval.decided", "plan_change.applied"} <= set(kinds)


def test_forecast_or_actual_is_refused_before_its_stage_and_taken_from_it(world: World) -> None:
    with pytest.raises(ValidationFailed) as refused:
        world.measure("owner", **{"financials.actual.2026-01": "10"})
    assert refused.value.errors["financials"] == "Actual can be entered from “Decided” on."
    world.session.rollback()
    measure = _decided(world)
    _edit(world, measure, **{"financials.actual.2026-01": "90"})
    world.session.commit()
    assert _grid(world, measure)["actual"] == {"2026-01": 90.0}


def test_a_recurring_grid_has_a_run_rate_apart_from_its_in_period_total(world: World) -> None:
    config = world.records("owner").config
    fld = config.levels["measure"].field("financials")
    grid = {"plan": {"2026-01": 100.0, "2026-02": 200.0}, "actual": {}}
    assert plan.run_rate(config, fld, grid) == {"plan": 2400.0}
    assert plan.run_rate(config, config.levels["measure"].field("potential"), grid) is None


def test_opening_a_period_reminds_owners_of_missing_actuals_and_locking_it_needs_approval(world: World) -> None:
    measure = _decided(world)
    early = world.measure("owner", **{"financials.plan.2026-01": "5"})  # actual not open yet: not reminded
    cycle = ReportingCycle(world.session, world.tenant.id, world.records("owner").config, MONDAY)
    opened = cycle.open("2026-01", world.people["admin"].id)
    world.session.commit()
    assert opened.reminded == {world.people["owner"].id: [measure.number]}
    assert early.number not in opened.reminded[world.people["owner"].id]
    note = world.session.scalar(select(Notification).where(Notification.kind == "period.opened"))
    assert note.user_id == world.people["owner"].id and measure.number in note.text
    cycle.lock("2026-01", world.people["admin"].id)
    world.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        _edit(world, world.fresh(measure), **{"financials.actual.2026-01": "95"})
    assert "Jan 2026 is locked" in refused.value.errors["financials"]
    world.session.rollback()
    with pytest.raises(ValidationFailed):  # a new record (a form, an import, the API) alike
        world.measure("owner", **{"financials.plan.2026-01": "5"})
    world.session.rollback()
    _edit(world, world.fresh(measure), **{"financials.actual.2026-02": "95"})  # an open period
    world.session.commit()
    measure = world.fresh(measure)
    request = world.flow("owner").request_plan_change(
        measure, Submission(measure.title, MultiDict({"financials.actual.2026-01": "95"})), "late invoice")
    world.session.commit()
    task = world.session.scalar(select(ApprovalTask).where(ApprovalTask.request_id == request.id))
    world.flow("cfo").decide(task.id, "approve")
    world.session.commit()
    assert _grid(world, measure)["actual"] == {"2026-01": 95.0, "2026-02": 95.0}
    with pytest.raises(ValidationFailed):
        cycle.open("2031-01", None)


def test_without_plan_change_approvals_a_frozen_plan_cannot_change(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = plan_documents()
    del docs["workflows"]["workflows"][0]["plan_change"]
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    measure = _decided(world)
    with pytest.raises(Forbidden):
        world.flow("owner").request_plan_change(
            measure, Submission(measure.title, MultiDict({"financials.plan.2026-01": "1"})))


def test_the_configuration_checks_editable_from_and_plan_change() -> None:
    docs = plan_documents()
    grid = next(f for f in docs["fields"]["fields"] if f["key"] == "financials")
    grid["editable_from"] = {"actual": "decidd"}
    docs["workflows"]["workflows"][0]["plan_change"]["approvals"][0]["role"] = "nobody"
    codes = {p.code for p in problems_of(docs)}
    assert {"unknown_stage", "unknown_role"} <= codes
    config = compile_checked(plan_documents(), version=1)
    assert config.workflows["gates"].plan_change.approvals[0].role == "cfo"


def test_totals_of_a_recurring_and_a_one_time_grid_are_never_added_up() -> None:
    """A rule or computed field added in the tenant's JSON: same-kind totals add up, mixed
    kinds are refused by validate with their own code."""
    docs = plan_documents()
    docs["fields"]["fields"] += [
        {"key": "one_off", "label": "One-off effect", "type": "money_grid", "effect": "one_time",
         "scenarios": ["plan", "actual"], "rollup": "sum"},
        {"key": "mixed", "label": "Mixed", "type": "computed", "result_type": "money",
         "expression": "total(financials, 'plan') + total(one_off, 'plan')"},
        {"key": "in_period", "label": "Plan and actual", "type": "computed", "result_type": "money",
         "expression": "total(financials, 'plan') - total(financials, 'actual')"},
    ]
    docs["levels"]["levels"][1]["sections"][1]["fields"] += ["one_off", "mixed", "in_period"]
    problems = problems_of(docs)
    mixed = [p for p in problems if p.code == "mixed_effects"]
    assert len(mixed) == 1 and "/fields/" in mixed[0].pointer and "recurring" in mixed[0].message
    assert not [p for p in problems if p.code == "expression_type"]
    docs["fields"]["fields"][-2]["expression"] = "total(one_off, 'plan') * 2"
    config = compile_checked(docs, version=1)
    assert config.levels["measure"].field("one_off").effect == "one_time"


def test_rollups_label_each_grid_with_its_kind_of_effect(world: World) -> None:
    from steerco.engine import rollups
    from steerco.engine.rollups import Rollups

    _decided(world)
    config = world.records("admin").config
    sets = Rollups(world.session, world.tenant.id, config, world.access("admin")).of(world.program)
    lines = [f for s in rollups.as_json(sets) for f in s["fields"] if f["field"] == "financials"]
    assert lines and all(f["effect"] == "recurring" for f in lines)
    labels = [r.label for s in rollups.panel(config, sets) for r in s.rows if r.label.startswith("Financials")]
    assert labels and all("recurring effect, in-period" in label for label in labels)


def test_a_workflow_that_starts_frozen_keeps_the_plan_entered_at_creation(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = plan_documents()
    docs["workflows"]["workflows"][0]["stages"][0]["plan_frozen"] = True
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    measure = world.measure("owner", **{"financials.plan.2026-01": "10"})
    assert plan.baselines(world.session, world.tenant.id, [measure.id]) == {measure.id: {"financials": {"2026-01": 10.0}}}
    with pytest.raises(ValidationFailed):
        _edit(world, world.fresh(measure), **{"financials.plan.2026-01": "11"})


def test_a_plan_change_needing_two_roles_at_once_applies_after_both(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    """Plan changes open their steps as a stage move does: a cross-role step ("the lead and
    the CFO") is two tasks opened together, and the change applies only after both."""
    docs = plan_documents()
    docs["workflows"]["workflows"][0]["plan_change"] = {"approvals": [
        {"key": "pair", "label": "Lead and CFO approve the plan change", "roles": ["lead", "cfo"]}]}
    world = World(session, make_tenant, make_user, docs)
    for name in ("owner", "lead", "cfo"):
        world.add(name, name)
    measure = _decided(world)
    request = world.flow("owner").request_plan_change(
        measure, Submission(measure.title, MultiDict({"financials.plan.2026-01": "150"})), "new prices")
    world.session.commit()
    tasks = {t.role: t for t in world.session.scalars(select(ApprovalTask).where(ApprovalTask.request_id == request.id))}
    assert set(tasks) == {"lead", "cfo"} and {t.state for t in tasks.values()} == {"pending"}
    world.flow("lead").decide(tasks["lead"].id, "approve")
    world.session.commit()
    assert _grid(world, measure)["plan"]["2026-01"] == 100.0  # the CFO has not approved yet
    world.flow("cfo").decide(tasks["cfo"].id, "approve")
    world.session.commit()
    assert _grid(world, measure)["plan"]["2026-01"] == 150.0
