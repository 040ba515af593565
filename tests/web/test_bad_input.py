"""Input a person or script might send by mistake or on purpose never answers 500.

Each probe below answered 500 before (issue 14, finding 6): a number too large for the
decimal context, an id too large for the database, JSON nested a thousand levels deep, a
lone surrogate or a NUL that PostgreSQL cannot store, a file name with a line break that
broke every later download, and an edit form without the version it was based on. Each is
now a 4xx that says what is wrong, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tokens, users
from steerco.store.models import Attachment, Record, User

HUGE = "1e999999999"
TWENTY_DIGITS = "99999999999999999999"


@pytest.fixture
def acme(session, monkeypatch, client):  # type: ignore[no-untyped-def]
    """The demo with acme's administrator logged in, a bearer token and a measure to edit."""
    monkeypatch.setattr(users, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))
    load_demo(session)
    admin = session.scalar(select(User).where(User.email == "admin@acme.example"))
    _, plaintext = tokens.create_token(session, admin, "bad input")
    session.commit()
    measure = session.scalar(select(Record).where(Record.level_key == "measure").order_by(Record.id))
    assert client.post("/login", data={"email": admin.email, "password": DEMO_PASSWORD}).status_code == 302
    return {"api": {"Authorization": f"Bearer {plaintext}"}, "measure": measure, "admin": admin,
            "package": session.get(Record, measure.parent_id)}


def _says(response, *words: str) -> str:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, body[:300])
    for word in words:
        assert word in body, (word, body[:500])
    return body


def _edit(measure: Record, **values: Any) -> dict[str, Any]:
    return {"title": measure.title, "version": str(measure.version), "category": "procurement", **values}


@pytest.mark.parametrize("field", ["potential", "benefit_probability", "kpi_target_value",
                                   "financials.plan.2026-03"])
def test_a_number_beyond_any_limit_in_a_form_is_a_field_error(client, acme, field) -> None:  # type: ignore[no-untyped-def]
    measure = acme["measure"]
    response = client.post(f"/t/acme/r/{measure.id}/edit", data=_edit(measure, **{field: HUGE}))
    assert response.status_code == 422
    _says(response, "too large")
    state = client.post(f"/t/acme/form/measure/state?record={measure.id}", data={field: HUGE},
                        headers={"HX-Request": "true"})
    assert state.status_code == 200 and "too large" in state.get_data(as_text=True)


def test_a_number_beyond_any_limit_through_the_api_and_its_filters(client, acme) -> None:  # type: ignore[no-untyped-def]
    measure, api = acme["measure"], acme["api"]
    as_text = client.patch(f"/api/t/acme/records/{measure.id}", headers=api,
                           json={"version": measure.version, "values": {"potential": HUGE}})
    assert as_text.status_code == 422 and "too large" in as_text.get_json()["error"]["fields"]["potential"]
    as_number = client.patch(f"/api/t/acme/records/{measure.id}", headers=api, content_type="application/json",
                             data='{"version": %d, "values": {"potential": 1e999999999}}' % measure.version)
    assert as_number.status_code == 422 and "potential" in as_number.get_json()["error"]["fields"]
    grid = client.patch(f"/api/t/acme/records/{measure.id}", headers=api,
                        json={"version": measure.version, "values": {"financials": {"plan": {"2026-03": HUGE}}}})
    assert grid.status_code == 422 and "too large" in grid.get_json()["error"]["fields"]["financials"]
    listed = client.get(f"/api/t/acme/records?level=measure&field.potential={HUGE}", headers=api)
    assert listed.status_code == 400 and "field.potential: This number is too large." in listed.get_json()["error"]["message"]


def test_an_id_no_row_can_have_in_a_user_or_reference_field_or_filter(client, acme) -> None:  # type: ignore[no-untyped-def]
    measure, package, api = acme["measure"], acme["package"], acme["api"]
    for url, field in ((f"/api/t/acme/records?level=measure&field.responsible={TWENTY_DIGITS}", "responsible"),
                       (f"/api/t/acme/records?level=measure_package&field.lead_project={TWENTY_DIGITS}", "lead_project")):
        response = client.get(url, headers=api)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert f"field.{field}: Choose one of the offered entries." in response.get_json()["error"]["message"]
    form = client.post(f"/t/acme/r/{measure.id}/edit", data=_edit(measure, responsible=TWENTY_DIGITS))
    assert form.status_code == 422
    _says(form, "Choose one of the offered entries.")
    reference = client.patch(f"/api/t/acme/records/{package.id}", headers=api,
                             json={"version": package.version, "values": {"lead_project": int(TWENTY_DIGITS)}})
    assert reference.status_code == 422
    assert reference.get_json()["error"]["fields"]["lead_project"] == "Choose one of the offered entries."


