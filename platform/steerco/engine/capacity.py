"""Capacity: planned hours per person and period across every record that assigns them,
against what the person can work, and the resource conflicts where the plan is above it.

A capacity rule (``exceptions.json``, ``"capacity": {...}`` instead of a condition) names a
level whose records assign a person (a user field) hours per period (a time-phased field,
one scenario of it). :func:`conflicts` adds those hours up per person and period across
the whole workspace in one SQL query, and keeps the pairs above the person's capacity: the
member's own ``capacity_hours`` when set, else the rule's ``hours_per_period``.
``steerco.engine.exceptions`` turns each conflict into one case per person and period.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from steerco.config.model import ExceptionRule
from steerco.store import scoping
from steerco.store.models import Membership, PeriodValue, Record


@dataclass(frozen=True)
class Conflict:
    """A person planned above capacity in one period; ``record_id`` is the first of the
    records assigning them in that period (where the case is raised)."""

    person_id: int
    period: str
    planned: float
    capacity: float
    record_id: int

    @property
    def subject(self) -> str:
        return subject(self.person_id, self.period)


def subject(person_id: int, period: str) -> str:
    """The key of a conflict's exception case: one per person and period."""
    return f"{person_id}/{period}"


def conflicts(session: Session, tenant_id: int, rule: ExceptionRule, person_id: int | None = None) -> list[Conflict]:
    """Every person and period over capacity under ``rule`` (only ``person_id``'s when
    given), in one query whatever the number of records."""
    capacity = rule.capacity
    assert capacity is not None
    person = Record.values[capacity.person].as_integer()
    limit = func.coalesce(Membership.capacity_hours, capacity.hours_per_period)
    planned = func.sum(PeriodValue.amount)
    query = (select(person, PeriodValue.period, planned, limit, func.min(Record.id))
             .join(Record, and_(Record.id == PeriodValue.record_id, Record.tenant_id == PeriodValue.tenant_id))
             .outerjoin(Membership, and_(Membership.tenant_id == tenant_id, Membership.user_id == person))
             .where(PeriodValue.tenant_id == tenant_id, PeriodValue.field_key == capacity.hours,
                    PeriodValue.scenario == capacity.scenario, Record.level_key == rule.level,
                    Record.deleted_at.is_(None), person.is_not(None))
             .group_by(person, PeriodValue.period, Membership.capacity_hours)
             .having(planned > limit)
             .order_by(person, PeriodValue.period)
             .execution_options(**scoping.for_tenant(tenant_id)))
    if person_id is not None:
        query = query.where(person == person_id)
    return [Conflict(int(who), period, float(hours), float(most), int(record_id))
            for who, period, hours, most, record_id in session.execute(query)]
