"""Spreadsheet imports through the engine (no Flask): a 5,000-row workbook with three bad
rows imports nothing and names those rows and cells; fixed, it imports entirely, each
record with its audit event. Runs on SQLite and, with STEERCO_TEST_DATABASE_URL, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine.imports import (
    OWNER, PARENT, TITLE, ImportRefused, Imports, read_sheet, run_import, suggest, targets,
)
from steerco.engine.records import Submission
from steerco.store.models import AuditEvent, ImportJob, PeriodValue, Record

HEADERS = ["Title", "Potential (EUR)", "Needs capex", "Capex amount", "Category", "Due date", "Owner",
           "Financials plan 2026-01", "Financials plan 2026-02"]


def _xlsx(rows: list[list[object]], headers: list[str] = HEADERS) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _good_row(n: int, owner_email: str) -> list[object]:
    return [f"Measure {n}", 1000 + n, "no", None, "Procurement" if n % 2 else "personnel",
            dt.datetime(2026, 3, 1) + dt.timedelta(days=n % 200), owner_email, 100.5, -20]


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(minimal_documents())
    admin = make_user(tenant, [("admin", None)], email="admin@mini.example", name="Ada Admin")
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return tenant, admin, records, program


def _imports(session, records, upload_dir):  # type: ignore[no-untyped-def]
    return Imports(session, records.tenant_id, records.config, records.access, records.blobs)


def _mapping(job: ImportJob) -> dict[int, str]:
    return {int(i): t for i, t in job.mapping.items()}


def test_columns_are_suggested_by_label_and_remembered_per_level(world, session):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    level = records.config.levels["measure"]
    choices = targets(records.config, records.access, level)
    names = {t.name for t in choices}
    assert {TITLE, OWNER, PARENT, "potential", "financials.plan.2026-01"} <= names
    assert "evidence" not in names and "weighted" not in names  # files and computed values are not typed
    found = suggest(HEADERS + ["Parent number", "Something else"], choices)
    assert found[0] == TITLE and found[1] == "potential" and found[6] == OWNER
    assert found[9] == PARENT and 10 not in found
    imports = Imports(session, tenant.id, records.config, records.access, records.blobs)
    job = imports.upload("measure", program, "first.xlsx", _xlsx([["A", 1]], ["Name", "Amount"]))
    assert _mapping(job) == {}
    imports.set_mapping(job, {0: TITLE, 1: "potential"})
    job.state = "checked"
    session.commit()
    again = imports.upload("measure", program, "second.xlsx", _xlsx([["B", 2]], ["Amount", "Name"]))
    assert _mapping(again) == {0: "potential", 1: TITLE}


def test_a_file_that_cannot_be_read_is_refused_in_words():  # type: ignore[no-untyped-def]
    with pytest.raises(ImportRefused, match="Excel workbook"):
        read_sheet("a.xlsx", b"not a workbook")
    with pytest.raises(ImportRefused, match=".xlsx"):
        read_sheet("a.pdf", b"%PDF")
    sheet = read_sheet("a.csv", "Title;Potential\r\nÄrger;1,5\r\n".encode("utf-8-sig"))
    assert sheet.headers == ("Title", "Potential") and sheet.rows == [("Ärger", "1,5")]


def test_5000_rows_with_3_bad_ones_import_nothing_then_everything_once_fixed(  # type: ignore[no-untyped-def]
        world, session, capsys):
    tenant, admin, records, program = world
    rows = [_good_row(n, "admin@mini.example" if n % 3 else "Ada Admin") for n in range(1, 5001)]
    bad = {
        # file row number: (row index, column, bad value, what the check says)
        102: (100, "Potential (EUR)", "a lot", "Enter a number"),
        2502: (2500, "Capex amount", None, "Required."),  # capex needed: the amount becomes required
        4999: (4997, "Category", "Unknown", "Choose one of the offered options."),
    }
    rows[100][1] = "a lot"
    rows[2500][2] = "yes"
    rows[4997][4] = "Unknown"
    imports = Imports(session, tenant.id, records.config, records.access, records.blobs)
    job = imports.upload("measure", program, "measures.xlsx", _xlsx(rows))
    assert job.row_count == 5000
    assert _mapping(job) == {0: TITLE, 1: "potential", 2: "has_capex", 3: "capex_amount", 4: "category",
                             5: "due", 6: OWNER, 7: "financials.plan.2026-01", 8: "financials.plan.2026-02"}
    session.commit()
    before_events = session.scalar(select(func.count()).select_from(AuditEvent))

    started = time.perf_counter()
    imports.start(job, commit=False)
    session.commit()
    outcome = run_import(session, job, records, records.blobs, commit=False)
    checked = time.perf_counter() - started
    assert not outcome.ok and outcome.rows == 5000
    assert {p.row for p in outcome.problems} == set(bad)
    for problem in outcome.problems:
        _, column, value, message = bad[problem.row]
        assert [(c.column, message in c.message) for c in problem.cells] == [(column, True)], problem
        assert problem.cells[0].value == ("" if value is None else value)
    job = session.get(ImportJob, job.id)
    assert job.state == "problems" and len(job.problems) == 3
    assert session.scalar(select(func.count()).select_from(Record).where(Record.level_key == "measure")) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before_events


    rows[100][1] = 1234.5
    rows[2500][3] = 50_000
    rows[4997][4] = "procurement"
    job = imports.replace_file(job, "measures-fixed.xlsx", _xlsx(rows))
    assert len(job.mapping) == 9  # the same columns keep their mapping
    started = time.perf_counter()
    imports.start(job, commit=True)
    session.commit()
    outcome = run_import(session, job, records, records.blobs, commit=True)
    imported = time.perf_counter() - started
    assert outcome.ok and len(outcome.numbers) == 5000
    with capsys.disabled():
        print(f"\n[{session.bind.dialect.name}] 5,000 rows: check {checked:.1f} s, import {imported:.1f} s")

    job = session.get(ImportJob, job.id)
    assert job.state == "done" and job.summary["created"] == 5000 and job.file_key is None
    assert session.scalar(select(func.count()).select_from(Record).where(Record.level_key == "measure")) == 5000
    created = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "record.created"))
    assert created == 5000 + 1  # one per imported record (and the program)
    sample = session.scalar(select(Record).where(Record.title == "Measure 2501"))
    assert sample.parent_id == program.id and sample.owner_id == admin.id
    assert sample.values["has_capex"] is True and sample.values["capex_amount"] == 50_000
    assert sample.values["due"] == (dt.date(2026, 3, 1) + dt.timedelta(days=2501 % 200)).isoformat()
    amounts = {(p.period, float(p.amount)) for p in session.scalars(
        select(PeriodValue).where(PeriodValue.record_id == sample.id))}
    assert amounts == {("2026-01", 100.5), ("2026-02", -20.0)}
    assert session.scalar(select(Record).where(Record.title == "Measure 4998")).values["category"] == "procurement"


def test_a_parent_column_names_each_rows_parent_by_number(world, session, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    other = records.create("program", None, Submission("Other program", MultiDict()))
    session.commit()
    imports = Imports(session, tenant.id, records.config, records.access, records.blobs)
    data = _xlsx([["One", program.number], ["Two", other.number], ["Three", "PG-999"]], ["Title", "Parent number"])
    job = imports.upload("measure", None, "m.xlsx", data)
    assert _mapping(job) == {0: TITLE, 1: PARENT}
    imports.start(job, commit=False)
    session.commit()
    outcome = run_import(session, job, records, records.blobs, commit=False)
    assert [(p.row, p.cells[0].column, p.cells[0].value) for p in outcome.problems] == [(4, "Parent number", "PG-999")]


def test_a_user_or_reference_that_names_nobody_is_a_cell_problem(world, session, make_user):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    imports = Imports(session, tenant.id, records.config, records.access, records.blobs)
    job = imports.upload("measure", program, "m.csv", b"Title,Owner\nOne,nobody@example.com\nTwo,ADMIN@mini.example\n")
    imports.start(job, commit=False)
    session.commit()
    outcome = run_import(session, job, records, records.blobs, commit=False)
    assert [(p.row, p.cells[0].column, p.cells[0].message) for p in outcome.problems] == [
        (2, "Owner", "No member with the e-mail or name 'nobody@example.com' found.")]


def test_an_import_is_only_its_owners(world, session, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    imports = Imports(session, tenant.id, records.config, records.access, records.blobs)
    job = imports.upload("measure", program, "m.csv", b"Title\nOne\n")
    session.commit()
    other = records_for(tenant, make_user(tenant, [("admin", None)]))
    from steerco.engine.errors import NotFound
    with pytest.raises(NotFound):
        Imports(session, tenant.id, other.config, other.access, other.blobs).get(job.id)
