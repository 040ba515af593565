"""What changes between two configurations, in sentences an administrator can check.

:func:`diff` compares two compiled configurations (matching everything by its stable key,
so a new label is a rename, not a removal and an addition) and returns
:class:`ConfigChange` values: a ``kind`` for tooling ("field.added", "stage.removed",
"role.permission_removed", ...), the place in the new documents (or the old ones, for
something removed) as file and JSON Pointer, and a sentence such as "Field *Capex
amount* added to *Measure*" or "Step *CFO approval*: threshold 250,000 -> 500,000".
Labels are marked with asterisks; screens render them emphasised.

Pure functions over immutable values: no database, no Flask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from steerco.config.expressions import Expression
from steerco.config.model import (
    ApprovalStep, ExceptionRule, Field, Level, Report, Role, StatusDimension, TenantConfig, Transition, Workflow,
)


@dataclass(frozen=True)
class ConfigChange:
    """One difference between two configurations."""

    kind: str
    file: str
    pointer: str
    text: str

    @property
    def path(self) -> str:
        return f"{self.file}:{self.pointer or '/'}"

    def as_data(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "text": self.text}


# -- places in the documents -------------------------------------------------------------

def pointer_of(documents: Mapping[str, Any] | None, file: str, *steps: str) -> str:
    """JSON Pointer of a keyed item: ``steps`` alternate a list's name and an item key,
    e.g. ("workflows", "gates", "transitions", "decide")."""
    node: Any = (documents or {}).get(file)
    parts: list[str] = []
    for list_name, key in zip(steps[::2], steps[1::2]):
        items = node.get(list_name) if isinstance(node, dict) else None
        index = next((i for i, item in enumerate(items or []) if isinstance(item, dict) and item.get("key") == key),
                     None) if isinstance(items, list) else None
        if index is None:
            break
        parts += [list_name, str(index)]
        node = items[index]  # type: ignore[index]
    return "/" + "/".join(parts) if parts else ""


class _Collector:
    """Gathers changes; knows both configurations and both sets of documents."""

    def __init__(self, old: TenantConfig, new: TenantConfig, old_docs: Mapping[str, Any] | None,
                 new_docs: Mapping[str, Any] | None):
        self.old, self.new = old, new
        self.old_docs, self.new_docs = old_docs, new_docs
        self.changes: list[ConfigChange] = []

    def add(self, kind: str, file: str, steps: Sequence[str], text: str, *, removed: bool = False) -> None:
        documents = self.old_docs if removed else self.new_docs
        self.changes.append(ConfigChange(kind, f"{file}.json", pointer_of(documents, file, *steps), text))


# -- values in words -------------------------------------------------------------------

def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}"


def fmt(value: Any) -> str:
    """A configuration value as it reads in a sentence."""
    if value is None or value == () or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, Expression):
        return f"“{value.source}”"
    if isinstance(value, (tuple, list, frozenset, set)):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) or "none"
    return str(value)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _expression_change(name: str, old: Expression | None, new: Expression | None) -> str:
    """``threshold 250,000 -> 500,000`` when only one number differs, else both expressions."""
    if old is not None and new is not None:
        old_numbers, new_numbers = _NUMBER.findall(old.source), _NUMBER.findall(new.source)
        if _NUMBER.sub("#", old.source) == _NUMBER.sub("#", new.source) and len(old_numbers) == len(new_numbers):
            differing = [(a, b) for a, b in zip(old_numbers, new_numbers) if a != b]
            if len(differing) == 1:
                a, b = differing[0]
                return f"{name} {_number(float(a))} -> {_number(float(b))}"
    return f"{name} {fmt(old)} -> {fmt(new)}"


def _said(name: str, old: Any, new: Any) -> str:
    if isinstance(old, Expression) or isinstance(new, Expression):
        return _expression_change(name, old, new)
    return f"{name} {fmt(old)} -> {fmt(new)}"


def _attributes(collector: _Collector, kind: str, file: str, steps: Sequence[str], subject: str,
                old: Any, new: Any, names: Mapping[str, str],
                shown: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
    """One change per differing attribute: "<subject>: <name> <old> -> <new>"."""
    for attr, name in names.items():
        before, after = getattr(old, attr), getattr(new, attr)
        if before == after:
            continue
        if shown and attr in shown:
            before, after = shown[attr](before), shown[attr](after)
            if before == after:
                continue
        collector.add(kind, file, steps, f"{subject}: {_said(name, before, after)}")


def _keyed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, kept) keys, in the new (resp. old) order."""
    return ([k for k in new if k not in old], [k for k in old if k not in new], [k for k in new if k in old])


