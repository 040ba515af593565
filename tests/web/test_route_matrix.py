"""The access matrix: for each demo tenant, each role, each level, each action and each
route (HTML and API), the answer is what the tenant's JSON says.

The expectation is read from the raw roles.json by a small oracle written here, not by
the engine's :class:`Access`, so the test checks the engine against the configuration
rather than against itself. Every route of the app must be classified below; a new
route that nobody classified fails :func:`test_every_route_is_in_the_matrix`.

A refused action answers 404 when the user may not even read the record (its existence
is not theirs to learn) and 403 when they may read it but not do this.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from werkzeug.security import generate_password_hash

from steerco.demo import load_demo
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.fields import Upload
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import (
    ApprovalTask, Attachment, Delegation, Record, ReportJob, Tenant, TransitionRequest, User,
)

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
PASSWORD = "matrix-password"
#: where a role that is not tenant-wide is granted in each demo tenant
ANCHORS = {"acme": "Procurement 2027", "servicedesk": "Workplace Services"}
#: the evidence field a test file is attached to, per tenant and level
EVIDENCE = {"acme": ("measure", "business_case"), "servicedesk": ("improvement", "root_cause_evidence")}

# -- every route, by what it does ----------------------------------------------------------
#: endpoints anyone may call, or that need only a login and touch no tenant data
OPEN = {"static", "auth.login", "auth.logout", "auth.home", "api_problems.problems"}
#: pages a mailed single-use link opens (a password reset, an invitation): the link's token
LINKS = {"auth.forgot_password", "auth.reset_password", "account.invitation"}
#: personal pages (the user's own API tokens and password): a login, no tenant right
PERSONAL = {"account.token_list", "account.token_create", "account.token_revoke", "account.password"}
#: tenant administration: the "users" admin right of a role
ADMIN = {"admin.users", "admin.new_user", "admin.user", "admin.grant", "admin.revoke",
         "admin.deactivate", "admin.reactivate", "admin.resend_invitation", "admin.withdraw_invitation",
         "api.list_members", "api.read_member", "api.grant_role", "api.revoke_role", "api.invite_member",
         "api.deactivate_member", "api.reactivate_member", "api.set_member_capacity",
         "admin.capacity"}
#: configuration versions: the "configuration" admin right of a role held tenant-wide
CONFIG = {"config_admin.versions", "config_admin.new_draft", "config_admin.version", "config_admin.diff",
          "config_admin.impact", "config_admin.edit_file", "config_admin.activate", "config_admin.rollback",
          "config_admin.discard", "config_admin.rebase", "config_admin.choose_identity",
          "config_admin.screens_entry", "config_admin.screen", "config_admin.new_item", "config_admin.add_item",
          "config_admin.update_item", "config_admin.move_item", "config_admin.remove_item",
          "config_admin.confirm_remove", "config_admin.check_expression", "config_admin.report_preview",
          "api.list_periods", "api.change_period"}
#: creating workspaces: a platform right (User.is_consultant), no tenant role
CONSULTANT = {"workspaces.new", "workspaces.admin_roles"}
#: GET a record (its transitions, a request on it): read
READ = {"records.view", "records.record_history", "records.record_pdf", "api.read_record", "api.transitions",
        "api.read_request", "api.record_pdf"}
#: change a record: update (evidence uploads: update, and the field's write right)
UPDATE = {"records.edit", "api.update_record", "api.upload_files", "api.request_plan_change"}
#: delete a record and bring it back: the delete action (the bin lists what the caller may restore)
DELETE = {"api.delete_record", "api.restore_record", "recycle.delete_record", "recycle.restore_record",
          "recycle.deleted_records"}
#: create a child under a record: create at the child level (the lookup search serves the
#: same forms: create under ?parent=, or update of ?record=)
CREATE = {"records.create", "api.create_record", "records.form_state", "records.lookup_search"}
#: lists of a level under a parent (or the top): read, and rows filtered by read
LISTS = {"records.children", "records.export", "records.export_xlsx", "api.list_records"}
#: an attachment: read of its record plus a visible field
ATTACHMENT = {"records.attachment", "api.download_attachment"}
#: the workspace start page, my records, the to-do inbox and one's delegations: membership
WORKSPACE = {"workspace.home", "workspace.mine", "workflow.inbox", "workflow.delegations", "api.inbox", "theme.stylesheet",
             "api.user_directory", "api.read_user", "api.roles", "api.deleted_records", "api.openapi_json",
             "api_docs.docs"}
#: workflow actions on a record: transition, update (statuses), comment
RECORD_ACTIONS = {"workflow.request_transition", "workflow.set_status", "workflow.add_comment",
                  "api.request_transition", "api.set_status", "api.add_comment"}
#: a pending request's approval step (approve, by role at the record) and its withdrawal (requester)
REQUESTS = {"workflow.decide", "workflow.withdraw", "api.decide", "api.withdraw_request"}
#: someone else's delegation: never theirs to revoke
DELEGATION = {"workflow.revoke_delegation"}
#: the list of reports: membership (it lists only the reports whose audience holds a role of theirs)
REPORT_LIST = {"reports.index", "reports_api.report_list"}
#: a report as a page, its PDF, its JSON: a role in the report's audience, else 404
REPORTS = {"reports.view", "reports.pdf", "reports_api.report_data", "reports_api.report_pdf", "reports.records",
           "reports.tables_xlsx"}
#: a report job's progress and its PDF: the person who asked for it, nobody else (404)
# taking a snapshot: a role the report's snapshot_by names (403 for the rest of its audience)
REPORT_SNAPSHOTS = {"reports.take_snapshot"}

REPORT_JOBS = {"reports.job", "reports.download", "reports_api.report_job", "reports_api.download_report"}
#: one's own notifications in a workspace and how they are mailed: membership; ids of
#: someone else's notifications change nothing (tests/web/test_notifications.py)
NOTIFICATIONS = {"notifications.index", "notifications.mark_read", "notifications.preferences",
                 "api.list_notifications", "api.read_notifications", "api.notification_preferences"}
#: a record's exception closed by its owners or forum (tests/web/test_exception_rules.py); the
#: list of exceptions: membership, rows filtered by read
EXCEPTIONS = {"records.close_exception", "api.close_exception", "api.list_exceptions"}
#: spreadsheet imports: starting one needs a level the member may create somewhere (else 404);
#: an import is its uploader's only (404 for anyone else); each row is created (or refused)
#: by the record engine's create right at its place (tests/web/test_imports.py)
IMPORTS = {"imports.new", "imports.upload", "imports.index", "imports.show", "imports.status",
           "imports.mapping", "imports.replace", "imports.run", "imports_api.api_import"}


def classified() -> set[str]:
    return (OPEN | LINKS | PERSONAL | ADMIN | CONFIG | CONSULTANT | READ | UPDATE | CREATE | LISTS | ATTACHMENT
            | WORKSPACE | RECORD_ACTIONS | REQUESTS | DELEGATION | REPORT_LIST | REPORTS | REPORT_JOBS | DELETE
            | REPORT_SNAPSHOTS
            | NOTIFICATIONS | EXCEPTIONS | IMPORTS)


def test_every_route_is_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - classified() == set(), "classify these routes in the access matrix"
    assert classified() - endpoints == set(), "routes in the matrix that no longer exist"


# -- the oracle: what roles.json says ------------------------------------------------------
@dataclass
class Oracle:
    roles: dict[str, dict[str, Any]]
    level_fields: dict[str, set[str]]

    @classmethod
    def of(cls, slug: str) -> "Oracle":
        roles = json.loads((TENANTS / slug / "roles.json").read_text())["roles"]
        levels = json.loads((TENANTS / slug / "levels.json").read_text())["levels"]
        return cls({r["key"]: r for r in roles},
                   {lv["key"]: {f for s in lv["sections"] for f in s["fields"]} for lv in levels})

    def _role_allows(self, role: str, node_path: str | None, user_id: int, action: str,
                     level: str, target: Record | None) -> bool:
        for permission in self.roles[role]["permissions"]:
            if action not in permission["actions"] or ("*" not in permission["levels"]
                                                       and level not in permission["levels"]):
                continue
            if permission["scope"] == "tenant":
                return True
            inside = node_path is None or (target is not None and target.path.startswith(node_path))
            if permission["scope"] == "subtree" or action == "create":
                if inside:
                    return True
            elif inside and target is not None and target.owner_id == user_id:
                return True
        return False

    def allows(self, grants: list[tuple[str, str | None]], user_id: int, action: str, level: str,
               target: Record | None) -> bool:
        """``action`` on a record of ``level`` (for create: under ``target``, the parent)."""
        if any(self._role_allows(r, n, user_id, action, level, target) for r, n in grants):
            return True
        # A role that reads the record and may write one of its fields by override may update.
        return action == "update" and any(
            self._role_allows(r, n, user_id, "read", level, target)
            and any(mode == "write" and key in self.level_fields[level]
                    for key, mode in self.roles[r].get("fields", {}).items())
            for r, n in grants)

    def field_hidden(self, grants: list[tuple[str, str | None]], field_key: str) -> bool:
        return all(self.roles[r].get("fields", {}).get(field_key) == "hidden" for r, _ in grants)


# -- the world the matrix runs in -----------------------------------------------------------
@dataclass
class Person:
    role: str
    user: User
    grants: list[tuple[str, str | None]]
    token: str


@dataclass
class World:
    slug: str
    tenant: Tenant
    records: list[Record]
    attachment: Attachment
    task: ApprovalTask
    delegation: Delegation
    report_job: ReportJob
    people: list[Person] = field(default_factory=list)


def _build(session, slug: str, upload_dir: Path) -> World:  # type: ignore[no-untyped-def]
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    config = tenants.active_config(session, tenant)
    anchor = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.title == ANCHORS[slug]))
    everything = list(session.scalars(select(Record).where(Record.tenant_id == tenant.id).order_by(Record.id)))
    # One attachment on a record inside the anchor, by an admin.
    level_key, field_key = EVIDENCE[slug]
    admin = session.scalar(select(User).where(User.email == f"admin@{slug}.example"))
    target = next(r for r in everything if r.level_key == level_key and r.path.startswith(anchor.path))
    service = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)),
                      DiskBlobStore(upload_dir))
    service.update(target, Submission(target.title, MultiDict(), {field_key: [
        Upload("case.xlsx", "application/octet-stream", b"the business case")]}), target.version)
    attachment = session.scalar(select(Attachment).where(Attachment.record_id == target.id))
    task, delegation = _pending_work(session, tenant, target, admin)
    world = World(slug, tenant, everything, attachment, task, delegation, _admins_report(session, tenant, admin,
                                                                                         upload_dir))
    for n, (role_key, role) in enumerate(config.roles.items()):
        tenant_wide = all(p.scope == "tenant" for p in role.permissions)
        node = None if tenant_wide else anchor
        user = User(email=f"matrix-{n}-{role_key}@{slug}.example", name=f"Matrix {role_key}",
                    password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"), is_active=True)
        session.add(user)
        session.flush()
        tenants.add_member(session, tenant, user, [(role_key, node.id if node else None)])
        _, plaintext = tokens.create_token(session, user, "matrix")
        world.people.append(Person(role_key, user, [(role_key, node.path if node else None)], plaintext))
    session.commit()
    return world


#: per tenant, the role that decides the pending approval step the matrix tries to decide
APPROVER = {"acme": "program_manager", "servicedesk": "service_line_manager"}


def _pending_work(session, tenant: Tenant, record: Record, admin: User) -> tuple[ApprovalTask, Delegation]:  # type: ignore[no-untyped-def]
    """An approval step waiting on ``record`` (requested by the admin), and the admin's
    delegation to a colleague: rows as the engine leaves them, set up directly."""
    request = TransitionRequest(tenant_id=tenant.id, record_id=record.id, workflow_key="any", transition_key="any",
                                config_version=1, from_stage=record.stage_key or "", to_stage="any",
                                requested_by_id=admin.id, state="pending")
    session.add(request)
    session.flush()
    task = ApprovalTask(tenant_id=tenant.id, request_id=request.id, record_id=record.id, position=0,
                        step_key="check", label="Check", role=APPROVER[tenant.slug], needed=1, state="pending")
    deputy = session.scalar(select(User).where(User.email == "consultant@steerco.example"))
    delegation = Delegation(tenant_id=tenant.id, user_id=admin.id, deputy_id=deputy.id,
                            starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2027, 1, 1))
    session.add_all([task, delegation])
    session.flush()
    return task, delegation


def _admins_report(session, tenant: Tenant, admin: User, upload_dir: Path) -> ReportJob:  # type: ignore[no-untyped-def]
    """A finished report PDF the administrator asked for: nobody else may follow its link."""
    key = next(iter(json.loads((TENANTS / tenant.slug / "reports.json").read_text())["reports"]))["key"]
    job = ReportJob(tenant_id=tenant.id, user_id=admin.id, report_key=key, params={}, cache_key="admin",
                    config_version=1, data_version=1, state="done", progress=100,
                    result_key=DiskBlobStore(upload_dir).put(tenant.id, b"%PDF-1.7 admin's report"), filename="a.pdf")
    session.add(job)
    session.flush()
    return job


def _samples(world: World, person: Person) -> list[Record]:
    """Per level: a record the person owns, one they do not own inside their anchor, one outside."""
    anchor_path = next((n for _, n in person.grants if n), None)
    picked: list[Record] = []
    for level in dict.fromkeys(r.level_key for r in world.records):
        rows = [r for r in world.records if r.level_key == level]
        inside = [r for r in rows if anchor_path and r.path.startswith(anchor_path)]
        outside = [r for r in rows if not (anchor_path and r.path.startswith(anchor_path))]
        picked += inside[:2] + outside[:1] if anchor_path else rows[:2]
    return picked


def _own(session, world: World, person: Person, records: list[Record]) -> None:  # type: ignore[no-untyped-def]
    """Make the person the owner of the first sample of each level (and nothing else)."""
    first: dict[str, Record] = {}
    for r in records:
        first.setdefault(r.level_key, r)
    owned = {r.id for r in first.values()}
    for r in world.records:
        if r.id in owned:
            session.execute(update(Record).where(Record.id == r.id).values(owner_id=person.user.id))
    session.commit()
    session.expire_all()


@dataclass
class Check:
    route: str
    expected: int | tuple[int, ...]
    got: int

    def __bool__(self) -> bool:
        return self.got in (self.expected if isinstance(self.expected, tuple) else (self.expected,))


def _refusal(may_read: bool) -> int:
    return 403 if may_read else 404


def _run_person(client, session, world: World, oracle: Oracle, person: Person, config,  # type: ignore[no-untyped-def]
                answers: Counter[int]) -> list[str]:
    failures: list[str] = []
    samples = _samples(world, person)
    _own(session, world, person, samples)
    samples = [session.get(Record, r.id) for r in samples]
    api = {"Authorization": f"Bearer {person.token}"}
    assert client.post("/login", data={"email": person.user.email, "password": PASSWORD}).status_code == 302
    t = f"/t/{world.slug}"

    def expect(route: str, expected: int | tuple[int, ...], response) -> None:  # type: ignore[no-untyped-def]
        check = Check(route, expected, response.status_code)
        answers[response.status_code] += 1
        if not check:
            failures.append(f"{person.role}: {route} -> {check.got}, expected {check.expected}")

    def allows(action: str, level: str, target: Record | None) -> bool:
        return oracle.allows(person.grants, person.user.id, action, level, target)

    seen_pdf: set[str] = set()
    for record in samples:
        level = record.level_key
        readable = allows("read", level, record)
        ok = 200 if readable else 404
        expect(f"GET view {record.number}", ok, client.get(f"{t}/r/{record.id}"))
        expect(f"GET history {record.number}", ok, client.get(f"{t}/r/{record.id}/history"))
        expect(f"GET api record {record.number}", ok, client.get(f"/api{t}/records/{record.id}", headers=api))
        expect(f"GET api transitions {record.number}", ok,
               client.get(f"/api{t}/records/{record.id}/transitions", headers=api))
        if level not in seen_pdf:
            seen_pdf.add(level)
            expect(f"GET pdf {record.number}", ok, client.get(f"{t}/r/{record.id}/pdf"))
        may_update = allows("update", level, record)
        update_ok = 200 if may_update else _refusal(readable)
        expect(f"GET edit {record.number}", update_ok, client.get(f"{t}/r/{record.id}/edit"))
        expect(f"POST edit {record.number}", (303, 422) if may_update else _refusal(readable),
               client.post(f"{t}/r/{record.id}/edit", data={"title": record.title, "version": record.version}))
        expect(f"PATCH api {record.number}", (200, 422) if may_update else _refusal(readable),
               client.patch(f"/api{t}/records/{record.id}", json={"version": record.version, "values": {}},
                            headers=api))
        # With a version that never was: whoever may delete gets as far as the version check
        # (409) and nothing is deleted; the rest are refused.
        may_delete = allows("delete", level, record)
        expect(f"DELETE api {record.number}", 409 if may_delete else _refusal(readable),
               client.delete(f"/api{t}/records/{record.id}?version={record.version + 1000}", headers=api))
        expect(f"POST api restore {record.number} (not deleted)", 404,
               client.post(f"/api{t}/records/{record.id}/restore", headers=api))
        expect(f"GET delete {record.number}", 200 if may_delete else _refusal(readable),
               client.get(f"{t}/r/{record.id}/delete"))
        expect(f"POST delete {record.number} (stale)", 303 if may_delete else _refusal(readable),
               client.post(f"{t}/r/{record.id}/delete", data={"version": record.version + 1000}))
        session.expire_all()
        record = session.get(Record, record.id)
        _check_record_actions(client, t, oracle, person, config, record, readable, expect)
        for child in config.levels[level].children:
            may_create = allows("create", child, record)
            refused = _refusal(readable)
            expect(f"GET new {child} under {record.number}", 200 if may_create else refused,
                   client.get(f"{t}/new/{child}?parent={record.id}"))
            # An empty title: allowed callers reach validation (422) and nothing is created.
            expect(f"POST new {child} under {record.number}", 422 if may_create else refused,
                   client.post(f"{t}/new/{child}?parent={record.id}", data={"title": ""}))
            expect(f"POST form state {child} under {record.number}", 200 if may_create else refused,
                   client.post(f"{t}/form/{child}/state?parent={record.id}", data={"title": ""}))
            api_create = client.post(f"/api{t}/records", headers=api,
                                     json={"level": child, "parent": record.id, "title": "", "values": {}})
            expect(f"POST api {child} under {record.number}", 422 if may_create else (403 if readable else 422),
                   api_create)
            if not may_create and not readable:
                # The API names no hidden parent: the refusal is about the field "parent".
                assert "parent" in api_create.get_json()["error"].get("fields", {})
            _check_lists(client, t, api, world, oracle, person, record, child, readable, expect, failures)
    _check_top_and_attachment(client, t, world, oracle, person, config, expect)
    _check_requests(client, t, world, oracle, person, expect)
    _check_reports(client, t, world, person, expect, failures)
    return failures


def _check_reports(client, t, world, person, expect, failures) -> None:  # type: ignore[no-untyped-def]
    """Reports by audience (read from reports.json): the page, JSON and PDF answer 200 (the PDF
    a 303 to its job) for a role in the audience and 404 otherwise; the list names exactly
    those; a job is its requester's alone."""
    api = {"Authorization": f"Bearer {person.token}"}
    reports = json.loads((TENANTS / world.slug / "reports.json").read_text())["reports"]
    listed = client.get(f"{t}/reports")
    expect("GET reports", 200, listed)
    for raw in reports:
        allowed = any(role in raw["audience"] for role, _ in person.grants)
        if (raw["title"] in listed.get_data(as_text=True)) != allowed:
            failures.append(f"{person.role}: reports list {'lacks' if allowed else 'shows'} {raw['key']}")
        expect(f"GET report {raw['key']}", 200 if allowed else 404, client.get(f"{t}/reports/{raw['key']}"))
        expect(f"GET api report {raw['key']}", 200 if allowed else 404,
               client.get(f"/api{t}/reports/{raw['key']}", headers=api))
        expect(f"GET report {raw['key']} tables as Excel", 200 if allowed else 404,
               client.get(f"{t}/reports/{raw['key']}.xlsx"))
        pdf = client.get(f"{t}/reports/{raw['key']}.pdf")
        expect(f"GET report pdf {raw['key']}", 303 if allowed else 404, pdf)
        if allowed:
            expect(f"GET own report job {raw['key']}", 200, client.get(pdf.headers["Location"]))
        snapshots = any(role in raw.get("snapshot_by", ()) for role, _ in person.grants)
        expect(f"POST snapshot of {raw['key']}", 303 if allowed and snapshots else 403 if allowed else 404,
               client.post(f"{t}/reports/{raw['key']}/snapshots", data={"label": "matrix"}))
    job = world.report_job.id
    expect("GET another's report job", 404, client.get(f"{t}/reports/jobs/{job}"))
    expect("GET another's report download", 404, client.get(f"{t}/reports/jobs/{job}/download"))


