"""A level's cross-field validation rules, checked on every save.

A rule (``levels.json``: ``{"key", "condition", "message", "fields"}``) says what must hold
between the values of a record, e.g. ``potential <= baseline``. Its condition was parsed and
type-checked when the configuration was loaded; here it is evaluated against the values a
save would leave the record with, and each rule that does not hold puts its message at the
fields it names. :meth:`steerco.engine.records.Records._validate` calls
:func:`rule_problems` once, so the form, the API and imports are held to the same rules.

Two decisions, on purpose:

- A rule that cannot be evaluated (a value it reads is empty, or of an unexpected type)
  does not block the save. Rules speak about values that are there; to insist that a value
  is there, make the field required (from a stage on, if need be).
- On an existing record, a rule is checked when the save changes a value it reads (directly
  or through computed fields). A save that touches other fields, say a controller ticking
  "benefit validated", is not held up by values its author may not even be allowed to change.
  A new record is checked against every rule.

Whether a rule reads a field hidden from someone who can trigger it is a configuration
question, refused by ``steerco validate`` (``steerco.config.checks``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Collection, Mapping

from steerco.config.expressions import EvaluationError
from steerco.config.model import Level
from steerco.engine.forms import compute, expression_scope

#: Where a message goes when the field it names is not shown to the user.
FORM_KEY = "_form"


def rule_problems(level: Level, values: Mapping[str, Any], today: dt.date, *,
                  stage: str | None = None, title: str = "",
                  before: Mapping[str, Any] | None = None,
                  shown: Collection[str] | None = None) -> dict[str, str]:
    """``{field key: message}`` for every rule of the level that does not hold for ``values``
    (the record's values after the save).

    ``before`` holds the stored values of an existing record (None for a new one): only rules
    that read a changed value are checked. A message for a field not in ``shown`` (the fields
    the user sees; None: all) goes to ``"_form"``, so it is never lost on a hidden field.
    """
    if not level.rules:
        return {}
    changed = None if before is None else {k for k, v in values.items() if before.get(k) != v}
    due = [rule for rule in level.rules if changed is None or level.depends_on(rule.condition.names) & changed]
    if not due:
        return {}
    scope = expression_scope({**values, **compute(level, values, stage, title, today)}, stage, title, level)
    problems: dict[str, str] = {}
    for rule in due:
        try:
            holds = rule.condition.evaluate_strict(scope, today=today)
        except EvaluationError:
            continue  # cannot tell (an empty value): rules never block on missing data
        if holds or holds is None:  # None: a value it needs is empty, as above
            continue
        for key in rule.fields:
            target = key if shown is None or key in shown else FORM_KEY
            if rule.message not in problems.get(target, ""):
                problems[target] = f"{problems[target]} {rule.message}" if target in problems else rule.message
    return problems
