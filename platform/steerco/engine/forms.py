"""The state of each field of a form: one function, used by every path.

``field_states`` decides, for a level, a record's values, its stage and the actor, whether
each field is visible, editable and required now. The htmx form, the submit validation,
the API and reports all call it, so a conditional rule cannot be enforced in one place
and forgotten in another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from steerco.config.expressions import RELATED
from steerco.config.model import Field, Level, TenantConfig
from steerco.engine.access import Access
from steerco.store.models import Record


@dataclass(frozen=True)
class FieldState:
    visible: bool
    editable: bool
    required: bool
    mode: str


#: up to this many choices a lookup field is a plain select; beyond, the form offers a search
LOOKUP_SELECT_MAX = 300


@dataclass
class Lookups:
    """Choices for fields whose options live in the database (users, records).

    A source with more than :data:`LOOKUP_SELECT_MAX` entries holds None: the form then
    offers search-as-you-type instead of a select, and a save checks the chosen id on
    its own (never membership in a list), so no valid choice is ever refused.
    """

    users: list[tuple[int, str]] | None = field(default_factory=list)
    records: dict[str, list[tuple[int, str]] | None] = field(default_factory=dict)

    def choices(self, fld: Field) -> list[tuple[int, str]] | None:
        source = getattr(fld.kind, "lookup", None)
        if source == "users":
            return self.users
        if source == "records":
            return self.records.get(fld.target_level or "", [])
        return []

    def searchable(self, fld: Field) -> bool:
        """True when the field's choices are too many for a select."""
        return self.choices(fld) is None


def expression_scope(values: Mapping[str, Any], stage: str | None, title: str,
                     level: Level | None = None) -> dict[str, Any]:
    """What an expression sees: the record's values plus the system names; given the
    ``level``, each value as its field's type offers it to expressions (a measure grid
    knows which way is better, for ``on_track``)."""
    scope = {**values, "stage": stage, "title": title}
    if level is not None:
        for fld in level.expression_typed:
            if fld.key in scope:
                scope[fld.key] = fld.kind.expression_value(fld, scope[fld.key])
    return scope


def compute_checked(level: Level, values: Mapping[str, Any], stage: str | None, title: str,
                    today: dt.date | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The level's computed values, in dependency order, and the problems of those whose
    expression gave a value of another type than their ``result_type``.

    Such a value becomes None (it is never stored, sorted or shown as if it were a number);
    its problem ("cannot be computed: ...") is what pages, lists and exports show instead.
    """
    scope = expression_scope(values, stage, title, level)
    computed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for fld in level.computed_order:
        assert fld.expression is not None
        if fld.expression.uses_related and RELATED not in scope:
            # Values read without the records around (a list's page): the one its last save stored.
            computed[fld.key] = scope[fld.key] = values.get(fld.key)
            continue
        value = fld.expression.evaluate(scope, today=today)
        problem = fld.kind.value_problem(fld, value)
        if problem:
            problems[fld.key], value = problem, None
        computed[fld.key] = scope[fld.key] = value
    return computed, problems


def compute(level: Level, values: Mapping[str, Any], stage: str | None, title: str,
            today: dt.date | None = None) -> dict[str, Any]:
    """The level's computed values, in dependency order, from the other values (a value
    of the wrong type is None; :func:`compute_checked` says why)."""
    return compute_checked(level, values, stage, title, today)[0]


def stage_reached(config: TenantConfig, level: Level, stage: str | None, threshold: str) -> bool:
    workflow = config.workflow_of(level)
    if workflow is None:
        return False
    current, needed = workflow.stage(stage), workflow.stage(threshold)
    return current is not None and needed is not None and current.order >= needed.order


def _holds_status(config: TenantConfig, level: Level, fld: Field) -> bool:
    """A field named like a status dimension changes only through a status change, which
    keeps its own history and may require a reason; the form shows it read-only."""
    dimension = config.status_dimensions.get(fld.key)
    return dimension is not None and level.key in dimension.levels


def shown(fld: Field, mode: str, scope: Mapping[str, Any] | None, today: dt.date | None) -> bool:
    """Whether a field is shown on a record: the reader's mode does not hide it and its own
    ``visible_if`` holds. The one rule for forms, record pages, lists and exports."""
    return mode != "hidden" and (fld.visible_if is None or fld.visible_if.holds(scope, today=today))


def field_states(config: TenantConfig, level: Level, values: Mapping[str, Any], *,
                 stage: str | None, title: str, access: Access, record: Record | None,
                 today: dt.date | None = None, parent: Record | None = None,
                 computed: Mapping[str, Any] | None = None) -> dict[str, FieldState]:
    """Visible / editable / required for every field of the level, right now (for a new
    record under ``parent`` when ``record`` is None). ``computed`` are the level's computed
    values when the caller has them already."""
    if computed is None:
        computed = compute(level, values, stage, title, today)
    scope = expression_scope({**values, **computed}, stage, title, level)
    states: dict[str, FieldState] = {}
    for fld in level.fields:
        mode = access.field_mode(fld, record, level.key) if record is not None \
            else access.new_record_mode(fld, level.key, parent)
        visible = shown(fld, mode, scope, today)
        editable = (visible and mode == "write" and fld.kind.accepts_input
                    and not _holds_status(config, level, fld)
                    and (fld.editable_if is None or fld.editable_if.holds(scope, today=today)))
        required = editable and (fld.required_always or (
            fld.required_from_stage is not None
            and stage_reached(config, level, stage, fld.required_from_stage)))
        states[fld.key] = FieldState(visible, editable, required, mode)
    return states
