"""Approvals in parallel through the web (issue 10, item 8): a transition whose steps open
together and whose last step needs "the controller and the CFO, neither of them the
requester". Both approvers see their step at once, in the inbox page and API and on the
record page; the request goes on when every open step is approved. The tenant is written
here, as a consultant would: a new rule in its JSON works with no code change."""

from __future__ import annotations

from typing import Any

import pytest
from configs import minimal_documents
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.engine import tokens
from steerco.engine.records import Submission
from steerco.store.models import ApprovalTask, Record

PASSWORD = "correct-horse-battery"


def documents() -> dict[str, Any]:
    docs = minimal_documents()
    docs["roles"]["roles"] += [
        {"key": role, "label": label, "permissions": [{"levels": ["*"], "actions": ["read", "approve"],
                                                       "scope": "tenant"}]}
        for role, label in (("lead", "Lead"), ("controller", "Controller"), ("cfo", "CFO"))]
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"] = [
        {"key": "lead", "label": "Lead decision", "role": "lead"},
        {"key": "money", "label": "Finance sign-off", "roles": ["controller", "cfo"],
         "parallel_with_previous": True},
    ]
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    people = {"admin": make_user(tenant)}
    for role in ("lead", "controller", "cfo"):
        people[role] = make_user(tenant, [(role, None)])
    records = records_for(tenant, people["admin"])
    program = records.create("program", None, Submission("Program", MultiDict()))
    measure = records.create("measure", program, Submission("Steel", MultiDict({"potential": "500"})))
    session.commit()
    return tenant, people, measure


def _api(app, session, user):  # type: ignore[no-untyped-def]
    _, token = tokens.create_token(session, user, "test")
    session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _browser(app, user):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return client


def test_parallel_steps_wait_for_every_approver_at_once(app, session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    base = f"/api/t/{tenant.slug}"
    before = _browser(app, people["admin"]).get(f"/t/{tenant.slug}/r/{measure.id}").get_data(as_text=True)
    assert "Approval by: Lead decision and, at the same time, Finance sign-off" in before
    requested = _api(app, session, people["admin"]).post(f"{base}/records/{measure.id}/transitions/decide")
    assert requested.status_code == 201, requested.get_data(as_text=True)
    open_steps = [(s["key"], s["state"]) for s in requested.get_json()["steps"]]
    assert open_steps.count(("lead", "pending")) == 1 and open_steps.count(("money", "pending")) == 2

    tasks = {t.role: t.id for t in session.scalars(select(ApprovalTask).where(ApprovalTask.record_id == measure.id))}
    for role in ("lead", "controller", "cfo"):
        listed = _api(app, session, people[role]).get(f"{base}/inbox").get_json()["approvals"]
        assert [a["id"] for a in listed] == [tasks[role]], role
        page = _browser(app, people[role]).get(f"/t/{tenant.slug}/r/{measure.id}").get_data(as_text=True)
        assert f'hx-post="/t/{tenant.slug}/tasks/{tasks[role]}/decision"' in page
    assert "Finance sign-off: Controller" in page and "Finance sign-off: CFO" in page and "Lead decision" in page

    for role in ("cfo", "lead"):
        decided = _api(app, session, people[role]).post(f"{base}/approvals/{tasks[role]}", json={"decision": "approve"})
        assert decided.status_code == 200 and decided.get_json()["state"] == "pending"
    decided = _api(app, session, people["controller"]).post(f"{base}/approvals/{tasks['controller']}",
                                                            json={"decision": "approve"})
    assert decided.status_code == 200 and decided.get_json()["state"] == "approved"
    session.expire_all()
    assert session.get(Record, measure.id).stage_key == "decided"


def test_a_rejection_in_one_parallel_step_rejects_the_request(app, session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    base = f"/api/t/{tenant.slug}"
    _api(app, session, people["admin"]).post(f"{base}/records/{measure.id}/transitions/decide")
    tasks = {t.role: t.id for t in session.scalars(select(ApprovalTask).where(ApprovalTask.record_id == measure.id))}
    rejected = _api(app, session, people["controller"]).post(
        f"{base}/approvals/{tasks['controller']}", json={"decision": "reject", "comment": "No budget left"})
    assert rejected.status_code == 200 and rejected.get_json()["state"] == "rejected"
    late = _api(app, session, people["cfo"]).post(f"{base}/approvals/{tasks['cfo']}", json={"decision": "approve"})
    assert late.status_code == 409
    assert _api(app, session, people["lead"]).get(f"{base}/inbox").get_json()["approvals"] == []