def test_json_nested_a_thousand_levels_deep_is_refused(client, acme) -> None:  # type: ignore[no-untyped-def]
    deep = "[" * 1000 + "]" * 1000
    for method, url in (("POST", "/api/t/acme/records"),
                        ("PATCH", f"/api/t/acme/records/{acme['measure'].id}"),
                        ("POST", f"/api/t/acme/records/{acme['measure'].id}/comments")):
        response = client.open(url, method=method, headers=acme["api"], content_type="application/json",
                               data='{"values": {"description": %s}}' % deep)
        assert response.status_code == 400, (url, response.status_code)
        assert "nested more than 32 levels deep" in response.get_json()["error"]["message"]


def test_a_lone_surrogate_in_a_title_is_refused_naming_the_title(client, acme, session) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/t/acme/records", headers=acme["api"], content_type="application/json",
                           data='{"level": "measure", "parent": %d, "title": "Half \\ud83d a smiley", '
                                '"values": {"category": "procurement"}}' % acme["package"].id)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("title: contains a character that cannot be stored")
    session.expire_all()
    assert session.scalar(select(Record.id).where(Record.title.startswith("Half"))) is None


@pytest.mark.parametrize("where", ["form title", "form text field", "api value", "api comment", "list search",
                                   "user search", "login e-mail", "login password"])
def test_a_nul_anywhere_is_a_400_naming_the_place(app, client, acme, where) -> None:  # type: ignore[no-untyped-def]
    measure, api = acme["measure"], acme["api"]
    nul = "before\x00after"
    requests = {
        "form title": ("POST", f"/t/acme/r/{measure.id}/edit", {"data": _edit(measure, title=nul)}, "title"),
        "form text field": ("POST", f"/t/acme/new/measure?parent={acme['package'].id}",
                            {"data": {"title": "x", "kpi_name": nul}}, "kpi_name"),
        "api value": ("PATCH", f"/api/t/acme/records/{measure.id}",
                      {"headers": api, "json": {"version": measure.version, "values": {"description": nul}}},
                      "values.description"),
        "api comment": ("POST", f"/api/t/acme/records/{measure.id}/comments",
                        {"headers": api, "json": {"body": nul}}, "body"),
        "list search": ("GET", "/api/t/acme/records?level=measure&q=before%00after", {"headers": api}, "q"),
        "user search": ("GET", "/t/acme/admin/users?q=before%00after", {}, "q"),
        "login e-mail": ("POST", "/login", {"data": {"email": "admin\x00@acme.example", "password": "x"}}, "email"),
        "login password": ("POST", "/login", {"data": {"email": "admin@acme.example", "password": nul}}, "password"),
    }
    method, url, kwargs, name = requests[where]
    if where.startswith("login"):
        client = app.test_client()  # before authentication
    response = client.open(url, method=method, **kwargs)
    assert response.status_code == 400
    _says(response, f"{name}: contains a character that cannot be stored")


def test_a_file_name_with_a_line_break_is_cleaned_and_old_ones_still_download(client, acme, session) -> None:  # type: ignore[no-untyped-def]
    measure = acme["measure"]
    # RFC 2231's filename* is how a line break reaches the server inside a file name.
    parts = [f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in _edit(measure).items()]
    parts.append("--B\r\nContent-Disposition: form-data; name=\"business_case\"; "
                 "filename*=UTF-8''case%0D%0ASet-Cookie%3A%20x%3D1.pdf\r\nContent-Type: application/pdf\r\n\r\n"
                 "the case\r\n--B--\r\n")
    saved = client.post(f"/t/acme/r/{measure.id}/edit", data="".join(parts).encode(),
                        content_type="multipart/form-data; boundary=B")
    assert saved.status_code == 303, saved.get_data(as_text=True)[:500]
    session.expire_all()
    attachment = session.scalar(select(Attachment).where(Attachment.record_id == measure.id))
    assert attachment.filename == "case__Set-Cookie: x=1.pdf"
    download = client.get(f"/t/acme/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == b"the case"
    assert download.headers["Cache-Control"] == "no-store"
    assert "\n" not in download.headers["Content-Disposition"]
    assert all("x=1" not in value for name, value in download.headers if name == "Set-Cookie")
    # A name stored before uploads were cleaned: the download still works, with a clean name.
    session.execute(update(Attachment).where(Attachment.id == attachment.id)
                    .values(filename="old\r\nname.pdf"))
    session.commit()
    old = client.get(f"/t/acme/attachments/{attachment.id}")
    assert old.status_code == 200 and old.data == b"the case"
    assert "\r" not in old.headers["Content-Disposition"] and "old__name.pdf" in old.headers["Content-Disposition"]


def test_an_edit_form_without_its_version_is_refused_and_saves_nothing(client, acme, session) -> None:  # type: ignore[no-untyped-def]
    measure = acme["measure"]
    form = _edit(measure, title="Changed without a version")
    for missing in ({k: v for k, v in form.items() if k != "version"}, {**form, "version": "not a number"}):
        response = client.post(f"/t/acme/r/{measure.id}/edit", data=missing)
        assert response.status_code == 422
        _says(response, "did not say which version of the record it changes")
    session.expire_all()
    assert session.get(Record, measure.id).title == measure.title
