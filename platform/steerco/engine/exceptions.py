"""Exception rules: a record that meets a rule's condition raises an exception, which its
owners resolve with evidence, within the rule's days, or see it escalated.

The rules come from ``exceptions.json`` (compiled into ``TenantConfig.exception_rules``).
:func:`review` looks at one record after every save and every stage change, in the
saving transaction; ``steerco tick`` looks at every record with rules once a run, for
conditions that turn true with time alone (``days_until(due) < 0``), and escalates what is
overdue. A case:

- opens once per rule and record (a partial unique index keeps it so under concurrency),
  with its due date, notifying its owners;
- follows its condition: when it stops holding, the case says so, and closes by itself
  only when the rule has ``close_when_clear``; when it holds again, it says that too;
- closes by its owner (a holder of the rule's ``owner_role`` responsible for the record,
  or a member of the rule's forum) once every ``required_evidence`` field of the record is
  filled, with a resolution text;
- escalates step by step (``escalation``: after so many days since it opened, to a role or
  a forum), notifying those it reaches.

A rule with ``overlap`` instead of a condition is a double-count guard
(:func:`review_overlap`): records of its level with equal values of every key field whose
grid amounts of one scenario are both above ``min_overlap`` in the same period claim the
same saving, and each of them gets the exception (so every owner involved hears of it); it
is found by one grouped query per rule (the amounts joined to themselves by period), on a
save (among the records sharing the saved record's keys, and those with an open case) and
on the scheduled run (all of them).

Every step is an audit event on the record (``exception.raised``, ``exception.updated``,
``exception.closed``, ``exception.escalated``).

A capacity rule (``"capacity"`` instead of a condition, see ``steerco.engine.capacity``)
raises one case per person and period planned above capacity (its ``subject``), on the
first record assigning them then; a save of such a record looks at its person, the
scheduled run at everyone, each in one query.


Who owns a case is the one rule of :mod:`approvers` (:func:`approvers.holders`, asked for
any permission): the role's holders whose permission on the record's level covers it from
where the role is held, and for an "own"-scoped permission only the record's owner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from steerco.config.model import ExceptionRule, Field, Level, TenantConfig
from steerco.engine import approvers, audit, capacity, notifications
from steerco.engine.errors import Forbidden, NotFound, ValidationFailed
from steerco.engine.forms import compute, expression_scope
from steerco.store import scoping
from steerco.store.models import ExceptionCase, PeriodValue, Record

RESOLUTION_MAX = 5000


@dataclass(frozen=True)
class CaseView:
    """An exception as a record page, an inbox or the API shows it."""

    case: ExceptionCase
    rule: ExceptionRule | None
    label: str
    forum: str | None
    overdue: bool
    may_close: bool
    #: labels of the evidence fields still empty (closing needs them)
    missing_evidence: tuple[str, ...]


def rules_for(config: TenantConfig, level_key: str) -> list[ExceptionRule]:
    """The rules looking at the level's records after a change: a condition or a double-count
    guard (capacity rules: :func:`capacity_rules`)."""
    return [r for r in config.exception_rules.values()
            if r.level == level_key and (r.condition is not None or r.overlap is not None)]


def watches(config: TenantConfig, level_key: str) -> bool:
    """Whether any rule looks at the level's records after a change."""
    return any(r.level == level_key for r in config.exception_rules.values())


def capacity_rules(config: TenantConfig, level_key: str | None = None) -> list[ExceptionRule]:
    return [r for r in config.exception_rules.values()
            if r.capacity is not None and (level_key is None or r.level == level_key)]


def holds(rule: ExceptionRule, level: Level, record: Record, values: Mapping[str, Any], today: dt.date) -> bool:
    """Whether the rule's condition holds on the record's stored and computed values (a
    condition that cannot be evaluated, e.g. on an empty value, does not hold)."""
    if rule.condition is None:
        return False
    computed = compute(level, dict(values), record.stage_key, record.title, today)
    return rule.condition.holds(expression_scope({**values, **computed}, record.stage_key, record.title, level),
                                today=today)


