"""The tenant tripwire: once a session is bound to a tenant, no ORM query sees another's rows.

Every query the engine writes already names its tenant. This hook is the second line:
when a request has resolved its tenant, every ORM SELECT on a tenant-owned table gets
``tenant_id = <that tenant>`` added (``with_loader_criteria``), including joins and
relationship loads, so a forgotten filter in a new list, search, count or export cannot
leak rows across workspaces. The few queries that must look across tenants (the
workspace switcher: which workspaces is this user a member of?) say so explicitly with
``execution_options(all_tenants=True)``.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from steerco.store.models import TenantOwned

TENANT_KEY = "steerco.tenant_id"
ALL_TENANTS = "all_tenants"


def bind_to_tenant(session: Session, tenant_id: int) -> None:
    """From now on, ORM queries of ``session`` see only ``tenant_id``'s rows."""
    session.info[TENANT_KEY] = tenant_id


@event.listens_for(Session, "do_orm_execute")
def _limit_to_tenant(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None or not state.is_select or state.execution_options.get(ALL_TENANTS):
        return
    state.statement = state.statement.options(with_loader_criteria(
        TenantOwned, lambda cls: cls.tenant_id == tenant_id, include_aliases=True))
