"""The actor's work, section by section, in a fixed number of queries whatever its size.

- **approvals**: open steps the actor may decide now, in their own name or as a deputy
  (the approver rule of :mod:`approvers` as SQL), leaving out their own requests, steps
  they decided, and a second step of a request they approved unless the step allows it;
- **requests**: their own requests in flight, each with its open step;
- **escalated**: overdue steps escalated to a forum or role they hold, at the record's place;
- **blocked**: records they own whose forward transitions all have unmet gate criteria;
- **exceptions**: open exceptions they answer for (the rule's ``owner_role`` or its forum's
  role, held where it covers the record: the rule of :mod:`approvers`, asked for any
  permission, as SQL).

Each section is one query for its page plus one for its total (the approvals' total
counted up to :data:`COUNT_CAP` past the page, then shown as "1,000+"); votes and names come with
the rows (joined), never per row. Gates are expressions over values, so "blocked" is
decided in Python: over at most :data:`BLOCKED_SCAN` candidate records (owned, at a stage
with a forward transition, no request in flight), read in one query plus the level's
values. :meth:`Inbox.count` is what the navigation shows: approvals, escalations, open
exceptions and a
fingerprint of the records a gate may hold up in one indexed statement; the blocked count
is worked out again only when that fingerprint changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, Iterable, MutableMapping, TypeVar

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, null, or_, select
from sqlalchemy.orm import aliased

from steerco.engine.approvals import LIVE
from steerco.engine.approvers import Approvers, ApproverRule, RecordSide
from steerco.engine.access import Access
from steerco.engine.context import WorkContext
from steerco.engine.gates import Gates, TransitionOption
from steerco.store.models import ApprovalTask, ApprovalVote, ExceptionCase, Record, TransitionRequest, User

T = TypeVar("T")
PER_PAGE = 25
PER_PAGE_MAX = 200
#: at most this many of one's own records are examined for unmet gate criteria per look
BLOCKED_SCAN = 200
#: a section's total is counted up to this many entries past its page's start, then shown
#: as "1,000+": counting all 10,000 open steps of a busy controller cost more than the page
COUNT_CAP = 1000
#: where :meth:`Inbox.count` keeps the blocked count with the fingerprint it was taken at
MEMO_KEY = "inbox_blocked"
#: another step of the same request (an alias built once)
OTHER_TASK = aliased(ApprovalTask, name="other_task")
#: the navigation's count statements last built, per person (see :meth:`Inbox._count_statement`):
#: immutable SQL constructs, like the compiled configurations of ``tenants``
STATEMENTS_KEPT = 1000
_STATEMENTS: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
_STATEMENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class InboxTask:
    """An open step the actor may decide: ``on_behalf_of`` is the person they decide for as
    deputy (None: in their own name)."""

    task: ApprovalTask
    record: Record
    on_behalf_of: int | None
    overdue: bool


@dataclass(frozen=True)
class Section(Generic[T]):
    """One page of an inbox section and how many entries it has in all (``more``: at least
    ``total``, the count stopped at :data:`COUNT_CAP` past the page's start)."""

    items: list[T]
    total: int
    page: int = 1
    per_page: int = PER_PAGE
    more: bool = False

    @property
    def total_label(self) -> str:
        """The total as shown: "1,000+" when the count stopped at its cap."""
        return f"{self.total:,}+" if self.more else f"{self.total:,}"

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _paging(page: int | None, per_page: int | None) -> tuple[int, int]:
    per_page = max(1, min(per_page or PER_PAGE, PER_PAGE_MAX))
    return max(1, page or 1), per_page


class Inbox:
    """What waits for one actor."""

    def __init__(self, ctx: WorkContext, gates: Gates | None = None, approvers: Approvers | None = None):
        self.ctx = ctx
        self.gates = gates or Gates(ctx)
        self.approvers = approvers or Approvers(ctx)
        self._blocked_memo: list[tuple[Record, list[TransitionOption]]] | None = None

    # -- approvals waiting for me -----------------------------------------------------------------
    def _approvals(self) -> tuple[list[ColumnElement[bool]], Any] | None:
        """(conditions, on-behalf-of expression) over ApprovalTask, Record, TransitionRequest;
        None when the actor decides no step anywhere."""
        ctx = self.ctx
        roles = self.approvers.decidable_roles()
        if not roles:
            return None
        me = ctx.me
        own = self.approvers.own_condition(ApprovalTask, Record)
        if self.approvers.principals():
            deputy = self.approvers.deputy_for(ApprovalTask, Record, requester=TransitionRequest.requested_by_id)
            may, on_behalf = or_(own, deputy.is_not(None)), case((own, null()), else_=deputy)
            people = or_(ApprovalVote.user_id == me, ApprovalVote.on_behalf_of_id == me,
                         ApprovalVote.user_id == on_behalf, ApprovalVote.on_behalf_of_id == on_behalf)
        else:
            may, on_behalf = own, null()
            people = or_(ApprovalVote.user_id == me, ApprovalVote.on_behalf_of_id == me)
        other = OTHER_TASK
        approved_another = exists(select(ApprovalVote.id).join(other, other.id == ApprovalVote.task_id).where(
            ApprovalVote.request_id == ApprovalTask.request_id, ApprovalVote.task_id != ApprovalTask.id,
            ApprovalVote.decision == "approve", other.state.in_(LIVE),
            or_(ApprovalVote.user_id == me, ApprovalVote.on_behalf_of_id == me)))
        conditions = [
            ApprovalTask.tenant_id == ctx.tenant_id, ApprovalTask.state == "pending", ApprovalTask.role.in_(roles),
            Record.deleted_at.is_(None), ctx.access.read_filter(), TransitionRequest.requested_by_id != me, may,
            ~exists(select(ApprovalVote.id).where(ApprovalVote.task_id == ApprovalTask.id, people)),
            or_(ApprovalTask.same_approver_allowed, ~approved_another),
        ]
        return conditions, on_behalf

    @staticmethod
    def _task_rows(*columns: Any):  # type: ignore[no-untyped-def]
        return (select(*columns).select_from(ApprovalTask)
                .join(Record, Record.id == ApprovalTask.record_id)
                .join(TransitionRequest, TransitionRequest.id == ApprovalTask.request_id))

    def approvals(self, page: int | None = 1, per_page: int | None = PER_PAGE, *,
                  overdue_only: bool = False) -> Section[InboxTask]:
        """One page of the steps the actor may decide now, the most urgent first (only
        overdue ones when asked)."""
        page, per_page = _paging(page, per_page)
        found = self._approvals()
        if found is None:
            return Section([], 0, page, per_page)
        conditions, on_behalf = found
        if overdue_only:
            conditions = [*conditions, ApprovalTask.due_at <= self.ctx.now]
        offset = (page - 1) * per_page
        cap = offset + COUNT_CAP
        # counted over at most cap + 1 rows (a LIMIT inside), not over every open step
        found_rows = self._task_rows(ApprovalTask.id).where(*conditions).limit(cap + 1).subquery()
        total = self.ctx.session.scalar(select(func.count()).select_from(found_rows)) or 0
        more = total > cap
        return Section(self._rows(conditions, on_behalf, offset, per_page), cap if more else total, page,
                       per_page, more)

    def decidable_on(self, record: Record) -> dict[int, InboxTask]:
        """The record's steps the actor may decide now, by task id (the record page's
        "your decision": the inbox's own rule, so the two never disagree)."""
        found = self._approvals()
        if found is None:
            return {}
        conditions, on_behalf = found
        return {item.task.id: item for item in
                self._rows([*conditions, ApprovalTask.record_id == record.id], on_behalf, 0, PER_PAGE_MAX)}

    def _rows(self, conditions: list[ColumnElement[bool]], on_behalf: Any, offset: int,
              limit: int) -> list[InboxTask]:
        rows = self.ctx.session.execute(
            self._task_rows(ApprovalTask, Record, on_behalf.label("on_behalf")).where(*conditions)
            # NULLS LAST, not "due_at IS NULL" first: ix_approval_task_due's own order, so a
            # page reads its steps in order and stops, rather than sorting every open step
            .order_by(ApprovalTask.due_at.asc().nulls_last(), ApprovalTask.id)
            .offset(offset).limit(limit)).all()
        return [InboxTask(task, record, on_behalf_of, self._overdue(task)) for task, record, on_behalf_of in rows]

    def waiting_for_me(self) -> list[InboxTask]:
        """Every step the actor may decide now (tests and small tenants; pages use
        :meth:`approvals`)."""
        return self.approvals(1, PER_PAGE_MAX).items

    def _overdue(self, task: ApprovalTask) -> bool:
        return task.due_at is not None and task.due_at <= self.ctx.now

    # -- my requests in flight -------------------------------------------------------------------
    def requests(self, page: int | None = 1, per_page: int | None = PER_PAGE,
                 ) -> Section[tuple[TransitionRequest, Record, ApprovalTask | None]]:
        """One page of the actor's pending requests, each with its (first) open step: steps
        decided in parallel are open together, and the request is listed once."""
        ctx = self.ctx
        page, per_page = _paging(page, per_page)
        conditions = [TransitionRequest.tenant_id == ctx.tenant_id, TransitionRequest.state == "pending",
                      TransitionRequest.requested_by_id == ctx.me, Record.deleted_at.is_(None),
                      ctx.access.read_filter()]
        rows = (select(TransitionRequest, Record, ApprovalTask).select_from(TransitionRequest)
                .join(Record, Record.id == TransitionRequest.record_id)
                .outerjoin(ApprovalTask, ApprovalTask.id == self._first_open_task()))
        total = ctx.session.scalar(select(func.count()).select_from(TransitionRequest)
                                   .join(Record, Record.id == TransitionRequest.record_id).where(*conditions)) or 0
        found = ctx.session.execute(
            rows.where(*conditions).order_by(TransitionRequest.requested_at, TransitionRequest.id)
            .offset((page - 1) * per_page).limit(per_page)).all()
        return Section([(r, rec, t) for r, rec, t in found], total, page, per_page)

    @staticmethod
    def _first_open_task() -> Any:
        """SQL scalar: the request's open step with the lowest position (and id)."""
        other = OTHER_TASK
        return (select(other.id).where(other.request_id == TransitionRequest.id, other.state == "pending")
                .order_by(other.position, other.id).limit(1).correlate(TransitionRequest).scalar_subquery())

    # -- escalated to me ---------------------------------------------------------------------------
    def _escalation_filter(self) -> ColumnElement[bool]:
        """SQL: the task is escalated to a role the actor holds (or a forum of that role),
        and that role reaches the record (the read rule of the grants of that role)."""
        ctx = self.ctx
        actor = ctx.access.actor
        clauses = []
        for role in sorted({g.role for g in actor.grants}):
            targets = {role} | {key for key, forum in ctx.config.forums.items() if forum.role == role}
            holding = Access(ctx.config, type(actor)(actor.user_id, actor.name,
                                                     tuple(g for g in actor.grants if g.role == role)))
            clauses.append(and_(ApprovalTask.escalate_to.in_(targets), holding.read_filter()))
        return or_(*clauses) if clauses else false()

    def _escalated_conditions(self) -> list[ColumnElement[bool]]:
        return [ApprovalTask.tenant_id == self.ctx.tenant_id, ApprovalTask.state == "pending",
                ApprovalTask.escalated_at.is_not(None), Record.deleted_at.is_(None),
                self._escalation_filter()]

    def escalated(self, page: int | None = 1, per_page: int | None = PER_PAGE) -> Section[tuple[ApprovalTask, Record]]:
        """One page of the overdue steps escalated to the actor (a forum or role they hold)."""
        page, per_page = _paging(page, per_page)
        conditions = self._escalated_conditions()
        total = self.ctx.session.scalar(self._task_rows(func.count()).where(*conditions)) or 0
        rows = self.ctx.session.execute(
            self._task_rows(ApprovalTask, Record).where(*conditions)
            .order_by(ApprovalTask.escalated_at, ApprovalTask.id).offset((page - 1) * per_page).limit(per_page)).all()
        return Section([(t, r) for t, r in rows], total, page, per_page)

    # -- exceptions I answer for -------------------------------------------------------------------
    def _exception_conditions(self) -> list[ColumnElement[bool]] | None:
        """SQL over ExceptionCase and Record: an open case on a readable record whose rule's
        owner role (or forum role) the actor holds where it covers the record; None when no
        rule names a role they hold."""
        ctx = self.ctx
        actor = ctx.access.actor
        held = {g.role for g in actor.grants}
        rule = ApproverRule(ctx.config, None)
        clauses = []
        for exception_rule in ctx.config.exception_rules.values():
            forum = ctx.config.forums.get(exception_rule.forum) if exception_rule.forum else None
            roles = sorted({exception_rule.owner_role, forum.role if forum else None} & held - {None})
            answers = [rule.actor_condition(actor.grants, actor.user_id, role, RecordSide.columns(Record))
                       for role in roles]
            if answers:
                clauses.append(and_(ExceptionCase.rule_key == exception_rule.key, or_(*answers)))
        if not clauses:
            return None
        return [ExceptionCase.tenant_id == ctx.tenant_id, ExceptionCase.state == "open",
                Record.deleted_at.is_(None), ctx.access.read_filter(), or_(*clauses)]

    @staticmethod
    def _case_rows(*columns: Any):  # type: ignore[no-untyped-def]
        return select(*columns).select_from(ExceptionCase).join(
            Record, and_(Record.id == ExceptionCase.record_id, Record.tenant_id == ExceptionCase.tenant_id))

    def exceptions(self, page: int | None = 1,
                   per_page: int | None = PER_PAGE) -> Section[tuple[ExceptionCase, Record]]:
        """One page of the open exceptions the actor answers for, the earliest due first."""
        page, per_page = _paging(page, per_page)
        conditions = self._exception_conditions()
        if conditions is None:
            return Section([], 0, page, per_page)
        total = self.ctx.session.scalar(self._case_rows(func.count()).where(*conditions)) or 0
        rows = self.ctx.session.execute(
            self._case_rows(ExceptionCase, Record).where(*conditions)
            .order_by(ExceptionCase.due_at, ExceptionCase.id).offset((page - 1) * per_page).limit(per_page)).all()
        return Section([(c, r) for c, r in rows], total, page, per_page)

    # -- my records held up by a gate --------------------------------------------------------------
    def _forward_stages(self) -> ColumnElement[bool]:
        """SQL: the record sits at a stage of its workflow from which a transition leads on
        (cancelling is no way forward)."""
        clauses = []
        for workflow in self.ctx.config.workflows.values():
            levels = [lv.key for lv in self.ctx.config.levels.values() if lv.workflow == workflow.key]
            cancelled = {s.key for s in workflow.stages if s.category == "cancelled"}
            sources = sorted({s for t in workflow.transitions if t.target not in cancelled for s in t.sources})
            if levels and sources:
                clauses.append(and_(Record.level_key.in_(levels), Record.stage_key.in_(sources)))
        return or_(*clauses) if clauses else false()

    def _candidates(self, *columns: Any) -> Any:
        """SQL: the actor's records that a gate may hold up: owned, readable, at a stage
        with a forward transition, no request in flight (the records, or some columns)."""
        ctx = self.ctx
        in_flight = exists(select(TransitionRequest.id).where(
            TransitionRequest.record_id == Record.id, TransitionRequest.state == "pending"))
        return select(*(columns or (Record,))).where(
            Record.tenant_id == ctx.tenant_id, Record.deleted_at.is_(None), Record.owner_id == ctx.me,
            ctx.access.read_filter(), self._forward_stages(), ~in_flight)

    def _blocked_all(self) -> list[tuple[Record, list[TransitionOption]]]:
        """The actor's records whose forward transitions all have unmet criteria, among
        the first :data:`BLOCKED_SCAN` candidates by number."""
        ctx = self.ctx
        owned = list(ctx.session.scalars(self._candidates().order_by(Record.number).limit(BLOCKED_SCAN)))
        values: dict[int, dict[str, Any]] = {}
        for level_key in sorted({r.level_key for r in owned}):  # a few queries per level, not per record
            values.update(ctx.records.values_of([r for r in owned if r.level_key == level_key],
                                                ctx.config.levels[level_key]))
        result = []
        for record in owned:
            workflow = ctx.workflow(record)
            assert workflow is not None
            forward = [o for o in self.gates.options(record, values[record.id])
                       if (stage := workflow.stage(o.transition.target)) is None or stage.category != "cancelled"]
            if forward and not any(o.ready for o in forward):
                result.append((record, forward))
        return result

    def blocked(self, page: int | None = 1,
                per_page: int | None = PER_PAGE) -> Section[tuple[Record, list[TransitionOption]]]:
        """One page of the actor's records held up by a gate (see :meth:`_blocked_all`)."""
        page, per_page = _paging(page, per_page)
        everything = self._blocked()
        return Section(everything[(page - 1) * per_page:page * per_page], len(everything), page, per_page)

    def _blocked(self) -> list[tuple[Record, list[TransitionOption]]]:
        """Worked out once per instance: the inbox page and its count share it."""
        if self._blocked_memo is None:
            self._blocked_memo = self._blocked_all()
        return self._blocked_memo

    # -- the count in the navigation ---------------------------------------------------------------
    def count(self, memo: MutableMapping[str, Any] | None = None) -> int:
        """Everything that needs the actor: steps to decide, escalations to them, open
        exceptions they answer for, and their records held up by a gate.

        One statement counts the first three and takes a fingerprint of the records a gate
        may hold up (how many, the sum of their versions and ids, the latest change): every
        write to a record bumps its version, and a request starting or ending moves it in
        or out of the set. Their gates are worked out (over at most :data:`BLOCKED_SCAN`
        records) only when the fingerprint differs from the one kept in ``memo`` (the
        person's session), so a page view that follows no change of theirs costs one query.
        """
        # On the connection (Core), like the delegation lookup: every table it reads is
        # held to the tenant inside the statement, and it runs on every page.
        row = self.ctx.session.connection().execute(self._count_statement()).one()
        waiting = int(row[0]) + int(row[1]) + int(row[2])
        key = self._memo_key(row[3:])
        if memo is not None and self._blocked_memo is None:
            kept = memo.get(MEMO_KEY)
            if isinstance(kept, list) and len(kept) == 2 and kept[0] == key:
                return waiting + int(kept[1])
        blocked = len(self._blocked())
        if memo is not None:
            memo[MEMO_KEY] = [key, blocked]
        return waiting + blocked

    def _count_statement(self) -> Any:
        """The navigation's one statement; built once per person, roles and configuration
        (and whom they stand in for) and kept in :data:`_STATEMENTS`, as building it costs
        more than running it."""
        ctx = self.ctx
        actor = ctx.access.actor
        key = (ctx.tenant_id, id(ctx.config), actor.user_id, actor.grants, tuple(self.approvers.principals()),
               ctx.now.date())  # a deputy's delegations are those in effect today
        with _STATEMENTS_LOCK:
            kept = _STATEMENTS.get(key)
            if kept is not None and kept[0] is ctx.config:
                _STATEMENTS.move_to_end(key)
                return kept[1]
        found = self._approvals()
        approvals = literal(0) if found is None else \
            self._task_rows(func.count()).where(*found[0]).scalar_subquery()
        escalated = self._task_rows(func.count()).where(*self._escalated_conditions()).scalar_subquery()
        case_conditions = self._exception_conditions()
        cases = literal(0) if case_conditions is None else \
            self._case_rows(func.count()).where(*case_conditions).scalar_subquery()
        owned = self._candidates(Record.id, Record.version, Record.updated_at).subquery()
        fingerprint = select(func.count(), func.coalesce(func.sum(owned.c.version), 0),
                             func.coalesce(func.sum(owned.c.id), 0), func.max(owned.c.updated_at)).subquery()
        statement = select(approvals, escalated, cases, *fingerprint.c)
        with _STATEMENTS_LOCK:
            _STATEMENTS[key] = (ctx.config, statement)
            while len(_STATEMENTS) > STATEMENTS_KEPT:
                _STATEMENTS.popitem(last=False)
        return statement

    def _memo_key(self, fingerprint: Iterable[Any]) -> str:
        """What the blocked count depends on: the records, the rules, the person's roles, the day."""
        ctx = self.ctx
        grants = sorted((g.role, g.node_path or "") for g in ctx.access.actor.grants)
        raw = json.dumps([ctx.tenant_id, ctx.me, ctx.config.version, grants, ctx.now.date().isoformat(),
                          [str(v) for v in fingerprint]], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def names(self, user_ids: Iterable[int | None]) -> dict[int, str]:
        """Names of a page's people (the principals a deputy decides for), in one query."""
        wanted = {i for i in user_ids if i}
        if not wanted:
            return {}
        return dict(self.ctx.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())
