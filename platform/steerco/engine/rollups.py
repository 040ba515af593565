"""Rollups: a record's subtree added up by the database, as one reader may know it.

Every field that configures a ``rollup`` (``sum``, ``avg``, ``min``, ``max``, ``count``)
rolls up the hierarchy: on a record's page and in the API, each level below the record
shows the aggregate of that field over the record's subtree, in total, by stage and by
status. A money grid (``rollup: sum``) rolls up per scenario from ``period_value``. A
``sum`` of a level with a workflow also gives the risk-weighted pipeline: each stage's
total times the stage's ``risk_weight``.

How it is computed, and why:

- *In SQL, one query per rollup set.* A set is one level's scalar fields (one query grouped
  by stage and every status dimension of the level), or one grid of the level (one query
  over ``period_value`` grouped the same way, with a sum and a record count per scenario).
  The total, the stages and the statuses are folded from those groups in Python, exactly
  (sums add up, averages weigh by their counts). The subtree is the materialised path (``Record.path`` starts with the
  record's path), one indexed ``LIKE``; no loop per record.
- *Respecting the reader.* Whether a value counts is decided by the same SQL conditions as
  report totals (:func:`steerco.reports.aggregate.visible`: ``Access.field_filter`` built
  from the read filter's grants, and the field's ``visible_if``). A record the reader may not
  read counts nowhere, not even in a stage group (its stage is masked), and is counted in
  ``left_out``; so is every value the reader may not see on a record they may read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import ColumnElement, and_, case, func, not_, select, true
from sqlalchemy.orm import Session

from steerco.config.model import Field, Level, TenantConfig
from steerco.engine.access import Access
from steerco.fields.display import Display
from steerco.reports import aggregate as agg
from steerco.reports.aggregate import Amount, Group, Measure
from steerco.reports.scope import Scope
from steerco.store.models import PeriodValue, Record


@dataclass(frozen=True)
class Breakdown:
    """One aggregate of a field, in total and per group (a stage, a status option)."""

    total: Amount
    by_stage: tuple[tuple[str, Amount], ...] = ()
    #: (status dimension, option, amount)
    by_status: tuple[tuple[str, str, Amount], ...] = ()
    #: the risk-weighted sum (each stage's sum times its ``risk_weight``); None when the
    #: aggregate is no sum or the level has no workflow
    weighted: float | None = None


@dataclass(frozen=True)
class RollupLine:
    """A field's rollup over one level of the subtree (a grid: one line per scenario)."""

    field: Field
    function: str
    breakdown: Breakdown
    scenario: str | None = None


@dataclass(frozen=True)
class RollupSet:
    """The rollups of one level below the record."""

    level: Level
    #: records of the level in the subtree that the reader may read (and so counted)
    records: int
    #: records of the level in the subtree that the reader may not read (counted nowhere)
    left_out: int
    lines: tuple[RollupLine, ...]


def rolled_up_fields(level: Level) -> tuple[list[Field], list[Field]]:
    """The level's fields that configure a rollup their type allows: (scalar, grids)."""
    scalar, grids = [], []
    for fld in level.fields:
        if fld.rollup == "none" or fld.rollup not in fld.kind.rollups:
            continue
        (grids if fld.kind.storage == "periods" else scalar).append(fld)
    return scalar, grids


def levels_below(config: TenantConfig, level: Level) -> list[Level]:
    """Every level that can sit below ``level``, nearest first, each once."""
    found: list[Level] = []
    pending = list(level.children)
    while pending:
        key = pending.pop(0)
        below = config.levels.get(key)
        if below is None or below in found:
            continue
        found.append(below)
        pending.extend(below.children)
    return found


class Rollups:
    """The rollups of records' subtrees for one reader (an :class:`Access`)."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access):
        self.session = session
        self.tenant_id = tenant_id
        self.config = config
        self.access = access

    def of(self, record: Record) -> list[RollupSet]:
        """Every level below ``record`` with something to roll up: its sets, in level order."""
        level = self.config.levels.get(record.level_key)
        if level is None:
            return []
        sets = []
        for below in levels_below(self.config, level):
            scalar, grids = rolled_up_fields(below)
            if scalar or grids:
                sets.append(self.level_set(record, below, scalar, grids))
        return sets

    def level_set(self, record: Record, level: Level, scalar: Sequence[Field],
                  grids: Sequence[Field]) -> RollupSet:
        """One level's rollups under ``record``: one query for its scalar fields, one per grid."""
        subtree = _Subtree(self, record, level)
        records, left_out, lines = subtree.scalar_lines(scalar)
        for grid in grids:
            lines += subtree.grid_lines(grid)
        return RollupSet(level, records, left_out, tuple(lines))


