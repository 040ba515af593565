"""The compiled, immutable form of a tenant configuration.

A ``TenantConfig`` is built once per activated configuration version by
:func:`steerco.config.compiler.compile_config` and shared by every request; nothing here
is mutated after compilation (frozen dataclasses, tuples and read-only mappings).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Mapping

from steerco.config.expressions import Expression

if TYPE_CHECKING:
    from steerco.fields.base import FieldType

Rollup = Literal["none", "sum", "avg", "min", "max", "count"]
FieldMode = Literal["hidden", "read", "write"]
Action = Literal["create", "read", "update", "delete", "transition", "approve", "comment", "assign_owner"]
Scope = Literal["tenant", "subtree", "own"]
ACTIONS: tuple[Action, ...] = ("create", "read", "update", "delete", "transition", "approve", "comment",
                               "assign_owner")
SCENARIOS = ("plan", "forecast", "actual")
SYSTEM_COLUMNS = ("number", "title", "owner", "stage", "updated_at")


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only view of a fresh dict, for compiled lookups by key."""
    return MappingProxyType(dict(items or {}))


def default_number_prefix(level_key: str) -> str:
    """The record-number prefix of a level that configures none."""
    return level_key[:3].upper()


def deep_freeze(value: Any) -> Any:
    """JSON data made immutable all the way down (dicts to read-only maps, lists to tuples)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(deep_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    color: str | None = None


@dataclass(frozen=True)
class Period:
    """One reporting period; ``key`` is its first month, ``YYYY-MM``."""

    key: str
    label: str


@dataclass(frozen=True)
class Field:
    """A field definition; ``kind`` is its entry in the field-type registry."""

    key: str
    label: str
    type: str
    kind: "FieldType" = field(repr=False, compare=False)
    help: str = ""
    required_always: bool = False
    required_from_stage: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    default: Any = None
    placeholder: str = ""
    options: tuple[Option, ...] = ()
    visible_if: Expression | None = None
    editable_if: Expression | None = None
    read_roles: tuple[str, ...] = ()
    write_roles: tuple[str, ...] = ()
    rollup: Rollup = "none"
    expression: Expression | None = None
    result_type: str | None = None
    target_level: str | None = None
    accept: tuple[str, ...] = ()
    max_size_mb: float = 10.0
    scenarios: tuple[str, ...] = ()
    #: a measure grid's unit ("%", "h", "tickets") and which way is better for ``on_track``
    unit: str = ""
    direction: str = "higher_is_better"
    #: a text must match this regular expression (RE2 syntax, searched, so anchor it with
    #: ^ and $ to match the whole text); ``pattern_message`` tells the user what is expected
    pattern: str | None = None
    pattern_message: str = ""
    #: a grid's scenarios entered only from a stage on: {scenario: stage key}
    editable_from: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: a grid's kind of effect: "recurring" (it also has a run-rate), "one_time", or None
    effect: str | None = None

    @property
    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)

    @cached_property
    def _option_labels(self) -> Mapping[Any, str]:
        return {o.key: o.label for o in self.options}

    def option_label(self, key: str) -> str:
        """The option's label (the key itself when no option has it): a lookup, as a list
        or an export asks once per cell."""
        try:
            return self._option_labels.get(key, key)
        except TypeError:  # an unhashable value (a list) is no option's key
            return key  # type: ignore[return-value]

    @property
    def is_conditional(self) -> bool:
        """True when the field's state may change as other values change."""
        return bool(self.visible_if or self.editable_if or self.expression)

    @property
    def inputs(self) -> frozenset[str]:
        """Names the field's value or visibility is computed from: whoever may not see one
        of them may not see this field either."""
        return (self.expression.names if self.expression is not None else frozenset()) | \
            (self.visible_if.names if self.visible_if is not None else frozenset())


