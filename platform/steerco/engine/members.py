"""Who belongs to a tenant and with which roles: what a tenant's user administrator manages.

Every function works inside one tenant: a user, membership or role assignment of another
tenant is answered with :class:`NotFound`, exactly as if it did not exist, so ids cannot be
used to probe other workspaces. Writes append an audit event in the caller's transaction
and leave the commit to the caller.

Users are global (one login for every workspace); memberships and role assignments are
per tenant. Deactivating a member therefore closes only this tenant, and the account as a
whole only when no other workspace still has them as an active member. Nothing a
deactivated user did is removed: records keep their owner, the audit trail its authors.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from steerco.config.model import TenantConfig
from steerco.engine import audit, tenants
from steerco.engine.access import Access, Actor
from steerco.engine.errors import Forbidden, NotFound, ValidationFailed
from steerco.engine.users import MIN_PASSWORD, NAME_MAX, NAME_TOO_LONG, create_user
from steerco.store import scoping
from steerco.store.models import Membership, Record, RoleAssignment, Tenant, User

USERS_RIGHT = "users"
#: how many records the node picker offers; beyond that the admin types the number
NODE_CHOICES_LIMIT = 500

Resolved = list[tuple[str, Record | None]]


@dataclass(frozen=True)
class Assignment:
    """One role a member holds, tenant-wide (no node) or at a record and its subtree."""

    id: int
    role_key: str
    node_id: int | None
    node_number: str | None
    node_title: str | None


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    email: str
    #: active in this tenant (the membership), whatever other workspaces decided
    active: bool
    assignments: tuple[Assignment, ...]


@dataclass(frozen=True)
class Invited:
    """The result of an invitation; ``password`` is set only when one was generated."""

    user: User
    created: bool
    password: str | None


# -- checks ---------------------------------------------------------------------------

def require_users_right(config: TenantConfig, actor: Actor) -> None:
    """The engine checks the right itself, so no caller can forget it."""
    if USERS_RIGHT not in Access(config, actor).admin_rights:
        raise Forbidden("Managing users needs the user administration right in this workspace.")


def _config(session: Session, tenant: Tenant, config: TenantConfig | None) -> TenantConfig:
    return config if config is not None else tenants.active_config(session, tenant)


def _membership(session: Session, tenant: Tenant, user_id: int) -> Membership:
    membership = session.scalar(select(Membership).where(
        Membership.tenant_id == tenant.id, Membership.user_id == user_id))
    if membership is None:
        raise NotFound("no such user in this workspace")
    return membership


def _user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def _node_by_number(session: Session, tenant: Tenant, number: str) -> Record | None:
    """A live record of this tenant by its number, ignoring case (people type "pg-0001")."""
    return session.scalar(select(Record).where(
        Record.tenant_id == tenant.id, Record.deleted_at.is_(None),
        func.upper(Record.number) == number.strip().upper()))


def _rights_beyond(config: TenantConfig, actor: Actor, role_keys: Iterable[str]) -> list[str]:
    """Admin rights these roles carry that the actor lacks.

    A user administrator manages only what they could do themselves: otherwise they could
    raise their own rights (e.g. to configuration) through a colleague, or remove an
    administrator who holds more rights than they do.
    """
    rights = {right for key in role_keys if key in config.roles for right in config.roles[key].admin}
    return sorted(rights - Access(config, actor).admin_rights)


def _role_problem(config: TenantConfig, actor: Actor, role_key: str) -> str | None:
    """Why this role cannot be granted by this actor, or None."""
    if not role_key:
        return "Choose a role."
    role = config.roles.get(role_key)
    if role is None:
        return f"There is no role '{role_key}' in this workspace; choose one of the list."
    missing = _rights_beyond(config, actor, [role_key])
    if missing:
        return (f"{role.label} carries admin rights you do not hold ({', '.join(missing)}); "
                "only an administrator with those rights can grant it.")
    return None


def _resolve_roles(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor,
                   roles: Iterable[tuple[str, str | None]]) -> tuple[Resolved, dict[str, str]]:
    """Role keys and node numbers to (role, node) pairs, or per-field messages."""
    resolved: Resolved = []
    errors: dict[str, str] = {}
    for role_key, number in roles:
        problem = _role_problem(config, actor, (role_key or "").strip())
        if problem:
            errors.setdefault("role", problem)
            continue
        node = None
        if number and number.strip():
            node = _node_by_number(session, tenant, number)
            if node is None:
                errors.setdefault("node", f"There is no record '{number.strip()}' in this workspace. "
                                          "Leave it empty to grant the role tenant-wide.")
                continue
        resolved.append((role_key.strip(), node))
    return resolved, errors


# -- reading --------------------------------------------------------------------------

def _load(session: Session, tenant: Tenant, *conditions: ColumnElement[bool]) -> list[Member]:
    """Members matching ``conditions`` with their assignments: two queries, whatever the count."""
    rows = session.execute(
        select(User.id, User.name, User.email, Membership.is_active)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, *conditions)
        .order_by(func.lower(User.name), User.id)
    ).all()
    if not rows:
        return []
    by_user: dict[int, list[Assignment]] = {row.id: [] for row in rows}
    # The node is joined within this tenant only: a foreign node id resolves to nothing.
    for a_id, user_id, role_key, node_id, number, title in session.execute(
        select(RoleAssignment.id, RoleAssignment.user_id, RoleAssignment.role_key,
               RoleAssignment.node_id, Record.number, Record.title)
        .outerjoin(Record, (Record.id == RoleAssignment.node_id) & (Record.tenant_id == tenant.id))
        .where(RoleAssignment.tenant_id == tenant.id, RoleAssignment.user_id.in_(by_user))
        .order_by(RoleAssignment.role_key, Record.number, RoleAssignment.id)
    ):
        by_user[user_id].append(Assignment(a_id, role_key, node_id, number, title))
    return [Member(row.id, row.name, row.email, bool(row.is_active), tuple(by_user[row.id]))
            for row in rows]


def members(session: Session, tenant: Tenant, search: str = "") -> list[Member]:
    """The tenant's members (active or not), by name; ``search`` matches name or e-mail."""
    conditions = []
    if search.strip():
        needle = search.strip().lower()
        conditions.append(or_(func.lower(User.name).contains(needle, autoescape=True),
                              func.lower(User.email).contains(needle, autoescape=True)))
    return _load(session, tenant, *conditions)