def _labels(keys: Iterable[str], labelled: Mapping[str, Any], attr: str = "label") -> tuple[str, ...]:
    return tuple(getattr(labelled[k], attr) if k in labelled else k for k in keys)


def _em(label: str) -> str:
    return f"*{label}*"


# -- tenant ------------------------------------------------------------------------------

def _tenant(c: _Collector) -> None:
    def periods(config: TenantConfig) -> str:
        if not config.periods:
            return "none"
        return f"{config.periods[0].label} – {config.periods[-1].label} ({len(config.periods)})"

    _attributes(c, "tenant.changed", "tenant", (), "Workspace", c.old, c.new,
                {"name": "name", "currency": "currency", "locale": "locale",
                 "fiscal_year_start": "fiscal year start (month)", "branding": "branding"})
    if periods(c.old) != periods(c.new):
        c.add("tenant.changed", "tenant", (), f"Workspace: reporting periods {periods(c.old)} -> {periods(c.new)}")


# -- fields and where levels place them ---------------------------------------------------

FIELD_ATTRIBUTES = {
    "type": "type", "help": "help", "min": "minimum", "max": "maximum", "max_length": "maximum length",
    "default": "default", "placeholder": "placeholder", "visible_if": "visible if", "editable_if": "editable if",
    "rollup": "rollup", "expression": "expression", "result_type": "result type", "target_level": "target level",
    "accept": "accepted files", "max_size_mb": "maximum size (MB)", "scenarios": "scenarios",
    "unit": "unit", "direction": "direction",
}


def _required(field: Field, config: TenantConfig) -> str:
    if field.required_always:
        return "always"
    if field.required_from_stage:
        label = next((s.label for w in config.workflows.values() for s in w.stages
                      if s.key == field.required_from_stage), field.required_from_stage)
        return f"from stage {label}"
    return "no"


def _levels_with(config: TenantConfig, key: str) -> list[Level]:
    return [level for level in config.levels.values() if level.field(key) is not None]


def _fields(c: _Collector) -> None:
    added, removed, kept = _keyed(c.old.fields, c.new.fields)
    for key in added:
        field = c.new.fields[key]
        places = _levels_with(c.new, key)
        where = " to " + ", ".join(_em(lv.label) for lv in places) if places else " (on no level yet)"
        c.add("field.added", "fields", ("fields", key), f"Field {_em(field.label)} added{where}")
    for key in removed:
        field = c.old.fields[key]
        places = _levels_with(c.old, key)
        where = " from " + ", ".join(_em(lv.label) for lv in places) if places else ""
        c.add("field.removed", "fields", ("fields", key),
              f"Field {_em(field.label)} removed{where} (its values are kept)", removed=True)
    for key in kept:
        old, new = c.old.fields[key], c.new.fields[key]
        steps = ("fields", key)
        subject = f"Field {_em(new.label)}"
        if old.label != new.label:
            c.add("field.renamed", "fields", steps,
                  f"Field {_em(old.label)} renamed to {_em(new.label)} (same key {key!r}: its values stay)")
        _attributes(c, "field.changed", "fields", steps, subject, old, new, FIELD_ATTRIBUTES)
        if _required(old, c.old) != _required(new, c.new):
            c.add("field.required", "fields", steps,
                  f"{subject}: required {_required(old, c.old)} -> {_required(new, c.new)}")
        for role_attr, name in (("read_roles", "read roles"), ("write_roles", "write roles")):
            before, after = getattr(old, role_attr), getattr(new, role_attr)
            if set(before) != set(after):
                said = (lambda roles, config: fmt(_labels(roles, config.roles)) if roles else "every role")
                c.add("field.roles", "fields", steps, f"{subject}: {name} {said(before, c.old)} -> {said(after, c.new)}")
        _options(c, "field.option", ("fields", key), subject, old.options, new.options, "fields")


