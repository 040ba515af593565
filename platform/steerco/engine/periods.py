"""The reporting cycle: a period is opened (the owners of records whose actuals for it are
missing are reminded) and locked (its values change only through an approved plan change,
see :mod:`steerco.engine.plan`); unlocking reopens it.

Which records owe an actual is derived from the configuration, not configured again: a
record of a level with a money grid that has an ``actual`` scenario, at a stage where the
actual may be entered (the grid's ``editable_from``), not cancelled, with a plan or
forecast amount for the period and no actual.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from steerco.config.model import TenantConfig
from steerco.engine import audit, notifications
from steerco.engine.errors import NotFound, ValidationFailed
from steerco.engine.plan import closed_scenarios, grids
from steerco.store.models import PeriodValue, Record, ReportingPeriod

State = Literal["open", "locked"]
ACTUAL = "actual"


def locked_periods(session: Session, tenant_id: int) -> frozenset[str]:
    """The tenant's locked periods (YYYY-MM)."""
    return frozenset(session.scalars(select(ReportingPeriod.period).where(
        ReportingPeriod.tenant_id == tenant_id, ReportingPeriod.state == "locked")))


@dataclass(frozen=True)
class Opened:
    period: ReportingPeriod
    #: {owner id: numbers of their records whose actual is missing}
    reminded: dict[int, list[str]]


class ReportingCycle:
    """Open, lock and unlock a tenant's reporting periods (the clock is passed in)."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, now: dt.datetime):
        self.session, self.tenant_id, self.config, self.now = session, tenant_id, config, now

    def periods(self) -> dict[str, ReportingPeriod]:
        """{period: its row} for the periods opened or locked so far."""
        return {p.period: p for p in self.session.scalars(select(ReportingPeriod).where(
            ReportingPeriod.tenant_id == self.tenant_id))}

    def _row(self, period: str) -> ReportingPeriod:
        if period not in {p.key for p in self.config.periods}:
            raise ValidationFailed({"period": f"{period!r} is not a reporting period of this workspace "
                                              f"({self.config.periods[0].key} to {self.config.periods[-1].key})."}, {})
        row = self.periods().get(period)
        if row is None:
            row = ReportingPeriod(tenant_id=self.tenant_id, period=period, state="open")
            self.session.add(row)
        return row

    def open(self, period: str, user_id: int | None) -> Opened:
        """Open the period and remind each owner of records whose actual is missing."""
        row = self._row(period)
        if row.state == "locked":
            raise ValidationFailed({"period": f"{period} is locked; unlock it to open it again."}, {})
        row.state, row.opened_at, row.opened_by_id = "open", self.now, user_id
        self.session.flush()
        due = self.missing_actuals(period)
        label = next(p.label for p in self.config.periods if p.key == period)
        for owner, numbers in due.items():
            shown = ", ".join(numbers[:10]) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
            notifications.notify(self.session, self.tenant_id, [owner], "period.opened", None,
                                 f"Reporting for {label} is open: enter the actuals of {shown}.", self.now)
        audit.append(self.session, tenant_id=self.tenant_id, user_id=user_id, kind="period.opened", now=self.now,
                     data={"period": period, "reminded": sum(len(n) for n in due.values()),
                           "summary": f"{label} opened; {len(due)} owner(s) reminded of missing actuals"})
        return Opened(row, due)

    def lock(self, period: str, user_id: int | None) -> ReportingPeriod:
        """Lock the period: its values change only through an approved plan change."""
        return self._set(period, "locked", user_id)

    def unlock(self, period: str, user_id: int | None) -> ReportingPeriod:
        row = self.periods().get(period)
        if row is None or row.state != "locked":
            raise NotFound(f"{period} is not locked")
        return self._set(period, "open", user_id)

    def _set(self, period: str, state: State, user_id: int | None) -> ReportingPeriod:
        row = self._row(period)
        row.state = state
        if state == "locked":
            row.locked_at, row.locked_by_id = self.now, user_id
        self.session.flush()
        audit.append(self.session, tenant_id=self.tenant_id, user_id=user_id, kind=f"period.{state}",
                     now=self.now, data={"period": period, "summary": f"{period} {'locked' if state == 'locked' else 'unlocked'}"})
        return row

    def missing_actuals(self, period: str) -> dict[int, list[str]]:
        """{owner id: record numbers} of the records that owe an actual for ``period``."""
        due: dict[int, list[str]] = {}
        actual = aliased(PeriodValue)
        for level in self.config.levels.values():
            workflow = self.config.workflow_of(level)
            for fld in grids(level):
                if ACTUAL not in fld.scenarios:
                    continue
                stages = None
                if workflow is not None:
                    stages = [s.key for s in workflow.stages if s.category != "cancelled"
                              and ACTUAL not in closed_scenarios(self.config, level, fld, s.key)]
                planned = exists().where(
                    PeriodValue.tenant_id == self.tenant_id, PeriodValue.record_id == Record.id,
                    PeriodValue.field_key == fld.key, PeriodValue.period == period,
                    PeriodValue.scenario.in_([s for s in fld.scenarios if s != ACTUAL]))
                entered = exists().where(and_(
                    actual.tenant_id == self.tenant_id, actual.record_id == Record.id, actual.field_key == fld.key,
                    actual.period == period, actual.scenario == ACTUAL))
                query = select(Record.owner_id, Record.number).where(
                    Record.tenant_id == self.tenant_id, Record.level_key == level.key, Record.deleted_at.is_(None),
                    planned, ~entered).order_by(Record.number)
                if stages is not None:
                    query = query.where(Record.stage_key.in_(stages))
                for owner, number in self.session.execute(query):
                    if owner is not None and number not in due.get(owner, []):
                        due.setdefault(owner, []).append(number)
        return due
