"""User administration pages: list and search, invite by mailed link, grant and revoke roles, deactivate.

Only members holding the "users" admin right reach these pages (everyone else: 403);
ids of another workspace answer 404 without a trace of that workspace; every change is
audited, and a deactivated user's sessions end at once while their history stays.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store.models import AuditEvent, Membership, Record, RoleAssignment, User

PASSWORD = "correct-horse-battery"  # the conftest's password for every made user


def _other_documents() -> dict[str, Any]:
    documents = minimal_documents()
    documents["tenant"].update(key="other", name="Other Ltd")
    return documents


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    """mini: an admin, a member owning a measure; other: its admin with a role of their own."""
    mini, other = make_tenant(), make_tenant(_other_documents())
    admin = make_user(mini, email="admin@mini.example", name="Ada Admin")
    outsider = make_user(other, [("owner", None)], email="secret@other.example", name="Zelda Secret")
    other_admin = make_user(other, email="admin@other.example", name="Otto Other")
    mine = records_for(mini, admin)
    program = mine.create("program", None, Submission("Mini program", MultiDict()))
    member = make_user(mini, [("owner", program.id)], email="mia@mini.example", name="Mia Member")
    measure = mine.create("measure", program, Submission("Mia's measure", MultiDict()))
    measure.owner_id = member.id
    session.flush()
    # an edit of her own, so that the audit trail has events by her
    records_for(mini, member).update(measure, Submission("Mia's measure, edited", MultiDict()), measure.version)
    records_for(other, other_admin).create("program", None, Submission("Other program", MultiDict()))
    foreign_program = records_for(other, other_admin).create("program", None, Submission("Hidden plan", MultiDict()))
    session.commit()
    foreign_assignment = session.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == outsider.id))
    return {"mini": mini, "other": other, "admin": admin, "outsider": outsider, "member": member,
            "program": program, "measure": measure, "foreign_program": foreign_program,
            "foreign_assignment": foreign_assignment}


def _assignment_ids(session, user_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(RoleAssignment.id).where(RoleAssignment.user_id == user_id)
                                .order_by(RoleAssignment.id)))


def _kinds(session, tenant) -> list[str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(AuditEvent.kind).where(AuditEvent.tenant_id == tenant.id)
                                .order_by(AuditEvent.id)))


def _logged_in_client(app, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    other = app.test_client()
    assert other.post("/login", data={"email": email, "password": password}).status_code == 302
    return other


def _to_login(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


# -- list and search ---------------------------------------------------------------------

def test_workspace_links_to_users_only_for_user_admins(client, world, login, app):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    assert 'href="/t/mini/admin/users"' in client.get("/t/mini/").get_data(as_text=True)
    member = _logged_in_client(app, world["member"].email)
    assert "/admin/users" not in member.get("/t/mini/").get_data(as_text=True)


def test_list_shows_members_with_roles_and_nodes_and_nothing_of_other_tenants(client, world, login):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    response = client.get("/t/mini/admin/users")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    for expected in ("Ada Admin", "admin@mini.example", "Mia Member", "mia@mini.example", "Administrator",
                     "Measure owner", world["program"].number, "Mini program", "tenant-wide", 'id="users-table"',
                     'hx-trigger="input changed delay:300ms', 'hx-get="/t/mini/admin/users"', 'for="user-search"'):
        assert expected in html, expected
    assert "Zelda" not in html and "secret@other.example" not in html


def test_search_filters_and_htmx_gets_only_the_table(client, world, login):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    page = client.get("/t/mini/admin/users?q=MIA").get_data(as_text=True)
    assert "mia@mini.example" in page and "admin@mini.example" not in page and 'value="MIA"' in page
    partial = client.get("/t/mini/admin/users?q=admin@mini", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert partial.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="users-table"')
    assert "<html" not in html and "Ada Admin" in html and "Mia Member" not in html
    restore = client.get("/t/mini/admin/users?q=mia", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)
    assert "No user matches" in client.get("/t/mini/admin/users?q=zelda", headers={"HX-Request": "true"}).get_data(as_text=True)


# -- inviting ----------------------------------------------------------------------------

def invitation_link(outbox, to: str) -> str:  # type: ignore[no-untyped-def]
    """The path of the link in the last invitation mailed to ``to``."""
    mails = [m for m in outbox() if m["To"] == to]
    assert mails, [m["To"] for m in outbox()]
    url = re.search(r"http://\S+/account/invitation/\S+", mails[-1].get_content()).group(0)
    assert url.startswith("http://127.0.0.1:5000/")  # STEERCO_BASE_URL, never the request's Host header
    return urlsplit(url).path


def test_invite_mails_a_link_with_which_the_person_chooses_a_password_and_joins(client, world, login, app, session, outbox):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    form = client.get("/t/mini/admin/users/new").get_data(as_text=True)
    assert 'name="csrf_token"' in form and 'list="node-options"' in form and 'name="password"' not in form
    response = client.post("/t/mini/admin/users/new", data={
        "email": "Neo@Mini.example", "name": "Neo New", "role": "owner", "node": world["program"].number})
    assert response.status_code == 303
    session.expire_all()
    neo = session.scalar(select(User).where(User.email == "neo@mini.example"))
    assert urlsplit(response.headers["Location"]).path == f"/t/mini/admin/users/{neo.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Invitation sent to neo@mini.example. Neo New joins this workspace once they accept it." in page
    assert "Invited: has not accepted the invitation yet" in page and world["program"].number in page
    [mail] = outbox()
    assert mail["Subject"] == "Invitation to Mini Corp on Steerco" and "choose your password" in mail.get_content()
    link = invitation_link(outbox, "neo@mini.example")
    newcomer = app.test_client()
    welcome = newcomer.get(link)
    assert welcome.status_code == 200 and welcome.headers["Cache-Control"] == "no-store"
    assert "Join Mini Corp" in welcome.get_data(as_text=True) and 'name="password"' in welcome.get_data(as_text=True)
    weak = newcomer.post(link, data={"name": "Neo New", "password": "short", "confirm": "short"})
    assert weak.status_code == 422 and "At least 12 characters." in weak.get_data(as_text=True)
    joined = newcomer.post(link, data={"name": "Neo New", "password": "neo's own secret", "confirm": "neo's own secret"})
    assert joined.status_code == 303 and urlsplit(joined.headers["Location"]).path == "/t/mini/"
    assert newcomer.get("/t/mini/").status_code == 200  # logged in as themselves
    assert _logged_in_client(app, "neo@mini.example", "neo's own secret").get("/t/mini/").status_code == 200
    assert newcomer.get(link).status_code == 404  # once
    assert session.scalar(select(RoleAssignment.node_id).where(RoleAssignment.user_id == neo.id)) == world["program"].id
    assert _kinds(session, world["mini"])[-3:] == ["member.invited", "role.granted", "member.joined"]


def test_the_invitation_link_reaches_only_the_mailbox(client, world, login, app, session, outbox):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    client.get("/t/mini/admin/users/new")  # the session as a browser would have it
    response = client.post("/t/mini/admin/users/new", data={
        "email": "cook@mini.example", "name": "Cookie Monster", "role": "", "node": ""})
    token = invitation_link(outbox, "cook@mini.example").rsplit("/", 1)[1]
    assert len(token) >= 40
    following = client.get(response.headers["Location"])
    for answer in (response, following):
        assert token not in answer.get_data(as_text=True)
        assert _cookies_carry(app, answer, token) == []
        assert all(token not in value for _, value in answer.headers)
    kept = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert kept is not None and token not in json.dumps(
        app.session_interface.get_signing_serializer(app).loads(kept.value), default=str)
    session.expire_all()
    assert token not in str(session.scalars(select(AuditEvent.data)).all())


def _cookies_carry(app, response, secret: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Where ``secret`` appears in the cookies ``response`` sets: raw, or in the decoded
    (base64, possibly zlib-compressed) session."""
    found = []
    serializer = app.session_interface.get_signing_serializer(app)
    for header in response.headers.getlist("Set-Cookie"):
        if secret in header:
            found.append(f"raw: {header}")
        name, _, rest = header.partition("=")
        if name == app.config["SESSION_COOKIE_NAME"] and rest.split(";")[0]:
            if secret in json.dumps(serializer.loads(rest.split(";")[0]), default=str):
                found.append(f"session: {header}")
    return found


