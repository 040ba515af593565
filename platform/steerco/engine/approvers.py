"""Who may decide an approval step, and who answers for a record's exception: the one
rule of "who holds a role whose grant covers this record".

A person may decide a step of role R on record X when they hold R, R carries the
``approve`` action on X's level, and the permission's scope covers X from where R is held
(``tenant``: anywhere; ``subtree``: the grant's node is X or above it, or the grant is
tenant-wide; ``own``: the same, and the person owns X). A deputy may decide it while a
delegation from such a person is in effect, in that person's name; a person is never
their own requester's deputy.

The rule is written once, as data (each role's approve permissions), and read two ways,
side by side like :meth:`Access.decide` and :meth:`Access.read_filter`:

- :meth:`ApproverRule.allows`: the per-record decision for one grant, in Python (deciding
  a step, the record page's "your decision");
- :meth:`ApproverRule.condition`: the same as a SQL condition whose inputs may be columns
  or values (the inbox and its count, the eligible approvers a quorum counts).

``tests/unit/test_approvers.py`` checks that the two agree for every demo user and record.

The rule is parameterised by what is asked (:attr:`ApproverRule.action`): ``"approve"``
for an approval step; ``None`` for an exception's owners (:func:`holders`), where any
permission of the role on the record's level counts, with the same scopes (so an
"own"-scoped role answers only for the records its holder owns).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, NamedTuple

from sqlalchemy import ColumnElement, Date, Integer, and_, bindparam, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from steerco.config.model import ApprovalStep, Permission, TenantConfig
from steerco.engine.access import Grant
from steerco.engine.context import WorkContext
from steerco.engine.gates import Missing
from steerco.store import scoping
from steerco.store.models import ApprovalTask, Delegation, Membership, Record, RoleAssignment, User

#: None: in one's own name; a user id: as that person's deputy; False: not at all
Capacity = int | None | Literal[False]
#: the record a role is held at (an alias built once: building it per query is not free)
GRANT_NODE = aliased(Record, name="grant_node")


class RecordSide(NamedTuple):
    """The record's part of the rule: columns of a query, or one record's values."""

    level_key: Any
    path: Any
    owner_id: Any

    @classmethod
    def columns(cls, record: Any = Record) -> "RecordSide":
        return cls(record.level_key, record.path, record.owner_id)

    @classmethod
    def of(cls, record: Record) -> "RecordSide":
        return cls(literal(record.level_key), literal(record.path), literal(record.owner_id))


def _sql(value: Any) -> Any:
    return value if hasattr(value, "__clause_element__") or isinstance(value, ColumnElement) else literal(value)


@dataclass(frozen=True)
class ApproverRule:
    """The approver-eligibility rule of one compiled configuration."""

    config: TenantConfig
    #: the action a permission must carry to count: ``"approve"`` for approval steps,
    #: None for any permission (who answers for a record: an exception's owners)
    action: str | None = "approve"

    def permissions(self, role_key: str) -> tuple[Permission, ...]:
        """The role's permissions that carry the asked action (the rule's data)."""
        role = self.config.roles.get(role_key)
        return tuple(p for p in role.permissions if self.action is None or self.action in p.actions) if role else ()

    # -- in Python: one grant, one record ------------------------------------------------------
    def allows(self, grant: Grant, user_id: int, step_role: str, record: Record) -> bool:
        """May the holder of ``grant`` decide a step of ``step_role`` on ``record``?"""
        if grant.role != step_role:
            return False
        inside = grant.node_path is None or record.path.startswith(grant.node_path)
        for p in self.permissions(grant.role):
            if "*" not in p.levels and record.level_key not in p.levels:
                continue
            if p.scope == "tenant" or (p.scope == "subtree" and inside) or \
                    (p.scope == "own" and inside and record.owner_id == user_id):
                return True
        return False

    def decides(self, grants: Iterable[Grant], user_id: int, step_role: str, record: Record) -> bool:
        return any(self.allows(g, user_id, step_role, record) for g in grants)

    # -- in SQL: the same, with columns or values as inputs --------------------------------------
    def condition(self, step_role: Any, grant_role: Any, grant_path: Any, user_id: Any,
                  record: RecordSide) -> ColumnElement[bool]:
        """SQL: the holder (``user_id``) of a grant (``grant_role`` at ``grant_path``, NULL
        path = tenant-wide) may decide a step of ``step_role`` on ``record``. Each input is a
        column or a value; a Python ``None`` path means tenant-wide."""
        roles = []
        known = [r for r in (grant_role, step_role) if isinstance(r, str)]
        for role_key in self.config.roles:
            if any(r != role_key for r in known):
                continue  # a value, not a column: only that role can match
            clauses = []
            for p in self.permissions(role_key):
                level = true() if "*" in p.levels else _sql(record.level_key).in_(p.levels)
                if p.scope == "tenant":
                    scope: ColumnElement[bool] = true()
                else:
                    inside = true() if grant_path is None else or_(
                        _sql(grant_path).is_(None), _sql(record.path).startswith(_sql(grant_path)))
                    scope = inside if p.scope == "subtree" else and_(inside, _sql(record.owner_id) == _sql(user_id))
                clauses.append(and_(level, scope))
            if clauses:
                roles.append(and_(*[_sql(r) == role_key for r in (grant_role, step_role) if not isinstance(r, str)],
                                  or_(*clauses)))
        return or_(*roles) if roles else false()

    def actor_condition(self, grants: Iterable[Grant], user_id: int, step_role: Any,
                        record: RecordSide) -> ColumnElement[bool]:
        """SQL: one person with these grants may decide a step of ``step_role`` on ``record``."""
        clauses = [self.condition(step_role, g.role, g.node_path, user_id, record) for g in grants
                   if self.permissions(g.role)]
        return or_(*clauses) if clauses else false()


def _grants_query(tenant_id: int):  # type: ignore[no-untyped-def]
    """Roles held by active members, with the path of the node they are held at."""
    node = GRANT_NODE
    return node, (select(RoleAssignment.user_id, RoleAssignment.role_key, node.path)
                  .join(Membership, and_(Membership.user_id == RoleAssignment.user_id,
                                         Membership.tenant_id == RoleAssignment.tenant_id))
                  .join(User, User.id == RoleAssignment.user_id)
                  .outerjoin(node, and_(node.id == RoleAssignment.node_id, node.tenant_id == RoleAssignment.tenant_id))
                  .where(RoleAssignment.tenant_id == tenant_id, Membership.is_active, User.is_active,
                         # a grant at a node that does not resolve grants nothing
                         or_(RoleAssignment.node_id.is_(None), node.id.is_not(None))))


def holders(session: Session, tenant_id: int, config: TenantConfig, roles: Iterable[str], record: Record,
            action: str | None = "approve") -> dict[str, set[int]]:
    """Per role, the active members holding it whose grant covers ``record`` for ``action``
    (see :class:`ApproverRule`), in one query for all the roles."""
    wanted = sorted({r for r in roles if r in config.roles})
    found: dict[str, set[int]] = {role: set() for role in roles}
    if not wanted:
        return found
    node, query = _grants_query(tenant_id)
    rule = ApproverRule(config, action)
    rows = session.execute(query.where(
        RoleAssignment.role_key.in_(wanted),
        rule.condition(RoleAssignment.role_key, RoleAssignment.role_key, node.path, RoleAssignment.user_id,
                       RecordSide.of(record))).execution_options(**scoping.for_tenant(tenant_id)))
    for user_id, role, _ in rows:
        found[role].add(user_id)
    return found


@functools.cache
def _principals_statement() -> Any:
    """Whom ``:me`` stands in for on ``:today`` in ``:tenant_id``, with their grants: built
    once (every page asks it for the navigation's count, and building it cost more than
    running it), its values bound at execution."""
    node = GRANT_NODE
    tenant_id = bindparam("tenant_id", type_=Integer)
    today = bindparam("today", type_=Date)
    return (select(RoleAssignment.user_id, RoleAssignment.role_key, node.path)
            .join(Membership, and_(Membership.user_id == RoleAssignment.user_id,
                                   Membership.tenant_id == RoleAssignment.tenant_id))
            .join(User, User.id == RoleAssignment.user_id)
            .outerjoin(node, and_(node.id == RoleAssignment.node_id, node.tenant_id == RoleAssignment.tenant_id))
            .join(Delegation, and_(Delegation.user_id == RoleAssignment.user_id,
                                   Delegation.tenant_id == RoleAssignment.tenant_id))
            .where(RoleAssignment.tenant_id == tenant_id, Membership.is_active, User.is_active,
                   or_(RoleAssignment.node_id.is_(None), node.id.is_not(None)),
                   Delegation.tenant_id == tenant_id, Delegation.deputy_id == bindparam("me", type_=Integer),
                   Delegation.revoked_at.is_(None), Delegation.starts_on <= today, Delegation.ends_on >= today))


class Approvers:
    """Who may decide which step, for one actor: in their own name or as a deputy."""

    def __init__(self, ctx: WorkContext):
        self.ctx = ctx
        self.rule = ApproverRule(ctx.config)
        self._principals: list[tuple[int, Grant]] | None = None

    # -- people --------------------------------------------------------------------------------
    def _grants_query(self):  # type: ignore[no-untyped-def]
        return _grants_query(self.ctx.tenant_id)

    def eligible_by_role(self, roles: Iterable[str], record: Record) -> dict[str, set[int]]:
        """Per role, the active members who may decide a step of that role on ``record``
        in their own name (one query for all the roles)."""
        return holders(self.ctx.session, self.ctx.tenant_id, self.ctx.config, set(roles), record, "approve")

    def eligible(self, role: str, record: Record) -> set[int]:
        """Active members who may decide a step of ``role`` on ``record`` in their own name."""
        return self.eligible_by_role([role], record)[role]

    def principals(self) -> list[tuple[int, Grant]]:
        """Whom the actor stands in for today, with each of that person's grants (one query
        per instance; an empty list for nearly everyone)."""
        if self._principals is None and self.ctx.access.actor.deputy is False:
            self._principals = []  # the tenant's resolution found no delegation to them
        if self._principals is None:
            # On the connection (Core): the statement names its tenant in every table it
            # reads, and the ORM's per-execution work was most of its cost on every page.
            rows = self.ctx.session.connection().execute(_principals_statement(), {
                "tenant_id": self.ctx.tenant_id, "me": self.ctx.me, "today": self.ctx.now.date()})
            self._principals = [(user_id, Grant(role, path)) for user_id, role, path in rows]
        return self._principals

    def _active_delegation(self, today: dt.date) -> list[ColumnElement[bool]]:
        return [Delegation.tenant_id == self.ctx.tenant_id, Delegation.deputy_id == self.ctx.me,
                Delegation.revoked_at.is_(None), Delegation.starts_on <= today, Delegation.ends_on >= today]

    # -- one task --------------------------------------------------------------------------------
    def capacity(self, task: ApprovalTask, record: Record) -> Capacity:
        """None when the actor decides ``task`` in their own name, a user id when as that
        person's deputy (never the requester's), False when they may not decide it."""
        actor = self.ctx.access.actor
        if self.rule.decides(actor.grants, actor.user_id, task.role, record):
            return None
        for user_id, grant in self.principals():
            if user_id != task.request.requested_by_id and self.rule.allows(grant, user_id, task.role, record):
                return user_id
        return False

    # -- in SQL, for many tasks ------------------------------------------------------------------
    def own_condition(self, task: Any = ApprovalTask, record: Any = Record) -> ColumnElement[bool]:
        """SQL: the actor may decide ``task`` on ``record`` in their own name."""
        actor = self.ctx.access.actor
        return self.rule.actor_condition(actor.grants, actor.user_id, task.role, RecordSide.columns(record))

    def deputy_for(self, task: Any = ApprovalTask, record: Any = Record, requester: Any = None) -> Any:
        """SQL scalar: the person the actor may decide ``task`` for as deputy today (the
        lowest user id when several), NULL when none; never the request's requester."""
        today = self.ctx.now.date()
        node, query = self._grants_query()
        query = (query.with_only_columns(func.min(RoleAssignment.user_id))
                 .join(Delegation, and_(Delegation.user_id == RoleAssignment.user_id,
                                        Delegation.tenant_id == RoleAssignment.tenant_id))
                 .where(*self._active_delegation(today), RoleAssignment.role_key == task.role,
                        self.rule.condition(task.role, RoleAssignment.role_key, node.path, RoleAssignment.user_id,
                                            RecordSide.columns(record))))
        if requester is not None:
            query = query.where(RoleAssignment.user_id != requester)
        return query.correlate_except(RoleAssignment, Membership, User, Delegation, node).scalar_subquery()

    def decidable_roles(self) -> set[str]:
        """Roles of steps the actor might decide somewhere (their own or their principals')."""
        held = {g.role for g in self.ctx.access.actor.grants} | {g.role for _, g in self.principals()}
        return {role for role in held if self.rule.permissions(role)}

    # -- quorum -----------------------------------------------------------------------------------
    def unreachable(self, steps: Iterable[ApprovalStep], eligible: Mapping[str, set[int]],
                    requester: int) -> list[Missing]:
        """Steps that could never be decided: fewer people who may decide them (the
        requester left out; ``eligible`` from :meth:`eligible_by_role`) than approvals
        needed, or nobody at all; for a cross-role step, no distinct person for each role."""
        problems = []
        for step in steps:
            if step.across_roles:
                problems.extend(self._unreachable_across_roles(step, eligible, requester))
                continue
            people = set(eligible.get(step.role, ())) - {requester}
            needed = step.quorum if isinstance(step.quorum, int) else 1
            if len(people) >= needed:
                continue
            role_label = self._role_label(step.role)
            if not people:
                message = (f"Nobody may decide “{step.label}” here: no active member other than the requester "
                           f"holds the role {role_label} with the right to approve at this record's place.")
            else:
                message = (f"“{step.label}” needs {needed} approvals, but only {len(people)} "
                           f"{'person' if len(people) == 1 else 'people'} other than the requester may decide it here.")
            problems.append(Missing(None, "Approvers", message))
        return problems

    def _role_label(self, role_key: str) -> str:
        role = self.ctx.config.roles.get(role_key)
        return role.label if role else role_key

    def _unreachable_across_roles(self, step: ApprovalStep, eligible: Mapping[str, set[int]],
                                  requester: int) -> list[Missing]:
        """A cross-role step needs a different person for each of its roles (a matching of
        roles to people, found by augmenting paths: a handful of roles and people)."""
        people = {role: set(eligible.get(role, ())) - {requester} for role in step.deciding_roles}
        nobody = [role for role, found in people.items() if not found]
        if nobody:
            return [Missing(None, "Approvers", f"Nobody may decide “{step.label}” for the role "
                            f"{self._role_label(role)} here: no active member other than the requester holds it "
                            "with the right to approve at this record's place.") for role in nobody]
        taken: dict[int, str] = {}

        def place(role: str, seen: set[int]) -> bool:
            for person in sorted(people[role] - seen):
                seen.add(person)
                if person not in taken or place(taken[person], seen):
                    taken[person] = role
                    return True
            return False

        if all(place(role, set()) for role in step.deciding_roles):
            return []
        labels = ", ".join(self._role_label(r) for r in step.deciding_roles)
        return [Missing(None, "Approvers", f"“{step.label}” needs a different person for each of {labels}, "
                        "none of them the requester, but there are not enough such people here.")]
