"""The tenant tripwire: a session bound to a tenant sees no other tenant's rows, whatever
the query forgot to say (lists, counts, joins, lookups by id, relationship loads)."""

from __future__ import annotations

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store import scoping
from steerco.store.models import AuditEvent, Membership, Record, Tenant


def _two_tenants(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first = make_tenant()
    other_docs = minimal_documents()
    other_docs["tenant"]["key"], other_docs["tenant"]["name"] = "other", "Other Ltd"
    second = make_tenant(other_docs)
    ids = {}
    for tenant in (first, second):
        user = make_user(tenant, [("admin", None)])
        record = records_for(tenant, user).create("program", None, Submission(f"Program of {tenant.slug}", MultiDict()))
        ids[tenant.slug] = record.id
    session.commit()
    return first, second, ids


def test_a_bound_session_sees_only_its_tenant(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first, second, ids = _two_tenants(session, make_tenant, make_user, records_for)
    session.expunge_all()
    scoping.bind_to_tenant(session, first.id)
    # No query below names a tenant: the tripwire adds it.
    assert [r.id for r in session.scalars(select(Record))] == [ids["mini"]]
    assert session.scalar(select(func.count()).select_from(Record)) == 1
    assert session.scalar(select(func.count(Record.id))) == 1
    assert session.scalars(select(AuditEvent.tenant_id).distinct()).all() == [first.id]
    assert session.get(Record, ids["other"]) is None
    joined = session.scalars(select(Record.title).join(Membership, Membership.user_id == Record.owner_id)).all()
    assert joined == ["Program of mini"]
    # Tables that belong to no tenant are not filtered.
    assert {t.slug for t in session.scalars(select(Tenant))} == {"mini", "other"}


def test_cross_tenant_queries_must_say_so(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first, _, _ = _two_tenants(session, make_tenant, make_user, records_for)
    scoping.bind_to_tenant(session, first.id)
    everywhere = session.scalars(select(Record).execution_options(all_tenants=True)).all()
    assert len(everywhere) == 2


def test_the_workspace_switcher_still_lists_every_membership(session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    first = make_tenant()
    other_docs = minimal_documents()
    other_docs["tenant"]["key"], other_docs["tenant"]["name"] = "other", "Other Ltd"
    second = make_tenant(other_docs)
    user = make_user(first, [("admin", None)])
    tenants.add_member(session, second, user, [("admin", None)])
    session.commit()
    scoping.bind_to_tenant(session, first.id)
    assert {t.slug for t in tenants.tenants_of(session, user)} == {"mini", "other"}
