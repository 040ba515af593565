"""Approvals under real concurrency, on PostgreSQL: many deciders, one decision.

Twenty threads, each with its own connection and Session, decide the same open approval
step at the same moment (released together by a barrier). Whether twenty different
approvers click at once or one approver's double click arrives on several connections, the
engine's conditional UPDATE on the step lets one decider in: exactly one vote, one
"approval.decided" event, one stage change; every other thread hears "already decided"
(a Conflict) and writes nothing; the tenant's audit chain stays intact.

SQLite serialises every writer with one database lock, so it would prove nothing here:
these tests run only when ``STEERCO_TEST_DATABASE_URL`` points to PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import audit, tenants
from steerco.engine.access import Access
from steerco.engine.errors import Conflict
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import Workflows
from steerco.store import scoping
from steerco.store.models import ApprovalTask, ApprovalVote, AuditEvent, Record, Tenant, TransitionRequest, User

THREADS = 20

pytestmark = [pytest.mark.postgres_only, pytest.mark.skipif(
    not os.environ.get("STEERCO_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="STEERCO_TEST_DATABASE_URL is not PostgreSQL: concurrent approvals need real row locks "
           "(SQLite serialises all writers, so the race cannot happen there)")]


def approval_documents(quorum: Any = "any") -> dict[str, Any]:
    """The mini tenant whose "decide" needs one step decided by a tenant-wide "lead"."""
    docs = minimal_documents()
    docs["roles"]["roles"].append({"key": "lead", "label": "Lead", "permissions": [
        {"levels": ["*"], "actions": ["read", "approve"], "scope": "tenant"}]})
    docs["workflows"]["workflows"][0]["transitions"][0].update(approvals=[
        {"key": "lead", "label": "Lead decision", "role": "lead", "quorum": quorum}])
    return docs


def _flow(session: Session, tenant_id: int, user_id: int) -> Workflows:
    tenant = session.get(Tenant, tenant_id)
    user = session.get(User, user_id)
    config = tenants.active_config(session, tenant)
    return Workflows(session, tenant_id, config, Access(config, tenants.actor_for(session, tenant, user)))


@pytest.fixture
def open_step(session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    """Build a tenant with 20 leads and a measure whose "decide" request waits for a lead;
    everything committed before any thread starts. Returns a builder taking the quorum."""

    def build(quorum: Any = "any") -> dict[str, Any]:
        tenant = make_tenant(approval_documents(quorum))
        admin = make_user(tenant, [("admin", None)], name="Ada Admin")
        leads = [make_user(tenant, [("lead", None)], name=f"Lead {n:02d}") for n in range(THREADS)]
        config = tenants.active_config(session, tenant)
        records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)))
        program = records.create("program", None, Submission("Cost program", MultiDict()))
        measure = records.create("measure", program, Submission("Steel", MultiDict({"potential": "5000"})))
        request = _flow(session, tenant.id, admin.id).request(measure, "decide", "Please decide")
        session.commit()
        task = session.scalar(select(ApprovalTask).where(ApprovalTask.request_id == request.id))
        assert task.state == "pending"
        return {"tenant": tenant.id, "task": task.id, "request": request.id, "record": measure.id,
                "leads": [u.id for u in leads]}

    return build


def _race(database_url: str, tenant_id: int, task_id: int | list[int], deciders: list[int]) -> list[Any]:
    """Each decider on a thread of its own with its own connection; all decide at once
    (the one task, or each the task at its place in ``task_id``).

    Returns, per thread, "approved" or the exception it met."""
    tasks = task_id if isinstance(task_id, list) else [task_id] * len(deciders)
    engine = create_engine(database_url, poolclass=NullPool)  # one real connection per session
    barrier = threading.Barrier(len(deciders), timeout=60)
    outcomes: list[Any] = [None] * len(deciders)

    def decide(n: int, user_id: int) -> None:
        with Session(engine, expire_on_commit=False) as own:
            scoping.bind_to_tenant(own, tenant_id)  # as a request would
            try:
                flow = _flow(own, tenant_id, user_id)  # connected, configuration and actor loaded
                own.commit()  # no snapshot or lock carried into the race
                barrier.wait()
                flow.decide(tasks[n], "approve", f"Approved by thread {n}")
                own.commit()
                outcomes[n] = "approved"
            except Exception as error:  # noqa: BLE001 - every outcome is asserted below
                own.rollback()
                outcomes[n] = error

    threads = [threading.Thread(target=decide, args=(n, user_id)) for n, user_id in enumerate(deciders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine.dispose()
    assert not any(t.is_alive() for t in threads), "a decider hangs"
    return outcomes


def _assert_one_decision(session: Session, step: dict[str, Any], outcomes: list[Any], refusal: str,
                         *, request_state: str) -> None:
    winners = [o for o in outcomes if o == "approved"]
    losers = [o for o in outcomes if o != "approved"]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, Conflict) for o in losers), [repr(o) for o in losers if not isinstance(o, Conflict)]
    assert {o.message for o in losers} == {refusal}
    session.expire_all()
    votes = session.scalars(select(ApprovalVote).where(ApprovalVote.task_id == step["task"])).all()
    assert len(votes) == 1 and votes[0].decision == "approve"
    decided = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tenant_id == step["tenant"], AuditEvent.kind == "approval.decided"))
    assert decided == 1
    assert session.get(TransitionRequest, step["request"]).state == request_state
    assert audit.verify(session, step["tenant"]) is None


def test_twenty_approvers_at_once_record_one_decision(session, database_url, open_step) -> None:  # type: ignore[no-untyped-def]
    step = open_step("any")
    outcomes = _race(database_url, step["tenant"], step["task"], step["leads"])
    _assert_one_decision(session, step, outcomes, "This step was already decided; nothing was changed.",
                         request_state="approved")
    assert session.get(ApprovalTask, step["task"]).state == "approved"
    assert session.get(Record, step["record"]).stage_key == "decided"
    moved = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tenant_id == step["tenant"], AuditEvent.kind == "record.transitioned"))
    assert moved == 1


def test_a_double_click_on_twenty_connections_counts_once(session, database_url, open_step) -> None:  # type: ignore[no-untyped-def]
    step = open_step("any")
    outcomes = _race(database_url, step["tenant"], step["task"], [step["leads"][0]] * THREADS)
    _assert_one_decision(session, step, outcomes, "This step was already decided; nothing was changed.",
                         request_state="approved")
    assert session.get(Record, step["record"]).stage_key == "decided"


def test_a_double_click_on_a_step_needing_two_approvals_counts_once(session, database_url, open_step) -> None:  # type: ignore[no-untyped-def]
    """With two approvals needed the step stays open after the first click, so the other
    clicks get in one after the other and each finds the person's vote already there."""
    step = open_step({"n": 2})
    outcomes = _race(database_url, step["tenant"], step["task"], [step["leads"][0]] * THREADS)
    _assert_one_decision(session, step, outcomes, "You have decided this step already (yourself or through "
                         "a deputy); nothing was changed.",
                         request_state="pending")
    task = session.get(ApprovalTask, step["task"])
    assert (task.state, task.needed) == ("pending", 2)
    assert task.claims == 1  # every click got in, one after the other; the refused ones rolled back
    assert session.get(Record, step["record"]).stage_key == "defined"


