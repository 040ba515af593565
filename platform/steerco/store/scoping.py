"""The tenant tripwire: no ORM query reaches a tenant-owned table without saying for which tenant.

Every query the engine writes already names its tenant. This hook is the second line,
and it fails closed:

- a session **bound** to a tenant (every ``/t/<tenant>`` request, see ``web/tenancy.py``)
  gets ``tenant_id = <that tenant>`` added to every ORM SELECT, UPDATE and DELETE of a
  tenant-owned table (``with_loader_criteria``), including joins and relationship loads,
  so a forgotten filter in a new list, search, count or export cannot leak rows across
  workspaces; and :meth:`TenantGuard.get` does not hand out an object of another tenant
  that happens to sit in the identity map;
- a session bound to **no** tenant raises :class:`TenantNotBound` on such a query, unless
  the code says explicitly that it works across tenants: per statement with
  ``execution_options(all_tenants=True)`` (the workspace switcher, ``steerco tick``,
  ``audit verify``), or for a whole session with :func:`across_tenants` (maintenance
  commands, the demo loader, tests that set up several workspaces).

Tables that belong to no tenant (users, tenants, API tokens, account links) are never
filtered.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from steerco.store.models import Base, TenantOwned

TENANT_KEY = "steerco.tenant_id"
#: a session (``session.info``) or statement (execution option) that works across tenants
ALL_TENANTS = "all_tenants"
#: a statement's execution option naming the one tenant it is about (see :func:`for_tenant`)
FOR_TENANT = "steerco.for_tenant"


class TenantNotBound(RuntimeError):
    """An ORM query of a tenant-owned table in a session that names no tenant: a bug."""


def bind_to_tenant(session: Session, tenant_id: int) -> None:
    """From now on, ORM queries of ``session`` see only ``tenant_id``'s rows."""
    session.info[TENANT_KEY] = tenant_id


def bound_tenant(session: Session) -> int | None:
    """The tenant ``session`` is bound to, if any."""
    return session.info.get(TENANT_KEY)


@contextmanager
def across_tenants(session: Session) -> Iterator[Session]:
    """Within the block, ``session`` may query every tenant's rows (maintenance work that
    names its tenants itself). A binding to one tenant, if any, is set aside meanwhile."""
    saved = {key: session.info.pop(key) for key in (TENANT_KEY, ALL_TENANTS) if key in session.info}
    session.info[ALL_TENANTS] = True
    try:
        yield session
    finally:
        session.info.pop(ALL_TENANTS, None)
        session.info.update(saved)


@contextmanager
def within_tenant(session: Session, tenant_id: int) -> Iterator[Session]:
    """Within the block, ``session`` sees only ``tenant_id``'s rows, as a request of that
    tenant does: engine work about one tenant that a command, a job or a test runs in a
    session bound to none (storing a configuration, creating a workspace, rendering a
    report). A session bound to that tenant already stays so; one bound to another refuses."""
    bound = session.info.get(TENANT_KEY)
    if bound is not None and bound != tenant_id:
        raise TenantNotBound(f"work for tenant {tenant_id} in a session bound to tenant {bound}")
    session.info[TENANT_KEY] = tenant_id
    try:
        yield session
    finally:
        if bound is None:
            session.info.pop(TENANT_KEY, None)


def for_tenant(tenant_id: int) -> dict[str, Any]:
    """Execution options of a statement that is about ``tenant_id`` only, whatever session
    runs it: engine code that must work before a tenant is bound (storing a new tenant's
    first configuration) or in commands bound to none (the audit chain's last hash during
    ``steerco tick``). The tripwire adds the criterion for that tenant, and refuses the
    statement in a session bound to another one."""
    return {FOR_TENANT: tenant_id}


def allow_all_tenants(session: Session) -> Session:
    """Mark ``session`` as working across tenants for its whole life (a CLI command, a
    test's setup session); prefer :func:`across_tenants` where a block suffices."""
    session.info[ALL_TENANTS] = True
    return session


def _tenant_tables() -> frozenset[Any]:
    return frozenset(mapper.local_table for mapper in Base.registry.mappers
                     if issubclass(mapper.class_, TenantOwned))


_TENANT_TABLES: frozenset[Any] | None = None


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    global _TENANT_TABLES
    if _TENANT_TABLES is None:
        _TENANT_TABLES = _tenant_tables()
    for mapper in state.all_mappers:
        if issubclass(mapper.class_, TenantOwned):
            return True
    return any(getattr(table, "name", None) and table in _TENANT_TABLES
               for table in find_tables(state.statement, include_joins=True, include_aliases=True,
                                        include_crud=True))


@event.listens_for(Session, "do_orm_execute")
def _limit_to_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get(ALL_TENANTS):
        return
    tenant_id = state.session.info.get(TENANT_KEY)
    named = state.execution_options.get(FOR_TENANT)
    if named is not None:
        if tenant_id is not None and tenant_id != named:
            raise TenantNotBound(f"a query for tenant {named} in a session bound to tenant {tenant_id}")
        tenant_id = named
    if tenant_id is None:
        if state.session.info.get(ALL_TENANTS) or not _touches_tenant_data(state):
            return
        raise TenantNotBound(
            "a query of a tenant-owned table in a session bound to no tenant; bind the session "
            "(scoping.bind_to_tenant) or say that it works across tenants (all_tenants)")
    state.statement = state.statement.options(with_loader_criteria(
        TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True))


class TenantGuard:
    """Mixed into the app's Session classes: :meth:`get` answers None for an object of
    another tenant, even when it is already in the identity map (where no query, and so
    no criterion, would stop it)."""

    def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        found = super().get(entity, ident, **kwargs)  # type: ignore[misc]
        tenant_id = self.info.get(TENANT_KEY)  # type: ignore[attr-defined]
        options = kwargs.get("execution_options") or {}
        if (found is not None and tenant_id is not None and isinstance(found, TenantOwned)
                and not options.get(ALL_TENANTS) and found.tenant_id != tenant_id):
            return None
        return found


class TenantSession(TenantGuard, Session):
    """A plain SQLAlchemy session with the guard (engine code and tests without Flask)."""