def review(session: Session, tenant_id: int, config: TenantConfig, record: Record, values: Mapping[str, Any],
           actor_id: int | None, now: dt.datetime,
           open_cases: Mapping[str, ExceptionCase] | None = None) -> list[ExceptionCase]:
    """Open, update or clear the record's exceptions after a change (in the caller's
    transaction); the cases opened. ``open_cases`` (by rule) when the caller read them for
    many records at once (the scheduled sweep, which also looks at capacity for everyone at
    once and at overlap rules once per rule rather than per record), else they are read here,
    and the capacity of the record's person is looked at."""
    opened = [] if open_cases is not None else [
        case for rule in capacity_rules(config, record.level_key)
        if isinstance(person := values.get(rule.capacity.person), int)  # type: ignore[union-attr]
        for case in review_capacity(session, tenant_id, config, rule, actor_id, now, person)]
    rules = rules_for(config, record.level_key)
    if not rules:
        return opened
    level = config.levels[record.level_key]
    sweeping = open_cases is not None
    if open_cases is None:
        open_cases = _open_cases(session, tenant_id, [record.id]).get(record.id, {})
    for rule in rules:
        if rule.overlap is not None:
            if not sweeping:
                opened += review_overlap(session, tenant_id, config, rule, actor_id, now, around=record)
            continue
        now_holds = holds(rule, level, record, values, now.date())
        case = open_cases.get(rule.key)
        if case is None and now_holds:
            opened.append(_open(session, tenant_id, config, rule, record, actor_id, now))
        elif case is not None and now_holds != case.holds:
            _follow(session, tenant_id, rule, case, record, now_holds, actor_id, now)
    return opened


def _open_cases(session: Session, tenant_id: int, record_ids: list[int]) -> dict[int, dict[str, ExceptionCase]]:
    """{record id: {rule: open case}} for many records, in one query."""
    found: dict[int, dict[str, ExceptionCase]] = {}
    for case in session.scalars(select(ExceptionCase).where(
            ExceptionCase.tenant_id == tenant_id, ExceptionCase.record_id.in_(record_ids),
            ExceptionCase.state == "open", ExceptionCase.subject == "")
            .execution_options(**scoping.for_tenant(tenant_id))):
        found.setdefault(case.record_id, {})[case.rule_key] = case
    return found


def review_capacity(session: Session, tenant_id: int, config: TenantConfig, rule: ExceptionRule,
                    actor_id: int | None, now: dt.datetime, person_id: int | None = None) -> list[ExceptionCase]:
    """Open a case for each person and period newly above capacity under ``rule`` (only
    ``person_id``'s when given) and follow the open ones whose conflict came or went; the
    cases opened. Three queries whatever the number of records and people."""
    found = {c.subject: c for c in capacity.conflicts(session, tenant_id, rule, person_id)}
    query = select(ExceptionCase).where(ExceptionCase.tenant_id == tenant_id, ExceptionCase.rule_key == rule.key,
                                        ExceptionCase.state == "open", ExceptionCase.subject != "")
    if person_id is not None:
        query = query.where(ExceptionCase.subject.startswith(f"{person_id}/", autoescape=True))
    cases = {c.subject: c for c in session.scalars(query.execution_options(**scoping.for_tenant(tenant_id)))}
    changed = [c for key, c in cases.items() if c.holds != (key in found)]
    wanted = {c.record_id for key, c in found.items() if key not in cases} | {c.record_id for c in changed}
    records = {r.id: r for r in session.scalars(select(Record).where(
        Record.tenant_id == tenant_id, Record.id.in_(wanted)).execution_options(**scoping.for_tenant(tenant_id)))} \
        if wanted else {}
    for case in changed:
        _follow(session, tenant_id, rule, case, records[case.record_id], not case.holds, actor_id, now)
    return [_open(session, tenant_id, config, rule, records[conflict.record_id], actor_id, now, conflict)
            for key, conflict in found.items() if key not in cases]


