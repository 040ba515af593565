"""Who may do what, where: the one place access is decided.

An :class:`Actor` is a user with the roles they hold in a tenant, each either tenant-wide
or at a node (and so on its subtree). :class:`Access` answers, from the tenant's
configuration alone:

- ``decide(action, level, record)``: may the actor do this? A :class:`Decision` with a reason;
- ``read_filter(level)``: a SQL condition limiting any query to records the actor may read,
  built from the same rules, so lists, counts and reports agree with the per-record check;
- ``field_mode(field, record)``: hidden, read or write, merged over the actor's roles
  (a field is read-only only if every role makes it so), and ``field_filter(field, level)``,
  the SQL condition selecting the records on which a field is not hidden (for aggregates).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

from sqlalchemy import ColumnElement, and_, false, or_, true

from steerco.config.model import Action, Field, Permission, Role, TenantConfig
from steerco.store.models import Record

FieldMode = Literal["hidden", "read", "write"]
_MODE_RANK = {"hidden": 0, "read": 1, "write": 2}
#: field modes per (field, level, reading roles, writing roles), per compiled configuration:
#: they depend on nothing else (see :meth:`Access._merged_mode`), so every request of every
#: actor with the same roles shares them; a new configuration version starts afresh
_MODES: dict[int, tuple[weakref.ref[TenantConfig], dict[tuple[object, ...], FieldMode]]] = {}
_MODES_KEPT = 64


def _modes_of(config: TenantConfig) -> dict[tuple[object, ...], FieldMode]:
    kept = _MODES.get(id(config))
    if kept is None or kept[0]() is not config:
        if len(_MODES) >= _MODES_KEPT:
            _MODES.clear()
        kept = _MODES[id(config)] = (weakref.ref(config), {})  # an old version is not kept alive
    return kept[1]


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
    #: whether a delegation may make them someone's deputy about now: False when the
    #: request's tenant resolution found none (then nobody asks again), None when not known
    deputy: bool | None = None


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
        #: role sets per (action, level, record state) and field modes per role sets; an Access
        #: lives for one request
        self._memo: dict[tuple[object, ...], Any] = {}
        self._modes = _modes_of(config)
        #: fields whose dependencies are being looked at (visible_if may refer in a circle)
        self._resolving: set[str] = set()

    # -- helpers -------------------------------------------------------------------
    @property
    def admin_rights(self) -> set[str]:
        """Configuration and user administration concern the whole tenant, so only roles
        held tenant-wide carry them; the same role granted at one record does not."""
        return {right for g in self.actor.grants if g.role in self.config.roles and g.node_path is None
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
    def _allowing(self, action: Action, level_key: str, target: Record | None,
                  creating: bool) -> Iterator[tuple[Role, Permission]]:
        """Each (role, permission) of the actor's grants that allows the action on ``target``."""
        for grant in self.actor.grants:
            role = self.config.roles.get(grant.role)
            if role is None:
                continue
            for permission in role.permissions:
                if _covers(permission, level_key, action) and self._scope_allows(
                        permission.scope, grant, target, creating):
                    yield role, permission

    def decide(self, action: Action, level_key: str, record: Record | None = None,
               parent: Record | None = None) -> Decision:
        """May the actor do ``action`` on ``record`` (or create under ``parent``)?

        ``update`` is also allowed to a role that may read the record and is granted
        write access to one of the level's fields by a field override (the controller
        who validates a benefit without owning the measure); the form then lets them
        change only those fields.
        """
        creating = action == "create"
        target = parent if creating else record
        for role, permission in self._allowing(action, level_key, target, creating):
            return Decision(True, f"role {role.label} ({permission.scope})")
        if action == "update" and record is not None:
            writers = self._field_writers(level_key, record)
            if writers:
                return Decision(True, "field override of role " + ", ".join(sorted(writers)))
        level = self.config.levels.get(level_key)
        what = level.label if level else level_key
        return Decision(False, f"none of your roles allows {action} on {what} here")

    def can(self, action: Action, level_key: str, record: Record | None = None,
            parent: Record | None = None) -> bool:
        return self.decide(action, level_key, record, parent).allowed

    def can_somewhere(self, action: Action, level_key: str) -> bool:
        """Does some role of the actor allow ``action`` on some records of the level?
        (Whether to offer a list at all; each record is still checked on its own.)"""
        return bool(self.roles_allowing(action, level_key, None))

    def roles_allowing(self, action: Action, level_key: str, record: Record | None) -> frozenset[str]:
        """Keys of the actor's roles that allow ``action`` on ``record``; with no record,
        roles allowing it on some record of the level (list headers, new-record forms)."""
        memo_key = (action, level_key, None if record is None else (record.id, record.path, record.owner_id))
        hit = self._memo.get(memo_key)
        if hit is None:
            if record is None:
                hit = frozenset(g.role for g in self.actor.grants if g.role in self.config.roles
                                and any(_covers(p, level_key, action) for p in self.config.roles[g.role].permissions))
            else:
                hit = frozenset(role.key for role, _ in self._allowing(action, level_key, record, False))
            self._memo[memo_key] = hit
        return hit

    def _field_writers(self, level_key: str, record: Record) -> set[str]:
        """Roles that may read ``record`` and hold a write override on one of its level's fields."""
        level = self.config.levels.get(level_key)
        if level is None:
            return set()
        keys = {f.key for f in level.fields}
        return {r for r in self.roles_allowing("read", level_key, record)
                if any(mode == "write" and key in keys for key, mode in self.config.roles[r].fields.items())}

    def read_filter(self, level_key: str | None = None) -> ColumnElement[bool]:
        """SQL condition on :class:`Record` matching exactly what ``decide('read')`` allows."""
        return self.action_filter("read", level_key)

    def action_filter(self, action: Action, level_key: str | None = None) -> ColumnElement[bool]:
        """SQL condition on :class:`Record` matching what ``decide(action)`` allows by the
        roles' permissions (field overrides aside): the deleted records someone may
        restore are those their ``delete`` permission covers."""
        clauses = [clause for _, clause in self._read_clauses(level_key, action)]
        return or_(*clauses) if clauses else false()

    def _read_clauses(self, level_key: str | None,
                      action: Action = "read") -> Iterator[tuple[str, ColumnElement[bool]]]:
        """(role key, SQL condition) for each permission of the actor's grants that reads
        (or allows ``action``)."""
        for grant in self.actor.grants:
            role = self.config.roles.get(grant.role)
            if role is None:
                continue
            for permission in role.permissions:
                if action not in permission.actions:
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
                yield role.key, and_(level_clause, scope_clause)

    def field_filter(self, field: Field, level_key: str) -> ColumnElement[bool]:
        """SQL condition on :class:`Record`: the records of the level on which
        :meth:`field_mode` does not hide ``field`` from the actor.

        The same grants as :meth:`read_filter`, keeping only roles that show the field, and
        the same required of every field it is computed from or shown depending on; so an
        aggregate over the field (a report total, a rollup) counts exactly the values the
        actor would see record by record, and the rest can be counted as left out.
        """
        shown = [clause for role, clause in self._read_clauses(level_key)
                 if self._role_mode(role, field, False) != "hidden"]
        condition = or_(*shown) if shown else false()
        if field.key in self._resolving:
            return condition
        self._resolving.add(field.key)
        try:
            inputs = [self.field_filter(dep, level_key) for dep in self._inputs(field, level_key)]
        finally:
            self._resolving.discard(field.key)
        return and_(condition, *inputs) if inputs else condition

    def field_mode(self, field: Field, record: Record | None, level_key: str) -> FieldMode:
        """The most generous mode any of the actor's roles gives the field on ``record``.

        Only roles that may read the record count. A role's mode is its override for the
        field, else what the field's read/write role lists say; ``write`` needs the role's
        update right on the record unless the override itself says ``write``. A field is
        read-only only if every role makes it so. With no record: the mode on some record
        of the level (list headers); a new record's form asks :meth:`new_record_mode`.

        A field computed from, or shown depending on, a field hidden from the actor is
        hidden too: its value or its appearing would tell what the hidden one holds.
        """
        readers = self.roles_allowing("read", level_key, record)
        writers = self.roles_allowing("create" if record is None else "update", level_key, record)
        return self._merged_mode(field, level_key, readers, writers,
                                 lambda dep: self.field_mode(dep, record, level_key))

    def new_record_mode(self, field: Field, level_key: str, parent: Record | None) -> FieldMode:
        """The field's mode on a new record under ``parent``: only roles that cover that
        place count, not the same role held in another part of the tree."""
        readers = self._roles_creating("read", level_key, parent)
        writers = self._roles_creating("create", level_key, parent)
        return self._merged_mode(field, level_key, readers, writers,
                                 lambda dep: self.new_record_mode(dep, level_key, parent))

    def _roles_creating(self, action: Action, level_key: str, parent: Record | None) -> frozenset[str]:
        memo_key = ("new", action, level_key, None if parent is None else (parent.id, parent.path))
        hit = self._memo.get(memo_key)
        if hit is None:
            hit = frozenset(role.key for role, _ in self._allowing(action, level_key, parent, True))
            self._memo[memo_key] = hit
        return hit

    def _merged_mode(self, field: Field, level_key: str, readers: frozenset[str], writers: frozenset[str],
                     mode_of: Callable[[Field], FieldMode]) -> FieldMode:
        """The mode depends on nothing but the field and the roles that read and write: kept
        per configuration, so a list or an export of thousands of records works it out once
        per combination of roles rather than per record and field, and a form once, not on
        every request."""
        if self._resolving:  # inside a dependency cycle the answer is partial: not kept
            return self._merge(field, level_key, readers, writers, mode_of)
        memo_key = (field.key, level_key, readers, writers)
        hit = self._modes.get(memo_key)
        if hit is None:
            hit = self._modes[memo_key] = self._merge(field, level_key, readers, writers, mode_of)
        return hit

    def _merge(self, field: Field, level_key: str, readers: frozenset[str], writers: frozenset[str],
               mode_of: Callable[[Field], FieldMode]) -> FieldMode:
        best: FieldMode = "hidden"
        for role_key in readers | writers:
            mode = self._role_mode(role_key, field, role_key in writers)
            if _MODE_RANK[mode] > _MODE_RANK[best]:
                best = mode
        if best == "hidden" or field.key in self._resolving:
            return best
        self._resolving.add(field.key)
        try:
            if any(mode_of(dep) == "hidden" for dep in self._inputs(field, level_key)):
                return "hidden"
        finally:
            self._resolving.discard(field.key)
        return best

    def _inputs(self, field: Field, level_key: str) -> list[Field]:
        """The level's fields that the field's value or visibility is computed from."""
        level = self.config.levels.get(level_key)
        names = (field.expression.names if field.expression is not None else frozenset()) | \
            (field.visible_if.names if field.visible_if is not None else frozenset())
        if level is None or not names:
            return []
        return [dep for name in sorted(names) if (dep := level.field(name)) is not None and dep.key != field.key]

    def _role_mode(self, role_key: str, field: Field, may_write: bool) -> FieldMode:
        role = self.config.roles[role_key]
        override = role.fields.get(field.key)
        mode: FieldMode = role.mode_of(field)
        if mode == "write" and override != "write" and not may_write:
            return "read"
        return mode

    def field_visible_everywhere(self, field: Field, level_key: str, _seen: frozenset[str] = frozenset()) -> bool:
        """True when no role through which the actor reads the level hides the field (or a
        field it is computed from): only then may lists sort or filter by it without
        revealing hidden values."""
        readers = self.roles_allowing("read", level_key, None)
        if not readers or any(self._role_mode(r, field, False) == "hidden" for r in readers):
            return False
        seen = _seen | {field.key}
        return all(self.field_visible_everywhere(dep, level_key, seen)
                   for dep in self._inputs(field, level_key) if dep.key not in seen)
