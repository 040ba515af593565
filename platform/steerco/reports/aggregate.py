"""Aggregates of a section's records in SQL, counting only values the reader may see.

:func:`aggregate` is the one interface the report data uses for numbers (KPI tiles, table
subtotals and totals, chart values): sums, averages, minima, maxima and counts of stored
fields over a :class:`~steerco.reports.scope.Scope`, optionally grouped. It is written so
that the value layer's rollups can take its place behind the same signature.

Per value, "may see" is exactly what the record page decides: the reader's roles
(``Access.field_filter``, built from the grants that produce the read filter) and the
field's ``visible_if`` condition, both evaluated by the database. A value the reader may
not see is left out of the aggregate and counted (``left_out``); a field hidden from the
reader on every record gives no number at all (``hidden``). One query per call, whatever
the number of records or measures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from sqlalchemy import ColumnElement, Select, and_, case, false, func, literal, not_, select
from sqlalchemy.orm import Session, aliased

from steerco.config import filters
from steerco.config.model import Aggregate, Field
from steerco.reports.scope import Scope, sql_condition, value_column
from steerco.store.models import PeriodValue, Record

#: the group of records whose grouping value the reader may not see
HIDDEN = "\x00hidden"
#: columns of the record itself a section may group by (``id``: one group per record)
SYSTEM_GROUPS = {"id": Record.id, "stage": Record.stage_key, "owner": Record.owner_id, "number": Record.number,
                 "title": Record.title, "updated_at": Record.updated_at}


@dataclass(frozen=True)
class Measure:
    """What to compute: an aggregate function over one field."""

    field: Field
    function: Aggregate


@dataclass(frozen=True)
class Amount:
    """One aggregate as the reader may know it."""

    #: a number, or for min/max of dates the ISO date
    value: Any
    #: the field is hidden from the reader on every record: no number is given
    hidden: bool = False
    #: values in scope the reader may not see, and so not counted in ``value``
    left_out: int = 0
    #: values counted in ``value``
    count: int = 0


@dataclass(frozen=True)
class Group:
    """The records sharing one grouping value (``key`` None: all of them), and the aggregates."""

    key: Any
    records: int
    amounts: tuple[Amount, ...]


@dataclass(frozen=True)
class Aggregation:
    total: Group
    groups: tuple[Group, ...] = ()


class Aggregator(Protocol):
    """What report data needs of an aggregation; :func:`aggregate` is today's one."""

    def __call__(self, session: Session, scope: Scope, measures: Sequence[Measure],
                 group_by: str | None = None) -> Aggregation: ...


def visible(scope: Scope, fld: Field, today: dt.date | None = None) -> ColumnElement[bool]:
    """SQL: the records in scope on which the reader sees ``fld`` (role modes and its condition)."""
    condition = scope.access.field_filter(fld, scope.level.key)
    if fld.visible_if is not None:
        if filters.problem(fld.visible_if) is not None:
            return false()  # a condition the database cannot evaluate: fail closed
        condition = and_(condition, sql_condition(fld.visible_if, scope.level, today or dt.date.today()))
    return condition


def hidden_everywhere(scope: Scope, fld: Field) -> bool:
    return scope.access.field_mode(fld, None, scope.level.key) == "hidden"


def aggregate(session: Session, scope: Scope, measures: Sequence[Measure],
              group_by: str | Sequence[str] | None = None) -> Aggregation:
    """The measures over the scope's records, per group of ``group_by`` (a field, a system
    column or an ancestor level; several of them for a cross-tab, each group's key then a
    tuple) and in total, in one query."""
    names = () if group_by is None else (group_by,) if isinstance(group_by, str) else tuple(group_by)
    shown = [m for m in measures if not hidden_everywhere(scope, m.field)]
    columns: list[ColumnElement[Any]] = [func.count(Record.id)]
    for m in shown:
        columns += _measure_columns(scope, m)
    query = select().select_from(Record).where(scope.where())
    parts: list[list[ColumnElement[Any]]] = []
    for name in names:
        keys, query = _grouping(scope, name, query)
        parts.append(keys)
    keys = [key for part in parts for key in part]
    query = query.add_columns(*keys, *columns)
    rows = session.execute(query.group_by(*keys) if keys else query).all()
    width = len(keys)

    def key_of(row: Sequence[Any]) -> Any:
        found, start = [], 0
        for part in parts:
            found.append(_key(row[start:start + len(part)]))
            start += len(part)
        return found[0] if len(found) == 1 else tuple(found)

    groups = tuple(_group(key_of(row[:width]), row[width:], measures, shown) for row in rows)
    total = combine(groups, measures, shown) if keys else (groups[0] if groups else combine((), measures, shown))
    return Aggregation(total, groups if keys else ())


