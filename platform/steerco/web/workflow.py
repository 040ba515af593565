"""Workflow screens: a record's workflow panel, its statuses and comments, the to-do inbox
and delegation to a deputy.

Views stay thin: they parse the form, call :class:`~steerco.engine.workflow.Workflows`,
commit, and answer with the partial htmx swaps (``#workflow``, ``#statuses``,
``#comments``, one inbox row) or, without htmx, a 303 back to the page with a flash.
The engine's refusals (a gate not met, a conflict, a forbidden step, bad input) come back
inside the same partial with their status code (422, 409, 403), so the user sees why
in place; without htmx they are flashed, except 403 and 404, which get the error page.

The record page's panels are view-models built here (:func:`record_panels`, called by the
record view, and the same builders for the htmx partials), each in a fixed number of
queries; templates only render them. The navigation's count is :func:`inbox_count`: one
statement per page (see :meth:`Inbox.count`), computed once per request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from steerco.engine import approval_cards, approval_content
from steerco.engine.errors import Conflict, Forbidden, GateNotMet, SteercoError, ValidationFailed
from steerco.engine.workflow import COMMENT_MAX, Workflows
from steerco.store.models import ApprovalTask, ApprovalVote, Membership, Record, TransitionRequest, User, utcnow
from steerco.fields.display import read_date
from steerco.web.extensions import db
from steerco.web.formatting import day
from steerco.web.params import id_arg
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("workflow", __name__)

#: the engine's refusals a view answers in place; NotFound goes to the 404 page
REFUSALS = (GateNotMet, Conflict, Forbidden, ValidationFailed)
RECENT_COMMENTS = 5
#: the inbox's sections, each paged on its own (``?<section>_page=2``)
SECTIONS = ("approvals", "requests", "blocked", "escalated", "exceptions")
T = TypeVar("T")


@dataclass
class Feedback:
    """What the user is told after an action, inside the partial that was swapped."""

    message: str = ""
    ok: bool = False
    missing: tuple[Any, ...] = ()
    #: field -> message, for the form named by ``form``
    errors: dict[str, str] = field(default_factory=dict)
    #: which form the errors belong to, e.g. "reject-12", "request-decide", "status-health"
    form: str = ""
    #: what the user typed into that form, shown again
    submitted: dict[str, str] = field(default_factory=dict)

    def error(self, form: str, key: str = "comment") -> str:
        return self.errors.get(key, "") if form == self.form else ""

    def typed(self, form: str, key: str = "comment") -> str:
        return self.submitted.get(key, "") if form == self.form else ""


def _refused(error: SteercoError, form: str) -> Feedback:
    submitted = {"comment": request.form.get("comment", ""), "body": request.form.get("body", ""),
                 "value": request.form.get("value", "")}
    if isinstance(error, ValidationFailed):
        message = error.message if error.status != 422 else (" ".join(error.errors.values()) or error.message)
        return Feedback(message, errors=error.errors, form=form, submitted=submitted)
    return Feedback(error.message, missing=tuple(getattr(error, "missing", ())), form=form, submitted=submitted)


def flow() -> Workflows:
    """The workflow engine for this request's tenant and actor."""
    if "workflows" not in g:
        g.workflows = Workflows(db.session, g.tenant.id, g.config, g.access)
    return g.workflows


def _attempt(action: Callable[[], T], form: str) -> tuple[T | None, Feedback | None, int]:
    """Run an engine action: commit on success; on a refusal roll back and say why."""
    try:
        result = action()
    except REFUSALS as error:
        db.session.rollback()
        if isinstance(error, Forbidden) and not request.htmx:
            raise  # the 403 page
        return None, _refused(error, form), error.status
    db.session.commit()
    _forget_count()
    return result, None, 200


def _back(fallback: str, feedback: Feedback) -> BaseResponse:
    """Without htmx: the page again, with what happened as a flash."""
    flash(feedback.message + "".join(f" {m.message}" for m in feedback.missing))
    return redirect(fallback, code=303)