HTMX = {"HX-Request": "true"}


def _check_record_actions(client, t, oracle, person, config, record, readable, expect) -> None:  # type: ignore[no-untyped-def]
    """Request a transition, change a status, comment: refused (403/404) or let through to the
    engine's next check (an empty comment or status is 422; a gate refuses with 422)."""
    level = config.levels[record.level_key]
    workflow = config.workflow_of(level)
    transition = next((tr for tr in workflow.transitions if record.stage_key in tr.sources), None) if workflow else None
    api = {"Authorization": f"Bearer {person.token}"}
    if transition is not None:
        may = any(r in transition.roles and oracle._role_allows(r, n, person.user.id, "transition", level.key, record)
                  for r, n in person.grants)
        # Through the API first, with a comment too long to pass: whoever may request gets as far
        # as the gate or the comment (422) or a request in flight (409), and nothing moves.
        expect(f"POST api transition {transition.key} {record.number}", (409, 422) if may else _refusal(readable),
               client.post(f"/api{t}/records/{record.id}/transitions/{transition.key}", headers=api,
                           json={"comment": "x" * 5001}))
        expect(f"POST transition {transition.key} {record.number}",
               (200, 409, 422) if may else _refusal(readable),
               client.post(f"{t}/r/{record.id}/transitions/{transition.key}", headers=HTMX, data={}))
    for dimension in config.status_dimensions.values():
        if level.key in dimension.levels:
            # A status changes with the update action itself, not with a write override of
            # another field (the controller validates benefits, not statuses).
            may = any(oracle._role_allows(r, n, person.user.id, "update", level.key, record) for r, n in person.grants)
            expect(f"POST status {dimension.key} {record.number}", 422 if may else _refusal(readable),
                   client.post(f"{t}/r/{record.id}/status/{dimension.key}", headers=HTMX, data={"value": ""}))
            expect(f"POST api status {dimension.key} {record.number}", 422 if may else _refusal(readable),
                   client.post(f"/api{t}/records/{record.id}/status/{dimension.key}", headers=api,
                               json={"value": ""}))
    may = oracle.allows(person.grants, person.user.id, "comment", level.key, record)
    expect(f"POST comment {record.number}", 422 if may else _refusal(readable),
           client.post(f"{t}/r/{record.id}/comments", headers=HTMX, data={"body": ""}))
    expect(f"POST api comment {record.number}", 422 if may else _refusal(readable),
           client.post(f"/api{t}/records/{record.id}/comments", headers=api, json={"body": ""}))