def _options(c: _Collector, kind: str, steps: Sequence[str], subject: str, old: Sequence[Any],
             new: Sequence[Any], file: str) -> None:
    before, after = {o.key: o for o in old}, {o.key: o for o in new}
    added, removed, kept = _keyed(before, after)
    for key in added:
        c.add(f"{kind}_added", file, steps, f"{subject}: option {_em(after[key].label)} added")
    for key in removed:
        c.add(f"{kind}_removed", file, steps, f"{subject}: option {_em(before[key].label)} removed")
    for key in kept:
        if before[key].label != after[key].label:
            c.add(f"{kind}_renamed", file, steps,
                  f"{subject}: option {_em(before[key].label)} renamed to {_em(after[key].label)}")
        if before[key].color != after[key].color:
            c.add(f"{kind}_changed", file, steps, f"{subject}: option {_em(after[key].label)} colour "
                                                  f"{fmt(before[key].color)} -> {fmt(after[key].color)}")
    if [k for k in before if k in after] != [k for k in after if k in before]:
        c.add(f"{kind}s_reordered", file, steps, f"{subject}: options reordered")


LEVEL_ATTRIBUTES = {
    "label_plural": "plural label", "number_prefix": "number prefix", "number_digits": "number digits",
    "workflow": "workflow", "title_label": "title label", "list_columns": "list columns",
}


def _levels(c: _Collector) -> None:
    added, removed, kept = _keyed(c.old.levels, c.new.levels)
    for key in added:
        level = c.new.levels[key]
        under = " under " + ", ".join(_em(lb) for lb in _labels(level.parents, c.new.levels)) if level.parents else " at the top"
        c.add("level.added", "levels", ("levels", key), f"Level {_em(level.label)} added{under}")
    for key in removed:
        c.add("level.removed", "levels", ("levels", key),
              f"Level {_em(c.old.levels[key].label)} removed", removed=True)
    for key in kept:
        old, new = c.old.levels[key], c.new.levels[key]
        steps = ("levels", key)
        subject = f"Level {_em(new.label)}"
        if old.label != new.label:
            c.add("level.renamed", "levels", steps, f"Level {_em(old.label)} renamed to {_em(new.label)}")
        _attributes(c, "level.changed", "levels", steps, subject, old, new, LEVEL_ATTRIBUTES)
        if set(old.parents) != set(new.parents):
            c.add("level.changed", "levels", steps, f"{subject}: parents "
                  f"{fmt(_labels(old.parents, c.old.levels))} -> {fmt(_labels(new.parents, c.new.levels))}")
        _placements(c, old, new)