class _Subtree:
    """The records of one level under one record, with the SQL the two queries share."""

    def __init__(self, rollups: Rollups, record: Record, level: Level):
        self.rollups = rollups
        self.level = level
        self.access = rollups.access
        #: a report scope of the level, for the per-value visibility of report aggregates
        self.scope = Scope(rollups.tenant_id, rollups.config, rollups.access, level, true())
        self.where = and_(Record.tenant_id == rollups.tenant_id, Record.deleted_at.is_(None),
                          Record.level_key == level.key, Record.id != record.id,
                          Record.path.startswith(record.path, autoescape=True))
        self.readable = self.access.read_filter(level.key)
        workflow = rollups.config.workflow_of(level)
        self.stages = {s.key: s for s in workflow.stages} if workflow else {}
        self.dimensions = [d for d in rollups.config.status_dimensions.values() if level.key in d.levels]

    # -- grouping ------------------------------------------------------------------------
    def keys(self) -> list[ColumnElement[Any]]:
        """Stage and each status, as the reader may know them: NULL (no group) where they may not."""
        keys: list[ColumnElement[Any]] = [case((self.readable, Record.stage_key), else_=None)]
        for dimension in self.dimensions:
            fld = self.level.field(dimension.key)
            seen = self.readable if fld is None else agg.visible(self.scope, fld)
            keys.append(case((seen, Record.values[dimension.key].as_string()), else_=None))
        return keys

    def breakdown(self, function: str, groups: Iterable[tuple[tuple[Any, ...], Group]], index: int,
                  measures: Sequence[Measure], shown: Sequence[Measure]) -> Breakdown:
        """The amount ``index`` of the groups, folded into total, stages and statuses."""
        groups = list(groups)
        measure = [measures[index]]
        visible = [measures[index]] if measures[index] in shown else []

        def fold(members: list[Group]) -> Amount:
            parts = [Group(g.key, g.records, (g.amounts[index],)) for g in members]
            return agg.combine(parts, measure, visible).amounts[0]

        by_stage: dict[Any, list[Group]] = defaultdict(list)
        by_status: dict[tuple[str, Any], list[Group]] = defaultdict(list)
        for key, group in groups:
            by_stage[key[0]].append(group)
            for dimension, option in zip(self.dimensions, key[1:]):
                by_status[(dimension.key, option)].append(group)
        stages = tuple((stage, fold(members)) for stage, members in
                       sorted(by_stage.items(), key=lambda item: self._stage_order(item[0]))
                       if stage is not None)
        statuses = tuple((dim, option, fold(members)) for (dim, option), members in by_status.items()
                         if option is not None)
        weighted = None
        if function == "sum" and self.stages and visible:
            weighted = sum((amount.value or 0.0) * self.stages[stage].risk_weight
                           for stage, amount in stages if stage in self.stages)
        return Breakdown(fold([g for _, g in groups]), stages, statuses, weighted)

    def _stage_order(self, stage: Any) -> tuple[int, str]:
        known = self.stages.get(stage)
        return (known.order if known else 10**6, str(stage))

    # -- scalar fields ---------------------------------------------------------------------
    def scalar_lines(self, fields: Sequence[Field]) -> tuple[int, int, list[RollupLine]]:
        """(records read, records left out, a line per field): one query."""
        measures = [Measure(fld, fld.rollup) for fld in fields]  # type: ignore[arg-type]
        shown = [m for m in measures if not agg.hidden_everywhere(self.scope, m.field)]
        # Each record's keys, values and visibility read once, in an inner query (OFFSET 0
        # keeps PostgreSQL from merging it into the outer one); the aggregates then read
        # plain columns, where each would otherwise extract its value from the JSON again.
        inner_columns = [key.label(f"k{i}") for i, key in enumerate(self.keys())]
        inner_columns.append(self.readable.label("readable"))
        for i, m in enumerate(shown):
            inner_columns += [agg.value_column(m.field).label(f"v{i}"), agg.visible(self.scope, m.field).label(f"s{i}")]
        inner = select(*inner_columns).select_from(Record).where(self.where).offset(0).subquery()
        keys = [inner.c[f"k{i}"] for i in range(len(inner_columns) - 1 - 2 * len(shown))]
        readable = inner.c.readable
        columns = [func.count(case((readable, 1), else_=None))]
        for i, m in enumerate(shown):
            columns += agg.measure_columns(self.scope, m, inner.c[f"v{i}"], inner.c[f"s{i}"])
        columns.append(func.sum(case((not_(readable), 1), else_=0)))
        query = select(*keys, *columns).select_from(inner).group_by(*keys)
        width = len(keys)
        groups: list[tuple[tuple[Any, ...], Group]] = []
        left_out = 0
        for row in self.rollups.session.execute(query).all():
            groups.append((tuple(row[:width]), agg.group_of(None, row[width:-1], measures, shown)))
            left_out += int(row[-1] or 0)
        records = sum(g.records for _, g in groups)
        lines = [RollupLine(m.field, m.function, self.breakdown(m.function, groups, i, measures, shown))
                 for i, m in enumerate(measures)]
        return records, left_out, lines

    # -- grids -------------------------------------------------------------------------------
    def grid_lines(self, grid: Field) -> list[RollupLine]:
        """A line per scenario of the grid: the sum of its amounts over the subtree's records
        on which the reader sees the grid; one query."""
        measure = Measure(grid, "sum")
        if agg.hidden_everywhere(self.scope, grid):
            hidden = Breakdown(Amount(None, hidden=True))
            return [RollupLine(grid, "sum", hidden, scenario) for scenario in grid.scenarios]
        seen = agg.visible(self.scope, grid)
        keys = self.keys()
        scenarios = list(grid.scenarios)
        # The amounts per record first, one column per scenario (conditional sums: NULL where
        # the record has no amount in that scenario), so that the keys and the visibility,
        # read from the record's JSON, are worked out once per record, not once per amount,
        # and the record counts ("of N records") need one group per record, not one per
        # record and scenario. Grouped by the record's id (the same as the amount's record_id): SQLite then reads the
        # subtree's records first, in id order, and probes their amounts, rather than reading
        # every amount of the tenant in record_id order to spare the GROUP BY a sort.
        amounts = (select(Record.id.label("record_id"),
                          *(func.sum(case((PeriodValue.scenario == scenario, PeriodValue.amount), else_=None))
                            .label(f"a{j}") for j, scenario in enumerate(scenarios)))
                   .select_from(Record)
                   .join(PeriodValue, and_(PeriodValue.record_id == Record.id, PeriodValue.tenant_id == Record.tenant_id,
                                           PeriodValue.field_key == grid.key))
                   .where(self.where).group_by(Record.id).subquery())
        # The subtree's records with their keys and visibility, read once each, as a narrow
        # inner query (OFFSET 0: not merged into the outer one, which would carry every
        # record's JSON into the join).
        per_record = (select(Record.id.label("id"), *(key.label(f"k{i}") for i, key in enumerate(keys)),
                             seen.label("seen"))
                      .select_from(Record).where(self.where).offset(0).subquery())
        keys = [per_record.c[f"k{i}"] for i in range(len(keys))]
        seen = per_record.c.seen
        columns = []
        for j in range(len(scenarios)):
            amount = amounts.c[f"a{j}"]
            columns += [func.sum(case((seen, amount), else_=None)), func.count(case((seen, amount), else_=None)),
                        func.count(case((not_(seen), amount), else_=None))]
        query = (select(*keys, *columns).select_from(per_record)
                 .join(amounts, amounts.c.record_id == per_record.c.id).group_by(*keys))
        width = len(keys)
        per_scenario: dict[str, list[tuple[tuple[Any, ...], Group]]] = defaultdict(list)
        for row in self.rollups.session.execute(query).all():
            for j, scenario in enumerate(scenarios):
                total, count, left_out = row[width + 3 * j:width + 3 * j + 3]
                if not count and not left_out:  # no record of the group has amounts in this scenario
                    continue
                amount = Amount(float(total) if count else None, left_out=int(left_out or 0), count=int(count or 0))
                per_scenario[scenario].append((tuple(row[:width]), Group(None, int(count or 0), (amount,))))
        return [RollupLine(grid, "sum", self.breakdown("sum", per_scenario.get(scenario, []), 0,
                                                       [measure], [measure]), scenario)
                for scenario in scenarios]