def in_group(scope: Scope, group_by: str, key: Any) -> ColumnElement[bool]:
    """SQL: the scope's records in the group ``key`` of ``group_by`` (a drill-down from a
    number to the records behind it); :data:`HIDDEN` is the group of records whose value
    the reader may not see, and their values are not told by the condition."""
    if group_by in SYSTEM_GROUPS:
        column = SYSTEM_GROUPS[group_by]
        return column.is_(None) if key is None else column == key
    fld = scope.level.field(group_by)
    if fld is not None:
        seen = visible(scope, fld)
        if key == HIDDEN:
            return not_(seen)
        value = value_column(fld)
        return and_(seen, value.is_(None) if key is None else value == key)
    ancestor = aliased(Record)
    below = select(ancestor.path).where(ancestor.tenant_id == Record.tenant_id, ancestor.level_key == group_by,
                                        ancestor.id == key, ancestor.deleted_at.is_(None)).scalar_subquery()
    if key is None:
        return ~select(ancestor.id).where(ancestor.tenant_id == Record.tenant_id, ancestor.level_key == group_by,
                                          Record.path.startswith(ancestor.path)).exists()
    return Record.path.startswith(below)


def _measure_columns(scope: Scope, m: Measure, value: ColumnElement[Any] | None = None,
                     seen: ColumnElement[Any] | None = None) -> list[ColumnElement[Any]]:
    """sum, count, min, max of the visible values and the count of those left out.

    ``value`` and ``seen`` are the field's value and visibility when the caller has read
    them already (columns of an inner query that reads each value once per record)."""
    value = value_column(m.field) if value is None else value
    seen = visible(scope, m.field) if seen is None else seen
    kept = case((seen, value), else_=None)
    # Sums of numbers only; minima and maxima of dates too (ISO text orders like the dates).
    summed = m.function in ("sum", "avg") and m.field.kind.sort_cast(m.field) == "float"
    ordered = m.function in ("min", "max")
    return [
        func.sum(kept) if summed else literal(None), func.count(kept),
        func.min(kept) if ordered else literal(None), func.max(kept) if ordered else literal(None),
        func.sum(case((and_(not_(seen), value.is_not(None)), 1), else_=0)),
    ]


def _grouping(scope: Scope, group_by: str, base: Select[Any]) -> tuple[list[ColumnElement[Any]], Select[Any]]:
    """The grouping columns of ``group_by`` and the query with the FROM/WHERE they need."""
    if group_by in SYSTEM_GROUPS:
        return [SYSTEM_GROUPS[group_by]], base
    fld = scope.level.field(group_by)
    if fld is not None:
        seen = visible(scope, fld)
        return [case((seen, 1), else_=0), case((seen, value_column(fld)), else_=None)], base
    ancestor = aliased(Record)
    join = and_(ancestor.tenant_id == Record.tenant_id, ancestor.level_key == group_by,
                ancestor.deleted_at.is_(None), Record.path.startswith(ancestor.path))
    return [ancestor.id], base.outerjoin(ancestor, join)


def _key(parts: Sequence[Any]) -> Any:
    if len(parts) == 2:  # (seen, value) of a field
        return parts[1] if parts[0] else HIDDEN
    return parts[0] if parts else None


