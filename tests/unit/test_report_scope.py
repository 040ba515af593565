"""Report filters run in SQL and must select exactly the records the expression language
holds true for, record by record, missing values included (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from steerco.config.expressions import parse
from steerco.engine.forms import expression_scope
from steerco.reports.scope import sql_condition
from steerco.store.models import Record

TODAY = dt.date(2026, 6, 15)

#: (title, stage, form values) of the measures every case filters
MEASURES = [
    ("Alpha", "defined", {"potential": "100", "category": "procurement", "due": "2026-01-31"}),
    ("Beta", "decided", {"potential": "250", "has_capex": "1", "capex_amount": "40", "due": "2026-12-31"}),
    ("Gamma", "closed", {"category": "personnel"}),
    ("Delta", "defined", {"potential": "0", "has_capex": "0", "description": "Quick win"}),
    ("Epsilon", "decided", {"potential": "99.5", "category": "procurement", "due": "2026-06-15"}),
]

EXPRESSIONS = [
    "stage != 'closed'", "stage in ['defined', 'decided']", "stage not in ['defined']",
    "potential >= 100", "potential < 100", "100 <= potential", "potential != 100", "potential == 0",
    "potential is None", "potential is not None", "potential == None",
    "empty(category)", "not empty(due)", "empty(description)",
    "has_capex", "not has_capex", "has_capex == True",
    "category == 'procurement' or potential < 50", "category not in ['procurement']",
    "not (category == 'procurement') and stage != 'closed'",
    "title == 'Alpha'", "due < today", "due >= today", "today > due",
    "potential", "not potential", "category", "potential > -1",
    # a missing value fails an ordering comparison, and a failure makes the whole filter false,
    # unless and/or decided before reaching it
    "not (potential < 100)", "has_capex or potential < 100", "potential < 100 or has_capex",
    "empty(potential) or potential < 100", "potential > 50 and not has_capex",
    "not (due < today) or stage == 'closed'", "stage == 'closed' and due < today",
]


@pytest.fixture
def measures(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    records = records_for(tenant, make_user(tenant))
    program = records.create("program", None, _submission("Program", {}))
    created = []
    for title, stage, values in MEASURES:
        record = records.create("measure", program, _submission(title, values))
        session.execute(update(Record).where(Record.id == record.id).values(stage_key=stage))
        created.append(record.id)
    session.commit()
    session.expire_all()
    return records.config.levels["measure"], created


def _submission(title, values):  # type: ignore[no-untyped-def]
    from steerco.engine.records import Submission

    return Submission(title, MultiDict(values))


def test_the_sql_filter_selects_what_the_expression_holds_for(session, measures) -> None:  # type: ignore[no-untyped-def]
    level, ids = measures
    rows = list(session.scalars(select(Record).where(Record.id.in_(ids))))
    wrong = []
    for source in EXPRESSIONS:
        expression = parse(source)
        expected = {r.title for r in rows if expression.holds(
            expression_scope(r.values or {}, r.stage_key, r.title), today=TODAY)}
        found = set(session.scalars(select(Record.title).where(Record.id.in_(ids),
                                                               sql_condition(expression, level, TODAY))))
        if found != expected:
            wrong.append(f"{source}: SQL {sorted(found)}, expressions {sorted(expected)}")
    assert wrong == []