def transition_label(req: TransitionRequest) -> str:
    """The label of a request's transition (from the active configuration, else its key)."""
    workflow = g.config.workflows.get(req.workflow_key)
    found = workflow.transition(req.transition_key) if workflow else None
    return found.label if found else req.transition_key


def stage_label(record: Record, key: str | None = None) -> str:
    workflow = g.config.workflow_of(g.config.levels[record.level_key])
    stage = workflow.stage(key or record.stage_key) if workflow else None
    return stage.label if stage else (key or record.stage_key or "")


bp.add_app_template_global(transition_label, "transition_label")
bp.add_app_template_global(stage_label, "stage_label")


# -- the record page's view-models ------------------------------------------------------------
@dataclass(frozen=True)
class Approved:
    """What a vote was given on, as the reader may see it."""

    version: int | None
    values: tuple[tuple[str, str], ...]


def approved_content(record: Record, vote: ApprovalVote) -> Approved:
    """A vote's captured approval content, leaving out fields hidden from the reader."""
    level = g.config.levels[record.level_key]
    shown = []
    for key, value in (vote.content or {}).items():
        fld = level.field(key)
        if fld is not None and g.access.field_mode(fld, record, level.key) != "hidden":
            shown.append((fld.label, approval_content.display(level, key, value, g.config)))
    return Approved(vote.record_version, tuple(shown))


def workflow_panel(record: Record, values: Mapping[str, Any] | None = None,
                   feedback: Feedback | None = None) -> dict[str, Any] | None:
    """Everything the workflow panel shows for ``record`` (None without a workflow): the
    stage path, the request in flight with its steps and votes, the steps the actor may
    decide, the last decided request, and the transitions with their gates."""
    wf = flow()
    workflow = wf.workflow(record)
    if workflow is None:
        return None
    pending = wf.pending_request(record)
    tasks = wf.tasks(pending) if pending else []
    votes = wf.votes(pending) if pending else []
    mine = wf.inbox.decidable_on(record) if pending else {}
    latest = wf.approvals.latest_decided(record) if not pending else None
    latest_votes = wf.votes(latest) if latest is not None and latest.state == "rejected" else []
    by_task: dict[int, list[Any]] = {}
    for vote in votes:
        by_task.setdefault(vote.task_id, []).append(vote)
    return {
        "workflow": workflow, "stages": sorted(workflow.stages, key=lambda s: s.order),
        "current": workflow.stage(record.stage_key), "pending": pending, "tasks": tasks, "votes": by_task,
        "approved": {v.id: approved_content(record, v) for v in votes if v.content},
        "mine": mine, "options": [] if pending else wf.options(record, values), "latest": latest,
        "latest_votes": [v for v in latest_votes if v.decision == "reject"],
        "names": wf.inbox.names(t.on_behalf_of for t in mine.values()),
        "card": approval_cards.cards(records_service(), [(record, pending)]).get(pending.id) if mine else None,
        "can_edit": g.access.can("update", record.level_key, record), "now": utcnow(),
        "feedback": feedback or Feedback(),
    }


def status_cards(record: Record, feedback: Feedback | None = None) -> dict[str, Any]:
    """One card per status dimension of the record: current value, form, history."""
    wf = flow()
    changes = wf.status_history(record)
    cards = []
    for dimension in wf.dimensions(record):
        options = {o.key: o for o in dimension.options}
        cards.append({"dimension": dimension, "options": options,
                      "can_change": wf.can_set_status(record, dimension.key),
                      "current": options.get((record.values or {}).get(dimension.key)),
                      "history": changes.get(dimension.key, []),
                      "needs_comment": [options[k].label for k in dimension.comment_required_for if k in options]})
    return {"cards": cards, "feedback": feedback or Feedback(), "comment_max": COMMENT_MAX}


def comment_box(record: Record, feedback: Feedback | None = None) -> dict[str, Any]:
    """The comment form and the latest comments (all of them are in the history)."""
    comments = flow().comments.latest(record, RECENT_COMMENTS + 1)
    return {"recent": comments[:RECENT_COMMENTS], "more": len(comments) > RECENT_COMMENTS,
            "can_comment": g.access.can("comment", record.level_key, record),
            "feedback": feedback or Feedback(), "comment_max": COMMENT_MAX}


