"""Client staff fill generated forms: create, edit, bad input, stale saves, uploads."""

from __future__ import annotations

import io
import re

from configs import minimal_documents
from steerco.engine import tenants
from steerco.store.models import AuditEvent, Attachment, PeriodValue, Record


def _setup(make_tenant, make_user, session, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant, [("admin", None)])
    assert login(user.email).status_code == 302
    return tenant, user


def _program(records_for, tenant, user, session):  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import MultiDict

    from steerco.engine.records import Submission

    program = records_for(tenant, user).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return program


def _measure_form(**overrides):  # type: ignore[no-untyped-def]
    data = {"title": "Renegotiate steel", "description": "Cheaper coil", "potential": "120000",
            "has_capex": "0", "category": "procurement", "due": "2026-05-31",
            "financials.plan.2026-01": "1000", "financials.actual.2026-02": "250.50"}
    data.update(overrides)
    return data


def test_create_measure_through_generated_form(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, user = _setup(make_tenant, make_user, session, login)
    program = _program(records_for, tenant, user, session)
    page = client.get(f"/t/mini/new/measure?parent={program.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for label in ("Description", "Potential", "Needs capex", "Category", "Financials", "Business case"):
        assert label in html
    response = client.post(f"/t/mini/new/measure?parent={program.id}", data=_measure_form())
    assert response.status_code == 303, response.get_data(as_text=True)
    measure = session.query(Record).filter_by(level_key="measure").one()
    assert measure.number == "M-001" and measure.parent_id == program.id and measure.stage_key == "defined"
    assert measure.values["potential"] == 120000 and measure.values["weighted"] == 60000
    assert measure.path == f"{program.path}{measure.id}/"
    amounts = {(p.scenario, p.period): float(p.amount) for p in session.query(PeriodValue)}
    assert amounts == {("plan", "2026-01"): 1000.0, ("actual", "2026-02"): 250.5}
    assert session.query(AuditEvent).filter_by(kind="record.created", record_id=measure.id).count() == 1
    listing = client.get(f"/t/mini/r/{program.id}").get_data(as_text=True)
    assert "Renegotiate steel" in listing and "M-001" in listing


def test_bad_input_rerenders_form_with_values_and_a_message_per_field(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, user = _setup(make_tenant, make_user, session, login)
    program = _program(records_for, tenant, user, session)
    bad = _measure_form(title="", description="x" * 501, potential="a lot", category="forged_option",
                        due="31.05.2026", has_capex="1", capex_amount="")
    response = client.post(f"/t/mini/new/measure?parent={program.id}", data=bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = dict(re.findall(r'id="error-([a-z_]+)" role="alert">([^<]+)<', html))
    assert errors["title"] == "Required."
    assert errors["description"] == "At most 500 characters."
    assert errors["potential"].startswith("Enter a number")
    assert errors["category"] == "Choose one of the offered options."
    assert errors["due"].startswith("Enter a date")
    assert errors["capex_amount"] == "Required."
    assert 'value="a lot"' in html and 'value="31.05.2026"' in html and "x" * 501 in html
    assert session.query(Record).filter_by(level_key="measure").count() == 0


def test_oversized_or_wrong_type_upload_is_a_field_error_not_a_413(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, user = _setup(make_tenant, make_user, session, login)
    program = _program(records_for, tenant, user, session)
    big = (io.BytesIO(b"x" * (1024 * 1024 + 1)), "case.pdf")
    response = client.post(f"/t/mini/new/measure?parent={program.id}",
                           data={**_measure_form(), "evidence": big}, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "the limit is 1 MB" in html and 'value="Renegotiate steel"' in html
    response = client.post(f"/t/mini/new/measure?parent={program.id}",
                           data={**_measure_form(), "evidence": (io.BytesIO(b"MZ"), "tool.exe")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "only .pdf, .txt files are accepted" in response.get_data(as_text=True)
    ok = client.post(f"/t/mini/new/measure?parent={program.id}",
                     data={**_measure_form(), "evidence": (io.BytesIO(b"%PDF-1.4 case"), "case.pdf")},
                     content_type="multipart/form-data")
    assert ok.status_code == 303
    attachment = session.query(Attachment).one()
    download = client.get(f"/t/mini/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 case"
    assert "attachment" in download.headers["Content-Disposition"]


def test_stale_form_is_refused_and_nothing_is_overwritten(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, user = _setup(make_tenant, make_user, session, login)
    program = _program(records_for, tenant, user, session)
    client.post(f"/t/mini/new/measure?parent={program.id}", data=_measure_form())
    measure = session.query(Record).filter_by(level_key="measure").one()
    opened = str(measure.version)  # two people open the same edit form
    first = client.post(f"/t/mini/r/{measure.id}/edit", data=_measure_form(title="First save", version=opened))
    assert first.status_code == 303
    second = client.post(f"/t/mini/r/{measure.id}/edit", data=_measure_form(title="Second save", version=opened))
    assert second.status_code == 409
    html = second.get_data(as_text=True)
    assert "Someone else saved this record" in html and 'value="Second save"' in html
    session.expire_all()
    assert session.get(Record, measure.id).title == "First save"


def test_conditional_field_appears_as_the_user_types(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, user = _setup(make_tenant, make_user, session, login)
    program = _program(records_for, tenant, user, session)
    form = client.get(f"/t/mini/new/measure?parent={program.id}").get_data(as_text=True)
    assert re.search(r'id="field-capex_amount"\s+hidden', form)
    token = re.search(r'name="_state" id="form-state" value="([^"]*)"', form).group(1)
    response = client.post(f"/t/mini/form/measure/state?parent={program.id}",
                           data={"_state": token, "title": "T", "has_capex": ["0", "1"], "potential": "abc"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'id="field-capex_amount"\s+hx-swap-oob="true"', html)  # swapped in, not hidden
    assert 'id="field-description"' not in html  # unchanged fields are left alone
    assert re.search(r'id="error-potential" role="alert" hx-swap-oob="true">Enter a number', html)


def test_new_field_and_level_appear_after_reloading_configuration(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    tenant, user = _setup(make_tenant, make_user, session, login)
    program = _program(records_for, tenant, user, session)
    assert "Savings owner" not in client.get(f"/t/mini/new/measure?parent={program.id}").get_data(as_text=True)
    documents = minimal_documents()
    documents["fields"]["fields"].append({"key": "savings_owner", "label": "Savings owner", "type": "text"})
    documents["levels"]["levels"][1]["sections"][0]["fields"].append("savings_owner")
    documents["levels"]["levels"].append({
        "key": "task", "label": "Task", "label_plural": "Tasks", "parents": ["measure"],
        "sections": [{"key": "main", "label": "Main", "fields": ["due"]}]})
    tenants.store_config(session, documents)
    session.commit()
    html = client.get(f"/t/mini/new/measure?parent={program.id}").get_data(as_text=True)
    assert "Savings owner" in html
    client.post(f"/t/mini/new/measure?parent={program.id}", data=_measure_form(savings_owner="Eva"))
    measure = session.query(Record).filter_by(level_key="measure").one()
    assert measure.values["savings_owner"] == "Eva"
    page = client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)
    assert "Tasks" in page and "New Task" in page
    assert client.get(f"/t/mini/new/task?parent={measure.id}").status_code == 200
