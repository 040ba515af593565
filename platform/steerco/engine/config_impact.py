"""What a new configuration would do to the data that exists: counted in SQL.

Before a draft is activated the administrator sees, against the tenant's records and role
assignments:

- records that would miss a field that becomes required (per stage);
- records that sit in a stage the workflow no longer has, or belong to a level that is gone
  (listed with links, so someone can move them);
- records holding a choice option that is removed;
- people who would lose access: a removed role still held, a permission or a field taken
  away from a role (how many users hold it, how many records of the level exist);
- values kept aside: of a removed field, or of a field whose type changes.

Each check is one aggregate query (plus one for a sample of records) whatever the number
of records; nothing loads the records themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from steerco.config.model import Field, Level, TenantConfig
from steerco.engine.access import Access, Actor, Grant
from steerco.store.models import Attachment, PeriodValue, Record, RoleAssignment

#: how many records an item lists by name (the count says how many there are)
SAMPLE = 50

Severity = Literal["warning", "info"]


@dataclass(frozen=True)
class RecordRef:
    id: int
    number: str
    title: str
    stage: str | None


@dataclass(frozen=True)
class ImpactItem:
    """One consequence for existing data; ``records`` is a sample of at most :data:`SAMPLE`."""

    kind: str
    text: str
    count: int
    severity: Severity = "warning"
    records: tuple[RecordRef, ...] = ()

    def as_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "count": self.count}


def _live(tenant_id: int) -> ColumnElement[bool]:
    return and_(Record.tenant_id == tenant_id, Record.deleted_at.is_(None))


def empty_condition(field: Field, tenant_id: int) -> ColumnElement[bool] | None:
    """SQL: the record holds no value for ``field`` (None for computed fields, never "missing").

    Where a value lives is the field type's ``storage``; this mirrors the registry's
    ``is_empty`` for each storage in SQL.
    """
    storage = field.kind.storage
    if storage == "values":
        return func.coalesce(Record.values[field.key].as_string(), "").in_(["", "[]", "{}"])
    if storage == "periods":
        return ~exists().where(PeriodValue.tenant_id == tenant_id, PeriodValue.record_id == Record.id,
                               PeriodValue.field_key == field.key)
    if storage == "attachments":
        return ~exists().where(Attachment.tenant_id == tenant_id, Attachment.record_id == Record.id,
                               Attachment.field_key == field.key, Attachment.deleted_at.is_(None))
    return None


def holds_condition(field_key: str, storage: str, tenant_id: int) -> ColumnElement[bool] | None:
    """SQL: the record holds a value under ``field_key``."""
    if storage == "values":
        return Record.values[field_key].as_string().isnot(None)
    if storage == "periods":
        return exists().where(PeriodValue.tenant_id == tenant_id, PeriodValue.record_id == Record.id,
                              PeriodValue.field_key == field_key)
    if storage == "attachments":
        return exists().where(Attachment.tenant_id == tenant_id, Attachment.record_id == Record.id,
                              Attachment.field_key == field_key, Attachment.deleted_at.is_(None))
    return None


class _Counter:
    """Runs the counting queries of one impact check."""

    def __init__(self, session: Session, tenant_id: int):
        self.session = session
        self.tenant_id = tenant_id

    def by_stage(self, *conditions: ColumnElement[bool]) -> dict[str | None, int]:
        rows = self.session.execute(select(Record.stage_key, func.count()).where(
            _live(self.tenant_id), *conditions).group_by(Record.stage_key)).all()
        return {stage: count for stage, count in rows}

    def count(self, *conditions: ColumnElement[bool]) -> int:
        return self.session.scalar(select(func.count()).select_from(Record).where(
            _live(self.tenant_id), *conditions)) or 0

    def sample(self, config: TenantConfig, *conditions: ColumnElement[bool]) -> tuple[RecordRef, ...]:
        rows = self.session.execute(select(Record.id, Record.number, Record.title, Record.stage_key, Record.level_key)
                                    .where(_live(self.tenant_id), *conditions)
                                    .order_by(Record.number).limit(SAMPLE)).all()
        return tuple(RecordRef(i, n, t, _stage_label(config, lv, s)) for i, n, t, s, lv in rows)


def _stage_label(config: TenantConfig, level_key: str, stage: str | None) -> str | None:
    level = config.levels.get(level_key)
    workflow = config.workflow_of(level) if level else None
    found = workflow.stage(stage) if workflow else None
    return found.label if found else stage


def _stage_keys(config: TenantConfig, level: Level) -> list[str | None]:
    workflow = config.workflow_of(level)
    return [s.key for s in workflow.stages] if workflow else [None]


def _required_in(config: TenantConfig, level: Level | None, key: str) -> set[str | None]:
    """Stages (None: records without one) in which the level requires the field."""
    field = level.field(key) if level else None
    if level is None or field is None:
        return set()
    stages = _stage_keys(config, level)
    if field.required_always:
        return set(stages)
    workflow = config.workflow_of(level)
    start = workflow.stage(field.required_from_stage) if workflow and field.required_from_stage else None
    return {s.key for s in workflow.stages if s.order >= start.order} if workflow and start else set()


def _in_stages(stages: Iterable[str | None]) -> ColumnElement[bool]:
    keys = [s for s in stages if s is not None]
    clauses = [Record.stage_key.in_(keys)] if keys else []
    if None in stages:
        clauses.append(Record.stage_key.is_(None))
    return or_(*clauses)


def _newly_required(counter: _Counter, old: TenantConfig, new: TenantConfig) -> list[ImpactItem]:
    items = []
    for level in new.levels.values():
        for field in level.fields:
            missing = empty_condition(field, counter.tenant_id)
            stages = _required_in(new, level, field.key) - _required_in(old, old.levels.get(level.key), field.key)
            if missing is None or not stages:
                continue
            conditions = (Record.level_key == level.key, _in_stages(stages), missing)
            per_stage = counter.by_stage(*conditions)
            total = sum(per_stage.values())
            if total:
                where = ", ".join(f"{_stage_label(new, level.key, s) or 'no stage'}: {n}" for s, n in per_stage.items())
                items.append(ImpactItem("required_missing", f"{total} {level.label_plural if total > 1 else level.label} "
                                        f"would miss *{field.label}*, now required ({where})", total,
                                        records=counter.sample(new, *conditions)))
    return items


def _orphans(counter: _Counter, new: TenantConfig) -> list[ImpactItem]:
    """Records in a stage their level's workflow does not have, or of a level that is gone."""
    items = []
    for level in new.levels.values():
        workflow = new.workflow_of(level)
        if not workflow:
            continue  # a level without a workflow ignores the stage its records had
        condition = and_(Record.level_key == level.key, Record.stage_key.isnot(None),
                         Record.stage_key.not_in([s.key for s in workflow.stages]))
        for stage, count in counter.by_stage(condition).items():
            items.append(ImpactItem(
                "stage_removed", f"{count} {level.label_plural if count > 1 else level.label} sit in stage "
                f"{stage!r}, which the workflow no longer has: move them to a stage that exists", count,
                records=counter.sample(new, condition, Record.stage_key == stage)))
    gone = counter.session.execute(select(Record.level_key, func.count()).where(
        _live(counter.tenant_id), Record.level_key.not_in(list(new.levels))).group_by(Record.level_key)).all()
    for level_key, count in gone:
        items.append(ImpactItem("level_removed", f"{count} record(s) of level {level_key!r}, which no longer "
                                f"exists, can no longer be opened (they are kept)", count,
                                records=counter.sample(new, Record.level_key == level_key)))
    return items


