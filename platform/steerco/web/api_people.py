"""The JSON API's people: the user directory, roles, memberships and role grants.

Routes of the API blueprint (``/api/t/<tenant>/``, bearer token). The directory is for
every member (user fields and owners are set by id); e-mail addresses only reach those
with the user administration right (:mod:`steerco.engine.directory`). Memberships and
grants are the member engine's (:mod:`steerco.engine.members`), which checks that right
itself, refuses grants beyond the actor's own rights and audits each change, exactly as
the admin pages do.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request, url_for

from steerco.engine import cursors, directory, members
from steerco.engine.errors import NotFound, ValidationFailed
from steerco.engine.records import InvalidQuery
from steerco.web import api as api_views
from steerco.web import mailing
from steerco.web.api import bp
from steerco.web.extensions import db
from steerco.web.params import is_id

DIRECTORY_PARAMS = frozenset({"q", "cursor", "limit"})
GRANT_PROPERTIES = frozenset({"role", "node"})
INVITE_PROPERTIES = frozenset({"email", "name", "role", "node"})


def person_json(person: directory.Person) -> dict[str, Any]:
    """A person as the directory shows them: ``email`` only for user administrators."""
    return {"id": person.id, "name": person.name, **({"email": person.email} if person.email is not None else {})}


@bp.get("/users")
def user_directory():  # type: ignore[no-untyped-def]
    """Active members by name (``q`` searches names), paged by ``cursor``."""
    for name in request.args:
        if name not in DIRECTORY_PARAMS:
            raise InvalidQuery(f"unknown parameter {name!r}; use {', '.join(sorted(DIRECTORY_PARAMS))}")
    after = None
    if request.args.get("cursor"):
        value, user_id = cursors.decode(request.args["cursor"], "name", False)
        if not isinstance(value, str):
            raise InvalidQuery("cursor is not one this API gave out; use next_cursor of the previous page")
        after = (value, user_id)
    found = directory.people(db.session, g.tenant.id, g.config, g.actor, search=request.args.get("q", ""),
                             after=after, limit=api_views._int_arg("limit", 50) or 50)
    return jsonify(items=[person_json(p) for p in found.people],
                   next_cursor=cursors.encode("name", False, *found.after) if found.after else None)


@bp.get("/users/<int:user_id>")
def read_user(user_id: int):  # type: ignore[no-untyped-def]
    found = directory.person(db.session, g.tenant.id, g.config, g.actor, user_id)
    if found is None:
        raise NotFound("no such user in this workspace")
    return jsonify(person_json(found))


@bp.get("/roles")
def roles():  # type: ignore[no-untyped-def]
    """The workspace's roles: what a grant names."""
    return jsonify(items=[{"key": r.key, "label": r.label, "admin": sorted(r.admin)}
                          for r in g.config.roles.values()])


# -- memberships and grants (user administration right) ----------------------------------------
def assignment_json(a: members.Assignment) -> dict[str, Any]:
    return {"id": a.id, "role": a.role_key,
            "node": {"id": a.node_id, "number": a.node_number, "title": a.node_title} if a.node_id else None}


def member_json(m: members.Member) -> dict[str, Any]:
    return {"id": m.user_id, "name": m.name, "email": m.email, "active": m.active, "joined": m.joined,
            "capacity_hours": m.capacity_hours,
            "roles": [assignment_json(a) for a in m.assignments],
            "url": url_for("api.read_member", user_id=m.user_id, _external=True)}


@bp.get("/members")
def list_members():  # type: ignore[no-untyped-def]
    """Every membership of the workspace (invited and deactivated ones too), with its roles."""
    members.require_users_right(g.config, g.actor)
    for name in request.args:
        if name != "q":
            raise InvalidQuery(f"unknown parameter {name!r}; use q")
    return jsonify(items=[member_json(m) for m in members.members(db.session, g.tenant, request.args.get("q", ""))])


@bp.get("/members/<int:user_id>")
def read_member(user_id: int):  # type: ignore[no-untyped-def]
    members.require_users_right(g.config, g.actor)
    return jsonify(member_json(members.member(db.session, g.tenant, user_id)))


def _node_number(node: Any) -> str | None:
    """The number of the record a grant names by id (None: tenant-wide); only records the
    caller may read can be named, anything else is the same refusal."""
    if node is None:
        return None
    if not is_id(node):
        raise ValidationFailed({"node": "Send the id of a record, or null for tenant-wide."})
    try:
        return api_views.records_service().get(node).number
    except NotFound:
        raise ValidationFailed({"node": "No such record."}) from None


