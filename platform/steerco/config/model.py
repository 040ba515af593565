"""The compiled, immutable form of a tenant configuration.

A ``TenantConfig`` is built once per activated configuration version by
:func:`steerco.config.compiler.compile_config` and shared by every request; nothing here
is mutated after compilation (frozen dataclasses, tuples and read-only mappings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Mapping

from steerco.config.expressions import Expression

if TYPE_CHECKING:
    from steerco.fields.base import FieldType

Rollup = Literal["none", "sum", "avg", "min", "max", "count"]
Action = Literal["create", "read", "update", "delete", "transition", "approve", "comment"]
Scope = Literal["tenant", "subtree", "own"]
ACTIONS: tuple[Action, ...] = ("create", "read", "update", "delete", "transition", "approve", "comment")
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

    @property
    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)

    def option_label(self, key: str) -> str:
        return next((o.label for o in self.options if o.key == key), key)

    @property
    def is_conditional(self) -> bool:
        """True when the field's state may change as other values change."""
        return bool(self.visible_if or self.editable_if or self.expression)


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

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for s in self.sections for f in s.fields)

    def field(self, key: str) -> Field | None:
        return next((f for f in self.fields if f.key == key), None)

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
    role: str
    threshold: Expression | None
    quorum: str | int
    same_approver_allowed: bool


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


@dataclass(frozen=True)
class Workflow:
    key: str
    label: str
    initial_stage: str
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]

    def stage(self, key: str | None) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)


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
class ExceptionRule:
    key: str
    label: str
    level: str
    condition: Expression
    owner_role: str
    forum: str | None
    due_days: int
    required_evidence: tuple[str, ...]
    escalation: tuple[tuple[int, str], ...]


Aggregate = Literal["sum", "avg", "min", "max", "count"]
SectionType = Literal["kpi_tiles", "table", "chart", "text"]
ChartKind = Literal["stage_funnel", "bar", "line", "waterfall"]


@dataclass(frozen=True)
class ReportMeasure:
    """An aggregate of one field, with its label: a KPI tile, a chart series, a bridge step."""

    label: str
    field: str
    aggregate: Aggregate = "sum"


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

    @property
    def root_levels(self) -> tuple[Level, ...]:
        return tuple(lv for lv in self.levels.values() if lv.is_root)

    def level(self, key: str) -> Level:
        return self.levels[key]

    def workflow_of(self, level: Level) -> Workflow | None:
        return self.workflows.get(level.workflow) if level.workflow else None