def _placements(c: _Collector, old: Level, new: Level) -> None:
    """Fields put on or taken off a kept level, sections, and the order of fields."""
    steps = ("levels", new.key)
    before = {f.key: s for s in old.sections for f in s.fields}
    after = {f.key: s for s in new.sections for f in s.fields}
    for key in after:
        if key not in before and key in c.old.fields:  # a new field is announced with its addition
            c.add("level.field_added", "levels", steps,
                  f"Field {_em(c.new.fields[key].label)} added to {_em(new.label)}")
    for key in before:
        if key not in after and key in c.new.fields:  # a removed field is announced with its removal
            c.add("level.field_removed", "levels", steps,
                  f"Field {_em(c.new.fields[key].label)} taken off {_em(new.label)} (its values are kept)")
    old_sections, new_sections = {s.key: s for s in old.sections}, {s.key: s for s in new.sections}
    s_added, s_removed, s_kept = _keyed(old_sections, new_sections)
    for key in s_added:
        c.add("level.section_added", "levels", steps, f"{_em(new.label)}: section {_em(new_sections[key].label)} added")
    for key in s_removed:
        c.add("level.section_removed", "levels", steps,
              f"{_em(new.label)}: section {_em(old_sections[key].label)} removed")
    for key in s_kept:
        if old_sections[key].label != new_sections[key].label:
            c.add("level.section_renamed", "levels", steps, f"{_em(new.label)}: section "
                  f"{_em(old_sections[key].label)} renamed to {_em(new_sections[key].label)}")
    for key in after:
        if key in before and before[key].key != after[key].key and before[key].key in new_sections:
            c.add("level.field_moved", "levels", steps, f"Field {_em(c.new.fields[key].label)} moved from section "
                  f"{_em(before[key].label)} to {_em(after[key].label)} on {_em(new.label)}")
    common_before = [k for k in before if k in after]
    common_after = [k for k in after if k in before]
    if common_before != common_after and not any(before[k].key != after[k].key for k in common_after):
        c.add("level.fields_reordered", "levels", steps, f"Fields of {_em(new.label)} reordered")


# -- roles -------------------------------------------------------------------------------

SCOPE_WORDS = {"tenant": "everywhere", "subtree": "in their part of the hierarchy", "own": "on records they own"}


def _grants(role: Role) -> set[tuple[str, str, str]]:
    return {(level, action, p.scope) for p in role.permissions for level in p.levels for action in p.actions}


def _level_name(key: str, config: TenantConfig) -> str:
    return "every level" if key == "*" else _em(config.levels[key].label) if key in config.levels else key


def _roles(c: _Collector) -> None:
    added, removed, kept = _keyed(c.old.roles, c.new.roles)
    for key in added:
        c.add("role.added", "roles", ("roles", key), f"Role {_em(c.new.roles[key].label)} added")
    for key in removed:
        c.add("role.removed", "roles", ("roles", key), f"Role {_em(c.old.roles[key].label)} removed", removed=True)
    for key in kept:
        old, new = c.old.roles[key], c.new.roles[key]
        steps = ("roles", key)
        subject = f"Role {_em(new.label)}"
        if old.label != new.label:
            c.add("role.renamed", "roles", steps, f"Role {_em(old.label)} renamed to {_em(new.label)}")
        _attributes(c, "role.changed", "roles", steps, subject, old, new, {"description": "description"})
        if set(old.admin) != set(new.admin):
            c.add("role.admin", "roles", steps, f"{subject}: admin rights {fmt(sorted(old.admin))} -> {fmt(sorted(new.admin))}")
        before, after = _grants(old), _grants(new)
        for kind, verb, grants, config in (("role.permission_added", "may now", after - before, c.new),
                                           ("role.permission_removed", "may no longer", before - after, c.old)):
            grouped: dict[tuple[str, str], list[str]] = {}
            for level, action, scope in sorted(grants):
                grouped.setdefault((level, scope), []).append(action)
            for (level, scope), actions in grouped.items():
                c.add(kind, "roles", steps, f"{subject} {verb} {', '.join(actions)} "
                                           f"{_level_name(level, config)} ({SCOPE_WORDS.get(scope, scope)})")
        for field_key in dict.fromkeys([*old.fields, *new.fields]):
            was, now = old.fields.get(field_key), new.fields.get(field_key)
            if was != now:
                field = c.new.fields.get(field_key) or c.old.fields.get(field_key)
                label = field.label if field else field_key
                c.add("role.field_mode", "roles", steps, f"{subject}: field {_em(label)} "
                      f"{was or 'as the field says'} -> {now or 'as the field says'}")


