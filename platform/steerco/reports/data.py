"""A report's content for one reader, as plain values: what the dashboard, the JSON API
and the PDF all render.

:func:`build_report` reads the compiled layout (``TenantConfig.reports``), the reader's
:class:`Access` and the store, and returns a :class:`ReportData` of frozen dataclasses:
KPI tiles, tables (rows, groups, subtotals, totals), charts (their data and their SVG)
and text. Numbers come from :func:`steerco.reports.aggregate.aggregate` (SQL, values the
reader may not see left out and counted); rows come from the same scope, each cell
checked against its own record. A field hidden from the reader gives no value anywhere:
its tile says "Hidden", its column is listed as hidden, its chart series is left out.
No Flask here; a bounded number of queries per section, whatever the number of records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from markupsafe import Markup
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from steerco.config.model import Field, Level, Report, ReportMeasure, ReportSection, TenantConfig
from steerco.engine import tables
from steerco.fields.display import Formatter
from steerco.engine.access import Access
from steerco.engine.forms import expression_scope
from steerco.reports import charts
from steerco.reports.aggregate import HIDDEN, SYSTEM_GROUPS, Aggregation, Aggregator, Amount, Measure, \
    aggregate, combine, has_period_values, hidden_everywhere, in_group, period_totals, visible
from steerco.reports.period import PeriodRange, depends_on_period
from steerco.reports.scope import Scope, section_scope, sql_condition, value_column
from steerco.store.models import ApprovalTask, AuditEvent, ExceptionCase, Record, TransitionRequest, User, utcnow

#: rows a table shows at most (its totals still count every record in scope)
MAX_ROWS = 5000
#: bars a per-record bar chart shows when the layout sets no limit
DEFAULT_BARS = 25
#: reports a progress: (percent 0-100, what is being done)
Progress = Callable[[int, str], None]


# -- what a report holds ------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """A tile's difference to its target or to its value in the report's last snapshot."""

    #: "target" or "snapshot"
    against: str
    #: what it is compared with, as people read it ("Target 1,000,000 EUR", "12 Mar 2026")
    reference: str
    #: the difference (None: nothing to compare with, ``note`` says why)
    delta: float | None = None
    delta_text: str = ""
    #: "up", "down" or "flat"
    direction: str = "flat"
    #: "green", "amber", "red" or "" (no judgement), with its word
    rag: str = ""
    rag_label: str = ""
    note: str = ""


@dataclass(frozen=True)
class Tile:
    label: str
    text: str
    value: float | None
    hidden: bool = False
    left_out: int = 0
    #: the tile's measure ("potential.sum"): what a snapshot's tile is matched by
    key: str = ""
    comparison: Comparison | None = None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    #: numbers (right-aligned)
    numeric: bool
    #: has subtotals and a total (the field's configured rollup)
    totals: bool = False


@dataclass(frozen=True)
class Cell:
    text: str
    value: Any = None
    hidden: bool = False


@dataclass(frozen=True)
class Row:
    record_id: int
    number: str
    cells: tuple[Cell, ...]
    #: the first of the table's row colours whose condition holds ("" none), and its word
    color: str = ""
    color_label: str = ""


@dataclass(frozen=True)
class RowGroup:
    """Rows sharing a grouping value (one group with label "" when the table is not grouped)."""

    key: str | None
    label: str
    rows: tuple[Row, ...]
    records: int
    subtotal: tuple[Cell | None, ...] | None = None


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    groups: tuple[RowGroup, ...]
    records: int
    shown: int
    total: tuple[Cell | None, ...] | None = None
    grouped_by: str = ""
    #: labels of the layout's columns the reader may not see
    hidden_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chart:
    kind: str
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    svg: Markup


@dataclass(frozen=True)
class CrossRow:
    #: the row's grouping value as text (a drill-down names it), and its label
    key: str | None
    label: str
    cells: tuple[Cell, ...]
    total: Cell


@dataclass(frozen=True)
class CrossTab:
    """One measure over two groupings: rows by ``group_by``, columns by ``column_by``,
    with row and column totals (each a SQL aggregate over what the reader may see)."""

    measure: str
    row_label: str
    column_label: str
    column_keys: tuple[str | None, ...]
    columns: tuple[str, ...]
    rows: tuple[CrossRow, ...]
    totals: tuple[Cell, ...]
    total: Cell


@dataclass(frozen=True)
class Section:
    index: int
    type: str
    title: str
    level: str
    new_page: bool = False
    notes: tuple[str, ...] = ()
    tiles: tuple[Tile, ...] = ()
    table: Table | None = None
    chart: Chart | None = None
    crosstab: CrossTab | None = None
    text: str = ""

    @property
    def anchor(self) -> str:
        """A stable id for the section (HTML anchors and htmx targets)."""
        return f"section-{self.index + 1}"


@dataclass(frozen=True)
class ReportData:
    key: str
    title: str
    workspace: str
    #: what the report is about, e.g. "Measures"
    level_label: str
    #: all of them, or the record the reader limited the report to
    scope: str
    generated_at: dt.datetime
    #: the tenant's latest audit event when the data was read (every write appends one)
    data_version: int
    config_version: int
    page_size: str
    orientation: str
    cover: bool
    sections: tuple[Section, ...]
    #: ``generated_at`` as the workspace reads it (its locale and time zone)
    as_of: str = ""
    #: the period filter (``2026-01..2026-06``) and its label, "" when not filtered
    period: str = ""
    period_label: str = ""
    #: the snapshot shown ("" for live data): its label
    snapshot: str = ""


# -- entry points ---------------------------------------------------------------------------
def readable_reports(config: TenantConfig, access: Access) -> list[Report]:
    """The reports whose audience includes a role the reader holds (anywhere)."""
    held = {g.role for g in access.actor.grants}
    return [r for r in config.reports.values() if held & set(r.audience)]


def home_report(config: TenantConfig, access: Access) -> Report | None:
    """The report the reader's workspace home shows: the first whose ``home_for`` names a
    role they hold (and that they may open)."""
    held = {g.role for g in access.actor.grants}
    return next((r for r in config.reports.values() if held & set(r.home_for) and held & set(r.audience)), None)


def may_open(config: TenantConfig, access: Access, report: Report) -> bool:
    return bool({g.role for g in access.actor.grants} & set(report.audience))


def data_version(session: Session, tenant_id: int) -> int:
    """The tenant's latest audit event id: it changes with every write, so a cached
    report of an older version is stale."""
    return session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.tenant_id == tenant_id)) or 0


def build_report(session: Session, tenant_id: int, config: TenantConfig, access: Access, report: Report, *,
                 under: Record | None = None, now: dt.datetime | None = None,
                 aggregator: Aggregator = aggregate, progress: Progress | None = None,
                 types: frozenset[str] | None = None, period: PeriodRange | None = None,
                 only: Callable[[ReportSection], bool] | None = None,
                 previous: "ReportData | None | bool" = True) -> ReportData:
    """Everything ``report`` shows to this reader, optionally only under the record ``under``,
    only over the reporting periods ``period``, and only its sections of ``types`` (a
    summary: the home page leaves out long tables) or for which ``only`` holds (the
    sections a new period changes). Tiles compared with a snapshot are compared with
    ``previous`` (True: the report's last snapshot this reader may see, found here)."""
    now = now or utcnow()
    version = data_version(session, tenant_id)
    if previous is True:
        previous = _last_snapshot(session, tenant_id, config, access, report)
    builder = _Builder(session, tenant_id, config, access, report, under, now, aggregator, period,
                       previous or None)
    sections = []
    for index, section in enumerate(report.sections):
        if types is not None and section.type not in types:
            continue
        if only is not None and not only(section):
            continue
        if progress:
            progress(5 + int(40 * index / len(report.sections)), f"Collecting {section.title or section.type}")
        sections.append(builder.section(index, section))
    scope = f"{under.number} {under.title}" if under is not None else f"All {config.levels[report.level].label_plural}"
    as_of = Formatter(config.locale, config.currency, config.timezone).moment(now)
    return ReportData(report.key, report.title, config.name, config.levels[report.level].label_plural, scope, now,
                      version, config.version, report.page_size, report.orientation, report.cover,
                      tuple(sections), as_of, period.param if period else "",
                      period.label(config) if period else "")


def _last_snapshot(session: Session, tenant_id: int, config: TenantConfig, access: Access,
                   report: Report) -> "ReportData | None":
    """The report's last snapshot as this reader may see it, when a tile compares with one."""
    if not any(m.compare_to == "snapshot" for s in report.sections for m in s.tiles):
        return None
    from steerco.reports import snapshots  # snapshots build on this module

    return snapshots.last_data(session, tenant_id, config, access, report)


#: records a drill-down lists at most
DRILL_ROWS = 500
#: how a drill-down link writes "no value" (an empty parameter means "not limited")
NO_VALUE = "~none"


@dataclass(frozen=True)
class Drill:
    """The records behind a number of a report: a section's scope, narrowed to a group."""

    title: str
    level: Level
    records: tuple[Record, ...]
    total: int
    #: what narrowed it, as people read it ("Stage: DoI3", "Category: Procurement")
    narrowed: tuple[str, ...]


def drill(session: Session, tenant_id: int, config: TenantConfig, access: Access, report: Report, index: int, *,
          under: Record | None = None, row: str | None = None, column: str | None = None,
          now: dt.datetime | None = None, period: PeriodRange | None = None) -> Drill:
    """The records behind section ``index`` (0-based) of ``report``, optionally only those
    in the row group ``row`` (of ``group_by``) and the column group ``column`` (of
    ``column_by``), as the section's links name them. Raises LookupError for a section
    that has no records behind it (text) or a group value that cannot be one."""
    if not 0 <= index < len(report.sections) or report.sections[index].type == "text":
        raise LookupError("no such section")
    section = report.sections[index]
    now = now or utcnow()
    scope = section_scope(config, access, tenant_id, report, section, under, now.date())
    builder = _Builder(session, tenant_id, config, access, report, under, now, aggregate)
    conditions, narrowed = [scope.where()], []
    for group_by, text in ((section.group_by, row), (section.column_by, column)):
        if text is None or not group_by:
            continue
        key = _parse_key(scope.level, group_by, text)
        conditions.append(in_group(scope, group_by, key))
        label = builder.group_labels(scope.level, group_by, {key}).get(key, text)
        narrowed.append(f"{builder.group_label(scope.level, group_by)}: {label}")
    if scope.hidden_inputs:
        conditions.append(Record.id.is_(None))
    if period is not None and depends_on_period(config, section):
        conditions.append(has_period_values(scope, section, period))
        narrowed.append(f"Periods: {period.label(config)}")
    where = and_(*conditions)
    total = session.scalar(select(func.count(Record.id)).where(where)) or 0
    records = tuple(session.scalars(select(Record).where(where).order_by(Record.number, Record.id).limit(DRILL_ROWS)))
    return Drill(section.title or report.title, scope.level, records, total, tuple(narrowed))


def _parse_key(level: Level, group_by: str, text: str) -> Any:
    """A group value from a drill-down link (see :func:`_key_text`)."""
    if text == NO_VALUE:
        return None
    if text == "hidden":
        return HIDDEN
    fld = level.field(group_by)
    try:
        if group_by == "owner" or (fld is None and group_by not in SYSTEM_GROUPS):
            return int(text)
        if fld is not None and fld.kind.sort_cast(fld) == "float":
            return float(text)
    except ValueError:
        raise LookupError(f"no such group: {text!r}") from None
    return text


def report_json(data: ReportData) -> dict[str, Any]:
    """The report as JSON: the same content as the page, charts as their data (no SVG)."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "svg"}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=dt.timezone.utc).isoformat()
        return value

    body = clean(dataclasses.asdict(data))
    for section, raw in zip(body["sections"], data.sections):
        section["id"] = raw.anchor
    return body


# -- building --------------------------------------------------------------------------------
class _Builder:
    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access, report: Report,
                 under: Record | None, now: dt.datetime, aggregator: Aggregator,
                 period: PeriodRange | None = None, previous: "ReportData | None" = None):
        self.session, self.tenant_id, self.config, self.access = session, tenant_id, config, access
        self.report, self.under, self.now, self.aggregate = report, under, now, aggregator
        self.period, self.previous = period, previous

    def section(self, index: int, section: ReportSection) -> Section:
        base = Section(index, section.type, section.title, section.level, section.new_page)
        if section.type == "text":
            return dataclasses.replace(base, text=section.text)
        scope = section_scope(self.config, self.access, self.tenant_id, self.report, section, self.under,
                              self.now.date())
        if scope.hidden_inputs:
            names = ", ".join(f.label for f in scope.hidden_inputs)
            return dataclasses.replace(base, notes=(f"This section selects records by {names}, which you may "
                                                    "not see, so it shows nothing.",))
        build = {"kpi_tiles": self.tiles, "table": self.table, "chart": self.chart, "crosstab": self.crosstab,
                 "approvals": self.approvals, "exceptions": self.exceptions}[section.type]
        return build(base, section, scope)

    # -- tiles ---------------------------------------------------------------------------
    def tiles(self, base: Section, section: ReportSection, scope: Scope) -> Section:
        measures = [self.measure(scope.level, m) for m in section.tiles]
        targets = [self.measure(scope.level, dataclasses.replace(m, field=m.target))
                   for m in section.tiles if isinstance(m.target, str)]
        stored = [m for m in measures + targets if m.field.kind.storage != "periods"]
        result = self.aggregate(self.session, scope, stored)
        by_measure = iter(result.total.amounts)
        phased = iter(self.scenario_sums(scope, [m for m in section.tiles if m.scenario]))
        amounts = [next(phased) if m.field.kind.storage == "periods" else next(by_measure)
                   for m in measures + targets]
        target_amounts = iter(amounts[len(measures):])
        tiles = []
        for m, measure, amount in zip(section.tiles, measures, amounts):
            target = next(target_amounts) if isinstance(m.target, str) else m.target
            tile = Tile(m.label, self.amount_text(measure, amount), amount.value, amount.hidden, amount.left_out,
                        f"{m.field}.{m.aggregate}")
            tiles.append(dataclasses.replace(tile, comparison=self.compare(m, measure, tile, target)))
        return dataclasses.replace(base, tiles=tuple(tiles), notes=_left_out_notes(measures, amounts))

    def scenario_sums(self, scope: Scope, tiles: list[ReportMeasure]) -> list[Amount]:
        """Tiles of time-phased fields: the sum of their scenario over the chosen periods
        (all periods without a filter), as the reader may see the field."""
        keys = {p.key for p in (self.period.periods(self.config) if self.period else self.config.periods)}
        amounts = []
        for m in tiles:
            fld = scope.level.field(m.field)
            assert fld is not None
            totals, left_out, hidden = period_totals(self.session, scope, fld)
            found = [v for k, v in totals.get(m.scenario or "", {}).items() if k in keys]
            amounts.append(Amount(None, True) if hidden else
                           Amount(float(sum(found)) if found else None, False, left_out, len(found)))
        return amounts

    def compare(self, m: ReportMeasure, measure: Measure, tile: Tile, target: Amount | float | None) -> Comparison | None:
        """The tile's difference to its target (with its colour) or to its last snapshot."""
        if not m.compare_to:
            return None
        if m.compare_to == "snapshot":
            before = self.snapshot_tile(tile.key)
            if self.previous is None or before is None:
                return Comparison("snapshot", "", note="No earlier snapshot to compare with.")
            reference = f"Snapshot {self.previous.snapshot or self.previous.as_of}"
            return self.difference("snapshot", reference, m, measure, tile, before.value, judge=False)
        if isinstance(target, Amount):
            if target.hidden:
                return Comparison("target", "", note="The target is hidden from you.")
            target = target.value
        reference = "Target " + (self.amount_text(measure, Amount(target)) if target is not None else "–")
        return self.difference("target", reference, m, measure, tile, target, judge=True)

    def snapshot_tile(self, key: str) -> Tile | None:
        for section in self.previous.sections if self.previous else ():
            for tile in section.tiles:
                if tile.key == key and not tile.hidden:
                    return tile
        return None

    def difference(self, against: str, reference: str, m: ReportMeasure, measure: Measure, tile: Tile,
                   other: Any, judge: bool) -> Comparison:
        if tile.hidden or not isinstance(tile.value, (int, float)) or not isinstance(other, (int, float)):
            return Comparison(against, reference, note="Nothing to compare.")
        delta = float(tile.value) - float(other)
        direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
        good = delta >= 0 if m.better == "higher" else delta <= 0
        sign = "+" if delta > 0 else "−" if delta < 0 else "±"
        text = sign + self.amount_text(measure, Amount(abs(delta)))
        if judge:
            miss = abs(delta) / abs(other) * 100 if other else (0.0 if good else 100.0)
            rag = "green" if good else "amber" if miss <= m.tolerance else "red"
        else:
            rag = "" if direction == "flat" else "green" if good else "red"
        words = {"green": "On target" if judge else "Better", "amber": "Near target",
                 "red": "Off target" if judge else "Worse", "": "Unchanged"}
        return Comparison(against, reference, delta, text, direction, rag, words[rag])

    def measure(self, level: Level, m: ReportMeasure) -> Measure:
        fld = level.field(m.field)
        assert fld is not None  # the configuration checks every reference
        return Measure(fld, m.aggregate)

    def amount_text(self, measure: Measure, amount: Amount) -> str:
        if amount.hidden:
            return "Hidden"
        if amount.value is None:
            return "–"
        if measure.function == "count":
            return f"{int(amount.value):,}"
        return self.display(measure.field, amount.value)

    def display(self, fld: Field, value: Any) -> str:
        """An aggregate as the field shows its values (money with currency, percent, a date;
        a sum of time-phased amounts as money)."""
        if fld.kind.storage == "periods" and isinstance(value, (int, float)):
            return Formatter(self.config.locale, self.config.currency, self.config.timezone).money(round(value, 2))
        if not isinstance(value, (int, float)):
            return fld.kind.display(fld, value, self.config)
        number: float | int = round(value, 2)
        if float(number).is_integer():
            number = int(number)
        return fld.kind.display(fld, number, self.config)

    # -- tables --------------------------------------------------------------------------
    def table(self, base: Section, section: ReportSection, scope: Scope) -> Section:
        level = scope.level
        visible = tables.columns(self.config, self.access, level, section.columns)
        shown_keys = {c.key for c in visible}
        hidden = tuple(fld.label for key in section.columns
                       if key not in shown_keys and (fld := level.field(key)) is not None)
        numeric = [c for c in visible if c.field is not None and _rolls_up(c.field)]
        measures = [Measure(c.field, c.field.rollup) for c in numeric]  # type: ignore[arg-type, union-attr]
        sums = self.aggregate(self.session, scope, measures, section.group_by) if section.totals else None
        records = list(self.session.scalars(
            scope.records().order_by(*self.order(level, section)).limit(MAX_ROWS)))
        total_records = sums.total.records if sums else self.count(scope)
        rows = self.colored(scope, section, self.rows(level, visible, records))
        groups = self.group_rows(level, section, rows, records, visible, numeric, sums)
        columns = tuple(Column(c.key, c.label, c.field is not None and _is_number(c.field), c in numeric)
                        for c in visible)
        total = self.subtotal(visible, numeric, sums.total.amounts) if sums else None
        notes = list(_left_out_notes(measures, sums.total.amounts) if sums else ())
        if len(records) < total_records:
            notes.append(f"The table shows the first {len(records):,} of {total_records:,} records; "
                         "the totals count them all.")
        grouped_by = self.group_label(level, section.group_by) if section.group_by else ""
        table = Table(columns, groups, total_records, len(records), total, grouped_by, hidden)
        return dataclasses.replace(base, table=table, notes=tuple(notes))

    def count(self, scope: Scope) -> int:
        return self.session.scalar(select(func.count(Record.id)).where(scope.where())) or 0

    def order(self, level: Level, section: ReportSection) -> list[Any]:
        """Rows by the layout's sort column; a field some role of the reader hides orders
        nothing (the order would tell its values), the record number breaks ties."""
        key = section.sort or "number"
        column: Any = Record.number
        if key in {"title", "stage", "updated_at", "number"}:
            column = getattr(Record, {"stage": "stage_key"}.get(key, key))
        elif key == "owner":
            column = Record.owner_id
        elif (fld := level.field(key)) is not None and self.access.field_visible_everywhere(fld, level.key):
            column = value_column(fld)
        return [column.desc() if section.descending else column.asc(), Record.id]

    def rows(self, level: Level, columns: list[tables.Column], records: list[Record]) -> list[Row]:
        """The table's rows from the field pipeline: the same visibility (roles, overrides and
        conditions) and the same display text as the record's page and its list row."""
        from steerco.engine.records import Records  # records imports reports' neighbours

        service = Records(self.session, self.tenant_id, self.config, self.access, now=self.now)
        return [Row(row.record.id, row.record.number, tuple(
                    Cell("", None, True) if cell.hidden else Cell(cell.text, _json_value(cell.value))
                    for cell in row.cells))
                for row in tables.rows(service, level, columns, records)]

    def colored(self, scope: Scope, section: ReportSection, rows: list[Row]) -> list[Row]:
        """Each row in the colour of the first rule that holds on it; one query per rule,
        and a rule reading a value the reader may not see on that record does not hold."""
        if not section.row_colors or not rows:
            return rows
        ids = [row.record_id for row in rows]
        chosen: dict[int, tuple[str, str]] = {}
        for rule in section.row_colors:
            condition = self.readable_condition(scope, rule.when)
            if condition is None:
                continue
            for record_id in self.session.scalars(select(Record.id).where(
                    scope.where(), Record.id.in_(ids), condition)):
                chosen.setdefault(record_id, (rule.color, rule.label))
        return [dataclasses.replace(row, color=chosen[row.record_id][0], color_label=chosen[row.record_id][1])
                if row.record_id in chosen else row for row in rows]

    def readable_condition(self, scope: Scope, expression: Any) -> Any:
        """SQL of a condition that holds only where the reader sees every value it reads
        (None: it reads a field hidden from the reader everywhere)."""
        parts = [sql_condition(expression, scope.level, self.now.date())]
        for name in sorted(expression.names):
            fld = scope.level.field(name)
            if fld is None:
                continue
            if hidden_everywhere(scope, fld):
                return None
            parts.append(visible(scope, fld, self.now.date()))
        return and_(*parts)

    # -- cross-tabs ----------------------------------------------------------------------
    def crosstab(self, base: Section, section: ReportSection, scope: Scope) -> Section:
        level = scope.level
        assert section.group_by and section.column_by  # the schema requires both
        if section.series:
            measure = self.measure(level, section.series[0])
            name = section.series[0].label if section.series[0].aggregate != "count" else f"Number of {level.label_plural}"
        else:
            measure, name = None, f"Number of {level.label_plural}"
        measures = [measure] if measure else []
        result = self.aggregate(self.session, scope, measures, (section.group_by, section.column_by))
        by_cell = {g.key: g for g in result.groups}
        row_keys = {k[0] for k in by_cell}
        column_keys = {k[1] for k in by_cell}
        row_labels = self.group_labels(level, section.group_by, row_keys)
        column_labels = self.group_labels(level, section.column_by, column_keys)
        rows_order = self.group_order(level, section.group_by, row_keys, row_labels)
        columns_order = self.group_order(level, section.column_by, column_keys, column_labels)
        shown = [m for m in measures if not hidden_everywhere(scope, m.field)]

        def cell(groups: list[Any]) -> Cell:
            found = [g for g in groups if g is not None]
            if measure is None:
                records = sum(g.records for g in found)
                return Cell(f"{records:,}" if records else "–", records)
            amount = combine(found, measures, shown).amounts[0]
            return Cell(self.amount_text(measure, amount) if amount.count or amount.hidden else "–",
                        _json_value(amount.value), amount.hidden)

        rows = tuple(CrossRow(_key_text(r), row_labels.get(r, str(r)),
                              tuple(cell([by_cell.get((r, c))]) for c in columns_order),
                              cell([by_cell.get((r, c)) for c in columns_order])) for r in rows_order)
        totals = tuple(cell([by_cell.get((r, c)) for r in rows_order]) for c in columns_order)
        grand = cell(list(by_cell.values()))
        table = CrossTab(name, self.group_label(level, section.group_by), self.group_label(level, section.column_by),
                         tuple(_key_text(c) for c in columns_order),
                         tuple(column_labels.get(c, str(c)) for c in columns_order), rows, totals, grand)
        notes = _left_out_notes(measures, result.total.amounts) if measures else ()
        if measure is not None and not shown:
            notes = (f"{measure.field.label} is hidden from you.",)
        return dataclasses.replace(base, crosstab=table, notes=tuple(notes))

    # -- approvals waiting -----------------------------------------------------------------
    def approvals(self, base: Section, section: ReportSection, scope: Scope) -> Section:
        """The approval steps waiting on the section's records, oldest first: what a
        steering committee chases. Only records the reader may read (the scope)."""
        limit = section.limit or 50
        rows = self.session.execute(
            select(Record.id, Record.number, Record.title, ApprovalTask.label, ApprovalTask.opened_at,
                   ApprovalTask.due_at, ApprovalTask.escalated_at, TransitionRequest.transition_key,
                   TransitionRequest.workflow_key, User.name)
            .join(ApprovalTask, and_(ApprovalTask.record_id == Record.id, ApprovalTask.tenant_id == Record.tenant_id))
            .join(TransitionRequest, TransitionRequest.id == ApprovalTask.request_id)
            .outerjoin(User, User.id == TransitionRequest.requested_by_id)
            .where(scope.where(), ApprovalTask.state == "pending")
            .order_by(ApprovalTask.opened_at, ApprovalTask.id).limit(limit + 1)).all()
        workflow = self.config.workflow_of(scope.level)
        labels = {t.key: t.label for t in workflow.transitions} if workflow else {}
        columns = (Column("number", "Number", False), Column("title", "Title", False),
                   Column("transition", "Transition", False), Column("step", "Waiting for", False),
                   Column("requester", "Requested by", False), Column("since", "Waiting since", False),
                   Column("due", "Due", False))
        today = self.now.date()
        shown = []
        for (record_id, number, title, step, opened, due, escalated, transition, _, requester) in rows[:limit]:
            overdue = due is not None and due.date() < today
            shown.append(Row(record_id, number, (
                Cell(number), Cell(title), Cell(labels.get(transition, transition)), Cell(step),
                Cell(requester or ""), Cell(f"{opened:%Y-%m-%d}" if opened else ""),
                Cell((f"{due:%Y-%m-%d}" if due else "") + (" (escalated)" if escalated else ""))),
                "red" if overdue else "", "Overdue" if overdue else ""))
        if not shown:
            return dataclasses.replace(base, notes=("No approval is waiting.",))
        notes = (f"The {limit} longest waiting steps are shown; more are waiting.",) if len(rows) > limit else ()
        table = Table(columns, (RowGroup(None, "", tuple(shown), len(shown)),), len(shown), len(shown))
        return dataclasses.replace(base, table=table, notes=notes)

    # -- exceptions open ---------------------------------------------------------------------
    def exceptions(self, base: Section, section: ReportSection, scope: Scope) -> Section:
        """The open exceptions on the section's records, overdue first, then oldest: what a
        forum reviews. Only records the reader may read (the scope)."""
        limit = section.limit or 50
        rows = self.session.execute(
            select(Record.id, Record.number, Record.title, ExceptionCase.rule_key, ExceptionCase.opened_at,
                   ExceptionCase.due_at, ExceptionCase.escalated_to, ExceptionCase.holds)
            .join(ExceptionCase, and_(ExceptionCase.record_id == Record.id, ExceptionCase.tenant_id == Record.tenant_id))
            .where(scope.where(), ExceptionCase.state == "open")
            .order_by(ExceptionCase.due_at, ExceptionCase.id).limit(limit + 1)).all()
        if not rows:
            return dataclasses.replace(base, notes=("No exception is open.",))
        columns = (Column("number", "Number", False), Column("title", "Title", False),
                   Column("rule", "Exception", False), Column("forum", "Forum", False),
                   Column("opened", "Raised", False), Column("due", "Due", False),
                   Column("escalated", "Escalated to", False))
        shown = []
        for record_id, number, title, rule_key, opened, due, escalated_to, holds in rows[:limit]:
            rule = self.config.exception_rules.get(rule_key)
            forum = self.config.forums.get(rule.forum) if rule and rule.forum else None
            target = self.config.forums.get(escalated_to) if escalated_to else None
            overdue = due < self.now
            shown.append(Row(record_id, number, (
                Cell(number), Cell(title), Cell((rule.label if rule else rule_key) + ("" if holds else " (cleared)")),
                Cell(forum.label if forum else ""), Cell(f"{opened:%Y-%m-%d}"), Cell(f"{due:%Y-%m-%d}"),
                Cell(target.label if target else self._role_label(escalated_to))),
                "red" if overdue else "", "Overdue" if overdue else ""))
        notes = (f"The {limit} most urgent are shown; more are open.",) if len(rows) > limit else ()
        table = Table(columns, (RowGroup(None, "", tuple(shown), len(shown)),), len(shown), len(shown))
        return dataclasses.replace(base, table=table, notes=notes)

    def _role_label(self, key: str | None) -> str:
        if not key:
            return ""
        role = self.config.roles.get(key)
        return role.label if role else key

    def subtotal(self, columns: list[tables.Column], numeric: list[tables.Column],
                 amounts: Sequence[Amount]) -> tuple[Cell | None, ...]:
        by_key = dict(zip((c.key for c in numeric), amounts))
        cells: list[Cell | None] = []
        for column in columns:
            amount = by_key.get(column.key)
            if amount is None or column.field is None:
                cells.append(None)
            else:
                text = self.amount_text(Measure(column.field, column.field.rollup), amount)  # type: ignore[arg-type]
                cells.append(Cell(text, amount.value, amount.hidden))
        return tuple(cells)

    # -- grouping ------------------------------------------------------------------------
    def group_rows(self, level: Level, section: ReportSection, rows: list[Row], records: list[Record],
                   columns: list[tables.Column], numeric: list[tables.Column],
                   sums: Aggregation | None) -> tuple[RowGroup, ...]:
        if not section.group_by:
            return (RowGroup(None, "", tuple(rows), len(rows)),)
        keys = self.row_keys(level, section.group_by, records)
        labels = self.group_labels(level, section.group_by, set(keys))
        by_key: dict[Any, list[Row]] = {}
        for key, row in zip(keys, rows):
            by_key.setdefault(key, []).append(row)
        counted = {g.key: g for g in sums.groups} if sums else {}
        groups = []
        for key in self.group_order(level, section.group_by, set(by_key) | set(counted), labels):
            group = counted.get(key)
            subtotal = self.subtotal(columns, numeric, group.amounts) if group else None
            groups.append(RowGroup(_key_text(key), labels.get(key, str(key)),
                                   tuple(by_key.get(key, ())), group.records if group else len(by_key.get(key, ())),
                                   subtotal))
        return tuple(groups)

    def row_keys(self, level: Level, group_by: str, records: list[Record]) -> list[Any]:
        """The grouping value of each row, as the aggregate's SQL computes it."""
        if group_by in {"stage", "owner", "number", "title", "updated_at"}:
            column = {"stage": "stage_key", "owner": "owner_id"}.get(group_by, group_by)
            return [getattr(r, column) for r in records]
        fld = level.field(group_by)
        if fld is None:  # an ancestor level: one query finds every row's ancestor there
            ids = {i for r in records for i in r.ancestor_ids}
            found = set(self.session.scalars(select(Record.id).where(
                Record.tenant_id == self.tenant_id, Record.id.in_(ids), Record.level_key == group_by))) if ids else set()
            return [next((i for i in r.ancestor_ids if i in found), None) for r in records]
        return [self.field_key(level, fld, r) for r in records]

    def field_key(self, level: Level, fld: Field, record: Record) -> Any:
        scope = expression_scope(record.values or {}, record.stage_key, record.title)
        if self.access.field_mode(fld, record, level.key) == "hidden" or (
                fld.visible_if is not None and not fld.visible_if.holds(scope, today=self.now.date())):
            return HIDDEN
        value = (record.values or {}).get(fld.key)
        numeric = isinstance(value, int) and not isinstance(value, bool) and fld.kind.sort_cast(fld) == "float"
        return float(value) if numeric else value

    def group_label(self, level: Level, group_by: str) -> str:
        fld = level.field(group_by)
        if fld is not None:
            return fld.label
        if group_by in self.config.levels:
            return self.config.levels[group_by].label
        return tables.SYSTEM_LABELS.get(group_by, group_by.replace("_", " ").capitalize())

    def group_labels(self, level: Level, group_by: str, keys: set[Any]) -> dict[Any, str]:
        """Readable names of the grouping values (one query for owners or ancestors)."""
        labels: dict[Any, str] = {None: "No value", HIDDEN: "Hidden from you"}
        present = {k for k in keys if k not in labels}
        if group_by == "stage":
            workflow = self.config.workflow_of(level)
            labels.update({k: (s.label if workflow and (s := workflow.stage(k)) else str(k)) for k in present})
        elif group_by == "owner":
            labels[None] = "No owner"
            labels.update(dict(self.session.execute(select(User.id, User.name).where(User.id.in_(present))).all()))
        elif (fld := level.field(group_by)) is not None:
            labels.update({k: fld.kind.display(fld, k, self.config) or "No value" for k in present})
        elif group_by in self.config.levels:
            labels[None] = f"No {self.config.levels[group_by].label}"
            readable = self.session.execute(select(Record.id, Record.number, Record.title).where(
                Record.tenant_id == self.tenant_id, Record.id.in_(present), Record.deleted_at.is_(None),
                self.access.read_filter(group_by))).all()
            labels.update({k: "Not visible to you" for k in present})
            labels.update({i: f"{n} {t}" for i, n, t in readable})
        else:
            labels.update({k: str(k) for k in present})
        return labels

    def group_order(self, level: Level, group_by: str, keys: set[Any], labels: dict[Any, str]) -> list[Any]:
        """Stages in workflow order, options in configured order, the rest by label;
        "no value" and "hidden" last."""
        rank: dict[Any, int] = {}
        workflow = self.config.workflow_of(level)
        if group_by == "stage" and workflow:
            rank = {s.key: s.order for s in workflow.stages}
        elif (fld := level.field(group_by)) is not None and fld.options:
            rank = {o.key: i for i, o in enumerate(fld.options)}
        return sorted(keys, key=lambda k: (k is None or k == HIDDEN, k == HIDDEN, rank.get(k, len(rank)),
                                           labels.get(k, str(k)).lower()))

    # -- charts --------------------------------------------------------------------------
    def chart(self, base: Section, section: ReportSection, scope: Scope) -> Section:
        draw = {"stage_funnel": self.funnel, "bar": self.bars, "line": self.line,
                "waterfall": self.waterfall}[section.chart or "bar"]
        chart, notes = draw(section, scope)
        return dataclasses.replace(base, chart=chart, notes=notes)

    def formatter(self, fld: Field) -> Callable[[float], str]:
        return lambda value: self.display(fld, value)

    def funnel(self, section: ReportSection, scope: Scope) -> tuple[Chart | None, tuple[str, ...]]:
        workflow = self.config.workflow_of(scope.level)
        if workflow is None:
            return None, (f"{scope.level.label_plural} have no stages.",)
        measure = self.measure(scope.level, section.series[0])
        if hidden_everywhere(scope, measure.field):
            return None, (f"{measure.field.label} is hidden from you.",)
        result = self.aggregate(self.session, scope, [measure], "stage")
        by_stage = {g.key: g for g in result.groups}
        stages = [charts.Stage(s.label, (by_stage[s.key].amounts[0].value or 0) if s.key in by_stage else 0,
                               by_stage[s.key].records if s.key in by_stage else 0, s.color)
                  for s in workflow.stages]
        svg = charts.funnel_chart(section.title or measure.field.label, stages, fmt=self.formatter(measure.field),
                                  key=f"chart-{base_key(section)}")
        chart = Chart("stage_funnel", tuple(s.label for s in stages),
                      ((section.series[0].label, tuple(s.value for s in stages)),), svg)
        return chart, _left_out_notes([measure], [result.total.amounts[0]])

    def bars(self, section: ReportSection, scope: Scope) -> tuple[Chart | None, tuple[str, ...]]:
        measures = [self.measure(scope.level, m) for m in section.series]
        shown = [(m, s) for m, s in zip(measures, section.series) if not hidden_everywhere(scope, m.field)]
        notes = tuple(f"{m.field.label} is hidden from you." for m in measures if hidden_everywhere(scope, m.field))
        if not shown:
            return None, notes
        per_record = section.group_by is None
        result = self.aggregate(self.session, scope, [m for m, _ in shown], "id" if per_record else section.group_by)
        labels = self.bar_labels(scope.level, section, result, per_record)
        groups = [g for g in result.groups if g.key in labels]
        if per_record:
            groups.sort(key=lambda g: -(g.amounts[0].value or 0))
            groups = groups[: section.limit or DEFAULT_BARS]
        else:
            order = self.group_order(scope.level, section.group_by or "", {g.key for g in groups}, labels)
            groups.sort(key=lambda g: order.index(g.key))
            groups = groups[: section.limit] if section.limit else groups
        series = tuple((s.label, tuple(g.amounts[i].value for g in groups)) for i, (_, s) in enumerate(shown))
        names = tuple(labels[g.key] for g in groups)
        fmt = self.formatter(shown[0][0].field)
        svg = charts.bar_chart(section.title or shown[0][1].label, names,
                               [charts.Series(name, values) for name, values in series], stacked=section.stacked,
                               fmt=fmt, key=f"chart-{base_key(section)}")
        return Chart("bar", names, series, svg), notes + _left_out_notes([m for m, _ in shown], result.total.amounts)

    def bar_labels(self, level: Level, section: ReportSection, result: Aggregation, per_record: bool) -> dict[Any, str]:
        keys = {g.key for g in result.groups}
        if not per_record:
            return self.group_labels(level, section.group_by or "", keys)
        return {i: f"{n} {t}" for i, n, t in self.session.execute(
            select(Record.id, Record.number, Record.title).where(Record.tenant_id == self.tenant_id,
                                                                 Record.id.in_(keys))).all()}

    def line(self, section: ReportSection, scope: Scope) -> tuple[Chart | None, tuple[str, ...]]:
        fld = self.measure(scope.level, section.series[0]).field
        totals, left_out, hidden = period_totals(self.session, scope, fld)
        if hidden:
            return None, (f"{fld.label} is hidden from you.",)
        periods = self.period.periods(self.config) if self.period else self.config.periods
        series = tuple((scenario.capitalize(), tuple(totals.get(scenario, {}).get(p.key) for p in periods))
                       for scenario in fld.scenarios)
        labels = tuple(p.label for p in periods)
        # In the grid's unit: money in the tenant's currency, a measure's own unit (%, h).
        unit = fld.kind.unit_label(fld, self.config.currency)
        svg = charts.line_chart(section.title or fld.label, labels,
                                [charts.Series(name, values) for name, values in series],
                                fmt=lambda v: f"{charts.plain(v)} {unit}".rstrip(),
                                key=f"chart-{base_key(section)}")
        notes = (f"{left_out:,} {scope.level.label_plural.lower()} with {fld.label} you may not see are left "
                 "out.",) if left_out else ()
        return Chart("line", labels, series, svg), notes

    def waterfall(self, section: ReportSection, scope: Scope) -> tuple[Chart | None, tuple[str, ...]]:
        if section.steps:
            return self.bridge(section, scope)
        workflow = self.config.workflow_of(scope.level)
        measure = self.measure(scope.level, section.series[0])
        if workflow is None:
            return None, (f"{scope.level.label_plural} have no stages.",)
        if hidden_everywhere(scope, measure.field):
            return None, (f"{measure.field.label} is hidden from you.",)
        result = self.aggregate(self.session, scope, [measure], "stage")
        by_stage = {g.key: g.amounts[0].value or 0.0 for g in result.groups}
        steps = [charts.Step(s.label, by_stage.get(s.key, 0.0)) for s in workflow.stages]
        steps.append(charts.Step("Total", sum(by_stage.values()), total=True))
        return self.waterfall_chart(section, measure.field, steps), _left_out_notes([measure], result.total.amounts)

    def bridge(self, section: ReportSection, scope: Scope) -> tuple[Chart | None, tuple[str, ...]]:
        measures = [self.measure(scope.level, m) for m in section.steps]
        hidden = [m for m in measures if hidden_everywhere(scope, m.field)]
        if hidden:
            return None, (", ".join(m.field.label for m in hidden) + " hidden from you: the bridge needs every "
                          "step.",)
        result = self.aggregate(self.session, scope, measures)
        totals = [a.value or 0.0 for a in result.total.amounts]
        steps = [charts.Step(section.steps[0].label, totals[0], total=True)]
        for previous, step, value in zip(totals, section.steps[1:], totals[1:]):
            steps += [charts.Step(f"Change to {step.label}", value - previous), charts.Step(step.label, value, True)]
        return self.waterfall_chart(section, measures[0].field, steps), _left_out_notes(measures, result.total.amounts)

    def waterfall_chart(self, section: ReportSection, fld: Field, steps: list[charts.Step]) -> Chart:
        svg = charts.waterfall_chart(section.title or fld.label, steps, fmt=self.formatter(fld),
                                     key=f"chart-{base_key(section)}")
        return Chart("waterfall", tuple(s.label for s in steps), (("value", tuple(s.value for s in steps)),), svg)


def base_key(section: ReportSection) -> str:
    """A chart's element ids: stable per layout section, distinct between sections."""
    return hashlib.sha1(repr((section.title, section.chart, section.series, section.steps,
                              section.group_by)).encode()).hexdigest()[:8]


def _is_number(fld: Field) -> bool:
    """Numbers, money, percentages (not ids of users or records, not yes/no)."""
    return "sum" in fld.kind.rollups and fld.kind.sort_cast(fld) == "float"


def _rolls_up(fld: Field) -> bool:
    """A column with subtotals: its field configures a rollup its type allows, over
    values stored on the record (a percentage averages, an amount sums, a target none)."""
    return fld.rollup != "none" and fld.rollup in fld.kind.rollups and \
        fld.kind.storage in ("values", "computed") and fld.kind.sort_cast(fld) in ("float", "string")


def _key_text(key: Any) -> str | None:
    """A grouping value as JSON shows it."""
    return None if key is None else "hidden" if key == HIDDEN else str(key)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _left_out_notes(measures: Sequence[Measure], amounts: Sequence[Amount]) -> tuple[str, ...]:
    notes = []
    seen: set[str] = set()
    for measure, amount in zip(measures, amounts):
        if amount.left_out and measure.field.key not in seen:
            seen.add(measure.field.key)
            many = amount.left_out != 1
            notes.append(f"{amount.left_out:,} value{'s' if many else ''} of {measure.field.label} you may not "
                         f"see {'are' if many else 'is'} left out.")
    return tuple(notes)