def _check_requests(client, t, world, oracle, person, expect) -> None:  # type: ignore[no-untyped-def]
    """The pending step: its role at the record decides (an empty reject is 422), nobody else;
    only the requester (the admin, no matrix person) may withdraw; nobody revokes another's delegation."""
    task = world.task
    record = next(r for r in world.records if r.id == task.record_id)
    readable = oracle.allows(person.grants, person.user.id, "read", record.level_key, record)
    may = any(r == task.role and oracle._role_allows(r, n, person.user.id, "approve", record.level_key, record)
              for r, n in person.grants)
    expect("POST decide", 422 if may else _refusal(readable),
           client.post(f"{t}/tasks/{task.id}/decision", headers=HTMX, data={"decision": "reject", "comment": ""}))
    expect("POST withdraw", _refusal(readable),
           client.post(f"{t}/requests/{task.request_id}/withdraw", headers=HTMX, data={}))
    api = {"Authorization": f"Bearer {person.token}"}
    expect("POST api decide", 422 if may else _refusal(readable),
           client.post(f"/api{t}/approvals/{task.id}", headers=api, json={"decision": "reject", "comment": ""}))
    expect("POST api withdraw", _refusal(readable),
           client.post(f"/api{t}/requests/{task.request_id}/withdraw", headers=api))
    expect("GET api request", 200 if readable else 404, client.get(f"/api{t}/requests/{task.request_id}", headers=api))
    expect("GET api inbox", 200, client.get(f"/api{t}/inbox", headers=api))
    expect("POST revoke delegation", 404, client.post(f"{t}/delegations/{world.delegation.id}/revoke"))
    expect("GET inbox", 200, client.get(f"{t}/inbox"))
    expect("GET delegations", 200, client.get(f"{t}/delegations"))


