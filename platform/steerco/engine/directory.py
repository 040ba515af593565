"""The workspace's user directory: who a user field, an owner or a grant can name.

Every member may look people up by name, since user fields are filled with their ids;
e-mail addresses are personal data that only members with the user administration right
see (they manage the accounts anyway). The directory lists active members (an
invitation not yet accepted is not active), the same people a user field accepts
(``Records._members``), by name, paged by keyset on (name, id).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from steerco.config.model import TenantConfig
from steerco.engine.access import Access, Actor
from steerco.engine.members import USERS_RIGHT
from steerco.store.models import Membership, User

#: the most people one page lists
PAGE_MAX = 200


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    #: None unless the reader holds the user administration right
    email: str | None


@dataclass(frozen=True)
class DirectoryPage:
    people: list[Person]
    #: (name, id) of the last person, when more follow
    after: tuple[str, int] | None


def sees_emails(config: TenantConfig, actor: Actor) -> bool:
    """E-mail addresses are for user administrators only."""
    return USERS_RIGHT in Access(config, actor).admin_rights


def people(session: Session, tenant_id: int, config: TenantConfig, actor: Actor, *, search: str = "",
           after: tuple[str, int] | None = None, limit: int = 50) -> DirectoryPage:
    """Active, joined members by name (containing ``search``), after the (name, id) ``after``."""
    limit = max(1, min(limit, PAGE_MAX))
    query = select(User.id, User.name, User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.tenant_id == tenant_id, Membership.is_active,
        User.is_active)
    if search.strip():
        query = query.where(User.name.icontains(search.strip(), autoescape=True))
    if after is not None:
        query = query.where(or_(User.name > after[0], and_(User.name == after[0], User.id > after[1])))
    rows = session.execute(query.order_by(User.name, User.id).limit(limit + 1)).all()
    emails = sees_emails(config, actor)
    found = [Person(row.id, row.name, row.email if emails else None) for row in rows[:limit]]
    more = len(rows) > limit
    return DirectoryPage(found, (found[-1].name, found[-1].id) if more and found else None)


def person(session: Session, tenant_id: int, config: TenantConfig, actor: Actor, user_id: int) -> Person | None:
    """One person of the directory, or None for anyone who is not an active member here."""
    row = session.execute(select(User.id, User.name, User.email).join(
        Membership, Membership.user_id == User.id).where(
        Membership.tenant_id == tenant_id, Membership.is_active,
        User.is_active, User.id == user_id)).first()
    if row is None:
        return None
    return Person(row.id, row.name, row.email if sees_emails(config, actor) else None)
