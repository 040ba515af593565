"""The user's own account: personal API tokens (list, create, revoke).

Tokens belong to the person, not to a workspace, so these pages live outside ``/t/<tenant>``.
A new token's plaintext is rendered once, in the answer to the POST that created it, and
never again: it is not stored, not flashed (the session cookie would carry it) and the
page is marked ``no-store`` so that no cache keeps it either.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from steerco.engine import tokens
from steerco.engine.errors import ValidationFailed
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
