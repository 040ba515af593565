"""The import screens and the import API with the Flask test client: upload, map, check
(problems per row and cell), a corrected file, import; a large file as a background job
with its progress; an import is its uploader's alone; rows the importer may not create
are refused by the record engine like a form."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tokens
from steerco.engine.records import Submission
from steerco.store.models import ImportJob, Record

PASSWORD = "correct-horse-battery"  # what tests/conftest.py's make_user gives every user

GOOD = "Title;Potential (EUR);Category;Due date\nSteel;1000;Procurement;2026-03-01\nPaper;2500.5;personnel;\n"
BAD = GOOD.replace("2500.5", "a lot")


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(minimal_documents())
    admin = make_user(tenant, [("admin", None)], email="admin@mini.example")
    owner = make_user(tenant, [("owner", None)], email="owner@mini.example")
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return tenant, admin, owner, program


def _login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302


def _upload(client, program, text: str, name: str = "measures.csv"):  # type: ignore[no-untyped-def]
    return client.post("/t/mini/import", data={"level": "measure", "parent": program.number,
                                              "file": (io.BytesIO(text.encode()), name)})


def _measures(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Record).where(Record.level_key == "measure"))


def test_upload_map_check_fix_and_import(client, world, session):  # type: ignore[no-untyped-def]
    tenant, admin, owner, program = world
    _login(client, "admin@mini.example")
    page = client.get(f"/t/mini/r/{program.id}").get_data(as_text=True)
    assert f"/t/mini/import?level=measure&amp;parent={program.number}" in page
    assert client.get("/t/mini/import").status_code == 200
    response = _upload(client, program, BAD)
    assert response.status_code == 303
    job_url = response.headers["Location"]
    page = client.get(job_url).get_data(as_text=True)
    # suggested by label; the unit in brackets does not matter
    assert re.search(r'name="column-1">.*?<option value="potential" selected>', page, re.S)
    mapping = {"column-0": "_title", "column-1": "potential", "column-2": "category", "column-3": "due"}
    assert client.post(f"{job_url}/mapping", data=mapping).status_code == 303
    page = client.get(job_url).get_data(as_text=True)
    assert "1 of 2 rows have problems; nothing was imported" in page
    assert 'data-row="3"' in page and "a lot" in page and "Enter a number" in page
    assert _measures(session) == 0
    response = client.post(f"{job_url}/file", data={"file": (io.BytesIO(GOOD.encode()), "fixed.csv")})
    assert response.status_code == 303
    page = client.get(job_url).get_data(as_text=True)
    assert "No problems in 2 rows: ready to import" in page, re.sub(r"\s+", " ", page)[:3000]
    assert client.post(f"{job_url}/run").status_code == 303
    page = client.get(job_url).get_data(as_text=True)
    assert "2 measures imported: M-001 to M-002" in page
    assert _measures(session) == 2
    paper = session.scalar(select(Record).where(Record.title == "Paper"))
    assert paper.values["potential"] == 2500.5 and paper.values["category"] == "personnel"
    # the next import of measures starts from this mapping, by column name
    response = _upload(client, program, "Due date;Title\n2026-01-01;X\n")
    job = session.get(ImportJob, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert job.mapping == {"0": "due", "1": "_title"}


def test_a_large_file_runs_as_a_job_with_progress(client, app, world, session, monkeypatch):  # type: ignore[no-untyped-def]
    tenant, admin, owner, program = world
    monkeypatch.setitem(app.config, "IMPORT_INLINE_ROWS", 10)
    _login(client, "admin@mini.example")
    rows = "".join(f"Measure {n};{n}\n" for n in range(1, 301))
    job_url = _upload(client, program, "Title;Potential\n" + rows).headers["Location"]
    job_id = int(job_url.rsplit("/", 1)[1])
    assert client.post(f"{job_url}/mapping", data={"column-0": "_title", "column-1": "potential"}).status_code == 303
    from steerco.web.imports import runner
    with app.app_context():
        live = runner()
    status = client.get(f"{job_url}/status", headers={"HX-Request": "true"})
    assert status.status_code == 200  # the progress partial, or a refresh once finished
    live.wait(job_id)
    assert client.get(f"{job_url}/status", headers={"HX-Request": "true"}).headers.get("HX-Refresh") == "true"
    assert "No problems in 300 rows" in client.get(job_url).get_data(as_text=True)
    client.post(f"{job_url}/run")
    live.wait(job_id)
    assert "300 measures imported" in client.get(job_url).get_data(as_text=True)
    assert _measures(session) == 300


def test_an_import_is_its_uploaders_alone(client, world, make_user, session):  # type: ignore[no-untyped-def]
    tenant, admin, owner, program = world
    make_user(tenant, [("admin", None)], email="other@mini.example")
    _login(client, "admin@mini.example")
    job_url = _upload(client, program, GOOD).headers["Location"]
    client.post("/logout")
    _login(client, "other@mini.example")
    assert client.get(job_url).status_code == 404
    assert client.post(f"{job_url}/run").status_code == 404


def test_a_member_who_may_create_nothing_has_no_import(client, world):  # type: ignore[no-untyped-def]
    _login(client, "owner@mini.example")
    assert client.get("/t/mini/import").status_code == 404


def test_the_api_checks_and_imports_a_file(client, world, session):  # type: ignore[no-untyped-def]
    tenant, admin, owner, program = world
    _, token = tokens.create_token(session, admin, "import")
    session.commit()
    api = {"Authorization": f"Bearer {token}"}

    def post(text: str, **form):  # type: ignore[no-untyped-def]
        data = {"level": "measure", "parent": program.number, "file": (io.BytesIO(text.encode()), "m.csv"), **form}
        return client.post("/api/t/mini/imports", headers=api, data=data)

    refused = post(BAD, commit="true")
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["committed"] is False and body["problems"][0]["row"] == 3
    assert body["problems"][0]["cells"][0]["column"] == "Potential (EUR)"
    assert _measures(session) == 0
    done = post(GOOD, commit="true", mapping='{"Title": "_title", "Potential (EUR)": "potential"}')
    assert done.status_code == 200 and done.get_json()["created"] == ["M-001", "M-002"]
    assert done.get_json()["mapping"] == {"Title": "_title", "Potential (EUR)": "potential"}
    assert _measures(session) == 2
    assert client.post("/api/t/mini/imports", data={"level": "measure"}).status_code == 401