def _group(key: Any, row: Sequence[Any], measures: Sequence[Measure], shown: Sequence[Measure]) -> Group:
    found = {id(m): row[1 + i * 5: 6 + i * 5] for i, m in enumerate(shown)}
    amounts = []
    for m in measures:
        if id(m) not in found:
            amounts.append(Amount(None, hidden=True))
            continue
        total, count, low, high, left_out = found[id(m)]
        amounts.append(Amount(_value(m.function, total, count, low, high), left_out=int(left_out or 0),
                              count=int(count or 0)))
    return Group(key, int(row[0] or 0), tuple(amounts))


def _value(function: str, total: Any, count: Any, low: Any, high: Any) -> Any:
    count = int(count or 0)
    if function == "count":
        return float(count)
    if not count:
        return None
    if function == "sum":
        return float(total)
    if function == "avg":
        return float(total) / count
    found = low if function == "min" else high
    return found if isinstance(found, str) else float(found)


def combine(groups: Iterable[Group], measures: Sequence[Measure], shown: Sequence[Measure]) -> Group:
    """The total of several groups (sums add up, averages weigh by their counts)."""
    groups = list(groups)
    amounts = []
    for i, m in enumerate(measures):
        parts = [g.amounts[i] for g in groups]
        if m not in shown:
            amounts.append(Amount(None, hidden=True))
            continue
        present = [p for p in parts if p.value is not None and p.count]
        amounts.append(Amount(_combined(m.function, present), left_out=sum(p.left_out for p in parts),
                              count=sum(p.count for p in parts)))
    return Group(None, sum(g.records for g in groups), tuple(amounts))


def _combined(function: str, parts: list[Amount]) -> Any:
    if function == "count":
        return float(sum(p.count for p in parts))
    if not parts:
        return None
    values = [p.value for p in parts if p.value is not None]
    if function == "sum":
        return float(sum(values))
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    return sum(p.value * p.count for p in parts if p.value is not None) / sum(p.count for p in parts)


def period_totals(session: Session, scope: Scope, fld: Field) -> tuple[dict[str, dict[str, float]], int, bool]:
    """Sums of a time-phased field per scenario and period over the scope's records the
    reader may see the field on: ({scenario: {period: amount}}, records left out, hidden)."""
    if hidden_everywhere(scope, fld):
        return {}, 0, True
    seen = visible(scope, fld)
    joined = and_(PeriodValue.record_id == Record.id, PeriodValue.tenant_id == Record.tenant_id,
                  PeriodValue.field_key == fld.key)
    rows = session.execute(
        select(PeriodValue.scenario, PeriodValue.period, func.sum(PeriodValue.amount))
        .select_from(Record).join(PeriodValue, joined).where(scope.where(), seen)
        .group_by(PeriodValue.scenario, PeriodValue.period)).all()
    left_out = session.scalar(
        select(func.count(func.distinct(Record.id))).select_from(Record).join(PeriodValue, joined)
        .where(scope.where(), not_(seen))) or 0
    totals: dict[str, dict[str, float]] = {}
    for scenario, period, amount in rows:
        totals.setdefault(scenario, {})[period] = float(amount)
    return totals, int(left_out), False


#: The pieces of :func:`aggregate` that the value layer's rollups (``steerco.engine.rollups``)
#: group their own way (by stage and status at once): the columns of one measure and one
#: group's amounts from a row of them (:func:`combine` adds groups up).
measure_columns = _measure_columns
group_of = _group


def has_period_values(scope: Scope, section: Any, period: Any) -> ColumnElement[bool]:
    """Records with an amount of one of the section's time-phased fields in ``period`` (a
    :class:`~steerco.reports.period.PeriodRange`), on a field the reader may see there:
    what a drill-down of a period-filtered section lists."""
    keys = sorted({m.field for m in (*section.tiles, *section.series, *section.steps)
                   if (f := scope.level.field(m.field)) is not None and f.kind.storage == "periods"})
    seen = [visible(scope, f) for key in keys if (f := scope.level.field(key)) is not None]
    return and_(select(PeriodValue.id).where(
        PeriodValue.record_id == Record.id, PeriodValue.tenant_id == Record.tenant_id,
        PeriodValue.field_key.in_(keys), PeriodValue.period >= period.first, PeriodValue.period <= period.last,
        PeriodValue.amount.is_not(None)).exists(), *seen)