@dataclass(frozen=True)
class ValidationRule:
    """A cross-field rule of a level, checked on every save (``steerco.engine.rules``): when
    ``condition`` does not hold, ``message`` is shown at each of ``fields``."""

    key: str
    condition: Expression
    message: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Level:
    key: str
    label: str
    label_plural: str
    parents: tuple[str, ...]
    children: tuple[str, ...]
    sections: tuple[Section, ...]
    number_prefix: str
    number_digits: int
    workflow: str | None
    title_label: str
    list_columns: tuple[str, ...]
    #: computed fields of the level in an order where each comes after what it reads
    computed_order: tuple[Field, ...]
    #: cross-field validation rules, checked on every save
    rules: tuple[ValidationRule, ...] = ()
    #: fields an approver sees on an approval card (inbox, decision panel); empty: the
    #: transition's approval content
    approval_card: tuple[str, ...] = ()
    _fields: tuple[Field, ...] = dataclasses.field(init=False, repr=False, compare=False)
    _by_key: Mapping[str, Field] = dataclasses.field(init=False, repr=False, compare=False)
    #: fields whose type gives expressions more than the stored value (a measure grid's direction)
    expression_typed: tuple[Field, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fields in order and by key, built once: lookups inside loops over the fields
        # must not make a large level's pages quadratic.
        fields = tuple(f for s in self.sections for f in s.fields)
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_by_key", MappingProxyType({f.key: f for f in fields}))
        object.__setattr__(self, "expression_typed", tuple(f for f in fields if f.kind.typed_for_expressions))

    @property
    def fields(self) -> tuple[Field, ...]:
        return self._fields

    def field(self, key: str) -> Field | None:
        return self._by_key.get(key)

    def depends_on(self, names: frozenset[str] | set[str]) -> frozenset[str]:
        """The level's fields among ``names`` and, for computed fields among them, the
        fields they are computed from, all the way down."""
        seen: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            fld = self._by_key.get(name)
            if fld is None or name in seen:
                continue
            seen.add(name)
            if fld.expression is not None:
                pending.extend(fld.expression.names)
        return frozenset(seen)

    @property
    def is_root(self) -> bool:
        return not self.parents


@dataclass(frozen=True)
class Permission:
    levels: tuple[str, ...]
    actions: tuple[Action, ...]
    scope: Scope


@dataclass(frozen=True)
class Role:
    key: str
    label: str
    description: str
    admin: tuple[str, ...]
    permissions: tuple[Permission, ...]
    fields: Mapping[str, str]

    def allows(self, action: Action, level_key: str) -> bool:
        """Does one of the role's permissions grant ``action`` on the level (somewhere)?"""
        return any(action in p.actions and ("*" in p.levels or level_key in p.levels)
                   for p in self.permissions)

    def mode_of(self, field: Field) -> FieldMode:
        """What the configuration gives this role on the field, before the rights on a
        particular record: its override, else the field's write and read role lists.
        (``steerco.engine.access`` adds the record: ``write`` needs the update right.)"""
        override = self.fields.get(field.key)
        if override:
            return override  # type: ignore[return-value]
        if not field.write_roles or self.key in field.write_roles:
            return "write"
        return "read" if not field.read_roles or self.key in field.read_roles else "hidden"


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    order: int
    color: str
    category: str
    risk_weight: float
    plan_frozen: bool


@dataclass(frozen=True)
class ApprovalStep:
    key: str
    label: str
    #: the step's (first) role; ``roles`` names them all
    role: str
    threshold: Expression | None
    quorum: str | int
    same_approver_allowed: bool
    #: the roles that decide the step: one, or several for a cross-role quorum (one approval
    #: from each role, by distinct people, none of them the requester)
    roles: tuple[str, ...] = ()
    #: the step opens together with the step before it (decided in parallel, not in turn)
    parallel_with_previous: bool = False

    @property
    def deciding_roles(self) -> tuple[str, ...]:
        """Every role the step needs a decision from."""
        return self.roles or (self.role,)

    @property
    def across_roles(self) -> bool:
        return len(self.deciding_roles) > 1


@dataclass(frozen=True)
class Transition:
    key: str
    label: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    condition: Expression | None
    required_fields: tuple[str, ...]
    required_evidence: tuple[str, ...]
    approvals: tuple[ApprovalStep, ...]
    reject_to: str | None
    escalate_after_days: int | None
    escalate_to: str | None
    #: the fields and evidence a vote is bound to (its version and a hash of their values)
    approval_content: tuple[str, ...] = ()
    #: a change to the approval content while a request waits: "refuse" it, or "void" the votes
    on_change: str = "refuse"


@dataclass(frozen=True)
class Workflow:
    key: str
    label: str
    initial_stage: str
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    #: the approval steps of a change to frozen plan values or a locked period's values, as
    #: a transition that leaves the record where it is (key :data:`PLAN_CHANGE`); None: such
    #: a change cannot be requested
    plan_change: Transition | None = None

    def stage(self, key: str | None) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def transition(self, key: str) -> Transition | None:
        """The transition ``key`` (a request's), the plan change included."""
        if self.plan_change is not None and key == self.plan_change.key:
            return self.plan_change
        return next((t for t in self.transitions if t.key == key), None)

    def reached(self, stage_key: str | None, target: str) -> bool:
        """Has a record at ``stage_key`` reached stage ``target`` (by stage order)?"""
        here, there = self.stage(stage_key), self.stage(target)
        return here is not None and there is not None and here.order >= there.order


#: the transition key of a plan change request (not a valid configured key, so no clash)
PLAN_CHANGE = "~plan_change"


@dataclass(frozen=True)
class StatusDimension:
    key: str
    label: str
    levels: tuple[str, ...]
    options: tuple[Option, ...]
    default: str | None
    comment_required_for: tuple[str, ...]


@dataclass(frozen=True)
class Forum:
    key: str
    label: str
    role: str | None


@dataclass(frozen=True)
class Capacity:
    """A resource-conflict rule's measure: ``person`` (a user field) is planned ``hours``
    (a grid field's ``scenario``) per period on the level's records; above the person's
    capacity (their membership's, else ``hours_per_period``) is a conflict."""

    person: str
    hours: str
    scenario: str
    hours_per_period: float


@dataclass(frozen=True)
class Overlap:
    """A double-count guard: records of the rule's level with equal values of every key
    field claim the same saving when, in one period, both amounts of the grid's scenario
    are above ``min_overlap``."""

    keys: tuple[str, ...]
    grid: str
    scenario: str
    min_overlap: float = 0.0


@dataclass(frozen=True)
class ExceptionRule:
    key: str
    label: str
    level: str
    #: what makes a record an exception (None for a capacity or an overlap rule)
    condition: Expression | None
    owner_role: str
    forum: str | None
    due_days: int
    required_evidence: tuple[str, ...]
    escalation: tuple[tuple[int, str], ...]
    #: the case closes by itself when the condition stops holding (else only with its evidence)
    close_when_clear: bool = False
    #: instead of a condition: one case per person and period planned above capacity
    capacity: Capacity | None = None
    #: what raises the exception on records that claim the same saving (instead of a condition)
    overlap: Overlap | None = None


Aggregate = Literal["sum", "avg", "min", "max", "count"]
SectionType = Literal["kpi_tiles", "table", "chart", "crosstab", "approvals", "exceptions", "text"]
ChartKind = Literal["stage_funnel", "bar", "line", "waterfall"]


@dataclass(frozen=True)
class ReportMeasure:
    """An aggregate of one field, with its label: a KPI tile, a chart series, a bridge step."""

    label: str
    field: str
    aggregate: Aggregate = "sum"
    #: a tile's target: a number, or the key of a field (its same aggregate)
    target: float | str | None = None
    #: what a tile shows its difference to: "target", "snapshot" or nothing ("")
    compare_to: str = ""
    #: which way is good: "higher" or "lower"
    better: str = "higher"
    #: percent of the target within which a miss is amber, not red
    tolerance: float = 10.0
    #: a tile of a time-phased field: the scenario it sums over the chosen periods
    scenario: str | None = None


@dataclass(frozen=True)
class RowColor:
    """A table row's colour (red, amber, green...) when its condition holds, with the
    word that says it to those who do not see colours."""

    when: Expression
    color: str
    label: str


@dataclass(frozen=True)
class ReportSection:
    """One block of a report layout; which attributes count depends on ``type`` (the
    schema refuses the others). ``level`` is the report's level unless the section names
    its own; ``filter`` narrows the section beyond the report's filter."""

    type: SectionType
    title: str
    level: str
    filter: Expression | None = None
    new_page: bool = False
    tiles: tuple[ReportMeasure, ...] = ()
    columns: tuple[str, ...] = ()
    group_by: str | None = None
    totals: bool = False
    sort: str | None = None
    descending: bool = False
    chart: ChartKind | None = None
    #: a chart's one field, when it names one (its measure is then the one series)
    field: str | None = None
    #: what a chart shows: its field's measure, or its several series
    series: tuple[ReportMeasure, ...] = ()
    stacked: bool = False
    #: a waterfall's totals, from one to the next
    steps: tuple[ReportMeasure, ...] = ()
    limit: int | None = None
    text: str = ""
    #: a cross-tab's column grouping (its rows: ``group_by``)
    column_by: str | None = None
    #: a table's row colours, the first rule that holds wins
    row_colors: tuple[RowColor, ...] = ()


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    audience: tuple[str, ...]
    level: str
    filter: Expression | None
    page_size: str
    orientation: str
    sections: tuple[ReportSection, ...]
    cover: bool = False
    #: roles whose workspace home shows this report
    home_for: tuple[str, ...] = ()
    #: roles that may take a snapshot of the report
    snapshot_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantConfig:
    """Everything the engine needs to know about one tenant, as one immutable value."""

    key: str
    name: str
    currency: str
    locale: str
    fiscal_year_start: int
    periods: tuple[Period, ...]
    branding: Mapping[str, str]
    fields: Mapping[str, Field]
    levels: Mapping[str, Level]
    roles: Mapping[str, Role]
    workflows: Mapping[str, Workflow]
    status_dimensions: Mapping[str, StatusDimension]
    forums: Mapping[str, Forum]
    exception_rules: Mapping[str, ExceptionRule]
    reports: Mapping[str, Report]
    #: the configuration version this was compiled from (0 when compiled from files)
    version: int = 0
    #: the IANA time zone the workspace's times are shown in (stored times are UTC)
    timezone: str = "UTC"

    @property
    def root_levels(self) -> tuple[Level, ...]:
        return tuple(lv for lv in self.levels.values() if lv.is_root)

    def level(self, key: str) -> Level:
        return self.levels[key]

    def workflow_of(self, level: Level) -> Workflow | None:
        return self.workflows.get(level.workflow) if level.workflow else None