def test_a_password_posted_with_an_invitation_is_ignored(client, world, login, app):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    response = client.post("/t/mini/admin/users/new", data={
        "email": "pat@mini.example", "name": "Pat Chosen", "password": "chosen-by-the-admin", "role": "", "node": ""})
    assert response.status_code == 303
    assert app.test_client().post("/login", data={"email": "pat@mini.example",
                                                  "password": "chosen-by-the-admin"}).status_code == 401


#: a CSRF token in a page (the htmx header and the forms' hidden field)
CSRF_TOKEN = r"(?<=X-CSRFToken\": \")[^\"]+|(?<=name=\"csrf_token\" value=\")[^\"]+"


def _normal(html: str, email: str, user_id: str) -> str:
    """A page with the parts that differ between any two people (address, ids) blanked."""
    html = re.sub(rf"(users/|user-){user_id}\b", r"\1ID", html.replace(email, "EMAIL"))
    html = re.sub(CSRF_TOKEN, "CSRF", html)  # signed with the second it was made in
    return re.sub(r"(roles/|assignment-)\d+", r"\1N", html)


def test_inviting_an_existing_account_looks_the_same_and_keeps_its_password(client, world, login, app, session, outbox):  # type: ignore[no-untyped-def]
    """Nothing on the admin's screen tells that secret@other.example has an account elsewhere."""
    login(world["admin"].email)
    pages = {}
    for email in ("fresh@elsewhere.example", "secret@other.example"):
        response = client.post("/t/mini/admin/users/new", data={
            "email": email, "name": "Pat Person", "password": "try-to-take-over", "role": "owner", "node": ""})
        assert response.status_code == 303
        user_id = response.headers["Location"].rsplit("/", 1)[1]
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        listing = client.get("/t/mini/admin/users?q=pat", headers={"HX-Request": "true"}).get_data(as_text=True)
        pages[email] = [_normal(html, email, user_id) for html in (page, listing)]
        # so that the next listing matches, too (and the flash is seen)
        client.post(f"/t/mini/admin/users/{user_id}/invitation/withdraw", follow_redirects=True)
    for fresh, existing in zip(pages["fresh@elsewhere.example"], pages["secret@other.example"]):
        assert fresh == existing, \
            "\n".join(difflib.unified_diff(fresh.splitlines(), existing.splitlines(), lineterm=""))
    assert "Zelda" not in "".join(pages["secret@other.example"])
    assert app.test_client().post("/login", data={"email": "secret@other.example",
                                                  "password": "try-to-take-over"}).status_code == 401
    # The account owner is asked to join, with their own password.
    client.post("/t/mini/admin/users/new", data={"email": "secret@other.example", "name": "Z", "role": "owner"})
    mail = [m for m in outbox() if m["To"] == "secret@other.example"][-1]
    assert "you log in with your existing Steerco password" in mail.get_content()
    outsider = app.test_client()
    link = invitation_link(outbox, "secret@other.example")
    assert 'name="password"' not in outsider.get(link).get_data(as_text=True)
    joined = outsider.post(link)
    assert joined.status_code == 303 and urlsplit(joined.headers["Location"]).path == "/login"
    mine = _logged_in_client(app, "secret@other.example")
    assert mine.get("/t/mini/").status_code == 200 and mine.get("/t/other/").status_code == 200