def _open(session: Session, tenant_id: int, config: TenantConfig, rule: ExceptionRule, record: Record,
          actor_id: int | None, now: dt.datetime, conflict: capacity.Conflict | None = None,
          detail: str = "") -> ExceptionCase:
    subject = conflict.subject if conflict else ""
    case = ExceptionCase(tenant_id=tenant_id, rule_key=rule.key, record_id=record.id, subject=subject, state="open",
                         holds=True, opened_at=now, due_at=now + dt.timedelta(days=rule.due_days), escalations=0)
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:  # a concurrent save opened it first: one case per rule and record
        return session.scalars(select(ExceptionCase).where(
            ExceptionCase.record_id == record.id, ExceptionCase.rule_key == rule.key, ExceptionCase.subject == subject,
            ExceptionCase.state == "open").execution_options(**scoping.for_tenant(tenant_id))).one()
    label = f"{rule.label}: {_conflict_text(config, conflict)}" if conflict else rule.label
    audit.append(session, tenant_id=tenant_id, user_id=actor_id, kind="exception.raised", record_id=record.id,
                 now=now, data={"exception": case.id, "rule": rule.key, "due": f"{case.due_at:%Y-%m-%d}",
                                "summary": f"Exception raised: {label}{detail} (due {case.due_at:%Y-%m-%d})"})
    owners = responsible(session, tenant_id, config, [rule.owner_role], record)
    if conflict is not None:
        owners.add(conflict.person_id)  # the person over capacity hears of it too
    notifications.notify(session, tenant_id, owners, "exception.raised", record.id,
                         f"{record.number} {record.title}: {label} — resolve by {case.due_at:%Y-%m-%d}", now)
    return case


def _conflict_text(config: TenantConfig, conflict: capacity.Conflict) -> str:
    """The conflict in words, e.g. "Mar 2027: 180 h planned, capacity 140 h" (the record names the person)."""
    period = next((p.label for p in config.periods if p.key == conflict.period), conflict.period)
    return f"{period}: {conflict.planned:g} h planned, capacity {conflict.capacity:g} h"


def subject_text(config: TenantConfig, case: ExceptionCase) -> str:
    """What a case is about beyond its record, in words: a capacity case's period."""
    if not case.subject:
        return ""
    period = case.subject.partition("/")[2]
    return next((p.label for p in config.periods if p.key == period), period)


def _follow(session: Session, tenant_id: int, rule: ExceptionRule, case: ExceptionCase, record: Record,
            now_holds: bool, actor_id: int | None, now: dt.datetime) -> None:
    """The condition changed under an open case: say so, and close it where the rule allows."""
    case.holds = now_holds
    if not now_holds and rule.close_when_clear:
        case.state, case.closed_at, case.resolution = "closed", now, "The condition no longer holds."
        audit.append(session, tenant_id=tenant_id, user_id=actor_id, kind="exception.closed", record_id=record.id,
                     now=now, data={"exception": case.id, "rule": rule.key,
                                    "summary": f"Exception closed: {rule.label} no longer holds"})
        return
    summary = (f"{rule.label}: holds again" if now_holds else
               f"{rule.label}: no longer holds; close it" + (" with its evidence" if rule.required_evidence else ""))
    audit.append(session, tenant_id=tenant_id, user_id=actor_id, kind="exception.updated", record_id=record.id,
                 now=now, data={"exception": case.id, "rule": rule.key, "holds": now_holds, "summary": summary})


# -- the double-count guard -------------------------------------------------------------------------
def _stored(record: Any, fld: Field) -> ColumnElement[Any]:
    """SQL: a key field's stored value, read the way its type says."""
    return getattr(record.values[fld.key], f"as_{fld.kind.sort_cast(fld)}")()


