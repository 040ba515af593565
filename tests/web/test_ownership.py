"""Record ownership: chosen at creation, transferred later, and "own" scope follows it.

In acme, a program manager hands a measure to the measure owner, who can then see and
maintain it (their role reads only the measures they own); the transfer is in the
history. Nobody may hand a record to someone who is no member, or who could not read it,
and a role without ``assign_owner`` cannot choose an owner at all.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.errors import ValidationFailed
from steerco.engine.records import Records, Submission
from steerco.store.models import AuditEvent, Record, Tenant, User


def _user(session, email: str) -> User:  # type: ignore[no-untyped-def]
    return session.scalar(select(User).where(User.email == email))


def _service(session, tenant: Tenant, email: str) -> Records:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, _user(session, email))))


@pytest.fixture
def acme(session):  # type: ignore[no-untyped-def]
    load_demo(session)
    session.commit()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    pm = _user(session, "pm@acme.example")
    # A measure of the program manager's own, in the measure owner's program.
    measure = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == "measure",
                                                  Record.owner_id == pm.id))
    return tenant, measure


def _login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302


def test_a_program_manager_hands_a_measure_to_its_owner_who_then_maintains_it(client, session, acme):  # type: ignore[no-untyped-def]
    _, measure = acme
    owner = _user(session, "owner@acme.example")
    previous_owner = measure.owner_id
    _login(client, "owner@acme.example")
    assert client.get(f"/t/acme/r/{measure.id}").status_code == 404  # not theirs yet

    _login(client, "pm@acme.example")
    form = client.get(f"/t/acme/r/{measure.id}/edit").get_data(as_text=True)
    assert 'name="_owner"' in form and "Oskar Owner" in form
    saved = client.post(f"/t/acme/r/{measure.id}/edit", data={
        "title": measure.title, "version": measure.version, "_owner": str(owner.id)})
    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Record, measure.id).owner_id == owner.id
    history = client.get(f"/t/acme/r/{measure.id}/history").get_data(as_text=True)
    assert "<td>Owner</td><td>Petra Program</td><td>Oskar Owner</td>" in history

    _login(client, "owner@acme.example")
    assert client.get(f"/t/acme/r/{measure.id}").status_code == 200
    assert client.get(f"/t/acme/r/{measure.id}/edit").status_code == 200
    event = session.scalar(select(AuditEvent).where(AuditEvent.record_id == measure.id,
                                                    AuditEvent.kind == "record.updated").order_by(AuditEvent.id.desc()))
    assert event.data["changes"]["owner"] == [previous_owner, owner.id]


def test_the_owner_is_chosen_at_creation_and_transferred_through_the_api(client, session, acme):  # type: ignore[no-untyped-def]
    _, measure = acme
    pm, owner, cfo = (_user(session, e) for e in ("pm@acme.example", "owner@acme.example", "cfo@acme.example"))
    _, token = tokens.create_token(session, pm, "script")
    session.commit()
    api = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/t/acme/records", headers=api, json={
        "level": "measure", "parent": measure.parent_id, "title": "Freight tender", "owner": owner.id,
        "values": {"category": measure.values["category"]}})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["owner"] == {"id": owner.id, "name": owner.name}
    record = created.get_json()
    moved = client.patch(f"/api/t/acme/records/{record['id']}", headers=api,
                         json={"version": record["version"], "owner": pm.id})
    assert moved.status_code == 200 and moved.get_json()["owner"]["id"] == pm.id
    # The CFO is a member, reads every measure, and may own one.
    moved = client.patch(f"/api/t/acme/records/{record['id']}", headers=api,
                         json={"version": moved.get_json()["version"], "owner": cfo.id})
    assert moved.status_code == 200 and moved.get_json()["owner"]["id"] == cfo.id


def test_an_owner_must_be_a_member_who_may_read_the_record(session, acme, make_user):  # type: ignore[no-untyped-def]
    tenant, measure = acme
    pm = _service(session, tenant, "pm@acme.example")
    stranger = make_user(None)  # an account, but no member of acme
    servicedesk_admin = _user(session, "admin@servicedesk.example")
    # A measure owner at another program may not read this measure, even owning it... they
    # may: "own" scope within their subtree. Someone whose roles cover another subtree may not.
    portfolio = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == "portfolio",
                                                    Record.id.notin_(_ancestors(measure))))
    outsider = make_user(tenant, [("measure_owner", portfolio.id)]) if portfolio is not None else None
    candidates = [(stranger.id, "active member"), (servicedesk_admin.id, "active member"), (0, "member")]
    if outsider is not None:
        candidates.append((outsider.id, "may not read"))
    for candidate, message in candidates:
        with pytest.raises(ValidationFailed) as refused:
            pm.update(measure, Submission(measure.title, MultiDict(), owner=candidate), measure.version)
        assert message in refused.value.errors["owner"]
        session.rollback()


def _ancestors(record: Record) -> list[int]:
    return record.ancestor_ids + [record.id]


def test_a_role_without_assign_owner_cannot_choose_one(client, session, acme):  # type: ignore[no-untyped-def]
    tenant, measure = acme
    owner = _user(session, "owner@acme.example")
    as_owner = _service(session, tenant, "owner@acme.example")
    mine = session.scalar(select(Record).where(Record.owner_id == owner.id, Record.level_key == "measure"))
    with pytest.raises(ValidationFailed) as refused:
        as_owner.update(mine, Submission(mine.title, MultiDict(), owner=_user(session, "pm@acme.example").id),
                        mine.version)
    assert refused.value.errors == {"owner": "You may not choose the owner here."}
    session.rollback()
    _login(client, "owner@acme.example")
    assert 'name="_owner"' not in client.get(f"/t/acme/r/{mine.id}/edit").get_data(as_text=True)