def member(session: Session, tenant: Tenant, user_id: int) -> Member:
    """One member of this tenant; NotFound for anyone else, members of other tenants included."""
    found = _load(session, tenant, User.id == user_id)
    if not found:
        raise NotFound("no such user in this workspace")
    return found[0]


def node_choices(session: Session, tenant: Tenant, config: TenantConfig,
                 limit: int = NODE_CHOICES_LIMIT) -> list[tuple[str, str]]:
    """(number, title) of records a role is usually granted at: those of levels with children."""
    levels = [level.key for level in config.levels.values() if level.children]
    if not levels:
        return []
    return [(number, title) for number, title in session.execute(
        select(Record.number, Record.title)
        .where(Record.tenant_id == tenant.id, Record.deleted_at.is_(None), Record.level_key.in_(levels))
        .order_by(Record.number).limit(limit))]


# -- writing --------------------------------------------------------------------------

def _event(session: Session, tenant: Tenant, actor: Actor, kind: str, user: User, **data: object) -> None:
    audit.append(session, tenant_id=tenant.id, user_id=actor.user_id, kind=kind,
                 data={"user": user.id, "email": user.email, "name": user.name, **data})


def _invite_errors(existing: User | None, membership: Membership | None, email: str, name: str,
                   password: str | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        errors["email"] = "Enter a valid e-mail address."
    elif membership is not None:
        errors["email"] = ("This person is a member of this workspace already." if membership.is_active
                           else "This person is a deactivated member of this workspace: "
                                "reactivate them on their page.")
    if existing is None:
        if not name.strip():
            errors["name"] = "Required for a new user."
        elif len(name.strip()) > NAME_MAX:
            errors["name"] = NAME_TOO_LONG
        if password and len(password) < MIN_PASSWORD:
            errors["password"] = f"At least {MIN_PASSWORD} characters, or leave it empty to generate one."
    return errors


def invite(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor, email: str, name: str,
           password: str | None, roles: Sequence[tuple[str, str | None]]) -> Invited:
    """Make ``email`` a member holding ``roles`` [(role key, node number or None)].

    A new e-mail gets a new user with ``password``, or a generated one returned once in
    :class:`Invited` so the admin can hand it over (it is stored only as a hash). An existing
    user keeps their name and password: an admin of one workspace must not be able to take
    over an account that other workspaces rely on.
    """
    require_users_right(config, actor)
    email = email.strip().lower()
    existing = _user_by_email(session, email) if email else None
    membership = session.scalar(select(Membership).where(
        Membership.tenant_id == tenant.id, Membership.user_id == existing.id)) if existing else None
    errors = _invite_errors(existing, membership, email, name, password)
    resolved, role_errors = _resolve_roles(session, tenant, config, actor, roles)
    errors.update(role_errors)
    if errors:
        raise ValidationFailed(errors, {"email": email, "name": name})
    generated = None
    if existing is None:
        generated = None if password else secrets.token_urlsafe(12)
        user = create_user(session, email, name, password or generated or "")
    else:
        user = existing
        # They may have been switched off when their last workspace deactivated them.
        user.is_active = True
    session.add(Membership(tenant_id=tenant.id, user_id=user.id))
    session.flush()
    _event(session, tenant, actor, "member.invited", user, new_account=existing is None)
    for role_key, node in resolved:
        _grant(session, tenant, actor, user, role_key, node)
    return Invited(user, existing is None, generated)


def _grant(session: Session, tenant: Tenant, actor: Actor, user: User, role_key: str,
           node: Record | None) -> RoleAssignment:
    assignment = RoleAssignment(tenant_id=tenant.id, user_id=user.id, role_key=role_key,
                                node_id=node.id if node else None)
    session.add(assignment)
    session.flush()
    _event(session, tenant, actor, "role.granted", user, assignment=assignment.id, role=role_key,
           node=node.number if node else None)
    return assignment


def grant_role(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor, user_id: int,
               role_key: str, node_number: str | None) -> RoleAssignment:
    """Give a member a role tenant-wide (no node) or at the record numbered ``node_number``."""
    require_users_right(config, actor)
    membership = _membership(session, tenant, user_id)
    submitted = {"role": role_key, "node": node_number or ""}
    resolved, errors = _resolve_roles(session, tenant, config, actor, [(role_key, node_number)])
    if errors:
        raise ValidationFailed(errors, submitted)
    role, node = resolved[0]
    # SQL treats NULL nodes as distinct, so the unique constraint cannot catch a repeated
    # tenant-wide grant; one check covers both cases with the same message.
    if session.scalar(select(RoleAssignment.id).where(
            RoleAssignment.tenant_id == tenant.id, RoleAssignment.user_id == user_id,
            RoleAssignment.role_key == role,
            (RoleAssignment.node_id == node.id) if node else RoleAssignment.node_id.is_(None))):
        where = f"at {node.number}" if node else "tenant-wide"
        raise ValidationFailed({"role": f"This user holds this role {where} already."}, submitted)
    return _grant(session, tenant, actor, membership.user, role, node)


def _gives_users_right(config: TenantConfig, role_key: str) -> bool:
    role = config.roles.get(role_key)
    return role is not None and USERS_RIGHT in role.admin


def _locks_out(session: Session, config: TenantConfig, actor: Actor, assignment: RoleAssignment) -> bool:
    """Would removing ``assignment`` take the user administration right from the actor?

    As in :attr:`Access.admin_rights`, only roles held tenant-wide carry admin rights: a
    grant at a record neither gives the right (so removing it locks nobody out) nor keeps
    it once the last tenant-wide one is gone.
    """
    if (assignment.user_id != actor.user_id or assignment.node_id is not None
            or not _gives_users_right(config, assignment.role_key)):
        return False
    others = session.scalars(select(RoleAssignment.role_key).where(
        RoleAssignment.tenant_id == assignment.tenant_id, RoleAssignment.user_id == actor.user_id,
        RoleAssignment.node_id.is_(None), RoleAssignment.id != assignment.id))
    return not any(_gives_users_right(config, role) for role in others)


def revoke_role(session: Session, tenant: Tenant, actor: Actor, assignment_id: int, *,
                user_id: int | None = None, config: TenantConfig | None = None) -> None:
    """Remove one assignment; NotFound for another tenant's (or, given ``user_id``, another user's)."""
    config = _config(session, tenant, config)
    require_users_right(config, actor)
    assignment = session.scalar(select(RoleAssignment).where(
        RoleAssignment.id == assignment_id, RoleAssignment.tenant_id == tenant.id))
    if assignment is None or (user_id is not None and assignment.user_id != user_id):
        raise NotFound("no such role assignment in this workspace")
    if _locks_out(session, config, actor, assignment):
        raise Forbidden("This is your last role with the user administration right; "
                        "removing it would lock you out. Ask another administrator.")
    missing = _rights_beyond(config, actor, [assignment.role_key])
    if missing:
        raise Forbidden(f"This role carries admin rights you do not hold ({', '.join(missing)}); "
                        "only an administrator with those rights can remove it.")
    membership = _membership(session, tenant, assignment.user_id)
    node = session.scalar(select(Record.number).where(
        Record.id == assignment.node_id, Record.tenant_id == tenant.id)) if assignment.node_id else None
    _event(session, tenant, actor, "role.revoked", membership.user, assignment=assignment.id,
           role=assignment.role_key, node=node)
    session.delete(assignment)
    session.flush()


def _require_outranking(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor,
                        user_id: int, verb: str) -> None:
    """Refuse to switch a member on or off who holds admin rights the actor lacks."""
    missing = _rights_beyond(config, actor, session.scalars(select(RoleAssignment.role_key).where(
        RoleAssignment.tenant_id == tenant.id, RoleAssignment.user_id == user_id)))
    if missing:
        raise Forbidden(f"This user holds admin rights you do not ({', '.join(missing)}); "
                        f"only an administrator with those rights can {verb} them.")


def deactivate(session: Session, tenant: Tenant, actor: Actor, user_id: int, *,
               config: TenantConfig | None = None) -> None:
    """Close this workspace to the user and end their sessions at once.

    The account itself is switched off only when no other workspace has them as an active
    member, so one tenant's decision does not lock them out of another.
    """
    config = _config(session, tenant, config)
    require_users_right(config, actor)
    membership = _membership(session, tenant, user_id)
    if user_id == actor.user_id:
        raise Forbidden("You cannot deactivate yourself; ask another administrator.")
    _require_outranking(session, tenant, config, actor, user_id, "deactivate")
    if not membership.is_active:
        return
    user = membership.user
    membership.is_active = False
    user.session_version += 1
    # Deliberately across tenants (past the session's tenant tripwire): only a count, and
    # only to decide whether the account as a whole stays usable.
    elsewhere = session.scalar(select(func.count(Membership.id)).where(
        Membership.user_id == user_id, Membership.tenant_id != tenant.id, Membership.is_active)
        .execution_options(**{scoping.ALL_TENANTS: True}))
    if not elsewhere:
        user.is_active = False
    session.flush()
    _event(session, tenant, actor, "member.deactivated", user, account_deactivated=not elsewhere)


def reactivate(session: Session, tenant: Tenant, actor: Actor, user_id: int, *,
               config: TenantConfig | None = None) -> None:
    """Open this workspace to the user again (their account with it)."""
    config = _config(session, tenant, config)
    require_users_right(config, actor)
    membership = _membership(session, tenant, user_id)
    _require_outranking(session, tenant, config, actor, user_id, "reactivate")
    if membership.is_active:
        return
    membership.is_active = True
    membership.user.is_active = True
    session.flush()
    _event(session, tenant, actor, "member.reactivated", membership.user)