def overlapping(session: Session, tenant_id: int, config: TenantConfig, rule: ExceptionRule,
                around: Record | None = None, also: Iterable[int] = ()) -> dict[int, str]:
    """{record id: the number of a record it claims the same saving with} for the rule's
    level, in one grouped query; ``around``: only among the records sharing its keys (and
    the records ``also`` named)."""
    overlap = rule.overlap
    assert overlap is not None
    level = config.levels[rule.level]
    keys = [fld for key in overlap.keys if (fld := level.field(key)) is not None]
    mine, other = aliased(Record), aliased(Record)
    amount, other_amount = aliased(PeriodValue), aliased(PeriodValue)
    same_grid = [amount.field_key == overlap.grid, amount.scenario == overlap.scenario,
                 amount.amount > overlap.min_overlap]
    query = (
        select(mine.id, func.min(other.number)).select_from(mine)
        .join(amount, and_(amount.record_id == mine.id, amount.tenant_id == tenant_id, *same_grid))
        .join(other_amount, and_(other_amount.tenant_id == tenant_id, other_amount.field_key == overlap.grid,
                                 other_amount.scenario == overlap.scenario, other_amount.period == amount.period,
                                 other_amount.record_id != amount.record_id,
                                 other_amount.amount > overlap.min_overlap))
        .join(other, and_(other.id == other_amount.record_id, other.tenant_id == tenant_id))
        .where(mine.tenant_id == tenant_id, mine.level_key == rule.level, mine.deleted_at.is_(None),
               other.level_key == rule.level, other.deleted_at.is_(None),
               *[_stored(mine, fld).is_not(None) for fld in keys],
               *[_stored(mine, fld) == _stored(other, fld) for fld in keys])
        .group_by(mine.id))
    if around is not None:
        # Both sides of every pair are among these records, so the amounts are found by
        # record (an index) rather than by period across the whole level.
        candidates = sorted(_key_peers(session, tenant_id, rule.level, keys, {around.id, *also}))
        query = query.where(mine.id.in_(candidates), other.id.in_(candidates))
    return dict(session.execute(query.execution_options(**scoping.for_tenant(tenant_id))).all())


def _key_peers(session: Session, tenant_id: int, level_key: str, keys: list[Field], ids: set[int]) -> set[int]:
    """``ids`` and every record of the level sharing all key values with one of them: the
    only records a save can put into, or take out of, an overlap with them. Two queries."""
    found = set(ids)
    tuples = set()
    for values in session.scalars(select(Record.values).where(Record.tenant_id == tenant_id, Record.id.in_(sorted(ids)))
                                  .execution_options(**scoping.for_tenant(tenant_id))):
        key_values = tuple((values or {}).get(fld.key) for fld in keys)
        if all(v is not None and not isinstance(v, (list, dict)) for v in key_values):
            tuples.add(key_values)
    if tuples:
        peer = aliased(Record)
        found |= set(session.scalars(select(peer.id).where(
            peer.tenant_id == tenant_id, peer.level_key == level_key, peer.deleted_at.is_(None),
            or_(*[and_(*[_stored(peer, fld) == value for fld, value in zip(keys, t)]) for t in sorted(tuples, key=repr)]))
            .execution_options(**scoping.for_tenant(tenant_id))))
    return found


def review_overlap(session: Session, tenant_id: int, config: TenantConfig, rule: ExceptionRule,
                   actor_id: int | None, now: dt.datetime, around: Record | None = None) -> list[ExceptionCase]:
    """Open the overlap rule's case on each record that claims a saving another claims
    too, and follow the open ones (closing them where the rule says so) when the overlap
    went; ``around`` (a saved record): among its key peers and the records with an open
    case, else (the scheduled run) among all. The cases opened."""
    open_cases = {case.record_id: case for case in session.scalars(select(ExceptionCase).where(
        ExceptionCase.tenant_id == tenant_id, ExceptionCase.rule_key == rule.key, ExceptionCase.state == "open")
        .execution_options(**scoping.for_tenant(tenant_id)))}
    claiming = overlapping(session, tenant_id, config, rule, around, open_cases)
    to_open = [i for i in claiming if i not in open_cases]
    to_follow = [i for i, case in open_cases.items() if case.holds != (i in claiming)]
    if not to_open and not to_follow:
        return []
    records = {r.id: r for r in session.scalars(select(Record).where(
        Record.tenant_id == tenant_id, Record.id.in_([*to_open, *to_follow]))
        .execution_options(**scoping.for_tenant(tenant_id)))}
    opened = [_open(session, tenant_id, config, rule, records[i], actor_id, now,
                    detail=f" (claimed by {claiming[i]} as well)") for i in sorted(to_open) if i in records]
    for i in sorted(to_follow):
        if i in records:
            _follow(session, tenant_id, rule, open_cases[i], records[i], i in claiming, actor_id, now)
    return opened


# -- owners ------------------------------------------------------------------------------------
def responsible(session: Session, tenant_id: int, config: TenantConfig, roles: Iterable[str | None],
                record: Record) -> set[int]:
    """Active members holding one of ``roles`` whose grant covers ``record``: the approver
    rule of :mod:`approvers` asked for any permission rather than "approve"; one query."""
    found = approvers.holders(session, tenant_id, config, {r for r in roles if r}, record, action=None)
    return set().union(*found.values()) if found else set()


