"""Who belongs to a tenant and with which roles: what a tenant's user administrator manages.

Every function works inside one tenant: a user, membership or role assignment of another
tenant is answered with :class:`NotFound`, exactly as if it did not exist, so ids cannot be
used to probe other workspaces. Writes append an audit event in the caller's transaction
and leave the commit to the caller.

Users are global (one login for every workspace); memberships and role assignments are
per tenant. So no workspace decides anything about the account itself:

- an **invitation** is a membership nobody has joined yet, with the roles it will give,
  and a single-use link mailed to the address (``engine/account_links.py``). Accepting it
  joins the workspace; for an address without an account (or one whose owner has not
  chosen a password yet) it is also where the owner chooses their password. The admin
  never chooses or sees a password, and sees the same answer and the same page whether
  the address has an account elsewhere or not: until the person joins, the member shows
  with the name the admin typed, never the account's own name;
- **deactivation** closes this workspace's membership only: the person's sessions stop
  working here at once (membership is checked on every request), their account and their
  sessions in other workspaces are untouched, and no workspace can switch an account on
  that another switched off (only an operator's command switches accounts on or off).

Nothing a deactivated user did is removed: records keep their owner, the audit trail its
authors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Sequence

from sqlalchemy import ColumnElement, case, delete, func, or_, select
from sqlalchemy.orm import Session

from steerco.config.model import TenantConfig
from steerco.engine import account_links, audit, tenants
from steerco.engine.access import Access, Actor
from steerco.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steerco.engine.users import create_user, email_problem, has_password, name_problem, set_password, user_by_email
from steerco.store import scoping
from steerco.store.models import AccountLink, Membership, Record, RoleAssignment, Tenant, User, utcnow

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
    #: the account's name once they joined; until then the name the admin typed
    name: str
    email: str
    #: active in this tenant (the membership), whatever other workspaces decided
    active: bool
    assignments: tuple[Assignment, ...]
    #: False while the invitation waits to be accepted
    joined: bool = True
    #: hours the person can work per reporting period (None: a capacity rule's default)
    capacity_hours: float | None = None


@dataclass(frozen=True)
class Invitation:
    """An invitation to mail: the link's token goes into the URL, nowhere else.

    ``needs_password`` says whether accepting also chooses the account's password (the
    mail's wording); it is for the mail only, never for the inviting admin's screen.
    """

    user_id: int
    email: str
    name: str
    token: str
    needs_password: bool


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

#: the name this tenant sees: its own typed name until the person joins
_SHOWN_NAME = case((Membership.joined_at.is_(None), func.coalesce(Membership.invited_name, "")), else_=User.name)


def _load(session: Session, tenant: Tenant, *conditions: ColumnElement[bool]) -> list[Member]:
    """Members matching ``conditions`` with their assignments: two queries, whatever the count."""
    rows = session.execute(
        select(User.id, _SHOWN_NAME.label("name"), User.email, Membership.is_active, Membership.joined_at,
               Membership.capacity_hours)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant.id, *conditions)
        .order_by(func.lower(_SHOWN_NAME), User.id)
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
    return [Member(row.id, row.name, row.email, bool(row.is_active), tuple(by_user[row.id]),
                   joined=row.joined_at is not None,
                   capacity_hours=float(row.capacity_hours) if row.capacity_hours is not None else None)
            for row in rows]


def members(session: Session, tenant: Tenant, search: str = "") -> list[Member]:
    """The tenant's members (active or not), by name; ``search`` matches name or e-mail."""
    conditions = []
    if search.strip():
        needle = search.strip().lower()
        conditions.append(or_(func.lower(_SHOWN_NAME).contains(needle, autoescape=True),
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

def _event(session: Session, tenant: Tenant, actor: Actor | None, kind: str, user: User,
           name: str | None = None, **data: object) -> None:
    """``name``: what this tenant knows the person as (the typed name until they join)."""
    audit.append(session, tenant_id=tenant.id, user_id=actor.user_id if actor else user.id, kind=kind,
                 data={"user": user.id, "email": user.email, "name": name if name is not None else user.name,
                       **data})


def _invite_errors(email: str, name: str, membership: Membership | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    problem = email_problem(email)
    if problem:
        errors["email"] = problem
    elif membership is not None and membership.joined_at is None:
        errors["email"] = "This person is invited to this workspace already: send the invitation again on their page."
    elif membership is not None:
        errors["email"] = ("This person is a member of this workspace already." if membership.is_active
                           else "This person is a deactivated member of this workspace: reactivate them on their page.")
    problem = name_problem(name)
    if problem:
        errors["name"] = problem
    return errors


def invite(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor, email: str, name: str,
           roles: Sequence[tuple[str, str | None]], now: dt.datetime | None = None) -> Invitation:
    """Invite ``email`` to hold ``roles`` [(role key, node number or None)] once they accept.

    The membership waits, not active, until the person opens the mailed link
    (:func:`accept`). An address without an account gets one with no password (its owner
    chooses it when accepting); an existing account is only asked to join. Either way the
    caller gets the same kind of answer, and the admin sees the name they typed.
    """
    require_users_right(config, actor)
    email = email.strip().lower()
    existing = user_by_email(session, email) if email else None
    membership = session.scalar(select(Membership).where(
        Membership.tenant_id == tenant.id, Membership.user_id == existing.id)) if existing else None
    errors = _invite_errors(email, name, membership)
    resolved, role_errors = _resolve_roles(session, tenant, config, actor, roles)
    errors.update(role_errors)
    if errors:
        raise ValidationFailed(errors, {"email": email, "name": name})
    user = existing or create_user(session, email, name, None)
    session.add(Membership(tenant_id=tenant.id, user_id=user.id, is_active=False, joined_at=None,
                           invited_name=name.strip()))
    session.flush()
    _event(session, tenant, actor, "member.invited", user, name.strip())
    for role_key, node in resolved:
        _grant(session, tenant, actor, user, role_key, node, name.strip())
    return _invitation(session, tenant, actor, user, name.strip(), now)


def _invitation(session: Session, tenant: Tenant, actor: Actor, user: User, name: str,
                now: dt.datetime | None) -> Invitation:
    token = account_links.create(session, user, "invitation", tenant_id=tenant.id, created_by=actor.user_id, now=now)
    return Invitation(user.id, user.email, name, token, needs_password=not has_password(user))


def _pending(session: Session, tenant: Tenant, user_id: int) -> Membership:
    membership = _membership(session, tenant, user_id)
    if membership.joined_at is not None:
        raise Conflict("This person has joined this workspace already; there is no invitation to send or withdraw.")
    return membership


def resend_invitation(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor, user_id: int,
                      now: dt.datetime | None = None) -> Invitation:
    """A new link for an invitation not yet accepted (the older links stop working)."""
    require_users_right(config, actor)
    membership = _pending(session, tenant, user_id)
    name = membership.invited_name or ""
    _event(session, tenant, actor, "member.reinvited", membership.user, name)
    return _invitation(session, tenant, actor, membership.user, name, now)


def withdraw_invitation(session: Session, tenant: Tenant, config: TenantConfig, actor: Actor, user_id: int,
                        now: dt.datetime | None = None) -> None:
    """Take back an invitation not yet accepted: its links stop working, and the waiting
    membership and its roles are removed (the audit trail keeps all of it)."""
    require_users_right(config, actor)
    membership = _pending(session, tenant, user_id)
    _require_outranking(session, tenant, config, actor, user_id, "withdraw the invitation of")
    user = membership.user
    account_links.retire(session, user.id, "invitation", tenant.id, now)
    session.execute(delete(RoleAssignment).where(RoleAssignment.tenant_id == tenant.id,
                                                 RoleAssignment.user_id == user.id))
    _event(session, tenant, actor, "member.invitation_withdrawn", user, membership.invited_name or "")
    session.delete(membership)
    session.flush()


@dataclass(frozen=True)
class Welcome:
    """What the invitation page shows: the workspace, and whether a password is to be chosen."""

    link: AccountLink
    tenant: Tenant
    user: User
    needs_password: bool
    name: str


def invitation(session: Session, token: str | None, now: dt.datetime | None = None) -> Welcome:
    """The invitation behind a mailed link; NotFound for an unknown, used or expired one."""
    link = account_links.find(session, token, "invitation", now)
    if link is None or link.tenant_id is None:
        raise NotFound("This invitation link is not valid any more: it was used, it expired, or a newer "
                       "one was sent. Ask the workspace's administrator to send it again.")
    tenant = session.get(Tenant, link.tenant_id)
    membership = session.scalar(select(Membership).where(
        Membership.tenant_id == link.tenant_id, Membership.user_id == link.user_id)
        .execution_options(**scoping.for_tenant(link.tenant_id)))
    if tenant is None or membership is None or membership.joined_at is not None:
        raise NotFound("This invitation link is not valid any more.")
    user = membership.user
    return Welcome(link, tenant, user, not has_password(user), membership.invited_name or user.name)


def accept(session: Session, token: str | None, *, password: str | None = None, confirmation: str | None = None,
           name: str | None = None, now: dt.datetime | None = None) -> Welcome:
    """Join the workspace of an invitation link (once). An account without a password gets
    the one chosen here (and may correct its name); ValidationFailed if it does not do."""
    welcome = invitation(session, token, now)
    user = welcome.user
    if welcome.needs_password:
        problem = name_problem(name if name is not None else user.name)
        if problem:
            raise ValidationFailed({"name": problem}, {"name": name or ""})
        user.name = (name if name is not None else user.name).strip()
        set_password(session, user, password or "", confirmation)
    membership = session.scalar(select(Membership).where(
        Membership.tenant_id == welcome.tenant.id, Membership.user_id == user.id)
        .execution_options(**scoping.for_tenant(welcome.tenant.id)))
    assert membership is not None
    try:
        account_links.redeem(session, welcome.link, now)
    except account_links.LinkUsed:
        raise NotFound("This invitation link was used a moment ago.") from None
    membership.is_active = True
    membership.joined_at = now or utcnow()
    session.flush()
    _event(session, welcome.tenant, None, "member.joined", user)
    return welcome


def _grant(session: Session, tenant: Tenant, actor: Actor, user: User, role_key: str,
           node: Record | None, name: str | None = None) -> RoleAssignment:
    assignment = RoleAssignment(tenant_id=tenant.id, user_id=user.id, role_key=role_key,
                                node_id=node.id if node else None)
    session.add(assignment)
    session.flush()
    _event(session, tenant, actor, "role.granted", user, name, assignment=assignment.id, role=role_key,
           node=node.number if node else None)
    return assignment


def _known_name(membership: Membership) -> str:
    """The name this tenant may know the member by (see :data:`_SHOWN_NAME`)."""
    return membership.user.name if membership.joined_at is not None else membership.invited_name or ""


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
    return _grant(session, tenant, actor, membership.user, role, node, _known_name(membership))


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
    _event(session, tenant, actor, "role.revoked", membership.user, _known_name(membership),
           assignment=assignment.id, role=assignment.role_key, node=node)
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
    """Close this workspace to the user: from their next request on, its pages, API and
    approvals refuse them (the membership is checked on every request).

    Only this membership changes: the account, and the person's sessions and standing in
    other workspaces, are not this workspace's to decide.
    """
    config = _config(session, tenant, config)
    require_users_right(config, actor)
    membership = _membership(session, tenant, user_id)
    if user_id == actor.user_id:
        raise Forbidden("You cannot deactivate yourself; ask another administrator.")
    _require_outranking(session, tenant, config, actor, user_id, "deactivate")
    if membership.joined_at is None:
        raise Conflict("This person has not accepted the invitation yet: withdraw the invitation instead.")
    if not membership.is_active:
        return
    membership.is_active = False
    session.flush()
    _event(session, tenant, actor, "member.deactivated", membership.user)


#: the most hours a person may be given per reporting period (a year of hours: a sanity bound)
MAX_CAPACITY_HOURS = Decimal(9000)


def set_capacity(session: Session, tenant: Tenant, actor: Actor, user_id: int, hours: object, *,
                 config: TenantConfig | None = None) -> None:
    """Set the hours a member can work per reporting period (None or "": the capacity
    rules' default again), which resource conflicts are judged against; an audit event."""
    config = _config(session, tenant, config)
    require_users_right(config, actor)
    membership = _membership(session, tenant, user_id)
    value: Decimal | None = None
    if hours is not None and hours != "":
        try:
            value = Decimal(str(hours).strip()) if not isinstance(hours, bool) else Decimal("NaN")
        except ArithmeticError:
            value = Decimal("NaN")
        if not value.is_finite() or not 0 <= value <= MAX_CAPACITY_HOURS:
            raise ValidationFailed({"capacity_hours": f"Enter hours from 0 to {MAX_CAPACITY_HOURS:,}, "
                                                      "or nothing for the default."},
                                   {"capacity_hours": str(hours)})
        value = value.quantize(Decimal("0.01"))
    if membership.capacity_hours == value:
        return
    old = membership.capacity_hours
    membership.capacity_hours = value
    session.flush()
    _event(session, tenant, actor, "member.capacity", membership.user, _known_name(membership),
           old=None if old is None else float(old), new=None if value is None else float(value))


def reactivate(session: Session, tenant: Tenant, actor: Actor, user_id: int, *,
               config: TenantConfig | None = None) -> None:
    """Open this workspace to the user again (their account is not this workspace's to switch on)."""
    config = _config(session, tenant, config)
    require_users_right(config, actor)
    membership = _membership(session, tenant, user_id)
    _require_outranking(session, tenant, config, actor, user_id, "reactivate")
    if membership.joined_at is None:
        raise Conflict("This person has not accepted the invitation yet: send it again instead.")
    if membership.is_active:
        return
    membership.is_active = True
    session.flush()
    _event(session, tenant, actor, "member.reactivated", membership.user)
