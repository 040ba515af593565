"""User administration in the engine: members, invitations, role grants, (de)activation.

Everything stays inside one tenant (another tenant's ids answer NotFound), bad input is
reported per field with nothing written, and every change leaves an intact audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, func, select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import audit, members, tenants, users
from steerco.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steerco.engine.records import Submission
from steerco.engine.access import Access
from steerco.engine.users import authenticate, create_user
from steerco.store import scoping
from steerco.store.models import AccountLink, AuditEvent, Membership, Record, RoleAssignment, User

PASSWORD = "correct-horse-battery"


def _documents(key: str = "mini", name: str = "Mini Corp") -> dict[str, Any]:
    """The minimal tenant plus a role that may manage users but not the configuration."""
    documents = minimal_documents()
    documents["tenant"].update(key=key, name=name)
    documents["roles"]["roles"].append({"key": "user_admin", "label": "User administrator",
                                        "admin": ["users"], "permissions": []})
    return documents


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    """Two tenants, each with an admin and programs."""
    mini, other = make_tenant(_documents()), make_tenant(_documents("other", "Other Ltd"))
    admin = make_user(mini, email="admin@mini.example", name="Ada Admin")
    outsider = make_user(other, email="admin@other.example", name="Otto Outsider")
    program = records_for(mini, admin).create("program", None, Submission("Mini program", MultiDict()))
    other_records = records_for(other, outsider)
    other_records.create("program", None, Submission("Other first program", MultiDict()))
    # numbered PG-0002, which mini does not have: a foreign number must not resolve
    foreign = other_records.create("program", None, Submission("Other program", MultiDict()))
    session.commit()
    return {"mini": mini, "other": other, "admin": admin, "outsider": outsider,
            "program": program, "foreign": foreign, "config": tenants.active_config(session, mini)}


def _actor(session, tenant, user):  # type: ignore[no-untyped-def]
    return tenants.actor_for(session, tenant, user)


def _kinds(session, tenant) -> list[str]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent.kind).where(AuditEvent.tenant_id == tenant.id)
                                .order_by(AuditEvent.id)))


def _intact(session, tenant) -> bool:  # type: ignore[no-untyped-def]
    return audit.first_broken(session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)
                                              .order_by(AuditEvent.id))) is None


# -- reading -------------------------------------------------------------------------

def test_members_lists_everyone_with_roles_and_resolved_nodes(session, world, make_user):  # type: ignore[no-untyped-def]
    mini, program = world["mini"], world["program"]
    make_user(mini, [("owner", program.id)], email="owen@mini.example", name="Owen Owner")
    listed = members.members(session, mini)
    assert [m.name for m in listed] == ["Ada Admin", "Owen Owner"]
    owen = listed[1]
    assert owen.email == "owen@mini.example" and owen.active
    assert [(a.role_key, a.node_number, a.node_title) for a in owen.assignments] == \
        [("owner", program.number, "Mini program")]
    assert [(a.role_key, a.node_id) for a in listed[0].assignments] == [("admin", None)]
    assert "Otto Outsider" not in [m.name for m in listed]


def test_search_matches_name_or_email_case_insensitively(session, world, make_user):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    make_user(mini, [], email="bea@mini.example", name="Beatrice Berg")
    assert [m.name for m in members.members(session, mini, "BERG")] == ["Beatrice Berg"]
    assert [m.name for m in members.members(session, mini, "admin@mini")] == ["Ada Admin"]
    assert members.members(session, mini, "otto") == []
    assert members.members(session, mini, "%") == []  # wildcards are matched literally


def test_listing_costs_the_same_queries_for_two_or_twenty_members(session, world, make_user, db_engine):  # type: ignore[no-untyped-def]
    mini, program = world["mini"], world["program"]

    def count() -> int:
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db_engine, "before_cursor_execute", listener)
        try:
            found = members.members(session, mini)
            assert all(a.node_number or a.node_id is None for m in found for a in m.assignments)
        finally:
            event.remove(db_engine, "before_cursor_execute", listener)
        return len(statements)

    make_user(mini, [("owner", program.id)])
    few = count()
    for _ in range(18):
        make_user(mini, [("owner", program.id), ("admin", None)])
    assert count() == few == 2


def test_member_of_another_tenant_is_not_found(session, world):  # type: ignore[no-untyped-def]
    assert members.member(session, world["mini"], world["admin"].id).name == "Ada Admin"
    with pytest.raises(NotFound) as raised:
        members.member(session, world["mini"], world["outsider"].id)
    assert "Otto" not in raised.value.message and "other" not in raised.value.message
    with pytest.raises(NotFound):
        members.member(session, world["mini"], 999_999)


def test_node_choices_are_records_of_levels_with_children_of_this_tenant(session, world, records_for):  # type: ignore[no-untyped-def]
    records_for(world["mini"], world["admin"]).create(
        "measure", world["program"], Submission("A measure", MultiDict({"potential": "1"})))
    session.commit()
    assert members.node_choices(session, world["mini"], world["config"]) == \
        [(world["program"].number, "Mini program")]


# -- inviting ------------------------------------------------------------------------

def test_invite_a_new_address_makes_an_account_without_a_password_and_a_waiting_membership(session, world):  # type: ignore[no-untyped-def]
    mini, admin = world["mini"], world["admin"]
    invitation = members.invite(session, mini, world["config"], _actor(session, mini, admin),
                                " New@Mini.example ", "Nina New", [("owner", world["program"].number)])
    session.commit()
    assert invitation.email == "new@mini.example" and invitation.name == "Nina New" and invitation.needs_password
    user = session.get(User, invitation.user_id)
    assert not users.has_password(user)
    assert authenticate(session, "new@mini.example", "") is None
    member = members.member(session, mini, user.id)
    assert (member.joined, member.active, member.name) == (False, False, "Nina New")
    assert [(a.role_key, a.node_number) for a in member.assignments] == [("owner", world["program"].number)]
    with pytest.raises(NotFound):  # not a member until they accept
        tenants.actor_for(session, mini, user)
    stored = session.scalar(select(AccountLink).where(AccountLink.user_id == user.id))
    assert stored.purpose == "invitation" and stored.tenant_id == mini.id
    assert stored.token_hash != invitation.token and invitation.token not in stored.token_hash
    assert _kinds(session, mini)[-2:] == ["member.invited", "role.granted"]
    assert invitation.token not in str(session.scalars(select(AuditEvent.data)).all())
    assert _intact(session, mini)


def test_accepting_chooses_the_password_joins_and_works_once(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    invitation = members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                                "gen@mini.example", "Gene Rated", [("owner", None)])
    session.commit()
    with pytest.raises(ValidationFailed) as weak:
        members.accept(session, invitation.token, password="password1234", confirmation="password1234")
    assert weak.value.errors == {"password": "This password is too common or too easy to guess; choose another."}
    session.rollback()
    welcome = members.accept(session, invitation.token, password="my own long secret", confirmation="my own long secret",
                             name="Gene R. Ated")
    session.commit()
    user = welcome.user
    assert welcome.tenant.id == mini.id and user.name == "Gene R. Ated"
    assert authenticate(session, "gen@mini.example", "my own long secret") is not None
    assert tenants.actor_for(session, mini, user).grants
    assert members.member(session, mini, user.id).joined
    with pytest.raises(NotFound):  # once
        members.accept(session, invitation.token, password="another long secret", confirmation="another long secret")
    assert _kinds(session, mini)[-1] == "member.joined" and _intact(session, mini)


def test_inviting_an_existing_account_asks_it_to_join_and_reveals_nothing(session, world):  # type: ignore[no-untyped-def]
    mini, outsider = world["mini"], world["outsider"]
    invitation = members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                                "ADMIN@other.example", "Someone", [("owner", None)])
    session.commit()
    assert invitation.user_id == outsider.id and not invitation.needs_password
    session.refresh(outsider)
    assert outsider.name == "Otto Outsider"
    assert authenticate(session, outsider.email, PASSWORD) is not None
    # what mini sees: the name it typed, not the account's own
    assert members.member(session, mini, outsider.id).name == "Someone"
    assert [m.name for m in members.members(session, mini, "otto")] == []
    assert "Otto" not in str(session.scalars(select(AuditEvent.data).where(AuditEvent.tenant_id == mini.id)).all())
    assert [t.slug for t in tenants.tenants_of(session, outsider)] == ["other"]
    members.accept(session, invitation.token)  # no password asked: the account has one
    session.commit()
    assert [t.slug for t in tenants.tenants_of(session, outsider)] == ["mini", "other"]
    assert authenticate(session, outsider.email, PASSWORD) is not None
    assert members.member(session, mini, outsider.id).name == "Otto Outsider"  # joined: their own name now


def test_inviting_a_member_again_is_refused(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    actor = _actor(session, mini, world["admin"])
    with pytest.raises(ValidationFailed) as raised:
        members.invite(session, mini, world["config"], actor, "admin@mini.example", "Ada", [])
    assert "member of this workspace already" in raised.value.errors["email"]
    members.invite(session, mini, world["config"], actor, "twice@mini.example", "Twice", [])
    with pytest.raises(ValidationFailed) as again:
        members.invite(session, mini, world["config"], actor, "twice@mini.example", "Twice", [])
    assert "invited to this workspace already" in again.value.errors["email"]


def test_sending_again_retires_the_old_link_and_withdrawing_removes_the_invitation(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    actor = _actor(session, mini, world["admin"])
    first = members.invite(session, mini, world["config"], actor, "late@mini.example", "Late", [("owner", None)])
    second = members.resend_invitation(session, mini, world["config"], actor, first.user_id)
    session.commit()
    with pytest.raises(NotFound):
        members.invitation(session, first.token)
    assert members.invitation(session, second.token).tenant.id == mini.id
    members.withdraw_invitation(session, mini, world["config"], actor, first.user_id)
    session.commit()
    with pytest.raises(NotFound):
        members.invitation(session, second.token)
    with pytest.raises(NotFound):
        members.member(session, mini, first.user_id)
    assert session.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == first.user_id)) is None
    assert _kinds(session, mini)[-2:] == ["member.reinvited", "member.invitation_withdrawn"]
    with pytest.raises(Conflict):  # a member who joined has no invitation to send or withdraw
        members.resend_invitation(session, mini, world["config"], actor, world["admin"].id)


def test_an_expired_invitation_link_does_not_work(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    invited = members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                             "slow@mini.example", "Slow", [], now=dt.datetime(2026, 1, 1))
    session.commit()
    assert members.invitation(session, invited.token, now=dt.datetime(2026, 1, 7, 23)).user.email == "slow@mini.example"
    with pytest.raises(NotFound):
        members.invitation(session, invited.token, now=dt.datetime(2026, 1, 8, 1))


def test_bad_invitation_reports_every_field_and_writes_nothing(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    users_before = session.scalar(select(User.id).order_by(User.id.desc()).limit(1))
    events_before = len(_kinds(session, mini))
    with pytest.raises(ValidationFailed) as raised:
        members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                       "not-an-email", " ", [("chief", None)])
    errors = raised.value.errors
    assert errors["email"] == "Enter a valid e-mail address."
    assert errors["name"] == "Required."
    assert errors["role"] == "There is no role 'chief' in this workspace; choose one of the list."
    with pytest.raises(ValidationFailed) as node_error:
        members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                       "fine@mini.example", "Fine", [("owner", world["foreign"].number + "X")])
    assert set(node_error.value.errors) == {"node"}
    session.rollback()
    assert session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) == users_before
    assert len(_kinds(session, mini)) == events_before


def test_a_name_longer_than_the_column_is_refused_by_invite_and_create_user(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    users_before = session.scalar(select(func.count(User.id)))
    with pytest.raises(ValidationFailed) as raised:
        members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                       "long@mini.example", "N" * 201, [])
    assert raised.value.errors == {"name": "At most 200 characters."}
    with pytest.raises(ValidationFailed) as direct:
        create_user(session, "long@mini.example", "N" * 201, PASSWORD)
    assert direct.value.errors == {"name": "At most 200 characters."}
    session.rollback()
    assert session.scalar(select(func.count(User.id))) == users_before
    # counted as stored, stripped: 200 characters and surrounding spaces are fine
    invited = members.invite(session, mini, world["config"], _actor(session, mini, world["admin"]),
                             "edge@mini.example", f"  {'N' * 200}  ", [])
    assert invited.name == "N" * 200 and session.get(User, invited.user_id).name == "N" * 200


# -- granting and revoking -------------------------------------------------------------

def test_grant_at_a_node_by_number_and_tenant_wide(session, world, make_user):  # type: ignore[no-untyped-def]
    mini, program = world["mini"], world["program"]
    user = make_user(mini, [])
    actor = _actor(session, mini, world["admin"])
    at_node = members.grant_role(session, mini, world["config"], actor, user.id, "owner", program.number.lower())
    wide = members.grant_role(session, mini, world["config"], actor, user.id, "admin", None)
    session.commit()
    assert (at_node.node_id, wide.node_id) == (program.id, None)
    grants = set(tenants.actor_for(session, mini, user).grants)
    assert {(g.role, g.node_path) for g in grants} == {("owner", program.path), ("admin", None)}
    data = session.scalars(select(AuditEvent.data).where(AuditEvent.kind == "role.granted")).all()
    assert {(d["role"], d["node"]) for d in data} >= {("owner", program.number), ("admin", None)}


def test_grant_refuses_unknown_roles_foreign_nodes_and_duplicates(session, world, make_user):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    user = make_user(mini, [("owner", None)])
    actor = _actor(session, mini, world["admin"])
    cases = [("nope", None, "role"), ("", None, "role"), ("owner", world["foreign"].number, "node"),
             ("owner", "M-404", "node"), ("owner", None, "role")]
    for role, node, field in cases:
        with pytest.raises(ValidationFailed) as raised:
            members.grant_role(session, mini, world["config"], actor, user.id, role, node)
        assert set(raised.value.errors) == {field}, (role, node)
    assert "tenant-wide already" in raised.value.errors["role"]
    assert session.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == user.id,
                                                          RoleAssignment.node_id.is_not(None))) is None


def test_grant_to_a_user_of_another_tenant_is_not_found(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    with pytest.raises(NotFound):
        members.grant_role(session, mini, world["config"], _actor(session, mini, world["admin"]),
                           world["outsider"].id, "owner", None)


def test_a_user_administrator_cannot_hand_out_rights_they_lack(session, world, make_user):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    helper = make_user(mini, [("user_admin", None)])
    target = make_user(mini, [])
    actor = _actor(session, mini, helper)
    with pytest.raises(ValidationFailed) as raised:
        members.grant_role(session, mini, world["config"], actor, target.id, "admin", None)
    assert "configuration" in raised.value.errors["role"]
    assert members.grant_role(session, mini, world["config"], actor, target.id, "user_admin", None)
    # nor remove or switch off an administrator who holds more rights than they do
    admin = world["admin"]
    admin_role = session.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == admin.id))
    for call in (lambda: members.revoke_role(session, mini, actor, admin_role),
                 lambda: members.deactivate(session, mini, actor, admin.id),
                 lambda: members.reactivate(session, mini, actor, admin.id)):
        with pytest.raises(Forbidden) as refused:
            call()
        assert "configuration" in refused.value.message
    members.deactivate(session, mini, actor, target.id)  # an equal they may manage


def test_revoke_removes_the_assignment_and_only_within_the_tenant(session, world, make_user):  # type: ignore[no-untyped-def]
    mini, other = world["mini"], world["other"]
    user = make_user(mini, [("owner", world["program"].id)])
    assignment = session.scalar(select(RoleAssignment).where(RoleAssignment.user_id == user.id))
    foreign = session.scalar(select(RoleAssignment).where(RoleAssignment.tenant_id == other.id))
    actor = _actor(session, mini, world["admin"])
    with pytest.raises(NotFound):
        members.revoke_role(session, mini, actor, foreign.id)
    with pytest.raises(NotFound):
        members.revoke_role(session, mini, actor, assignment.id, user_id=world["admin"].id)
    members.revoke_role(session, mini, actor, assignment.id, user_id=user.id)
    session.commit()
    assert session.get(RoleAssignment, assignment.id) is None
    assert session.get(RoleAssignment, foreign.id) is not None
    revoked = session.scalar(select(AuditEvent).where(AuditEvent.kind == "role.revoked"))
    assert revoked.data["role"] == "owner" and revoked.data["node"] == world["program"].number
    assert revoked.user_id == world["admin"].id and revoked.data["user"] == user.id


def test_an_admin_cannot_revoke_their_own_last_user_administration_role(session, world):  # type: ignore[no-untyped-def]
    mini, admin = world["mini"], world["admin"]
    own = session.scalar(select(RoleAssignment).where(RoleAssignment.user_id == admin.id,
                                                      RoleAssignment.tenant_id == mini.id))
    with pytest.raises(Forbidden) as raised:
        members.revoke_role(session, mini, _actor(session, mini, admin), own.id)
    assert "lock you out" in raised.value.message
    members.grant_role(session, mini, world["config"], _actor(session, mini, admin), admin.id, "user_admin", None)
    members.revoke_role(session, mini, _actor(session, mini, admin), own.id)  # another role still carries it


def test_a_grant_at_a_record_does_not_count_as_keeping_the_user_administration_right(session, world):  # type: ignore[no-untyped-def]
    """Admin rights come only with roles held tenant-wide (Access.admin_rights), so the
    same role at a record does not keep the right once the tenant-wide grant is gone."""
    mini, admin, program = world["mini"], world["admin"], world["program"]
    tenant_wide = session.scalar(select(RoleAssignment).where(RoleAssignment.user_id == admin.id,
                                                              RoleAssignment.tenant_id == mini.id))
    assert tenant_wide.node_id is None and tenant_wide.role_key == "admin"
    at_node = members.grant_role(session, mini, world["config"], _actor(session, mini, admin), admin.id,
                                 "admin", program.number)
    members.grant_role(session, mini, world["config"], _actor(session, mini, admin), admin.id,
                       "user_admin", program.number)
    session.commit()
    with pytest.raises(Forbidden) as raised:
        members.revoke_role(session, mini, _actor(session, mini, admin), tenant_wide.id)
    assert "lock you out" in raised.value.message
    session.rollback()
    assert session.get(RoleAssignment, tenant_wide.id) is not None
    # the grant at the record carries no admin right, so removing it locks nobody out
    members.revoke_role(session, mini, _actor(session, mini, admin), at_node.id)
    session.commit()
    assert "users" in Access(world["config"], _actor(session, mini, admin)).admin_rights


# -- deactivating ----------------------------------------------------------------------

def test_deactivate_closes_this_tenant_only_and_keeps_history(session, world, make_user, records_for):  # type: ignore[no-untyped-def]
    mini, program = world["mini"], world["program"]
    user = make_user(mini, [("admin", None)])
    record = records_for(mini, user).create("measure", program, Submission("Kept", MultiDict({"potential": "5"})))
    session.commit()
    version = user.session_version
    members.deactivate(session, mini, _actor(session, mini, world["admin"]), user.id)
    session.commit()
    session.refresh(user)
    # The account and its sessions are not this workspace's: requests are refused by membership.
    assert user.session_version == version and user.is_active
    assert not session.scalar(select(Membership.is_active).where(Membership.user_id == user.id))
    with pytest.raises(NotFound):
        tenants.actor_for(session, mini, user)
    assert session.get(Record, record.id).owner_id == user.id
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.user_id == user.id)) is not None
    assert members.member(session, mini, user.id).active is False
    assert [a.role_key for a in members.member(session, mini, user.id).assignments] == ["admin"]
    event_ = session.scalar(select(AuditEvent).where(AuditEvent.kind == "member.deactivated"))
    assert event_.data["user"] == user.id and "account_deactivated" not in event_.data
    assert _intact(session, mini)


def test_deactivation_in_one_tenant_leaves_the_account_and_other_sessions_alone(session, world):  # type: ignore[no-untyped-def]
    mini, other, outsider = world["mini"], world["other"], world["outsider"]
    tenants.add_member(session, mini, outsider, [("owner", None)])
    session.commit()
    version = outsider.session_version
    members.deactivate(session, mini, _actor(session, mini, world["admin"]), outsider.id)
    session.commit()
    session.refresh(outsider)
    assert outsider.is_active and outsider.session_version == version
    assert authenticate(session, outsider.email, PASSWORD) is not None
    assert tenants.actor_for(session, other, outsider)
    with pytest.raises(NotFound):
        tenants.actor_for(session, mini, outsider)


def test_no_workspace_switches_on_an_account_an_operator_switched_off(session, world):  # type: ignore[no-untyped-def]
    mini, other, outsider = world["mini"], world["other"], world["outsider"]
    tenants.add_member(session, mini, outsider, [("owner", None)])
    outsider.is_active = False  # `steerco user deactivate`
    session.commit()
    actor = _actor(session, mini, world["admin"])
    members.deactivate(session, mini, actor, outsider.id)
    members.reactivate(session, mini, actor, outsider.id)
    session.commit()
    session.refresh(outsider)
    assert not outsider.is_active and authenticate(session, outsider.email, PASSWORD) is None


def test_self_deactivation_and_foreign_ids_are_refused(session, world):  # type: ignore[no-untyped-def]
    mini, admin = world["mini"], world["admin"]
    actor = _actor(session, mini, admin)
    with pytest.raises(Forbidden) as raised:
        members.deactivate(session, mini, actor, admin.id)
    assert "yourself" in raised.value.message
    for action in (members.deactivate, members.reactivate):
        with pytest.raises(NotFound):
            action(session, mini, actor, world["outsider"].id)
    session.refresh(admin)
    assert admin.is_active and world["outsider"].is_active


def test_reactivate_opens_the_tenant_again(session, world, make_user):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    user = make_user(mini, [("owner", None)])
    actor = _actor(session, mini, world["admin"])
    members.deactivate(session, mini, actor, user.id)
    members.reactivate(session, mini, actor, user.id)
    session.commit()
    assert user.is_active and authenticate(session, user.email, PASSWORD) is not None
    assert tenants.actor_for(session, mini, user).grants
    assert _kinds(session, mini)[-2:] == ["member.deactivated", "member.reactivated"]


def test_an_invitation_is_not_deactivated_or_reactivated_but_withdrawn_or_sent_again(session, world):  # type: ignore[no-untyped-def]
    mini = world["mini"]
    actor = _actor(session, mini, world["admin"])
    invited = members.invite(session, mini, world["config"], actor, "wait@mini.example", "Waiting", [])
    for action in (members.deactivate, members.reactivate):
        with pytest.raises(Conflict):
            action(session, mini, actor, invited.user_id)


# -- the right itself ----------------------------------------------------------------------

def test_every_change_needs_the_users_right(session, world, make_user):  # type: ignore[no-untyped-def]
    mini, config = world["mini"], world["config"]
    plain = make_user(mini, [("owner", None)])
    target = make_user(mini, [("owner", None)])
    assignment = session.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == target.id))
    actor = _actor(session, mini, plain)
    calls = [
        lambda: members.invite(session, mini, config, actor, "x@mini.example", "X", []),
        lambda: members.resend_invitation(session, mini, config, actor, target.id),
        lambda: members.withdraw_invitation(session, mini, config, actor, target.id),
        lambda: members.grant_role(session, mini, config, actor, target.id, "owner", None),
        lambda: members.revoke_role(session, mini, actor, assignment),
        lambda: members.deactivate(session, mini, actor, target.id),
        lambda: members.reactivate(session, mini, actor, target.id),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