def record_panels(record: Record, values: Mapping[str, Any]) -> dict[str, Any]:
    """The record page's workflow, status and comment panels (``values``: the record's
    stored values, read once by the page)."""
    return {"panel": workflow_panel(record, values), "statuses": status_cards(record),
            "comments": comment_box(record)}


# -- the count in the navigation --------------------------------------------------------------------
def inbox_count() -> int | None:
    """Everything waiting for the actor: computed once per request, and only when a page's
    navigation shows it (the blocked part is kept in the session with its fingerprint)."""
    if "inbox_count_value" not in g:
        value = None
        if g.get("tenant") is not None and g.get("access") is not None:
            try:
                value = flow().inbox.count(session)
            except SQLAlchemyError:  # an error page after a failed transaction: no count
                current_app.logger.exception("inbox count")
        g.inbox_count_value = value
    return g.inbox_count_value


def _forget_count() -> None:
    """After a change, the count is taken again (with a fresh view of the actor's work)."""
    g.pop("inbox_count_value", None)
    g.pop("workflows", None)


@bp.app_context_processor
def _inbox_context() -> dict[str, Any]:
    return {"inbox_count": inbox_count}


def _record_and_level(record_id: int) -> tuple[Record, Any]:
    record = records_service().get(record_id)
    return record, g.config.levels[record.level_key]


def _panel_response(record_id: int, feedback: Feedback | None, status: int, *,
                    changed: bool):  # type: ignore[no-untyped-def]
    """The workflow panel for htmx (with the stage badge and the inbox count out of band
    when something changed)."""
    record, level = _record_and_level(record_id)
    return render_template("partials/_workflow.html", record=record, level=level,
                           panel=workflow_panel(record, feedback=feedback), oob=changed), status


# -- transitions and decisions -------------------------------------------------------------------
@bp.post("/r/<int:record_id>/transitions/<key>")
def request_transition(record_id: int, key: str):  # type: ignore[no-untyped-def]
    record = records_service().get(record_id)
    comment = request.form.get("comment", "")
    req, refused, status = _attempt(lambda: flow().request(record, key, comment), f"request-{key}")
    if refused is None:
        assert req is not None
        label = transition_label(req)
        if req.state == "approved":
            feedback = Feedback(f"{label}: done. The record is now at {stage_label(record, req.to_stage)}.", ok=True)
        else:
            waiting = [t.label for t in flow().tasks(req) if t.state == "pending"]
            feedback = Feedback(f"{label}: requested." + (f" Waiting for: {', '.join(waiting)}." if waiting else ""),
                                ok=True)
    else:
        feedback = refused
    if request.htmx:
        return _panel_response(record_id, feedback, status, changed=refused is None)
    return _back(url_for("records.view", record_id=record_id), feedback)


def _decided(task: ApprovalTask, decision: str) -> Feedback:
    """Say what a decision led to: the next step, the record's new stage, or the rejection."""
    req = task.request
    record = db.session.get(Record, task.record_id)
    assert record is not None
    label = f"{task.label}: {'rejected' if decision == 'reject' else 'approved'}."
    if req.state == "approved" and req.changes is not None:
        return Feedback(f"{label} The plan change is applied to {record.number}.", ok=True)
    if req.state == "approved":
        return Feedback(f"{label} {record.number} is now at {stage_label(record)}.", ok=True)
    if req.state == "rejected":
        return Feedback(f"{label} The request is closed; {record.number} stays at {stage_label(record)}.", ok=True)
    following = [t for t in flow().tasks(req) if t.state == "pending"]  # several when steps run in parallel
    if any(t.id == task.id for t in following):
        return Feedback(f"{label} More approvals are needed for this step.", ok=True)
    return Feedback(f"{label}" + (f" Next: {', '.join(t.label for t in following)}." if following else ""), ok=True)


