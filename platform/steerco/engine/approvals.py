"""Transition requests and their approval steps: request, decide, withdraw, escalate.

- ``request``: checks the gate and that every step that applies can be decided at all
  (enough people may decide it at the record's place), then either moves the record at
  once or opens a :class:`TransitionRequest` with one :class:`ApprovalTask` per
  applicable step (per role, for a step with several ``roles``), decided in order; steps
  marked ``parallel_with_previous`` share their predecessor's position and open with it,
  as do the tasks of one cross-role step; the request goes on when every open task is
  approved, and a rejection of any of them rejects it. The request keeps the
  configuration version it started under and finishes under it;
- ``decide``: one approver's decision, exactly once: a conditional UPDATE on the task lets
  one decider in at a time, so a double click or two approvers at the same moment record
  one decision and the loser hears "already decided". Each vote records the record's
  version and the approval content it was given on (:mod:`approval_content`). A decision
  first locks its request's row, so parallel tasks decided at the same moment finish the
  request exactly once (and never race a rejection);
- ``on_record_change``: every write to a record calls it (``Records.update``, a status
  change); a change to the approval content of a waiting request is refused, or voids the
  votes so far (``on_change: "void"``): the steps start again as new tasks;
- ``withdraw`` and :func:`escalate_overdue` (``steerco tick``; the clock is passed in).

Every change appends an audit event in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

from sqlalchemy import Integer, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from steerco.config.model import ApprovalStep, Transition
from steerco.engine import approval_content, audit, notifications, plan
from steerco.engine.approvers import Approvers, Capacity
from steerco.engine.context import WorkContext
from steerco.engine.errors import Conflict, Forbidden, GateNotMet, NotFound, ValidationFailed
from steerco.engine.gates import Gates
from steerco.store import scoping
from steerco.store.models import ApprovalTask, ApprovalVote, Record, TransitionRequest

if TYPE_CHECKING:
    from steerco.engine.records import Records

Decision = Literal["approve", "reject"]
#: the id of the request pending on a record (at most one)
_PENDING_REQUEST = select(TransitionRequest.id).where(
    TransitionRequest.tenant_id == bindparam("tenant_id", type_=Integer),
    TransitionRequest.record_id == bindparam("record_id", type_=Integer), TransitionRequest.state == "pending")
#: tasks that belong to a request's current round (not replaced after a change)
LIVE = ("waiting", "pending", "approved", "rejected", "cancelled")


class PendingApproval(ValidationFailed):
    """A change to what a waiting request's approvers decide on (-> 409, the form again)."""

    status = 409

    def __init__(self, errors: Mapping[str, str], submitted: Mapping[str, Any] | None, message: str):
        super().__init__(errors, submitted)
        self.message = message
        self.args = (message,)


def quorum_needed(step: ApprovalStep, eligible: int) -> int:
    """Approvals a step needs: one, everyone eligible when it opens ("all"), or n."""
    if step.quorum == "any":
        return 1
    if step.quorum == "all":
        return max(1, eligible)
    return int(step.quorum)


