"""Tables of records as the actor may see them: the one source for lists and exports.

A column shows when some role of the actor may see its field at the level; each cell is
checked again against the record it belongs to, because one user can hold a role that
hides a field tenant-wide and another that shows it in one program's subtree. A hidden
cell carries no value at all, so no template or export can print it by mistake.
Sorting by a column is allowed only when no role of the actor hides it, so the order
of rows cannot reveal a value the actor may not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from steerco.config.model import SYSTEM_COLUMNS, Field, Level, TenantConfig
from steerco.engine.access import Access
from steerco.store.models import Record

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
        sortable = fld is None or (fld.kind.storage in {"values", "computed"}
                                   and access.field_visible_everywhere(fld, level.key))
        result.append(Column(key, _label(level, key, fld), fld, sortable))
    return result


def export_columns(config: TenantConfig, access: Access, level: Level) -> list[Column]:
    """Every column an export offers: system columns, then each stored or computed field."""
    keys = ["number", "title", "owner", "stage", "updated_at"] + [
        f.key for f in level.fields if f.kind.storage in {"values", "computed"}]
    if config.workflow_of(level) is None:
        keys.remove("stage")
    return columns(config, access, level, keys)


def _system_value(config: TenantConfig, level: Level, record: Record, key: str) -> tuple[Any, str]:
    if key == "number":
        return record.number, record.number
    if key == "title":
        return record.title, record.title
    if key == "owner":
        name = record.owner.name if record.owner else ""
        return name, name
    if key == "stage":
        workflow = config.workflow_of(level)
        stage = workflow.stage(record.stage_key) if workflow else None
        return record.stage_key, stage.label if stage else ""
    if key == "updated_at":
        return record.updated_at, record.updated_at.strftime("%Y-%m-%d")
    return None, ""


def rows(config: TenantConfig, access: Access, level: Level, cols: list[Column],
         records: Iterable[Record]) -> list[Row]:
    """One row per record, each cell checked against that record's field mode."""
    result = []
    for record in records:
        cells = []
        for col in cols:
            if col.field is None:
                value, text = _system_value(config, level, record, col.key)
                cells.append(Cell(col, value, text, False))
            elif access.field_mode(col.field, record, level.key) == "hidden":
                cells.append(Cell(col, None, "", True))
            else:
                value = (record.values or {}).get(col.field.key)
                cells.append(Cell(col, value, col.field.kind.display(col.field, value, config), False))
        result.append(Row(record, tuple(cells)))
    return result


@dataclass(frozen=True)
class Listing:
    """A page of one level's records under a parent, with the columns the actor may see."""

    level: Level
    parent: Record | None
    page: Any
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


def listing(config: TenantConfig, access: Access, level: Level, parent: Record | None, page: Any) -> Listing:
    cols = columns(config, access, level)
    return Listing(level, parent, page, tuple(cols), tuple(rows(config, access, level, cols, page.items)))
