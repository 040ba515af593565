"""The benchmark's scale data: a generated tenant is a real tenant.

``steerco bench-data`` writes thousands of rows in bulk, around the engine. These journeys
check that what it writes is what the engine would have written: the counts asked for, an
intact audit chain, pages that open, and values the engine accepts when a person saves or
approves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steerco.cli import cli
from steerco.benchdata import BENCH_PASSWORD, PACKAGES, generate
from steerco.settings import RESOURCE_ROOT
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import (
    ApprovalTask, Attachment, AuditEvent, Comment, PeriodValue, Record, TransitionRequest,
)

MEASURES = 200


@pytest.fixture
def scale(session: Session, upload_dir: Path):  # type: ignore[no-untyped-def]
    return generate(session, "scale", MEASURES, blobs=DiskBlobStore(upload_dir))


def _count(session: Session, model, *where) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_the_generated_tenant_has_what_was_asked_for(session: Session, scale) -> None:  # type: ignore[no-untyped-def]
    tenant = Record.tenant_id == scale.tenant_id
    assert _count(session, Record, tenant, Record.level_key == "measure") == MEASURES
    assert _count(session, Record, tenant, Record.parent_id == scale.package_id) == MEASURES // PACKAGES
    # A plan amount in every period of acme's calendar, actuals in all but the last two.
    periods = json.loads((RESOURCE_ROOT / "tenants" / "acme" / "tenant.json").read_text())["reporting"]["periods"]
    assert _count(session, PeriodValue, PeriodValue.tenant_id == scale.tenant_id) == (2 * periods - 2) * MEASURES
    assert _count(session, Comment, Comment.tenant_id == scale.tenant_id) == MEASURES
    events = _count(session, AuditEvent, AuditEvent.tenant_id == scale.tenant_id)
    assert 8 * MEASURES <= events <= 11 * MEASURES
    assert scale.pending == {"controller": MEASURES // 10, "program_manager": MEASURES // 20}
    pending = select(func.count()).select_from(ApprovalTask).where(
        ApprovalTask.tenant_id == scale.tenant_id, ApprovalTask.state == "pending")
    assert session.scalar(pending.where(ApprovalTask.role == "controller")) == MEASURES // 10
    assert session.scalar(pending.where(ApprovalTask.role == "program_manager")) == MEASURES // 20
    assert _count(session, TransitionRequest, TransitionRequest.tenant_id == scale.tenant_id,
                  TransitionRequest.state == "pending") == MEASURES // 10 + MEASURES // 20
    # every measure's materialised path ends in its own id, below its package
    package = session.get(Record, scale.package_id)
    for path, record_id in session.execute(select(Record.path, Record.id).where(
            Record.parent_id == scale.package_id)):
        assert path == f"{package.path}{record_id}/"


def test_the_audit_chain_of_a_generated_tenant_verifies(runner, scale) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["audit", "verify", "--tenant", "scale"])
    assert result.exit_code == 0, result.output
    assert "chain intact" in result.output


def test_the_command_generates_a_tenant_and_refuses_an_existing_one(runner, db_engine) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["bench-data", "cli_scale", "--measures", "20"])
    assert result.exit_code == 0, result.output
    assert "20 measures" in result.output and "2 for controller" in result.output
    again = runner.invoke(cli, ["bench-data", "cli_scale", "--measures", "20"])
    assert again.exit_code != 0 and "exists already" in again.output
    bad = runner.invoke(cli, ["bench-data", "Not A Key", "--measures", "20"])
    assert bad.exit_code != 0 and "cannot be a workspace key" in bad.output


def test_people_of_a_generated_tenant_open_its_pages(client, login, session: Session, scale) -> None:  # type: ignore[no-untyped-def]
    measure = session.scalar(select(Record).where(Record.parent_id == scale.package_id).order_by(Record.id))
    login(scale.logins["tenant_admin"], BENCH_PASSWORD)
    for path in (f"/t/scale/r/{measure.id}", f"/t/scale/r/{measure.id}/edit",
                 f"/t/scale/r/{scale.package_id}/list/measure",
                 f"/t/scale/r/{scale.package_id}/list/measure/export.csv", f"/t/scale/r/{measure.id}/history"):
        response = client.get(path)
        assert response.status_code == 200, path
    client.post("/logout")
    login(scale.logins["controller"], BENCH_PASSWORD)
    inbox = client.get("/t/scale/inbox")
    assert inbox.status_code == 200
    waiting = session.scalar(select(Record.number).join(ApprovalTask, ApprovalTask.record_id == Record.id).where(
        ApprovalTask.role == "controller", ApprovalTask.state == "pending").limit(1))
    assert waiting in inbox.get_data(as_text=True)


def test_generated_values_pass_the_engine_when_saved_and_approved(client, login, session: Session,
                                                                   scale, upload_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # The owner saves a measure unchanged but for one value: every generated value validates.
    login(scale.logins["measure_owner"], BENCH_PASSWORD)
    owner_id = session.scalar(select(Record.owner_id).where(Record.parent_id == scale.package_id).limit(1))
    measure = session.scalar(select(Record).where(Record.owner_id == owner_id, Record.stage_key == "doi4"))
    saved = client.post(f"/t/scale/r/{measure.id}/edit", data={
        "version": measure.version, "title": measure.title, "kpi_actual_value": "799,5"})  # acme types German
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    client.post("/logout")
    # The controller approves a waiting benefit validation: its gate holds on generated data.
    login(scale.logins["controller"], BENCH_PASSWORD)
    task = session.scalar(select(ApprovalTask).where(ApprovalTask.tenant_id == scale.tenant_id,
                                                     ApprovalTask.role == "controller",
                                                     ApprovalTask.state == "pending").limit(1))
    client.post(f"/t/scale/tasks/{task.id}/decision", data={"decision": "approve"})
    session.expire_all()
    assert session.get(ApprovalTask, task.id).state == "approved"
    assert session.get(Record, task.record_id).stage_key == "doi6"
    # The business case files are where the attachments say.
    attachment = session.scalar(select(Attachment).where(Attachment.tenant_id == scale.tenant_id).limit(1))
    assert DiskBlobStore(upload_dir).get(scale.tenant_id, attachment.storage_key).startswith(b"%PDF")
    login(scale.logins["tenant_admin"], BENCH_PASSWORD)
    download = client.get(f"/t/scale/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