# -- workflows -----------------------------------------------------------------------------

TRANSITION_ATTRIBUTES = {
    "condition": "condition", "required_fields": "required fields", "required_evidence": "required evidence",
    "escalate_after_days": "escalation after days", "escalate_to": "escalation to",
}
STEP_ATTRIBUTES = {"threshold": "threshold", "quorum": "quorum", "same_approver_allowed": "same approver allowed"}
STAGE_ATTRIBUTES = {"order": "order", "color": "colour", "category": "category", "risk_weight": "risk weight",
                    "plan_frozen": "plan frozen"}


def _stage_labels(workflow: Workflow, keys: Iterable[str | None]) -> tuple[str, ...]:
    return tuple((s.label if (s := workflow.stage(k)) else str(k)) for k in keys if k)


def _workflows(c: _Collector) -> None:
    added, removed, kept = _keyed(c.old.workflows, c.new.workflows)
    for key in added:
        c.add("workflow.added", "workflows", ("workflows", key), f"Workflow {_em(c.new.workflows[key].label)} added")
    for key in removed:
        c.add("workflow.removed", "workflows", ("workflows", key),
              f"Workflow {_em(c.old.workflows[key].label)} removed", removed=True)
    for key in kept:
        _workflow(c, c.old.workflows[key], c.new.workflows[key])


def _workflow(c: _Collector, old: Workflow, new: Workflow) -> None:
    steps = ("workflows", new.key)
    subject = f"Workflow {_em(new.label)}"
    if old.label != new.label:
        c.add("workflow.renamed", "workflows", steps, f"Workflow {_em(old.label)} renamed to {_em(new.label)}")
    if old.initial_stage != new.initial_stage:
        c.add("workflow.changed", "workflows", steps, f"{subject}: first stage "
              f"{fmt(_stage_labels(old, [old.initial_stage]))} -> {fmt(_stage_labels(new, [new.initial_stage]))}")
    before, after = {s.key: s for s in old.stages}, {s.key: s for s in new.stages}
    s_added, s_removed, s_kept = _keyed(before, after)
    for key in s_added:
        c.add("stage.added", "workflows", (*steps, "stages", key), f"Stage {_em(after[key].label)} added to {subject}")
    for key in s_removed:
        c.add("stage.removed", "workflows", (*steps, "stages", key),
              f"Stage {_em(before[key].label)} removed from {subject}", removed=True)
    for key in s_kept:
        stage_steps = (*steps, "stages", key)
        if before[key].label != after[key].label:
            c.add("stage.renamed", "workflows", stage_steps,
                  f"Stage {_em(before[key].label)} renamed to {_em(after[key].label)}")
        _attributes(c, "stage.changed", "workflows", stage_steps, f"Stage {_em(after[key].label)}",
                    before[key], after[key], STAGE_ATTRIBUTES)
    t_before, t_after = {t.key: t for t in old.transitions}, {t.key: t for t in new.transitions}
    t_added, t_removed, t_kept = _keyed(t_before, t_after)
    for key in t_added:
        t = t_after[key]
        c.add("transition.added", "workflows", (*steps, "transitions", key),
              f"Transition {_em(t.label)} added ({fmt(_stage_labels(new, t.sources))} -> "
              f"{fmt(_stage_labels(new, [t.target]))})")
    for key in t_removed:
        c.add("transition.removed", "workflows", (*steps, "transitions", key),
              f"Transition {_em(t_before[key].label)} removed from {subject}", removed=True)
    for key in t_kept:
        _transition(c, old, new, t_before[key], t_after[key], (*steps, "transitions", key))


