"""``steerco audit verify`` and ``steerco tick`` through Flask's CLI runner.

The audit trail is a hash chain per workspace: the check walks every event in order and
names the first one whose stored content or link no longer matches. ``tick`` escalates
approval steps past their due time, once, at the moment it is told (``--now``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, func, select, text
from werkzeug.datastructures import MultiDict

from database import bypass_audit_trigger
from steerco.cli import cli
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import Workflows
from steerco.fields import Upload
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import ApprovalTask, AuditEvent, Record, Tenant, User

MONDAY = dt.datetime(2026, 11, 23, 9, 0)


@pytest.fixture
def demo(demo_workspaces):  # type: ignore[no-untyped-def]
    return demo_workspaces


def _count(session, tenant: Tenant) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.tenant_id == tenant.id))


def _tamper(session, event_id: int, data: dict) -> None:  # type: ignore[no-untyped-def]
    """Edit a stored event behind the application's back, as someone with database access could."""
    statement = text("UPDATE audit_event SET data = :data WHERE id = :id").bindparams(
        bindparam("data", type_=AuditEvent.__table__.c.data.type))
    bypass_audit_trigger(session)  # on PostgreSQL the table is insert-only for the application
    session.execute(statement, {"data": data, "id": event_id})
    session.commit()
    session.expire_all()


# -- audit verify ---------------------------------------------------------------------------
def test_verify_passes_on_untouched_data(runner, session, demo) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"acme: {_count(session, demo['acme'])} events, chain intact",
        f"servicedesk: {_count(session, demo['servicedesk'])} events, chain intact",
    ]
    assert _count(session, demo["acme"]) > 50


def test_verify_names_the_first_altered_event_and_exits_1(runner, session, demo) -> None:  # type: ignore[no-untyped-def]
    acme = demo["acme"]
    updates = session.scalars(select(AuditEvent).where(
        AuditEvent.tenant_id == acme.id, AuditEvent.kind == "record.updated").order_by(AuditEvent.id)).all()
    first, later = updates[2], updates[-1]
    number = session.scalar(select(Record.number).where(Record.id == first.record_id))
    # Two rows are changed; the check names the earlier one.
    _tamper(session, later.id, {**later.data, "summary": "nothing happened"})
    _tamper(session, first.id, {**first.data, "changes": {"potential": [0, 1]}})

    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == (f"acme: chain broken at event {first.id} (record.updated, record {number}, "
                        f"{first.created_at:%Y-%m-%d %H:%M:%S} UTC): its stored content no longer matches "
                        "its hash (the row was edited)")
    assert lines[1] == f"servicedesk: {_count(session, demo['servicedesk'])} events, chain intact"
    assert "1 of 2 workspace(s) have an altered audit trail." in result.output
    assert "Traceback" not in result.output

    # One workspace at a time: the other one is fine.
    only_desk = runner.invoke(cli, ["audit", "verify", "--tenant", "servicedesk"])
    assert only_desk.exit_code == 0 and only_desk.output.startswith("servicedesk: ")
    assert "acme" not in only_desk.output
    assert runner.invoke(cli, ["audit", "verify", "--tenant", "acme"]).exit_code == 1


def test_verify_notices_a_removed_event(runner, session, demo) -> None:  # type: ignore[no-untyped-def]
    desk = demo["servicedesk"]
    events = session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == desk.id)
                             .order_by(AuditEvent.id)).all()
    removed, following = events[5], events[6]
    bypass_audit_trigger(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": removed.id})
    session.commit()
    result = runner.invoke(cli, ["audit", "verify", "--tenant", "servicedesk"])
    assert result.exit_code == 1
    assert f"chain broken at event {following.id} ({following.kind}" in result.output
    assert "it does not link to the event before it (an event was removed or inserted)" in result.output


def test_verify_of_an_unknown_workspace_is_a_clear_error(runner, demo) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["audit", "verify", "--tenant", "nope"])
    assert result.exit_code == 1
    assert "Error: no workspace 'nope'" in result.output and "Traceback" not in result.output


# -- tick --------------------------------------------------------------------------------------
def _pending_decision(session, tenant: Tenant, upload_dir) -> tuple[Record, ApprovalTask]:  # type: ignore[no-untyped-def]
    """The owner's measure at DoI3, ready, with its "decide" request opened on Monday morning."""
    owner = session.scalar(select(User).where(User.email == "owner@acme.example"))
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, owner))
    measure = session.scalar(select(Record).where(Record.title == "Consolidate PCB suppliers"))
    Records(session, tenant.id, config, access, DiskBlobStore(upload_dir)).update(
        measure, Submission(measure.title, MultiDict({"target_date": "2027-06-30"}), uploads={
            "business_case": [Upload("case.pdf", "application/pdf", b"%PDF-1.4 case")]}), measure.version)
    session.execute(Record.__table__.update().where(Record.id == measure.id).values(stage_key="doi3"))
    session.commit()
    session.expire_all()
    measure = session.get(Record, measure.id)
    request = Workflows(session, tenant.id, config, access, now=MONDAY).request(measure, "decide")
    session.commit()
    task = session.scalar(select(ApprovalTask).where(ApprovalTask.request_id == request.id,
                                                     ApprovalTask.state == "pending"))
    return measure, task


def test_tick_escalates_an_overdue_step_once(runner, session, demo, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _pending_decision(session, demo["acme"], upload_dir)
    assert task.due_at == dt.datetime(2026, 11, 28, 9, 0)

    early = runner.invoke(cli, ["tick", "--now", "2026-11-27T09:00"])
    assert early.exit_code == 0 and early.output == "2026-11-27 09:00 UTC: 0 overdue approval step(s) escalated.\n"

    first = runner.invoke(cli, ["tick", "--now", "2026-12-01T09:00"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        "2026-12-01 09:00 UTC: 1 overdue approval step(s) escalated:",
        f"  acme {measure.number}: Program manager decision, due 2026-11-28 09:00, "
        "escalated to Steering committee (steering_committee)",
    ]
    again = runner.invoke(cli, ["tick", "--now", "2026-12-02T09:00"])
    assert again.exit_code == 0 and "0 overdue approval step(s) escalated." in again.output

    session.expire_all()
    assert session.get(ApprovalTask, task.id).escalated_at == dt.datetime(2026, 12, 1, 9, 0)
    events = session.scalars(select(AuditEvent).where(AuditEvent.kind == "approval.escalated")).all()
    assert [(e.record_id, e.data["to"]) for e in events] == [(measure.id, "steering_committee")]
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0


def test_tick_refuses_a_malformed_time(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["tick", "--now", "next tuesday"])
    assert result.exit_code == 2
    assert "Invalid value for '--now'" in result.output and "Traceback" not in result.output
