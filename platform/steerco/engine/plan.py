"""Plan discipline: which cells of a money grid may change, the frozen plan's baseline, plan
change requests, and the run-rate of recurring effects.

- A grid's scenario may be entered only once the record reached a stage (``editable_from``
  on the field, by stage order): a cell before then is refused, always.
- From a stage marked ``plan_frozen`` the grid's ``plan`` is frozen: the values as they
  stood when the record got there are kept as its baseline (``plan_baseline``), and a later
  change to the plan is refused on a save: it goes through a plan change request instead,
  with the workflow's ``plan_change`` approval steps (the same tasks, inbox and votes as a
  transition), and is applied when the last step approves. The baseline stays beside the
  new plan.
- A locked reporting period (:mod:`steerco.engine.periods`) protects its cells the same way.
- A recurring grid (``effect: "recurring"``) has a run-rate per scenario: its last period's
  amount annualised. It is reported beside the in-period total, never added to it.

:func:`cell_problems` is the one place that decides; ``Records`` calls it on every save
(form, grid, API, import), so no path writes around it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.config.model import PLAN_CHANGE, Field, Level, TenantConfig
from steerco.engine import audit
from steerco.engine.errors import Conflict, Forbidden, StaleRecord, ValidationFailed
from steerco.store.models import PeriodValue, PlanBaseline, Record, TransitionRequest

if TYPE_CHECKING:
    from steerco.engine.context import WorkContext
    from steerco.engine.records import Records, Submission

PLAN = "plan"
#: a baseline row that marks a grid frozen with an empty plan (so it is not frozen again)
EMPTY_MARK = ""


def grids(level: Level) -> list[Field]:
    """The level's time-phased grids (the fields whose cells this module guards)."""
    return [f for f in level.fields if f.kind.storage == "periods"]


def frozen_since(config: TenantConfig, level: Level, stage_key: str | None) -> str | None:
    """The label of the record's stage when it freezes the plan, else None."""
    workflow = config.workflow_of(level)
    stage = workflow.stage(stage_key) if workflow else None
    return stage.label if stage is not None and stage.plan_frozen else None


def closed_scenarios(config: TenantConfig, level: Level, fld: Field, stage_key: str | None) -> dict[str, str]:
    """{scenario: label of the stage it opens at} for the grid's scenarios not yet open at
    ``stage_key`` (``editable_from``)."""
    workflow = config.workflow_of(level)
    if workflow is None or not fld.editable_from:
        return {}
    closed = {}
    for scenario, stage_key_from in fld.editable_from.items():
        if not workflow.reached(stage_key, stage_key_from):
            stage = workflow.stage(stage_key_from)
            closed[scenario] = stage.label if stage else stage_key_from
    return closed


def changed_cells(fld: Field, current: Any, parsed: Any) -> list[tuple[str, str]]:
    """The (scenario, period) cells ``parsed`` would change in ``current``."""
    current = current if isinstance(current, dict) else {}
    return sorted((scenario, period) for scenario, amounts in (parsed or {}).items()
                  for period, amount in (amounts or {}).items()
                  if (current.get(scenario) or {}).get(period) != amount)


