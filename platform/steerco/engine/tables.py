"""Tables of records as the actor may see them: the one source for lists and exports.

A column shows when some role of the actor may see its field at the level; each cell
comes from the field pipeline (:mod:`steerco.engine.fieldviews`) for the record it
belongs to, so it follows the record's own field states: one user can hold a role that
hides a field tenant-wide and another that shows it in one program's subtree, and a
value hidden by its own ``visible_if`` is hidden in the row too. A hidden cell carries
no value at all, so no template or export can print it by mistake. Sorting by a column
is allowed only when no role of the actor hides it, so the order of rows cannot reveal
a value the actor may not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from sqlalchemy import ColumnElement

from steerco.config.model import SYSTEM_COLUMNS, Field, Level, TenantConfig
from steerco.engine.access import Access
from steerco.engine import fieldviews
from steerco.engine import forms
from steerco.engine.forms import compute_checked, expression_scope
from steerco.engine.fieldviews import RecordView
from steerco.fields.base import ExportValue
from steerco.reports.aggregate import Measure, aggregate
from steerco.reports.scope import Scope
from steerco.fields.display import Display
from steerco.store.models import Record

if TYPE_CHECKING:
    from steerco.engine.records import Records

SYSTEM_LABELS = {"number": "No.", "owner": "Owner", "stage": "Stage", "updated_at": "Updated"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    field: Field | None
    sortable: bool


@dataclass(frozen=True)
class Cell:
    column: Column
    value: Any
    text: str
    hidden: bool
    #: the value as a CSV cell (a number stays a number)
    export: ExportValue = None
    #: why the value cannot be shown ("cannot be computed: ..."), if so
    problem: str | None = None


@dataclass(frozen=True)
class Row:
    record: Record
    cells: tuple[Cell, ...]


def _label(level: Level, key: str, fld: Field | None) -> str:
    if fld is not None:
        return fld.label
    return level.title_label if key == "title" else SYSTEM_LABELS.get(key, key)


def columns(config: TenantConfig, access: Access, level: Level,
            keys: Iterable[str] | None = None) -> list[Column]:
    """The columns of ``keys`` (the level's list columns by default) the actor may see."""
    result = []
    for key in keys if keys is not None else level.list_columns:
        fld = level.field(key)
        if fld is None and key not in SYSTEM_COLUMNS:
            continue
        if fld is not None and access.field_mode(fld, None, level.key) == "hidden":
            continue
        sortable = fld is None or (fld.kind.tabular and access.field_visible_everywhere(fld, level.key))
        result.append(Column(key, _label(level, key, fld), fld, sortable))
    return result


def export_columns(config: TenantConfig, access: Access, level: Level) -> list[Column]:
    """Every column an export offers: system columns, then each stored or computed field."""
    keys = ["number", "title", "owner", "stage", "updated_at"] + [
        f.key for f in level.fields if f.kind.tabular]
    if config.workflow_of(level) is None:
        keys.remove("stage")
    return columns(config, access, level, keys)


def header(column: Column, display: Display) -> str:
    """A CSV header cell: the label, with the unit its numbers are in ("Potential (EUR)")."""
    unit = column.field.kind.export_unit(column.field, display) if column.field is not None else None
    return f"{column.label} ({unit})" if unit else column.label


def _system_value(config: TenantConfig, level: Level, record: Record, key: str,
                  display: Display, texts: bool = True) -> tuple[Any, str, ExportValue]:
    """(value, text, export value) of a system column."""
    if key == "number":
        return record.number, record.number, record.number
    if key == "title":
        return record.title, record.title, record.title
    if key == "owner":
        name = record.owner.name if record.owner else ""
        return record.owner_id, name, name
    if key == "stage":
        workflow = config.workflow_of(level)
        stage = workflow.stage(record.stage_key) if workflow else None
        label = stage.label if stage else ""
        return record.stage_key, label, label
    if key == "updated_at":
        day = record.updated_at.date()
        return record.updated_at, display.formatter.date(day) if texts else "", day.isoformat()
    return None, "", None


def row(config: TenantConfig, level: Level, cols: Iterable[Column], record: Record, view: RecordView,
        *, texts: bool = True) -> Row:
    """One record's cells, each from the record's view (hidden: no value, no text).

    ``texts=False`` leaves the cells' text empty: an export writes the export values only,
    and formatting every value for people (numbers, money, dates in the locale) was half
    the time of a large CSV.
    """
    cells = []
    for col in cols:
        if col.field is None:
            value, text, export = _system_value(config, level, record, col.key, view.display, texts)
            cells.append(Cell(col, value, text, False, export))
            continue
        fv = view.fields[col.field.key]
        if not fv.visible:
            cells.append(Cell(col, None, "", True))
        else:
            text = (fv.problem or fv.text) if texts else ""
            cells.append(Cell(col, fv.value, text, False, fv.export_value(), fv.problem))
    return Row(record, tuple(cells))


def rows(records: "Records", level: Level, cols: list[Column], items: Iterable[Record],
         views: Mapping[int, RecordView] | None = None, *, texts: bool = True) -> list[Row]:
    """One row per record (batched for all ``items``): from ``views`` when the caller has
    them, else from :class:`CellReader`, which works out only the columns' cells."""
    items = list(items)
    if views is not None:
        return [row(records.config, level, cols, record, views[record.id], texts=texts) for record in items]
    return CellReader(records, level, cols).rows(items, texts=texts)


class CellReader:
    """The cells of a list's or an export's columns, for many records of one level.

    The same decisions as the field pipeline (:mod:`steerco.engine.fieldviews`) makes for
    these columns, without the per-record field states of every field of the level (which
    a form needs and a table does not): a cell is visible when the reader's roles on the
    record do not hide its field (``Access.field_mode``, the one rule) and its
    ``visible_if`` holds; its value is the stored or computed one, a wrong-typed one shown
    as its problem. What does not depend on the record is worked out once per reader:
    the fields to load and compute, and the modes of the columns per combination of the
    roles that read and update a record (so 10,000 records under one package cost one
    mode lookup per column, not one per cell). ``tests/web/test_field_access.py`` checks
    lists and exports against the record page.
    """

    def __init__(self, records: "Records", level: Level, cols: Iterable[Column]):
        self.records = records
        self.level = level
        self.cols = list(cols)
        self.fields = [c.field for c in self.cols if c.field is not None]
        wanted = {f.key for f in self.fields} | {f.key for f in level.computed_order}
        for f in self.fields:
            wanted |= f.inputs
        #: what must be read to know the columns' values and visibility (with every
        #: computed field, as the pipeline computes them all in dependency order)
        self.needed = level.depends_on(wanted)
        self.computes = bool(level.computed_order)
        self.conditional = any(f.visible_if is not None for f in self.fields)
        self._modes: dict[tuple[frozenset[str], frozenset[str]], tuple[str, ...]] = {}

    def _modes_of(self, record: Record) -> tuple[str, ...]:
        access, key = self.records.access, self.level.key
        roles = (access.roles_allowing("read", key, record), access.roles_allowing("update", key, record))
        modes = self._modes.get(roles)
        if modes is None:
            modes = self._modes[roles] = tuple(access.field_mode(f, record, key) for f in self.fields)
        return modes

    def rows(self, items: list[Record], *, texts: bool = True,
             members: Mapping[int, str] | None = None) -> list[Row]:
        """One row per record; ``texts=False`` leaves the cells' texts empty (see :func:`row`);
        ``members``: the workspace's user names when the caller has read them."""
        if not items:
            return []
        records, level = self.records, self.level
        today = fieldviews.today_of(records)
        loaded = records.values_of(items, level, only=self.needed)
        prepared = []
        users: set[Any] = set()
        refs: set[Any] = set()
        for record in items:
            values = loaded[record.id]
            problems: Mapping[str, str] = {}
            if self.computes:
                computed, problems = compute_checked(level, values, record.stage_key, record.title, today)
                values = {**values, **computed}
            scope = expression_scope(values, record.stage_key, record.title) if self.conditional else None
            shown = []
            for fld, mode in zip(self.fields, self._modes_of(record)):
                visible = forms.shown(fld, mode, scope, today)
                shown.append(visible)
                if visible:
                    fieldviews.note_lookup(fld, values.get(fld.key), users, refs)
            prepared.append((record, values, problems, shown))
        display = fieldviews.display_for(records, users, refs, members)
        return [self._row(record, values, problems, shown, display, texts)
                for record, values, problems, shown in prepared]

    def _row(self, record: Record, values: Mapping[str, Any], problems: Mapping[str, str],
             shown: list[bool], display: Display, texts: bool) -> Row:
        config, level = self.records.config, self.level
        visible = iter(shown)
        cells = []
        for col in self.cols:
            fld = col.field
            if fld is None:
                value, text, export = _system_value(config, level, record, col.key, display, texts)
                cells.append(Cell(col, value, text, False, export))
                continue
            if not next(visible):
                cells.append(Cell(col, None, "", True))
                continue
            value = values.get(fld.key)
            problem = problems.get(fld.key) or fld.kind.value_problem(fld, value)
            if problem:
                cells.append(Cell(col, None, problem if texts else "", False, problem, problem))
                continue
            text = fld.kind.display(fld, value, display) if texts else ""
            cells.append(Cell(col, value, text, False, fld.kind.export_value(fld, value, display)))
        return Row(record, tuple(cells))

    def stream(self, parent: Record | None, *, texts: bool = True) -> Iterator[Row]:
        """Every readable record of the level under ``parent`` as a row, in number order,
        from one streamed statement (:meth:`Records.export_stream`), with at most one batch
        in memory. User names are read once for the whole export; what else a batch
        needs (time-phased amounts or files a column depends on, referenced records'
        labels) is read per batch only when the batch has some."""
        lookups = {getattr(f.kind, "lookup", None) for f in self.fields}
        members = fieldviews.member_names(self.records) if "users" in lookups else None
        for batch in self.records.export_stream(self.level.key, parent):
            yield from self.rows(batch, texts=texts, members=members)


@dataclass(frozen=True)
class Total:
    """A numeric column's footer: its field's rollup over the values the reader sees."""

    column: Column
    function: str
    text: str
    #: values among the listed records hidden from the reader, and so not counted
    left_out: int = 0


#: rollups a footer shows (a target's "none" shows nothing)
FOOTER_ROLLUPS = ("sum", "avg", "min", "max")


def _totalled(col: Column) -> bool:
    fld = col.field
    return fld is not None and fld.rollup in FOOTER_ROLLUPS and fld.rollup in fld.kind.rollups \
        and fld.kind.storage in ("values", "computed") and fld.kind.sort_cast(fld) == "float"


def totals(records: "Records", level: Level, cols: Iterable[Column],
           condition: ColumnElement[bool]) -> tuple[Total | None, ...]:
    """The footer of a list: per column, its rollup over every listed record (all pages)
    that matches ``condition`` and that the reader may read, counting only the values the
    reader sees (role modes and ``visible_if``, decided by the database as for a report).
    One aggregate query, whatever the number of records; none when nothing is totalled."""
    cols = list(cols)
    wanted = [col for col in cols if _totalled(col)]
    if not wanted:
        return tuple(None for _ in cols)
    scope = Scope(records.tenant_id, records.config, records.access, level, condition)
    measures = [Measure(col.field, col.field.rollup) for col in wanted]  # type: ignore[union-attr, arg-type]
    found = dict(zip((col.key for col in wanted), aggregate(records.session, scope, measures).total.amounts))
    display = fieldviews.display_for(records)
    result: list[Total | None] = []
    for col in cols:
        amount = found.get(col.key)
        if amount is None or amount.hidden:
            result.append(None)
            continue
        value = amount.value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = "" if value is None else col.field.kind.display(col.field, value, display)  # type: ignore[union-attr]
        result.append(Total(col, col.field.rollup, text, amount.left_out))  # type: ignore[union-attr]
    return tuple(result)


@dataclass(frozen=True)
class Listing:
    """A page of one level's records under a parent, with the columns the actor may see."""

    level: Level
    parent: Record | None
    page: Any
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    #: per column, its footer total (None: not totalled); empty when the list has none
    totals: tuple[Total | None, ...] = ()

    @property
    def has_totals(self) -> bool:
        return any(t is not None for t in self.totals)


def listing(records: "Records", level: Level, parent: Record | None, page: Any,
            condition: ColumnElement[bool] | None = None) -> Listing:
    """A page of a list with its columns and, over ``condition`` (the page's own
    conditions; by default the direct children of ``parent``), its footer totals."""
    cols = columns(records.config, records.access, level)
    if condition is None:
        condition = records.conditions(level, parent=parent, top_level=parent is None)
    return Listing(level, parent, page, tuple(cols), tuple(rows(records, level, cols, page.items)),
                   totals(records, level, cols, condition))
