"""Logging in, choosing a workspace, and the walls between workspaces.

A user reaches only the workspaces they belong to; everything of another workspace (its
name, its records, its attachments) answers 404 exactly as if it did not exist. Logging
out ends the session for good, forms are protected against cross-site posts, and every
answer carries the security headers.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine.records import Submission
from steerco.fields import Upload
from steerco.store.models import Attachment, Record

PASSWORD = "correct-horse-battery"  # the conftest's password for every made user


def _other_documents():  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    documents["tenant"]["key"] = "other"
    documents["tenant"]["name"] = "Other Ltd"
    return documents


def _logged_in(client) -> bool:  # type: ignore[no-untyped-def]
    with client.session_transaction() as stored:
        return "_user_id" in stored


def _tree_with_evidence(records_for, session, tenant, user):  # type: ignore[no-untyped-def]
    """A program with one measure carrying an attachment, written through the engine."""
    records = records_for(tenant, user)
    program = records.create("program", None, Submission("Program of " + tenant.slug, MultiDict()))
    measure = records.create("measure", program, Submission(
        "Measure of " + tenant.slug, MultiDict({"potential": "1000"}),
        {"evidence": [Upload("case.pdf", "application/pdf", b"%PDF-1.4 " + tenant.slug.encode())]}))
    session.commit()
    attachment = session.query(Attachment).filter_by(record_id=measure.id).one()
    return program, measure, attachment


# -- logging in ------------------------------------------------------------------------

def test_login_page_renders(client):  # type: ignore[no-untyped-def]
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Log in to Steerco" in html
    assert 'name="email"' in html and 'name="password"' in html and 'type="password"' in html


def test_wrong_password_is_401_keeps_the_email_and_starts_no_session(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    response = login(user.email, "not-the-password")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "E-mail or password is not right." in html
    assert f'value="{user.email}"' in html
    assert not _logged_in(client)
    assert client.get("/t/mini/").status_code == 302
    # an unknown e-mail gets the very same answer (no user enumeration)
    unknown = login("nobody@example.com", "whatever-it-is")
    assert unknown.status_code == 401 and "E-mail or password is not right." in unknown.get_data(as_text=True)
    assert not _logged_in(client)


def test_login_leads_to_the_only_workspace(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    response = login(user.email)
    assert response.status_code == 302
    assert _logged_in(client)
    home = client.get(response.headers["Location"])
    assert home.status_code == 302 and urlsplit(home.headers["Location"]).path == "/t/mini/"
    page = client.get("/t/mini/")
    assert page.status_code == 200 and "Mini Corp" in page.get_data(as_text=True)


def test_member_of_two_workspaces_chooses_and_opens_both(client, make_tenant, make_user, login, session):  # type: ignore[no-untyped-def]
    mini = make_tenant()
    other = make_tenant(_other_documents())
    user = make_user(mini)
    from steerco.engine import tenants

    tenants.add_member(session, other, user, [("admin", None)])
    session.commit()
    login(user.email)
    chooser = client.get("/")
    assert chooser.status_code == 200
    html = chooser.get_data(as_text=True)
    assert "Your workspaces" in html
    assert "Mini Corp" in html and "Other Ltd" in html
    assert 'href="/t/mini/"' in html and 'href="/t/other/"' in html
    assert client.get("/t/mini/").status_code == 200
    assert client.get("/t/other/").status_code == 200
    assert "Other Ltd" in client.get("/t/other/").get_data(as_text=True)


def test_user_without_workspace_sees_an_empty_chooser(client, make_user, login):  # type: ignore[no-untyped-def]
    user = make_user(None)
    assert login(user.email).status_code == 302
    response = client.get("/")
    assert response.status_code == 200
    assert "You do not belong to any workspace yet" in response.get_data(as_text=True)


# -- isolation between workspaces -----------------------------------------------------

def test_non_member_gets_the_same_404_as_for_a_workspace_that_does_not_exist(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    mini = make_tenant()
    make_tenant(_other_documents())
    user = make_user(mini)
    login(user.email)
    not_member = client.get("/t/other/")
    missing = client.get("/t/nope/")
    assert not_member.status_code == 404 and missing.status_code == 404
    # the answers are identical, so a workspace's existence (or name) does not leak
    assert not_member.get_data(as_text=True) == missing.get_data(as_text=True)
    assert "Other Ltd" not in not_member.get_data(as_text=True)
    assert client.get("/t/other/list/program").status_code == 404
    assert client.get("/t/other/new/program").status_code == 404


def test_records_and_attachments_of_another_workspace_are_404(client, make_tenant, make_user, login, session, records_for):  # type: ignore[no-untyped-def]
    mini = make_tenant()
    other = make_tenant(_other_documents())
    outsider = make_user(other, email="admin@other.example")
    foreign_program, foreign, foreign_att = _tree_with_evidence(records_for, session, other, outsider)
    user = make_user(mini)
    own_program, own, own_att = _tree_with_evidence(records_for, session, mini, user)
    login(user.email)
    assert client.get(f"/t/mini/r/{own.id}").status_code == 200
    assert client.get(f"/t/mini/attachments/{own_att.id}").status_code == 200
    for url in (f"/t/mini/r/{foreign.id}", f"/t/mini/r/{foreign.id}/edit", f"/t/mini/r/{foreign_program.id}",
                f"/t/mini/r/{foreign_program.id}/list/measure", f"/t/mini/new/measure?parent={foreign_program.id}",
                f"/t/mini/attachments/{foreign_att.id}"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Measure of other" not in response.get_data(as_text=True)
    post = client.post(f"/t/mini/r/{foreign.id}/edit",
                       data={"title": "Hijacked", "version": str(foreign.version)})
    assert post.status_code == 404
    session.expire_all()
    assert session.get(Record, foreign.id).title == "Measure of other"


def test_member_of_both_workspaces_still_cannot_cross_the_url_prefix(client, make_tenant, make_user, login, session, records_for):  # type: ignore[no-untyped-def]
    mini = make_tenant()
    other = make_tenant(_other_documents())
    user = make_user(mini)
    from steerco.engine import tenants

    tenants.add_member(session, other, user, [("admin", None)])
    session.commit()
    _, foreign, foreign_att = _tree_with_evidence(records_for, session, other, user)
    login(user.email)
    assert client.get(f"/t/other/r/{foreign.id}").status_code == 200
    assert client.get(f"/t/other/attachments/{foreign_att.id}").data == b"%PDF-1.4 other"
    assert client.get(f"/t/mini/r/{foreign.id}").status_code == 404
    assert client.get(f"/t/mini/r/{foreign.id}/edit").status_code == 404
    assert client.get(f"/t/mini/attachments/{foreign_att.id}").status_code == 404


# -- logging out and sessions --------------------------------------------------------

def test_logout_ends_the_session_and_an_old_cookie_copy_no_longer_works(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    login(user.email)
    assert client.get("/t/mini/").status_code == 200
    saved = client.get_cookie("session")
    assert saved is not None
    old_value = saved.value
    response = client.post("/logout")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert not _logged_in(client)
    after = client.get("/t/mini/")
    assert after.status_code == 302 and urlsplit(after.headers["Location"]).path == "/login"
    # someone who copied the cookie before logout replays it
    client.set_cookie("session", old_value)
    replay = client.get("/t/mini/")
    assert replay.status_code == 302 and urlsplit(replay.headers["Location"]).path == "/login"
    assert client.get("/").status_code == 302
    # logging in again works and gives a new, working session
    assert login(user.email).status_code == 302
    assert client.get("/t/mini/").status_code == 200


def test_logout_needs_post(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    login(user.email)
    assert client.get("/logout").status_code == 405
    assert _logged_in(client)


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "http:/evil.example", "javascript:alert(1)",
])
def test_next_to_another_site_is_not_followed(client, make_tenant, make_user, target):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    response = client.post("/login", query_string={"next": target},
                           data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith("/") and not location.startswith("//") and not location.startswith("/\\")
    assert "evil.example" not in location or location.startswith("/%5C")


def test_next_on_site_is_followed(client, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    response = client.post("/login", query_string={"next": "/t/mini/list/program"},
                           data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/t/mini/list/program"


def test_anonymous_is_sent_to_login_and_back(client, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    for url in ("/t/mini/", "/", "/t/mini/list/program", "/t/nope/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.headers["Location"]).path == "/login", url
    response = client.get("/t/mini/")
    target = response.headers["Location"]
    login_page = client.get(target)
    assert login_page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)"', login_page.get_data(as_text=True)).group(1)
    back = client.post(action.replace("&amp;", "&"), data={"email": user.email, "password": PASSWORD})
    assert back.status_code == 302 and back.headers["Location"] == "/t/mini/"


# -- CSRF, headers, cookies ----------------------------------------------------------

@pytest.fixture
def csrf_app(database_url, upload_dir):  # type: ignore[no-untyped-def]
    """The app as it runs for real: CSRF protection on."""
    from steerco import create_app
    from steerco.web.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "csrf-test-secret", "SQLALCHEMY_DATABASE_URI": database_url,
                      "UPLOAD_DIR": str(upload_dir)})
    assert app.config.get("WTF_CSRF_ENABLED", True) is not False
    yield app
    with app.app_context():
        db.engine.dispose()


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_post_without_csrf_token_is_refused_with_a_friendly_400(csrf_app, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    client = csrf_app.test_client()
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Your form expired or was sent from elsewhere" in response.get_data(as_text=True)
    assert not _logged_in(client)
    forged = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 400 and not _logged_in(client)


def test_post_with_the_scraped_csrf_token_works(csrf_app, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    client = csrf_app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert _logged_in(client)
    page = client.get("/t/mini/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # logout is a form post too: without the token it is refused, with it (as htmx sends it) it works
    assert client.post("/logout").status_code == 400
    assert _logged_in(client)
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    assert client.post("/logout", headers={"X-CSRFToken": header_token}).status_code == 302
    assert not _logged_in(client)


def test_security_headers_on_every_answer(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    responses = [client.get("/login"), login(user.email, "wrong-password-1"), client.get("/t/nope/")]
    login(user.email)
    responses += [client.get("/t/mini/"), client.get("/t/nope/"), client.get("/")]
    for response in responses:
        assert response.headers.get("X-Content-Type-Options") == "nosniff"
        assert response.headers.get("X-Frame-Options") == "DENY"
        vary = {v.strip() for v in response.headers.get("Vary", "").split(",")}
        assert "HX-Request" in vary


def test_session_cookie_is_http_only_and_same_site(client, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    response = login(user.email)
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies
    attributes = {part.strip().split("=")[0].lower() for part in cookies[-1].split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in cookies[-1].lower()
    assert client.get_cookie("session").http_only
