"""Issue 10's acceptance test for exception rules: an over-budget project (its actual
cost total above budget × 1.05) raises an exception owned by the configured role, visible
in that role's inbox (page, API, navigation count) and at ``GET /api/t/<slug>/exceptions``,
not closable without its evidence; ``steerco tick`` raises the date-based ones exactly once.

The tenant is written here, in JSON terms a consultant would use: a rule added to it works
with no code change."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.cli import cli
from steerco.engine import tokens
from steerco.engine.records import Submission
from steerco.fields import Upload
from steerco.store.models import ExceptionCase, utcnow

PASSWORD = "correct-horse-battery"


def documents() -> dict[str, Any]:
    """Projects with a budget and a cost grid; a controller answers for overruns."""
    return {
        "tenant": {"key": "build", "name": "Build Co", "currency": "EUR", "locale": "en-GB", "fiscal_year_start": 1,
                   "reporting": {"granularity": "month", "start": "2026-01", "periods": 3}},
        "levels": {"levels": [
            {"key": "project", "label": "Project", "label_plural": "Projects", "parents": [],
             "numbering": {"prefix": "P"},
             "sections": [{"key": "main", "label": "Main",
                           "fields": ["budget", "costs", "finish", "recovery_plan"]}]},
        ]},
        "fields": {"fields": [
            {"key": "budget", "label": "Budget", "type": "money", "min": 0},
            {"key": "costs", "label": "Costs", "type": "money_grid", "scenarios": ["plan", "actual"]},
            {"key": "finish", "label": "Finish date", "type": "date"},
            {"key": "recovery_plan", "label": "Recovery plan", "type": "evidence", "accept": [".txt", ".pdf"],
             "max_size_mb": 1},
        ]},
        "roles": {"roles": [
            {"key": "admin", "label": "Administrator", "admin": ["configuration", "users"],
             "permissions": [{"levels": ["*"], "actions": ["create", "read", "update", "delete"],
                              "scope": "tenant"}]},
            {"key": "controller", "label": "Controller",
             "permissions": [{"levels": ["project"], "actions": ["read", "update"], "scope": "tenant"}]},
            {"key": "manager", "label": "Project manager",
             "permissions": [{"levels": ["project"], "actions": ["read", "update"], "scope": "own"}]},
        ]},
        "workflows": {"workflows": []},
        "exceptions": {"rules": [
            {"key": "over_budget", "label": "Over budget", "level": "project",
             "condition": "total(costs, 'actual') > budget * 1.05", "owner_role": "controller",
             "due_days": 10, "required_evidence": ["recovery_plan"]},
            {"key": "overdue", "label": "Past its finish date", "level": "project",
             "condition": "not empty(finish) and days_until(finish) < 0", "owner_role": "manager", "due_days": 5},
        ]},
    }


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    controller = make_user(tenant, [("controller", None)])
    manager = make_user(tenant, [("manager", None)])
    project = records_for(tenant, admin).create("project", None, Submission("Plant", MultiDict({"budget": "1000"})))
    session.commit()
    return tenant, {"admin": admin, "controller": controller, "manager": manager}, project


def _login(app, user):  # type: ignore[no-untyped-def]
    browser = app.test_client()
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return browser


def _api(app, session, user):  # type: ignore[no-untyped-def]
    _, token = tokens.create_token(session, user, "test")
    session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _badge(page: str) -> int:
    found = re.search(r'id="inbox-count"[^>]*>\((\d+)\)', page)
    return int(found.group(1)) if found else 0


def test_an_over_budget_project_raises_an_exception_for_the_controller(app, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, project = world
    slug = tenant.slug
    # Actuals up to 5% over budget: no exception yet.
    records = records_for(tenant, people["admin"])
    records.update(project, Submission("Plant", MultiDict({"budget": "1000", "costs.actual.2026-01": "600",
                                                           "costs.actual.2026-02": "450"})), project.version)
    session.commit()
    assert session.scalars(select(ExceptionCase)).all() == []
    records.update(project, Submission("Plant", MultiDict({"budget": "1000", "costs.actual.2026-01": "600",
                                                           "costs.actual.2026-02": "450",
                                                           "costs.actual.2026-03": "20"})), project.version)
    session.commit()
    [case] = session.scalars(select(ExceptionCase)).all()
    assert (case.rule_key, case.record_id, case.state) == ("over_budget", project.id, "open")

    # The controller's inbox (page and API) lists it, the navigation counts it; the manager's does not.
    controller = _login(app, people["controller"])
    inbox = controller.get(f"/t/{slug}/inbox").get_data(as_text=True)
    assert inbox.count('id="exceptions"') == 1, "the exceptions section appears once, in the page's body"
    assert re.search(r"<title>Inbox · [^<]*</title>", inbox), "the page title is plain text"
    section = inbox.split('id="exceptions"')[1]
    assert f'id="exception-{case.id}"' in section and "Over budget" in section and project.number in section
    assert _badge(inbox) == 1
    assert _badge(controller.get(f"/t/{slug}/").get_data(as_text=True)) == 1  # the navigation's one statement
    manager_inbox = _login(app, people["manager"]).get(f"/t/{slug}/inbox").get_data(as_text=True)
    assert f'id="exception-{case.id}"' not in manager_inbox
    api = _api(app, session, people["controller"])
    listed = api.get(f"/api/t/{slug}/inbox").get_json()
    assert [(e["id"], e["rule"], e["record"]["id"]) for e in listed["exceptions"]] == [(case.id, "over_budget",
                                                                                        project.id)]
    assert listed["totals"]["exceptions"] == 1
    assert _api(app, session, people["manager"]).get(f"/api/t/{slug}/inbox").get_json()["exceptions"] == []
    everything = api.get(f"/api/t/{slug}/exceptions?state=open").get_json()["items"]
    assert [(e["id"], e["label"]) for e in everything] == [(case.id, "Over budget")]

    # Not closable without its evidence; closable with it.
    refused = api.post(f"/api/t/{slug}/exceptions/{case.id}/close", json={"resolution": "Re-planned"})
    assert refused.status_code == 422 and "Recovery plan" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(ExceptionCase, case.id).state == "open"
    project = records.get(project.id)
    records.update(project, Submission("Plant", MultiDict({"budget": "1000", "costs.actual.2026-01": "600",
                                                           "costs.actual.2026-02": "450",
                                                           "costs.actual.2026-03": "20"}),
                                       {"recovery_plan": [Upload("plan.txt", "text/plain", b"the plan")]}),
                   project.version)
    session.commit()
    closed = api.post(f"/api/t/{slug}/exceptions/{case.id}/close", json={"resolution": "Re-planned"})
    assert closed.status_code == 200 and closed.get_json()["state"] == "closed"
    assert api.get(f"/api/t/{slug}/inbox").get_json()["exceptions"] == []
    assert _badge(_login(app, people["controller"]).get(f"/t/{slug}/inbox").get_data(as_text=True)) == 0


def test_steerco_tick_raises_the_date_based_ones_exactly_once(app, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, project = world
    finish = (utcnow() + dt.timedelta(days=2)).date()
    records_for(tenant, people["admin"]).update(
        project, Submission("Plant", MultiDict({"budget": "1000", "finish": finish.isoformat()})), project.version)
    session.commit()
    runner = app.test_cli_runner()
    later = (utcnow() + dt.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    first = runner.invoke(cli, ["tick", "--now", later])
    assert first.exit_code == 0 and "1 exception(s) raised" in first.output
    again = runner.invoke(cli, ["tick", "--now", later])
    assert again.exit_code == 0 and "exception(s) raised" not in again.output
    session.expire_all()
    [case] = session.scalars(select(ExceptionCase)).all()
    assert case.rule_key == "overdue" and case.record_id == project.id
    # The manager-scoped ("own") rule reaches the project's owner only: here the admin made it.
    assert project.owner_id == people["admin"].id


def test_a_rule_added_to_the_json_works_without_code(session, world, records_for, make_tenant) -> None:  # type: ignore[no-untyped-def]
    from steerco.engine import tenants

    tenant, people, project = world
    docs = documents()
    docs["exceptions"]["rules"].append({"key": "no_budget", "label": "Plan above budget", "level": "project",
                                        "condition": "total(costs, 'plan') > budget", "owner_role": "admin",
                                        "due_days": 3, "close_when_clear": True})
    tenants.store_config(session, docs)
    session.commit()
    records = records_for(tenant, people["admin"])
    records.update(project, Submission("Plant", MultiDict({"budget": "1000", "costs.plan.2026-01": "1200"})),
                   project.version)
    session.commit()
    assert [c.rule_key for c in session.scalars(select(ExceptionCase))] == ["no_budget"]
