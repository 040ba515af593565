"""Tenants, their configuration versions, and who belongs to them.

A configuration is stored as a :class:`ConfigVersion` (a draft first; see
:mod:`steerco.engine.config_versions` for drafts, diff, impact, activation and rollback)
and activated only when it compiles. Compiled configurations of versions that were
activated are cached per version id: a request costs one lookup of the tenant's active
version, never a re-read or re-compile of JSON. A draft's documents may still change, so
a draft is compiled afresh each time it is asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from typing import Any, Iterable, Mapping

from sqlalchemy import Date, Integer, String, bindparam, exists, select
from sqlalchemy.orm import Session

from steerco.config import TenantConfig, compile_config
from steerco.config.errors import ConfigInvalid
from steerco.config.loader import read_folder
from steerco.engine.access import Actor, Grant
from steerco.engine.errors import NotFound
from steerco.store import scoping
from steerco.store.models import (
    ConfigVersion, Delegation, Membership, Record, RoleAssignment, Tenant, User, utcnow,
)

#: the states of a configuration version (see steerco.engine.config_versions)
DRAFT, ACTIVE, SUPERSEDED, DISCARDED = "draft", "active", "superseded", "discarded"
#: states whose documents are fixed for good, so their compiled form can be cached
FIXED_STATES = frozenset({ACTIVE, SUPERSEDED})

_cache: dict[int, TenantConfig] = {}
_cache_lock = threading.Lock()


def compiled(version: ConfigVersion) -> TenantConfig:
    """The compiled configuration of a stored version, compiled at most once per process
    once the version was activated (a draft is compiled each time: it may have changed)."""
    config = _cache.get(version.id)
    if config is None:
        if version.state not in FIXED_STATES:
            return compile_config(version.documents, version.number)
        with _cache_lock:
            config = _cache.get(version.id)
            if config is None:
                config = compile_config(version.documents, version.number)
                _cache[version.id] = config
    return config


def active_config(session: Session, tenant: Tenant) -> TenantConfig:
    if tenant.active_config_id is None:
        raise NotFound(f"workspace {tenant.slug!r} has no active configuration")
    cached = _cache.get(tenant.active_config_id)
    if cached is not None:  # the common case: no query, no JSON decoding
        return cached
    version = session.get(ConfigVersion, tenant.active_config_id)
    assert version is not None
    return compiled(version)


def config_version(session: Session, tenant_id: int, number: int) -> TenantConfig:
    """The compiled configuration a tenant had as version ``number`` (for work that
    started under it and finishes under its rules)."""
    version = session.scalar(select(ConfigVersion).where(
        ConfigVersion.tenant_id == tenant_id, ConfigVersion.number == number))
    if version is None:
        raise NotFound(f"configuration version {number} does not exist")
    return compiled(version)


def tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound("no such workspace")
    return tenant


def store_config(session: Session, documents: Mapping[str, Any], *, source: str = "",
                 user_id: int | None = None, now: dt.datetime | None = None, comment: str = "",
                 restore: Iterable[str] = (), draft_only: bool = False) -> tuple[Tenant, ConfigVersion]:
    """Compile, store as the tenant's next version and activate it (one transaction).

    The tenant is created on its first configuration. Raises ConfigInvalid, leaving the
    active version untouched, when the documents do not compile. ``draft_only`` stops at
    the draft; ``restore`` names field keys whose earlier definition (and values) the new
    version brings back, where a key was absent from the active version.
    """
    from steerco.engine import config_versions

    tenant, version, _ = config_versions.store(session, documents, source=source, user_id=user_id, now=now,
                                               comment=comment, restore=restore, activate_now=not draft_only)
    return tenant, version


def load_tenant_folder(session: Session, path: str, user_id: int | None = None, *, comment: str = "",
                       restore: Iterable[str] = (), draft_only: bool = False) -> tuple[Tenant, ConfigVersion]:
    """Read a tenant folder and store it as a new version, active unless ``draft_only``."""
    documents, problems = read_folder(path)
    if problems:
        raise ConfigInvalid(problems)
    return store_config(session, documents, source=str(path), user_id=user_id, comment=comment,
                        restore=restore, draft_only=draft_only)


def actor_for(session: Session, tenant: Tenant, user: User) -> Actor:
    """The user as an actor in this tenant; NotFound when they are no member."""
    member = session.scalar(select(Membership).where(
        Membership.tenant_id == tenant.id, Membership.user_id == user.id, Membership.is_active))
    if member is None or not user.is_active:
        raise NotFound("no such workspace")
    rows = session.execute(
        select(RoleAssignment.role_key, RoleAssignment.node_id, Record.path)
        .outerjoin(Record, (Record.id == RoleAssignment.node_id) & (Record.tenant_id == tenant.id))
        .where(RoleAssignment.tenant_id == tenant.id, RoleAssignment.user_id == user.id)
    ).all()
    # A grant at a node that does not resolve in this tenant grants nothing (never tenant-wide).
    return Actor(user.id, user.name, tuple(
        Grant(role, path) for role, node_id, path in rows if node_id is None or path is not None))


@functools.cache
def _resolve_statement() -> Any:
    """:func:`resolve`'s statement, built once (building it cost about as much as running
    it, on every request); ``:slug`` and ``:user_id`` are bound at execution."""
    user_id = bindparam("user_id", type_=Integer)
    member = (Membership.tenant_id == Tenant.id) & (Membership.user_id == user_id) & Membership.is_active
    grant = (RoleAssignment.tenant_id == Tenant.id) & (RoleAssignment.user_id == user_id) \
        & Membership.id.is_not(None)
    # Whether they may stand in for someone about now (a day either side, whatever the time
    # zone): nearly nobody does, and then the navigation's delegation lookup is not needed.
    deputy = exists(select(Delegation.id).where(
        Delegation.tenant_id == Tenant.id, Delegation.deputy_id == user_id, Delegation.revoked_at.is_(None),
        Delegation.starts_on <= bindparam("day_after", type_=Date),
        Delegation.ends_on >= bindparam("day_before", type_=Date)))
    return (select(Tenant, Membership.id, RoleAssignment.role_key, RoleAssignment.node_id, Record.path,
                   deputy.label("deputy"))
            .outerjoin(Membership, member)
            .outerjoin(RoleAssignment, grant)
            .outerjoin(Record, (Record.id == RoleAssignment.node_id) & (Record.tenant_id == Tenant.id))
            .where(Tenant.slug == bindparam("slug", type_=String))
            # Every tenant-owned table here is joined on the tenant the slug names; the request
            # is bound to that tenant only once this answers.
            .execution_options(**{scoping.ALL_TENANTS: True}))


def resolve(session: Session, slug: str, user: User) -> tuple[Tenant, Actor]:
    """The workspace ``slug`` and ``user`` as an actor in it, in one statement (every
    request of a tenant route pays for this); NotFound, the same for both, when there is
    no such workspace or the user is no active member of it."""
    today = utcnow().date()
    rows = session.execute(_resolve_statement(), {"slug": slug, "user_id": user.id,
                                                  "day_after": today + dt.timedelta(days=1),
                                                  "day_before": today - dt.timedelta(days=1)}).all()
    if not rows or rows[0][1] is None or not user.is_active:
        raise NotFound("no such workspace")
    # A grant at a node that does not resolve in this tenant grants nothing (never tenant-wide).
    grants = tuple(Grant(role, path) for _, _, role, node_id, path, _ in rows
                   if role is not None and (node_id is None or path is not None))
    return rows[0][0], Actor(user.id, user.name, grants, deputy=bool(rows[0][5]))


def tenants_of(session: Session, user: User) -> list[Tenant]:
    """Every workspace the user is an active member of: by nature a query across tenants."""
    return list(session.scalars(
        select(Tenant).join(Membership, Membership.tenant_id == Tenant.id)
        .where(Membership.user_id == user.id, Membership.is_active).order_by(Tenant.name)
        .execution_options(**{scoping.ALL_TENANTS: True})))


def add_member(session: Session, tenant: Tenant, user: User, roles: Mapping[str, int | None] | list[tuple[str, int | None]]) -> None:
    """Make ``user`` a member holding ``roles`` (role key, node id or None for tenant-wide)."""
    if session.scalar(select(Membership).where(Membership.tenant_id == tenant.id,
                                               Membership.user_id == user.id)) is None:
        session.add(Membership(tenant_id=tenant.id, user_id=user.id, joined_at=utcnow()))
    pairs = list(roles.items() if isinstance(roles, Mapping) else roles)
    nodes = {node_id for _, node_id in pairs if node_id is not None}
    if nodes and len(nodes) != len(session.scalars(select(Record.id).where(
            Record.id.in_(nodes), Record.tenant_id == tenant.id)).all()):
        raise NotFound("a role can only be granted at a record of this workspace")
    for role, node_id in pairs:
        session.add(RoleAssignment(tenant_id=tenant.id, user_id=user.id, role_key=role, node_id=node_id))
    session.flush()


def forget_compiled() -> None:
    """Drop compiled configurations (tests that wipe and reuse version ids need this)."""
    from steerco.engine import field_identities

    with _cache_lock:
        _cache.clear()
    field_identities.forget_epochs()