class Approvals:
    """Requests and decisions of one actor."""

    def __init__(self, ctx: WorkContext, gates: Gates | None = None, approvers: Approvers | None = None):
        self.ctx = ctx
        self.gates = gates or Gates(ctx)
        self.approvers = approvers or Approvers(ctx)

    # -- reading ---------------------------------------------------------------------------
    def pending_request(self, record: Record) -> TransitionRequest | None:
        """The request waiting on ``record``, if any. Every save asks (and nearly always
        finds none), so the question is a prebuilt indexed statement on the connection; the
        request itself is loaded only when there is one (often from the identity map)."""
        if self.ctx.session.autoflush:  # what the ORM's query would do first (cheap when clean)
            self.ctx.session.flush()
        found = self.ctx.session.connection().execute(
            _PENDING_REQUEST, {"tenant_id": self.ctx.tenant_id, "record_id": record.id}).scalar()
        return None if found is None else self.ctx.session.get(TransitionRequest, found)

    def latest_decided(self, record: Record) -> TransitionRequest | None:
        """The record's most recent request that is no longer pending."""
        return self.ctx.session.scalar(select(TransitionRequest).where(
            TransitionRequest.tenant_id == self.ctx.tenant_id, TransitionRequest.record_id == record.id,
            TransitionRequest.state != "pending").order_by(TransitionRequest.id.desc()).limit(1))

    def requests(self, record: Record) -> list[TransitionRequest]:
        return list(self.ctx.session.scalars(select(TransitionRequest).where(
            TransitionRequest.tenant_id == self.ctx.tenant_id, TransitionRequest.record_id == record.id)
            .order_by(TransitionRequest.id.desc())))

    def tasks(self, request: TransitionRequest) -> list[ApprovalTask]:
        """The request's steps in order (those replaced after a change to the content left out)."""
        return self.tasks_of([request.id]).get(request.id, [])

    def tasks_of(self, request_ids: Iterable[int]) -> dict[int, list[ApprovalTask]]:
        """The steps of many requests in one query."""
        ids = set(request_ids)
        found: dict[int, list[ApprovalTask]] = {i: [] for i in ids}
        if ids:
            for task in self.ctx.session.scalars(select(ApprovalTask).where(
                    ApprovalTask.tenant_id == self.ctx.tenant_id, ApprovalTask.request_id.in_(ids),
                    ApprovalTask.state.in_(LIVE)).order_by(ApprovalTask.position)):
                found[task.request_id].append(task)
        return found

    def votes(self, request: TransitionRequest) -> list[ApprovalVote]:
        return self.votes_of([request.id]).get(request.id, [])

    def votes_of(self, request_ids: Iterable[int],
                 task_ids: Iterable[int] | None = None) -> dict[int, list[ApprovalVote]]:
        """Every decision on many requests (or only on some of their tasks), voters'
        names included, in one query."""
        ids = set(request_ids)
        found: dict[int, list[ApprovalVote]] = {i: [] for i in ids}
        if ids:
            query = select(ApprovalVote).where(ApprovalVote.tenant_id == self.ctx.tenant_id,
                                               ApprovalVote.request_id.in_(ids))
            if task_ids is not None:
                query = query.where(ApprovalVote.task_id.in_(set(task_ids)))
            for vote in self.ctx.session.scalars(query.order_by(ApprovalVote.id)):
                found[vote.request_id].append(vote)
        return found

    def task(self, task_id: int) -> tuple[ApprovalTask, Record]:
        """A step of this tenant on a record the actor may read; else NotFound."""
        task = self.ctx.session.scalar(select(ApprovalTask).where(
            ApprovalTask.id == task_id, ApprovalTask.tenant_id == self.ctx.tenant_id))
        if task is None:
            raise NotFound("no such approval")
        return task, self.ctx.records.get(task.record_id)

    # -- requesting -------------------------------------------------------------------------
    def request(self, record: Record, transition_key: str, comment: str = "") -> TransitionRequest:
        """Ask to move ``record`` through a transition: applied at once when no approval
        step applies, else a pending request whose first step opens now."""
        ctx = self.ctx
        workflow = ctx.workflow(record)
        transition = next((t for t in workflow.transitions if t.key == transition_key), None) if workflow else None
        if transition is None or record.stage_key not in transition.sources:
            raise NotFound("no such transition from this stage")
        if not self.gates.may_request(record, transition):
            raise Forbidden(f"none of your roles may request “{transition.label}” here")
        if self.pending_request(record) is not None:
            raise Conflict("A request for this record is waiting for approval already.")
        values = self.gates.values(record)
        missing = self.gates.gate(record, transition, values)
        if missing:
            raise GateNotMet(f"“{transition.label}” cannot be requested yet.", missing)
        comment = ctx.comment_text(comment)
        applicable = self.gates.applicable(record, transition, values)
        steps = applicable.steps
        request, eligible = self.new_request(record, transition, applicable, comment, to_stage=transition.target,
                                             what=f"“{transition.label}” cannot be requested yet")
        ctx.audit("transition.requested", record.id, {
            "transition": transition.key, "from": request.from_stage, "to": request.to_stage,
            "request": request.id, "summary": f"Requested “{transition.label}”" + (f": {comment}" if comment else ""),
            **({"reasons": dict(applicable.reasons)} if applicable.reasons else {}),
        })
        if not steps:
            self.move(record, transition.target, f"“{transition.label}”", request.id)
            return request
        self.open_steps(request, record, transition, steps, eligible, applicable.reasons)
        return request

    def new_request(self, record: Record, transition: Transition, applicable: Any, comment: str | None, *,
                    to_stage: str, what: str, changes: Any = None) -> tuple[TransitionRequest, dict[str, set[int]]]:
        """A stage move's or a plan change's request, stored (pending while it has steps,
        else approved), and who may decide each step's roles; refused when a step could never
        be decided, or when another request for the record got in first."""
        ctx = self.ctx
        eligible = self.approvers.eligible_by_role([r for s in applicable.steps for r in s.deciding_roles], record)
        unreachable = self.approvers.unreachable(applicable.steps, eligible, ctx.me)
        if unreachable:
            raise GateNotMet(f"{what}: an approval step could never be decided.", unreachable)
        request = TransitionRequest(
            tenant_id=ctx.tenant_id, record_id=record.id, workflow_key=ctx.workflow(record).key,  # type: ignore[union-attr]
            transition_key=transition.key, config_version=ctx.config.version,
            from_stage=record.stage_key, to_stage=to_stage, requested_by_id=ctx.me,
            requested_at=ctx.now, comment=comment, state="pending" if applicable.steps else "approved",
            decided_at=None if applicable.steps else ctx.now, changes=changes)
        ctx.session.add(request)
        try:
            ctx.session.flush()
        except IntegrityError:
            # Another request for this record got in first (the partial unique index).
            raise Conflict("A request for this record is waiting for approval already.") from None
        return request, eligible

    def open_steps(self, request: TransitionRequest, record: Record, transition: Transition,
                   steps: Iterable[ApprovalStep], eligible: Mapping[str, set[int]],
                   reasons: Mapping[str, str]) -> None:
        """The new request's tasks, in order or in parallel as configured, and the first
        position's opened: the one way a request (a stage move or a plan change) gets its
        approval steps."""
        self._add_tasks(request, record, transition, steps, -1, eligible, reasons)
        self.ctx.session.flush()
        self._open_next(request, transition)

    def _add_tasks(self, request: TransitionRequest, record: Record, transition: Transition,
                   steps: Iterable[ApprovalStep], position: int, eligible: Mapping[str, set[int]],
                   reasons: Mapping[str, str]) -> None:
        """The steps' tasks from ``position`` on: each step one position further, unless it
        opens with the step before it (``parallel_with_previous``); a cross-role step one
        task per role, at the step's position."""
        first = True
        for step in steps:
            if first or not step.parallel_with_previous:
                position += 1
            first = False
            for role in step.deciding_roles:
                self._add_task(request, record, transition, step, role, position, eligible.get(role, set()),
                               reasons.get(step.key))

    def _add_task(self, request: TransitionRequest, record: Record, transition: Transition,
                  step: ApprovalStep, role: str, position: int, eligible: set[int], reason: str | None) -> None:
        """A task of the step for ``role``, waiting its turn; "all" counts everyone eligible
        but the requester. A cross-role step's task needs one approval, by someone who
        decides no other task of the request."""
        label = step.label
        if step.across_roles:
            role_label = self.ctx.config.roles[role].label if role in self.ctx.config.roles else role
            label = f"{step.label}: {role_label}"
        self.ctx.session.add(ApprovalTask(
            tenant_id=self.ctx.tenant_id, request_id=request.id, record_id=record.id, position=position,
            step_key=step.key, label=label, role=role,
            needed=1 if step.across_roles else quorum_needed(step, len(eligible - {request.requested_by_id})),
            same_approver_allowed=step.same_approver_allowed and not step.across_roles,
            escalate_to=transition.escalate_to, state="waiting", reason=reason))

    def _open_next(self, request: TransitionRequest, transition: Transition) -> ApprovalTask | None:
        """A task of the request still open, or else the next position's tasks, opened
        together (parallel steps); None when no task is left to decide."""
        session = self.ctx.session
        still_open = session.scalar(select(ApprovalTask).where(
            ApprovalTask.request_id == request.id, ApprovalTask.state == "pending").limit(1))
        if still_open is not None:
            return still_open
        waiting = list(session.scalars(select(ApprovalTask).where(
            ApprovalTask.request_id == request.id, ApprovalTask.state == "waiting")
            .order_by(ApprovalTask.position, ApprovalTask.id)))
        if not waiting:
            return None
        group = [t for t in waiting if t.position == waiting[0].position]
        for task in group:
            task.state, task.opened_at = "pending", self.ctx.now
            if transition.escalate_after_days:
                task.due_at = self.ctx.now + dt.timedelta(days=transition.escalate_after_days)
        session.flush()
        record = self.ctx.records.get(request.record_id)
        eligible = self.approvers.eligible_by_role({t.role for t in group}, record)
        for task in group:
            self.ctx.notify(eligible[task.role], "approval.waiting", record,
                            f"{task.label} waits for your decision on “{transition.label}”",
                            exclude=[request.requested_by_id])
        return group[0]

    def move(self, record: Record, target: str, why: str, request_id: int | None) -> None:
        """Set the record's stage (with its version check) and log it."""
        ctx = self.ctx
        before = record.stage_key
        record.stage_key = target
        record.updated_at, record.updated_by_id = ctx.now, ctx.me
        try:
            ctx.session.flush()
        except StaleDataError:
            raise Conflict("The record changed at the same moment; reload it and try again.") from None
        workflow = ctx.workflow(record)
        labels = {s.key: s.label for s in workflow.stages} if workflow else {}
        ctx.audit("record.transitioned", record.id, {
            "from": before, "to": target, "request": request_id,
            "summary": f"{labels.get(before, before)} → {labels.get(target, target)} ({why})",
            "changes": {"stage": [before, target]},
        })
        plan.freeze(ctx.session, ctx.tenant_id, ctx.config, record, ctx.me, ctx.now)
        ctx.records.review_exceptions(record)

    # -- deciding ---------------------------------------------------------------------------
    def capacity(self, task: ApprovalTask, record: Record) -> Capacity:
        return self.approvers.capacity(task, record)

    def decide(self, task_id: int, decision: Decision, comment: str = "") -> ApprovalTask:
        """Record the actor's decision on an open approval step, exactly once."""
        ctx = self.ctx
        task, record = self.task(task_id)
        # Who may decide comes first: someone who may not gets no feedback on their input.
        capacity = self.capacity(task, record)
        if capacity is False:
            label = ctx.config.roles[task.role].label if task.role in ctx.config.roles else task.role
            raise Forbidden(f"only a {label} responsible for this record, or their deputy, decides this step")
        request = task.request
        if request.requested_by_id in {ctx.me, capacity}:
            raise Forbidden("you requested this transition; someone else must decide it")
        if decision not in ("approve", "reject"):
            raise ValidationFailed({"decision": "Choose approve or reject."}, {"comment": comment})
        comment = ctx.comment_text(comment)
        if decision == "reject" and not comment:
            raise ValidationFailed({"comment": "Say why you reject: a comment is required."}, {"comment": comment})
        transition = ctx.transition_of(request)
        values = self.gates.values(record) if transition is not None else {}
        bound = self._bound(record, transition, values)
        if decision == "approve":
            if transition is None:
                raise Conflict("The rules this request started under are no longer known; it cannot be approved. "
                               "Ask the requester to withdraw it and request again.")
            # The record may have changed since the request: what is approved must still pass.
            missing = self.gates.gate(record, transition, values)
            if missing:
                raise GateNotMet(f"The record no longer meets the criteria of “{transition.label}”; "
                                 "it can be approved once they hold again.", missing)
            self._check_bound(request, bound[2])
        self._lock(request)
        self._claim(task, capacity)
        self._check_one_step_per_person(task, request, capacity)
        version, content, digest = bound
        ctx.session.add(ApprovalVote(
            tenant_id=ctx.tenant_id, task_id=task.id, request_id=request.id, user_id=ctx.me,
            on_behalf_of_id=capacity or None, decision=decision, comment=comment, decided_at=ctx.now,
            record_version=version, content_hash=digest, content=content))
        ctx.session.flush()
        ctx.audit("approval.decided", record.id, {
            "request": request.id, "task": task.id, "step": task.step_key, "decision": decision,
            "on_behalf_of": capacity or None, "version": version, "content_hash": digest, "approved": content,
            "summary": f"{task.label}: {'approved' if decision == 'approve' else 'rejected'}"
                       + (" as deputy" if capacity else "") + (f": {comment}" if comment else "")
                       + f" — on version {version}",
        })
        if decision == "reject":
            self._reject(task, request, record, comment, transition)
            return task
        if self._approvals(task) >= task.needed:
            assert transition is not None
            self._approve(task, request, record, transition)
        if request.state == "pending":  # the request's end is told by _approve
            ctx.notify([request.requested_by_id], "approval.decided", record,
                       f"{task.label}: approved by {ctx.access.actor.name}", exclude=[ctx.me])
        return task

    def _bound(self, record: Record, transition: Transition | None,
               values: Mapping[str, Any]) -> tuple[int, dict[str, Any], str | None]:
        """What a vote is given on: the record's version, the content and its hash."""
        if transition is None:
            return record.version, {}, None
        content = approval_content.snapshot(transition, self.ctx.level(record), values)
        return record.version, content, approval_content.content_hash(content)

    def _check_bound(self, request: TransitionRequest, digest: str | None) -> None:
        """Every approval so far must have been given on the content as it is now; the
        change guard makes sure of it, and this check holds even if a write bypassed it."""
        given = set(self.ctx.session.scalars(
            select(ApprovalVote.content_hash).distinct().join(ApprovalTask, ApprovalTask.id == ApprovalVote.task_id)
            .where(ApprovalVote.request_id == request.id, ApprovalVote.decision == "approve",
                   ApprovalVote.content_hash.is_not(None), ApprovalTask.state.in_(LIVE))))
        if given - {digest}:
            raise Conflict("The content the earlier approvals were given on has changed since; this request "
                           "cannot be approved. Ask the requester to withdraw it and request again.")

    def _lock(self, request: TransitionRequest) -> None:
        """Take the request's row before its task's (every path that changes both takes
        them in this order): deciders of parallel tasks then go one at a time, so exactly
        one of them sees the last task approved and finishes the request, and one person
        cannot approve two of its tasks at the same moment."""
        self.ctx.session.execute(
            update(TransitionRequest).where(TransitionRequest.id == request.id)
            .values(state=TransitionRequest.state).execution_options(synchronize_session=False))

    def _claim(self, task: ApprovalTask, capacity: int | None) -> None:
        """Let one decider at a time in: a conditional UPDATE that matches only an open task.

        On PostgreSQL it waits for a concurrent decider's transaction and then sees the
        task decided; on SQLite it takes the database's write lock. Either way, once it
        returns the task is open and stays so until this transaction ends.
        """
        session = self.ctx.session
        claimed = session.execute(
            update(ApprovalTask).where(ApprovalTask.id == task.id, ApprovalTask.state == "pending")
            .values(claims=ApprovalTask.claims + 1).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.refresh(task)
            if task.state == "waiting":
                raise Conflict("This step is not open yet: an earlier step is still waiting.")
            if task.state == "voided":
                raise Conflict("This step was opened again because the record's approval content changed; "
                               "decide it anew from the record's page or your inbox.")
            raise Conflict("This step was already decided; nothing was changed.")
        session.refresh(task)
        people = {self.ctx.me} | ({capacity} if capacity else set())
        already = session.scalar(select(ApprovalVote.id).where(
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
        people = {self.ctx.me} | ({capacity} if capacity else set())
        earlier = self.ctx.session.scalar(
            select(func.count()).select_from(ApprovalVote).join(ApprovalTask, ApprovalTask.id == ApprovalVote.task_id)
            .where(ApprovalVote.request_id == request.id, ApprovalVote.task_id != task.id,
                   ApprovalVote.decision == "approve", ApprovalTask.state.in_(LIVE),
                   or_(ApprovalVote.user_id.in_(people), ApprovalVote.on_behalf_of_id.in_(people))))
        if earlier:
            raise Forbidden("you approved another step of this request; a different person must decide this one")

    def _approvals(self, task: ApprovalTask) -> int:
        """Approvals by distinct people: a deputy's vote counts for the person they stand in for."""
        principal = func.coalesce(ApprovalVote.on_behalf_of_id, ApprovalVote.user_id)
        return self.ctx.session.scalar(select(func.count(func.distinct(principal))).where(
            ApprovalVote.task_id == task.id, ApprovalVote.decision == "approve")) or 0

    def _approve(self, task: ApprovalTask, request: TransitionRequest, record: Record,
                 transition: Transition) -> None:
        ctx = self.ctx
        task.state, task.decided_at = "approved", ctx.now
        self._add_steps_now_applicable(request, transition, record)
        if self._open_next(request, transition) is not None:
            return
        request.state, request.decided_at = "approved", ctx.now
        if request.changes is not None:  # a plan change: its cells are written, the record stays
            plan.apply(ctx, record, request)
            return
        ctx.audit("transition.approved", record.id, {
            "request": request.id, "transition": transition.key,
            "summary": f"“{transition.label}” approved"})
        ctx.notify([request.requested_by_id], "transition.approved", record,
                   f"“{transition.label}” approved: the record moves to its next stage")
        self.move(record, request.to_stage, f"“{transition.label}” approved", request.id)

    def _add_steps_now_applicable(self, request: TransitionRequest, transition: Transition, record: Record) -> None:
        """Steps whose threshold the record meets now but did not when it was requested (the
        potential raised while the request waited) are added: a change cannot skip the CFO."""
        tasks = self.tasks(request)
        present = {t.step_key for t in tasks}
        applicable = self.gates.applicable(record, transition)
        new = [s for s in applicable.steps if s.key not in present]
        if not new:
            return
        eligible = self.approvers.eligible_by_role([r for s in new for r in s.deciding_roles], record)
        self._add_tasks(request, record, transition, new, self._last_position(request), eligible,
                        applicable.reasons)
        for step in new:
            self.ctx.audit("approval.step_added", record.id, {
                "request": request.id, "step": step.key,
                "summary": f"{step.label}: needed now, as the record changed after the request"})
        self.ctx.session.flush()

    def _last_position(self, request: TransitionRequest) -> int:
        return self.ctx.session.scalar(select(func.max(ApprovalTask.position)).where(
            ApprovalTask.request_id == request.id)) or 0

    def _reject(self, task: ApprovalTask, request: TransitionRequest, record: Record, comment: str,
                transition: Transition | None) -> None:
        ctx = self.ctx
        task.state, task.decided_at = "rejected", ctx.now
        request.state, request.decided_at = "rejected", ctx.now
        self._cancel_open_tasks(request)
        label = transition.label if transition else request.transition_key
        ctx.audit("transition.rejected", record.id, {
            "request": request.id, "transition": request.transition_key,
            "summary": f"“{label}” rejected: {comment}"})
        ctx.notify([request.requested_by_id], "transition.rejected", record,
                   f"“{label}” rejected by {ctx.access.actor.name}: {comment}")
        if transition is not None and transition.reject_to and transition.reject_to != record.stage_key:
            self.move(record, transition.reject_to, f"“{transition.label}” rejected", request.id)

    def _cancel_open_tasks(self, request: TransitionRequest) -> None:
        self.ctx.session.execute(update(ApprovalTask).where(
            ApprovalTask.request_id == request.id, ApprovalTask.state.in_(("waiting", "pending")))
            .values(state="cancelled", decided_at=self.ctx.now).execution_options(synchronize_session="fetch"))

    def withdraw(self, request_id: int, comment: str = "") -> TransitionRequest:
        """The requester takes a pending request back; its open steps are cancelled."""
        ctx = self.ctx
        request = ctx.session.scalar(select(TransitionRequest).where(
            TransitionRequest.id == request_id, TransitionRequest.tenant_id == ctx.tenant_id))
        if request is None:
            raise NotFound("no such request")
        record = ctx.records.get(request.record_id)
        if request.requested_by_id != ctx.me:
            raise Forbidden("only the person who asked can withdraw a request")
        comment = ctx.comment_text(comment)
        done = ctx.session.execute(
            update(TransitionRequest).where(TransitionRequest.id == request.id, TransitionRequest.state == "pending")
            .values(state="withdrawn", decided_at=ctx.now).execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("This request was decided already and can no longer be withdrawn.")
        ctx.session.refresh(request)
        self._cancel_open_tasks(request)
        ctx.audit("transition.withdrawn", record.id, {
            "request": request.id, "summary": "Request withdrawn" + (f": {comment}" if comment else "")})
        return request

    # -- a record changes while a request waits -----------------------------------------------
    def on_record_change(self, record: Record, changes: Iterable[str],
                         submitted: Mapping[str, Any] | None = None) -> None:
        """Called by every write to ``record`` with the keys it changed: a change to the
        approval content of the request waiting on it is refused (``PendingApproval``), or
        voids the votes given so far when the transition says ``on_change: "void"``."""
        changed = approval_content.changed_fields(changes)
        if not changed:
            return
        request = self.pending_request(record)
        transition = self.ctx.transition_of(request) if request is not None else None
        if request is None or transition is None:
            return
        level = self.ctx.level(record)
        touched = [key for key in approval_content.content_fields(transition, level) if key in changed]
        if not touched:
            return
        if transition.on_change == "void":
            self._void(request, record, transition, touched)
            return
        raise PendingApproval(
            {key: "This cannot change while the request waits: its approvers decide on it. "
                  "Withdraw the request to change it." for key in touched},
            submitted,
            f"“{transition.label}” waits for approval, and its approvers decide on the marked "
            "fields: nothing was saved. Withdraw the request first to change them.")

    def _void(self, request: TransitionRequest, record: Record, transition: Transition, touched: list[str]) -> None:
        """The votes so far no longer count: the request's steps start again as new tasks
        (every step it had, and any whose threshold holds now)."""
        ctx = self.ctx
        tasks = self.tasks(request)
        voted = bool(self.votes_of([request.id], [t.id for t in tasks]).get(request.id))
        if not voted:  # nothing to void, but a raised potential may bring a step in
            self._add_steps_now_applicable(request, transition, record)
            return
        for task in tasks:
            task.state, task.decided_at = "voided", ctx.now
        applicable = self.gates.applicable(record, transition)
        keys = {t.step_key for t in tasks} | {s.key for s in applicable.steps}
        steps = [s for s in transition.approvals if s.key in keys]
        eligible = self.approvers.eligible_by_role([r for s in steps for r in s.deciding_roles], record)
        self._add_tasks(request, record, transition, steps, self._last_position(request), eligible,
                        applicable.reasons)
        ctx.session.flush()
        level = ctx.level(record)
        labels = ", ".join(level.field(k).label for k in touched)  # type: ignore[union-attr]
        ctx.audit("approval.voided", record.id, {
            "request": request.id, "fields": touched,
            "summary": f"Approvals so far voided: {labels} changed while “{transition.label}” waited; "
                       "every step is decided again"})
        self._open_next(request, transition)


def on_record_change(records: "Records", record: Record, changes: Iterable[str],
                     submitted: Mapping[str, Any] | None = None) -> None:
    """The hook ``Records.update`` calls after a save's changes are flushed (see
    :meth:`Approvals.on_record_change`)."""
    ctx = WorkContext(records.session, records.tenant_id, records.config, records.access, records, records.now)
    Approvals(ctx).on_record_change(record, changes, submitted)


def escalate_overdue(session: Session, now: dt.datetime) -> list[ApprovalTask]:
    """Mark every open step past its due time as escalated (once), in every tenant.

    Run by ``steerco tick`` (cron in production); ``now`` is passed in so tests can
    choose the day.
    """
    # A deleted record's steps wait with it (they come back when it is restored).
    tasks = list(session.scalars(select(ApprovalTask).join(Record, Record.id == ApprovalTask.record_id).where(
        ApprovalTask.state == "pending", ApprovalTask.due_at.is_not(None), ApprovalTask.due_at <= now,
        ApprovalTask.escalated_at.is_(None), Record.deleted_at.is_(None)).order_by(ApprovalTask.id)
        .execution_options(**{scoping.ALL_TENANTS: True})))
    for task in tasks:
        task.escalated_at = now
        audit.append(session, tenant_id=task.tenant_id, user_id=None, kind="approval.escalated",
                     record_id=task.record_id, now=now, data={
                         "task": task.id, "step": task.step_key, "to": task.escalate_to,
                         "summary": f"{task.label}: overdue since {task.due_at:%Y-%m-%d}, escalated"
                                    + (f" to {task.escalate_to}" if task.escalate_to else "")})
        record, requester = session.execute(
            select(Record, TransitionRequest.requested_by_id).join(TransitionRequest, TransitionRequest.record_id == Record.id)
            .where(TransitionRequest.id == task.request_id)
            .execution_options(**scoping.for_tenant(task.tenant_id))).one()
        notifications.notify(session, task.tenant_id, [requester], "approval.escalated",
                             task.record_id, f"{record.number} {record.title}: {task.label} is overdue since "
                             f"{task.due_at:%Y-%m-%d} and was escalated", now)
    session.flush()
    return tasks
