"""Save-time validation rules of a level and text patterns, through the record engine.

A measure owner saving a capex amount above the potential hears the rule's message at the
capex field; a rule that cannot be evaluated (the potential is empty) does not hold the
save up; a save that changes nothing a rule reads is not held up by it either; and a text
field's pattern is checked with the tenant's message. Every path that saves (form, API,
import) goes through ``Records``, so these tests go through it too.
"""

from __future__ import annotations

import datetime as dt

import pytest
from configs import minimal_documents  # tests/ is on sys.path (conftest)
from werkzeug.datastructures import MultiDict

from steerco.config import compile_config
from steerco.engine.errors import ValidationFailed
from steerco.engine.records import Submission
from steerco.engine.rules import rule_problems

MESSAGE = "Capex cannot exceed the potential."
TODAY = dt.date(2026, 3, 2)


def rule_documents():  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    measure = documents["levels"]["levels"][1]
    measure["rules"] = [{"key": "capex_within_potential", "condition": "capex_amount <= potential",
                         "message": MESSAGE, "fields": ["capex_amount"]}]
    documents["fields"]["fields"][3]["required"] = False  # capex_amount
    documents["fields"]["fields"].append(
        {"key": "plant_code", "label": "Plant code", "type": "text", "max_length": 20,
         "pattern": {"regex": "^[A-Z]{2}-[0-9]{4}$", "message": "Use the form AB-1234."}})
    measure["sections"][0]["fields"].append("plant_code")
    return documents


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(rule_documents())
    records = records_for(tenant, make_user(tenant, [("admin", None)]))
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return records, program


def _save(records, program, **values):  # type: ignore[no-untyped-def]
    return records.create("measure", program, Submission("Steel bundling", MultiDict(values)))


# -- rule_problems: the engine function ------------------------------------------------------

LEVEL = compile_config(rule_documents()).levels["measure"]


def test_a_rule_that_does_not_hold_puts_its_message_at_its_fields():
    assert rule_problems(LEVEL, {"potential": 100, "capex_amount": 500}, TODAY) == {"capex_amount": MESSAGE}
    assert rule_problems(LEVEL, {"potential": 500, "capex_amount": 500}, TODAY) == {}


def test_a_rule_that_cannot_be_evaluated_because_a_value_is_empty_does_not_block():
    assert rule_problems(LEVEL, {"potential": None, "capex_amount": 500}, TODAY) == {}
    assert rule_problems(LEVEL, {"capex_amount": 500}, TODAY) == {}


def test_on_an_existing_record_only_rules_reading_a_changed_value_are_checked():
    stored = {"potential": 100, "capex_amount": 500, "due": "2026-01-01"}

    assert rule_problems(LEVEL, {**stored, "due": "2026-06-01"}, TODAY, before=stored) == {}
    assert rule_problems(LEVEL, {**stored, "potential": 90}, TODAY, before=stored) == {"capex_amount": MESSAGE}


def test_a_message_for_a_field_the_user_does_not_see_goes_to_the_form():
    problems = rule_problems(LEVEL, {"potential": 100, "capex_amount": 500}, TODAY, shown={"potential"})

    assert problems == {"_form": MESSAGE}


# -- through the record engine ---------------------------------------------------------------

def test_a_save_that_breaks_a_rule_is_refused_with_the_rule_s_message(world):  # type: ignore[no-untyped-def]
    records, program = world

    with pytest.raises(ValidationFailed) as refused:
        _save(records, program, potential="1000", has_capex="1", capex_amount="5000")

    assert refused.value.errors == {"capex_amount": MESSAGE}
    assert refused.value.submitted["capex_amount"] == 5000  # what was typed is kept for the form


def test_a_save_within_the_rule_or_with_the_potential_still_empty_goes_through(world, session):  # type: ignore[no-untyped-def]
    records, program = world

    within = _save(records, program, potential="10000", has_capex="1", capex_amount="5000")
    open_question = _save(records, program, has_capex="1", capex_amount="5000")
    session.commit()

    assert within.values["capex_amount"] == 5000 and open_question.values["capex_amount"] == 5000


def test_an_update_that_breaks_the_rule_is_refused_and_one_that_does_not_touch_it_is_not(world, session):  # type: ignore[no-untyped-def]
    records, program = world
    measure = _save(records, program, has_capex="1", capex_amount="5000")
    session.commit()

    with pytest.raises(ValidationFailed) as refused:
        records.update(measure, Submission(measure.title, MultiDict({"potential": "100"})), measure.version)
    assert refused.value.errors == {"capex_amount": MESSAGE}
    session.rollback()

    # Data that breaks a rule added later does not hold up a save about something else.
    measure.values = {**measure.values, "potential": 100}
    session.commit()
    records.update(measure, Submission(measure.title, MultiDict({"due": "2026-12-31"})), measure.version)
    session.commit()
    assert measure.values["due"] == "2026-12-31"


def test_a_text_that_does_not_match_the_pattern_is_refused_with_the_tenant_s_message(world):  # type: ignore[no-untyped-def]
    records, program = world

    with pytest.raises(ValidationFailed) as refused:
        _save(records, program, plant_code="duisburg")

    assert refused.value.errors == {"plant_code": "Use the form AB-1234."}
    assert _save(records, program, plant_code="DU-0042").values["plant_code"] == "DU-0042"


def test_a_pattern_is_matched_in_linear_time_whatever_the_text(world):  # type: ignore[no-untyped-def]
    # RE2 does not backtrack: a pattern that is catastrophic for Python's re stays instant.
    from steerco.fields.types import compile_pattern

    started = dt.datetime.now()
    assert compile_pattern("^(a+)+$").search("a" * 50_000 + "b") is None
    assert (dt.datetime.now() - started).total_seconds() < 1