def _removed_options(counter: _Counter, old: TenantConfig, new: TenantConfig) -> list[ImpactItem]:
    items = []
    for key, field in new.fields.items():
        before = old.fields.get(key)
        if before is None or not before.options:
            continue
        removed = [o for o in before.options if o.key not in field.option_keys]
        levels = [lv.key for lv in new.levels.values() if lv.field(key) is not None]
        for option in removed:
            value = Record.values[key].as_string()
            condition = and_(Record.level_key.in_(levels),
                             or_(value == option.key, value.contains(f'"{option.key}"', autoescape=True)))
            count = counter.count(condition)
            if count:
                items.append(ImpactItem("option_removed", f"{count} record(s) hold option *{option.label}* of "
                                        f"*{field.label}*, which is removed (the value is kept but no longer offered)",
                                        count, records=counter.sample(new, condition)))
    for key, dimension in new.status_dimensions.items():
        before_dim = old.status_dimensions.get(key)
        if before_dim is None:
            continue
        kept = {o.key for o in dimension.options}
        for option in before_dim.options:
            if option.key in kept:
                continue
            condition = and_(Record.level_key.in_(dimension.levels), Record.values[key].as_string() == option.key)
            count = counter.count(condition)
            if count:
                items.append(ImpactItem("option_removed", f"{count} record(s) have status *{option.label}* of "
                                        f"*{dimension.label}*, which is removed", count,
                                        records=counter.sample(new, condition)))
    return items


def _holders(session: Session, tenant_id: int, roles: Iterable[str]) -> dict[str, int]:
    """How many users hold each role (anywhere in the tenant), in one query."""
    roles = list(roles)
    if not roles:
        return {}
    return dict(session.execute(select(RoleAssignment.role_key, func.count(func.distinct(RoleAssignment.user_id)))
                                .where(RoleAssignment.tenant_id == tenant_id, RoleAssignment.role_key.in_(roles))
                                .group_by(RoleAssignment.role_key)).all())