def _member_answer(user_id: int, status: int = 200):  # type: ignore[no-untyped-def]
    response = jsonify(member_json(members.member(db.session, g.tenant, user_id)))
    response.status_code = status
    return response


@bp.post("/members")
def invite_member():  # type: ignore[no-untyped-def]
    """Invite someone ``{"email", "name", "role"?, "node"?}``: 201 and the (waiting)
    membership; the mailed single-use link lets them join, as from the admin page."""
    members.require_users_right(g.config, g.actor)
    body = api_views._body(INVITE_PROPERTIES)
    email, name, role = body.get("email"), body.get("name"), body.get("role")
    errors = {key: "Send a string." for key, value in (("email", email), ("name", name))
              if not isinstance(value, str)}
    if role is not None and not isinstance(role, str):
        errors["role"] = f"Send a role key; roles: {', '.join(g.config.roles)}."
    if errors:
        raise ValidationFailed(errors)
    number = _node_number(body.get("node"))
    invitation = members.invite(db.session, g.tenant, g.config, g.actor, email, name,
                                [(role, number)] if role else [])
    workspace, inviter, user_id = g.config.name, g.actor.name, invitation.user_id
    db.session.commit()
    mailing.send_invitation(invitation.email, invitation.name, invitation.token, workspace=workspace,
                            inviter=inviter, needs_password=invitation.needs_password)
    response = _member_answer(user_id, 201)
    response.headers["Location"] = url_for("api.read_member", user_id=user_id, _external=True)
    return response


@bp.post("/members/<int:user_id>/deactivate")
def deactivate_member(user_id: int):  # type: ignore[no-untyped-def]
    """Close the workspace to a member (their account stays; other workspaces are theirs)."""
    members.deactivate(db.session, g.tenant, g.actor, user_id, config=g.config)
    db.session.commit()
    return _member_answer(user_id)


@bp.put("/members/<int:user_id>/capacity")
def set_member_capacity(user_id: int):  # type: ignore[no-untyped-def]
    """``{"hours": 120}``: the hours the member can work per reporting period, against
    which capacity rules judge their plan (null: the rule's default)."""
    members.require_users_right(g.config, g.actor)
    members.member(db.session, g.tenant, user_id)  # 404 for anyone not a member here, whatever was sent
    body = api_views._body(frozenset({"hours"}))
    members.set_capacity(db.session, g.tenant, g.actor, user_id, body.get("hours"), config=g.config)
    db.session.commit()
    return _member_answer(user_id)


@bp.post("/members/<int:user_id>/reactivate")
def reactivate_member(user_id: int):  # type: ignore[no-untyped-def]
    members.reactivate(db.session, g.tenant, g.actor, user_id, config=g.config)
    db.session.commit()
    return _member_answer(user_id)


@bp.post("/members/<int:user_id>/roles")
def grant_role(user_id: int):  # type: ignore[no-untyped-def]
    """Grant a role ``{"role", "node"?}`` tenant-wide (no node) or at a record (its id):
    201 and the member with every role they hold."""
    members.require_users_right(g.config, g.actor)
    members.member(db.session, g.tenant, user_id)  # 404 before anything else for a stranger
    body = api_views._body(GRANT_PROPERTIES)
    role = body.get("role")
    if not isinstance(role, str):
        raise ValidationFailed({"role": f"Send a role key; roles: {', '.join(g.config.roles)}."})
    number = _node_number(body.get("node"))
    members.grant_role(db.session, g.tenant, g.config, g.actor, user_id, role, number)
    db.session.commit()
    response = jsonify(member_json(members.member(db.session, g.tenant, user_id)))
    response.status_code = 201
    return response


@bp.delete("/members/<int:user_id>/roles/<int:assignment_id>")
def revoke_role(user_id: int, assignment_id: int):  # type: ignore[no-untyped-def]
    """Take one role grant away: the member with the roles they still hold."""
    members.require_users_right(g.config, g.actor)
    members.member(db.session, g.tenant, user_id)  # 404 before anything else for a stranger
    members.revoke_role(db.session, g.tenant, g.actor, assignment_id, user_id=user_id, config=g.config)
    db.session.commit()
    return jsonify(member_json(members.member(db.session, g.tenant, user_id)))