# -- how rollups read: the API's JSON and the record page's panel ---------------------------
def _amount_json(amount: Amount) -> dict[str, Any]:
    if amount.hidden:
        return {"hidden": True, "value": None}
    return {"value": amount.value, "count": amount.count, "left_out": amount.left_out}


def as_json(sets: Sequence[RollupSet]) -> list[dict[str, Any]]:
    """Rollups as the API gives them: typed numbers (ISO texts for dates), per level and field."""
    return [{
        "level": s.level.key, "records": s.records, "left_out": s.left_out,
        "fields": [{
            "field": line.field.key, "function": line.function, "scenario": line.scenario,
            **({"effect": line.field.effect} if line.field.effect else {}),
            **_amount_json(line.breakdown.total),
            **({"weighted": line.breakdown.weighted} if line.breakdown.weighted is not None else {}),
            "by_stage": {stage: _amount_json(amount) for stage, amount in line.breakdown.by_stage},
            "by_status": _statuses_json(line.breakdown),
        } for line in s.lines],
    } for s in sets]


def _statuses_json(breakdown: Breakdown) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for dimension, option, amount in breakdown.by_status:
        found.setdefault(dimension, {})[option] = _amount_json(amount)
    return found


@dataclass(frozen=True)
class PanelRow:
    label: str
    total: str
    weighted: str | None
    stages: tuple[str, ...]
    statuses: tuple[tuple[str, str], ...]
    left_out: int


