"""Exception rules from exceptions.json (issue 10, item 3), on a small tenant: a rule raises
an exception once when a save meets its condition, follows the condition, closes only with
its evidence (or by itself where the rule says so), escalates on time, and shows on the
record, in the owners' notifications and in the API; ``steerco tick`` raises the rules that
turn true with time alone, exactly once. Every step is in the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from configs import minimal_documents
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from steerco.engine import exceptions, jobs, tenants, tokens
from steerco.engine.errors import Forbidden, ValidationFailed
from steerco.engine.records import Submission
from steerco.fields import Upload
from steerco.store.models import AuditEvent, ExceptionCase, Notification, Record, utcnow

RULES = {
    "forums": [{"key": "board", "label": "Board", "role": "admin"}],
    "rules": [
        {"key": "big", "label": "Potential above 1,000", "level": "measure", "condition": "potential > 1000",
         "owner_role": "owner", "forum": "board", "due_days": 7, "required_evidence": ["evidence"],
         "escalation": [{"after_days": 7, "to": "board"}, {"after_days": 14, "to": "admin"}]},
        {"key": "tiny", "label": "Potential below 10", "level": "measure", "condition": "potential < 10",
         "owner_role": "owner", "due_days": 3, "close_when_clear": True},
        {"key": "late", "label": "Past its due date", "level": "measure",
         "condition": "not empty(due) and days_until(due) < 0", "owner_role": "owner", "due_days": 5},
    ],
}


def documents() -> dict[str, Any]:
    docs = minimal_documents()
    docs["exceptions"] = RULES
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    owner = make_user(tenant, [("owner", None)])
    other = make_user(tenant, [("owner", None)])
    program = records_for(tenant, admin).create("program", None, Submission("Program", MultiDict()))
    measure = records_for(tenant, admin).create("measure", program, Submission("Steel", MultiDict({"potential": "500"})))
    session.execute(update(Record).where(Record.id == measure.id).values(owner_id=owner.id))
    session.commit()
    session.refresh(measure)
    return tenant, {"admin": admin, "owner": owner, "other": other}, measure


def _save(records_for, tenant, user, record, **values: Any):  # type: ignore[no-untyped-def]
    records = records_for(tenant, user)
    data = MultiDict({k: v for k, v in values.items() if not isinstance(v, Upload)})
    files = {k: [v] for k, v in values.items() if isinstance(v, Upload)}
    return records.update(record, Submission(record.title, data, files), record.version)


def _cases(session, rule: str | None = None) -> list[ExceptionCase]:  # type: ignore[no-untyped-def]
    query = select(ExceptionCase).order_by(ExceptionCase.id)
    return list(session.scalars(query.where(ExceptionCase.rule_key == rule) if rule else query))


def _events(session, kind: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))


def test_a_save_raises_an_exception_once_and_its_owner_hears_of_it(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    assert _cases(session) == []
    _save(records_for, tenant, people["owner"], measure, potential="1500")
    _save(records_for, tenant, people["owner"], measure, potential="1600")  # still holds: no second case
    session.commit()
    [case] = _cases(session, "big")
    assert case.state == "open" and case.holds and case.due_at.date() == (utcnow() + dt.timedelta(days=7)).date()
    assert len(_events(session, "exception.raised")) == 1
    told = session.scalars(select(Notification.user_id).where(Notification.kind == "exception.raised")).all()
    assert told == [people["owner"].id]  # the owner-scoped role: only the record's owner, not every owner


def test_an_exception_follows_its_condition_and_closes_itself_only_where_the_rule_says(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    _save(records_for, tenant, people["owner"], measure, potential="1500")
    _save(records_for, tenant, people["owner"], measure, potential="800")
    session.commit()
    [big] = _cases(session, "big")
    assert big.state == "open" and not big.holds  # stays open until closed with its evidence
    _save(records_for, tenant, people["owner"], measure, potential="5")
    _save(records_for, tenant, people["owner"], measure, potential="50")
    session.commit()
    [tiny] = _cases(session, "tiny")
    assert tiny.state == "closed" and tiny.resolution == "The condition no longer holds."
    kinds = [e.kind for e in session.scalars(select(AuditEvent).where(AuditEvent.kind.like("exception.%"))
                                             .order_by(AuditEvent.id))]
    assert kinds == ["exception.raised", "exception.updated", "exception.raised", "exception.closed"]


def test_closing_needs_the_owner_the_evidence_and_a_resolution(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    _save(records_for, tenant, people["owner"], measure, potential="1500")
    session.commit()
    [case] = _cases(session, "big")
    config = tenants.active_config(session, tenant)
    records = records_for(tenant, people["owner"])
    values = records.stored_values(measure, config.levels["measure"])
    with pytest.raises(Forbidden):
        exceptions.close(session, tenant.id, config, case.id, measure, values, people["other"].id, "Done", utcnow())
    with pytest.raises(ValidationFailed) as refused:
        exceptions.close(session, tenant.id, config, case.id, measure, values, people["owner"].id, "", utcnow())
    assert set(refused.value.errors) == {"evidence", "resolution"} and "Business case" in refused.value.errors["evidence"]
    _save(records_for, tenant, people["owner"], measure,
          evidence=Upload("plan.txt", "text/plain", b"the recovery plan"))
    session.commit()
    values = records.stored_values(measure, config.levels["measure"])
    exceptions.close(session, tenant.id, config, case.id, measure, values, people["owner"].id, "Re-planned", utcnow())
    session.commit()
    assert _cases(session, "big")[0].state == "closed" and _events(session, "exception.closed")


def test_tick_raises_date_based_exceptions_exactly_once_and_escalates_on_time(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    _save(records_for, tenant, people["owner"], measure, due=(utcnow() + dt.timedelta(days=2)).date().isoformat(),
          potential="1500")
    session.commit()
    assert _cases(session, "late") == []
    later = utcnow() + dt.timedelta(days=3)
    assert jobs.review_exceptions(session, later) == (1, 0)
    assert jobs.review_exceptions(session, later) == (0, 0)  # exactly once
    [late] = _cases(session, "late")
    assert late.opened_at == later
    # "big" was opened at the save: its first step falls due after 7 days, its second after 14.
    assert jobs.review_exceptions(session, utcnow() + dt.timedelta(days=8))[1] == 1
    assert jobs.review_exceptions(session, utcnow() + dt.timedelta(days=15))[1] == 1
    assert jobs.review_exceptions(session, utcnow() + dt.timedelta(days=30))[1] == 0
    big = _cases(session, "big")[0]
    assert (big.escalations, big.escalated_to) == (2, "admin")
    escalated = session.scalars(select(Notification.user_id).where(Notification.kind == "exception.escalated")).all()
    assert set(escalated) == {people["admin"].id}  # the board's role, then the admin role


def test_the_record_page_and_the_api_show_exceptions_and_close_them(app, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    _save(records_for, tenant, people["owner"], measure, potential="1500")
    session.commit()
    browser = app.test_client()
    assert browser.post("/login", data={"email": people["owner"].email, "password": "correct-horse-battery"}).status_code == 302
    page = browser.get(f"/t/{tenant.slug}/r/{measure.id}").get_data(as_text=True)
    assert 'id="exceptions"' in page and "Potential above 1,000" in page and "To close it, add: Business case" in page
    _, token = tokens.create_token(session, people["owner"], "x")
    session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    listed = api.get(f"/api/t/{tenant.slug}/exceptions?state=open&forum=board", headers=headers).get_json()
    assert [(i["rule"], i["record"]["id"]) for i in listed["items"]] == [("big", measure.id)]
    assert api.get(f"/api/t/{tenant.slug}/exceptions?rule=tiny", headers=headers).get_json()["items"] == []
    case_id = listed["items"][0]["id"]
    refused = api.post(f"/api/t/{tenant.slug}/exceptions/{case_id}/close", headers=headers, json={"resolution": "ok"})
    assert refused.status_code == 422
    assert api.get(f"/api/t/{tenant.slug}/exceptions?state=wrong", headers=headers).status_code == 400


def test_a_rule_a_consultant_adds_works_without_code(session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant, people, measure = world
    docs = documents()
    docs["exceptions"]["rules"].append({"key": "procurement", "label": "Procurement measure", "level": "measure",
                                        "condition": "category == 'procurement'", "owner_role": "admin",
                                        "due_days": 1})
    tenants.store_config(session, docs)
    session.commit()
    _save(records_for, tenant, people["owner"], measure, category="procurement")
    session.commit()
    assert [c.rule_key for c in _cases(session)] == ["procurement"]


def test_the_scheduled_sweep_reads_records_in_batches_not_one_by_one(session, world, records_for, db_engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    tenant, people, measure = world
    records = records_for(tenant, people["admin"])
    program = records.get(measure.parent_id)

    def statements() -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
        event.listen(db_engine, "before_cursor_execute", listener)
        try:
            jobs.review_exceptions(session, utcnow())
        finally:
            event.remove(db_engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    for n in range(40):  # none of them meets a rule: only reading them costs
        records.create("measure", program, Submission(f"Measure {n}", MultiDict({"potential": "100"})))
    session.commit()
    assert statements() == few
