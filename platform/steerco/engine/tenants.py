"""Tenants, their configuration versions, and who belongs to them.

A configuration is stored as a new :class:`ConfigVersion` and activated only when it
compiles. Compiled configurations are cached per version id: a request costs one
lookup of the tenant's active version, never a re-read or re-compile of JSON.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steerco.config import TenantConfig, compile_config
from steerco.config.loader import read_folder
from steerco.config.errors import ConfigInvalid
from steerco.engine import audit
from steerco.engine.access import Actor, Grant
from steerco.engine.errors import NotFound
from steerco.store import scoping
from steerco.store.models import ConfigVersion, Membership, Record, RoleAssignment, Tenant, User, utcnow

_cache: dict[int, TenantConfig] = {}
_cache_lock = threading.Lock()


def compiled(version: ConfigVersion) -> TenantConfig:
    """The compiled configuration of a stored version, compiled at most once per process."""
    config = _cache.get(version.id)
    if config is None:
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
                 user_id: int | None = None, now: dt.datetime | None = None) -> tuple[Tenant, ConfigVersion]:
    """Compile, store as the tenant's next version and activate it (one transaction).

    The tenant is created on its first configuration. Raises ConfigInvalid, leaving the
    active version untouched, when the documents do not compile.
    """
    config = compile_config(documents)
    tenant = session.scalar(select(Tenant).where(Tenant.slug == config.key))
    if tenant is None:
        tenant = Tenant(slug=config.key, name=config.name)
        session.add(tenant)
        session.flush()
    tenant.name = config.name
    number = (session.scalar(select(func.max(ConfigVersion.number))
                             .where(ConfigVersion.tenant_id == tenant.id)
                             .execution_options(**scoping.for_tenant(tenant.id))) or 0) + 1
    version = ConfigVersion(tenant_id=tenant.id, number=number, documents=dict(documents),
                            source=source, created_by_id=user_id,
                            activated_at=(now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None))
    session.add(version)
    session.flush()
    tenant.active_config_id = version.id
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind="config.activated",
                 data={"version": number, "source": source}, now=now)
    return tenant, version


def load_tenant_folder(session: Session, path: str, user_id: int | None = None) -> tuple[Tenant, ConfigVersion]:
    """Read a tenant folder and store it as a new active version."""
    documents, problems = read_folder(path)
    if problems:
        raise ConfigInvalid(problems)
    return store_config(session, documents, source=str(path), user_id=user_id)


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
    with _cache_lock:
        _cache.clear()
