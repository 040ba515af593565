"""How a record moves through its workflow: one facade over the workflow's rooms.

Each concern has its own module; :class:`Workflows` wires them for one actor in one
tenant (sharing one :class:`~steerco.engine.context.WorkContext`) and keeps the calls the
web views, the API, the demo and the tests use:

- :mod:`~steerco.engine.gates`: a transition's gate (required fields, evidence, a
  condition that fails closed) and the approval steps that apply (thresholds fail closed);
- :mod:`~steerco.engine.approvers`: the one approver-eligibility rule, in Python and SQL;
- :mod:`~steerco.engine.approvals`: requests, decisions exactly once, withdrawal, the
  change guard (approval content), escalation;
- :mod:`~steerco.engine.approval_content`: what a vote is bound to (version, values, hash);
- :mod:`~steerco.engine.delegations`, :mod:`~steerco.engine.statuses`,
  :mod:`~steerco.engine.comments`: deputies, status dimensions, comments;
- :mod:`~steerco.engine.inbox`: the actor's work, section by section, and its count.

Every change appends an audit event in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any, Mapping

from sqlalchemy.orm import Session

from steerco.config.model import ApprovalStep, StatusDimension, TenantConfig, Transition, Workflow
from steerco.engine.access import Access
from steerco.engine.approvals import Approvals, Decision, PendingApproval, escalate_overdue
from steerco.engine.approvers import Approvers, Capacity
from steerco.engine.comments import Comments
from steerco.engine.context import COMMENT_MAX, WorkContext
from steerco.engine.delegations import Delegations
from steerco.engine.gates import Gates, Missing, TransitionOption
from steerco.engine.inbox import Inbox, InboxTask, Section
from steerco.engine.records import Records, Submission
from steerco.engine.statuses import Statuses
from steerco.store.models import (
    ApprovalTask, ApprovalVote, Comment, Delegation, Record, StatusChange, TransitionRequest,
)

__all__ = ["COMMENT_MAX", "Decision", "InboxTask", "Missing", "PendingApproval", "Section", "TransitionOption",
           "Workflows", "escalate_overdue"]


class Workflows:
    """Workflow actions of one actor in one tenant."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access,
                 now: dt.datetime | None = None):
        self.records = Records(session, tenant_id, config, access, now=now)
        self.ctx = WorkContext(session, tenant_id, config, access, self.records, now)

    @property
    def config(self) -> TenantConfig:
        return self.ctx.config

    # -- the rooms ---------------------------------------------------------------------------
    @cached_property
    def gates(self) -> Gates:
        return Gates(self.ctx)

    @cached_property
    def approvers(self) -> Approvers:
        return Approvers(self.ctx)

    @cached_property
    def approvals(self) -> Approvals:
        return Approvals(self.ctx, self.gates, self.approvers)

    @cached_property
    def inbox(self) -> Inbox:
        return Inbox(self.ctx, self.gates, self.approvers)

    @cached_property
    def statuses(self) -> Statuses:
        return Statuses(self.ctx, self.approvals)

    @cached_property
    def comments(self) -> Comments:
        return Comments(self.ctx)

    @cached_property
    def delegation(self) -> Delegations:
        return Delegations(self.ctx)

    # -- gates --------------------------------------------------------------------------------
    def workflow(self, record: Record) -> Workflow | None:
        return self.ctx.workflow(record)

    def gate(self, record: Record, transition: Transition, values: dict[str, Any] | None = None) -> list[Missing]:
        return self.gates.gate(record, transition, values)

    def applicable_steps(self, record: Record, transition: Transition,
                         values: dict[str, Any] | None = None) -> tuple[ApprovalStep, ...]:
        return self.gates.applicable_steps(record, transition, values)

    def options(self, record: Record, values: Mapping[str, Any] | None = None) -> list[TransitionOption]:
        return self.gates.options(record, values)

    # -- requests and decisions ------------------------------------------------------------------
    def pending_request(self, record: Record) -> TransitionRequest | None:
        return self.approvals.pending_request(record)

    def requests(self, record: Record) -> list[TransitionRequest]:
        return self.approvals.requests(record)

    def tasks(self, request: TransitionRequest) -> list[ApprovalTask]:
        return self.approvals.tasks(request)

    def votes(self, request: TransitionRequest) -> list[ApprovalVote]:
        return self.approvals.votes(request)

    def task(self, task_id: int) -> tuple[ApprovalTask, Record]:
        return self.approvals.task(task_id)

    def request(self, record: Record, transition_key: str, comment: str = "") -> TransitionRequest:
        return self.approvals.request(record, transition_key, comment)

    def decide(self, task_id: int, decision: Decision, comment: str = "") -> ApprovalTask:
        return self.approvals.decide(task_id, decision, comment)

    def request_plan_change(self, record: Record, submission: Submission, comment: str = "",
                            expected_version: int | None = None) -> TransitionRequest:
        """Ask for a change to frozen plan or locked period values (:mod:`steerco.engine.plan`)."""
        from steerco.engine.plan import PlanChanges

        return PlanChanges(self.ctx).request(record, submission, comment, expected_version)

    def withdraw(self, request_id: int, comment: str = "") -> TransitionRequest:
        return self.approvals.withdraw(request_id, comment)

    def capacity(self, task: ApprovalTask, record: Record) -> Capacity:
        return self.approvers.capacity(task, record)

    def eligible_approvers(self, role: str, record: Record) -> set[int]:
        return self.approvers.eligible(role, record)

    # -- the actor's work -------------------------------------------------------------------------
    def waiting_for_me(self) -> list[InboxTask]:
        return self.inbox.waiting_for_me()

    def my_requests(self) -> list[tuple[TransitionRequest, Record]]:
        return [(r, rec) for r, rec, _ in self.inbox.requests(1, 200).items]

    def escalated_to_me(self) -> list[tuple[ApprovalTask, Record]]:
        return self.inbox.escalated(1, 200).items

    def blocked_records(self) -> list[tuple[Record, list[TransitionOption]]]:
        return self.inbox.blocked(1, 200).items

    # -- delegation, statuses, comments --------------------------------------------------------------
    def delegate(self, deputy_id: int, starts_on: dt.date, ends_on: dt.date) -> Delegation:
        return self.delegation.delegate(deputy_id, starts_on, ends_on)

    def revoke_delegation(self, delegation_id: int) -> None:
        self.delegation.revoke(delegation_id)

    def delegations(self) -> list[Delegation]:
        return self.delegation.all()

    def dimensions(self, record: Record) -> list[StatusDimension]:
        return self.statuses.dimensions(record)

    def can_set_status(self, record: Record, dimension_key: str) -> bool:
        return self.statuses.can_set(record, dimension_key)

    def set_status(self, record: Record, dimension_key: str, value: str, comment: str = "") -> StatusChange | None:
        return self.statuses.set(record, dimension_key, value, comment)

    def status_history(self, record: Record) -> dict[str, list[StatusChange]]:
        return self.statuses.history(record)

    def comment(self, record: Record, body: str) -> Comment:
        return self.comments.add(record, body)
