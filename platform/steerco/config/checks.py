"""Checks that need the compiled configuration, run by :func:`compile_config` after the
schema and semantic passes found nothing:

- **defaults**: each field's default is a valid value of the field;
- **sample runs**: every expression is evaluated on sample values of its level (ordinary
  ones, then the longest texts the fields allow) under the evaluation bounds of
  ``steerco.config.expressions``; one that goes beyond a bound (a number past the limit,
  a text too long, the node or time budget) is refused, so a chain of computed fields
  squaring each other fails here rather than on every save;
- **side channels**: a condition that decides what someone sees must not read a field
  hidden from them. ``editable_if`` is seen by the roles that may write the field (the
  control is enabled or not), a transition's ``condition`` and an approval step's
  ``threshold`` by the roles that may request the transition (the gate opens or not, the
  step appears or not), a level rule by the roles that may change the fields it reads or
  marks (the save is refused or not). Each would tell its reader about the hidden value.

(``visible_if`` and computed fields need no check here: the engine hides a field whose
value or visibility depends on a field hidden from the reader.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

from steerco.config.errors import ConfigProblem, pointer
from steerco.config.expressions import EvaluationError, Expression, LimitExceeded
from steerco.config.model import Field, Level, Role, TenantConfig

#: A number field's sample value: ordinary, so that ordinary arithmetic (a product of a few
#: amounts, a percentage) stays far below the number limit and abuse does not.
SAMPLE_NUMBER = 1000
SAMPLE_DAY = dt.date(2026, 1, 15)
_SAMPLES: dict[str, Any] = {"date": SAMPLE_DAY.isoformat(), "bool": True, "files": [], "user": 1, "record": 1}


def problems(config: TenantConfig) -> list[ConfigProblem]:
    """Every problem of a compiled configuration found by the checks above."""
    found = [*default_problems(config), *sample_problems(config), *side_channel_problems(config)]
    return list(dict.fromkeys(found))


def default_problems(config: TenantConfig) -> list[ConfigProblem]:
    return [ConfigProblem("fields.json", pointer("fields", i, "default"), message, "bad_default")
            for i, fld in enumerate(config.fields.values())
            if (message := fld.kind.check_default(fld))]


# -- sample runs under the evaluation bounds --------------------------------------------------

def _sample(config: TenantConfig, fld: Field, longest: bool) -> Any:
    kind = fld.kind.value_expression_type(fld.result_type)
    if kind == "number":
        low = fld.min if fld.min is not None else -SAMPLE_NUMBER
        high = fld.max if fld.max is not None else SAMPLE_NUMBER
        return min(max(SAMPLE_NUMBER, low), high)
    if kind == "text":
        if fld.options:
            return fld.options[0].key
        return "x" * int(fld.kind.value_schema(fld).get("maxLength", 200)) if longest else "Sample text"
    if kind == "list":
        return list(fld.option_keys)
    if kind == "grid":
        return {s: {config.periods[0].key: float(SAMPLE_NUMBER)} for s in fld.scenarios}
    return _SAMPLES.get(kind)


def _expressions(config: TenantConfig, level_index: int, level: Level) -> Iterator[tuple[str, str, Expression]]:
    """(file, pointer, expression) of every condition evaluated on the level's records."""
    field_index = {key: i for i, key in enumerate(config.fields)}
    for fld in level.fields:
        for attribute in ("visible_if", "editable_if"):
            expression = getattr(fld, attribute)
            if expression is not None:
                yield "fields.json", pointer("fields", field_index[fld.key], attribute), expression
    for r, rule in enumerate(level.rules):
        yield "levels.json", pointer("levels", level_index, "rules", r, "condition"), rule.condition
    for w, workflow in enumerate(config.workflows.values()):
        if workflow.key != level.workflow:
            continue
        for t, transition in enumerate(workflow.transitions):
            base = ("workflows", w, "transitions", t)
            if transition.condition is not None:
                yield "workflows.json", pointer(*base, "condition"), transition.condition
            for a, step in enumerate(transition.approvals):
                if step.threshold is not None:
                    yield "workflows.json", pointer(*base, "approvals", a, "threshold"), step.threshold
    for r, exception in enumerate(config.exception_rules.values()):
        if exception.level == level.key and exception.condition is not None:
            yield "exceptions.json", pointer("rules", r, "condition"), exception.condition
    for r, report in enumerate(config.reports.values()):
        if report.level == level.key and report.filter is not None:
            yield "reports.json", pointer("reports", r, "filter"), report.filter


