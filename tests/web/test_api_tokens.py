"""Personal API tokens: the engine, the ``steerco token`` commands and the account page.

A token is shown once and stored only as its SHA-256; revoking it or deactivating its user
stops it at once; nobody can see or revoke another user's tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import select

from steerco.cli import cli
from steerco.engine import tokens
from steerco.engine.errors import Forbidden, NotFound, ValidationFailed
from steerco.store.models import ApiToken, Base, User


def _everything_stored(session) -> str:  # type: ignore[no-untyped-def]
    """Every row of every table as text: where a leaked plaintext would show up."""
    session.expire_all()
    return "\n".join(repr(tuple(row)) for table in Base.metadata.sorted_tables
                     for row in session.execute(table.select()))


def _bearer(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plaintext}"}


# -- the engine ----------------------------------------------------------------------------
def test_a_token_is_shown_once_and_stored_only_as_its_hash(session, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    token, plaintext = tokens.create_token(session, user, "  nightly export  ")
    session.commit()

    assert re.fullmatch(r"stc_[A-Za-z0-9_-]{43}", plaintext)
    assert token.name == "nightly export" and token.prefix == plaintext[:12]
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in _everything_stored(session)
    assert plaintext[12:] not in _everything_stored(session)  # not even the secret part
    assert tokens.create_token(session, user, "second")[1] != plaintext


def test_a_token_names_its_user_and_records_its_last_use(session, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    token, plaintext = tokens.create_token(session, user, "ci")
    session.commit()
    assert token.last_used_at is None
    first = dt.datetime(2026, 3, 1, 9, 0)

    assert tokens.user_for_token(session, plaintext, now=first) is user
    assert token.last_used_at == first
    # within a minute the row is not rewritten (reads stay reads) ...
    tokens.user_for_token(session, plaintext, now=first + dt.timedelta(seconds=20))
    assert token.last_used_at == first
    # ... after that it is
    later = first + dt.timedelta(minutes=5)
    tokens.user_for_token(session, plaintext, now=later)
    assert token.last_used_at == later


@pytest.mark.parametrize("presented", ["", "stc_", "stc_wrong", "Bearer", "x" * 500, None])
def test_an_unknown_token_names_nobody(session, make_user, presented):  # type: ignore[no-untyped-def]
    user = make_user()
    _, plaintext = tokens.create_token(session, user, "real")
    session.commit()
    assert tokens.user_for_token(session, presented) is None
    assert tokens.user_for_token(session, plaintext.upper()) is None


def test_revoked_tokens_and_deactivated_users_are_refused(session, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    kept, kept_plain = tokens.create_token(session, user, "kept")
    revoked, revoked_plain = tokens.create_token(session, user, "revoked")
    tokens.revoke_token(session, user, revoked.id)
    session.commit()

    assert tokens.user_for_token(session, revoked_plain) is None
    assert tokens.user_for_token(session, kept_plain) is user
    user.is_active = False
    session.commit()
    assert tokens.user_for_token(session, kept_plain) is None
    with pytest.raises(Forbidden):
        tokens.create_token(session, user, "not for the deactivated")


def test_a_user_cannot_revoke_or_list_another_user_s_token(session, make_user):  # type: ignore[no-untyped-def]
    alice, bob = make_user(), make_user()
    alices, plaintext = tokens.create_token(session, alice, "alice's")
    session.commit()

    with pytest.raises(NotFound):
        tokens.revoke_token(session, bob, alices.id)
    with pytest.raises(NotFound):
        tokens.revoke_token(session, alice, alices.id + 1000)
    assert tokens.tokens_of(session, bob) == []
    assert tokens.user_for_token(session, plaintext) is alice


def test_revoking_twice_keeps_the_first_time_and_lists_show_newest_first(session, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    old, _ = tokens.create_token(session, user, "old", now=dt.datetime(2026, 1, 1))
    new, _ = tokens.create_token(session, user, "new", now=dt.datetime(2026, 2, 1))
    tokens.revoke_token(session, user, old.id, now=dt.datetime(2026, 3, 1))
    tokens.revoke_token(session, user, old.id, now=dt.datetime(2026, 4, 1))
    assert old.revoked_at == dt.datetime(2026, 3, 1)
    assert [t.name for t in tokens.tokens_of(session, user)] == ["new", "old"]


@pytest.mark.parametrize("name, message", [("", "Required."), ("   ", "Required."),
                                           ("x" * 101, "At most 100 characters.")])
def test_a_token_needs_a_short_name(session, make_user, name, message):  # type: ignore[no-untyped-def]
    user = make_user()
    with pytest.raises(ValidationFailed) as failed:
        tokens.create_token(session, user, name)
    assert failed.value.errors == {"name": message}


# -- the command line ----------------------------------------------------------------------
def test_token_create_list_revoke_through_the_cli(runner, session, make_user, client, make_tenant):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant, email="script.owner@example.com")

    created = runner.invoke(cli, ["token", "create", "Script.Owner@example.com", "--name", "monthly export"])
    assert created.exit_code == 0, created.output
    plaintext = re.search(r"^(stc_\S+)$", created.output, re.M).group(1)
    assert created.output.count(plaintext) == 1 and "cannot be shown again" in created.output
    assert "Authorization: Bearer <the token above>" in created.output
    assert plaintext not in _everything_stored(session)
    stored = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert client.get("/api/t/mini/records?level=program", headers=_bearer(plaintext)).status_code == 200

    listed = runner.invoke(cli, ["token", "list", "script.owner@example.com"])
    assert listed.exit_code == 0
    assert "monthly export" in listed.output and stored.prefix in listed.output and "active" in listed.output
    assert plaintext not in listed.output

    revoked = runner.invoke(cli, ["token", "revoke", "script.owner@example.com", str(stored.id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(cli, ["token", "list", "script.owner@example.com"]).output
    assert client.get("/api/t/mini/records?level=program", headers=_bearer(plaintext)).status_code == 401


def test_cli_mistakes_are_plain_errors_without_tracebacks(runner, session, make_user):  # type: ignore[no-untyped-def]
    make_user(email="alice@example.com")
    bob = make_user(email="bob@example.com")
    bobs, _ = tokens.create_token(session, bob, "bob's")
    session.commit()

    for args, expected in [
        (["token", "create", "nobody@example.com", "--name", "x"], "no user with e-mail 'nobody@example.com'"),
        (["token", "list", "nobody@example.com"], "no user with e-mail"),
        (["token", "revoke", "nobody@example.com", "1"], "no user with e-mail"),
        (["token", "revoke", "alice@example.com", str(bobs.id)], f"alice@example.com has no API token {bobs.id}"),
        (["token", "create", "alice@example.com", "--name", "  "], "name: Required."),
        (["token", "create", "alice@example.com"], "Missing option '--name'"),
        (["token", "revoke", "alice@example.com", "first"], "'first' is not a valid integer"),
    ]:
        result = runner.invoke(cli, args)
        assert result.exit_code != 0, args
        assert expected in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    session.expire_all()
    assert session.get(ApiToken, bobs.id).revoked_at is None
    assert runner.invoke(cli, ["token", "list", "alice@example.com"]).output.strip() == \
        "alice@example.com has no API tokens"


def test_no_token_for_a_deactivated_user_from_the_cli(runner, session, make_user):  # type: ignore[no-untyped-def]
    user = make_user(email="gone@example.com")
    user.is_active = False
    session.commit()
    result = runner.invoke(cli, ["token", "create", "gone@example.com", "--name", "x"])
    assert result.exit_code == 1 and "deactivated" in result.output
    assert session.scalars(select(ApiToken)).all() == []


# -- the account page ----------------------------------------------------------------------
def test_the_account_page_creates_shows_once_and_revokes(client, session, make_tenant, make_user, login):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    user = make_user(tenant)
    login(user.email)
    home = client.get("/t/mini/").get_data(as_text=True)
    assert 'href="/account/tokens"' in home and "API tokens" in home

    empty = client.get("/account/tokens")
    assert empty.status_code == 200 and "You have no API tokens yet." in empty.get_data(as_text=True)
    assert 'name="csrf_token"' in empty.get_data(as_text=True)

    created = client.post("/account/tokens", data={"name": "Power BI"})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    plaintext = re.search(r'id="token-value" type="text" value="(stc_[^"]+)"', html).group(1)
    assert "shown only this once" in html and html.count(plaintext) == 1
    assert "Authorization: Bearer &lt;token&gt;" in html
    assert plaintext not in _everything_stored(session)

    listed = client.get("/account/tokens").get_data(as_text=True)
    assert plaintext not in listed
    assert "Power BI" in listed and plaintext[:12] in listed and "never" in listed
    assert client.get("/api/t/mini/records?level=program", headers=_bearer(plaintext)).status_code == 200
    used = client.get("/account/tokens").get_data(as_text=True)
    row = re.search(r'<tr id="token-\d+">.*?</tr>', used, re.S).group(0)
    assert "never" not in row and row.count(" UTC") == 2  # created and, now, last used

    token = session.scalars(select(ApiToken)).one()
    form = re.search(rf'<form method="post" action="/account/tokens/{token.id}/revoke"[^>]*>', listed).group(0)
    assert 'data-confirm="Revoke the API token' in form and "onsubmit" not in form
    revoked = client.post(f"/account/tokens/{token.id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["Location"].endswith("/account/tokens")
    after = client.get("/account/tokens").get_data(as_text=True)
    assert "is revoked" in after and "revoked 20" in after
    assert f"/account/tokens/{token.id}/revoke" not in after
    assert client.get("/api/t/mini/records?level=program", headers=_bearer(plaintext)).status_code == 401


def test_the_account_page_refuses_a_nameless_token_and_keeps_others_tokens_apart(client, session, make_user, login):  # type: ignore[no-untyped-def]
    alice, bob = make_user(), make_user()
    bobs, _ = tokens.create_token(session, bob, "Bob's secret script")
    session.commit()
    login(alice.email)

    refused = client.post("/account/tokens", data={"name": ""})
    assert refused.status_code == 422
    assert re.search(r'id="error-name" role="alert">Required\.<', refused.get_data(as_text=True))
    assert session.scalars(select(ApiToken).where(ApiToken.user_id == alice.id)).all() == []

    page = client.get("/account/tokens").get_data(as_text=True)
    assert "Bob's secret script" not in page and bobs.prefix not in page
    assert client.post(f"/account/tokens/{bobs.id}/revoke").status_code == 404
    session.expire_all()
    assert session.get(ApiToken, bobs.id).revoked_at is None


def test_a_token_name_cannot_break_out_of_the_confirmation_question(client, session, make_user, login):  # type: ignore[no-untyped-def]
    user = make_user()
    login(user.email)
    client.post("/account/tokens", data={"name": "x'); alert(1); ('\" onmouseover=\"alert(2)"})
    html = client.get("/account/tokens").get_data(as_text=True)
    form = re.search(r"<form method=\"post\" action=\"/account/tokens/\d+/revoke\"[^>]*>", html, re.S).group(0)
    # The name is there, but only as text inside one attribute (no script runs it: static/steerco.js reads it).
    assert "x&#39;); alert(1); (&#39;&#34; onmouseover=&#34;alert(2)" in form
    assert 'onmouseover="alert' not in html and "onsubmit" not in html


def test_the_account_page_needs_a_login(client):  # type: ignore[no-untyped-def]
    response = client.get("/account/tokens")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 302
    assert client.post("/account/tokens/1/revoke").status_code == 302


def test_no_token_changes_a_user_s_password_or_session(session, make_user):  # type: ignore[no-untyped-def]
    """Tokens live in their own table: creating and revoking one leaves the user row alone."""
    user = make_user()
    before = (user.password_hash, user.session_version)
    token, _ = tokens.create_token(session, user, "t")
    tokens.revoke_token(session, user, token.id)
    session.commit()
    session.expire_all()
    again = session.get(User, user.id)
    assert (again.password_hash, again.session_version) == before