def _check_lists(client, t, api, world, oracle, person, parent, child, readable, expect, failures) -> None:  # type: ignore[no-untyped-def]
    expected_rows = {r.number for r in world.records if r.parent_id == parent.id and r.level_key == child
                     and oracle.allows(person.grants, person.user.id, "read", child, r)}
    html = client.get(f"{t}/r/{parent.id}/list/{child}?per_page=200")
    csv = client.get(f"{t}/r/{parent.id}/list/{child}/export.csv")
    xlsx = client.get(f"{t}/r/{parent.id}/list/{child}/export.xlsx")
    listing = client.get(f"/api{t}/records?level={child}&parent={parent.id}&per_page=200", headers=api)
    for name, response in (("list", html), ("export", csv), ("excel export", xlsx), ("api list", listing)):
        expect(f"GET {name} {child} under {parent.number}", 200 if readable else 404, response)
    if not readable:
        return
    children = [r.number for r in world.records if r.parent_id == parent.id and r.level_key == child]
    for name, body in (("list", html.get_data(as_text=True)), ("export", csv.get_data(as_text=True)),
                       ("excel export", _sheet_text(xlsx.data))):
        shown = {n for n in children if n in body}
        if shown != expected_rows:
            failures.append(f"{person.role}: {name} {child} under {parent.number} shows {sorted(shown)}, "
                            f"expected {sorted(expected_rows)}")
    api_rows = {item["number"] for item in listing.get_json()["items"]}
    if api_rows != expected_rows:
        failures.append(f"{person.role}: api list {child} under {parent.number} gives {sorted(api_rows)}, "
                        f"expected {sorted(expected_rows)}")