def sample_problems(config: TenantConfig) -> list[ConfigProblem]:
    """Expressions that go beyond a bound on sample values of their level (each reported
    once, for the first set of samples that shows it)."""
    found: list[ConfigProblem] = []
    field_index = {key: i for i, key in enumerate(config.fields)}
    for level_index, level in enumerate(config.levels.values()):
        workflow = config.workflow_of(level)
        for longest in (False, True):
            scope: dict[str, Any] = {f.key: _sample(config, f, longest) for f in level.fields
                                     if f.expression is None}
            scope.update(stage=workflow.initial_stage if workflow else None,
                         title="x" * 300 if longest else "Sample title")
            for fld in level.computed_order:
                assert fld.expression is not None
                scope[fld.key] = _run(found, "fields.json", pointer("fields", field_index[fld.key], "expression"),
                                      fld.expression, scope, longest)
            for file, where, expression in _expressions(config, level_index, level):
                _run(found, file, where, expression, scope, longest)
    first: dict[tuple[str, str], ConfigProblem] = {}
    for problem in found:
        first.setdefault((problem.file, problem.pointer), problem)
    return list(first.values())


def _run(found: list[ConfigProblem], file: str, where: str, expression: Expression,
         scope: dict[str, Any], longest: bool) -> Any:
    try:
        return expression.evaluate_strict(scope, today=SAMPLE_DAY)
    except LimitExceeded as exc:
        values = ("the longest texts its fields allow" if longest
                  else f"sample values ({SAMPLE_NUMBER:,} in number fields)")
        reason = str(exc).removeprefix(f"{expression.source}: ")
        found.append(ConfigProblem(file, where, f"with {values}, {expression.source!r} goes beyond the "
                                   f"bounds of an evaluation: {reason}", "expression_limit"))
    except EvaluationError:
        pass  # data the samples do not fit (a division by zero, say): not a bound
    return None


# -- side channels ---------------------------------------------------------------------------

class _Visibility:
    """Which fields of a level are hidden from a role on every record, by the role's own
    configuration or because they are computed from (or shown depending on) such a field:
    the same rule as ``steerco.engine.access``, for one role at a time."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str, str], bool] = {}

    def hidden(self, role: Role, level: Level, key: str, _seen: frozenset[str] = frozenset()) -> bool:
        fld = level.field(key)
        if fld is None:
            return False  # a system name (stage, title, today)
        memo = (role.key, level.key, key)
        if memo not in self._memo:
            seen = _seen | {key}
            self._memo[memo] = role.mode_of(fld) == "hidden" or any(
                self.hidden(role, level, dep, seen) for dep in sorted(fld.inputs) if dep not in seen)
        return self._memo[memo]


def _writes(role: Role, level: Level, fld: Field) -> bool:
    """May the role change the field on some record of the level?"""
    if not role.allows("read", level.key) or fld.expression is not None:
        return False
    if role.fields.get(fld.key) == "write":
        return True
    return role.mode_of(fld) == "write" and (role.allows("update", level.key) or role.allows("create", level.key))


def side_channel_problems(config: TenantConfig) -> list[ConfigProblem]:
    found: list[ConfigProblem] = []
    seen = _Visibility()
    field_index = {key: i for i, key in enumerate(config.fields)}
    workflow_index = {key: i for i, key in enumerate(config.workflows)}

    def report(file: str, where: str, role: Role, level: Level, names: frozenset[str], why: str) -> None:
        for name in sorted(names):
            if seen.hidden(role, level, name):
                found.append(ConfigProblem(file, where, f"role {role.key!r} does not see {name!r} on level "
                                           f"{level.key!r}, but {why}, which would tell them about it; base it "
                                           "on fields the role sees, or hide the field from it too", "side_channel"))
                return

    for level_index, level in enumerate(config.levels.values()):
        for fld in level.fields:
            if fld.editable_if is None:
                continue
            where = pointer("fields", field_index[fld.key], "editable_if")
            for role in config.roles.values():
                if _writes(role, level, fld) and not seen.hidden(role, level, fld.key):
                    report("fields.json", where, role, level, fld.editable_if.names,
                           f"whether they may edit {fld.key!r} depends on it (editable_if)")
        for r, rule in enumerate(level.rules):
            where = pointer("levels", level_index, "rules", r, "condition")
            touched = level.depends_on(rule.condition.names) | set(rule.fields)
            for role in config.roles.values():
                if any(_writes(role, level, f) for key in touched if (f := level.field(key))):
                    report("levels.json", where, role, level, rule.condition.names,
                           f"whether their save is refused by rule {rule.key!r} depends on it")
        workflow = config.workflow_of(level)
        if workflow is None:
            continue
        for t, transition in enumerate(workflow.transitions):
            base = ("workflows", workflow_index[workflow.key], "transitions", t)
            requesters = [config.roles[r] for r in transition.roles if r in config.roles
                          and config.roles[r].allows("transition", level.key)
                          and config.roles[r].allows("read", level.key)]
            for role in requesters:
                if transition.condition is not None:
                    report("workflows.json", pointer(*base, "condition"), role, level, transition.condition.names,
                           f"whether they may request {transition.key!r} depends on it (condition)")
                for a, step in enumerate(transition.approvals):
                    if step.threshold is not None:
                        report("workflows.json", pointer(*base, "approvals", a, "threshold"), role, level,
                               step.threshold.names,
                               f"whether step {step.key!r} of {transition.key!r} applies depends on it (threshold)")
    return found