def cell_problems(config: TenantConfig, level: Level, record: Record | None, stage_key: str | None,
                  locked: frozenset[str], current: Mapping[str, Any], parsed: Mapping[str, Any],
                  *, protected_allowed: bool = False) -> tuple[dict[str, str], dict[str, Any]]:
    """Why the grid cells of a submission may not change: ({field key: message}, the
    protected changes ({field: {scenario: {period: amount}}}) a plan change request may
    carry). A scenario not yet open is refused always; a frozen plan or a locked period only
    unless ``protected_allowed`` (the change request's own validation and its application)."""
    errors: dict[str, str] = {}
    protected: dict[str, Any] = {}
    frozen = frozen_since(config, level, stage_key) if record is not None else None
    labels = {p.key: p.label for p in config.periods}
    for fld in grids(level):
        if fld.key not in parsed:
            continue
        cells = changed_cells(fld, current.get(fld.key), parsed[fld.key])
        closed = closed_scenarios(config, level, fld, stage_key)
        early = sorted({s for s, _ in cells if s in closed})
        if early:
            errors[fld.key] = "; ".join(f"{s.capitalize()} can be entered from “{closed[s]}” on"
                                        for s in early) + "."
            continue
        guarded = [(s, p) for s, p in cells if (frozen and s == PLAN) or p in locked]
        for scenario, period in guarded:
            protected.setdefault(fld.key, {}).setdefault(scenario, {})[period] = parsed[fld.key][scenario][period]
        if guarded and not protected_allowed:
            reasons = []
            if frozen and any(s == PLAN for s, _ in guarded):
                reasons.append(f"the plan is frozen since “{frozen}”")
            periods = sorted({p for _, p in guarded if p in locked})
            if periods:
                reasons.append(", ".join(labels.get(p, p) for p in periods)
                               + (" is" if len(periods) == 1 else " are") + " locked")
            errors[fld.key] = ("Not saved: " + " and ".join(reasons)
                               + ". Request a plan change to have the change approved.")
    return errors, protected


# -- the baseline --------------------------------------------------------------------------
def freeze(session: Session, tenant_id: int, config: TenantConfig, record: Record,
           user_id: int | None, now: dt.datetime) -> list[str]:
    """Keep the plan of the record's grids as their baseline, if its stage freezes the plan
    and no baseline is kept yet (freezing happens once); the grids frozen now."""
    level = config.levels.get(record.level_key)
    if level is None or frozen_since(config, level, record.stage_key) is None:
        return []
    keys = [f.key for f in grids(level) if PLAN in f.scenarios]
    if not keys:
        return []
    done = set(session.scalars(select(PlanBaseline.field_key).distinct().where(
        PlanBaseline.tenant_id == tenant_id, PlanBaseline.record_id == record.id)))
    keys = [k for k in keys if k not in done]
    if not keys:
        return []
    plan: dict[str, dict[str, Decimal]] = {k: {} for k in keys}
    for key, period, amount in session.execute(select(PeriodValue.field_key, PeriodValue.period, PeriodValue.amount)
                                               .where(PeriodValue.tenant_id == tenant_id,
                                                      PeriodValue.record_id == record.id,
                                                      PeriodValue.field_key.in_(keys), PeriodValue.scenario == PLAN)):
        plan[key][period] = amount
    for key, amounts in plan.items():
        for period, amount in (amounts or {EMPTY_MARK: None}).items():  # type: ignore[dict-item]
            session.add(PlanBaseline(tenant_id=tenant_id, record_id=record.id, field_key=key, period=period,
                                     amount=amount, frozen_at=now))
    session.flush()
    labels = ", ".join(f.label for f in grids(level) if f.key in keys)
    audit.append(session, tenant_id=tenant_id, user_id=user_id, kind="plan.frozen", record_id=record.id, now=now,
                 data={"fields": keys, "stage": record.stage_key, "summary": f"Plan frozen as the baseline ({labels})"})
    return keys


def baselines(session: Session, tenant_id: int, record_ids: list[int]) -> dict[int, dict[str, dict[str, float]]]:
    """{record id: {grid key: {period: amount}}}: the frozen plans, in one query (a grid
    frozen with an empty plan has an empty mapping)."""
    found: dict[int, dict[str, dict[str, float]]] = {}
    if not record_ids:
        return found
    for record_id, key, period, amount in session.execute(select(
            PlanBaseline.record_id, PlanBaseline.field_key, PlanBaseline.period, PlanBaseline.amount)
            .where(PlanBaseline.tenant_id == tenant_id, PlanBaseline.record_id.in_(record_ids))):
        amounts = found.setdefault(record_id, {}).setdefault(key, {})
        if period != EMPTY_MARK and amount is not None:
            amounts[period] = float(amount)
    return found


