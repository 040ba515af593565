"""Stage gates: what keeps a transition from being requested, and which approval steps apply.

A gate is open when every required field is filled, every required evidence field has a
file and the transition's condition holds. Governance fails closed: a condition that
cannot be evaluated (a value it reads is empty or of the wrong type) keeps the gate closed
and says why, and an approval step whose ``threshold`` cannot be evaluated applies, with the
reason recorded on its task, so missing data never skips the CFO.

Everything here is decided from the compiled configuration and the record's values; the
values are read once per record (or passed in by a caller that has them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from steerco.config.expressions import EvaluationError, Expression
from steerco.config.model import ApprovalStep, Level, Transition
from steerco.engine.context import WorkContext
from steerco.engine.forms import compute, expression_scope
from steerco.store.models import Record


@dataclass(frozen=True)
class Missing:
    """One unmet gate criterion; ``field`` names the field to fix, where there is one."""

    field: str | None
    label: str
    message: str


@dataclass(frozen=True)
class TransitionOption:
    """A transition the actor may request, with its gate and the steps that would apply."""

    transition: Transition
    missing: tuple[Missing, ...]
    steps: tuple[ApprovalStep, ...]
    #: step key -> why the step applies although its threshold could not say
    reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class Applicable:
    """The approval steps that apply to a record now, each with a reason when it applies
    only because its threshold could not be evaluated."""

    steps: tuple[ApprovalStep, ...]
    reasons: Mapping[str, str]


class Gates:
    """Gate checks and applicable steps for one actor."""

    def __init__(self, ctx: WorkContext):
        self.ctx = ctx

    def values(self, record: Record) -> dict[str, Any]:
        return self.ctx.records.stored_values(record, self.ctx.level(record))

    def scope(self, level: Level, record: Record, values: Mapping[str, Any]) -> dict[str, Any]:
        """The names an expression sees: stored and computed values, stage and title."""
        computed = compute(level, dict(values), record.stage_key, record.title, self.ctx.now.date())
        return expression_scope({**values, **computed}, record.stage_key, record.title, level)

    def _why_not(self, expression: Expression, level: Level, record: Record, scope: Mapping[str, Any]) -> str:
        """Why an expression could not be evaluated, in words, naming only fields the actor sees."""
        empty = [fld for name in sorted(expression.names)
                 if (fld := level.field(name)) is not None and scope.get(name) in (None, "", [], {})]
        if empty and not any(self.ctx.hidden(record, level, fld.key) for fld in empty):
            labels = ", ".join(fld.label for fld in empty)
            return f"while {labels} {'is' if len(empty) == 1 else 'are'} empty"
        return "on the record's values"

    # -- the gate ------------------------------------------------------------------------
    def gate(self, record: Record, transition: Transition, values: Mapping[str, Any] | None = None) -> list[Missing]:
        """What keeps ``transition`` from being requested now: empty required fields,
        missing evidence, a condition that does not hold or cannot be evaluated. Empty when
        the gate is open."""
        ctx = self.ctx
        level = ctx.level(record)
        values = self.values(record) if values is None else values
        missing = []
        for key in transition.required_fields:
            fld = level.field(key)
            if fld is not None and not fld.kind.is_filled(values.get(key)):  # a grid: one amount entered
                missing.append(self._missing(record, level, fld.key, f"{fld.label} is empty."))
        for key in transition.required_evidence:
            fld = level.field(key)
            if fld is not None and not fld.kind.is_filled(values.get(key)):
                missing.append(self._missing(record, level, fld.key, f"{fld.label}: no file attached."))
        if transition.condition is not None:
            problem = self._condition(record, level, transition.condition, values)
            if problem is not None:
                missing.append(problem)
        return missing

    def _condition(self, record: Record, level: Level, condition: Expression,
                   values: Mapping[str, Any]) -> Missing | None:
        hidden = any(self.ctx.hidden(record, level, name) for name in condition.names)
        scope = self.scope(level, record, values)
        try:
            holds = bool(condition.evaluate_strict(scope, today=self.ctx.now.date()))
        except EvaluationError:
            # Fail closed: a gate whose condition cannot be evaluated stays shut, and says why.
            if hidden:
                return Missing(None, "Condition", "A condition of this transition cannot be evaluated yet; "
                                                  "the gate stays closed until it can.")
            return Missing(None, "Condition", f"The condition {condition.source} cannot be evaluated "
                                              f"{self._why_not(condition, level, record, scope)}; "
                                              "the gate stays closed until it can.")
        if holds:
            return None
        return Missing(None, "Condition", "A condition of this transition does not hold." if hidden
                       else f"The condition {condition.source} does not hold.")

    def _missing(self, record: Record, level: Level, key: str, message: str) -> Missing:
        """A criterion; about a field hidden from the actor it names neither field nor value."""
        if self.ctx.hidden(record, level, key):
            return Missing(None, "Criterion", "A criterion that is not visible to you is not met.")
        return Missing(key, level.field(key).label, message)  # type: ignore[union-attr]

    # -- approval steps -----------------------------------------------------------------------
    def applicable(self, record: Record, transition: Transition,
                   values: Mapping[str, Any] | None = None) -> Applicable:
        """The steps whose threshold holds for the record's values now, in order; a step
        whose threshold cannot be evaluated applies too (fail closed), with the reason."""
        if not transition.approvals:
            return Applicable((), {})
        level = self.ctx.level(record)
        scope = self.scope(level, record, self.values(record) if values is None else values)
        steps, reasons = [], {}
        for step in transition.approvals:
            if step.threshold is None:
                steps.append(step)
                continue
            try:
                if step.threshold.evaluate_strict(scope, today=self.ctx.now.date()):
                    steps.append(step)
            except EvaluationError:
                steps.append(step)
                reasons[step.key] = (f"Applies because its threshold {step.threshold.source} cannot be "
                                     f"evaluated {self._why_not(step.threshold, level, record, scope)}.")
        return Applicable(tuple(steps), reasons)

    def applicable_steps(self, record: Record, transition: Transition,
                         values: Mapping[str, Any] | None = None) -> tuple[ApprovalStep, ...]:
        return self.applicable(record, transition, values).steps

    # -- what the actor may request -------------------------------------------------------------
    def may_request(self, record: Record, transition: Transition) -> bool:
        roles = self.ctx.access.roles_allowing("transition", record.level_key, record)
        return bool(roles & set(transition.roles))

    def transitions(self, record: Record) -> list[Transition]:
        """Transitions from the record's stage that the actor may request."""
        workflow = self.ctx.workflow(record)
        if workflow is None:
            return []
        return [t for t in workflow.transitions if record.stage_key in t.sources and self.may_request(record, t)]

    def options(self, record: Record, values: Mapping[str, Any] | None = None) -> list[TransitionOption]:
        """Transitions from the record's stage that the actor may request, with their gates
        (the record's values are read once for all of them)."""
        transitions = self.transitions(record)
        if transitions and values is None:
            values = self.values(record)
        options = []
        for t in transitions:
            applicable = self.applicable(record, t, values)
            options.append(TransitionOption(t, tuple(self.gate(record, t, values)), applicable.steps,
                                            applicable.reasons))
        return options