@pytest.mark.parametrize("attempt", range(3))  # the race is won differently each time
def test_parallel_steps_approved_at_the_same_moment_finish_the_request_once(session, database_url, make_tenant,
                                                                             make_user, attempt) -> None:  # type: ignore[no-untyped-def]
    """Two tasks open side by side (a cross-role step): their approvers decide at once, and
    exactly one of them sees the other's approval and moves the record."""
    docs = approval_documents()
    docs["roles"]["roles"].append({"key": "cfo", "label": "CFO", "permissions": [
        {"levels": ["*"], "actions": ["read", "approve"], "scope": "tenant"}]})
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"] = [
        {"key": "both", "label": "Lead and CFO", "roles": ["lead", "cfo"]}]
    tenant = make_tenant(docs)
    admin = make_user(tenant, [("admin", None)])
    lead, cfo = make_user(tenant, [("lead", None)]), make_user(tenant, [("cfo", None)])
    config = tenants.active_config(session, tenant)
    records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)))
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    measure = records.create("measure", program, Submission("Steel", MultiDict({"potential": "5000"})))
    request = _flow(session, tenant.id, admin.id).request(measure, "decide")
    session.commit()
    tasks = {t.role: t.id for t in session.scalars(select(ApprovalTask).where(
        ApprovalTask.request_id == request.id))}
    outcomes = _race(database_url, tenant.id, [tasks["lead"], tasks["cfo"]], [lead.id, cfo.id])
    assert outcomes == ["approved", "approved"], outcomes
    session.expire_all()
    assert session.get(TransitionRequest, request.id).state == "approved"
    assert session.get(Record, measure.id).stage_key == "decided"
    moved = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tenant_id == tenant.id, AuditEvent.kind == "record.transitioned"))
    assert moved == 1 and audit.verify(session, tenant.id) is None
