"""Login, logout, the choice of workspace, and a forgotten password.

Login is throttled per account and per client address (``engine/throttle.py``): after a
few failures each further attempt must wait twice as long, and one that comes too early
is answered 429 without the password being looked at. Every failure reads the same and
takes the same time, whether the e-mail has an account or not (``users.authenticate``
hashes a dummy password), and so does the answer to "I forgot my password".
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from steerco.engine import account_links, tenants, throttle, users
from steerco.engine.errors import NotFound, ValidationFailed
from steerco.store.models import User
from steerco.web import mailing
from steerco.web.extensions import db, login_manager

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.session_protection = "strong"

#: password-reset mails per address asked for, and requests per client, in a window
RESET_ACCOUNT = throttle.Policy(free=3, window=dt.timedelta(hours=1), longest_wait=dt.timedelta(hours=1))
RESET_ADDRESS = throttle.Policy(free=20, window=dt.timedelta(hours=1), longest_wait=dt.timedelta(hours=1))


class SessionUser(UserMixin):
    """Flask-Login's view of a user; the id carries the session version so logout ends it."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}"

    @property
    def is_active(self) -> bool:
        return self.user.is_active


@login_manager.user_loader
def _load(token: str) -> SessionUser | None:
    user_id, _, version = token.partition(":")
    if not user_id.isdigit() or not version.isdigit() or len(user_id) > 10 or len(version) > 10:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.is_active:
        return None
    return SessionUser(user)


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative targets, so the login form cannot redirect elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") \
        and not target.startswith("//") and "\\" not in target else None


def login_throttle() -> throttle.Throttle:
    """The throttle over Redis when ``REDIS_URL`` is set, else over the database."""
    client = current_app.extensions.get("steerco.redis")
    return throttle.Throttle(throttle.RedisStore(client) if client is not None else throttle.DatabaseStore(db.session))


def _client_address() -> str:
    # Behind a reverse proxy, wrap the app in werkzeug's ProxyFix so this is the client's.
    return request.remote_addr or "unknown"


def _too_many(template: str, wait: int, **context):  # type: ignore[no-untyped-def]
    minutes = f"{(wait + 59) // 60} minute(s)" if wait >= 60 else f"{wait} second(s)"
    error = f"Too many attempts for this account or from your network. Try again in {minutes}."
    return render_template(template, error=error, **context), 429, {"Retry-After": str(wait)}


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return render_template("login.html", email="", error=None)
    email = request.form.get("email", "")[:254]
    account_key = throttle.key("account", email)
    keys = {account_key: throttle.ACCOUNT, throttle.key("address", _client_address()): throttle.ADDRESS}
    guard = login_throttle()
    wait = guard.wait(keys)
    if wait:
        return _too_many("login.html", wait, email=email)
    user = users.authenticate(db.session, email, request.form.get("password", ""))
    if user is None:
        guard.failed(keys)
        db.session.commit()
        return render_template("login.html", email=email, error="E-mail or password is not right."), 401
    guard.succeeded(account_key)
    db.session.commit()
    login_user(SessionUser(user))
    return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    user = db.session.get(User, current_user.user.id)
    if user is not None:
        user.session_version += 1
        db.session.commit()
    logout_user()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def home():  # type: ignore[no-untyped-def]
    workspaces = tenants.tenants_of(db.session, current_user.user)
    if len(workspaces) == 1:
        return redirect(url_for("workspace.home", tenant=workspaces[0].slug))
    return render_template("workspaces.html", workspaces=workspaces)


# -- a forgotten password ------------------------------------------------------------------------

@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():  # type: ignore[no-untyped-def]
    """Mail a reset link to the address, if it has an account; the answer is the same either way."""
    if request.method == "GET":
        return render_template("password_forgot.html", email="", error=None, sent=False)
    email = request.form.get("email", "").strip()[:254]
    guard = login_throttle()
    address = {throttle.key("reset-address", _client_address()): RESET_ADDRESS}
    wait = guard.wait(address)
    if wait:
        return _too_many("password_forgot.html", wait, email=email, sent=False)
    account = {throttle.key("reset-account", email): RESET_ACCOUNT}
    # Beyond a few mails an hour for one address, ask quietly: no mail bombing, no tell.
    user = users.user_by_email(db.session, email) if email and not guard.wait(account) else None
    token = account_links.create(db.session, user, "password_reset") if user is not None and user.is_active else None
    guard.failed({**address, **account})
    name = user.name if user is not None else ""
    db.session.commit()
    if token is not None:
        mailing.send_password_reset(user.email, name, token)  # type: ignore[union-attr]
    return render_template("password_forgot.html", email=email, error=None, sent=True)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):  # type: ignore[no-untyped-def]
    """Choose a new password with a mailed link (once); every session of the account ends."""
    link = account_links.find(db.session, token, "password_reset")
    if link is None:
        raise NotFound("This link is not valid any more: it was used, it expired (links work for one hour), "
                       "or a newer one was sent. Ask for a new one on the login page.")
    user = db.session.get(User, link.user_id)
    assert user is not None
    if request.method == "GET":
        return render_template("password_reset.html", token=token, email=user.email, errors={})
    try:
        users.set_password(db.session, user, request.form.get("password", ""), request.form.get("confirm", ""))
        account_links.redeem(db.session, link)
    except ValidationFailed as failed:
        db.session.rollback()
        return render_template("password_reset.html", token=token, email=user.email, errors=failed.errors), 422
    except account_links.LinkUsed:
        db.session.rollback()
        raise NotFound("This link was used a moment ago.") from None
    login_throttle().succeeded(throttle.key("account", user.email))
    db.session.commit()
    flash("Your password is changed, and every session opened with the old one has ended. Log in with the new one.")
    return redirect(url_for("auth.login"), code=303)
