"""The user's own account: their password, personal API tokens, and accepting an invitation.

These belong to the person, not to a workspace, so the pages live outside ``/t/<tenant>``.
A new token's plaintext is rendered once, in the answer to the POST that created it, and
never again: it is not stored, not flashed (the session cookie would carry it) and the
page is marked ``no-store`` so that no cache keeps it either.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from steerco.engine import members, tokens, users
from steerco.engine.errors import ValidationFailed
from steerco.web.auth import SessionUser
from steerco.web.extensions import db

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("name", "")
    context.setdefault("errors", {})
    html = render_template("account/tokens.html", tokens=tokens.tokens_of(db.session, current_user.user),
                           name_max=tokens.NAME_MAX, **context)
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/tokens")
@login_required
def token_list():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("/tokens")
@login_required
def token_create():  # type: ignore[no-untyped-def]
    """Create a token and show its plaintext on this one answer."""
    name = request.form.get("name", "")
    try:
        token, plaintext = tokens.create_token(db.session, current_user.user, name)
    except ValidationFailed as failed:
        db.session.rollback()
        return _page(422, name=name, errors=failed.errors)
    token_name = token.name
    db.session.commit()
    return _page(created_name=token_name, plaintext=plaintext)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int):  # type: ignore[no-untyped-def]
    token = tokens.revoke_token(db.session, current_user.user, token_id)  # NotFound -> 404 page
    name = token.name
    db.session.commit()
    flash(f"API token “{name}” is revoked; requests using it are refused from now on.")
    return redirect(url_for("account.token_list"), code=303)


# -- the password --------------------------------------------------------------------------------

@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():  # type: ignore[no-untyped-def]
    """Change one's password (the current one first); other sessions of the account end."""
    if request.method == "GET":
        return render_template("account/password.html", errors={})
    user = current_user.user
    try:
        users.change_password(db.session, user, request.form.get("current", ""), request.form.get("password", ""),
                              request.form.get("confirm", ""))
    except ValidationFailed as failed:
        db.session.rollback()
        return render_template("account/password.html", errors=failed.errors), 422
    db.session.commit()
    login_user(SessionUser(user))  # this session carries the new session version; the others end
    flash("Your password is changed. Your other sessions have ended.")
    return redirect(url_for("auth.home"), code=303)


# -- accepting an invitation ------------------------------------------------------------------------

@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str):  # type: ignore[no-untyped-def]
    """Join a workspace with a mailed invitation link (once); an account without a password
    chooses it here. Opening the page changes nothing (mail scanners open links)."""
    welcome = members.invitation(db.session, token)  # NotFound: used, expired or unknown
    context = {"token": token, "workspace": welcome.tenant.name, "email": welcome.user.email,
               "needs_password": welcome.needs_password}
    if request.method == "GET":
        return render_template("account/invitation.html", name=welcome.name, errors={}, **context)
    name = request.form.get("name", welcome.name)
    try:
        joined = members.accept(db.session, token, password=request.form.get("password"),
                                confirmation=request.form.get("confirm", ""), name=name)
    except ValidationFailed as failed:
        db.session.rollback()
        return render_template("account/invitation.html", name=name, errors=failed.errors, **context), 422
    slug, user = joined.tenant.slug, joined.user
    db.session.commit()
    if joined.needs_password:
            login_user(SessionUser(user))  # they proved the mailbox and chose the password just now
    elif not (current_user.is_authenticated and current_user.user.id == user.id):
        flash(f"You joined {joined.tenant.name}. Log in with your Steerco password to open it.")
        return redirect(url_for("auth.login", next=url_for("workspace.home", tenant=slug)), code=303)
    return redirect(url_for("workspace.home", tenant=slug), code=303)