def test_bad_invitation_is_422_with_values_and_messages_and_saves_nothing(client, world, login, session):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    events = len(_kinds(session, world["mini"]))
    response = client.post("/t/mini/admin/users/new", data={
        "email": "broken", "name": "", "role": "chief", "node": "PG-9999"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="broken"' in html and 'value="PG-9999"' in html
    assert "Enter a valid e-mail address." in html and "Required." in html
    assert "There is no role &#39;chief&#39; in this workspace" in html
    assert 'aria-invalid="true"' in html
    again = client.post("/t/mini/admin/users/new", data={"email": "ok@mini.example", "name": "Ok",
                                                          "role": "owner", "node": "PG-9999"})
    assert again.status_code == 422 and "There is no record &#39;PG-9999&#39; in this workspace" in again.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(User.id).where(User.email.in_(["broken", "ok@mini.example"]))) is None
    assert len(_kinds(session, world["mini"])) == events


# -- roles ---------------------------------------------------------------------------------

def test_grant_at_a_node_and_tenant_wide_then_revoke(client, world, login, session):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    member = world["member"]
    url = f"/t/mini/admin/users/{member.id}"
    page = client.get(url).get_data(as_text=True)
    assert '<select id="input-role" name="role"' in page and 'for="input-role"' in page and 'for="input-node"' in page
    assert f'<option value="{world["program"].number}">' in page and "Leave it empty for the whole workspace" in page
    before = _assignment_ids(session, member.id)
    response = client.post(f"{url}/roles", data={"role": "admin", "node": ""})
    assert response.status_code == 303 and urlsplit(response.headers["Location"]).path == url
    assert client.post(f"{url}/roles", data={"role": "owner", "node": "pg-0001"}).status_code == 422  # held already
    after = _assignment_ids(session, member.id)
    assert len(after) == len(before) + 1
    html = client.get(url).get_data(as_text=True)
    assert "Administrator" in html and "tenant-wide" in html and f"at {world['program'].number} Mini program" in html
    new_id = after[-1]
    removal = client.post(f"{url}/roles/{new_id}/delete")
    assert removal.status_code == 303
    assert _assignment_ids(session, member.id) == before
    assert _kinds(session, world["mini"])[-2:] == ["role.granted", "role.revoked"]


def test_unknown_role_or_node_is_422_with_a_message_and_nothing_saved(client, world, login, session):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    member = world["member"]
    before = _assignment_ids(session, member.id)
    events = len(_kinds(session, world["mini"]))
    url = f"/t/mini/admin/users/{member.id}/roles"
    unknown_role = client.post(url, data={"role": "emperor", "node": ""})
    assert unknown_role.status_code == 422
    assert "There is no role &#39;emperor&#39; in this workspace" in unknown_role.get_data(as_text=True)
    foreign_node = client.post(url, data={"role": "admin", "node": world["foreign_program"].number})
    html = foreign_node.get_data(as_text=True)
    assert foreign_node.status_code == 422
    assert f"There is no record &#39;{world['foreign_program'].number}&#39; in this workspace" in html
    assert f'value="{world["foreign_program"].number}"' in html and "Hidden plan" not in html
    assert _assignment_ids(session, member.id) == before
    assert len(_kinds(session, world["mini"])) == events


def test_destructive_forms_ask_for_confirmation_and_every_post_form_carries_csrf(client, world, login):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    pages = [client.get(f"/t/mini/admin/users/{world['member'].id}").get_data(as_text=True),
             client.get("/t/mini/admin/users/new").get_data(as_text=True)]
    detail = pages[0]
    for action in ("/delete", "/deactivate"):
        form = re.search(r'<form[^>]*action="[^"]*' + action + r'"[^>]*>', detail).group(0)
        assert 'data-confirm="' in form and "onsubmit" not in form, form  # static/steerco.js asks
    for html in pages:
        forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", html, flags=re.S)
        assert forms
        for form in forms:
            assert 'name="csrf_token"' in form, form
        for input_id in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html):
            assert f'for="{input_id}"' in html, input_id


