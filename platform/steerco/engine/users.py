"""Users: creation and password checks (hashing by Werkzeug's scrypt implementation)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from steerco.engine.errors import ValidationFailed
from steerco.store.models import User

MIN_PASSWORD = 8
#: the length of ``User.name`` (a longer one is refused, not cut or left to the database)
NAME_MAX = 200
NAME_TOO_LONG = f"At most {NAME_MAX} characters."


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user's name (compared as stored: stripped), or None."""
    if not name.strip():
        return "Required."
    if len(name.strip()) > NAME_MAX:
        return NAME_TOO_LONG
    return None


def create_user(session: Session, email: str, name: str, password: str) -> User:
    email = email.strip().lower()
    errors = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = "Enter a valid e-mail address."
    elif session.scalar(select(User).where(func.lower(User.email) == email)):
        errors["email"] = "A user with this e-mail address exists already."
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"At least {MIN_PASSWORD} characters."
    problem = name_problem(name)
    if problem:
        errors["name"] = problem
    if errors:
        raise ValidationFailed(errors, {"email": email, "name": name})
    user = User(email=email, name=name.strip(), password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every failure)."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.is_active or not check_password_hash(user.password_hash, password):
        return None
    return user