@bp.post("/tasks/<int:task_id>/decision")
def decide(task_id: int):  # type: ignore[no-untyped-def]
    decision = request.form.get("decision", "")
    task, record = flow().task(task_id)  # NotFound (another tenant's or unreadable) -> 404
    record_id = record.id
    decided, refused, status = _attempt(
        lambda: flow().decide(task_id, decision, request.form.get("comment", "")),  # type: ignore[arg-type]
        f"{decision}-{task_id}")
    feedback = refused or _decided(decided, decision)  # type: ignore[arg-type]
    from_inbox = request.form.get("from") == "inbox"
    if request.htmx:
        if from_inbox:
            return _inbox_task_response(task_id, feedback, status, done=refused is None)
        return _panel_response(record_id, feedback, status, changed=refused is None)
    return _back(url_for("workflow.inbox") if from_inbox else url_for("records.view", record_id=record_id), feedback)


@bp.post("/requests/<int:request_id>/withdraw")
def withdraw(request_id: int):  # type: ignore[no-untyped-def]
    req, refused, status = _attempt(lambda: flow().withdraw(request_id, request.form.get("comment", "")),
                                    "withdraw")
    from_inbox = request.form.get("from") == "inbox"
    if refused is None:
        assert req is not None
        record_id = req.record_id
        feedback = Feedback(f"{transition_label(req)}: request withdrawn.", ok=True)
    else:
        feedback = refused
        found = db.session.scalar(select(TransitionRequest.record_id).where(
            TransitionRequest.id == request_id, TransitionRequest.tenant_id == g.tenant.id))
        record_id = records_service().get(found).id if found else None
    if request.htmx:
        if from_inbox:
            return render_template("partials/_inbox_request.html", request_id=request_id, entry=None,
                                   feedback=feedback, oob=refused is None), status
        if record_id is not None:
            return _panel_response(record_id, feedback, status, changed=refused is None)
    if record_id is None or from_inbox:
        return _back(url_for("workflow.inbox"), feedback)
    return _back(url_for("records.view", record_id=record_id), feedback)


# -- statuses and comments -------------------------------------------------------------------------
@bp.post("/r/<int:record_id>/status/<dimension>")
def set_status(record_id: int, dimension: str):  # type: ignore[no-untyped-def]
    record = records_service().get(record_id)
    value, comment = request.form.get("value", ""), request.form.get("comment", "")
    change, refused, status = _attempt(lambda: flow().set_status(record, dimension, value, comment),
                                       f"status-{dimension}")
    if refused is None:
        feedback = Feedback("Status changed." if change else "The status was already that; nothing changed.",
                            ok=True, form=f"status-{dimension}")
    else:
        feedback = refused
    if request.htmx:
        record, level = _record_and_level(record_id)
        context: dict[str, Any] = {"record": record, "level": level, "statuses": status_cards(record, feedback),
                                   "oob": refused is None}
        if refused is None:  # the values and the gates may depend on the status
            # what partials/_record_values.html shows: the record's view from the field pipeline
            context.update(view=records_service().view(record), panel=workflow_panel(record))
        return render_template("partials/_statuses.html", **context), status
    return _back(url_for("records.view", record_id=record_id), feedback)


@bp.post("/r/<int:record_id>/comments")
def add_comment(record_id: int):  # type: ignore[no-untyped-def]
    record = records_service().get(record_id)
    _, refused, status = _attempt(lambda: flow().comment(record, request.form.get("body", "")), "comment")
    feedback = refused or Feedback("Comment added.", ok=True)
    if request.htmx:
        record, level = _record_and_level(record_id)
        return render_template("partials/_comments.html", record=record, level=level,
                               comments=comment_box(record, feedback)), status
    return _back(url_for("records.view", record_id=record_id), feedback)


# -- the inbox ------------------------------------------------------------------------------------
def _inbox_task_response(task_id: int, feedback: Feedback, status: int, *,
                         done: bool):  # type: ignore[no-untyped-def]
    """One row of "waiting for me": the outcome once decided, else the row with the refusal."""
    task, record = flow().task(task_id)
    item = None if done else flow().inbox.decidable_on(record).get(task_id)
    names = flow().inbox.names({item.on_behalf_of} if item else set())
    cards = approval_cards.cards(records_service(), [(record, task.request)]) if item else {}
    return render_template("partials/_inbox_task.html", item=item, task=task, record=record, names=names,
                           cards=cards, feedback=feedback, oob=done, now=utcnow()), status