@dataclass(frozen=True)
class PanelSet:
    label: str
    records: int
    left_out: int
    stage_labels: tuple[str, ...]
    weighted: bool
    rows: tuple[PanelRow, ...]

    @property
    def values_left_out(self) -> int:
        return max((row.left_out for row in self.rows), default=0)


_FUNCTION_WORDS = {"sum": "total", "avg": "average", "min": "lowest", "max": "highest", "count": "count"}


def panel(config: TenantConfig, sets: Sequence[RollupSet]) -> list[PanelSet]:
    """The record page's rollup panel: texts formatted as the fields show their values."""
    formatter = Display.of(config).formatter
    found = []
    for s in sets:
        workflow = config.workflow_of(s.level)
        stages = workflow.stages if workflow else ()
        rows = []
        for line in s.lines:
            text = _text_of(config, formatter, line)
            by_stage = dict(line.breakdown.by_stage)
            rows.append(PanelRow(
                label=f"{line.field.label}{' (' + line.scenario + ')' if line.scenario else ''}, "
                      f"{_FUNCTION_WORDS[line.function]}"
                      # a recurring grid's sum is its in-period total, never its run-rate
                      + (f" ({line.field.effect.replace('_', '-')} effect, in-period)" if line.field.effect else ""),
                total=text(line.breakdown.total),
                weighted=(text(Amount(line.breakdown.weighted, count=1)) if line.breakdown.weighted is not None
                          else None),
                stages=tuple(text(by_stage[st.key]) if st.key in by_stage else "–" for st in stages),
                statuses=tuple((_option_label(config, dimension, option), text(amount))
                               for dimension, option, amount in line.breakdown.by_status),
                left_out=line.breakdown.total.left_out))
        found.append(PanelSet(s.level.label_plural, s.records, s.left_out, tuple(st.label for st in stages),
                              any(r.weighted is not None for r in rows), tuple(rows)))
    return found


def _option_label(config: TenantConfig, dimension: str, option: str) -> str:
    known = config.status_dimensions.get(dimension)
    label = next((o.label for o in known.options if o.key == option), option) if known else option
    return f"{known.label if known else dimension}: {label}"


def _text_of(config: TenantConfig, formatter: Any, line: RollupLine) -> Any:
    """How one line's amounts read: counts as numbers, grid sums in the grid's unit, the rest as the
    field shows a value."""
    fld = line.field

    def text(amount: Amount) -> str:
        if amount.hidden:
            return "Hidden"
        if amount.value is None:
            return "–"
        if line.function == "count":
            return formatter.number(int(amount.value))
        if not isinstance(amount.value, (int, float)):
            return str(fld.kind.display(fld, amount.value, config))
        number: float | int = round(amount.value, 2)
        if float(number).is_integer():
            number = int(number)
        if fld.kind.storage == "periods":  # a grid's sum, in its unit (money, hours...)
            return str(fld.kind.amount(fld, number, formatter))
        return str(fld.kind.display(fld, number, config))

    return text
