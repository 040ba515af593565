"""Excel workbooks of what a reader may see: list exports and report tables.

The rows come from the field pipeline (:func:`steerco.engine.tables.row` over
:meth:`Records.export_rows`), so a workbook holds exactly what the list page and the CSV
hold for that reader: a field hidden by a role, or by its condition for that record, is an
empty cell. What the workbook adds is types: numbers, money and percentages are numbers
with a number format (the currency in it), dates are dates, each as its field type says
(``sheet_value``).

Text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return, also after leading spaces) gets a leading apostrophe, in headers
and values alike, as in the CSV export; numbers, negative ones too, stay numbers.

Workbooks are written with openpyxl's write-only mode: rows go to disk as they come, so
memory stays flat however long the list.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import IO, Any, Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from steerco.engine.tables import Cell
from steerco.fields.display import Display

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: what a spreadsheet runs as a formula when a text cell starts with it
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Excel's limit on a cell's text
CELL_TEXT_MAX = 32_767
DATE_FORMAT = "yyyy-mm-dd"
_BOLD = Font(bold=True)


def neutralised(text: str) -> str:
    """Text a spreadsheet shows and never runs: a leading apostrophe before anything
    formula-like, characters XML cannot carry removed, at most Excel's cell length."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        text = "'" + text
    return text[:CELL_TEXT_MAX]


def typed_value(cell: Cell, display: Display) -> tuple[Any, str | None]:
    """A table cell as a typed spreadsheet value and its number format.

    Hidden: empty. A problem ("cannot be computed: ..."): its text. A field's value: as its
    type writes it. A system column: its export value (the update time as a date).
    """
    if cell.hidden:
        return None, None
    if cell.problem:
        return cell.problem, None
    fld = cell.column.field
    if fld is not None:
        if cell.value is None or fld.kind.is_empty(cell.value):
            return None, None
        return fld.kind.sheet_value(fld, cell.value, display)
    if isinstance(cell.value, dt.datetime):
        return cell.value.date(), DATE_FORMAT
    return cell.export, None


class SheetWriter:
    """One write-only workbook; add sheets, each with a bold, frozen header row."""

    def __init__(self) -> None:
        self.book = Workbook(write_only=True)
        self.titles: set[str] = set()

    def sheet(self, title: str, headers: Iterable[str]) -> WriteOnlyWorksheet:
        sheet = self.book.create_sheet(self._title(title))
        sheet.freeze_panes = "A2"
        sheet.append([self._cell(sheet, neutralised(str(h)), None, bold=True) for h in headers])
        return sheet

    def append(self, sheet: WriteOnlyWorksheet, values: Iterable[tuple[Any, str | None]]) -> None:
        sheet.append([self._cell(sheet, value, number_format) for value, number_format in values])

    def save(self) -> IO[bytes]:
        """The workbook in a temporary file (in memory while small), rewound for reading."""
        out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        self.book.save(out)
        out.seek(0)
        return out

    @staticmethod
    def _cell(sheet: WriteOnlyWorksheet, value: Any, number_format: str | None, bold: bool = False) -> Any:
        if isinstance(value, str):
            value = neutralised(value)
        elif value is not None and not isinstance(value, (int, float, dt.date, bool)):
            value = neutralised(str(value))
        if number_format is None and not bold:
            return value  # a plain cell: openpyxl types it (never a formula: text was neutralised)
        cell = WriteOnlyCell(sheet, value=value)
        if number_format:
            cell.number_format = number_format
        if bold:
            cell.font = _BOLD
        return cell

    def _title(self, title: str) -> str:
        """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in the book."""
        base = "".join(" " if c in "[]:*?/\\" else c for c in ILLEGAL_CHARACTERS_RE.sub("", title)).strip()
        base = (base or "Sheet")[:31]
        name, n = base, 2
        while name.lower() in self.titles:
            suffix = f" ({n})"
            name, n = base[:31 - len(suffix)] + suffix, n + 1
        self.titles.add(name.lower())
        return name


def report_workbook(config: Any, report: Any) -> IO[bytes]:
    """The tables of a built report (:class:`steerco.reports.data.ReportData`), one sheet
    each, as the reader sees them on the page: group headings, rows, subtotals and the total.
    Numbers and dates are typed by their field; every other cell is the page's text."""
    writer = SheetWriter()
    display = Display.of(config)
    for section in report.sections:
        table = section.table
        if table is None:
            continue
        level = config.levels.get(section.level)
        fields = [level.field(c.key) if level is not None else None for c in table.columns]
        sheet = writer.sheet(section.title or report.title, [c.label for c in table.columns])

        def typed(cell: Any, fld: Any) -> tuple[Any, str | None]:
            if cell is None or cell.hidden:
                return None, None
            if fld is not None and cell.value is not None and not fld.kind.is_empty(cell.value) \
                    and fld.kind.value_problem(fld, cell.value) is None:
                value, number_format = fld.kind.sheet_value(fld, cell.value, display)
                if not isinstance(value, str):
                    return value, number_format
            return cell.text, None

        for group in table.groups:
            if group.label:
                writer.append(sheet, [(group.label, None)])
            for row in group.rows:
                writer.append(sheet, (typed(c, f) for c, f in zip(row.cells, fields)))
            if group.subtotal is not None and group.label:
                writer.append(sheet, [("Subtotal", None)] + [typed(c, f) for c, f in zip(group.subtotal, fields)][1:])
        if table.total is not None:
            writer.append(sheet, [("Total", None)] + [typed(c, f) for c, f in zip(table.total, fields)][1:])
    if not writer.titles:
        writer.sheet(report.title, ["This report has no tables."])
    return writer.save()
