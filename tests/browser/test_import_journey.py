"""Importing measures from a spreadsheet in a real browser: from a program's list, upload a
workbook, check the suggested mapping, check the file (a background job with an htmx
progress bar), see the bad row with its cell, upload the corrected file, import, and find
the measures in the list. Keyboard only where a person would use it: the form buttons."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook
from playwright.sync_api import Page, expect
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine.records import Submission

PASSWORD = "correct-horse-battery"  # what tests/conftest.py's make_user gives every user


def _workbook(potential_of_second: object) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["Title", "Potential (EUR)", "Category", "Financials plan 2026-01"])
    sheet.append(["Steel contracts", 120000, "Procurement", 1000])
    sheet.append(["Paper suppliers", potential_of_second, "Personnel", -250.5])
    sheet.append(["Energy tender", 9000, "procurement", None])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def program_id(session, make_tenant, make_user, records_for, live_app, monkeypatch) -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(live_app.config, "IMPORT_INLINE_ROWS", 0)  # every file runs as a job here
    tenant = make_tenant(minimal_documents())
    admin = make_user(tenant, [("admin", None)], email="admin@mini.example", name="Ada Admin")
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    found = program.id
    session.close()  # hold no transaction open while the server writes
    return found


def test_upload_map_preview_fix_and_import(page: Page, program_id: int, console_errors) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@mini.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/t/mini/r/{program_id}")

    page.locator("#children-measure").get_by_role("link", name="Import").click()
    expect(page.get_by_label("Import as")).to_have_value("measure")
    expect(page.get_by_label("Under the record numbered")).to_have_value("PG-0001")
    page.get_by_label("File").set_input_files({"name": "measures.xlsx", "buffer": _workbook("a lot"),
                                               "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    page.get_by_role("button", name="Upload and map the columns").click()

    # The mapping, suggested by the column names.
    expect(page).to_have_url(re.compile(r"/t/mini/import/\d+$"))
    expect(page.get_by_label("Title")).to_have_value("_title")
    expect(page.get_by_label("Potential (EUR)")).to_have_value("potential")
    expect(page.get_by_label("Financials plan 2026-01")).to_have_value("financials.plan.2026-01")
    page.get_by_label("Category").select_option("category")
    page.get_by_role("button", name="Check the file").focus()
    page.keyboard.press("Enter")

    # The check runs as a job: a progress bar, then the page reloads with the outcome.
    expect(page.locator("#import-problems")).to_be_visible(timeout=30_000)
    expect(page.locator("#import-problems [role=alert]")).to_contain_text("1 of 3 rows have problems")
    problem = page.locator("tr.import-problem[data-row='3']")
    expect(problem).to_contain_text("Paper suppliers")
    expect(problem).to_contain_text("Potential (EUR)")
    expect(problem).to_contain_text("a lot")
    expect(problem).to_contain_text("Enter a number")

    page.get_by_label("Upload a corrected file").set_input_files({
        "name": "measures-fixed.xlsx", "buffer": _workbook(8000),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    page.get_by_role("button", name="Upload and check again").focus()
    page.keyboard.press("Enter")
    run = page.get_by_role("button", name="Import 3 measures")
    expect(run).to_be_visible(timeout=30_000)
    run.focus()
    page.keyboard.press("Enter")

    expect(page.locator("#import-summary")).to_contain_text("3 measures imported: M-001 to M-003", timeout=30_000)
    page.get_by_role("link", name="See the measures").click()
    rows = page.locator("#children-measure tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#children-measure")).to_contain_text("Paper suppliers")
    assert console_errors() == []
