"""The bell: a person's notifications in a workspace, marking them read, and how mail
reaches them. Thin views over :mod:`steerco.engine.notifications`; the navigation's
number is :func:`notification_count` (one indexed count, only when a page shows it)."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from steerco.engine import notifications
from steerco.engine.errors import ValidationFailed
from steerco.store.models import User, utcnow
from steerco.web.extensions import db
from steerco.web.tenancy import tenant_blueprint

bp = tenant_blueprint("notifications", __name__)


def notification_count() -> int | None:
    """Unread notifications of the actor in this workspace, once per request."""
    if "notification_count_value" not in g:
        value = None
        if g.get("tenant") is not None and g.get("actor") is not None:
            try:
                value = notifications.unread_count(db.session, g.tenant.id, g.actor.user_id)
            except SQLAlchemyError:  # an error page after a failed transaction: no number
                current_app.logger.exception("notification count")
        g.notification_count_value = value
    return g.notification_count_value


@bp.app_context_processor
def _bell_context() -> dict[str, Any]:
    return {"notification_count": notification_count}


def _before_arg() -> int | None:
    raw = request.args.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@bp.get("/notifications")
def index():  # type: ignore[no-untyped-def]
    """Newest first, a page at a time; unread ones stand out and can be marked read."""
    unread_only = request.args.get("unread") == "1"
    items = notifications.page(db.session, g.tenant.id, g.actor.user_id, before=_before_arg(),
                               unread_only=unread_only, limit=notifications.PAGE_SIZE + 1)
    more = len(items) > notifications.PAGE_SIZE
    items = items[: notifications.PAGE_SIZE]
    return render_template(
        "notifications.html", items=items, more=more, unread_only=unread_only,
        labels=notifications.record_labels(db.session, g.tenant.id, (n.record_id for n in items)),
        kinds=notifications.KINDS, choices=notifications.MAIL_CHOICES,
        chosen=db.session.get(User, g.actor.user_id).notify_by_mail, error="")


@bp.post("/notifications/read")
def mark_read():  # type: ignore[no-untyped-def]
    """Mark one (``id``) or all of the actor's notifications read."""
    raw = request.form.get("id", "")
    ids = [int(raw)] if raw.isdigit() and len(raw) < 19 else None
    if raw and ids is None:
        ids = []
    changed = notifications.mark_read(db.session, g.tenant.id, g.actor.user_id, ids, utcnow())
    db.session.commit()
    g.pop("notification_count_value", None)
    if not request.headers.get("HX-Request"):
        flash(f"{changed} notification(s) marked read.")
    return _back()


@bp.post("/notifications/preferences")
def preferences():  # type: ignore[no-untyped-def]
    """How notifications reach the actor by e-mail (for every workspace)."""
    user = db.session.get(User, g.actor.user_id)
    try:
        notifications.set_mail_preference(db.session, user, request.form.get("notify_by_mail", ""))
    except ValidationFailed as refused:
        db.session.rollback()
        items = notifications.page(db.session, g.tenant.id, g.actor.user_id)
        return render_template(
            "notifications.html", items=items, more=False, unread_only=False,
            labels=notifications.record_labels(db.session, g.tenant.id, (n.record_id for n in items)),
            kinds=notifications.KINDS, choices=notifications.MAIL_CHOICES, chosen=user.notify_by_mail,
            error=refused.errors["notify_by_mail"]), 422
    db.session.commit()
    flash(f"E-mail: {notifications.MAIL_CHOICES[user.notify_by_mail].lower()}.")
    return _back()


def _back() -> BaseResponse:
    return redirect(url_for("notifications.index"), code=303)
