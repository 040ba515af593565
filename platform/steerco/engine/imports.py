"""Spreadsheet imports: rows of an .xlsx or .csv file become records of one level.

The journey: upload a file for a level (under a parent record, or with a column that names
each row's parent by number), map its columns onto the level's fields (suggested by label,
and by what the last import of that level mapped), check it, import it.

Each row is sent through :meth:`steerco.engine.records.Records.create` exactly as a form
would be: its cells become form input (each field type's ``cell_input`` turns a cell into
what its form posts, so its ``parse``, the JSON Schema of its value, the field states of
the new record and the level's rules all judge it as they judge a form), and each created
record writes its own audit event. The check and the import are the same run in one
transaction: the check always rolls back; the import commits only when no row has a
problem, so a file imports entirely or not at all. Rows are checked after the earlier rows
were created, so a row may name a record an earlier row creates.

Users are named by e-mail or name, referenced records and parents by their number. A
time-phased money field takes one column per scenario and period.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from steerco.config.model import Level, TenantConfig
from steerco.engine.access import Access
from steerco.engine.errors import Forbidden, NotFound, SteercoError, ValidationFailed
from steerco.engine.records import Records, Submission
from steerco.fields.base import FieldInvalid, SheetCell
from steerco.store.blobs import BlobStore
from steerco.store.models import ImportJob, Record, User, utcnow

#: the most data rows one file may hold
MAX_ROWS = 100_000
#: how often (in rows) a run reports its progress
PROGRESS_EVERY = 100

#: mapping targets that are not fields (field keys start with a letter, so never clash)
TITLE, OWNER, PARENT = "_title", "_owner", "_parent"
#: a column left out of the import
SKIP = ""


class ImportRefused(SteercoError):
    """A file or mapping that cannot be imported at all (unreadable, no title column...)."""

    status = 422


# -- reading files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Sheet:
    """A file's header row and its data rows (each a tuple of cells as read)."""

    headers: tuple[str, ...]
    rows: list[tuple[SheetCell, ...]]

    #: the file's row number of the first data row (the header is row 1)
    FIRST_ROW = 2


def read_sheet(filename: str, data: bytes) -> Sheet:
    """The first worksheet of an .xlsx file, or a CSV file (comma, semicolon or tab;
    UTF-8, with or without BOM, else Windows-1252). The first row names the columns."""
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        table = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")):
        table = _csv_rows(data)
    else:
        raise ImportRefused("Upload an Excel workbook (.xlsx) or a CSV file (.csv).")
    header = next(table, None)
    if header is None or not any(_present(c) for c in header):
        raise ImportRefused("The file is empty: its first row must name the columns.")
    headers = tuple("" if c is None else str(c).strip() for c in header)
    width = max((i + 1 for i, h in enumerate(headers) if h), default=0)
    rows: list[tuple[SheetCell, ...]] = []
    for row in table:
        cells = tuple(row[:width]) + (None,) * (width - len(row))
        rows.append(cells)
        if len(rows) > MAX_ROWS:
            raise ImportRefused(f"The file has more than {MAX_ROWS:,} rows; split it into several files.")
    while rows and not any(_present(c) for c in rows[-1]):
        rows.pop()
    return Sheet(headers[:width], rows)


