"""The tenant tripwire: a session bound to a tenant sees no other tenant's rows, whatever
the query forgot to say (lists, counts, joins, lookups by id, relationship loads)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store import scoping
from steerco.store.models import AuditEvent, Comment, Membership, Record, Tenant, User


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


# -- fail closed ------------------------------------------------------------------------------

def test_an_unscoped_query_of_a_tenant_owned_table_raises(session, db_engine, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first, second, ids = _two_tenants(session, make_tenant, make_user, records_for)
    with scoping.TenantSession(db_engine) as unbound:  # bound to no tenant, and not saying it works across
        for query in (select(Record), select(func.count(Record.id)),
                      select(Tenant.slug).join(Membership, Membership.tenant_id == Tenant.id),
                      select(User.email).where(User.id.in_(select(Membership.user_id))),
                      update(Record).where(Record.id == ids["other"]).values(title="overwritten")):
            with pytest.raises(scoping.TenantNotBound):
                unbound.execute(query)
        with pytest.raises(scoping.TenantNotBound):
            unbound.get(Record, ids["other"])
        # Tables that belong to no tenant need no binding.
        assert {t.slug for t in unbound.scalars(select(Tenant))} == {"mini", "other"}
        assert unbound.scalar(select(func.count(User.id))) == 2
        # Saying so explicitly, per statement or per block, is allowed.
        assert len(unbound.scalars(select(Record).execution_options(all_tenants=True)).all()) == 2
        assert [r.id for r in unbound.scalars(select(Record).execution_options(**scoping.for_tenant(second.id)))] \
            == [ids["other"]]
        with scoping.across_tenants(unbound):
            assert unbound.scalar(select(func.count(Record.id))) == 2
        with pytest.raises(scoping.TenantNotBound):  # the block is over
            unbound.scalar(select(func.count(Record.id)))
    session.expire_all()
    assert session.get(Record, ids["other"]).title == "Program of other"


def test_a_statement_for_one_tenant_is_refused_in_a_session_bound_to_another(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first, second, _ = _two_tenants(session, make_tenant, make_user, records_for)
    scoping.bind_to_tenant(session, first.id)
    with pytest.raises(scoping.TenantNotBound):
        session.scalars(select(Record).execution_options(**scoping.for_tenant(second.id))).all()


def test_get_does_not_hand_out_another_tenants_object_from_the_identity_map(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first, second, ids = _two_tenants(session, make_tenant, make_user, records_for)
    # Loaded (deliberately, across tenants) before the session was bound: it sits in the identity map.
    foreign = session.scalars(select(Record).where(Record.id == ids["other"]).execution_options(all_tenants=True)).one()
    assert foreign in session
    scoping.bind_to_tenant(session, first.id)
    assert session.get(Record, ids["other"]) is None
    assert session.get(Record, ids["mini"]).title == "Program of mini"
    assert session.get(Record, ids["other"], execution_options={"all_tenants": True}) is foreign


def test_a_bound_session_updates_and_deletes_only_its_tenants_rows(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    first, second, ids = _two_tenants(session, make_tenant, make_user, records_for)
    scoping.bind_to_tenant(session, first.id)
    # The statements forget the tenant; the tripwire does not.
    session.execute(update(Record).values(title="Renamed"))
    session.execute(delete(Comment))
    session.commit()
    titles = dict(session.execute(select(Record.id, Record.title).execution_options(all_tenants=True)).all())
    assert titles == {ids["mini"]: "Renamed", ids["other"]: "Program of other"}

