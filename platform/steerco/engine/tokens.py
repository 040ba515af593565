"""Personal API tokens: created, looked up and revoked here (no Flask).

A token belongs to a user, not to a tenant: it acts as that user, with the roles the user
holds in whichever workspace a request names. The plaintext (``stc_`` and 43 random
URL-safe characters) is returned once by :func:`create_token` and never stored; the
database keeps its SHA-256, so lookups are one indexed equality and a copy of the
database holds no usable token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.engine.errors import Forbidden, NotFound, ValidationFailed
from steerco.store.models import ApiToken, User, utcnow

TOKEN_PREFIX = "stc_"
NAME_MAX = 100
#: characters of the plaintext kept for display ("stc_" plus eight random ones)
SHOWN_CHARS = 12
#: last_used_at is rewritten at most this often, so reads do not all turn into writes
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
#: longer credentials are not ours; refused before hashing
_MAX_PLAINTEXT = 200


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User, name: str,
                 now: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user`` named ``name``: (stored row, plaintext to show once)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": "Required."}, {"name": name})
    if len(name) > NAME_MAX:
        raise ValidationFailed({"name": f"At most {NAME_MAX} characters."}, {"name": name})
    if not user.is_active:
        raise Forbidden("a deactivated user cannot get an API token")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=_digest(plaintext),
                     prefix=plaintext[:SHOWN_CHARS], created_at=now or utcnow())
    session.add(token)
    session.flush()
    return token, plaintext


def user_for_token(session: Session, plaintext: str | None, now: dt.datetime | None = None) -> User | None:
    """The active user a token belongs to, or None for an unknown, revoked or foreign string.

    Every failure gives the same None, so a caller cannot tell a revoked token from a
    mistyped one. A successful lookup records when the token was last used.
    """
    if not plaintext or not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > _MAX_PLAINTEXT:
        return None
    digest = _digest(plaintext)
    row = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                          .where(ApiToken.token_hash == digest)).first()
    if row is None:
        return None
    token, user = row
    # The lookup matched on the digest already; the constant-time comparison is a guard
    # against a database collation that compares case-insensitively or pads strings.
    if not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None or not user.is_active:
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included (they explain past access)."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int, now: dt.datetime | None = None) -> ApiToken:
    """Revoke one of the user's own tokens (revoking twice keeps the first time).

    Another user's token is NotFound, exactly like a token that does not exist.
    """
    token = session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        raise NotFound("no such API token")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.flush()
    return token