def _transition(c: _Collector, old_wf: Workflow, new_wf: Workflow, old: Transition, new: Transition,
                steps: tuple[str, ...]) -> None:
    subject = f"Transition {_em(new.label)}"
    if old.label != new.label:
        c.add("transition.renamed", "workflows", steps, f"Transition {_em(old.label)} renamed to {_em(new.label)}")
    if set(old.sources) != set(new.sources) or old.target != new.target:
        c.add("transition.changed", "workflows", steps, f"{subject}: "
              f"{fmt(_stage_labels(old_wf, old.sources))} -> {fmt(_stage_labels(old_wf, [old.target]))} becomes "
              f"{fmt(_stage_labels(new_wf, new.sources))} -> {fmt(_stage_labels(new_wf, [new.target]))}")
    if set(old.roles) != set(new.roles):
        c.add("transition.roles", "workflows", steps, f"{subject}: roles "
              f"{fmt(_labels(old.roles, c.old.roles))} -> {fmt(_labels(new.roles, c.new.roles))}")
    if old.reject_to != new.reject_to:
        c.add("transition.changed", "workflows", steps, f"{subject}: on rejection back to "
              f"{fmt(_stage_labels(old_wf, [old.reject_to]))} -> {fmt(_stage_labels(new_wf, [new.reject_to]))}")
    _attributes(c, "transition.changed", "workflows", steps, subject, old, new, TRANSITION_ATTRIBUTES)
    before, after = {a.key: a for a in old.approvals}, {a.key: a for a in new.approvals}
    added, removed, kept = _keyed(before, after)
    for key in added:
        step = after[key]
        when = f" when {fmt(step.threshold)}" if step.threshold else ""
        c.add("step.added", "workflows", (*steps, "approvals", key),
              f"Step {_em(step.label)} ({_role_label(c.new, step.role)}) added to {subject}{when}")
    for key in removed:
        c.add("step.removed", "workflows", (*steps, "approvals", key),
              f"Step {_em(before[key].label)} removed from {subject}", removed=True)
    for key in kept:
        _step(c, before[key], after[key], (*steps, "approvals", key))
    if [k for k in before if k in after] != [k for k in after if k in before]:
        c.add("transition.changed", "workflows", steps, f"{subject}: approval steps reordered")


def _role_label(config: TenantConfig, key: str) -> str:
    return config.roles[key].label if key in config.roles else key


def _step(c: _Collector, old: ApprovalStep, new: ApprovalStep, steps: tuple[str, ...]) -> None:
    subject = f"Step {_em(new.label)}"
    if old.label != new.label:
        c.add("step.renamed", "workflows", steps, f"Step {_em(old.label)} renamed to {_em(new.label)}")
    if old.deciding_roles != new.deciding_roles:
        c.add("step.changed", "workflows", steps, f"{subject}: role "
              f"{' and '.join(_role_label(c.old, r) for r in old.deciding_roles)} -> "
              f"{' and '.join(_role_label(c.new, r) for r in new.deciding_roles)}")
    if old.parallel_with_previous != new.parallel_with_previous:
        c.add("step.changed", "workflows", steps, f"{subject}: " + (
            "now opens with the step before it" if new.parallel_with_previous else "now waits for the step before it"))
    _attributes(c, "step.changed", "workflows", steps, subject, old, new, STEP_ATTRIBUTES)


def _dimensions(c: _Collector) -> None:
    added, removed, kept = _keyed(c.old.status_dimensions, c.new.status_dimensions)
    for key in added:
        c.add("status.added", "workflows", ("status_dimensions", key),
              f"Status {_em(c.new.status_dimensions[key].label)} added")
    for key in removed:
        c.add("status.removed", "workflows", ("status_dimensions", key),
              f"Status {_em(c.old.status_dimensions[key].label)} removed (its values are kept)", removed=True)
    for key in kept:
        old: StatusDimension = c.old.status_dimensions[key]
        new: StatusDimension = c.new.status_dimensions[key]
        steps = ("status_dimensions", key)
        subject = f"Status {_em(new.label)}"
        if old.label != new.label:
            c.add("status.renamed", "workflows", steps, f"Status {_em(old.label)} renamed to {_em(new.label)}")
        _attributes(c, "status.changed", "workflows", steps, subject, old, new,
                    {"levels": "levels", "default": "default", "comment_required_for": "comment required for"})
        _options(c, "status.option", steps, subject, old.options, new.options, "workflows")


