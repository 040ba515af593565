"""Field-level rules wherever a value can leak or be written: pages, lists, CSV, PDF, history.

Journeys from the acme demo: the viewer must never see cost data (project budgets and
costs, measure baselines), not on the page, in a list, in an export, in a PDF or in the
audit trail view; the controller validates a benefit on a measure they do not own and
may change nothing else; a measure owner cannot set the controller's field.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import editor_documents, minimal_documents
from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.reports.pdf import BASE_URL, StaticOnlyFetcher, render_pdf
from steerco.store.models import Record, Tenant, User

SECRET_BUDGET, SECRET_BASELINE = "987654", "7777777"
SECRET_FORMS = ("987654", "987,654", "987.654", "7777777", "7,777,777", "7.777.777")


def _service(session, tenant: Tenant, email: str) -> Records:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.email == email))
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)))


def _record(session, title: str) -> Record:  # type: ignore[no-untyped-def]
    return session.scalar(select(Record).where(Record.title == title))


@pytest.fixture
def acme(session):  # type: ignore[no-untyped-def]
    """The demo, with a project budget and a measure baseline an admin just changed."""
    load_demo(session)
    session.commit()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    admin = _service(session, tenant, "admin@acme.example")
    project = _record(session, "Direct Material Savings")
    admin.update(project, Submission(project.title, MultiDict({"budget": SECRET_BUDGET})), project.version)
    measure = session.scalar(select(Record).where(Record.level_key == "measure",
                                                  Record.path.startswith(project.path)).order_by(Record.id))
    admin.update(measure, Submission(measure.title, MultiDict({"baseline": SECRET_BASELINE})), measure.version)
    session.commit()
    return tenant, project, measure


def _login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302


def _responses(client, project: Record, measure: Record) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    package = measure.parent_id
    urls = {
        "project page": f"/t/acme/r/{project.id}",
        "project list": f"/t/acme/r/{project.parent_id}/list/project",
        "project list sorted by budget": f"/t/acme/r/{project.parent_id}/list/project?sort=budget",
        "project export": f"/t/acme/r/{project.parent_id}/list/project/export.csv",
        "project history": f"/t/acme/r/{project.id}/history",
        "measure page": f"/t/acme/r/{measure.id}",
        "measure list": f"/t/acme/r/{package}/list/measure",
        "measure export": f"/t/acme/r/{package}/list/measure/export.csv",
        "measure history": f"/t/acme/r/{measure.id}/history",
    }
    answers = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        answers[name] = response.data
    for name, record in (("project pdf", project), ("measure pdf", measure)):
        response = client.get(f"/t/acme/r/{record.id}/pdf")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        answers[name] = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages).encode()
    return answers


def test_hidden_cost_data_reaches_the_viewer_nowhere(client, acme):  # type: ignore[no-untyped-def]
    _, project, measure = acme
    _login(client, "viewer@acme.example")
    for name, body in _responses(client, project, measure).items():
        for secret in SECRET_FORMS:
            assert secret.encode() not in body, f"{secret} leaked in {name}"
        for key in (b"budget", b"cost_to_date", b"baseline", b"business_case", b"financials"):
            assert b'id="value-' + key not in body, f"{key!r} shown in {name}"
        if name.endswith("export"):
            assert not {"Budget", "Cost to date", "Baseline"} & set(body.decode().splitlines()[0].split(","))


def test_the_same_responses_show_the_values_to_an_admin(client, acme):  # type: ignore[no-untyped-def]
    _, project, measure = acme
    _login(client, "admin@acme.example")
    answers = _responses(client, project, measure)
    # acme writes de-DE: "987.654 €" on screen and in PDFs, a plain number in the CSV.
    assert b"987.654" in answers["project page"] and b"987.654" in answers["project list"]
    assert b"987654" in answers["project export"] and b"987.654" in answers["project pdf"]
    assert b"7.777.777" in answers["measure history"] and b"7.777.777" in answers["measure page"]


def test_viewer_cannot_order_rows_by_a_hidden_column(client, acme, session):  # type: ignore[no-untyped-def]
    _, project, _ = acme
    _login(client, "viewer@acme.example")
    by_budget = client.get(f"/t/acme/r/{project.parent_id}/list/project?sort=budget&dir=desc").data
    numbers = [r.number for r in session.scalars(select(Record).where(
        Record.parent_id == project.parent_id, Record.level_key == "project").order_by(Record.number.desc()))]
    positions = [by_budget.index(n.encode()) for n in numbers]
    assert len(numbers) > 1 and positions == sorted(positions)  # ordered by number, not by budget
    assert b"sort=budget" not in by_budget


def test_export_is_csv_with_only_visible_columns_and_no_formulas(client, acme, session):  # type: ignore[no-untyped-def]
    tenant, project, _ = acme
    admin = _service(session, tenant, "admin@acme.example")
    fresh = session.get(Record, project.id)
    admin.update(fresh, Submission("=HYPERLINK(\"http://evil\")", MultiDict()), fresh.version)
    session.commit()
    _login(client, "viewer@acme.example")
    response = client.get(f"/t/acme/r/{project.parent_id}/list/project/export.csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["No.", "Project name", "Owner"] and "Budget" not in rows[0] and "Overall health" in rows[0]
    assert any(row[1] == "'=HYPERLINK(\"http://evil\")" for row in rows[1:])


def test_controller_validates_a_benefit_and_may_change_nothing_else(client, acme, session):  # type: ignore[no-untyped-def]
    _, _, measure = acme
    session.execute(Record.__table__.update().where(Record.id == measure.id).values(stage_key="doi5"))
    session.commit()
    _login(client, "controller@acme.example")
    form = client.get(f"/t/acme/r/{measure.id}/edit")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'name="benefit_validated"' in html and 'name="potential"' in html
    version = session.get(Record, measure.id).version
    refused = client.post(f"/t/acme/r/{measure.id}/edit", data={
        "title": measure.title, "version": version, "benefit_validated": "1", "potential": "1"})
    assert refused.status_code == 422
    assert "You may only read this field; your change was not applied." in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Record, measure.id).version == version
    saved = client.post(f"/t/acme/r/{measure.id}/edit", data={
        "title": measure.title, "version": version, "benefit_validated": "1"})
    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Record, measure.id).values["benefit_validated"] is True


def test_a_measure_owner_posting_the_controllers_field_changes_nothing_and_is_told_why(client, acme, session):  # type: ignore[no-untyped-def]
    tenant, _, _ = acme
    owner = session.scalar(select(User).where(User.email == "owner@acme.example"))
    measure = session.scalar(select(Record).where(Record.owner_id == owner.id, Record.level_key == "measure"))
    session.execute(Record.__table__.update().where(Record.id == measure.id).values(stage_key="doi5"))
    session.commit()
    _login(client, "owner@acme.example")
    version = session.get(Record, measure.id).version
    response = client.post(f"/t/acme/r/{measure.id}/edit", data={
        "title": "Renamed", "version": version, "benefit_validated": "1"})
    assert response.status_code == 422
    assert "You may only read this field" in response.get_data(as_text=True)
    session.expire_all()
    record = session.get(Record, measure.id)
    assert record.version == version and record.title == measure.title
    assert not record.values.get("benefit_validated")


def test_pdf_rendering_fetches_only_our_static_files(app, tmp_path):  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    fetcher = StaticOnlyFetcher(app.static_folder)
    for url in (f"file://{secret}", "http://127.0.0.1:9/x.png", f"{BASE_URL}static/../../secret.txt",
                "https://example.org/static/steerco.css"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert b"--ink" in fetcher.fetch(f"{BASE_URL}static/steerco.css").read()
    pdf = render_pdf(f'<p>Hello</p><img src="file://{secret}"><iframe src="file://{secret}"></iframe>'
                     f'<link rel="stylesheet" href="file://{secret}">', app.static_folder)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Hello" in text and "TOP-SECRET" not in text and b"TOP-SECRET" not in pdf


def test_controller_may_not_rename_a_measure_through_the_benefit_override(client, acme, session):  # type: ignore[no-untyped-def]
    _, _, measure = acme
    _login(client, "controller@acme.example")
    form = client.get(f"/t/acme/r/{measure.id}/edit").get_data(as_text=True)
    assert re.search(r'<input id="input-title"[^>]*readonly', form)
    version = session.get(Record, measure.id).version
    refused = client.post(f"/t/acme/r/{measure.id}/edit", data={
        "title": "Renamed by the controller", "version": version})
    assert refused.status_code == 422 and "You may only read this field" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Record, measure.id).title == measure.title


def _mini_with_editor(make_tenant, make_user, records_for, session):  # type: ignore[no-untyped-def]
    """The minimal tenant; an editor may update measures but not see the potential."""
    documents = editor_documents()
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    service = records_for(tenant, admin)
    program = service.create("program", None, Submission("Cost program", MultiDict()))
    measure = service.create("measure", program, Submission("Steel", MultiDict({"potential": "120000"})))
    session.commit()
    return tenant, make_user(tenant, [("editor", None)]), program, measure


def test_a_guess_of_a_hidden_value_gets_the_same_answer_whatever_it_is(client, session, make_tenant, make_user, records_for, login):  # type: ignore[no-untyped-def]
    _, editor, _, measure = _mini_with_editor(make_tenant, make_user, records_for, session)
    login(editor.email)
    answers = set()
    for guess in ("120000", "1000"):  # the stored value, and another
        response = client.post(f"/t/mini/r/{measure.id}/edit", data={
            "title": "Steel", "version": measure.version, "potential": guess})
        answers.add((response.status_code, "may not change" in response.get_data(as_text=True)))
    assert answers == {(422, True)}


def test_what_is_computed_from_a_hidden_field_is_hidden_with_it(client, session, make_tenant, make_user, records_for, login):  # type: ignore[no-untyped-def]
    _, editor, program, measure = _mini_with_editor(make_tenant, make_user, records_for, session)
    login(editor.email)
    page = client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)
    assert 'id="value-weighted"' not in page and "60,000" not in page  # weighted = potential * 0.5
    listing = client.get(f"/t/mini/r/{program.id}/list/measure/export.csv").get_data(as_text=True)
    assert "60000" not in listing and "60,000" not in listing and "Weighted" not in listing
    state = client.post(f"/t/mini/form/measure/state?record={measure.id}", data={"title": "Steel"})
    assert state.status_code == 200 and "60,000" not in state.get_data(as_text=True)


def test_a_reader_cannot_run_what_ifs_through_the_form_refresh(client, acme, session):  # type: ignore[no-untyped-def]
    _, project, measure = acme
    _login(client, "viewer@acme.example")
    assert client.post(f"/t/acme/form/measure/state?record={measure.id}", data={"title": "x"}).status_code == 403
    # And a record of another level than the URL's is no such record.
    _login(client, "admin@acme.example")
    assert client.post(f"/t/acme/form/project/state?record={measure.id}", data={"title": "x"}).status_code == 404


def test_the_history_leaves_out_changes_of_hidden_fields_entirely(client, acme, session):  # type: ignore[no-untyped-def]
    _, project, _ = acme
    _login(client, "viewer@acme.example")
    history = client.get(f"/t/acme/r/{project.id}/history").get_data(as_text=True)
    assert history.count('<li class="event-') == 1 and "Created" in history  # the budget change is not listed
    _login(client, "admin@acme.example")
    history = client.get(f"/t/acme/r/{project.id}/history").get_data(as_text=True)
    assert history.count('<li class="event-') == 2 and "987.654" in history


def test_an_export_named_with_any_characters_downloads(client, session, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    documents["levels"]["levels"][0]["label_plural"] = 'Programme – "Nord"; Ü'
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    login(admin.email)
    response = client.get("/t/mini/list/program/export.csv")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Programme_')
    assert "filename*=UTF-8''Programme_%E2%80%93_%22Nord%22%3B_%C3%9C.csv" in disposition
