"""The mails people receive: an invitation, a password reset, their notifications.

Each carries a single-use link (``engine/account_links.py``). The link starts with
``STEERCO_BASE_URL``, never with the address the triggering request named in its Host
header: otherwise anyone could ask for a reset of someone else's password and have the
link point at a server of theirs. Messages go through the app's :class:`Mailer` (the
outbox, then SMTP when one is configured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, has_app_context, render_template, url_for
from sqlalchemy import event
from sqlalchemy.orm import Session

from steerco.engine import account_links, notifications
from steerco.engine.mail import Mailer


def mailer() -> Mailer:
    return current_app.extensions["steerco.mailer"]


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL under the configured base address."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def _days(purpose: str) -> str:
    lifetime = account_links.LIFETIMES[purpose]
    return f"{lifetime.days} days" if lifetime.days else f"{int(lifetime.total_seconds() // 3600)} hour(s)"


def send_invitation(email: str, name: str, token: str, *, workspace: str, inviter: str, needs_password: bool) -> Path:
    """Mail an invitation's link; the outbox file it was written to (the delivery, without SMTP)."""
    body = render_template("mail/invitation.txt", name=name, workspace=workspace, inviter=inviter,
                           needs_password=needs_password, valid_for=_days("invitation"),
                           url=external_url("account.invitation", token=token))
    return mailer().send(email, f"Invitation to {workspace} on Steerco", body)


def send_password_reset(email: str, name: str, token: str) -> None:
    body = render_template("mail/password_reset.txt", name=name, valid_for=_days("password_reset"),
                           url=external_url("auth.reset_password", token=token),
                           forgot_url=external_url("auth.forgot_password"))
    mailer().send(email, "Choose a new Steerco password", body)


def send_notification_mail(mail: notifications.Mail) -> None:
    """Hand one notification mail to the outbox, its page as an absolute link."""
    base = current_app.config["BASE_URL"].rstrip("/")
    text = mail.text + (f"\nOpen it: {base}{mail.path}\n" if mail.path else "")
    text += f"\nAll your notifications, and how they reach you: {base}{mail.settings_path}\n"
    mailer().send(mail.to, mail.subject, text)


def _after_commit(session: Session) -> None:
    queued = notifications.take_queued_mail(session)
    if not queued or not has_app_context():
        return
    for mail in queued:
        try:
            send_notification_mail(mail)
        except Exception:  # the change is committed; a mail that cannot be written must not undo the answer
            current_app.logger.exception("notification mail to %s", mail.to)


def _after_rollback(session: Session) -> None:
    notifications.drop_queued_mail(session)


def send_notifications_after_commit() -> None:
    """Mails that notifications queue leave once their transaction has committed (once per process)."""
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda session, previous: _after_rollback(session))
