"""Stage gates and approvals: how a record moves through its workflow.

Everything here is decided from the compiled configuration plus rows in the store:

- ``options(record)``: the transitions the actor may request from the record's stage, each
  with its gate check (which required fields are empty, which evidence is missing, whether
  the condition holds) and the approval steps that will apply (thresholds evaluated now);
- ``request``: checks the gate and either moves the record at once or opens a
  :class:`TransitionRequest` with one :class:`ApprovalTask` per applicable step, decided in
  order; the request keeps the configuration version it started under and finishes under it;
- ``decide``: one approver's decision. Approvers are resolved by role at the record's place
  (or act as a deputy of such a person); the requester never approves their own request,
  and one person does not approve two steps of one request unless the step allows it. A
  conditional UPDATE on the task lets exactly one decider in at a time, so a double click or
  two approvers at the same moment record one decision; the loser hears "already decided";
- ``withdraw``, delegation to a deputy, status dimensions with their own history, comments,
  and ``escalate_overdue`` for the time-based rules (``steerco tick``; the clock is passed in).

Every change appends an audit event in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from steerco.config.model import ApprovalStep, Level, StatusDimension, TenantConfig, Transition, Workflow
from steerco.engine import audit
from steerco.engine.access import Access
from steerco.engine.errors import Conflict, Forbidden, GateNotMet, NotFound, ValidationFailed
from steerco.engine.forms import compute, expression_scope
from steerco.engine.records import Records
from steerco.store import scoping
from steerco.store.models import (
    ApprovalTask, ApprovalVote, Attachment, Comment, Delegation, Membership, Record, RoleAssignment,
    StatusChange, TransitionRequest, User, utcnow,
)

Decision = Literal["approve", "reject"]
COMMENT_MAX = 5000


@dataclass(frozen=True)
class Missing:
    """One unmet gate criterion; ``field`` names the field to fix, where there is one."""

    field: str | None
    label: str
    message: str


@dataclass(frozen=True)
class TransitionOption:
    transition: Transition
    missing: tuple[Missing, ...]
    steps: tuple[ApprovalStep, ...]

    @property
    def ready(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class InboxTask:
    task: ApprovalTask
    record: Record
    on_behalf_of: int | None
    overdue: bool


def _quorum_needed(step: ApprovalStep, eligible: int) -> int:
    if step.quorum == "any":
        return 1
    if step.quorum == "all":
        return max(1, eligible)
    return int(step.quorum)


class Workflows:
    """Workflow actions of one actor in one tenant."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access,
                 now: dt.datetime | None = None):
        self.session = session
        self.tenant_id = tenant_id
        self.config = config
        self.access = access
        self.now = now
        self.records = Records(session, tenant_id, config, access, now=now)
        self._delegators: list[int] | None = None

    @property
    def _now(self) -> dt.datetime:
        return self.now or utcnow()

    @property
    def _me(self) -> int:
        return self.access.actor.user_id

    def _audit(self, kind: str, record_id: int | None, data: dict[str, Any]) -> None:
        audit.append(self.session, tenant_id=self.tenant_id, user_id=self._me, kind=kind,
                     record_id=record_id, data=data, now=self._now)

    # -- gates -------------------------------------------------------------------------------
    def _level(self, record: Record, config: TenantConfig | None = None) -> Level:
        level = (config or self.config).levels.get(record.level_key)
        if level is None:
            raise NotFound("no such record")
        return level

    def workflow(self, record: Record) -> Workflow | None:
        return self.config.workflow_of(self._level(record))

    def gate(self, record: Record, transition: Transition,
             values: dict[str, Any] | None = None) -> list[Missing]:
        """What keeps ``transition`` from being requested now: empty required fields,
        missing evidence, a condition that does not hold. Empty when the gate is open.
        ``values`` are the record's stored values, when the caller has them already."""
        level = self._level(record)
        values = self.records.stored_values(record, level) if values is None else values
        missing = []
        for key in transition.required_fields:
            fld = level.field(key)
            if fld is not None and fld.kind.is_empty(self._value(fld.kind.storage, values.get(key))):
                missing.append(self._missing(record, level, fld.key, f"{fld.label} is empty."))
        for key in transition.required_evidence:
            fld = level.field(key)
            if fld is not None and not [a for a in values.get(key) or [] if isinstance(a, Attachment)]:
                missing.append(self._missing(record, level, fld.key, f"{fld.label}: no file attached."))
        if transition.condition is not None and not transition.condition.holds(
                self._scope(level, record, values), today=self._now.date()):
            hidden = any(self._hidden(record, level, name) for name in transition.condition.names)
            missing.append(Missing(None, "Condition", "A condition of this transition does not hold." if hidden
                                   else f"The condition {transition.condition.source} does not hold."))
        return missing

    def _hidden(self, record: Record, level: Level, key: str) -> bool:
        fld = level.field(key)
        return fld is not None and self.access.field_mode(fld, record, level.key) == "hidden"

    def _missing(self, record: Record, level: Level, key: str, message: str) -> Missing:
        """A criterion; about a field hidden from the actor it names neither field nor value."""
        if self._hidden(record, level, key):
            return Missing(None, "Criterion", "A criterion that is not visible to you is not met.")
        return Missing(key, level.field(key).label, message)  # type: ignore[union-attr]

    @staticmethod
    def _value(storage: str, value: Any) -> Any:
        """A time-phased grid counts as filled once one amount is entered."""
        if storage == "periods" and isinstance(value, dict):
            return value if any(v is not None for amounts in value.values() for v in amounts.values()) else {}
        return value

    def _scope(self, level: Level, record: Record, values: dict[str, Any]) -> dict[str, Any]:
        computed = compute(level, values, record.stage_key, record.title, self._now.date())
        return expression_scope({**values, **computed}, record.stage_key, record.title)

    def applicable_steps(self, record: Record, transition: Transition,
                         values: dict[str, Any] | None = None) -> tuple[ApprovalStep, ...]:
        """The approval steps whose threshold holds for the record's values now."""
        if not transition.approvals:
            return ()
        level = self._level(record)
        scope = self._scope(level, record, self.records.stored_values(record, level) if values is None else values)
        return tuple(s for s in transition.approvals
                     if s.threshold is None or s.threshold.holds(scope, today=self._now.date()))

    def _may_request(self, record: Record, transition: Transition) -> bool:
        roles = self.access.roles_allowing("transition", record.level_key, record)
        return bool(roles & set(transition.roles))

    def options(self, record: Record, values: dict[str, Any] | None = None) -> list[TransitionOption]:
        """Transitions from the record's stage that the actor may request, with their gates
        (the record's values are read once for all of them)."""
        workflow = self.workflow(record)
        if workflow is None:
            return []
        transitions = [t for t in workflow.transitions if record.stage_key in t.sources and self._may_request(record, t)]
        if transitions and values is None:
            values = self.records.stored_values(record, self._level(record))
        return [TransitionOption(t, tuple(self.gate(record, t, values)), self.applicable_steps(record, t, values))
                for t in transitions]

    # -- requests ----------------------------------------------------------------------------
    def pending_request(self, record: Record) -> TransitionRequest | None:
        return self.session.scalar(select(TransitionRequest).where(
            TransitionRequest.tenant_id == self.tenant_id, TransitionRequest.record_id == record.id,
            TransitionRequest.state == "pending"))

    def requests(self, record: Record) -> list[TransitionRequest]:
        return list(self.session.scalars(select(TransitionRequest).where(
            TransitionRequest.tenant_id == self.tenant_id, TransitionRequest.record_id == record.id)
            .order_by(TransitionRequest.id.desc())))

    def tasks(self, request: TransitionRequest) -> list[ApprovalTask]:
        return list(self.session.scalars(select(ApprovalTask).where(
            ApprovalTask.tenant_id == self.tenant_id, ApprovalTask.request_id == request.id)
            .order_by(ApprovalTask.position)))

    def votes(self, request: TransitionRequest) -> list[ApprovalVote]:
        return list(self.session.scalars(select(ApprovalVote).where(
            ApprovalVote.tenant_id == self.tenant_id, ApprovalVote.request_id == request.id)
            .order_by(ApprovalVote.id)))

    def request(self, record: Record, transition_key: str, comment: str = "") -> TransitionRequest:
        """Ask to move ``record`` through a transition: applied at once when no approval
        step applies, else a pending request whose first step opens now."""
        workflow = self.workflow(record)
        transition = next((t for t in workflow.transitions if t.key == transition_key), None) if workflow else None
        if transition is None or record.stage_key not in transition.sources:
            raise NotFound("no such transition from this stage")
        if not self._may_request(record, transition):
            raise Forbidden(f"none of your roles may request “{transition.label}” here")
        if self.pending_request(record) is not None:
            raise Conflict("A request for this record is waiting for approval already.")
        values = self.records.stored_values(record, self._level(record))
        missing = self.gate(record, transition, values)
        if missing:
            raise GateNotMet(f"“{transition.label}” cannot be requested yet.", missing)
        comment = self._comment(comment)
        steps = self.applicable_steps(record, transition, values)
        request = TransitionRequest(
            tenant_id=self.tenant_id, record_id=record.id, workflow_key=workflow.key,  # type: ignore[union-attr]
            transition_key=transition.key, config_version=self.config.version,
            from_stage=record.stage_key, to_stage=transition.target, requested_by_id=self._me,
            requested_at=self._now, comment=comment, state="pending" if steps else "approved",
            decided_at=None if steps else self._now)
        self.session.add(request)
        try:
            self.session.flush()
        except IntegrityError:
            # Another request for this record got in first (the partial unique index).
            raise Conflict("A request for this record is waiting for approval already.") from None
        self._audit("transition.requested", record.id, {
            "transition": transition.key, "from": request.from_stage, "to": request.to_stage,
            "request": request.id, "summary": f"Requested “{transition.label}”" + (f": {comment}" if comment else ""),
        })
        if not steps:
            self._move(record, transition.target, f"“{transition.label}”", request.id)
            return request
        for position, step in enumerate(steps):
            self._add_task(request, record, transition, step, position)
        self.session.flush()
        self._open_next(request, transition)
        return request

    def _add_task(self, request: TransitionRequest, record: Record, transition: Transition,
                  step: ApprovalStep, position: int) -> None:
        """A step's task, waiting its turn; "all" counts everyone eligible but the requester."""
        eligible = self.eligible_approvers(step.role, record) - {request.requested_by_id}
        self.session.add(ApprovalTask(
            tenant_id=self.tenant_id, request_id=request.id, record_id=record.id, position=position,
            step_key=step.key, label=step.label, role=step.role,
            needed=_quorum_needed(step, len(eligible)), same_approver_allowed=step.same_approver_allowed,
            escalate_to=transition.escalate_to, state="waiting"))

    def _open_next(self, request: TransitionRequest, transition: Transition) -> ApprovalTask | None:
        task = self.session.scalar(select(ApprovalTask).where(
            ApprovalTask.request_id == request.id, ApprovalTask.state == "waiting")
            .order_by(ApprovalTask.position).limit(1))
        if task is None:
            return None
        task.state, task.opened_at = "pending", self._now
        if transition.escalate_after_days:
            task.due_at = self._now + dt.timedelta(days=transition.escalate_after_days)
        self.session.flush()
        return task

    def _move(self, record: Record, target: str, why: str, request_id: int | None) -> None:
        """Set the record's stage (with its version check) and log it."""
        before = record.stage_key
        record.stage_key = target
        record.updated_at, record.updated_by_id = self._now, self._me
        try:
            self.session.flush()
        except StaleDataError:
            raise Conflict("The record changed at the same moment; reload it and try again.") from None
        workflow = self.workflow(record)
        labels = {s.key: s.label for s in workflow.stages} if workflow else {}
        self._audit("record.transitioned", record.id, {
            "from": before, "to": target, "request": request_id,
            "summary": f"{labels.get(before, before)} → {labels.get(target, target)} ({why})",
            "changes": {"stage": [before, target]},
        })

    def _comment(self, comment: str | None) -> str:
        comment = (comment or "").strip()
        if len(comment) > COMMENT_MAX:
            raise ValidationFailed({"comment": f"At most {COMMENT_MAX} characters."}, {"comment": comment})
        return comment

    def _transition_of(self, request: TransitionRequest) -> Transition:
        """The transition under the rules the request started with."""
        config = self.config
        if request.config_version != config.version:
            from steerco.engine.tenants import config_version

            config = config_version(self.session, self.tenant_id, request.config_version)
        workflow = config.workflows[request.workflow_key]
        return next(t for t in workflow.transitions if t.key == request.transition_key)

    # -- approvers -----------------------------------------------------------------------------
    def eligible_approvers(self, role: str, record: Record) -> set[int]:
        """Active members holding ``role`` tenant-wide or at the record or one of its ancestors."""
        node = aliased(Record)
        rows = self.session.scalars(
            select(RoleAssignment.user_id)
            .join(Membership, and_(Membership.user_id == RoleAssignment.user_id,
                                   Membership.tenant_id == RoleAssignment.tenant_id))
            .join(User, User.id == RoleAssignment.user_id)
            .outerjoin(node, node.id == RoleAssignment.node_id)
            .where(RoleAssignment.tenant_id == self.tenant_id, RoleAssignment.role_key == role,
                   Membership.is_active, User.is_active,
                   or_(RoleAssignment.node_id.is_(None), literal(record.path).startswith(node.path))))
        return set(rows)

    def _active_delegators(self) -> list[int]:
        """Who the actor stands in for today; read once per instance (an inbox asks per task)."""
        if self._delegators is None:
            today = self._now.date()
            self._delegators = list(self.session.scalars(select(Delegation.user_id).where(
                Delegation.tenant_id == self.tenant_id, Delegation.deputy_id == self._me,
                Delegation.revoked_at.is_(None), Delegation.starts_on <= today, Delegation.ends_on >= today)))
        return self._delegators

    def _capacity(self, task: ApprovalTask, record: Record) -> int | None | Literal[False]:
        """None when the actor decides in their own name, a user id when as that person's
        deputy, False when they may not decide this task at all."""
        if task.role in self.access.roles_allowing("approve", record.level_key, record):
            return None
        delegators = [d for d in self._active_delegators() if d != task.request.requested_by_id]
        if delegators and self._role_approves(task.role, record.level_key):
            eligible = self.eligible_approvers(task.role, record)
            for user_id in delegators:
                if user_id in eligible:
                    return user_id
        return False

    def _role_approves(self, role_key: str, level_key: str) -> bool:
        """Does the step's role carry the approve action on this level at all? A deputy can
        do no more than the person they stand in for."""
        role = self.config.roles.get(role_key)
        return role is not None and any(
            "approve" in p.actions and ("*" in p.levels or level_key in p.levels) for p in role.permissions)

    # -- decisions ------------------------------------------------------------------------------
    def task(self, task_id: int) -> tuple[ApprovalTask, Record]:
        task = self.session.scalar(select(ApprovalTask).where(
            ApprovalTask.id == task_id, ApprovalTask.tenant_id == self.tenant_id))
        if task is None:
            raise NotFound("no such approval")
        return task, self.records.get(task.record_id)

    def decide(self, task_id: int, decision: Decision, comment: str = "") -> ApprovalTask:
        """Record the actor's decision on an open approval step, exactly once."""
        task, record = self.task(task_id)
        # Who may decide comes first: someone who may not gets no feedback on their input.
        capacity = self._capacity(task, record)
        if capacity is False:
            label = self.config.roles[task.role].label if task.role in self.config.roles else task.role
            raise Forbidden(f"only a {label} responsible for this record, or their deputy, decides this step")
        request = task.request
        if request.requested_by_id in {self._me, capacity}:
            raise Forbidden("you requested this transition; someone else must decide it")
        if decision not in ("approve", "reject"):
            raise ValidationFailed({"decision": "Choose approve or reject."}, {"comment": comment})
        comment = self._comment(comment)
        if decision == "reject" and not comment:
            raise ValidationFailed({"comment": "Say why you reject: a comment is required."}, {"comment": comment})
        if decision == "approve":
            # The record may have changed since the request: what is approved must still pass.
            transition = self._transition_of(request)
            missing = self.gate(record, transition)
            if missing:
                raise GateNotMet(f"The record no longer meets the criteria of “{transition.label}”; "
                                 "it can be approved once they hold again.", missing)
        self._claim(task, capacity)
        self._check_one_step_per_person(task, request, capacity)
        self.session.add(ApprovalVote(
            tenant_id=self.tenant_id, task_id=task.id, request_id=request.id, user_id=self._me,
            on_behalf_of_id=capacity or None, decision=decision, comment=comment, decided_at=self._now))
        self.session.flush()
        self._audit("approval.decided", record.id, {
            "request": request.id, "task": task.id, "step": task.step_key, "decision": decision,
            "on_behalf_of": capacity or None,
            "summary": f"{task.label}: {'approved' if decision == 'approve' else 'rejected'}"
                       + (" as deputy" if capacity else "") + (f": {comment}" if comment else ""),
        })
        if decision == "reject":
            self._reject(task, request, record, comment)
        elif self._approvals(task) >= task.needed:
            self._approve(task, request, record)
        return task

    def _claim(self, task: ApprovalTask, capacity: int | None) -> None:
        """Let one decider at a time in: a conditional UPDATE that matches only an open task.

        On PostgreSQL it waits for a concurrent decider's transaction and then sees the
        task decided; on SQLite it takes the database's write lock. Either way, once it
        returns the task is open and stays so until this transaction ends.
        """
        claimed = self.session.execute(
            update(ApprovalTask).where(ApprovalTask.id == task.id, ApprovalTask.state == "pending")
            .values(claims=ApprovalTask.claims + 1).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            self.session.refresh(task)
            if task.state == "waiting":
                raise Conflict("This step is not open yet: an earlier step is still waiting.")
            raise Conflict("This step was already decided; nothing was changed.")
        self.session.refresh(task)
        people = {self._me} | ({capacity} if capacity else set())
        already = self.session.scalar(select(ApprovalVote.id).where(
            ApprovalVote.task_id == task.id,
            or_(ApprovalVote.user_id.in_(people), ApprovalVote.on_behalf_of_id.in_(people))).limit(1))
        if already is not None:
            # A person and their deputy are one voice: together they cannot fill a quorum.
            raise Conflict("You have decided this step already (yourself or through a deputy); "
                           "nothing was changed.")

    def _check_one_step_per_person(self, task: ApprovalTask, request: TransitionRequest,
                                   capacity: int | None) -> None:
        if task.same_approver_allowed:
            return
        people = {self._me} | ({capacity} if capacity else set())
        earlier = self.session.scalar(select(func.count()).select_from(ApprovalVote).where(
            ApprovalVote.request_id == request.id, ApprovalVote.task_id != task.id,
            ApprovalVote.decision == "approve",
            or_(ApprovalVote.user_id.in_(people), ApprovalVote.on_behalf_of_id.in_(people))))
        if earlier:
            raise Forbidden("you approved another step of this request; a different person must decide this one")

    def _approvals(self, task: ApprovalTask) -> int:
        """Approvals by distinct people: a deputy's vote counts for the person they stand in for."""
        principal = func.coalesce(ApprovalVote.on_behalf_of_id, ApprovalVote.user_id)
        return self.session.scalar(select(func.count(func.distinct(principal))).where(
            ApprovalVote.task_id == task.id, ApprovalVote.decision == "approve")) or 0

    def _approve(self, task: ApprovalTask, request: TransitionRequest, record: Record) -> None:
        task.state, task.decided_at = "approved", self._now
        transition = self._transition_of(request)
        self._add_steps_now_applicable(request, transition, record)
        if self._open_next(request, transition) is not None:
            return
        request.state, request.decided_at = "approved", self._now
        self._audit("transition.approved", record.id, {
            "request": request.id, "transition": transition.key,
            "summary": f"“{transition.label}” approved"})
        self._move(record, request.to_stage, f"“{transition.label}” approved", request.id)

    def _add_steps_now_applicable(self, request: TransitionRequest, transition: Transition, record: Record) -> None:
        """Steps whose threshold the record meets now but did not when it was requested (the
        potential raised while the request waited) are added: a change cannot skip the CFO."""
        tasks = self.tasks(request)
        present = {t.step_key for t in tasks}
        position = max((t.position for t in tasks), default=-1)
        for step in self.applicable_steps(record, transition):
            if step.key in present:
                continue
            position += 1
            self._add_task(request, record, transition, step, position)
            self._audit("approval.step_added", record.id, {
                "request": request.id, "step": step.key,
                "summary": f"{step.label}: needed now, as the record changed after the request"})
        self.session.flush()

    def _reject(self, task: ApprovalTask, request: TransitionRequest, record: Record, comment: str) -> None:
        task.state, task.decided_at = "rejected", self._now
        request.state, request.decided_at = "rejected", self._now
        self._cancel_open_tasks(request)
        transition = self._transition_of(request)
        self._audit("transition.rejected", record.id, {
            "request": request.id, "transition": transition.key,
            "summary": f"“{transition.label}” rejected: {comment}"})
        if transition.reject_to and transition.reject_to != record.stage_key:
            self._move(record, transition.reject_to, f"“{transition.label}” rejected", request.id)

    def _cancel_open_tasks(self, request: TransitionRequest) -> None:
        self.session.execute(update(ApprovalTask).where(
            ApprovalTask.request_id == request.id, ApprovalTask.state.in_(("waiting", "pending")))
            .values(state="cancelled", decided_at=self._now).execution_options(synchronize_session="fetch"))

    def withdraw(self, request_id: int, comment: str = "") -> TransitionRequest:
        """The requester takes a pending request back; its open steps are cancelled."""
        request = self.session.scalar(select(TransitionRequest).where(
            TransitionRequest.id == request_id, TransitionRequest.tenant_id == self.tenant_id))
        if request is None:
            raise NotFound("no such request")
        record = self.records.get(request.record_id)
        if request.requested_by_id != self._me:
            raise Forbidden("only the person who asked can withdraw a request")
        comment = self._comment(comment)
        done = self.session.execute(
            update(TransitionRequest).where(TransitionRequest.id == request.id, TransitionRequest.state == "pending")
            .values(state="withdrawn", decided_at=self._now).execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("This request was decided already and can no longer be withdrawn.")
        self.session.refresh(request)
        self._cancel_open_tasks(request)
        self._audit("transition.withdrawn", record.id, {
            "request": request.id, "summary": "Request withdrawn" + (f": {comment}" if comment else "")})
        return request

    # -- the actor's work -------------------------------------------------------------------------
    def waiting_for_me(self) -> list[InboxTask]:
        """Open approval steps the actor may decide now (in their name or as a deputy),
        leaving out their own requests and steps they already decided."""
        rows = self.session.execute(
            select(ApprovalTask, Record).join(Record, Record.id == ApprovalTask.record_id)
            .where(ApprovalTask.tenant_id == self.tenant_id, ApprovalTask.state == "pending",
                   Record.deleted_at.is_(None), self.access.read_filter())
            .order_by(ApprovalTask.due_at.is_(None), ApprovalTask.due_at, ApprovalTask.id)).all()
        if not rows:
            return []
        mine = self.session.execute(select(ApprovalVote.task_id, ApprovalVote.request_id, ApprovalVote.decision).where(
            ApprovalVote.tenant_id == self.tenant_id,
            or_(ApprovalVote.user_id == self._me, ApprovalVote.on_behalf_of_id == self._me),
            ApprovalVote.request_id.in_({t.request_id for t, _ in rows}))).all()
        voted = {task_id for task_id, _, _ in mine}
        approved_in = {request_id for _, request_id, decision in mine if decision == "approve"}
        result = []
        for task, record in rows:
            if task.id in voted or task.request.requested_by_id == self._me:
                continue
            if task.request_id in approved_in and not task.same_approver_allowed:
                continue  # they approved another step of this request: someone else decides this one
            capacity = self._capacity(task, record)
            if capacity is False or task.request.requested_by_id == capacity:
                continue
            result.append(InboxTask(task, record, capacity, self._overdue(task)))
        return result

    def _overdue(self, task: ApprovalTask) -> bool:
        return task.due_at is not None and task.due_at <= self._now

    def my_requests(self) -> list[tuple[TransitionRequest, Record]]:
        return [(r, rec) for r, rec in self.session.execute(
            select(TransitionRequest, Record).join(Record, Record.id == TransitionRequest.record_id)
            .where(TransitionRequest.tenant_id == self.tenant_id, TransitionRequest.state == "pending",
                   TransitionRequest.requested_by_id == self._me, Record.deleted_at.is_(None),
                   self.access.read_filter())
            .order_by(TransitionRequest.requested_at)).all()]

    def escalated_to_me(self) -> list[tuple[ApprovalTask, Record]]:
        """Overdue steps escalated to a forum or role the actor sits in, at the record's place."""
        forums = {key for key, forum in self.config.forums.items()
                  if forum.role and forum.role in {g.role for g in self.access.actor.grants}}
        targets = forums | {g.role for g in self.access.actor.grants}
        if not targets:
            return []
        rows = self.session.execute(
            select(ApprovalTask, Record).join(Record, Record.id == ApprovalTask.record_id)
            .where(ApprovalTask.tenant_id == self.tenant_id, ApprovalTask.state == "pending",
                   ApprovalTask.escalated_at.is_not(None), ApprovalTask.escalate_to.in_(targets),
                   self.access.read_filter())
            .order_by(ApprovalTask.escalated_at)).all()
        result = []
        for task, record in rows:
            role = self.config.forums[task.escalate_to].role if task.escalate_to in self.config.forums \
                else task.escalate_to
            if role in self.access.roles_allowing("read", record.level_key, record):
                result.append((task, record))
        return result

    def blocked_records(self, limit: int = 200) -> list[tuple[Record, list[TransitionOption]]]:
        """The actor's own records whose next transitions have unmet gate criteria."""
        levels = [level.key for level in self.config.levels.values() if level.workflow]
        owned = list(self.session.scalars(self.records._readable().where(
            Record.owner_id == self._me, Record.level_key.in_(levels)).order_by(Record.number).limit(limit)))
        values: dict[int, dict[str, Any]] = {}
        for level_key in {r.level_key for r in owned}:  # a few queries per level, not per record
            values.update(self.records.values_of([r for r in owned if r.level_key == level_key],
                                                 self.config.levels[level_key]))
        result = []
        pending = set(self.session.scalars(select(TransitionRequest.record_id).where(
            TransitionRequest.tenant_id == self.tenant_id, TransitionRequest.state == "pending")))
        for record in owned:
            if record.id in pending:
                continue
            # Cancelling is no way forward: a ready "cancel" does not unblock the record.
            forward = [o for o in self.options(record, values[record.id])
                       if self.workflow(record).stage(o.transition.target).category != "cancelled"]  # type: ignore[union-attr]
            blocked = [o for o in forward if not o.ready]
            if blocked and not any(o.ready for o in forward):
                result.append((record, blocked))
        return result

    # -- delegation --------------------------------------------------------------------------------
    def delegate(self, deputy_id: int, starts_on: dt.date, ends_on: dt.date) -> Delegation:
        """Hand the actor's approvals to a deputy for a period (both days included)."""
        errors = {}
        if deputy_id == self._me:
            errors["deputy"] = "Choose someone else as your deputy."
        elif self.session.scalar(select(Membership.id).where(
                Membership.tenant_id == self.tenant_id, Membership.user_id == deputy_id, Membership.is_active)) is None:
            errors["deputy"] = "Choose a member of this workspace."
        if ends_on < starts_on:
            errors["ends_on"] = "The end must not be before the start."
        elif ends_on < self._now.date():
            errors["ends_on"] = "The period is over already."
        if errors:
            raise ValidationFailed(errors, {"deputy": deputy_id, "starts_on": starts_on.isoformat(),
                                            "ends_on": ends_on.isoformat()})
        delegation = Delegation(tenant_id=self.tenant_id, user_id=self._me, deputy_id=deputy_id,
                                starts_on=starts_on, ends_on=ends_on, created_at=self._now)
        self.session.add(delegation)
        self.session.flush()
        self._audit("delegation.created", None, {
            "deputy": deputy_id, "from": starts_on.isoformat(), "to": ends_on.isoformat(),
            "summary": f"Approvals delegated from {starts_on} to {ends_on}"})
        return delegation

    def revoke_delegation(self, delegation_id: int) -> None:
        delegation = self.session.scalar(select(Delegation).where(
            Delegation.id == delegation_id, Delegation.tenant_id == self.tenant_id,
            Delegation.user_id == self._me))
        if delegation is None:
            raise NotFound("no such delegation")
        if delegation.revoked_at is None:
            delegation.revoked_at = self._now
            self._audit("delegation.revoked", None, {"delegation": delegation.id, "summary": "Delegation revoked"})

    def delegations(self) -> list[Delegation]:
        return list(self.session.scalars(select(Delegation).where(
            Delegation.tenant_id == self.tenant_id,
            or_(Delegation.user_id == self._me, Delegation.deputy_id == self._me))
            .order_by(Delegation.starts_on.desc())))

    # -- statuses and comments -----------------------------------------------------------------------
    def dimensions(self, record: Record) -> list[StatusDimension]:
        """The record's status dimensions the actor may see: one held by a field follows
        that field's mode (hidden from a role, its status and history are too)."""
        level = self._level(record)
        return [d for d in self.config.status_dimensions.values()
                if record.level_key in d.levels and not self._hidden(record, level, d.key)]

    def can_set_status(self, record: Record, dimension_key: str) -> bool:
        """A status held by a field changes with write access to that field (a role's update
        right, or a write override of that very field); one without a field, with a role's
        update right. A write override for another field (the controller who may only
        validate a benefit) does not do."""
        fld = self._level(record).field(dimension_key)
        if fld is not None:
            return self.access.field_mode(fld, record, record.level_key) == "write"
        return bool(self.access.roles_allowing("update", record.level_key, record))

    def set_status(self, record: Record, dimension_key: str, value: str, comment: str = "") -> StatusChange | None:
        """Change the record's status in one dimension; some values need a reason."""
        dimension = next((d for d in self.dimensions(record) if d.key == dimension_key), None)
        if dimension is None:
            raise NotFound("no such status")
        if not self.can_set_status(record, dimension.key):
            raise Forbidden(f"none of your roles allows changing the {dimension.label} here")
        comment = self._comment(comment)
        labels = {o.key: o.label for o in dimension.options}
        if value not in labels:
            raise ValidationFailed({dimension.key: "Choose one of the offered options."}, {"comment": comment})
        if value in dimension.comment_required_for and not comment:
            raise ValidationFailed({"comment": f"Say why the status is “{labels[value]}”: a comment is required."},
                                   {dimension.key: value, "comment": comment})
        old = (record.values or {}).get(dimension.key)
        if old == value:
            return None
        level = self._level(record)
        values = {**(record.values or {}), dimension.key: value}
        values.update(compute(level, values, record.stage_key, record.title, self._now.date()))
        record.values = values
        record.updated_at, record.updated_by_id = self._now, self._me
        change = StatusChange(tenant_id=self.tenant_id, record_id=record.id, dimension_key=dimension.key,
                              old_value=old, new_value=value, comment=comment, user_id=self._me,
                              changed_at=self._now)
        self.session.add(change)
        try:
            self.session.flush()
        except StaleDataError:
            raise Conflict("The record changed at the same moment; reload it and try again.") from None
        self._audit("status.changed", record.id, {
            "dimension": dimension.key, "changes": {dimension.key: [old, value]},
            "summary": f"{dimension.label}: {labels.get(old, old or '—')} → {labels[value]}"
                       + (f": {comment}" if comment else "")})
        return change

    def status_history(self, record: Record) -> dict[str, list[StatusChange]]:
        history: dict[str, list[StatusChange]] = {d.key: [] for d in self.dimensions(record)}
        for change in self.session.scalars(select(StatusChange).where(
                StatusChange.tenant_id == self.tenant_id, StatusChange.record_id == record.id,
                StatusChange.dimension_key.in_(history)).order_by(StatusChange.id.desc())):
            history[change.dimension_key].append(change)
        return history

    def comment(self, record: Record, body: str) -> Comment:
        decision = self.access.decide("comment", record.level_key, record)
        if not decision:
            raise Forbidden(decision.reason)
        body = (body or "").strip()
        if not body:
            raise ValidationFailed({"body": "Write something first."}, {"body": body})
        if len(body) > COMMENT_MAX:
            raise ValidationFailed({"body": f"At most {COMMENT_MAX} characters."}, {"body": body})
        entry = Comment(tenant_id=self.tenant_id, record_id=record.id, user_id=self._me, body=body,
                        created_at=self._now)
        self.session.add(entry)
        self.session.flush()
        self._audit("comment.added", record.id, {"comment": entry.id, "summary": body})
        return entry


def escalate_overdue(session: Session, now: dt.datetime) -> list[ApprovalTask]:
    """Mark every open step past its due time as escalated (once), in every tenant.

    Run by ``steerco tick`` (cron in production); ``now`` is passed in so tests can
    choose the day.
    """
    tasks = list(session.scalars(select(ApprovalTask).where(
        ApprovalTask.state == "pending", ApprovalTask.due_at.is_not(None), ApprovalTask.due_at <= now,
        ApprovalTask.escalated_at.is_(None)).order_by(ApprovalTask.id)
        .execution_options(**{scoping.ALL_TENANTS: True})))
    for task in tasks:
        task.escalated_at = now
        audit.append(session, tenant_id=task.tenant_id, user_id=None, kind="approval.escalated",
                     record_id=task.record_id, now=now, data={
                         "task": task.id, "step": task.step_key, "to": task.escalate_to,
                         "summary": f"{task.label}: overdue since {task.due_at:%Y-%m-%d}, escalated"
                                    + (f" to {task.escalate_to}" if task.escalate_to else "")})
    session.flush()
    return tasks
