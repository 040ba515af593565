"""The JSON API: records of any level under ``/api/t/<tenant>/``, for scripts and integrations.

A request authenticates with a personal API token (``Authorization: Bearer stc_…``) and
nothing else: no session cookie counts here, which is why the blueprint needs no CSRF
token. From there on it is the HTML pages' path: the tenant, actor and configuration are
resolved by :func:`tenant_blueprint`, and every read and write goes through the same
engine calls as the forms (``Records.get/search/create/update``), so access, field states,
validation messages, the version check and the audit trail cannot differ. JSON values
are turned into the form input each field type already parses (``FieldType.form_input``).
Errors come back as RFC 9457 problem documents (``application/problem+json``, see
``web/app.py``). Lists page by cursor (:mod:`steerco.engine.cursors`); deleting and
restoring are :class:`~steerco.engine.deletion.Deletion`'s. Files and PDFs
(``api_files.py``), people (``api_people.py``) and the OpenAPI document (``openapi.py``)
add their routes to this blueprint from modules of their own.

Workflow actions (transitions, approvals, withdrawal, statuses, comments, the inbox) are the
same :class:`Workflows` calls as the HTML screens: the engine decides, scopes every id to
the tenant and the caller's read right (404 otherwise) and writes the audit trail; a view
here only checks the JSON body, commits on success and shapes the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from flask import g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict, WWWAuthenticate
from werkzeug.exceptions import BadRequest, Unauthorized

from sqlalchemy import select

from steerco.config.model import Level
from steerco.engine import exceptions, notifications, plan, rollups, tokens
from steerco.engine.errors import Forbidden, NotFound, ValidationFailed
from steerco.engine.periods import ReportingCycle
from steerco.engine.fieldviews import RecordView
from steerco.engine import cursors
from steerco.engine.deletion import Deletion
from steerco.engine.records import PER_PAGE_MAX, InvalidQuery, Records, Submission
from steerco.engine.workflow import TransitionOption, Workflows
from steerco.fields import FieldInvalid
from steerco.store.models import (
    ApprovalTask, ApprovalVote, ExceptionCase, Notification, Record, ReportingPeriod, TransitionRequest, User, utcnow,
)
from steerco.web.extensions import csrf, db
from steerco.web.params import id_arg, is_id
from steerco.web.tenancy import records_service, rollups_service, tenant_blueprint

#: query parameters of the list besides ``field.<key>`` filters
LIST_PARAMS = frozenset({"level", "parent", "q", "stage", "owner", "sort", "dir", "page", "per_page",
                         "cursor", "limit"})
FILTER_PREFIX = "field."
CREATE_PROPERTIES = frozenset({"level", "parent", "title", "values", "owner"})
UPDATE_PROPERTIES = frozenset({"version", "title", "values", "owner"})


def bearer_user() -> User | None:
    """The user whose token the request carries, or None (missing, unknown, revoked, inactive)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    user = tokens.user_for_token(db.session, credentials.strip())
    if user is not None and db.session.dirty:
        db.session.commit()  # the token's last use; the request's own writes get a fresh transaction
    return user


def _unauthorized() -> ResponseReturnValue:
    # One answer for every failure, so a caller cannot probe which tokens once existed.
    raise Unauthorized("Send a valid API token as 'Authorization: Bearer <token>'; "
                       "create one under API tokens in your account.",
                       www_authenticate=WWWAuthenticate("Bearer"))


bp = tenant_blueprint("api", __name__, "/api/t/<tenant>", authenticate=bearer_user, unauthorized=_unauthorized)
csrf.exempt(bp)