# -- deactivation ------------------------------------------------------------------------------

def test_deactivate_closes_the_workspace_at_once_and_keeps_history(client, world, login, app, session):  # type: ignore[no-untyped-def]
    member, measure = world["member"], world["measure"]
    theirs = _logged_in_client(app, member.email)
    assert theirs.get("/t/mini/").status_code == 200
    login(world["admin"].email)
    response = client.post(f"/t/mini/admin/users/{member.id}/deactivate")
    assert response.status_code == 303
    assert "Deactivated in this workspace" in client.get(response.headers["Location"]).get_data(as_text=True)
    # Their next request in this workspace is refused; the account itself is not this workspace's.
    assert theirs.get("/t/mini/").status_code == 404
    assert theirs.get(f"/t/mini/r/{measure.id}").status_code == 404
    again = _logged_in_client(app, member.email)
    assert again.get("/t/mini/").status_code == 404
    assert "Mini Corp" not in again.get("/", follow_redirects=True).get_data(as_text=True)
    session.expire_all()
    assert session.get(Record, measure.id).owner_id == member.id
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.user_id == member.id)) is not None
    listing = client.get("/t/mini/admin/users").get_data(as_text=True)
    assert "Mia Member" in listing and "Deactivated" in listing
    assert _kinds(session, world["mini"])[-1] == "member.deactivated"
    reactivated = client.post(f"/t/mini/admin/users/{member.id}/reactivate")
    assert reactivated.status_code == 303
    assert theirs.get("/t/mini/").status_code == 200  # the same session, open again
    assert _kinds(session, world["mini"])[-1] == "member.reactivated"


