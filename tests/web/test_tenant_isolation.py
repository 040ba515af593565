"""Tenant isolation: every route, called by acme's administrator with the id of a record,
attachment, user or other object of the servicedesk workspace, answers 404 and says
nothing about it. The routes are enumerated from the app's URL map, so a new route with
an id in its path is covered the day it is added (and fails here if its id kind is new).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.fields import Upload
from steerco.reports.jobs import ReportJobs
from steerco.store.blobs import DiskBlobStore
from steerco.engine.workflow import Workflows
from steerco.store.models import ApiToken, ApprovalTask, Attachment, ExceptionCase, Record, RoleAssignment, Tenant, User

#: path arguments that are no object id, with the value to use (an acme key)
KEYS = {"tenant": "acme", "level_key": "measure", "filename": "steerco.css", "key": "identify",
        "dimension": "implementation_status", "name": "fields", "token": "no-such-link",
        "field_key": "business_case", "period": "2026-01", "action": "lock"}


@pytest.fixture
def servicedesk_objects(session, upload_dir):  # type: ignore[no-untyped-def]
    """Ids of servicedesk objects, and the words that must not appear in acme's answers."""
    load_demo(session)
    session.commit()
    desk = session.scalar(select(Tenant).where(Tenant.slug == "servicedesk"))
    admin = session.scalar(select(User).where(User.email == "admin@servicedesk.example"))
    config = tenants.active_config(session, desk)
    records = Records(session, desk.id, config, Access(config, tenants.actor_for(session, desk, admin)),
                      DiskBlobStore(upload_dir))
    improvement = session.scalar(select(Record).where(Record.tenant_id == desk.id,
                                                      Record.level_key == "improvement").order_by(Record.id))
    records.update(improvement, Submission(improvement.title, MultiDict(), {"root_cause_evidence": [
        Upload("root-cause.csv", "text/csv", b"tickets,before,after")]}), improvement.version)
    analyst = session.scalar(select(User).where(User.email == "analyst@servicedesk.example"))
    token, _ = tokens.create_token(session, analyst, "analyst's script")
    # A request waiting for approval and a delegation, through the engine.
    flow = Workflows(session, desk.id, config, records.access)
    improvement.stage_key = "assessed"
    records.update(improvement, Submission(improvement.title, MultiDict({
        "improvement_lead": str(admin.id), "target_date": "2027-03-31", "savings.plan.2026-04": "100"})),
        improvement.version)
    request = flow.request(improvement, "approve_improvement")
    delegation = flow.delegate(analyst.id, dt.date(2026, 11, 1), dt.date(2027, 1, 31))
    # A report PDF the servicedesk admin asked for (queued, as the web page leaves it).
    report_job, _ = ReportJobs(session, desk.id, config, records.access, DiskBlobStore(upload_dir)).start(
        config.reports["service_review"])
    case = ExceptionCase(tenant_id=desk.id, rule_key="any", record_id=improvement.id, state="open", holds=True,
                         opened_at=dt.datetime(2026, 11, 1), due_at=dt.datetime(2026, 11, 8), escalations=0,
                         resolution="")
    session.add(case)
    session.commit()
    ids = {
        "case_id": case.id,
        "record_id": improvement.id,
        "attachment_id": session.scalar(select(Attachment.id).where(Attachment.tenant_id == desk.id)),
        "user_id": analyst.id,
        "assignment_id": session.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == analyst.id)),
        "token_id": token.id,
        "task_id": session.scalar(select(ApprovalTask.id).where(ApprovalTask.request_id == request.id)),
        "request_id": request.id,
        "delegation_id": delegation.id,
        "version_id": desk.active_config_id,
        "job_id": report_job.id,
    }
    words = [improvement.title, improvement.number, analyst.email, analyst.name, "root-cause.csv",
             "analyst's script", "Service Desk", "Quarterly service review"]
    return ids, words


def _routes(app) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(endpoint, method, url) for every route whose path carries an object id."""
    found = []
    for rule in app.url_map.iter_rules():
        ids = [a for a in rule.arguments if a not in KEYS]
        if not ids:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule, tuple(ids)))
    return found  # type: ignore[return-value]


def _login(client) -> str:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": "admin@acme.example", "password": DEMO_PASSWORD}).status_code == 302
    return ""


def test_every_route_answers_404_for_another_workspaces_ids(app, client, session, servicedesk_objects) -> None:  # type: ignore[no-untyped-def]
    ids, words = servicedesk_objects
    acme_admin = session.scalar(select(User).where(User.email == "admin@acme.example"))
    _, plaintext = tokens.create_token(session, acme_admin, "acme script")
    session.commit()
    _login(client)
    checked, failures = 0, []
    for endpoint, method, rule, arguments in _routes(app):
        unknown = [a for a in arguments if a not in ids]
        assert not unknown, f"{endpoint}: teach this test the id kind {unknown}"
        url = rule
        for name, value in {**KEYS, **ids}.items():
            url = url.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
        headers = {"Authorization": f"Bearer {plaintext}"} if url.startswith("/api/") else {}
        kwargs: dict[str, Any] = {"json": {"version": 1, "values": {}}} if url.startswith("/api/") else \
            {"data": {"title": "x", "version": "1", "comment": "x", "role": "viewer"}}
        response = client.open(url, method=method, headers=headers, **kwargs)
        body = response.get_data(as_text=True)
        checked += 1
        if response.status_code != 404 or any(word in body for word in words):
            failures.append(f"{method} {url} ({endpoint}) -> {response.status_code}")
    # Ids in the query string or the body, too.
    other = ids["record_id"]
    api = {"Authorization": f"Bearer {plaintext}"}
    for method, url, kwargs in [
        ("GET", f"/t/acme/new/measure?parent={other}", {}),
        ("POST", f"/t/acme/new/measure?parent={other}", {"data": {"title": "x"}}),
        ("POST", f"/t/acme/form/measure/state?parent={other}", {"data": {"title": "x"}}),
        ("POST", f"/t/acme/form/measure/state?record={other}", {"data": {"title": "x"}}),
        ("GET", f"/api/t/acme/records?level=measure&parent={other}", {"headers": api}),
    ]:
        response = client.open(url, method=method, **kwargs)
        checked += 1
        if response.status_code != 404 or any(word in response.get_data(as_text=True) for word in words):
            failures.append(f"{method} {url} -> {response.status_code}")
    created = client.post("/api/t/acme/records", headers=api,
                          json={"level": "measure", "parent": other, "title": "x", "values": {}})
    assert created.status_code == 422 and created.get_json()["error"]["fields"] == {"parent": "No such record."}
    assert failures == [], "\n".join(failures)
    assert checked > 15
    assert session.scalar(select(ApiToken.revoked_at).where(ApiToken.id == ids["token_id"])) is None