def _present(cell: SheetCell) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _xlsx_rows(data: bytes) -> Iterable[tuple[SheetCell, ...]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise ImportRefused(f"The file cannot be read as an Excel workbook ({type(exc).__name__}).") from None
    sheet = book.worksheets[0]

    def rows() -> Iterable[tuple[SheetCell, ...]]:
        try:
            yield from sheet.iter_rows(values_only=True)
        finally:
            book.close()

    return iter(rows())


def _csv_rows(data: bytes) -> Iterable[tuple[SheetCell, ...]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    return (tuple(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def cell_text(cell: SheetCell) -> str:
    """A cell as a problem report shows it."""
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(sep=" ")
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


# -- what columns may map onto ----------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Something a column may be imported into: the title, the owner, the parent or
    (an input of) a field."""

    name: str
    label: str
    field_key: str | None = None


def targets(config: TenantConfig, access: Access, level: Level) -> list[Target]:
    """Every target of the level a column may map onto: title, owner, parent (below the
    top level) and each input of each field the actor may see at the level."""
    found = [Target(TITLE, level.title_label), Target(OWNER, "Owner")]
    if not level.is_root:
        parents = " / ".join(config.levels[k].label for k in level.parents if k in config.levels)
        found.append(Target(PARENT, f"Parent ({parents}) number"))
    for fld in level.fields:
        if access.field_mode(fld, None, level.key) == "hidden":
            continue
        found.extend(Target(name, label, fld.key) for name, label in fld.kind.import_columns(fld, config.periods))
    return found


def _normal(text: str) -> str:
    """A header or label as compared: any case, no unit in brackets, single spaces."""
    text = re.sub(r"\(.*?\)", " ", str(text)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def suggest(headers: Iterable[str], choices: list[Target],
            remembered: Mapping[str, str] | None = None) -> dict[int, str]:
    """{column index: target name}: what the last import of the level mapped a header of
    that name to, else the target whose label (or key) the header reads as; each target
    at most once."""
    remembered = remembered or {}
    names = {t.name for t in choices}
    by_label: dict[str, str] = {}
    for target in choices:
        by_label.setdefault(_normal(target.label), target.name)
        by_label.setdefault(_normal(target.name.lstrip("_")), target.name)
    found: dict[int, str] = {}
    for index, header in enumerate(headers):
        if not header:
            continue
        guess = remembered.get(header)
        if guess not in names:
            guess = by_label.get(_normal(header))
        if guess and guess not in found.values():
            found[index] = guess
    return found


# -- the run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellProblem:
    column: str
    value: str
    message: str


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one row of the file: its row number and each cell's problem."""

    row: int
    title: str
    cells: tuple[CellProblem, ...]

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "title": self.title,
                "cells": [{"column": c.column, "value": c.value, "message": c.message} for c in self.cells]}


@dataclass
class Outcome:
    rows: int = 0
    numbers: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": len(self.numbers),
                "first": self.numbers[0] if self.numbers else None,
                "last": self.numbers[-1] if self.numbers else None}


Progress = Callable[[int, int], None]


class Importer:
    """Runs a file's rows through record creation for one actor (see the module doc)."""

    def __init__(self, records: Records, level: Level, parent: Record | None = None):
        self.records = records
        self.level = level
        self.parent = parent
        self._users: dict[str, int | None] | None = None
        self._numbers: dict[tuple[str, str], int | None] = {}
        self._parents: dict[str, Record | None] = {}

    def check_mapping(self, mapping: Mapping[int, str], choices: list[Target]) -> None:
        names = {t.name for t in choices}
        used = [t for t in mapping.values() if t]
        unknown = [t for t in used if t not in names]
        if unknown:
            raise ImportRefused(f"Unknown targets: {', '.join(unknown)}.")
        if len(set(used)) != len(used):
            raise ImportRefused("Map each field to one column only.")
        if TITLE not in used:
            raise ImportRefused(f"Choose the column that holds the {self.level.title_label.lower()}.")
        if not self.level.is_root and self.parent is None and PARENT not in used:
            raise ImportRefused("Choose a parent record to import under, or the column that names each "
                                "row's parent by number.")

    def run(self, sheet: Sheet, mapping: Mapping[int, str], progress: Progress | None = None) -> Outcome:
        """Create a record per non-empty row, in the session's transaction (the caller
        commits or rolls back); every row's problems are collected, none stops the run."""
        choices = targets(self.records.config, self.records.access, self.level)
        mapping = {int(i): t for i, t in mapping.items() if t and int(i) < len(sheet.headers)}
        self.check_mapping(mapping, choices)
        by_name = {t.name: t for t in choices}
        outcome = Outcome()
        total = len(sheet.rows)
        for offset, cells in enumerate(sheet.rows):
            if progress and offset % PROGRESS_EVERY == 0:
                progress(offset, total)
            if not any(_present(c) for c in cells):
                continue
            outcome.rows += 1
            number = Sheet.FIRST_ROW + offset
            created, problem = self._row(sheet, cells, mapping, by_name, number)
            if problem is not None:
                outcome.problems.append(problem)
            elif created is not None:
                outcome.numbers.append(created.number)
        if progress:
            progress(total, total)
        return outcome

    def _row(self, sheet: Sheet, cells: tuple[SheetCell, ...], mapping: Mapping[int, str],
             by_name: Mapping[str, Target], number: int) -> tuple[Record | None, RowProblem | None]:
        form: MultiDict[str, str] = MultiDict()
        title, owner, parent = "", None, self.parent
        problems: list[CellProblem] = []
        columns_of: dict[str, list[int]] = {}
        for index, name in mapping.items():
            target, cell = by_name[name], cells[index]
            columns_of.setdefault(target.field_key or name, []).append(index)
            header = sheet.headers[index]
            try:
                if name == TITLE:
                    title = cell_text(cell).strip()
                elif name == OWNER:
                    owner = self._owner(cell)
                elif name == PARENT:
                    parent = self._parent(cell)
                else:
                    fld = self.level.field(target.field_key or "")
                    assert fld is not None
                    for key, value in fld.kind.cell_input(fld, name, cell, self._resolve):
                        form.add(key, value)
            except FieldInvalid as exc:
                problems.append(CellProblem(header, cell_text(cell), str(exc)))
        if not problems:
            try:
                record = self.records.create(self.level.key, parent, Submission(title, form, owner=owner))
                return record, None
            except ValidationFailed as failed:
                problems = [self._cell_problem(sheet, cells, columns_of, key, message)
                            for key, message in failed.errors.items()]
            except (Forbidden, NotFound) as refused:
                problems = [CellProblem("", "", str(refused) or "You may not create this record here.")]
        return None, RowProblem(number, title, tuple(problems))

    def _cell_problem(self, sheet: Sheet, cells: tuple[SheetCell, ...], columns_of: Mapping[str, list[int]],
                      key: str, message: str) -> CellProblem:
        """A save's error at a field key, told at the column it came from (or the field's
        label when no column holds it, e.g. a required field the file lacks)."""
        source = {"title": TITLE, "owner": OWNER}.get(key, key)
        indexes = columns_of.get(source)
        if indexes:
            return CellProblem(sheet.headers[indexes[0]], cell_text(cells[indexes[0]]), message)
        fld = self.level.field(key)
        label = fld.label if fld is not None else {"title": self.level.title_label, "owner": "Owner"}.get(key, "")
        return CellProblem(label, "", message)

    # -- names to ids ---------------------------------------------------------------------
    def _resolve(self, source: str, target_level: str | None, text: str) -> int | None:
        if source == "users":
            return self._user_id(text)
        key = (target_level or "", text.strip())
        if key not in self._numbers:
            query = self.records._readable().with_only_columns(Record.id).where(Record.number == key[1])
            if target_level:
                query = query.where(Record.level_key == target_level)
            self._numbers[key] = self.records.session.scalar(query.limit(1))
        return self._numbers[key]

    def _user_id(self, text: str) -> int | None:
        """An active member by e-mail, or by name when exactly one member has it (any case)."""
        if self._users is None:
            rows = self.records.session.execute(self.records._members().with_only_columns(
                User.id, User.email, User.name)).all()
            users: dict[str, int | None] = {}
            for user_id, email, name in rows:
                users[email.casefold()] = user_id
            for user_id, _, name in rows:
                key = name.strip().casefold()
                if key not in users:
                    users[key] = user_id
                elif users[key] != user_id:
                    users[key] = None  # two members share the name: only the e-mail tells
            self._users = users
        return self._users.get(text.strip().casefold())

    def _owner(self, cell: SheetCell) -> int | None:
        text = cell_text(cell).strip()
        if not text:
            return None
        found = self._user_id(text)
        if found is None:
            raise FieldInvalid(f"No member with the e-mail or name {text!r} found.")
        # The creator owns a new record anyway: naming oneself needs no right to choose.
        return None if found == self.records.access.actor.user_id else found

    def _parent(self, cell: SheetCell) -> Record | None:
        text = cell_text(cell).strip()
        if not text:
            raise FieldInvalid("Name the parent record by its number.")
        if text not in self._parents:
            self._parents[text] = self.records.session.scalar(self.records._readable().where(
                Record.number == text, Record.level_key.in_(self.level.parents)).limit(1))
        found = self._parents[text]
        if found is None:
            raise FieldInvalid(f"No readable record numbered {text!r} to import under.")
        return found


# -- import jobs: the file, the mapping, the outcome --------------------------------------------
class Imports:
    """One actor's imports in one tenant: upload, map, and the job rows the runs report to."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access,
                 blobs: BlobStore):
        self.session, self.tenant_id, self.config, self.access, self.blobs = session, tenant_id, config, access, blobs

    def levels(self) -> list[Level]:
        """The levels the actor may create records of somewhere."""
        return [level for level in self.config.levels.values() if self.access.can_somewhere("create", level.key)]

    def upload(self, level_key: str, parent: Record | None, filename: str, data: bytes) -> ImportJob:
        """Read the file (refused now if unreadable), keep it, suggest a mapping."""
        level = self.config.levels.get(level_key)
        if level is None or not self.access.can_somewhere("create", level.key):
            raise NotFound("no such level")
        if parent is not None and parent.level_key not in level.parents:
            raise ImportRefused(f"A {level.label.lower()} cannot be imported under {parent.number}.")
        sheet = read_sheet(filename, data)
        job = ImportJob(tenant_id=self.tenant_id, user_id=self.access.actor.user_id, level_key=level.key,
                        parent_id=parent.id if parent else None, filename=filename[:255],
                        file_key=self.blobs.put(self.tenant_id, data), columns=list(sheet.headers),
                        row_count=len(sheet.rows), state="uploaded", message="Choose what each column holds",
                        created_at=utcnow())
        job.mapping = {str(i): t for i, t in suggest(sheet.headers, self.targets(job),
                                                     self.remembered(level.key)).items()}
        self.session.add(job)
        self.session.flush()
        return job

    def replace_file(self, job: ImportJob, filename: str, data: bytes) -> ImportJob:
        """A corrected file for the same import: columns of the same name keep their mapping."""
        self._editable(job)
        sheet = read_sheet(filename, data)
        before = {job.columns[int(i)]: t for i, t in job.mapping.items() if int(i) < len(job.columns)}
        if job.file_key:
            self.blobs.remove(self.tenant_id, job.file_key)
        job.filename, job.file_key = filename[:255], self.blobs.put(self.tenant_id, data)
        job.columns, job.row_count = list(sheet.headers), len(sheet.rows)
        job.mapping = {str(i): t for i, t in suggest(sheet.headers, self.targets(job), before).items()}
        job.state, job.problems, job.summary, job.progress = "uploaded", [], {}, 0
        job.message = "Check the file again"
        return job

    def set_mapping(self, job: ImportJob, mapping: Mapping[int, str]) -> None:
        self._editable(job)
        names = {t.name for t in self.targets(job)}
        job.mapping = {str(i): t for i, t in mapping.items() if t and t in names and 0 <= int(i) < len(job.columns)}
        job.state, job.problems, job.summary, job.progress = "uploaded", [], {}, 0

    def _editable(self, job: ImportJob) -> None:
        if job.state in ("done", "checking", "importing"):
            raise ImportRefused("This import is under way or done; start a new one.")

    def get(self, job_id: int) -> ImportJob:
        """The actor's own import; anyone else's (or another tenant's) is NotFound."""
        job = self.session.scalar(select(ImportJob).where(
            ImportJob.id == job_id, ImportJob.tenant_id == self.tenant_id,
            ImportJob.user_id == self.access.actor.user_id))
        if job is None or job.level_key not in self.config.levels:
            raise NotFound("no such import")
        return job

    def targets(self, job: ImportJob) -> list[Target]:
        return targets(self.config, self.access, self.config.levels[job.level_key])

    def remembered(self, level_key: str) -> dict[str, str]:
        """{header: target} as the workspace's last mapped import of the level had them."""
        last = self.session.scalar(select(ImportJob).where(
            ImportJob.tenant_id == self.tenant_id, ImportJob.level_key == level_key,
            ImportJob.state.in_(("checked", "done"))).order_by(ImportJob.id.desc()).limit(1))
        if last is None:
            return {}
        return {last.columns[int(i)]: t for i, t in last.mapping.items() if int(i) < len(last.columns)}

    def start(self, job: ImportJob, *, commit: bool) -> None:
        """Mark the job as under way (the caller commits, then runs :func:`run_import`)."""
        self._editable(job)
        if commit and not job.mapping:
            raise ImportRefused("Choose what the columns hold first.")
        job.state, job.progress = ("importing" if commit else "checking"), 0
        job.message = "Importing" if commit else "Checking"


def run_import(session: Session, job: ImportJob, records: Records, blobs: BlobStore, *,
               commit: bool, progress: Callable[[int, str], None] | None = None) -> Outcome:
    """Check (``commit`` False) or import one job's file as ``records``' actor, and write
    the outcome to the job. All or nothing: the records and the job's "done" commit
    together, or the records roll back and the job keeps its problems."""
    level = records.config.levels[job.level_key]
    parent = records.get(job.parent_id) if job.parent_id else None
    sheet = read_sheet(job.filename, blobs.get(job.tenant_id, job.file_key or ""))

    def report(done: int, total: int) -> None:
        if progress:
            progress(int(done * 100 / max(total, 1)), f"{'Importing' if commit else 'Checking'} row {done:,} of {total:,}")

    job_id, tenant_id = job.id, job.tenant_id
    try:
        outcome = Importer(records, level, parent).run(sheet, job.mapping, report)
    except ImportRefused as refused:
        session.rollback()
        _finish(session, tenant_id, job_id, state="uploaded", message=str(refused), problems=[], summary={})
        return Outcome()
    if commit and outcome.ok:
        job = session.get(ImportJob, job_id)  # type: ignore[assignment]
        job.state, job.progress, job.problems, job.summary = "done", 100, [], outcome.summary()
        job.message = f"{len(outcome.numbers):,} {level.label_plural.lower()} imported"
        job.finished_at = utcnow()
        stored = job.file_key
        job.file_key = None
        session.commit()
        if stored:
            blobs.remove(tenant_id, stored)
        return outcome
    session.rollback()
    problems = [p.as_json() for p in outcome.problems]
    if outcome.ok:
        message = f"No problems in {outcome.rows:,} rows: ready to import"
    else:
        message = f"{len(problems):,} of {outcome.rows:,} rows have problems; nothing was imported"
    _finish(session, tenant_id, job_id, state="checked" if outcome.ok else "problems", message=message,
            problems=problems, summary={"rows": outcome.rows, "problem_rows": len(problems)})
    return outcome


def _finish(session: Session, tenant_id: int, job_id: int, **values: Any) -> None:
    job = session.get(ImportJob, job_id)
    assert job is not None and job.tenant_id == tenant_id
    for key, value in values.items():
        setattr(job, key, value)
    job.progress, job.finished_at = 100, utcnow()
    session.commit()



# -- running large files in the background ------------------------------------------------------
class ImportRunner:
    """Runs checks and imports of large files on a thread of the web process.

    Each run works in a fresh session bound to the job's workspace, as the job's owner
    with the workspace's active configuration. The import holds its records in one
    transaction until the end, so its progress cannot be written to the database meanwhile
    (SQLite would wait for that very transaction): it is kept here, in memory, and read by
    :meth:`progress` while the job row says the run is under way.
    """

    def __init__(self, sessions: Callable[[], Session], blobs: BlobStore, workers: int = 1):
        from concurrent.futures import ThreadPoolExecutor

        self.sessions, self.blobs = sessions, blobs
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="steerco-import")
        self.futures: dict[int, Any] = {}
        self._progress: dict[int, tuple[int, str]] = {}

    def submit(self, tenant_id: int, job_id: int, *, commit: bool) -> None:
        self._progress[job_id] = (0, "Waiting to start")
        self.futures[job_id] = self.pool.submit(self._run, tenant_id, job_id, commit)

    def progress(self, job_id: int) -> tuple[int, str] | None:
        return self._progress.get(job_id)

    def wait(self, job_id: int, timeout: float = 600) -> None:
        """Block until the run has finished (tests, the command line)."""
        future = self.futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def _run(self, tenant_id: int, job_id: int, commit: bool) -> None:
        from steerco.engine import tenants
        from steerco.store import scoping
        from steerco.store.models import Tenant

        def report(percent: int, message: str) -> None:
            self._progress[job_id] = (percent, message)

        try:
            with self.sessions() as session:
                scoping.bind_to_tenant(session, tenant_id)
                job = session.get(ImportJob, job_id)
                tenant = session.get(Tenant, tenant_id)
                if job is None or tenant is None or job.tenant_id != tenant_id:
                    return
                user = session.get(User, job.user_id)
                assert user is not None
                config = tenants.active_config(session, tenant)
                access = Access(config, tenants.actor_for(session, tenant, user))
                records = Records(session, tenant_id, config, access, self.blobs)
                try:
                    run_import(session, job, records, self.blobs, commit=commit, progress=report)
                except Exception as exc:  # noqa: BLE001 - told on the import's page, not lost
                    session.rollback()
                    _finish(session, tenant_id, job_id, state="failed",
                            message=f"The {'import' if commit else 'check'} failed ({type(exc).__name__}); "
                                    "nothing was imported.")
        finally:
            self._progress.pop(job_id, None)