def test_deactivated_in_one_workspace_keeps_working_in_the_other(client, world, login, app, session):  # type: ignore[no-untyped-def]
    outsider = world["outsider"]
    tenants.add_member(session, world["mini"], outsider, [("owner", None)])
    session.commit()
    theirs = _logged_in_client(app, outsider.email)  # a session opened before
    login(world["admin"].email)
    assert client.post(f"/t/mini/admin/users/{outsider.id}/deactivate").status_code == 303
    assert theirs.get("/t/other/").status_code == 200  # not logged out of the other workspace
    assert theirs.get("/t/mini/").status_code == 404
    assert _logged_in_client(app, outsider.email).get("/t/other/").status_code == 200
    session.expire_all()
    assert session.scalar(select(Membership.is_active).where(
        Membership.user_id == outsider.id, Membership.tenant_id == world["other"].id))


def test_an_admin_cannot_deactivate_themselves(client, world, login, session):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    own_page = client.get(f"/t/mini/admin/users/{world['admin'].id}").get_data(as_text=True)
    assert "/deactivate" not in own_page
    response = client.post(f"/t/mini/admin/users/{world['admin'].id}/deactivate")
    assert response.status_code == 403
    assert "You cannot deactivate yourself" in response.get_data(as_text=True)
    assert client.get("/t/mini/admin/users").status_code == 200
    session.expire_all()
    assert session.get(User, world["admin"].id).is_active


# -- who may, and the wall between workspaces --------------------------------------------------

def _admin_routes(user_id: int, assignment_id: int) -> list[tuple[str, str, dict[str, str]]]:
    base = f"/t/mini/admin/users/{user_id}"
    return [
        ("GET", "/t/mini/admin/users", {}), ("GET", "/t/mini/admin/users/new", {}),
        ("POST", "/t/mini/admin/users/new", {"email": "x@mini.example", "name": "X", "role": "admin"}),
        ("GET", base, {}), ("POST", f"{base}/roles", {"role": "admin", "node": ""}),
        ("POST", f"{base}/invitation", {}), ("POST", f"{base}/invitation/withdraw", {}),
        ("POST", f"{base}/roles/{assignment_id}/delete", {}),
        ("POST", f"{base}/deactivate", {}), ("POST", f"{base}/reactivate", {}),
    ]


