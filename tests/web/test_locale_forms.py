"""Forms in the tenant's locale, grid cells marked one by one, and files that survive a
refused save (pending uploads), through the real app and database."""

from __future__ import annotations

import datetime as dt
import io
import re

from configs import minimal_documents
from steerco.engine.pending_uploads import PendingUploads
from steerco.fields import Upload
from steerco.store.models import Attachment, PendingUpload, PeriodValue, Record
from steerco.store.scoping import within_tenant


def _documents(locale: str):  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    documents["tenant"]["locale"] = locale
    return documents


def _setup(make_tenant, make_user, session, login, records_for, locale="en-GB"):  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import MultiDict

    from steerco.engine.records import Submission

    tenant = make_tenant(_documents(locale))
    user = make_user(tenant, [("admin", None)])
    assert login(user.email).status_code == 302
    program = records_for(tenant, user).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return tenant, user, program


def _form(**overrides):  # type: ignore[no-untyped-def]
    data = {"title": "Renegotiate steel", "description": "Cheaper coil", "potential": "120000",
            "has_capex": "0", "category": "procurement", "due": "2026-05-31"}
    data.update(overrides)
    return data


def test_a_german_workspace_reads_german_numbers_and_dates(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    _, _, program = _setup(make_tenant, make_user, session, login, records_for, "de-DE")
    response = client.post(f"/t/mini/new/measure?parent={program.id}", data=_form(
        potential="120.000", due="31.05.2026", **{"financials.plan.2026-01": "5.000,50"}))
    assert response.status_code == 303, response.get_data(as_text=True)
    measure = session.query(Record).filter_by(level_key="measure").one()
    assert measure.values["potential"] == 120000 and measure.values["due"] == "2026-05-31"
    assert float(session.query(PeriodValue).one().amount) == 5000.5
    form = client.get(f"/t/mini/r/{measure.id}/edit").get_data(as_text=True)
    assert 'value="120.000"' in form and 'value="31.05.2026"' in form and 'value="5.000,5"' in form
    assert 'data-decimal=","' in form and 'data-group="."' in form


def test_an_english_workspace_reads_english_grouping(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    _, _, program = _setup(make_tenant, make_user, session, login, records_for, "en-GB")
    response = client.post(f"/t/mini/new/measure?parent={program.id}", data=_form(
        potential="120,000", due="31/05/2026", **{"financials.plan.2026-01": "5,000.50"}))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert float(session.query(PeriodValue).one().amount) == 5000.5


def test_one_bad_cell_is_marked_alone_and_every_typed_cell_stays(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    _, _, program = _setup(make_tenant, make_user, session, login, records_for, "en-GB")
    response = client.post(f"/t/mini/new/measure?parent={program.id}", data=_form(**{
        "financials.plan.2026-01": "5,000.50", "financials.plan.2026-02": "1.5k",
        "financials.actual.2026-01": "250"}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="5,000.50"' in html and 'value="1.5k"' in html and 'value="250"' in html
    invalid = re.findall(r'name="(financials\.[a-z]+\.\d{4}-\d\d)"[^>]*aria-invalid="true"', html)
    assert invalid == ["financials.plan.2026-02"]
    assert session.query(Record).filter_by(level_key="measure").count() == 0


def test_the_api_keeps_machine_notation_in_any_locale(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import MultiDict

    from steerco.engine.records import Submission

    tenant, user, program = _setup(make_tenant, make_user, session, login, records_for, "de-DE")
    measure = records_for(tenant, user).create("measure", program, Submission("M", MultiDict(
        {"potential": "1250.5", "financials.plan.2026-01": "5000.50"})))
    session.commit()
    assert measure.values["potential"] == 1250.5


def test_an_evidence_file_survives_a_refused_save(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    _, _, program = _setup(make_tenant, make_user, session, login, records_for)
    refused = client.post(f"/t/mini/new/measure?parent={program.id}",
                          data={**_form(potential="a lot"), "evidence": (io.BytesIO(b"%PDF-1.4 case"), "case.pdf")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    kept = re.search(r'name="_pending\.evidence" value="(\d+)" checked>\s*case\.pdf', html)
    assert kept, html
    assert session.query(Attachment).count() == 0
    saved = client.post(f"/t/mini/new/measure?parent={program.id}",
                        data={**_form(), "_pending.evidence": kept.group(1)}, content_type="multipart/form-data")
    assert saved.status_code == 303, saved.get_data(as_text=True)
    attachment = session.query(Attachment).one()
    assert attachment.filename == "case.pdf"
    assert client.get(f"/t/mini/attachments/{attachment.id}").data == b"%PDF-1.4 case"
    with within_tenant(session, attachment.tenant_id):
        assert session.query(PendingUpload).count() == 0  # taken with the save


def test_a_file_refused_for_its_type_is_not_kept(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    _, _, program = _setup(make_tenant, make_user, session, login, records_for)
    refused = client.post(f"/t/mini/new/measure?parent={program.id}",
                          data={**_form(), "evidence": (io.BytesIO(b"MZ"), "tool.exe")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422 and "_pending.evidence" not in refused.get_data(as_text=True)


def test_someone_elses_or_an_expired_pending_upload_is_never_taken(app, session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    alice, bob = make_user(tenant), make_user(tenant)
    blobs = app.extensions["steerco.blobs"]
    now = dt.datetime(2026, 11, 27, 12, 0)
    with within_tenant(session, tenant.id):
        kept = PendingUploads(session, tenant.id, alice.id, blobs, now).keep(
            {"evidence": [Upload("case.pdf", "application/pdf", b"%PDF")]})
        session.commit()
        ids = {"evidence": [str(kept["evidence"][0].id)]}
        assert PendingUploads(session, tenant.id, bob.id, blobs, now).named(ids) == {}
        assert PendingUploads(session, tenant.id, alice.id, blobs, now).named({"other": ids["evidence"]}) == {}
        later = now + dt.timedelta(days=2)
        assert PendingUploads(session, tenant.id, alice.id, blobs, later).named(ids) == {}
        mine = PendingUploads(session, tenant.id, alice.id, blobs, now).named(ids)
        assert PendingUploads(session, tenant.id, alice.id, blobs, now).as_uploads(mine)["evidence"][0].data == b"%PDF"
        PendingUploads(session, tenant.id, alice.id, blobs, later).purge_expired()
        session.commit()
        assert session.query(PendingUpload).count() == 0


def test_pages_show_times_in_the_workspaces_zone_and_days_in_its_locale(app):  # type: ignore[no-untyped-def]
    from flask import g

    from steerco.config import compile_config
    from steerco.web.formatting import day, moment

    documents = _documents("de-DE")
    documents["tenant"]["timezone"] = "Europe/Berlin"
    with app.test_request_context():
        assert moment(dt.datetime(2026, 7, 1, 12, 0)) == "01/07/2026 12:00 UTC"  # no workspace: UTC, said so
        g.config = compile_config(documents)
        assert moment(dt.datetime(2026, 7, 1, 12, 0)) == "01.07.2026 14:00"
        assert moment(dt.datetime(2026, 12, 31, 23, 30), False) == "01.01.2027"
        assert day(dt.date(2027, 3, 31), for_input=True) == "31.03.2027"


def test_a_delegation_is_typed_in_the_locale(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, _, _ = _setup(make_tenant, make_user, session, login, records_for, "de-DE")
    deputy = make_user(tenant)
    page = client.get("/t/mini/delegations")
    assert page.status_code == 200
    assert re.search(r'name="starts_on" value="\d\d\.\d\d\.\d{4}"', page.get_data(as_text=True))
    made = client.post("/t/mini/delegations", data={"deputy": str(deputy.id), "starts_on": "01.03.2030",
                                                     "ends_on": "31.03.2030"})
    assert made.status_code in (302, 303), made.get_data(as_text=True)
    listing = client.get("/t/mini/delegations").get_data(as_text=True)
    assert "01.03.2030" in listing and "31.03.2030" in listing


def test_two_years_of_months_print_as_a_table_per_year(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    documents = _documents("de-DE")
    documents["tenant"]["reporting"]["periods"] = 24
    tenant = make_tenant(documents)
    user = make_user(tenant, [("admin", None)])
    assert login(user.email).status_code == 302
    program = client.post("/t/mini/new/program", data={"title": "Cost program"})
    assert program.status_code == 303
    parent = session.query(Record).filter_by(level_key="program").one()
    made = client.post(f"/t/mini/new/measure?parent={parent.id}", data=_form(**{
        "financials.plan.2026-01": "1.000", "financials.plan.2027-12": "2.000,50"}))
    assert made.status_code == 303, made.get_data(as_text=True)
    measure = session.query(Record).filter_by(level_key="measure").one()
    page = client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)
    assert page.count('class="money-grid view"') == 1  # on screen: one table, scrolling
    pdf = client.get(f"/t/mini/r/{measure.id}/pdf")
    assert pdf.status_code == 200
    reader = PdfReader(io.BytesIO(pdf.data))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())  # labels wrap in cells
    for label in ("Jan 2026", "Dec 2026", "Jan 2027", "Dec 2027", "3.000,5"):
        assert label in text, text
