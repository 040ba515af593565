"""Single-use links mailed to a person: invitations to a workspace and password resets.

The link carries a random token (43 URL-safe characters, 256 bits); the database keeps only
its SHA-256, so a copy of the database opens no account. A link expires
(:data:`LIFETIMES`) and works once: :func:`redeem` marks it used in the same transaction
as what it does. Opening a link's page only reads it (mail scanners fetch links), the
form posted from that page redeems it. A newer link of the same purpose (and workspace)
makes the older ones useless, so only the last mail sent works.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from steerco.store.models import AccountLink, User, utcnow

Purpose = Literal["invitation", "password_reset"]
LIFETIMES: dict[str, dt.timedelta] = {
    "invitation": dt.timedelta(days=7),
    "password_reset": dt.timedelta(hours=1),
}
#: longer strings are not our tokens; refused before hashing
_MAX_TOKEN = 100


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _retire(session: Session, user_id: int, purpose: Purpose, tenant_id: int | None, now: dt.datetime) -> None:
    session.execute(update(AccountLink).where(
        AccountLink.user_id == user_id, AccountLink.purpose == purpose, AccountLink.used_at.is_(None),
        AccountLink.tenant_id.is_(None) if tenant_id is None else AccountLink.tenant_id == tenant_id,
    ).values(used_at=now))


def create(session: Session, user: User, purpose: Purpose, *, tenant_id: int | None = None,
           created_by: int | None = None, now: dt.datetime | None = None) -> str:
    """A new link for ``user``; returns its token (to put in the mailed URL, never stored)."""
    now = now or utcnow()
    _retire(session, user.id, purpose, tenant_id, now)
    token = secrets.token_urlsafe(32)
    session.add(AccountLink(user_id=user.id, purpose=purpose, tenant_id=tenant_id, token_hash=_digest(token),
                            created_at=now, created_by_id=created_by, expires_at=now + LIFETIMES[purpose]))
    session.flush()
    return token


def find(session: Session, token: str | None, purpose: Purpose, now: dt.datetime | None = None) -> AccountLink | None:
    """The usable link with this token, or None for an unknown, used, expired or foreign one
    (one answer for every failure)."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    digest = _digest(token)
    link = session.scalar(select(AccountLink).where(AccountLink.token_hash == digest))
    if link is None or not hmac.compare_digest(link.token_hash, digest) or link.purpose != purpose:
        return None
    if link.used_at is not None or link.expires_at <= (now or utcnow()):
        return None
    return link


def redeem(session: Session, link: AccountLink, now: dt.datetime | None = None) -> None:
    """Use the link up, once: a conditional UPDATE, so two posts of one link cannot both count."""
    used = session.execute(update(AccountLink).where(AccountLink.id == link.id, AccountLink.used_at.is_(None))
                           .values(used_at=now or utcnow()).execution_options(synchronize_session=False))
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed()
    session.expire(link, ["used_at"])


def retire(session: Session, user_id: int, purpose: Purpose, tenant_id: int | None = None,
           now: dt.datetime | None = None) -> None:
    """Make every unused link of this kind useless (a withdrawn invitation)."""
    _retire(session, user_id, purpose, tenant_id, now or utcnow())
    session.flush()


class LinkUsed(Exception):
    """The link was used by another request in the meantime."""