def test_a_member_without_the_users_right_gets_403_everywhere(world, app, session):  # type: ignore[no-untyped-def]
    member = _logged_in_client(app, world["member"].email)
    admin, own = world["admin"], _assignment_ids(session, world["admin"].id)[0]
    for method, url, data in _admin_routes(admin.id, own):
        response = member.open(url, method=method, data=data)
        assert response.status_code == 403, (method, url)
    assert _assignment_ids(session, admin.id) == [own]
    assert session.scalar(select(User.id).where(User.email == "x@mini.example")) is None


def test_ids_of_another_workspace_are_404_everywhere_without_a_trace(client, world, login, session):  # type: ignore[no-untyped-def]
    login(world["admin"].email)
    outsider = world["outsider"]
    member_assignment = _assignment_ids(session, world["member"].id)[0]
    routes = [r for r in _admin_routes(outsider.id, world["foreign_assignment"]) if str(outsider.id) in r[1]]
    # a foreign assignment under one of our own users, and our assignment under their user
    routes += [("POST", f"/t/mini/admin/users/{world['member'].id}/roles/{world['foreign_assignment']}/delete", {}),
               ("POST", f"/t/mini/admin/users/{outsider.id}/roles/{member_assignment}/delete", {})]
    for method, url, data in routes:
        response = client.open(url, method=method, data=data)
        html = response.get_data(as_text=True)
        assert response.status_code == 404, (method, url)
        for secret in ("Zelda", "secret@other.example", "Other Ltd", "Hidden plan"):
            assert secret not in html, (url, secret)
    session.expire_all()
    assert session.get(RoleAssignment, world["foreign_assignment"]) is not None
    assert session.get(RoleAssignment, member_assignment) is not None
    assert session.get(User, outsider.id).is_active
    assert all(m.is_active for m in session.scalars(select(Membership).where(Membership.user_id == outsider.id)))


def test_a_user_admin_of_another_workspace_has_no_rights_here(world, app):  # type: ignore[no-untyped-def]
    other_admin = _logged_in_client(app, "admin@other.example")
    assert other_admin.get("/t/mini/admin/users").status_code == 404
    assert other_admin.get("/t/other/admin/users").status_code == 200


def test_anonymous_is_sent_to_login(client, world):  # type: ignore[no-untyped-def]
    assert _to_login(client.get("/t/mini/admin/users"))
    assert _to_login(client.post(f"/t/mini/admin/users/{world['member'].id}/deactivate"))


# -- CSRF for real -------------------------------------------------------------------------------

@pytest.fixture
def csrf_client(database_url, upload_dir):  # type: ignore[no-untyped-def]
    from steerco import create_app
    from steerco.web.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "csrf-admin-secret", "SQLALCHEMY_DATABASE_URI": database_url,
                      "UPLOAD_DIR": str(upload_dir)})
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def test_admin_posts_need_the_csrf_token(csrf_client, world, session):  # type: ignore[no-untyped-def]
    token = re.search(r'name="csrf_token" value="([^"]+)"', csrf_client.get("/login").get_data(as_text=True)).group(1)
    csrf_client.post("/login", data={"email": world["admin"].email, "password": PASSWORD, "csrf_token": token})
    url = f"/t/mini/admin/users/{world['member'].id}"
    assert csrf_client.post(f"{url}/deactivate").status_code == 400
    page = csrf_client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert csrf_client.post(f"{url}/deactivate", data={"csrf_token": token}).status_code == 303
    session.expire_all()
    assert not session.scalar(select(Membership.is_active).where(Membership.user_id == world["member"].id))