def _page_arg(section: str) -> int:
    return max(1, request.args.get(f"{section}_page", 1, type=int) or 1)


@bp.get("/inbox")
def inbox():  # type: ignore[no-untyped-def]
    """The actor's work in five sections, each paged on its own; the count in the
    navigation is their totals."""
    box = flow().inbox
    pages = {f"{section}_page": _page_arg(section) for section in SECTIONS}
    waiting = box.approvals(pages["approvals_page"])
    overdue = box.approvals(1, overdue_only=True)
    mine = box.requests(pages["requests_page"])
    blocked = box.blocked(pages["blocked_page"])
    escalated = box.escalated(pages["escalated_page"])
    cases = box.exceptions(pages["exceptions_page"])
    g.inbox_count_value = waiting.total + escalated.total + blocked.total + cases.total
    return render_template(
        "inbox.html", waiting=waiting, escalated=escalated, mine=mine, blocked=blocked, overdue=overdue,
        cases=cases,
        names=box.names(t.on_behalf_of for t in waiting.items), pages=pages,
        cards=approval_cards.cards(records_service(), [(t.record, t.task.request) for t in waiting.items]),
        editable={r.id for r, _ in blocked.items if g.access.can("update", r.level_key, r)},
        now=utcnow(), feedback=Feedback())


# -- delegation -----------------------------------------------------------------------------------
def _members() -> list[tuple[int, str]]:
    """Active members of this workspace other than the actor, by name."""
    return [(user_id, name) for user_id, name in db.session.execute(
        select(User.id, User.name).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == g.tenant.id, Membership.is_active, User.is_active,
               User.id != g.actor.user_id)
        .order_by(User.name))]


def _date(raw: str | None) -> dt.date | None:
    """A day typed in the workspace's locale (``31.03.2027`` in de-DE) or as ISO."""
    try:
        return read_date(raw or "", g.config.locale)
    except ValueError:
        return None


def _delegations_page(errors: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None,
                      message: str = ""):  # type: ignore[no-untyped-def]
    today = utcnow().date()
    return render_template("delegations.html", delegations=flow().delegations(), members=_members(),
                           errors=errors or {}, values=values or {"starts_on": day(today, for_input=True)},
                           message=message, today=today)


@bp.route("/delegations", methods=["GET", "POST"])
def delegations():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _delegations_page()
    form = request.form
    values = {k: form.get(k, "") for k in ("deputy", "starts_on", "ends_on")}
    deputy, starts, ends = form.get("deputy", type=id_arg), _date(values["starts_on"]), _date(values["ends_on"])
    errors = {k: msg for k, msg, missing in (
        ("deputy", "Choose your deputy.", deputy is None),
        ("starts_on", "Enter the first day as a date.", starts is None),
        ("ends_on", "Enter the last day as a date.", ends is None)) if missing}
    if not errors:
        assert deputy is not None and starts is not None and ends is not None
        try:
            flow().delegate(deputy, starts, ends)
        except ValidationFailed as failed:
            db.session.rollback()
            errors = failed.errors
    if errors:
        return _delegations_page(errors, values, "Please correct the marked fields."), 422
    db.session.commit()
    name = dict(_members()).get(deputy, "your deputy")  # type: ignore[arg-type]
    flash(f"Your approvals go to {name} from {starts} to {ends}.")
    return redirect(url_for("workflow.delegations"), code=303)


@bp.post("/delegations/<int:delegation_id>/revoke")
def revoke_delegation(delegation_id: int):  # type: ignore[no-untyped-def]
    flow().revoke_delegation(delegation_id)  # NotFound (not theirs, another tenant's) -> 404
    db.session.commit()
    if request.htmx:
        return _delegations_page(message="Delegation revoked.")
    flash("Delegation revoked.")
    return redirect(url_for("workflow.delegations"), code=303)