def closers(session: Session, tenant_id: int, config: TenantConfig, rule: ExceptionRule, record: Record) -> set[int]:
    """Who may close a case of ``rule`` on ``record``: its owners and its forum's members."""
    forum = config.forums.get(rule.forum) if rule.forum else None
    return responsible(session, tenant_id, config, [rule.owner_role, forum.role if forum else None], record)


# -- reading and closing -------------------------------------------------------------------------
def missing_evidence(rule: ExceptionRule, level: Level, values: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(fld.label for key in rule.required_evidence
                 if (fld := level.field(key)) is not None and not fld.kind.is_filled(values.get(key)))


def of_record(session: Session, tenant_id: int, config: TenantConfig, record: Record, values: Mapping[str, Any],
              actor_id: int, now: dt.datetime, recent: int = 5) -> list[CaseView]:
    """The record's open exceptions and its latest closed ones, for the record page."""
    cases = list(session.scalars(select(ExceptionCase).where(
        ExceptionCase.tenant_id == tenant_id, ExceptionCase.record_id == record.id)
        .order_by(ExceptionCase.state.desc(), ExceptionCase.id.desc()).limit(50)))
    if not cases:
        return []
    level = config.levels[record.level_key]
    shown = [c for c in cases if c.state == "open"] + [c for c in cases if c.state != "open"][:recent]
    views = []
    for case in shown:
        rule = config.exception_rules.get(case.rule_key)
        may_close = case.state == "open" and rule is not None and \
            actor_id in closers(session, tenant_id, config, rule, record)
        views.append(_view(config, case, rule, now, may_close,
                           missing_evidence(rule, level, values) if rule and case.state == "open" else ()))
    return views


def _view(config: TenantConfig, case: ExceptionCase, rule: ExceptionRule | None, now: dt.datetime,
          may_close: bool = False, missing: tuple[str, ...] = ()) -> CaseView:
    forum = config.forums.get(rule.forum) if rule and rule.forum else None
    label = rule.label if rule else case.rule_key
    if case.subject:
        label = f"{label} ({subject_text(config, case)})"
    return CaseView(case, rule, label, forum.label if forum else None,
                    case.state == "open" and case.due_at < now, may_close, missing)


def close(session: Session, tenant_id: int, config: TenantConfig, case_id: int, record: Record,
          values: Mapping[str, Any], actor_id: int, resolution: str, now: dt.datetime) -> ExceptionCase:
    """Close an open case: by its owners or forum, with every evidence field filled and a
    resolution; refused otherwise with the reason."""
    case = session.scalar(select(ExceptionCase).where(ExceptionCase.tenant_id == tenant_id,
                                                      ExceptionCase.id == case_id,
                                                      ExceptionCase.record_id == record.id))
    if case is None:
        raise NotFound("no such exception")
    rule = config.exception_rules.get(case.rule_key)
    if case.state != "open":
        raise ValidationFailed({"resolution": "This exception is closed already."}, {"resolution": resolution})
    if rule is None or actor_id not in closers(session, tenant_id, config, rule, record):
        raise Forbidden("only the exception's owners or its forum close it")
    resolution = (resolution or "").strip()
    errors = {}
    missing = missing_evidence(rule, config.levels[record.level_key], values)
    if missing:
        errors["evidence"] = "Add the evidence first: " + ", ".join(missing) + "."
    if not resolution:
        errors["resolution"] = "Say how it was resolved."
    elif len(resolution) > RESOLUTION_MAX:
        errors["resolution"] = f"At most {RESOLUTION_MAX:,} characters."
    if errors:
        raise ValidationFailed(errors, {"resolution": resolution})
    case.state, case.closed_at, case.closed_by_id, case.resolution = "closed", now, actor_id, resolution
    audit.append(session, tenant_id=tenant_id, user_id=actor_id, kind="exception.closed", record_id=record.id,
                 now=now, data={"exception": case.id, "rule": rule.key,
                                "summary": f"Exception closed: {rule.label}: {resolution}"})
    return case


def listing(session: Session, tenant_id: int, config: TenantConfig, read_filter: Any, *, rule: str | None = None,
            state: str | None = None, forum: str | None = None, after: int | None = None,
            limit: int = 100) -> list[tuple[ExceptionCase, Record]]:
    """Cases on records the reader may read (``read_filter``: SQL on Record), oldest first,
    by rule, state and forum; ``after`` (an id) continues a page."""
    query = (select(ExceptionCase, Record).join(Record, and_(Record.id == ExceptionCase.record_id,
                                                             Record.tenant_id == ExceptionCase.tenant_id))
             .where(ExceptionCase.tenant_id == tenant_id, Record.deleted_at.is_(None), read_filter))
    if rule:
        query = query.where(ExceptionCase.rule_key == rule)
    if state:
        query = query.where(ExceptionCase.state == state)
    if forum:
        query = query.where(ExceptionCase.rule_key.in_([r.key for r in config.exception_rules.values()
                                                        if r.forum == forum]))
    if after:
        query = query.where(ExceptionCase.id > after)
    return [(c, r) for c, r in session.execute(query.order_by(ExceptionCase.id).limit(limit))]


# -- the scheduled run ----------------------------------------------------------------------------
def sweep(session: Session, tenant_id: int, config: TenantConfig, now: dt.datetime) -> tuple[int, int]:
    """Review every record of the levels with rules (conditions that turned true with time),
    each overlap rule once over its level, and escalate overdue cases, in one tenant; (cases
    opened, steps escalated)."""
    from steerco.engine.records import load_values  # records imports the workflow, which imports this

    opened = sum(len(review_capacity(session, tenant_id, config, rule, None, now)) for rule in capacity_rules(config))
    for level_key in sorted({r.level for r in config.exception_rules.values() if r.condition is not None}):
        level = config.levels.get(level_key)
        if level is None:
            continue
        last = 0
        while True:  # in batches, so a large tenant is not held in memory at once
            batch = list(session.scalars(select(Record).where(
                Record.tenant_id == tenant_id, Record.level_key == level_key, Record.deleted_at.is_(None),
                Record.id > last).order_by(Record.id).limit(500).execution_options(**scoping.for_tenant(tenant_id))))
            if not batch:
                break
            values = load_values(session, tenant_id, batch, level)
            cases = _open_cases(session, tenant_id, [r.id for r in batch])
            for record in batch:
                opened += len(review(session, tenant_id, config, record, values[record.id], None, now,
                                     cases.get(record.id, {})))
            last = batch[-1].id
    for rule in config.exception_rules.values():
        if rule.overlap is not None and rule.level in config.levels:
            opened += len(review_overlap(session, tenant_id, config, rule, None, now))
    return opened, escalate(session, tenant_id, config, now)


def escalate(session: Session, tenant_id: int, config: TenantConfig, now: dt.datetime) -> int:
    """Take each open case's next escalation step that is due; the number of steps taken."""
    taken = 0
    cases = session.execute(select(ExceptionCase, Record).join(Record, Record.id == ExceptionCase.record_id)
                            .where(ExceptionCase.tenant_id == tenant_id, ExceptionCase.state == "open")
                            .order_by(ExceptionCase.id).execution_options(**scoping.for_tenant(tenant_id))).all()
    for case, record in cases:
        rule = config.exception_rules.get(case.rule_key)
        steps = sorted(rule.escalation) if rule else []
        while case.escalations < len(steps) and case.opened_at + dt.timedelta(days=steps[case.escalations][0]) <= now:
            after, target = steps[case.escalations]
            case.escalations += 1
            case.escalated_to = target
            forum = config.forums.get(target)
            label = forum.label if forum else config.roles[target].label if target in config.roles else target
            audit.append(session, tenant_id=tenant_id, user_id=None, kind="exception.escalated", record_id=record.id,
                         now=now, data={"exception": case.id, "rule": case.rule_key, "to": target,
                                        "summary": f"{rule.label}: open for {after} days, escalated to {label}"})
            people = responsible(session, tenant_id, config, [forum.role if forum else target], record)
            notifications.notify(session, tenant_id, people, "exception.escalated", record.id,
                                 f"{record.number} {record.title}: {rule.label} is open since "
                                 f"{case.opened_at:%Y-%m-%d} and was escalated to {label}", now)
            taken += 1
    session.flush()
    return taken