@bp.after_request
def _no_store(response):  # type: ignore[no-untyped-def]
    """API answers carry tenant data for one user: no shared cache may keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# -- the JSON of a record ------------------------------------------------------------------
def _timestamp(value: dt.datetime | None) -> str | None:
    """Stored times are naive UTC; the API says so explicitly."""
    return value.replace(tzinfo=dt.timezone.utc).isoformat() if value else None


def record_json(records: Records, record: Record, view: RecordView) -> dict[str, Any]:
    """A record as the API shows it: only the fields visible to this actor right now.

    Visibility and values come from the field pipeline, as on the page (role field modes
    merged with ``visible_if``), so a field hidden on the page has no key here at all.
    Values stay typed (numbers, ids, ISO dates). A value that cannot be computed (its
    expression gave a value of the wrong type) is null, and ``problems`` names it:
    ``{"problems": {field: "cannot be computed: ..."}}``, present only when there is one.
    """
    problems = view.problems()
    return {
        "id": record.id, "number": record.number, "level": record.level_key, "title": record.title,
        "parent_id": record.parent_id, "stage": record.stage_key,
        "owner": {"id": record.owner.id, "name": record.owner.name} if record.owner else None,
        "version": record.version, "config_version": record.config_version,
        "created_at": _timestamp(record.created_at), "updated_at": _timestamp(record.updated_at),
        "values": view.api_values(),
        **({"problems": problems} if problems else {}),
        "url": url_for("records.view", tenant=g.tenant.slug, record_id=record.id, _external=True),
    }


def _one(records: Records, record: Record) -> dict[str, Any]:
    """One record as every single-record answer gives it: its JSON and the rollups of its
    subtree, as this reader may know them (``steerco.engine.rollups``)."""
    view = records.view(record)
    shown = view.api_values()
    level = g.config.levels[record.level_key]
    frozen = plan.baselines(db.session, g.tenant.id, [record.id]).get(record.id, {})
    rates = {key: plan.run_rate(g.config, fld, shown.get(key)) for key in shown
             if (fld := level.field(key)) is not None and fld.effect == "recurring"}
    return {**record_json(records, record, view),
            "rollups": rollups.as_json(rollups_service().of(record)),
            # the frozen plan beside the current one; run-rates kept apart from the totals
            "baselines": {key: amounts for key, amounts in frozen.items() if key in shown},
            "run_rates": rates}


# -- reading -------------------------------------------------------------------------------
def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidQuery(f"{name} must be a whole number") from None


def _id_arg(name: str) -> int | None:
    """The id a query parameter names, or None when it is absent.

    Text that is no whole number is a malformed query (400); a whole number no object can
    have (0, negative, beyond the id column's range) names nothing, so it is answered like an unknown id
    (404) instead of reaching the database driver, which cannot hold it.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return id_arg(raw)
    except ValueError:
        try:
            int(raw)
        except ValueError:
            raise InvalidQuery(f"{name} must be a whole number") from None
        raise NotFound("no such record") from None


def _filters() -> dict[str, str]:
    """``field.<key>=value`` pairs; any other unknown parameter is a mistake worth naming."""
    filters: dict[str, str] = {}
    for name in request.args:
        if name.startswith(FILTER_PREFIX):
            values = request.args.getlist(name)
            if len(values) > 1:
                raise InvalidQuery(f"{name} is given more than once")
            filters[name[len(FILTER_PREFIX):]] = values[0]
        elif name not in LIST_PARAMS:
            raise InvalidQuery(f"unknown parameter {name!r}; use {', '.join(sorted(LIST_PARAMS))} "
                               f"or {FILTER_PREFIX}<field>")
    return filters


@bp.get("/records")
def list_records():  # type: ignore[no-untyped-def]
    """One page of readable records of a level, filtered, sorted and paged in SQL.

    Pages follow by cursor: each answer's ``next_cursor`` (null on the last page) goes
    into ``cursor`` of the next request, with the same sort (see
    :mod:`steerco.engine.cursors`); a ``Link: <…>; rel="next"`` header says the same. The
    first page also counts ``total``. ``page`` (with ``per_page``) still reads a page by
    number, as before cursors.
    """
    records = records_service()
    filters = _filters()
    level_key = request.args.get("level") or ""
    if level_key not in g.config.levels:
        raise InvalidQuery(f"level {'is required' if not level_key else repr(level_key) + ' is unknown'}; "
                           f"levels: {', '.join(g.config.levels)}")
    owner = request.args.get("owner") or None
    if owner not in (None, "me"):
        raise InvalidQuery("owner: only 'me' is supported")
    direction = request.args.get("dir") or "asc"
    if direction not in ("asc", "desc"):
        raise InvalidQuery("dir must be asc or desc")
    parent_id = _id_arg("parent")
    conditions: dict[str, Any] = {
        "parent": records.get(parent_id) if parent_id is not None else None, "q": request.args.get("q"),
        "stage": request.args.get("stage") or None, "filters": filters,
        "owner_id": g.actor.user_id if owner == "me" else None,
    }
    sort = request.args.get("sort") or "number"
    per_page = _int_arg("limit") or _int_arg("per_page", 25) or 25
    level = g.config.levels[level_key]
    if request.args.get("page") and not request.args.get("cursor"):
        page = records.search(level_key, sort=sort, descending=direction == "desc",
                              page=_int_arg("page", 1) or 1, per_page=per_page, **conditions)
        views = records.views(level, page.items)
        return jsonify(items=[record_json(records, r, views[r.id]) for r in page.items],
                       total=page.total, page=page.page, per_page=page.per_page, pages=page.pages)
    cursor = request.args.get("cursor") or None
    found = cursors.page(records, level_key, cursor=cursor, sort=sort, descending=direction == "desc",
                         limit=per_page, **conditions)
    views = records.views(level, found.items)
    body: dict[str, Any] = {"items": [record_json(records, r, views[r.id]) for r in found.items],
                            "next_cursor": found.next_cursor, "per_page": max(1, min(per_page, PER_PAGE_MAX))}
    if cursor is None:  # the first page: how many there are in all, as before cursors
        total = records.count(level_key, sort=sort, **conditions)
        body.update(total=total, page=1, pages=max(1, -(-total // body["per_page"])))
    response = jsonify(body)
    if found.next_cursor:
        response.headers["Link"] = f'<{_next_url(found.next_cursor)}>; rel="next"'
    return response


def _next_url(cursor: str) -> str:
    """This request's URL with ``cursor`` set (and no page number)."""
    args = request.args.to_dict(flat=False)
    args.pop("page", None)
    args["cursor"] = [cursor]
    return url_for(request.endpoint or "api.list_records", _external=True, **args)  # type: ignore[arg-type]


@bp.get("/records/<int:record_id>")
def read_record(record_id: int):  # type: ignore[no-untyped-def]
    records = records_service()
    return jsonify(_one(records, records.get(record_id)))


# -- writing -------------------------------------------------------------------------------
def _body(allowed: frozenset[str]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object with 'Content-Type: application/json'.")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Unknown properties {', '.join(unknown)}; send {', '.join(sorted(allowed))}.")
    return body


def _submission(level: Level, record: Record | None, title: Any, values: Any, owner: Any = None) -> Submission:
    """The body's title and values as the form post the engine parses and validates.

    Keys that are no field of the level, or whose field is hidden from the actor, are
    refused with the same words, so a refusal tells nothing about hidden fields.
    """
    if not isinstance(values, dict):
        raise BadRequest("'values' must be an object of field keys and values.")
    errors: dict[str, str] = {}
    if title is not None and not isinstance(title, str):
        errors["title"] = "Send a string."
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        fld = level.field(key)
        if fld is None or g.access.field_mode(fld, record, level.key) == "hidden":
            errors[key] = f"{level.label} has no field {key!r}."
            continue
        try:
            pairs += fld.kind.form_input(fld, value)
        except FieldInvalid as exc:
            errors[key] = str(exc)
    if owner is not None and (isinstance(owner, bool) or not isinstance(owner, int)):
        errors["owner"] = "Send the id of a member of the workspace."
    if errors:
        raise ValidationFailed(errors, values)
    return Submission(title=title, form=MultiDict(pairs), owner=owner)


def _parent(records: Records, parent_id: Any) -> Record | None:
    if parent_id is None:
        return None
    if isinstance(parent_id, bool) or not isinstance(parent_id, int):
        raise ValidationFailed({"parent": "Send the id of the parent record, or null."})
    if not is_id(parent_id):  # 0, negative or beyond what the database holds: no record has it
        raise ValidationFailed({"parent": "No such record."})
    try:
        return records.get(parent_id)
    except NotFound:
        raise ValidationFailed({"parent": "No such record."}) from None


@bp.post("/records")
def create_record():  # type: ignore[no-untyped-def]
    """Create a record: ``{"level", "parent", "title", "values"}`` -> 201 and its Location."""
    body = _body(CREATE_PROPERTIES)
    records = records_service()
    level = g.config.levels.get(body.get("level")) if isinstance(body.get("level"), str) else None
    if level is None:
        raise ValidationFailed({"level": f"Unknown level; levels: {', '.join(g.config.levels)}."})
    parent = _parent(records, body.get("parent"))
    record = records.create(level.key, parent, _submission(level, None, body.get("title"), body.get("values", {}),
                                                           body.get("owner")))
    record_id = record.id
    db.session.commit()
    response = jsonify(_one(records, records.get(record_id)))
    response.status_code = 201
    response.headers["Location"] = url_for("api.read_record", record_id=record_id, _external=True)
    return response


@bp.patch("/records/<int:record_id>")
def update_record(record_id: int):  # type: ignore[no-untyped-def]
    """Change a record: ``{"version", "title"?, "values"}``; the version is mandatory so that
    a script never overwrites a change it has not seen (409 when it is stale)."""
    body = _body(UPDATE_PROPERTIES)
    records = records_service()
    record = records.get(record_id)
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadRequest("'version' is required: send the version of the record you read, "
                         "so that a change saved since is not overwritten.")
    level = g.config.levels[record.level_key]
    submission = _submission(level, record, body.get("title", record.title), body.get("values", {}),
                             body.get("owner"))
    records.update(record, submission, version)
    db.session.commit()
    try:
        return jsonify(_one(records, records.get(record_id)))
    except NotFound:
        # Handed to a new owner, the record is out of the caller's sight: say so, show nothing.
        return jsonify(id=record_id, transferred=True)


# -- workflow: transitions, approvals, statuses, comments, the inbox --------------------------
REQUEST_PROPERTIES = frozenset({"comment"})
DECISION_PROPERTIES = frozenset({"decision", "comment"})
STATUS_PROPERTIES = frozenset({"value", "comment"})
COMMENT_PROPERTIES = frozenset({"body"})
INBOX_PARAMS = frozenset({"page", "per_page"})


def workflows() -> Workflows:
    """The workflow engine for this request's tenant and actor."""
    return Workflows(db.session, g.tenant.id, g.config, g.access)


def _optional_body(allowed: frozenset[str]) -> dict[str, Any]:
    """Like :func:`_body`, but a request without a body counts as ``{}`` (nothing to say)."""
    if not request.get_data(cache=True):
        return {}
    return _body(allowed)


def _text(body: Mapping[str, Any], key: str) -> str:
    """An optional string property (absent or null: empty)."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed({key: "Send a string."})
    return value


def user_ref(user: User | None) -> dict[str, Any] | None:
    return {"id": user.id, "name": user.name} if user is not None else None


def record_ref(record: Record) -> dict[str, Any]:
    """A record as lists of work name it: enough to find it and fetch it."""
    return {"id": record.id, "number": record.number, "title": record.title, "level": record.level_key,
            "stage": record.stage_key}


def _approved(record: Record, vote: ApprovalVote) -> dict[str, Any]:
    """What a vote was given on, without fields hidden from the caller."""
    level = g.config.levels[record.level_key]
    return {key: value for key, value in (vote.content or {}).items()
            if (fld := level.field(key)) is not None and g.access.field_mode(fld, record, level.key) != "hidden"}


def vote_json(record: Record, vote: ApprovalVote) -> dict[str, Any]:
    return {"user": user_ref(vote.user), "decision": vote.decision, "comment": vote.comment,
            "on_behalf_of": user_ref(vote.on_behalf_of), "at": _timestamp(vote.decided_at),
            "version": vote.record_version, "content_hash": vote.content_hash, "approved": _approved(record, vote)}


def step_json(task: ApprovalTask, votes: list[ApprovalVote], record: Record) -> dict[str, Any]:
    return {
        "id": task.id, "key": task.step_key, "label": task.label, "role": task.role, "state": task.state,
        "needed": task.needed, "due_at": _timestamp(task.due_at), "escalated_at": _timestamp(task.escalated_at),
        "reason": task.reason or None,
        "votes": [vote_json(record, v) for v in votes if v.task_id == task.id],
    }


def request_json(req: TransitionRequest, record: Record, tasks: list[ApprovalTask],
                 votes: list[ApprovalVote]) -> dict[str, Any]:
    """A transition request with its approval steps (in order) and every decision taken."""
    return {
        "id": req.id, "record_id": req.record_id, "transition": req.transition_key,
        "from": req.from_stage, "to": req.to_stage, "state": req.state,
        "requested_by": user_ref(req.requested_by), "requested_at": _timestamp(req.requested_at),
        "decided_at": _timestamp(req.decided_at), "comment": req.comment, "config_version": req.config_version,
        "steps": [step_json(t, votes, record) for t in tasks],
        **({"changes": req.changes} if req.changes is not None else {}),
    }


def _request_json(flow: Workflows, req: TransitionRequest, record: Record) -> dict[str, Any]:
    return request_json(req, record, flow.tasks(req), flow.votes(req))


def option_json(option: TransitionOption) -> dict[str, Any]:
    t = option.transition
    return {"key": t.key, "label": t.label, "to": t.target, "ready": option.ready,
            "missing": [{"field": m.field, "label": m.label, "message": m.message} for m in option.missing],
            "approvals": [{"key": s.key, "label": s.label, "role": s.role,
                           "roles": list(s.deciding_roles), "parallel_with_previous": s.parallel_with_previous,
                           "reason": option.reasons.get(s.key)}
                          for s in option.steps]}


def _request_of(flow: Workflows, request_id: int) -> tuple[TransitionRequest, Record]:
    """A request of this tenant whose record the actor may read, with the record; else 404."""
    req = db.session.scalar(select(TransitionRequest).where(
        TransitionRequest.id == request_id, TransitionRequest.tenant_id == g.tenant.id))
    if req is None:
        raise NotFound("no such request")
    return req, flow.records.get(req.record_id)  # NotFound when the record is not the actor's to read


@bp.get("/records/<int:record_id>/transitions")
def transitions(record_id: int):  # type: ignore[no-untyped-def]
    """The transitions the caller may request from the record's stage, with their gates."""
    flow = workflows()
    record = flow.records.get(record_id)
    pending = flow.pending_request(record)
    return jsonify(transitions=[option_json(o) for o in flow.options(record)],
                   pending=_request_json(flow, pending, record) if pending else None)


@bp.post("/records/<int:record_id>/transitions/<key>")
def request_transition(record_id: int, key: str):  # type: ignore[no-untyped-def]
    """Request a transition ``{"comment"?}``: 201 and the request (applied at once when no
    approval step applies); 422 with ``missing`` while the gate is closed."""
    flow = workflows()
    record = flow.records.get(record_id)
    comment = _text(_optional_body(REQUEST_PROPERTIES), "comment")
    req = flow.request(record, key, comment)
    return _request_created(flow, req.id)


def _request_created(flow: Any, request_id: int):  # type: ignore[no-untyped-def]
    """Commit a new request (a stage move or a plan change) and answer 201 with it."""
    db.session.commit()
    response = jsonify(_request_json(flow, *_request_of(flow, request_id)))
    response.status_code = 201
    response.headers["Location"] = url_for("api.read_request", request_id=request_id, _external=True)
    return response


PLAN_CHANGE_PROPERTIES = frozenset({"version", "values", "comment"})


@bp.post("/records/<int:record_id>/plan-changes")
def request_plan_change(record_id: int):  # type: ignore[no-untyped-def]
    """Ask for a change to frozen plan values or a locked period's values
    ``{"version", "values", "comment"?}``: 201 and the request, applied once approved."""
    body = _body(PLAN_CHANGE_PROPERTIES)
    flow = workflows()
    record = flow.records.get(record_id)
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadRequest("'version' is required: send the version of the record you read.")
    level = g.config.levels[record.level_key]
    submission = _submission(level, record, record.title, body.get("values", {}))
    req = flow.request_plan_change(record, submission, _text(body, "comment"), version)
    return _request_created(flow, req.id)


def _period_json(row: ReportingPeriod) -> dict[str, Any]:
    return {"period": row.period, "state": row.state, "opened_at": _timestamp(row.opened_at),
            "locked_at": _timestamp(row.locked_at)}


def _cycle() -> ReportingCycle:
    if "configuration" not in g.access.admin_rights:
        raise Forbidden("only a configuration administrator opens and locks reporting periods")
    return ReportingCycle(db.session, g.tenant.id, g.config, utcnow())


@bp.get("/periods")
def list_periods():  # type: ignore[no-untyped-def]
    """The reporting periods opened or locked so far."""
    return jsonify(items=[_period_json(r) for _, r in sorted(_cycle().periods().items())])


@bp.post("/periods/<period>/<any(open, lock, unlock):action>")
def change_period(period: str, action: str):  # type: ignore[no-untyped-def]
    """Open (owners of missing actuals are reminded), lock or unlock a reporting period."""
    cycle = _cycle()
    if action == "open":
        opened = cycle.open(period, g.actor.user_id)
        row, extra = opened.period, {"reminded": sum(len(n) for n in opened.reminded.values())}
    else:
        row, extra = getattr(cycle, action)(period, g.actor.user_id), {}
    db.session.commit()
    return jsonify({**_period_json(row), **extra})


@bp.get("/requests/<int:request_id>")
def read_request(request_id: int):  # type: ignore[no-untyped-def]
    flow = workflows()
    return jsonify(_request_json(flow, *_request_of(flow, request_id)))


@bp.post("/requests/<int:request_id>/withdraw")
def withdraw_request(request_id: int):  # type: ignore[no-untyped-def]
    """The requester takes a pending request back ``{"comment"?}``."""
    flow = workflows()
    _request_of(flow, request_id)
    comment = _text(_optional_body(REQUEST_PROPERTIES), "comment")
    flow.withdraw(request_id, comment)
    db.session.commit()
    return jsonify(_request_json(flow, *_request_of(flow, request_id)))


@bp.post("/approvals/<int:task_id>")
def decide(task_id: int):  # type: ignore[no-untyped-def]
    """Decide an open approval step ``{"decision": "approve"|"reject", "comment"?}`` (a
    rejection needs a comment); 409 when it was decided already."""
    flow = workflows()
    task, _ = flow.task(task_id)  # 404 for another tenant's or an unreadable record's step
    request_id = task.request_id
    body = _body(DECISION_PROPERTIES)
    # The engine checks who may decide before it looks at the decision itself.
    flow.decide(task_id, body.get("decision"), _text(body, "comment"))  # type: ignore[arg-type]
    db.session.commit()
    return jsonify(_request_json(flow, *_request_of(flow, request_id)))


def _request_summary(req: TransitionRequest) -> dict[str, Any]:
    """What an inbox entry says about the request a step belongs to."""
    return {"id": req.id, "record_id": req.record_id, "transition": req.transition_key, "from": req.from_stage,
            "to": req.to_stage, "requested_by": user_ref(req.requested_by),
            "requested_at": _timestamp(req.requested_at), "comment": req.comment}


def _paging_args() -> tuple[int, int]:
    for name in request.args:
        if name not in INBOX_PARAMS:
            raise InvalidQuery(f"unknown parameter {name!r}; use {', '.join(sorted(INBOX_PARAMS))}")
    return max(1, _int_arg("page", 1) or 1), _int_arg("per_page", 25) or 25


@bp.get("/inbox")
def inbox():  # type: ignore[no-untyped-def]
    """The caller's work: steps to decide (``on_behalf_of`` when as someone's deputy), their
    own open requests, their records whose gates are not met, overdue steps escalated
    to a forum or role they hold, and the open exceptions they answer for. Each section is
    one page (``page``, ``per_page``), read in a fixed number of queries; ``totals`` says how
    many each has in all, except those named in ``totals_capped``: counted up to 1,000 past
    the page's start, then at least that."""
    page, per_page = _paging_args()
    flow = workflows()
    box = flow.inbox
    waiting = box.approvals(page, per_page)
    mine = box.requests(page, per_page)
    blocked = box.blocked(page, per_page)
    escalated = box.escalated(page, per_page)
    cases = box.exceptions(page, per_page)
    step_votes = flow.approvals.votes_of({t.request_id for t in [i.task for i in waiting.items]
                                          + [t for t, _ in escalated.items]},
                                         [i.task.id for i in waiting.items] + [t.id for t, _ in escalated.items])
    request_ids = [r.id for r, _, _ in mine.items]
    tasks, votes = flow.approvals.tasks_of(request_ids), flow.approvals.votes_of(request_ids)
    principals = box.names(i.on_behalf_of for i in waiting.items)

    def inbox_step(task: ApprovalTask, record: Record) -> dict[str, Any]:
        return {**step_json(task, step_votes.get(task.request_id, []), record),
                "request": _request_summary(task.request), "record": record_ref(record)}

    return jsonify(
        approvals=[{**inbox_step(item.task, item.record), "overdue": item.overdue,
                    "on_behalf_of": {"id": item.on_behalf_of, "name": principals.get(item.on_behalf_of)}
                    if item.on_behalf_of else None}
                   for item in waiting.items],
        requests=[{**request_json(req, record, tasks[req.id], votes[req.id]), "record": record_ref(record)}
                  for req, record, _ in mine.items],
        blocked=[{"record": record_ref(record), "transitions": [option_json(o) for o in options]}
                 for record, options in blocked.items],
        escalated=[inbox_step(task, record) for task, record in escalated.items],
        exceptions=[_exception_json(case, record) for case, record in cases.items],
        page=page, per_page=waiting.per_page,
        totals={"approvals": waiting.total, "requests": mine.total, "blocked": blocked.total,
                "escalated": escalated.total, "exceptions": cases.total},
        # the sections whose total is a lower bound (the count stopped at its cap)
        totals_capped=["approvals"] if waiting.more else [],
    )


@bp.post("/records/<int:record_id>/status/<dimension>")
def set_status(record_id: int, dimension: str):  # type: ignore[no-untyped-def]
    """Change a status ``{"value", "comment"?}``; some values need a comment."""
    flow = workflows()
    record = flow.records.get(record_id)
    body = _body(STATUS_PROPERTIES)
    value = body.get("value")
    if not isinstance(value, str):
        raise ValidationFailed({"value": "Send the key of one of the status's options."})
    change = flow.set_status(record, dimension, value, _text(body, "comment"))
    db.session.commit()
    record = flow.records.get(record_id)
    history = flow.status_history(record).get(dimension, [])
    return jsonify(dimension=dimension, value=(record.values or {}).get(dimension), changed=change is not None,
                   history=[{"from": c.old_value, "to": c.new_value, "comment": c.comment,
                             "user": user_ref(c.user), "at": _timestamp(c.changed_at)} for c in history])


@bp.post("/records/<int:record_id>/comments")
def add_comment(record_id: int):  # type: ignore[no-untyped-def]
    """Comment on a record ``{"body"}``: 201 and the comment."""
    flow = workflows()
    record = flow.records.get(record_id)
    body = _body(COMMENT_PROPERTIES)
    text_ = body.get("body")
    if not isinstance(text_, str):
        raise ValidationFailed({"body": "Send the comment as a string."})
    entry = flow.comment(record, text_)
    db.session.commit()
    response = jsonify(id=entry.id, record_id=record_id, body=entry.body,
                       user={"id": g.actor.user_id, "name": g.actor.name},
                       created_at=_timestamp(entry.created_at))
    response.status_code = 201
    return response


# -- deleting and restoring ----------------------------------------------------------------
BIN_PARAMS = frozenset({"level", "cursor", "limit"})


@bp.delete("/records/<int:record_id>")
def delete_record(record_id: int):  # type: ignore[no-untyped-def]
    """Soft-delete a record (``?version=N`` of the record you read; 409 when stale or when
    records are still under it). It leaves every list, lookup, report and export; its
    history stays in the audit trail and ``POST …/restore`` brings it back."""
    records = records_service()
    record = records.get(record_id)
    version = _int_arg("version")
    if version is None:
        raise BadRequest("'version' is required (?version=N): send the version of the record you read, "
                         "so that a change saved since is not deleted unseen.")
    Deletion(records).delete(record, version)
    deleted_at, number = record.deleted_at, record.number
    db.session.commit()
    return jsonify(id=record_id, number=number, deleted=True, deleted_at=_timestamp(deleted_at),
                   restore_url=url_for("api.restore_record", record_id=record_id, _external=True))


@bp.post("/records/<int:record_id>/restore")
def restore_record(record_id: int):  # type: ignore[no-untyped-def]
    """Bring a deleted record back (the same ``delete`` right); 404 for one that is not
    deleted or not the caller's to restore, 409 while its parent is deleted."""
    records = records_service()
    Deletion(records).restore(record_id)
    db.session.commit()
    return jsonify(_one(records, records.get(record_id)))


@bp.get("/deleted")
def deleted_records():  # type: ignore[no-untyped-def]
    """The recycle bin: deleted records the caller may restore, newest deletion first,
    paged by ``cursor`` (``next_cursor`` of the page before)."""
    for name in request.args:
        if name not in BIN_PARAMS:
            raise InvalidQuery(f"unknown parameter {name!r}; use {', '.join(sorted(BIN_PARAMS))}")
    level_key = request.args.get("level") or None
    if level_key is not None and level_key not in g.config.levels:
        raise InvalidQuery(f"level {level_key!r} is unknown; levels: {', '.join(g.config.levels)}")
    after = _bin_cursor(request.args.get("cursor") or None)
    found = Deletion(records_service()).bin(level_key, after=after, limit=_int_arg("limit", 50) or 50)
    last = found.items[-1] if found.items and found.more else None
    return jsonify(items=[{**record_ref(r), "parent_id": r.parent_id, "deleted_at": _timestamp(r.deleted_at),
                           "restore_url": url_for("api.restore_record", record_id=r.id, _external=True)}
                          for r in found.items],
                   next_cursor=cursors.encode("deleted_at", True, last.deleted_at, last.id) if last else None)


def _bin_cursor(raw: str | None) -> tuple[dt.datetime, int] | None:
    if raw is None:
        return None
    value, record_id = cursors.decode(raw, "deleted_at", True)
    if not isinstance(value, dt.datetime):
        raise InvalidQuery("cursor is not one this API gave out; use next_cursor of the previous page")
    return value, record_id


# -- notifications -------------------------------------------------------------------------
def _notification_json(item: Notification) -> dict[str, Any]:
    return {"id": item.id, "kind": item.kind, "text": item.text, "record_id": item.record_id,
            "created_at": _timestamp(item.created_at), "read": item.read_at is not None}


@bp.get("/notifications")
def list_notifications():  # type: ignore[no-untyped-def]
    """The caller's notifications here, newest first: ``unread=1`` for unread only, ``before``
    (an id, from ``next_before``) for the next page, ``limit`` up to 200."""
    limit = max(1, min(_int_arg("limit", notifications.PAGE_SIZE) or 1, 200))
    before = _id_arg("before")
    items = notifications.page(db.session, g.tenant.id, g.actor.user_id, before=before,
                               unread_only=request.args.get("unread") == "1", limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return jsonify(items=[_notification_json(n) for n in items],
                   next_before=items[-1].id if more else None,
                   unread=notifications.unread_count(db.session, g.tenant.id, g.actor.user_id))


@bp.post("/notifications/read")
def read_notifications():  # type: ignore[no-untyped-def]
    """Mark ``{"ids": [...]}`` or ``{"all": true}`` read: how many were, and how many stay unread."""
    body = _body(frozenset({"ids", "all"}))
    ids = body.get("ids")
    if body.get("all") is True and ids is None:
        chosen = None
    elif isinstance(ids, list) and ids and all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        chosen = [i for i in ids if 0 < i < 2**63]
    else:
        raise ValidationFailed({"ids": "Send a non-empty list of notification ids, or \"all\": true."})
    marked = notifications.mark_read(db.session, g.tenant.id, g.actor.user_id, chosen, utcnow())
    db.session.commit()
    return jsonify(marked=marked, unread=notifications.unread_count(db.session, g.tenant.id, g.actor.user_id))


@bp.route("/notifications/preferences", methods=["GET", "PUT"])
def notification_preferences():  # type: ignore[no-untyped-def]
    """How notifications reach the caller by e-mail: ``{"notify_by_mail": "immediately" |
    "daily" | "off"}`` (for every workspace)."""
    user = db.session.get(User, g.actor.user_id)
    if request.method == "PUT":
        body = _body(frozenset({"notify_by_mail"}))
        notifications.set_mail_preference(db.session, user, body.get("notify_by_mail"))
        db.session.commit()
    return jsonify(notify_by_mail=user.notify_by_mail, choices=list(notifications.MAIL_CHOICES))


# -- exceptions ----------------------------------------------------------------------------
def _exception_json(case: ExceptionCase, record: Record) -> dict[str, Any]:
    rule = g.config.exception_rules.get(case.rule_key)
    return {"id": case.id, "rule": case.rule_key, "label": rule.label if rule else case.rule_key,
            "forum": rule.forum if rule else None, "state": case.state, "condition_holds": case.holds,
            "subject": _subject_json(case),
            "opened_at": _timestamp(case.opened_at), "due_at": _timestamp(case.due_at),
            "escalated_to": case.escalated_to, "closed_at": _timestamp(case.closed_at),
            "resolution": case.resolution or None, "record": record_ref(record)}


def _subject_json(case: ExceptionCase) -> dict[str, Any] | None:
    """A capacity case's person (user id) and period; None for a case about its record."""
    person, _, period = case.subject.partition("/")
    return {"person": int(person), "period": period} if case.subject else None


@bp.get("/exceptions")
def list_exceptions():  # type: ignore[no-untyped-def]
    """Exceptions on records the caller may read, oldest first: ``rule``, ``state`` (open,
    closed), ``forum``; ``after`` (an id, from ``next_after``) for the next page of ``limit``."""
    state = request.args.get("state")
    if state not in (None, "", "open", "closed"):
        raise InvalidQuery("state must be open or closed")
    limit = max(1, min(_int_arg("limit", 100) or 1, 500))
    found = exceptions.listing(db.session, g.tenant.id, g.config, g.access.read_filter(), rule=request.args.get("rule") or None,
                               state=state or None, forum=request.args.get("forum") or None,
                               after=_id_arg("after"), limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return jsonify(items=[_exception_json(c, r) for c, r in found], next_after=found[-1][0].id if more else None)


@bp.post("/exceptions/<int:case_id>/close")
def close_exception(case_id: int):  # type: ignore[no-untyped-def]
    """Close an exception ``{"resolution"}`` (its owners or forum, with its evidence in place)."""
    case = db.session.scalar(select(ExceptionCase).where(ExceptionCase.tenant_id == g.tenant.id,
                                                         ExceptionCase.id == case_id))
    if case is None:
        raise NotFound("no such exception")
    records = records_service()
    record = records.get(case.record_id)
    body = _body(frozenset({"resolution"}))
    values = records.stored_values(record, g.config.levels[record.level_key])
    closed = exceptions.close(db.session, g.tenant.id, g.config, case_id, record, values, g.actor.user_id,
                              _text(body, "resolution"), utcnow())
    db.session.commit()
    return jsonify(_exception_json(closed, record))