# -- run-rate ------------------------------------------------------------------------------
def periods_per_year(config: TenantConfig) -> int:
    """12 for monthly reporting, 4 for quarterly (from the periods' spacing)."""
    if len(config.periods) < 2:
        return 12
    (y1, m1), (y2, m2) = (map(int, p.key.split("-")) for p in config.periods[:2])
    step = (y2 - y1) * 12 + (m2 - m1)
    return max(1, 12 // max(1, step))


def run_rate(config: TenantConfig, fld: Field, grid: Any) -> dict[str, float] | None:
    """{scenario: annualised run-rate} of a recurring grid (its last filled period's
    amount times the periods in a year); None for a grid that is not recurring."""
    if fld.effect != "recurring":
        return None
    grid = grid if isinstance(grid, dict) else {}
    order = [p.key for p in config.periods]
    rates = {}
    for scenario in fld.scenarios:
        amounts = grid.get(scenario) or {}
        filled = [p for p in order if amounts.get(p) is not None]
        if filled:
            rates[scenario] = round(float(amounts[filled[-1]]) * periods_per_year(config), 2)
    return rates


# -- plan change requests ------------------------------------------------------------------
class PlanChanges:
    """Requests to change frozen plan values or a locked period's values, decided through
    the workflow's ``plan_change`` approval steps (see :mod:`steerco.engine.approvals`)."""

    def __init__(self, ctx: "WorkContext"):
        self.ctx = ctx

    def request(self, record: Record, submission: "Submission", comment: str = "",
                expected_version: int | None = None) -> TransitionRequest:
        """Ask for the grid changes of ``submission``: validated as a save would be (a
        frozen or locked cell allowed), kept on a pending request, applied when approved."""
        from steerco.engine.approvals import Approvals

        ctx = self.ctx
        records = ctx.records
        level = ctx.level(record)
        workflow = ctx.workflow(record)
        change = workflow.plan_change if workflow else None
        if change is None:
            raise Forbidden("no plan change approvals are configured for this workflow, so frozen or "
                            "locked values cannot change")
        decision = ctx.access.decide("update", level.key, record)
        if not decision:
            raise Forbidden(decision.reason)
        if expected_version is not None and expected_version != record.version:
            raise StaleRecord(record.version, records._resubmission(level, submission))
        protected = records.protected_changes(level, submission, record)
        if not protected:
            raise ValidationFailed({"_form": "Nothing here needs a plan change: no frozen plan value and no "
                                             "locked period's value changes. Save the record instead."},
                                   records._resubmission(level, submission))
        approvals = Approvals(ctx)
        if approvals.pending_request(record) is not None:
            raise Conflict("A request for this record is waiting for approval already.")
        comment = ctx.comment_text(comment)
        applicable = approvals.gates.applicable(record, change)
        request, eligible = approvals.new_request(record, change, applicable, comment, to_stage=record.stage_key,
                                                  what="The plan change cannot be requested", changes=protected)
        ctx.audit("plan_change.requested", record.id, {
            "request": request.id, "cells": protected,
            "summary": "Plan change requested" + (f": {comment}" if comment else "")})
        if not applicable.steps:
            apply(ctx, record, request)
            return request
        approvals.open_steps(request, record, change, applicable.steps, eligible, applicable.reasons)
        return request

    def pending(self, record: Record) -> TransitionRequest | None:
        """The record's plan change waiting for approval, if any."""
        return self.ctx.session.scalar(select(TransitionRequest).where(
            TransitionRequest.tenant_id == self.ctx.tenant_id, TransitionRequest.record_id == record.id,
            TransitionRequest.transition_key == PLAN_CHANGE, TransitionRequest.state == "pending"))


def apply(ctx: "WorkContext", record: Record, request: TransitionRequest) -> None:
    """Write an approved plan change's cells (the approvals allow what a save refuses)."""
    diff = ctx.records.apply_approved(record, request.changes or {})  # its own record.updated event
    ctx.audit("plan_change.applied", record.id, {
        "request": request.id, "cells": sorted(diff), "summary": "Approved plan change applied"})
    ctx.notify([request.requested_by_id], "plan_change.applied", record,
               "your plan change was approved and applied")

