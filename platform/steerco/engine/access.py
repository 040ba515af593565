"""Who may do what, where: the one place access is decided.

An :class:`Actor` is a user with the roles they hold in a tenant, each either tenant-wide
or at a node (and so on its subtree). :class:`Access` answers, from the tenant's
configuration alone:

- ``decide(action, level, record)``: may the actor do this? A :class:`Decision` with a reason;
- ``read_filter(level)``: a SQL condition limiting any query to records the actor may read,
  built from the same rules, so lists, counts and reports agree with the per-record check;
- ``field_mode(field, record)``: hidden, read or write, merged over the actor's roles
  (a field is read-only only if every role makes it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, or_, true

from steerco.config.model import Action, Field, Permission, TenantConfig
from steerco.store.models import Record

FieldMode = Literal["hidden", "read", "write"]
_MODE_RANK = {"hidden": 0, "read": 1, "write": 2}


@dataclass(frozen=True)
class Grant:
    """A role held tenant-wide (``node_path`` None) or at the node with that path."""

    role: str
    node_path: str | None = None


@dataclass(frozen=True)
class Actor:
    user_id: int
    name: str
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _covers(permission: Permission, level_key: str, action: str) -> bool:
    return action in permission.actions and ("*" in permission.levels or level_key in permission.levels)


class Access:
    """Access decisions for one actor under one compiled configuration."""

    def __init__(self, config: TenantConfig, actor: Actor):
        self.config = config
        self.actor = actor

    # -- helpers -------------------------------------------------------------------
    def _grants_at(self, path: str | None) -> list[Grant]:
        """Grants that apply at a node with ``path`` (None: the top of the tenant)."""
        return [g for g in self.actor.grants
                if g.node_path is None or (path is not None and path.startswith(g.node_path))]

    def roles_at(self, record: Record | None) -> set[str]:
        """Roles that apply at ``record``; with no record, every role the actor holds
        (lists and new-record forms, whose rows are each checked again on their own)."""
        if record is None:
            return {g.role for g in self.actor.grants}
        return {g.role for g in self._grants_at(record.path)}

    @property
    def admin_rights(self) -> set[str]:
        return {right for g in self.actor.grants if g.role in self.config.roles
                for right in self.config.roles[g.role].admin}

    def _scope_allows(self, scope: str, grant: Grant, record: Record | None, creating: bool) -> bool:
        if scope == "tenant":
            return True
        path = record.path if record is not None else None
        in_subtree = grant.node_path is None or (path is not None and path.startswith(grant.node_path))
        if scope == "subtree" or creating:
            return in_subtree
        return in_subtree and record is not None and record.owner_id == self.actor.user_id

    # -- decisions -----------------------------------------------------------------
    def decide(self, action: Action, level_key: str, record: Record | None = None,
               parent: Record | None = None) -> Decision:
        """May the actor do ``action`` on ``record`` (or create under ``parent``)?"""
        creating = action == "create"
        target = parent if creating else record
        for grant in self.actor.grants:
            role = self.config.roles.get(grant.role)
            if role is None:
                continue
            for permission in role.permissions:
                if _covers(permission, level_key, action) and self._scope_allows(
                        permission.scope, grant, target, creating):
                    return Decision(True, f"role {role.label} ({permission.scope})")
        level = self.config.levels.get(level_key)
        what = level.label if level else level_key
        return Decision(False, f"none of your roles allows {action} on {what} here")

    def can(self, action: Action, level_key: str, record: Record | None = None,
            parent: Record | None = None) -> bool:
        return self.decide(action, level_key, record, parent).allowed

    def read_filter(self, level_key: str | None = None) -> ColumnElement[bool]:
        """SQL condition on :class:`Record` matching exactly what ``decide('read')`` allows."""
        clauses = []
        for grant in self.actor.grants:
            role = self.config.roles.get(grant.role)
            if role is None:
                continue
            for permission in role.permissions:
                if "read" not in permission.actions:
                    continue
                if "*" in permission.levels:
                    level_clause = true()
                elif level_key is not None:
                    level_clause = true() if level_key in permission.levels else false()
                else:
                    level_clause = Record.level_key.in_(permission.levels)
                if permission.scope == "tenant" or grant.node_path is None and permission.scope == "subtree":
                    scope_clause = true()
                else:
                    scope_clause = true() if grant.node_path is None else Record.path.startswith(
                        grant.node_path, autoescape=True)
                    if permission.scope == "own":
                        scope_clause = and_(scope_clause, Record.owner_id == self.actor.user_id)
                clauses.append(and_(level_clause, scope_clause))
        return or_(*clauses) if clauses else false()

    def field_mode(self, field: Field, record: Record | None, level_key: str) -> FieldMode:
        """The most generous mode any of the actor's roles at the record gives the field."""
        may_write = self.can("update", level_key, record) if record is not None else True
        best: FieldMode = "hidden"
        for role_key in self.roles_at(record):
            role = self.config.roles.get(role_key)
            if role is None:
                continue
            mode: FieldMode = role.fields.get(field.key) or (
                "write" if not field.write_roles or role_key in field.write_roles
                else "read" if not field.read_roles or role_key in field.read_roles
                else "hidden"
            )
            if mode == "write" and not may_write:
                mode = "read"
            if _MODE_RANK[mode] > _MODE_RANK[best]:
                best = mode
        return best
