"""The mails people receive about their account: an invitation, a password reset.

Each carries a single-use link (``engine/account_links.py``). The link starts with
``STEERCO_BASE_URL``, never with the address the triggering request named in its Host
header: otherwise anyone could ask for a reset of someone else's password and have the
link point at a server of theirs. Messages go through the app's :class:`Mailer` (the
outbox, then SMTP when one is configured).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, render_template, url_for

from steerco.engine import account_links
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
