"""Login, logout and the choice of workspace."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from steerco.engine import tenants, users
from steerco.store.models import User
from steerco.web.extensions import db, login_manager

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.session_protection = "strong"


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
    if not user_id.isdigit() or not version.isdigit():
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
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else None


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    if request.method == "POST":
        email = request.form.get("email", "")
        user = users.authenticate(db.session, email, request.form.get("password", ""))
        if user is None:
            return render_template("login.html", email=email,
                                   error="E-mail or password is not right."), 401
        login_user(SessionUser(user))
        return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))
    return render_template("login.html", email="", error=None)


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
