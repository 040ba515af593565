"""Stage gates and approvals without Flask: gates, thresholds, quorum, four-eyes,
rejection, withdrawal, delegation, escalation, statuses, and rules that change in flight."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import audit, tenants
from steerco.engine.access import Access
from steerco.engine.errors import Conflict, Forbidden, GateNotMet, NotFound, ValidationFailed
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import PendingApproval, Workflows, escalate_overdue
from steerco.store.models import ApprovalTask, ApprovalVote, AuditEvent, Record, StatusChange

MONDAY = dt.datetime(2026, 11, 23, 9, 0)


def workflow_documents(**decide: Any) -> dict[str, Any]:
    """Program > Measure; "decide" needs a lead's approval, and the CFO's above 1,000."""
    docs = minimal_documents()
    docs["roles"]["roles"] += [
        {"key": "lead", "label": "Program lead", "permissions": [
            {"levels": ["*"], "actions": ["create", "read", "update", "transition", "approve"], "scope": "subtree"}]},
        {"key": "cfo", "label": "CFO", "permissions": [
            {"levels": ["*"], "actions": ["read", "approve"], "scope": "tenant"}]},
        {"key": "board_member", "label": "Board member", "permissions": [
            {"levels": ["*"], "actions": ["read"], "scope": "tenant"}]},
    ]
    docs["roles"]["roles"][1]["permissions"] += [
        {"levels": ["measure"], "actions": ["transition"], "scope": "own"},
        {"levels": ["measure"], "actions": ["create"], "scope": "tenant"}]
    docs["exceptions"] = {"forums": [{"key": "board", "label": "Board", "role": "board_member"}], "rules": []}
    docs["workflows"]["status_dimensions"] = [
        {"key": "health", "label": "Health", "levels": ["measure"], "default": "green",
         "comment_required_for": ["red"],
         "options": [{"key": "green", "label": "On track"}, {"key": "red", "label": "Critical"}]}]
    transition = docs["workflows"]["workflows"][0]["transitions"][0]
    transition.update(roles=["admin", "owner", "lead"], required_fields=["potential", "due"],
                      reject_to="defined", escalate_after_days=5, escalate_to="board", approvals=[
                          {"key": "lead", "label": "Lead decision", "role": "lead", "quorum": "any"},
                          {"key": "cfo", "label": "CFO approval", "role": "cfo", "threshold": "potential > 1000",
                           "quorum": "any"}])
    transition.update(decide)
    return docs


class World:
    """A tenant with a program, a measure owned by ``owner``, and people by name."""

    def __init__(self, session, make_tenant, make_user, documents: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        self.session = session
        self.tenant = make_tenant(documents or workflow_documents())
        self.people = {"admin": make_user(self.tenant, [("admin", None)], name="Ada Admin")}
        admin = self.records("admin")
        self.program = admin.create("program", None, Submission("Cost program", MultiDict()))
        session.commit()
        self.make_user = make_user

    def add(self, name: str, role: str, at_program: bool = False) -> None:
        self.people[name] = self.make_user(self.tenant, [(role, self.program.id if at_program else None)],
                                           name=name.title())

    def access(self, name: str, config=None) -> Access:  # type: ignore[no-untyped-def]
        config = config or tenants.active_config(self.session, self.tenant)
        return Access(config, tenants.actor_for(self.session, self.tenant, self.people[name]))

    def records(self, name: str) -> Records:
        config = tenants.active_config(self.session, self.tenant)
        return Records(self.session, self.tenant.id, config, self.access(name, config))

    def flow(self, name: str, now: dt.datetime = MONDAY) -> Workflows:
        config = tenants.active_config(self.session, self.tenant)
        return Workflows(self.session, self.tenant.id, config, self.access(name, config), now=now)

    def measure(self, owner: str, **values: str) -> Record:
        record = self.records(owner).create("measure", self.program, Submission("Steel", MultiDict(values)))
        self.session.commit()
        return record

    def fresh(self, record: Record) -> Record:
        self.session.expire_all()
        return self.session.get(Record, record.id)


@pytest.fixture
def world(session, make_tenant, make_user) -> World:  # type: ignore[no-untyped-def]
    w = World(session, make_tenant, make_user)
    w.add("owner", "owner")
    w.add("lead", "lead", at_program=True)
    w.add("lead2", "lead", at_program=True)
    w.add("cfo", "cfo")
    w.add("board", "board_member")
    w.add("deputy", "board_member")
    return w


def _task(world: World, record: Record, step: str) -> ApprovalTask:
    return world.session.scalar(select(ApprovalTask).where(
        ApprovalTask.record_id == record.id, ApprovalTask.step_key == step).order_by(ApprovalTask.id.desc()))


def test_the_gate_names_every_missing_criterion_until_they_hold(world: World) -> None:
    measure = world.measure("owner")
    options = world.flow("owner").options(measure)
    assert [o.transition.key for o in options] == ["decide"]
    assert [(m.field, m.message) for m in options[0].missing] == [
        ("potential", "Potential is empty."), ("due", "Due date is empty.")]
    with pytest.raises(GateNotMet) as refused:
        world.flow("owner").request(measure, "decide")
    assert [m.field for m in refused.value.missing] == ["potential", "due"]
    world.records("owner").update(measure, Submission("Steel", MultiDict({"potential": "500", "due": "2026-12-31"})),
                                  measure.version)
    assert world.flow("owner").options(world.fresh(measure))[0].ready


def test_evidence_and_conditions_are_gate_criteria(world: World) -> None:
    measure = world.measure("admin", potential="500", due="2026-12-31")
    measure.stage_key = "decided"
    world.session.commit()
    close = world.flow("admin").options(world.fresh(measure))[0]
    assert close.transition.key == "close"
    assert [(m.field, m.message) for m in close.missing] == [("evidence", "Business case: no file attached.")]


def test_thresholds_decide_which_steps_apply(world: World) -> None:
    small = world.measure("owner", potential="500", due="2026-12-31")
    large = world.measure("owner", potential="5000", due="2026-12-31")
    assert [s.key for s in world.flow("owner").options(small)[0].steps] == ["lead"]
    assert [s.key for s in world.flow("owner").options(large)[0].steps] == ["lead", "cfo"]
    world.flow("owner").request(small, "decide")
    world.session.commit()
    world.flow("lead").decide(_task(world, small, "lead").id, "approve")
    world.session.commit()
    assert world.fresh(small).stage_key == "decided"


def test_steps_are_decided_in_order_and_the_last_one_moves_the_record(world: World) -> None:
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    world.flow("owner").request(measure, "decide", "Signed by the supplier")
    world.session.commit()
    cfo_task = _task(world, measure, "cfo")
    assert cfo_task.state == "waiting"
    assert [t.task.step_key for t in world.flow("cfo").waiting_for_me()] == []
    with pytest.raises(Conflict, match="not open yet"):
        world.flow("cfo").decide(cfo_task.id, "approve")
    world.session.rollback()
    assert [t.task.step_key for t in world.flow("lead").waiting_for_me()] == ["lead"]
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.session.commit()
    assert world.fresh(measure).stage_key == "defined"
    assert [t.task.step_key for t in world.flow("cfo").waiting_for_me()] == ["cfo"]
    world.flow("cfo").decide(cfo_task.id, "approve")
    world.session.commit()
    assert world.fresh(measure).stage_key == "decided"
    kinds = [e.kind for e in world.session.scalars(select(AuditEvent).where(
        AuditEvent.record_id == measure.id).order_by(AuditEvent.id))]
    assert kinds[-5:] == ["transition.requested", "approval.decided", "approval.decided",
                          "transition.approved", "record.transitioned"]


def test_four_eyes_the_requester_never_approves_their_own_request(world: World) -> None:
    measure = world.measure("lead", potential="500", due="2026-12-31")
    world.flow("lead").request(measure, "decide")
    world.session.commit()
    task = _task(world, measure, "lead")
    assert world.flow("lead").waiting_for_me() == []
    with pytest.raises(Forbidden, match="you requested this transition"):
        world.flow("lead").decide(task.id, "approve")
    world.session.rollback()
    world.flow("lead2").decide(task.id, "approve")
    world.session.commit()
    assert world.fresh(measure).stage_key == "decided"


def test_one_person_does_not_approve_two_steps_unless_the_step_allows_it(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    for allowed in (False, True):
        docs = workflow_documents()
        docs["workflows"]["workflows"][0]["transitions"][0]["approvals"][1]["same_approver_allowed"] = allowed
        if allowed:
            docs["tenant"]["key"] = "mini2"
        world = World(session, make_tenant, make_user, docs)
        world.add("owner", "owner")
        world.people["both"] = make_user(world.tenant, [("lead", world.program.id), ("cfo", None)])
        measure = world.measure("owner", potential="5000", due="2026-12-31")
        world.flow("owner").request(measure, "decide")
        world.flow("both").decide(_task(world, measure, "lead").id, "approve")
        session.commit()
        if allowed:
            world.flow("both").decide(_task(world, measure, "cfo").id, "approve")
            session.commit()
            assert world.fresh(measure).stage_key == "decided"
        else:
            assert world.flow("both").waiting_for_me() == []  # not offered in their inbox either
            with pytest.raises(Forbidden, match="another step of this request"):
                world.flow("both").decide(_task(world, measure, "cfo").id, "approve")
            session.rollback()


@pytest.mark.parametrize("quorum,approvals_needed", [("all", 2), ({"n": 2}, 2), ("any", 1)])
def test_quorum(session, make_tenant, make_user, quorum, approvals_needed) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"][0]["quorum"] = quorum
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    for name in ("lead", "lead2"):
        world.add(name, "lead", at_program=True)
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    session.commit()
    task = _task(world, measure, "lead")
    assert task.needed == approvals_needed
    world.flow("lead").decide(task.id, "approve")
    session.commit()
    assert world.fresh(measure).stage_key == ("decided" if approvals_needed == 1 else "defined")
    if approvals_needed == 2:
        with pytest.raises(Conflict, match="decided this step already"):
            world.flow("lead").decide(task.id, "approve")  # a double click counts once
        session.rollback()
        world.flow("lead2").decide(task.id, "approve")
        session.commit()
        assert world.fresh(measure).stage_key == "decided"
    with pytest.raises(Conflict, match="already decided"):
        world.flow("lead2" if approvals_needed == 1 else "lead").decide(task.id, "approve")
    session.rollback()
    assert session.query(ApprovalVote).count() == approvals_needed


def test_rejection_needs_a_comment_and_sends_the_record_back(world: World) -> None:
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    world.session.execute(Record.__table__.update().where(Record.id == measure.id).values(stage_key="defined"))
    world.flow("owner").request(measure, "decide")
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.session.commit()
    cfo_task = _task(world, measure, "cfo")
    with pytest.raises(ValidationFailed) as failed:
        world.flow("cfo").decide(cfo_task.id, "reject", "  ")
    assert failed.value.errors == {"comment": "Say why you reject: a comment is required."}
    world.session.rollback()
    world.flow("cfo").decide(cfo_task.id, "reject", "Savings are not backed by a contract.")
    world.session.commit()
    request = world.session.get(ApprovalTask, cfo_task.id).request
    assert request.state == "rejected" and world.fresh(measure).stage_key == "defined"
    assert world.flow("owner").pending_request(measure) is None
    summaries = [e.data.get("summary") for e in world.session.scalars(select(AuditEvent).where(
        AuditEvent.kind == "transition.rejected"))]
    assert summaries == ["“Decide” rejected: Savings are not backed by a contract."]


def test_the_requester_withdraws_and_the_steps_close(world: World) -> None:
    measure = world.measure("owner", potential="500", due="2026-12-31")
    request = world.flow("owner").request(measure, "decide")
    world.session.commit()
    with pytest.raises(Forbidden, match="only the person who asked"):
        world.flow("lead").withdraw(request.id)
    world.session.rollback()
    world.flow("owner").withdraw(request.id, "Numbers need another look")
    world.session.commit()
    assert _task(world, measure, "lead").state == "cancelled"
    with pytest.raises(Conflict, match="already decided"):
        world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.session.rollback()
    with pytest.raises(Conflict, match="can no longer be withdrawn"):
        world.flow("owner").withdraw(request.id)
    world.session.rollback()
    # A new request may start again.
    world.flow("owner").request(world.fresh(measure), "decide")
    world.session.commit()


def test_only_one_request_is_in_flight_per_record(world: World) -> None:
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    with pytest.raises(Conflict, match="waiting for approval already"):
        world.flow("admin").request(measure, "decide")
    world.session.rollback()


def test_a_deputy_decides_for_the_cfo_within_the_period_only(world: World) -> None:
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.session.commit()
    task = _task(world, measure, "cfo")
    with pytest.raises(Forbidden):
        world.flow("deputy").decide(task.id, "approve")
    world.session.rollback()
    with pytest.raises(ValidationFailed):
        world.flow("cfo").delegate(world.people["cfo"].id, MONDAY.date(), MONDAY.date())
    world.session.rollback()
    world.flow("cfo").delegate(world.people["deputy"].id, dt.date(2026, 11, 30), dt.date(2026, 12, 11))
    world.session.commit()
    assert world.flow("deputy").waiting_for_me() == []  # the period has not started on Monday
    holiday = dt.datetime(2026, 12, 2, 10, 0)
    waiting = world.flow("deputy", now=holiday).waiting_for_me()
    assert [(t.task.step_key, t.on_behalf_of) for t in waiting] == [("cfo", world.people["cfo"].id)]
    world.flow("deputy", now=holiday).decide(task.id, "approve", "Approved while Frank is away")
    world.session.commit()
    vote = world.session.scalar(select(ApprovalVote).where(ApprovalVote.task_id == task.id))
    assert (vote.user_id, vote.on_behalf_of_id) == (world.people["deputy"].id, world.people["cfo"].id)
    assert world.fresh(measure).stage_key == "decided"


def test_overdue_steps_are_escalated_once_with_a_fixed_clock(world: World) -> None:
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    task = _task(world, measure, "lead")
    assert task.due_at == MONDAY + dt.timedelta(days=5)
    assert escalate_overdue(world.session, MONDAY + dt.timedelta(days=4)) == []
    assert world.flow("board").escalated_to_me() == []
    later = MONDAY + dt.timedelta(days=6)
    assert [t.id for t in escalate_overdue(world.session, later)] == [task.id]
    world.session.commit()
    assert escalate_overdue(world.session, later + dt.timedelta(days=1)) == []
    assert [t.id for t, _ in world.flow("board", now=later).escalated_to_me()] == [task.id]
    assert [t.overdue for t in world.flow("lead", now=later).waiting_for_me()] == [True]
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.kind == "approval.escalated"))
    assert event.record_id == measure.id and event.data["to"] == "board"


def test_status_changes_keep_their_own_history_and_may_need_a_reason(world: World) -> None:
    measure = world.measure("owner")
    assert measure.values["health"] == "green"
    with pytest.raises(ValidationFailed) as failed:
        world.flow("owner").set_status(measure, "health", "red")
    assert "comment is required" in failed.value.errors["comment"]
    world.session.rollback()
    world.flow("owner").set_status(world.fresh(measure), "health", "red", "Supplier insolvent")
    world.session.commit()
    history = world.flow("owner").status_history(world.fresh(measure))
    assert [(c.old_value, c.new_value, c.comment) for c in history["health"]] == [("green", "red", "Supplier insolvent")]
    with pytest.raises(Forbidden):
        world.flow("board").set_status(world.fresh(measure), "health", "green")
    world.session.rollback()
    assert world.session.query(StatusChange).count() == 1


def test_a_workflow_changed_in_flight_finishes_under_the_rules_it_started_with(world: World) -> None:
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    # The consultant adds a stage and a second approval step, and stores the new version.
    docs = copy.deepcopy(workflow_documents())
    workflow = docs["workflows"]["workflows"][0]
    workflow["stages"].append({"key": "validated", "label": "Validated", "order": 4})
    workflow["transitions"].append({"key": "validate", "label": "Validate", "from": ["closed"],
                                    "to": "validated", "roles": ["admin"]})
    workflow["transitions"][0]["approvals"].append(
        {"key": "board", "label": "Board decision", "role": "cfo", "quorum": "any"})
    workflow["transitions"][0]["approvals"][1]["threshold"] = "potential > 100000"
    tenants.store_config(world.session, docs)
    world.session.commit()
    # The request in flight: its one step completes it, as when it started.
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.session.commit()
    assert world.fresh(measure).stage_key == "decided"
    # A new request runs under the new rules: two steps now.
    second = world.measure("owner", potential="500", due="2026-12-31")
    assert [s.key for s in world.flow("owner").options(second)[0].steps] == ["lead", "board"]
    # And the new stage is there for records that reach it.
    second.stage_key = "closed"
    world.session.commit()
    assert [o.transition.target for o in world.flow("admin").options(world.fresh(second))] == ["validated"]


def test_the_audit_chain_of_a_workflow_is_intact(world: World) -> None:
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.flow("cfo").decide(_task(world, measure, "cfo").id, "approve")
    world.session.commit()
    events = world.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == world.tenant.id)
                                   .order_by(AuditEvent.id)).all()
    assert audit.first_broken(events) is None


def test_raising_the_potential_while_a_request_waits_is_refused(world: World) -> None:
    """The attack of issue 14: the approvers decide on the potential, so it may not change
    under them; the refusal names the field and keeps what was typed."""
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    fresh = world.fresh(measure)
    with pytest.raises(PendingApproval) as refused:
        world.records("owner").update(fresh, Submission("Steel", MultiDict({"potential": "900000"})), fresh.version)
    assert refused.value.status == 409 and "waits for approval" in refused.value.message
    assert set(refused.value.errors) == {"potential"} and refused.value.submitted["potential"] == 900000
    world.session.rollback()
    assert world.fresh(measure).values["potential"] == 500
    # A field the approvers do not decide on may still change.
    world.records("owner").update(world.fresh(measure), Submission("Steel", MultiDict({"description": "Steel"})),
                                  world.fresh(measure).version)
    world.session.commit()


def test_in_void_mode_raising_the_potential_voids_the_votes_and_brings_the_cfo(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents(on_change="void")
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"].insert(
        0, {"key": "board", "label": "Board check", "role": "admin", "quorum": "any"})
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.add("lead", "lead", at_program=True)
    world.add("cfo", "cfo")
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    world.flow("admin").decide(_task(world, measure, "board").id, "approve")
    session.commit()
    first_lead = _task(world, measure, "lead")
    assert first_lead.state == "pending"
    fresh = world.fresh(measure)
    world.records("owner").update(fresh, Submission("Steel", MultiDict({"potential": "900000"})), fresh.version)
    session.commit()
    # The board's approval no longer counts: every step starts again, the CFO's now too.
    tasks = world.flow("owner").tasks(world.flow("owner").pending_request(world.fresh(measure)))
    assert [(t.step_key, t.state) for t in tasks] == [("board", "pending"), ("lead", "waiting"), ("cfo", "waiting")]
    assert world.session.get(ApprovalTask, first_lead.id).state == "voided"
    with pytest.raises(Conflict, match="opened again"):
        world.flow("lead").decide(first_lead.id, "approve")
    session.rollback()
    event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "approval.voided"))
    assert event.data["fields"] == ["potential"] and "Potential changed" in event.data["summary"]
    for name, step in (("admin", "board"), ("lead", "lead"), ("cfo", "cfo")):
        world.flow(name).decide(_task(world, measure, step).id, "approve")
        session.commit()
    assert world.fresh(measure).stage_key == "decided"


def test_a_vote_records_the_version_and_the_content_it_was_given_on(world: World) -> None:
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    version = world.fresh(measure).version
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve", "Fine")
    world.session.commit()
    vote = world.session.scalar(select(ApprovalVote))
    assert vote.record_version == version
    # Required fields and the fields the thresholds read, by default.
    assert vote.content == {"potential": 500, "due": "2026-12-31"}
    assert len(vote.content_hash) == 64
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.kind == "approval.decided"))
    assert event.data["approved"] == vote.content and event.data["version"] == version
    assert event.data["summary"] == f"Lead decision: approved: Fine — on version {version}"


def test_an_approval_needs_the_gate_to_hold_still(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    world = World(session, make_tenant, make_user, workflow_documents(condition="description != 'on hold'"))
    world.add("owner", "owner")
    world.add("lead", "lead", at_program=True)
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    fresh = world.fresh(measure)
    world.records("owner").update(fresh, Submission("Steel", MultiDict({"description": "on hold"})), fresh.version)
    world.session.commit()
    with pytest.raises(GateNotMet) as refused:
        world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    assert [m.message for m in refused.value.missing] == ["The condition description != 'on hold' does not hold."]
    world.session.rollback()


def test_a_threshold_that_cannot_be_evaluated_keeps_its_step(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    """Fail closed: ``potential > 250000`` on an empty potential keeps the CFO step, and says why."""
    docs = workflow_documents(required_fields=["due"])
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"][1]["threshold"] = "potential > 250000"
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.add("lead", "lead", at_program=True)
    world.add("cfo", "cfo")
    measure = world.measure("owner", due="2026-12-31")
    (option,) = world.flow("owner").options(measure)
    assert [s.key for s in option.steps] == ["lead", "cfo"]
    reason = ("Applies because its threshold potential > 250000 cannot be evaluated while Potential is empty.")
    assert option.reasons == {"cfo": reason}
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    assert _task(world, measure, "cfo").reason == reason
    event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "transition.requested"))
    assert event.data["reasons"] == {"cfo": reason}
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    session.commit()
    assert world.fresh(measure).stage_key == "defined" and _task(world, measure, "cfo").state == "pending"


def test_a_condition_that_cannot_be_evaluated_keeps_the_gate_closed(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    world = World(session, make_tenant, make_user, workflow_documents(required_fields=["due"], condition="potential > 100"))
    world.add("owner", "owner")
    measure = world.measure("owner", due="2026-12-31")
    (option,) = world.flow("owner").options(measure)
    assert [(m.field, m.message) for m in option.missing] == [(None, (
        "The condition potential > 100 cannot be evaluated while Potential is empty; "
        "the gate stays closed until it can."))]
    with pytest.raises(GateNotMet):
        world.flow("owner").request(measure, "decide")
    world.session.rollback()


def test_a_quorum_that_can_never_be_reached_is_refused_when_requested(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"][0]["quorum"] = {"n": 3}
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.add("lead", "lead", at_program=True)
    world.add("lead2", "lead", at_program=True)
    world.add("cfo", "cfo")
    measure = world.measure("owner", potential="500", due="2026-12-31")
    with pytest.raises(GateNotMet) as refused:
        world.flow("owner").request(measure, "decide")
    assert "could never be decided" in refused.value.message
    assert [m.message for m in refused.value.missing] == [
        "“Lead decision” needs 3 approvals, but only 2 people other than the requester may decide it here."]
    session.rollback()
    # A lead elsewhere in the tree (another program) does not count; nor does the requester.
    other = world.records("admin").create("program", None, Submission("Other program", MultiDict()))
    world.people["far"] = make_user(world.tenant, [("lead", other.id)], name="Far Lead")
    world.people["lead3"] = make_user(world.tenant, [("lead", world.program.id)], name="Lead Three")
    session.commit()
    assert world.flow("owner").eligible_approvers("lead", measure) == {
        world.people[n].id for n in ("lead", "lead2", "lead3")}
    with pytest.raises(GateNotMet):
        world.flow("lead3").request(measure, "decide")  # the requester is not one of the three
    session.rollback()
    world.flow("owner").request(measure, "decide")
    session.commit()
    assert _task(world, measure, "lead").needed == 3


def test_a_person_and_their_deputy_are_one_voice_in_a_quorum(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"][0]["quorum"] = {"n": 2}
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    for name in ("lead", "lead2"):
        world.add(name, "lead", at_program=True)
    world.add("deputy", "board_member")
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.flow("lead").delegate(world.people["deputy"].id, MONDAY.date(), MONDAY.date() + dt.timedelta(days=9))
    session.commit()
    task = _task(world, measure, "lead")
    world.flow("deputy").decide(task.id, "approve")
    session.commit()
    with pytest.raises(Conflict, match="decided this step already"):
        world.flow("lead").decide(task.id, "approve")
    session.rollback()
    assert world.fresh(measure).stage_key == "defined"
    world.flow("lead2").decide(task.id, "approve")
    session.commit()
    assert world.fresh(measure).stage_key == "decided"


def test_a_status_held_by_a_hidden_field_is_hidden_too(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    docs["fields"]["fields"].append({"key": "health", "label": "Health", "type": "single_choice", "options": [
        {"key": "green", "label": "On track"}, {"key": "red", "label": "Critical"}]})
    docs["levels"]["levels"][1]["sections"][0]["fields"].append("health")
    docs["roles"]["roles"].append({"key": "auditor", "label": "Auditor", "fields": {"health": "hidden"},
                                   "permissions": [{"levels": ["*"], "actions": ["read", "update"], "scope": "tenant"}]})
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.add("auditor", "auditor")
    measure = world.measure("owner")
    world.flow("owner").set_status(measure, "health", "red", "Supplier insolvent")
    session.commit()
    auditor = world.flow("auditor")
    assert auditor.dimensions(world.fresh(measure)) == [] and auditor.status_history(world.fresh(measure)) == {}
    with pytest.raises(NotFound):
        auditor.set_status(world.fresh(measure), "health", "green")
    session.rollback()


def test_a_deputy_can_do_no_more_than_the_person_they_stand_in_for(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    # The step names a role that loses its approve right while the request waits (a
    # configuration naming a role without it is refused by the configuration check):
    # nobody decides it then, not even a deputy.
    board = next(r for r in docs["roles"]["roles"] if r["key"] == "board_member")
    board["permissions"].append({"levels": ["measure"], "actions": ["approve"], "scope": "tenant"})
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"] = [
        {"key": "board", "label": "Board decision", "role": "board_member", "quorum": "any"}]
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.add("board", "board_member")
    world.add("deputy", "board_member")
    measure = world.measure("owner", potential="500", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    session.commit()
    board["permissions"].pop()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"] = []
    tenants.store_config(session, docs)
    world.flow("board").delegate(world.people["deputy"].id, MONDAY.date(), MONDAY.date())
    session.commit()
    task = _task(world, measure, "board")
    for name in ("board", "deputy"):
        with pytest.raises(Forbidden):
            world.flow(name).decide(task.id, "approve")
        session.rollback()
        assert world.flow(name).waiting_for_me() == []


# -- parallel steps and cross-role quorums (issue 10, item 8) -------------------------------------
def parallel_documents() -> dict[str, Any]:
    """The CFO step opens with the lead's (parallel); above 2,000 a cross-role sign-off by a
    lead and the CFO, neither the requester, follows them."""
    docs = workflow_documents()
    approvals = docs["workflows"]["workflows"][0]["transitions"][0]["approvals"]
    approvals[1]["parallel_with_previous"] = True
    approvals.append({"key": "signoff", "label": "Joint sign-off", "roles": ["lead", "cfo"],
                      "threshold": "potential > 2000"})
    return docs


@pytest.fixture
def parallel(session, make_tenant, make_user) -> World:  # type: ignore[no-untyped-def]
    w = World(session, make_tenant, make_user, parallel_documents())
    w.add("owner", "owner")
    w.add("lead", "lead", at_program=True)
    w.add("lead2", "lead", at_program=True)
    w.add("cfo", "cfo")
    w.add("cfo2", "cfo")
    return w


def _open(world: World, record: Record) -> list[tuple[str, str]]:
    world.session.expire_all()
    return [(t.step_key, t.role) for t in world.session.scalars(select(ApprovalTask).where(
        ApprovalTask.record_id == record.id, ApprovalTask.state == "pending").order_by(ApprovalTask.id))]


def test_parallel_steps_open_together_and_the_request_goes_on_when_all_are_approved(parallel: World) -> None:
    world = parallel
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    world.session.commit()
    assert _open(world, measure) == [("lead", "lead"), ("cfo", "cfo")]  # both at once
    assert [t.task.step_key for t in world.flow("cfo").waiting_for_me()] == ["cfo"]
    world.flow("cfo").decide(_task(world, measure, "cfo").id, "approve")  # the CFO first, out of turn
    world.session.commit()
    assert _open(world, measure) == [("lead", "lead")]
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.session.commit()
    # The cross-role sign-off opens next: one task per role, in parallel.
    assert _open(world, measure) == [("signoff", "lead"), ("signoff", "cfo")]
    signoff = {t.role: t for t in world.session.scalars(select(ApprovalTask).where(
        ApprovalTask.record_id == measure.id, ApprovalTask.step_key == "signoff"))}
    assert signoff["cfo"].label == "Joint sign-off: CFO" and signoff["cfo"].needed == 1
    # Who approved an earlier step approves no other (distinct people): the second CFO does.
    with pytest.raises(Forbidden, match="another step"):
        world.flow("cfo").decide(signoff["cfo"].id, "approve")
    world.session.rollback()
    world.flow("cfo2").decide(signoff["cfo"].id, "approve")
    world.session.commit()
    assert world.fresh(measure).stage_key == "defined"  # the lead's part still open
    world.flow("lead2").decide(signoff["lead"].id, "approve")
    world.session.commit()
    assert world.fresh(measure).stage_key == "decided"


def test_a_rejection_in_any_parallel_step_rejects_the_request(parallel: World) -> None:
    world = parallel
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    request = world.flow("owner").request(measure, "decide")
    world.session.commit()
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    world.flow("cfo").decide(_task(world, measure, "cfo").id, "reject", "Not this year")
    world.session.commit()
    world.session.refresh(request)
    assert request.state == "rejected" and _open(world, measure) == []
    states = {t.step_key: t.state for t in world.session.scalars(select(ApprovalTask).where(
        ApprovalTask.request_id == request.id))}
    assert states == {"lead": "approved", "cfo": "rejected", "signoff": "cancelled"}


def test_a_cross_role_quorum_needs_a_distinct_person_for_each_role(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"] = [
        {"key": "signoff", "label": "Joint sign-off", "roles": ["lead", "cfo"]}]
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.people["both"] = make_user(world.tenant, [("lead", world.program.id), ("cfo", None)])
    measure = world.measure("owner", potential="500", due="2026-12-31")
    with pytest.raises(GateNotMet) as refused:  # one person holds both roles: never decidable
        world.flow("owner").request(measure, "decide")
    assert "a different person for each of Program lead, CFO" in refused.value.missing[0].message
    session.rollback()
    world.add("cfo", "cfo")
    world.flow("owner").request(measure, "decide")
    session.commit()
    tasks = {t.role: t for t in session.scalars(select(ApprovalTask).where(ApprovalTask.record_id == measure.id))}
    world.flow("both").decide(tasks["cfo"].id, "approve")
    session.commit()
    with pytest.raises(Forbidden, match="another step"):  # not the lead's part as well
        world.flow("both").decide(tasks["lead"].id, "approve")
    session.rollback()
    assert world.flow("both").waiting_for_me() == []
    assert world.fresh(measure).stage_key == "defined"


def test_a_parallel_step_added_to_the_json_works_without_code(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    docs = workflow_documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"].append(
        {"key": "board", "label": "Board and CFO", "roles": ["admin", "cfo"], "parallel_with_previous": True})
    world = World(session, make_tenant, make_user, docs)
    world.add("owner", "owner")
    world.add("lead", "lead", at_program=True)
    world.add("cfo", "cfo")
    world.add("cfo2", "cfo")
    measure = world.measure("owner", potential="5000", due="2026-12-31")
    world.flow("owner").request(measure, "decide")
    session.commit()
    assert _open(world, measure) == [("lead", "lead")]
    world.flow("lead").decide(_task(world, measure, "lead").id, "approve")
    session.commit()
    assert _open(world, measure) == [("cfo", "cfo"), ("board", "admin"), ("board", "cfo")]