# -- exceptions and reports ----------------------------------------------------------------

RULE_ATTRIBUTES = {"level": "level", "condition": "condition", "owner_role": "owner role", "forum": "forum",
                   "due_days": "due after days", "required_evidence": "required evidence", "escalation": "escalation"}
REPORT_ATTRIBUTES = {"audience": "audience", "level": "level", "filter": "filter", "page_size": "page size",
                     "orientation": "orientation"}


def _labelled(c: _Collector, kind: str, file: str, list_name: str, noun: str, old: Mapping[str, Any],
              new: Mapping[str, Any], attributes: Mapping[str, str], label: str = "label") -> None:
    added, removed, kept = _keyed(old, new)
    for key in added:
        c.add(f"{kind}.added", file, (list_name, key), f"{noun} {_em(getattr(new[key], label))} added")
    for key in removed:
        c.add(f"{kind}.removed", file, (list_name, key), f"{noun} {_em(getattr(old[key], label))} removed",
              removed=True)
    for key in kept:
        before, after = old[key], new[key]
        subject = f"{noun} {_em(getattr(after, label))}"
        if getattr(before, label) != getattr(after, label):
            c.add(f"{kind}.renamed", file, (list_name, key),
                  f"{noun} {_em(getattr(before, label))} renamed to {_em(getattr(after, label))}")
        _attributes(c, f"{kind}.changed", file, (list_name, key), subject, before, after, attributes)
        if isinstance(after, Report) and before.sections != after.sections:
            c.add(f"{kind}.changed", file, (list_name, key), f"{subject}: layout changed")
        if isinstance(after, ExceptionRule) and before.overlap != after.overlap:
            c.add(f"{kind}.changed", file, (list_name, key), f"{subject}: double-count guard {_overlap(before)} -> "
                  f"{_overlap(after)}")


def _overlap(rule: Any) -> str:
    overlap = rule.overlap
    if overlap is None:
        return "none"
    return (f"{'/'.join(overlap.keys)} on {overlap.grid} {overlap.scenario} above "
            f"{overlap.min_overlap:g}")


def _exceptions_and_reports(c: _Collector) -> None:
    _labelled(c, "forum", "exceptions", "forums", "Forum", c.old.forums, c.new.forums, {"role": "role"})
    _labelled(c, "rule", "exceptions", "rules", "Exception rule", c.old.exception_rules, c.new.exception_rules,
              RULE_ATTRIBUTES)
    _labelled(c, "report", "reports", "reports", "Report", c.old.reports, c.new.reports, REPORT_ATTRIBUTES,
              label="title")


# -- the entry point -------------------------------------------------------------------------

def summary(config: TenantConfig) -> str:
    """A whole configuration in one sentence (what a new workspace starts with)."""
    return (f"{len(config.levels)} levels, {len(config.fields)} fields, {len(config.roles)} roles, "
            f"{len(config.workflows)} workflows, {len(config.exception_rules)} exception rules, "
            f"{len(config.reports)} reports")


def diff(old: TenantConfig | None, new: TenantConfig, old_documents: Mapping[str, Any] | None = None,
         new_documents: Mapping[str, Any] | None = None) -> list[ConfigChange]:
    """Every difference from ``old`` to ``new``, file by file; with no ``old``, one change
    that says what the configuration holds."""
    if old is None:
        return [ConfigChange("config.created", "tenant.json", "", f"Configuration {_em(new.name)} created: "
                                                                   f"{summary(new)}")]
    collector = _Collector(old, new, old_documents, new_documents)
    for part in (_tenant, _levels, _fields, _roles, _workflows, _dimensions, _exceptions_and_reports):
        part(collector)
    return collector.changes


__all__ = ["ConfigChange", "diff", "fmt", "pointer_of", "summary"]
