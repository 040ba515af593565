"""Lists export to Excel: read back with openpyxl, the workbook has typed cells (numbers,
money and percentages with their formats, dates as dates), no value the reader may not see
(a field hidden by its condition for that record, a field hidden from the reader's role),
neutralised formula-like text in headers and cells, negative numbers as numbers, and a
frozen header row."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from werkzeug.datastructures import MultiDict

from configs import editor_documents
from steerco.engine.records import Submission

PASSWORD = "correct-horse-battery"  # what tests/conftest.py's make_user gives every user


def _documents():  # type: ignore[no-untyped-def]
    documents = editor_documents()
    documents["fields"]["fields"] += [
        {"key": "delta", "label": "-Delta", "type": "decimal"},
        {"key": "share", "label": "Share", "type": "percent"},
        {"key": "lead", "label": "Lead", "type": "user"},
    ]
    measure = documents["levels"]["levels"][1]
    measure["sections"][0]["fields"] += ["delta", "share", "lead"]
    return documents


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(_documents())
    admin = make_user(tenant, [("admin", None)], email="admin@mini.example", name="Ada Admin")
    editor = make_user(tenant, [("editor", None)], email="editor@mini.example")
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    records.create("measure", program, Submission("=HYPERLINK(\"http://evil\")", MultiDict({
        "potential": "120000", "has_capex": "1", "capex_amount": "5000", "due": "2026-03-31",
        "delta": "-42.5", "share": "12.5", "description": "-5 days", "lead": str(admin.id)})))
    hidden = records.create("measure", program, Submission("Capex later dropped", MultiDict({
        "potential": "8000", "has_capex": "1", "capex_amount": "7777", "description": "@SUM(A1)"})))
    session.commit()
    records.update(hidden, Submission(hidden.title, MultiDict({"has_capex": "0"})), hidden.version)
    session.commit()
    assert hidden.values["capex_amount"] == 7777  # still stored, hidden by its condition
    return tenant, program


def _workbook(client, email: str, program) -> list[list[object]]:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    response = client.get(f"/t/mini/r/{program.id}/list/measure/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2"
    return sheet


def _rows(sheet) -> list[list[object]]:  # type: ignore[no-untyped-def]
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_an_admin_gets_typed_cells_and_neutralised_formulas(client, world):  # type: ignore[no-untyped-def]
    _, program = world
    sheet = _workbook(client, "admin@mini.example", program)
    rows = _rows(sheet)
    header = rows[0]
    assert header[:4] == ["No.", "Title", "Owner", "Stage"]
    assert "Potential (EUR)" in header and "'-Delta" in header and "Share (%)" in header
    col = {name: i for i, name in enumerate(header)}
    first = rows[1]
    assert first[col["Title"]] == "'=HYPERLINK(\"http://evil\")"
    assert first[col["Description"]] == "'-5 days"
    assert first[col["Potential (EUR)"]] == 120000
    assert first[col["'-Delta"]] == -42.5  # a negative number stays a number
    assert first[col["Share (%)"]] == pytest.approx(0.125)
    assert first[col["Due date"]] == dt.datetime(2026, 3, 31)  # a date cell (openpyxl reads datetimes)
    assert first[col["Lead"]] == "Ada Admin"
    assert first[col["Capex amount (EUR)"]] == 5000
    cells = list(sheet.iter_rows(min_row=2, max_row=2))[0]
    assert "EUR" in cells[col["Potential (EUR)"]].number_format
    assert cells[col["Share (%)"]].number_format.endswith("%")
    assert cells[col["Due date"]].is_date
    assert cells[col["'-Delta"]].data_type == "n"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # no formula anywhere
    dropped = rows[2]
    assert dropped[col["Description"]] == "'@SUM(A1)"
    assert dropped[col["Capex amount (EUR)"]] is None  # hidden by its condition for this record
    assert not any(7777 == v for row in rows for v in row)


def test_a_role_hidden_field_is_not_in_the_workbook(client, world):  # type: ignore[no-untyped-def]
    _, program = world
    rows = _rows(_workbook(client, "editor@mini.example", program))
    header = rows[0]
    assert "Potential (EUR)" not in header and "Weighted potential (EUR)" not in header
    values = [v for row in rows for v in row]
    assert 120000 not in values and 60000 not in values and 8000 not in values and 7777 not in values
    assert len(rows) == 3


def test_the_list_offers_the_excel_export(client, world):  # type: ignore[no-untyped-def]
    _, program = world
    client.post("/login", data={"email": "admin@mini.example", "password": PASSWORD})
    page = client.get(f"/t/mini/r/{program.id}").data
    assert f"/t/mini/r/{program.id}/list/measure/export.xlsx".encode() in page


def test_report_tables_export_typed_and_only_what_the_reader_sees(client, session):  # type: ignore[no-untyped-def]
    from steerco.demo import DEMO_PASSWORD, load_demo

    load_demo(session)
    session.commit()

    def cells(email: str) -> list[object]:
        client.post("/logout")
        assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
        page = client.get("/t/acme/reports/portfolio_overview").get_data(as_text=True)
        assert "/t/acme/reports/portfolio_overview.xlsx" in page
        response = client.get("/t/acme/reports/portfolio_overview.xlsx")
        assert response.status_code == 200
        book = load_workbook(io.BytesIO(response.data))
        found = []
        for sheet in book.worksheets:
            assert sheet.freeze_panes == "A2"
            found += [c for row in sheet.iter_rows() for c in row if c.value is not None]
        return found

    admin = cells("admin@acme.example")
    numbers = [c.value for c in admin if c.data_type == "n"]
    assert 450000 in numbers  # the budget, a number (acme's page writes "450.000 €")
    assert all(c.data_type != "f" for c in admin)
    viewer = cells("viewer@acme.example")
    assert not {450000, 2450000, 1500000} & {c.value for c in viewer}
