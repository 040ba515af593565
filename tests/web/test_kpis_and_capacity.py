"""KPIs and capacity (issue 10, item 5), configured in a small tenant's JSON with no code:
a KPI level with target and actual per period shows whether it is on track (by its
direction); a review that is due and not done raises an exception through ``steerco
tick``, exactly once and not before it is due; a person planned above capacity across two
projects is a resource conflict (one exception per person and period), below it is not,
and the member's own capacity counts over the rule's default; the checks read a bounded
number of statements whatever the number of records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from configs import minimal_documents
from sqlalchemy import event, select, update
from werkzeug.datastructures import MultiDict

from steerco.config import ConfigInvalid, compile_config
from steerco.engine import jobs, members, tenants, tokens
from steerco.engine.records import Submission
from steerco.store.models import AuditEvent, ExceptionCase, Notification, Record, utcnow

PASSWORD = "correct-horse-battery"


def documents() -> dict[str, Any]:
    """The minimal tenant plus what a consultant adds for KPIs and capacity: a KPI level
    under the program, an assignment level under the measure (the project), their fields
    and three exception rules."""
    docs = minimal_documents()
    docs["levels"]["levels"] += [
        {"key": "kpi", "label": "KPI", "label_plural": "KPIs", "parents": ["program"],
         "sections": [{"key": "main", "label": "Main",
                       "fields": ["score", "score_ok", "errors", "errors_ok", "every", "reviewed"]}]},
        {"key": "assignment", "label": "Assignment", "label_plural": "Assignments", "parents": ["measure"],
         "sections": [{"key": "main", "label": "Main", "fields": ["person", "hours"]}]},
    ]
    docs["fields"]["fields"] += [
        {"key": "score", "label": "Customer score", "type": "measure_grid", "unit": "pts"},
        {"key": "score_ok", "label": "Score on track", "type": "computed", "result_type": "yes_no",
         "expression": "on_track(score)"},
        {"key": "errors", "label": "Errors", "type": "measure_grid", "unit": "errors",
         "direction": "lower_is_better"},
        {"key": "errors_ok", "label": "Errors on track", "type": "computed", "result_type": "yes_no",
         "expression": "on_track(errors, '2026-01')"},
        {"key": "every", "label": "Review frequency", "type": "single_choice",
         "options": [{"key": "week", "label": "Weekly"}, {"key": "month", "label": "Monthly"}]},
        {"key": "reviewed", "label": "Last reviewed", "type": "date"},
        {"key": "person", "label": "Person", "type": "user"},
        {"key": "hours", "label": "Hours", "type": "measure_grid", "unit": "h", "scenarios": ["plan", "actual"],
         "rollup": "sum"},
    ]
    docs["exceptions"] = {"rules": [
        {"key": "review_overdue", "label": "KPI review overdue", "level": "kpi",
         "condition": "review_due(reviewed, every)", "owner_role": "admin", "due_days": 5,
         "close_when_clear": True},
        {"key": "over_capacity", "label": "Resource conflict", "level": "assignment",
         "capacity": {"person": "person", "hours": "hours", "hours_per_period": 120},
         "owner_role": "admin", "due_days": 3},
        {"key": "unassigned", "label": "Nobody assigned", "level": "assignment", "condition": "empty(person)",
         "owner_role": "admin", "due_days": 1},  # a condition on the same level: the sweep reads it in batches
    ]}
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    ann, bob = make_user(tenant, []), make_user(tenant, [])  # members without a role
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Program", MultiDict()))
    projects = [records.create("measure", program, Submission(name, MultiDict())) for name in ("Steel", "Glass")]
    session.commit()
    return tenant, {"admin": admin, "ann": ann, "bob": bob}, program, projects


def _assign(records_for, tenant, admin, project, person, **plan: str) -> Record:  # type: ignore[no-untyped-def]
    form = MultiDict({"person": str(person.id), **{f"hours.plan.{p}": h for p, h in plan.items()}})
    return records_for(tenant, admin).create("assignment", project, Submission("Work", form))


def _cases(session, rule: str) -> list[ExceptionCase]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(ExceptionCase).where(ExceptionCase.rule_key == rule)
                                .order_by(ExceptionCase.id)))


# -- KPIs ------------------------------------------------------------------------------------

def test_a_kpi_shows_whether_it_is_on_track_by_its_direction(app, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, program, _ = world
    records = records_for(tenant, people["admin"])
    kpi = records.create("kpi", program, Submission("Customer satisfaction", MultiDict({
        "score.target.2026-01": "80", "score.actual.2026-01": "85",
        "score.target.2026-02": "80", "score.actual.2026-02": "75",  # the latest period: below target
        "errors.target.2026-01": "10", "errors.actual.2026-01": "7"})))  # fewer errors than allowed
    session.commit()
    stored = session.get(Record, kpi.id).values
    assert stored["score_ok"] is False and stored["errors_ok"] is True
    browser = app.test_client()
    browser.post("/login", data={"email": people["admin"].email, "password": PASSWORD})
    page = browser.get(f"/t/{tenant.slug}/r/{kpi.id}").get_data(as_text=True)
    assert "pts" in page and "on track" in page and "off track" in page
    _, token = tokens.create_token(session, people["admin"], "x")
    session.commit()
    answer = app.test_client().get(f"/api/t/{tenant.slug}/records/{kpi.id}",
                                   headers={"Authorization": f"Bearer {token}"}).get_json()
    assert answer["values"]["score_ok"] is False and answer["values"]["score"]["target"]["2026-01"] == 80


def test_load_refuses_a_kpi_function_on_what_it_cannot_judge() -> None:
    docs = documents()
    docs["levels"]["levels"][0]["sections"][0]["fields"].append("financials")
    docs["levels"]["levels"][2]["sections"][0]["fields"].append("financials")
    docs["fields"]["fields"][-7]["expression"] = "on_track(financials)"  # money: no target
    docs["exceptions"]["rules"][0]["condition"] = "review_due(reviewed, 'sometimes')"
    docs["exceptions"]["rules"][1]["capacity"]["person"] = "hours"
    with pytest.raises(ConfigInvalid) as refused:
        compile_config(docs)
    said = " ".join(p.message for p in refused.value.problems)
    assert "on_track compares a target with an actual" in said
    assert "'sometimes' is no review frequency" in said
    assert "'hours' is not a user field" in said


def test_a_due_review_raises_an_exception_through_tick_once_and_not_before(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, program, _ = world
    today = utcnow().date()
    records = records_for(tenant, people["admin"])
    kpi = records.create("kpi", program, Submission("Uptime", MultiDict({
        "every": "week", "reviewed": (today - dt.timedelta(days=3)).isoformat()})))
    session.commit()
    assert _cases(session, "review_overdue") == []
    noon = dt.datetime.combine(today, dt.time(12))
    assert jobs.review_exceptions(session, noon + dt.timedelta(days=4))[0] == 0  # due today: not late yet
    assert jobs.review_exceptions(session, noon + dt.timedelta(days=5))[0] == 1
    assert jobs.review_exceptions(session, noon + dt.timedelta(days=6))[0] == 0  # exactly once
    [case] = _cases(session, "review_overdue")
    assert case.state == "open" and case.record_id == kpi.id
    kpi = session.get(Record, kpi.id)
    records.update(kpi, Submission(kpi.title, MultiDict({"reviewed": today.isoformat()})), kpi.version)
    session.commit()
    assert _cases(session, "review_overdue")[0].state == "closed"  # the review is done


# -- capacity -----------------------------------------------------------------------------------

def test_a_person_planned_above_capacity_across_two_projects_is_one_conflict_per_period(app, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, _, (steel, glass) = world
    admin, ann, bob = people["admin"], people["ann"], people["bob"]
    _assign(records_for, tenant, admin, steel, ann, **{"2026-01": "80", "2026-02": "50"})
    _assign(records_for, tenant, admin, steel, bob, **{"2026-01": "60"})
    _assign(records_for, tenant, admin, glass, bob, **{"2026-01": "60"})  # 120: at capacity, not above
    session.commit()
    assert _cases(session, "over_capacity") == []
    second = _assign(records_for, tenant, admin, glass, ann, **{"2026-01": "70", "2026-02": "50"})
    session.commit()
    [case] = _cases(session, "over_capacity")  # raised by the save: 150 h in January, 100 in February
    assert case.subject == f"{ann.id}/2026-01" and case.state == "open" and case.holds
    assert jobs.review_exceptions(session, utcnow())[0] == 0  # the tick finds it raised already
    told = set(session.scalars(select(Notification.user_id).where(Notification.kind == "exception.raised")))
    assert {ann.id, admin.id} <= told and bob.id not in told
    summary = session.scalars(select(AuditEvent.data).where(AuditEvent.kind == "exception.raised")).one()["summary"]
    assert "150 h planned, capacity 120 h" in summary

    _, token = tokens.create_token(session, admin, "x")
    session.commit()
    api, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    [item] = api.get(f"/api/t/{tenant.slug}/exceptions?rule=over_capacity", headers=headers).get_json()["items"]
    assert item["subject"] == {"person": ann.id, "period": "2026-01"}
    # Ann can work 160 hours a month here: the plan fits, and the case says so.
    answer = api.put(f"/api/t/{tenant.slug}/members/{ann.id}/capacity", headers=headers, json={"hours": 160})
    assert answer.status_code == 200 and answer.get_json()["capacity_hours"] == 160
    assert api.put(f"/api/t/{tenant.slug}/members/{ann.id}/capacity", headers=headers,
                   json={"hours": "lots"}).status_code == 422
    jobs.review_exceptions(session, utcnow())
    session.expire_all()
    [case] = _cases(session, "over_capacity")
    assert case.state == "open" and not case.holds  # the rule closes only with its owner
    # Planning her above even that in February raises a second case, for that period.
    session.refresh(second)
    records_for(tenant, admin).update(second, Submission(second.title, MultiDict({"hours.plan.2026-02": "120"})),
                                      second.version)
    session.commit()
    assert [c.subject for c in _cases(session, "over_capacity")] == [f"{ann.id}/2026-01", f"{ann.id}/2026-02"]


def test_a_deleted_assignment_no_longer_counts(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, _, (steel, glass) = world
    admin, ann = people["admin"], people["ann"]
    _assign(records_for, tenant, admin, steel, ann, **{"2026-03": "100"})
    extra = _assign(records_for, tenant, admin, glass, ann, **{"2026-03": "100"})
    session.commit()
    assert len(_cases(session, "over_capacity")) == 1
    session.execute(update(Record).where(Record.id == extra.id).values(deleted_at=utcnow()))
    session.commit()
    jobs.review_exceptions(session, utcnow())
    session.expire_all()
    assert not _cases(session, "over_capacity")[0].holds


def test_capacity_and_reviews_are_checked_in_statements_flat_in_the_number_of_records(session, world, records_for, db_engine) -> None:  # type: ignore[no-untyped-def]
    tenant, people, program, (steel, glass) = world
    admin = people["admin"]

    def statements() -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
        event.listen(db_engine, "before_cursor_execute", listener)
        try:
            jobs.review_exceptions(session, utcnow())
        finally:
            event.remove(db_engine, "before_cursor_execute", listener)
        return len(seen)

    _assign(records_for, tenant, admin, steel, people["ann"], **{"2026-01": "10"})
    session.commit()
    few = statements()
    for n in range(30):  # nobody above capacity: only reading costs
        _assign(records_for, tenant, admin, glass if n % 2 else steel, people["ann" if n % 2 else "bob"],
                **{"2026-01": "2", "2026-02": "3"})
    session.commit()
    assert statements() == few


def test_member_capacity_is_kept_for_the_workspace_with_an_audit_event(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, people, _, _ = world
    config = tenants.active_config(session, tenant)
    actor = tenants.actor_for(session, tenant, people["admin"])
    members.set_capacity(session, tenant, actor, people["bob"].id, "37.5", config=config)
    session.commit()
    assert members.member(session, tenant, people["bob"].id).capacity_hours == 37.5
    assert session.scalars(select(AuditEvent.kind).where(AuditEvent.kind == "member.capacity")).one()


def test_an_administrator_sets_a_members_capacity_on_their_page(app, session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, people, _, _ = world
    browser = app.test_client()
    browser.post("/login", data={"email": people["admin"].email, "password": PASSWORD})
    page = browser.get(f"/t/{tenant.slug}/admin/users/{people['bob'].id}").get_data(as_text=True)
    assert 'id="capacity-form"' in page and "default (120 hours)" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = browser.post(f"/t/{tenant.slug}/admin/users/{people['bob'].id}/capacity",
                           data={"csrf_token": token, "capacity_hours": "a lot"})
    assert refused.status_code == 422 and "Enter hours from 0 to 9,000" in refused.get_data(as_text=True)
    assert 'value="a lot"' in refused.get_data(as_text=True)  # what was typed stays
    saved = browser.post(f"/t/{tenant.slug}/admin/users/{people['bob'].id}/capacity",
                         data={"csrf_token": token, "capacity_hours": "1,200.5"}, follow_redirects=True)
    assert saved.status_code == 200 and 'value="1,200.5"' in saved.get_data(as_text=True)
    assert members.member(session, tenant, people["bob"].id).capacity_hours == 1200.5


def test_the_service_desk_demo_has_a_kpi_below_target_and_a_resource_conflict(session, demo_workspaces) -> None:  # type: ignore[no-untyped-def]
    desk = demo_workspaces["servicedesk"]
    found = session.execute(select(ExceptionCase.rule_key, ExceptionCase.subject)
                            .where(ExceptionCase.tenant_id == desk.id, ExceptionCase.state == "open")).all()
    assert ("kpi_off_track", "") in found
    [conflict] = [subject for rule, subject in found if rule == "resource_conflict"]
    assert conflict.endswith("/2027-01")
