"""Plan discipline through the pages, the JSON API and the CLI: after the freezing stage a
plan change is refused without its approval, requested, approved in the approver's name,
and shown beside the baseline; reporting periods opened and locked."""

from __future__ import annotations

import re

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.cli import cli
from steerco.engine import tokens
from steerco.engine.records import Submission
from steerco.store.models import ApprovalTask, Notification, Record, Tenant
from unit.test_plan_discipline import plan_documents


def _world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(plan_documents())
    admin = make_user(tenant, [("admin", None)], name="Ada Admin")
    cfo = make_user(tenant, [("cfo", None)], name="Carl CFO")
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    measure = records_for(tenant, admin).create("measure", program, Submission("Steel", MultiDict({
        "potential": "500", "due": "2026-12-31", "financials.plan.2026-01": "100"})))
    session.commit()
    return tenant, admin, cfo, measure


def _token(session, user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, plaintext = tokens.create_token(session, user, "plan")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def test_a_plan_change_after_the_freezing_stage_is_refused_then_approved_beside_the_baseline(  # type: ignore[no-untyped-def]
        client, session, make_tenant, make_user, records_for, login):
    tenant, admin, cfo, measure = _world(session, make_tenant, make_user, records_for)
    api, as_cfo = _token(session, admin), _token(session, cfo)
    base = f"/api/t/{tenant.slug}"
    assert client.post(f"{base}/records/{measure.id}/transitions/decide", headers=api).status_code == 201
    read = client.get(f"{base}/records/{measure.id}", headers=api).get_json()
    assert read["stage"] == "decided" and read["baselines"] == {"financials": {"2026-01": 100.0}}
    assert read["run_rates"] == {"financials": {"plan": 1200.0}}

    refused = client.patch(f"{base}/records/{measure.id}", headers=api, json={
        "version": read["version"], "values": {"financials": {"plan": {"2026-01": 130}}}})
    assert refused.status_code == 422
    assert "the plan is frozen since “Decided”" in refused.get_json()["errors"]["financials"]

    asked = client.post(f"{base}/records/{measure.id}/plan-changes", headers=api, json={
        "version": read["version"], "values": {"financials": {"plan": {"2026-01": 130}}}, "comment": "volumes"})
    assert asked.status_code == 201, asked.get_json()
    request = asked.get_json()
    assert request["state"] == "pending" and request["changes"] == {"financials": {"plan": {"2026-01": 130.0}}}
    task = request["steps"][0]["id"]
    assert client.post(f"{base}/approvals/{task}", headers=as_cfo, json={"decision": "approve"}).status_code == 200
    after = client.get(f"{base}/records/{measure.id}", headers=api).get_json()
    assert after["values"]["financials"]["plan"] == {"2026-01": 130.0}
    assert after["baselines"] == {"financials": {"2026-01": 100.0}}

    assert login(admin.email).status_code == 302
    page = client.get(f"/t/{tenant.slug}/r/{measure.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Baseline (frozen plan)" in html and "Run-rate (annualised" in html
    history = client.get(f"/t/{tenant.slug}/r/{measure.id}/history").get_data(as_text=True)
    assert "Plan frozen" in history and "Plan change requested" in history and "Plan change applied" in history


def test_the_edit_form_refuses_a_frozen_plan_and_requests_its_change(  # type: ignore[no-untyped-def]
        client, session, make_tenant, make_user, records_for, login):
    tenant, admin, cfo, measure = _world(session, make_tenant, make_user, records_for)
    client.post(f"/api/t/{tenant.slug}/records/{measure.id}/transitions/decide", headers=_token(session, admin))
    assert login(admin.email).status_code == 302
    new_form = client.get(f"/t/{tenant.slug}/new/measure?parent={measure.parent_id}").get_data(as_text=True)
    assert "Actual <small>(from Decided)</small>" in new_form
    assert re.search(r'name="financials\.actual\.2026-01"[^>]*disabled', new_form)
    session.expire_all()
    record = session.get(Record, measure.id)
    frozen_version = record.version
    form = {"title": "Steel", "version": str(record.version), "financials.plan.2026-01": "140"}
    refused = client.post(f"/t/{tenant.slug}/r/{measure.id}/edit", data=form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "the plan is frozen since" in html and "Request approval of this change" in html
    asked = client.post(f"/t/{tenant.slug}/r/{measure.id}/edit",
                        data={**form, "plan_change": "1", "plan_change_reason": "new volumes"})
    assert asked.status_code == 303
    task = session.scalar(select(ApprovalTask).where(ApprovalTask.record_id == measure.id,
                                                     ApprovalTask.state == "pending"))
    assert task is not None and task.role == "cfo"
    page = client.get(f"/t/{tenant.slug}/r/{measure.id}").get_data(as_text=True)
    assert "Baseline (frozen plan)" in page and "Financials · plan · Jan 2026: 140.00" in page
    assert login(cfo.email).status_code == 302
    inbox = client.get(f"/t/{tenant.slug}/inbox")
    assert inbox.status_code == 200 and "Plan change" in inbox.get_data(as_text=True)
    assert "Financials · plan · Jan 2026: 140.00" in inbox.get_data(as_text=True)  # what is decided on
    decided = client.post(f"/t/{tenant.slug}/tasks/{task.id}/decision", data={"decision": "approve"},
                          follow_redirects=True)
    assert "The plan change is applied" in decided.get_data(as_text=True)
    session.expire_all()
    assert session.get(Record, measure.id).version > frozen_version


def test_periods_open_with_reminders_and_lock_through_the_api_and_the_cli(  # type: ignore[no-untyped-def]
        client, session, make_tenant, make_user, records_for, runner):
    tenant, admin, cfo, measure = _world(session, make_tenant, make_user, records_for)
    api = _token(session, admin)
    base = f"/api/t/{tenant.slug}"
    client.post(f"{base}/records/{measure.id}/transitions/decide", headers=api)
    opened = client.post(f"{base}/periods/2026-01/open", headers=api)
    assert opened.status_code == 200 and opened.get_json()["reminded"] == 1
    assert session.scalar(select(Notification).where(Notification.kind == "period.opened")).user_id == admin.id
    assert client.post(f"{base}/periods/2026-01/open", headers=_token(session, cfo)).status_code == 403
    result = runner.invoke(cli, ["period", "lock", tenant.slug, "2026-01"])
    assert result.exit_code == 0, result.output
    assert client.get(f"{base}/periods", headers=api).get_json()["items"][0]["state"] == "locked"
    version = client.get(f"{base}/records/{measure.id}", headers=api).get_json()["version"]
    refused = client.patch(f"{base}/records/{measure.id}", headers=api, json={
        "version": version, "values": {"financials": {"actual": {"2026-01": 80}}}})
    assert refused.status_code == 422 and "Jan 2026 is locked" in refused.get_json()["errors"]["financials"]
    assert runner.invoke(cli, ["period", "unlock", tenant.slug, "2026-01"]).exit_code == 0
    assert client.patch(f"{base}/records/{measure.id}", headers=api, json={
        "version": version, "values": {"financials": {"actual": {"2026-01": 80}}}}).status_code == 200
    bad = runner.invoke(cli, ["period", "open", tenant.slug, "1999-01"])
    assert bad.exit_code != 0 and "not a reporting period" in bad.output
    assert session.scalar(select(Tenant).where(Tenant.id == tenant.id)) is not None
