"""The double-count guard (issue 10, item 7): two measures that claim the same saving (equal
cost line and business unit, planned savings above the overlap in the same period) raise
an exception to the controller on each of them, found by one grouped query per rule, on a
save and on ``steerco tick``; it closes when the overlap goes (``close_when_clear``). The
tenant and the rule are written here, as a consultant would: no code change."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import event, select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import exceptions, jobs, tenants
from steerco.engine.records import Submission
from steerco.store.models import AuditEvent, ExceptionCase, Notification, Record, utcnow

RULE = {"key": "double_count", "label": "Saving claimed twice", "level": "measure",
        "overlap": {"keys": ["category", "unit"], "grid": "financials", "scenario": "plan", "min_overlap": 100},
        "owner_role": "controller", "due_days": 10, "close_when_clear": True}


def documents(rule: dict[str, Any] | None = RULE) -> dict[str, Any]:
    docs = minimal_documents()
    docs["fields"]["fields"].append({"key": "unit", "label": "Business unit", "type": "text"})
    docs["levels"]["levels"][1]["sections"][0]["fields"].append("unit")
    docs["roles"]["roles"].append({"key": "controller", "label": "Controller", "permissions": [
        {"levels": ["*"], "actions": ["read"], "scope": "tenant"}]})
    docs["exceptions"] = {"rules": [copy.deepcopy(rule)] if rule else []}
    return docs


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    controller = make_user(tenant, [("controller", None)])
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Program", MultiDict()))
    session.commit()
    return tenant, {"admin": admin, "controller": controller}, records, program


def _measure(records, program, title: str, unit: str = "Plant A", category: str = "procurement",  # type: ignore[no-untyped-def]
             **plan: str) -> Record:
    data = {"unit": unit, "category": category, **{f"financials.plan.{p}": v for p, v in plan.items()}}
    return records.create("measure", program, Submission(title, MultiDict(data)))


def _open(session) -> list[int]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return sorted(c.record_id for c in session.scalars(select(ExceptionCase).where(ExceptionCase.state == "open")))


def _plan(**periods: str) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in periods.items()}


def test_two_measures_claiming_the_same_saving_raise_it_on_each(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, people, records, program = world
    first = _measure(records, program, "Steel contract", **_plan(**{"2026_01": "500"}))
    other_unit = _measure(records, program, "Steel, plant B", unit="Plant B", **_plan(**{"2026_01": "500"}))
    other_month = _measure(records, program, "Steel, later", **_plan(**{"2026_02": "500"}))
    small = _measure(records, program, "Steel, small", **_plan(**{"2026_01": "50"}))  # below the overlap
    session.commit()
    assert _open(session) == []
    second = _measure(records, program, "Steel again", **_plan(**{"2026_01": "300", "2026_02": "20"}))
    session.commit()
    assert _open(session) == sorted([first.id, second.id])
    raised = session.scalars(select(AuditEvent).where(AuditEvent.kind == "exception.raised")).all()
    assert sorted(e.record_id for e in raised) == sorted([first.id, second.id])
    assert f"claimed by {first.number} as well" in next(e for e in raised if e.record_id == second.id).data["summary"]
    told = set(session.scalars(select(Notification.user_id).where(Notification.kind == "exception.raised")))
    assert told == {people["controller"].id}
    # Saving again changes nothing; the others never overlapped.
    records.update(second, Submission(second.title, MultiDict({"unit": "Plant A", "category": "procurement",
                                                               "financials.plan.2026-01": "310"})), second.version)
    session.commit()
    assert _open(session) == sorted([first.id, second.id]) and {other_unit.id, other_month.id, small.id}.isdisjoint(
        _open(session))
    # The overlap goes (another business unit): both cases close by themselves.
    records.update(second, Submission(second.title, MultiDict({"unit": "Plant C", "category": "procurement",
                                                               "financials.plan.2026-01": "310"})), second.version)
    session.commit()
    assert _open(session) == []
    closed = session.scalars(select(ExceptionCase)).all()
    assert {c.state for c in closed} == {"closed"} and len(closed) == 2


def test_tick_raises_an_overlap_exactly_once_in_one_query_per_rule(session, world, make_tenant, db_engine) -> None:  # type: ignore[no-untyped-def]
    tenant, people, records, program = world
    tenants.store_config(session, documents(rule=None))  # the rule comes after the data
    session.commit()
    config = tenants.active_config(session, tenant)
    from steerco.engine.records import Records
    records = Records(session, tenant.id, config, records.access)
    a = _measure(records, program, "A", **_plan(**{"2026_03": "1000"}))
    b = _measure(records, program, "B", **_plan(**{"2026_03": "1000"}))
    session.commit()
    assert _open(session) == []
    tenants.store_config(session, documents())
    session.commit()

    def statements() -> tuple[tuple[int, int], int]:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
        event.listen(db_engine, "before_cursor_execute", listener)
        try:
            result = jobs.review_exceptions(session, utcnow())
        finally:
            event.remove(db_engine, "before_cursor_execute", listener)
        return result, len([s for s in seen if "period_value" in s.lower()])

    assert statements() == ((2, 0), 1)  # one grouped query for the rule, whatever the number of records
    assert _open(session) == sorted([a.id, b.id])
    assert statements() == ((0, 0), 1)  # exactly once
    config = tenants.active_config(session, tenant)
    records = Records(session, tenant.id, config, records.access)
    for n in range(30):
        _measure(records, program, f"M{n}", unit=f"Unit {n}", **_plan(**{"2026_03": "1000"}))
    session.commit()
    assert statements() == ((0, 0), 1)


def test_an_overlap_rule_a_consultant_adds_works_without_code(session, world) -> None:  # type: ignore[no-untyped-def]
    tenant, people, records, program = world
    docs = documents()
    docs["exceptions"]["rules"].append({"key": "same_unit_actuals", "label": "Actuals booked twice",
                                        "level": "measure", "owner_role": "admin", "due_days": 3,
                                        "overlap": {"keys": ["unit"], "grid": "financials", "scenario": "actual"}})
    tenants.store_config(session, docs)
    session.commit()
    config = tenants.active_config(session, tenant)
    from steerco.engine.records import Records
    records = Records(session, tenant.id, config, records.access)
    one = records.create("measure", program, Submission("One", MultiDict({"unit": "X", "financials.actual.2026-01": "5"})))
    two = records.create("measure", program, Submission("Two", MultiDict({"unit": "X", "financials.actual.2026-01": "7"})))
    session.commit()
    assert [(c.rule_key, c.record_id) for c in session.scalars(select(ExceptionCase).order_by(ExceptionCase.record_id))] \
        == [("same_unit_actuals", one.id), ("same_unit_actuals", two.id)]
    assert exceptions.overlapping(session, tenant.id, config, config.exception_rules["same_unit_actuals"]) == \
        {one.id: two.number, two.id: one.number}