_SCOPE_RANK = {"own": 1, "subtree": 2, "tenant": 3}


def _best_scopes(config: TenantConfig, role_key: str) -> dict[tuple[str, str], int]:
    """(level, action) -> the widest scope the role has for it."""
    best: dict[tuple[str, str], int] = {}
    for permission in config.roles[role_key].permissions:
        levels = list(config.levels) if "*" in permission.levels else permission.levels
        for level in levels:
            for action in permission.actions:
                rank = _SCOPE_RANK.get(permission.scope, 0)
                best[(level, action)] = max(best.get((level, action), 0), rank)
    return best


def _access(counter: _Counter, old: TenantConfig, new: TenantConfig) -> list[ImpactItem]:
    items = []
    removed = [k for k in old.roles if k not in new.roles]
    kept = [k for k in old.roles if k in new.roles]
    holders = _holders(counter.session, counter.tenant_id, [*removed, *kept])
    sizes = dict(counter.session.execute(select(Record.level_key, func.count()).where(
        _live(counter.tenant_id)).group_by(Record.level_key)).all())
    for key in removed:
        if holders.get(key):
            items.append(ImpactItem("role_removed", f"Role *{old.roles[key].label}* is removed but {holders[key]} "
                                    f"user(s) still hold it: they lose what it gave them", holders[key]))
    names = {v: k for k, v in _SCOPE_RANK.items()}
    for key in kept:
        users = holders.get(key, 0)
        if not users:
            continue
        before, after = _best_scopes(old, key), _best_scopes(new, key)
        lost: dict[str, list[str]] = {}
        for (level, action), rank in before.items():
            if level in new.levels and after.get((level, action), 0) < rank:
                now = names.get(after.get((level, action), 0), "nowhere")
                lost.setdefault(level, []).append(f"{action} ({names[rank]} -> {now})")
        for level, what in lost.items():
            count = sizes.get(level, 0)
            items.append(ImpactItem("access_narrowed", f"Role *{new.roles[key].label}* loses {', '.join(what)} on "
                                    f"*{new.levels[level].label_plural}*: {users} user(s), {count} record(s)",
                                    users))
        items.extend(_narrowed_fields(old, new, key, users, sizes))
    return items


_MODE_RANK = {"hidden": 0, "read": 1, "write": 2}


def _narrowed_fields(old: TenantConfig, new: TenantConfig, role_key: str, users: int,
                     sizes: dict[str, int]) -> list[ImpactItem]:
    """Fields the role sees or writes less under ``new``, decided by :class:`Access` itself."""
    actor = Actor(0, "", (Grant(role_key),))
    before, after = Access(old, actor), Access(new, actor)
    items = []
    for level in new.levels.values():
        old_level = old.levels.get(level.key)
        if old_level is None or not after.can_somewhere("read", level.key):
            continue
        for field in level.fields:
            old_field = old_level.field(field.key)
            if old_field is None:
                continue
            was, now = before.field_mode(old_field, None, level.key), after.field_mode(field, None, level.key)
            if _MODE_RANK[now] < _MODE_RANK[was]:
                items.append(ImpactItem("field_narrowed", f"Role *{new.roles[role_key].label}*: *{field.label}* on "
                                        f"*{level.label_plural}* {was} -> {now}: {users} user(s), "
                                        f"{sizes.get(level.key, 0)} record(s)", users))
    return items


def _kept_values(counter: _Counter, old: TenantConfig, new: TenantConfig) -> list[ImpactItem]:
    items = []
    for key, field in old.fields.items():
        after = new.fields.get(key)
        if after is not None and after.type == field.type:
            continue
        condition = holds_condition(key, field.kind.storage, counter.tenant_id)
        if condition is None:
            continue
        count = counter.count(condition)
        if not count:
            continue
        if after is None:
            items.append(ImpactItem("values_kept", f"{count} record(s) hold values of *{field.label}*, which is "
                                    f"removed: they are kept (hidden) and come back if the field is restored",
                                    count, "info"))
        else:
            items.append(ImpactItem("type_changed", f"{count} record(s) hold values of *{field.label}*, whose type "
                                    f"changes from {field.type} to {after.type}: they are kept as they are and may "
                                    f"need to be re-entered", count, records=counter.sample(new, condition)))
    return items


def impact(session: Session, tenant_id: int, old: TenantConfig | None, new: TenantConfig) -> list[ImpactItem]:
    """Every consequence of replacing ``old`` by ``new`` for the tenant's existing data."""
    counter = _Counter(session, tenant_id)
    items = _orphans(counter, new)
    if old is not None:
        items = _newly_required(counter, old, new) + items + _removed_options(counter, old, new) \
            + _access(counter, old, new) + _kept_values(counter, old, new)
    return items