def _sheet_text(data: bytes) -> str:
    """Every cell of a workbook's first sheet, as one text to look record numbers up in."""
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return "\n".join(str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None)


def _check_top_and_attachment(client, t, world, oracle, person, config, expect) -> None:  # type: ignore[no-untyped-def]
    expect("GET workspace", 200, client.get(f"{t}/"))
    for level in config.root_levels:
        may_create = oracle.allows(person.grants, person.user.id, "create", level.key, None)
        expect(f"GET new top-level {level.key}", 200 if may_create else 403, client.get(f"{t}/new/{level.key}"))
    for level in config.levels.values():  # every level's list across the workspace (rows: read)
        expect(f"GET list of all {level.key}", 200, client.get(f"{t}/list/{level.key}"))
    expect("GET my records", 200, client.get(f"{t}/mine"))
    att = world.attachment
    record = next(r for r in world.records if r.id == att.record_id)
    visible = oracle.allows(person.grants, person.user.id, "read", record.level_key, record) \
        and not oracle.field_hidden(person.grants, att.field_key)
    expect("GET attachment", 200 if visible else 404, client.get(f"{t}/attachments/{att.id}"))
    api = {"Authorization": f"Bearer {person.token}"}
    expect("GET api attachment", 200 if visible else 404, client.get(f"/api{t}/attachments/{att.id}", headers=api))
    admin = any("users" in config.roles[r].admin for r, n in person.grants if n is None)
    directory = client.get(f"/api{t}/users", headers=api)
    expect("GET api users", 200, directory)
    assert all(("email" in p) == admin for p in directory.get_json()["items"])
    expect("GET api roles", 200, client.get(f"/api{t}/roles", headers=api))
    expect("GET api deleted", 200, client.get(f"/api{t}/deleted", headers=api))
    expect("GET deleted", 200, client.get(f"{t}/deleted"))
    expect("GET api members", 200 if admin else 403, client.get(f"/api{t}/members", headers=api))
    expect("GET api member", 200 if admin else 403,
           client.get(f"/api{t}/members/{world.people[0].user.id}", headers=api))
    expect("POST api invite (empty)", 422 if admin else 403, client.post(f"/api{t}/members", headers=api, json={}))
    expect("POST api grant (empty)", 422 if admin else 403,
           client.post(f"/api{t}/members/{world.people[0].user.id}/roles", headers=api, json={}))
    other = world.people[0].user.id
    expect("GET admin users", 200 if admin else 403, client.get(f"{t}/admin/users"))
    expect("GET admin user", 200 if admin else 403, client.get(f"{t}/admin/users/{other}"))
    expect("GET admin new user", 200 if admin else 403, client.get(f"{t}/admin/users/new"))
    expect("POST admin grant (empty)", 422 if admin else 403, client.post(f"{t}/admin/users/{other}/roles", data={}))
    expect("GET own tokens", 200, client.get("/account/tokens"))
    configures = any("configuration" in config.roles[r].admin for r, n in person.grants if n is None)
    version = world.tenant.active_config_id
    expect("GET config versions", 200 if configures else 403, client.get(f"{t}/admin/config"))
    expect("GET config version", 200 if configures else 403, client.get(f"{t}/admin/config/versions/{version}"))
    expect("GET config diff", 200 if configures else 403, client.get(f"{t}/admin/config/versions/{version}/diff"))
    expect("GET config impact", 200 if configures else 403,
           client.get(f"{t}/admin/config/versions/{version}/impact"))
    # Unconfirmed: an administrator reaches the form's own check (422), nothing is activated.
    expect("POST config activate (unconfirmed)", 422 if configures else 403,
           client.post(f"{t}/admin/config/versions/{version}/activate", data={"comment": "x"}))
    expect("GET new workspace (no consultant)", 403, client.get("/workspaces/new"))

    expect("GET own password", 200, client.get("/account/password"))
    expect("GET theme", 200, client.get(f"{t}/theme.css"))
    expect("POST admin resend invitation (a member who joined)", 409 if admin else 403,
           client.post(f"{t}/admin/users/{other}/invitation"))


class _QueuedOnly:
    """The matrix asks for PDFs only to see who may: their jobs are queued, never rendered."""

    def submit(self, job_id: int) -> None:
        pass


@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_every_role_gets_what_the_configuration_says(app, client, session, upload_dir, slug,  # type: ignore[no-untyped-def]
                                                      monkeypatch) -> None:
    monkeypatch.setitem(app.extensions, "steerco.report_runner", _QueuedOnly())
    load_demo(session)
    session.commit()
    world = _build(session, slug, upload_dir)
    config = tenants.active_config(session, world.tenant)
    oracle = Oracle.of(slug)
    failures: list[str] = []
    answers: Counter[int] = Counter()
    for person in world.people:
        failures += _run_person(client, session, world, oracle, person, config, answers)
    assert failures == [], "\n".join(failures)
    # The matrix exercised every kind of answer, many times over.
    assert sum(answers.values()) > 300 and all(answers[code] > 10 for code in (200, 303, 403, 404, 422)), answers
