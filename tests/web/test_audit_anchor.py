"""The audit trail cannot be rewritten unnoticed: insert-only on PostgreSQL, and anchored.

The hash chain shows an edited or removed event in the middle, but not the two attacks of
someone who can write to the table (issue 14, finding 5): deleting the last events, or
rewriting events and recomputing every hash after them. ``steerco audit anchor`` signs
each chain's head with a key kept outside the database; ``audit verify --anchor`` then
names both. On PostgreSQL the application cannot even try: a trigger refuses UPDATE,
DELETE and TRUNCATE of ``audit_event``.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from database import bypass_audit_trigger
from steerco.cli import cli
from steerco.engine import audit
from steerco.store.models import AuditEvent, Tenant

KEY = {"STEERCO_AUDIT_ANCHOR_KEY": "a key kept far from the database"}


@pytest.fixture
def demo(demo_workspaces):  # type: ignore[no-untyped-def]
    return demo_workspaces


def _events(session, tenant: Tenant) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.id)))


def _anchor(runner, tmp_path, *args: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "anchor.json"
    result = runner.invoke(cli, ["audit", "anchor", "--out", str(path), *args], env=KEY)
    assert result.exit_code == 0, result.output
    return path


def _verify(runner, path, env=KEY):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, ["audit", "verify", "--anchor", str(path)], env=env)


def test_the_anchor_is_a_signed_head_per_workspace_and_verifies(runner, session, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    printed = runner.invoke(cli, ["audit", "anchor"], env=KEY)
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.output)
    acme = _events(session, demo["acme"])
    assert document["heads"]["acme"] == {"tenant_id": demo["acme"].id, "events": len(acme),
                                         "last_id": acme[-1].id, "hash": acme[-1].hash}
    assert set(document) == {"format", "created_at", "heads", "signature"} and len(document["signature"]) == 64
    path = _anchor(runner, tmp_path)
    result = _verify(runner, path)
    assert result.exit_code == 0, result.output
    assert f"acme: {len(acme)} events, chain intact and holds the anchored head" in result.output
    # Events appended after the anchor was made are what a living trail does.
    audit.append(session, tenant_id=demo["acme"].id, user_id=None, kind="config.activated", data={"version": 9})
    session.commit()
    assert _verify(runner, path).exit_code == 0


def test_removing_the_last_events_is_caught_only_with_an_anchor(runner, session, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _anchor(runner, tmp_path)
    acme = _events(session, demo["acme"])
    bypass_audit_trigger(session)
    session.execute(delete(AuditEvent).where(AuditEvent.id.in_([e.id for e in acme[-3:]])))
    session.commit()
    plain = runner.invoke(cli, ["audit", "verify", "--tenant", "acme"])
    assert plain.exit_code == 0  # what remains is a perfectly linked chain
    anchored = _verify(runner, path)
    assert anchored.exit_code == 1
    assert (f"acme: does not match the anchor: event {acme[-1].id}, the last one when the anchor was made, "
            "is missing") in anchored.output
    assert "servicedesk: " in anchored.output and "1 of 2 workspace(s) have an altered audit trail." in anchored.output


def test_a_rewritten_and_rehashed_chain_is_caught_only_with_an_anchor(runner, session, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _anchor(runner, tmp_path)
    acme = _events(session, demo["acme"])
    target = next(e for e in acme if e.kind == "record.updated")
    bypass_audit_trigger(session)
    previous = ""
    for event in acme:  # rewrite one event, then recompute every hash from there on, as an attacker would
        if event.id == target.id:
            event.data = {**event.data, "summary": "nothing to see here"}
        event.prev_hash = previous
        event.hash = audit._digest(event)
        session.execute(update(AuditEvent).where(AuditEvent.id == event.id)
                        .values(data=event.data, prev_hash=event.prev_hash, hash=event.hash))
        previous = event.hash
    session.commit()
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    anchored = _verify(runner, path)
    assert anchored.exit_code == 1
    assert (f"acme: does not match the anchor: event {acme[-1].id} no longer has the hash the anchor recorded: "
            "the trail was rewritten and re-hashed") in anchored.output


def test_an_altered_or_foreign_anchor_is_refused(runner, session, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _anchor(runner, tmp_path)
    document = json.loads(path.read_text())
    document["heads"]["acme"]["events"] -= 1
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    for anchor_file, env in ((forged, KEY), (path, {"STEERCO_AUDIT_ANCHOR_KEY": "another key, 16+ chars"})):
        result = _verify(runner, anchor_file, env)
        assert result.exit_code == 1 and "the anchor's signature does not match" in result.output
    without_key = runner.invoke(cli, ["audit", "anchor"], env={"STEERCO_AUDIT_ANCHOR_KEY": ""})
    assert without_key.exit_code == 1 and "set STEERCO_AUDIT_ANCHOR_KEY" in without_key.output
    not_json = tmp_path / "nonsense.json"
    not_json.write_text("hello")
    assert "not an audit anchor" in _verify(runner, not_json).output


def test_a_broken_chain_is_not_anchored(runner, session, demo) -> None:  # type: ignore[no-untyped-def]
    victim = _events(session, demo["servicedesk"])[3]
    bypass_audit_trigger(session)
    session.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
    session.commit()
    result = runner.invoke(cli, ["audit", "anchor"], env=KEY)
    assert result.exit_code == 1 and "is broken at event" in result.output


@pytest.fixture
def postgres_only(db_engine):  # type: ignore[no-untyped-def]
    if db_engine.dialect.name != "postgresql":
        pytest.skip("the insert-only trigger is PostgreSQL's (SQLite is the single-user embedded default)")


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET kind = 'edited' WHERE id = (SELECT max(id) FROM audit_event)",
    "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)",
    "TRUNCATE audit_event CASCADE",
])
def test_the_application_cannot_change_or_remove_audit_events_on_postgresql(postgres_only, session, demo, statement) -> None:  # type: ignore[no-untyped-def]
    before = len(_events(session, demo["acme"]))
    with pytest.raises(DBAPIError) as refused:
        session.execute(text(statement))
    assert "audit_event is append-only" in str(refused.value)
    session.rollback()
    assert len(_events(session, demo["acme"])) == before
    # Appending still works, through the engine.
    audit.append(session, tenant_id=demo["acme"].id, user_id=None, kind="config.activated", data={})
    session.commit()
    assert len(_events(session, demo["acme"])) == before + 1
