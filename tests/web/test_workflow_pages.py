"""The workflow screens through the test client, on the acme demo: the record page's
workflow panel (gates with links to the fields, requests, approvals, withdrawal), statuses
with their own history, comments, the to-do inbox with its count in the navigation, and
delegation; plus who may do what, and ids of another workspace answering 404.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.demo import DEMO_PASSWORD
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import Workflows, escalate_overdue
from steerco.fields import Upload
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import ApprovalTask, Delegation, Record, Tenant, TransitionRequest, User, utcnow

MEASURE = "Consolidate PCB suppliers"  # the owner's, potential 425,000: the CFO step applies
HTMX = {"HX-Request": "true", "HX-Target": "workflow"}


@pytest.fixture
def acme(demo_workspaces):  # type: ignore[no-untyped-def]
    """The demo workspaces (cheap password hashes: logging in still checks them)."""
    return demo_workspaces["acme"]


@pytest.fixture
def as_user(app):  # type: ignore[no-untyped-def]
    """A test client logged in as a demo user (one cookie jar each)."""

    def make(email: str):  # type: ignore[no-untyped-def]
        client = app.test_client()
        assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
        return client

    return make


def _measure(session, title: str = MEASURE) -> Record:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(Record).where(Record.title == title))


def _records(session, tenant: Tenant, email: str, upload_dir) -> Records:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.email == email))
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)),
                   DiskBlobStore(upload_dir))


def _flow(session, tenant: Tenant, email: str) -> Workflows:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.email == email))
    config = tenants.active_config(session, tenant)
    return Workflows(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)))


def _ready_for_decision(session, tenant: Tenant, upload_dir) -> Record:  # type: ignore[no-untyped-def]
    """The measure at DoI3 with every "decide" criterion met (business case attached)."""
    measure = _measure(session)
    owner = _records(session, tenant, "owner@acme.example", upload_dir)
    owner.update(measure, Submission(measure.title, MultiDict({
        "target_date": "2027-06-30", "description": "Two PCB suppliers instead of five."}),
        uploads={"business_case": [Upload("case.pdf", "application/pdf", b"%PDF-1.4 business case")]}),
        measure.version)
    session.execute(Record.__table__.update().where(Record.id == measure.id).values(stage_key="doi3"))
    session.commit()
    return _measure(session)


def _request_decision(session, tenant: Tenant, upload_dir) -> tuple[Record, ApprovalTask]:
    measure = _ready_for_decision(session, tenant, upload_dir)
    _flow(session, tenant, "owner@acme.example").request(measure, "decide", "Supplier audit done")
    session.commit()
    task = session.scalar(select(ApprovalTask).where(ApprovalTask.record_id == measure.id,
                                                     ApprovalTask.step_key == "program_manager"))
    return measure, task


def _step(session, measure: Record, position: int) -> ApprovalTask:  # type: ignore[no-untyped-def]
    return session.scalar(select(ApprovalTask).where(ApprovalTask.record_id == measure.id,
                                                     ApprovalTask.position == position))


def _state(session, task_id: int) -> str:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.get(ApprovalTask, task_id).state


def _nav_count(body: bytes) -> str:
    found = re.search(rb'id="inbox-count"[^>]*>([^<]*)<', body)
    assert found, "no inbox count in the navigation"
    return found.group(1).decode()


def _cases(client) -> int:  # type: ignore[no-untyped-def]
    """The open exceptions the person answers for (the demo data raises some): the count
    in the navigation includes them."""
    found = re.search(r'id="exceptions-title">Exceptions <span class="count">(\d+)<',
                      client.get("/t/acme/inbox").get_data(as_text=True))
    assert found, "no exceptions section in the inbox"
    return int(found.group(1))


def test_the_panel_lists_missing_criteria_with_links_to_the_fields(acme, as_user, session) -> None:  # type: ignore[no-untyped-def]
    measure = _measure(session)
    client = as_user("owner@acme.example")
    page = client.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert 'id="workflow"' in page and 'aria-current="step">DoI1 Defined</li>' in page
    edit = f"/t/acme/r/{measure.id}/edit"
    assert f'<a href="{edit}#field-target_date">Target date is empty.</a>' in page
    assert 'id="option-identify"' in page and "No approval needed" in page
    assert "Request" not in page.split('id="option-identify"')[1].split("</li>")[0]  # blocked: no button
    # The anchor exists in the edit form.
    assert 'id="field-target_date"' in client.get(edit).get_data(as_text=True)
    # The statuses side by side, with the values that need a comment.
    assert 'id="statuses"' in page and 'id="status-implementation_status"' in page
    assert "Delayed (comment required)" in page and 'id="comments"' in page


def test_the_inbox_lists_own_records_held_up_by_a_gate(acme, as_user, session) -> None:  # type: ignore[no-untyped-def]
    sensors = _measure(session, "Long-term agreement for sensors")  # the program manager's, at DoI1
    inbox = as_user("pm@acme.example").get("/t/acme/inbox").get_data(as_text=True)
    blocked = inbox.split('id="blocked"')[1].split("</section>")[0]
    # Only "cancel" is ready for it, which is no way forward: it is listed as held up.
    assert f'id="blocked-{sensors.id}"' in blocked and "Identify (DoI1 → DoI2): missing" in blocked
    assert f'<a href="/t/acme/r/{sensors.id}/edit#field-target_date">Target date is empty.</a>' in blocked
    assert MEASURE not in blocked  # the owner's, not hers
    owner_inbox = as_user("owner@acme.example").get("/t/acme/inbox").get_data(as_text=True)
    assert MEASURE in owner_inbox.split('id="blocked"')[1] and "Nothing waits for your decision." in owner_inbox


def test_the_count_in_the_navigation_is_everything_that_needs_me(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    """The owner decides nothing, but their measures held up by a gate need them: the count
    says so on every page, and follows as soon as a gate opens."""
    owner = as_user("owner@acme.example")
    inbox = owner.get("/t/acme/inbox").get_data(as_text=True)
    blocked = len(re.findall(r'id="blocked-\d+"', inbox)) + _cases(owner)
    assert blocked > 1 and _nav_count(inbox.encode()) == f"({blocked})"
    assert _nav_count(owner.get("/t/acme/").data) == f"({blocked})"
    measure = _measure(session)  # at DoI1, only its target date missing
    _records(session, acme, "owner@acme.example", upload_dir).update(
        measure, Submission(measure.title, MultiDict({"target_date": "2027-06-30"})), measure.version)
    session.commit()
    assert _nav_count(owner.get("/t/acme/").data) == f"({blocked - 1})"


def test_a_gate_refuses_then_a_transition_without_approval_applies_at_once(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure = _measure(session)
    client = as_user("owner@acme.example")
    url = f"/t/acme/r/{measure.id}/transitions/identify"
    refused = client.post(url, headers=HTMX)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert body.lstrip().startswith("<section") and "cannot be requested yet" in body
    assert "Target date is empty." in body
    # Without htmx: back to the record page with the reason as a flash.
    fallback = client.post(url)
    assert fallback.status_code == 303 and fallback.headers["Location"].endswith(f"/t/acme/r/{measure.id}")
    assert "Target date is empty." in client.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)

    owner = _records(session, acme, "owner@acme.example", upload_dir)
    owner.update(measure, Submission(measure.title, MultiDict({"target_date": "2027-06-30"})), measure.version)
    session.commit()
    done = client.post(url, data={"comment": "Scope agreed"}, headers=HTMX)
    assert done.status_code == 200
    body = done.get_data(as_text=True)
    assert "The record is now at DoI2 Identified" in body and 'aria-current="step">DoI2 Identified' in body
    assert 'id="record-stage" hx-swap-oob="true"' in body  # the stage in the page head follows
    assert _measure(session).stage_key == "doi2"


def test_request_approve_in_the_inbox_and_on_the_record_page(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure = _ready_for_decision(session, acme, upload_dir)
    owner = as_user("owner@acme.example")
    response = owner.post(f"/t/acme/r/{measure.id}/transitions/decide", data={"comment": "Audit done"}, headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "waiting for approval" in body and "Program manager decision" in body and "CFO approval" in body
    assert "Withdraw request" in body and "Requested by Oskar Owner" in body
    task = _step(session, measure, 0)
    assert 'action="/t/acme/tasks/' not in body  # the requester does not decide
    assert "My requests in flight" in (inbox := owner.get("/t/acme/inbox").get_data(as_text=True))
    assert f'id="request-{task.request_id}"' in inbox

    pm = as_user("pm@acme.example")
    cases = _cases(pm)
    inbox = pm.get("/t/acme/inbox").get_data(as_text=True)
    # The count is everything that needs her: this approval, her own measure held up by a
    # gate, and the open exceptions she answers for.
    assert _nav_count(inbox.encode()) == f"({2 + cases})" and ">Inbox <span" in inbox
    row = inbox.split(f'id="task-{task.id}"')[1].split("</li>")[0]
    assert MEASURE in row and "Program manager decision" in row and "requested by Oskar Owner" in row
    assert "due " in row
    assert _nav_count(pm.get(f"/t/acme/r/{measure.id}").data) == f"({2 + cases})"

    approved = pm.post(f"/t/acme/tasks/{task.id}/decision", data={"decision": "approve", "from": "inbox"},
                       headers={"HX-Request": "true", "HX-Target": f"task-{task.id}"})
    assert approved.status_code == 200
    body = approved.get_data(as_text=True)
    assert body.lstrip().startswith(f'<li class="inbox-item done" id="task-{task.id}"')
    assert "Program manager decision: approved. Next: CFO approval" in body
    assert f'<span id="inbox-count" class="inbox-count has-items" hx-swap-oob="true">({1 + cases})</span>' in body

    cfo = as_user("cfo@acme.example")
    assert _nav_count(cfo.get("/t/acme/inbox").data) == f"({1 + _cases(cfo)})"
    cfo_task = _step(session, measure, 1)
    page = cfo.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert f'hx-post="/t/acme/tasks/{cfo_task.id}/decision"' in page and "Petra Program" in page
    done = cfo.post(f"/t/acme/tasks/{cfo_task.id}/decision", data={"decision": "approve", "comment": "Fine"},
                    headers=HTMX)
    assert done.status_code == 200
    body = done.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card workflow" id="workflow"')
    assert "is now at DoI4 Decided" in body and 'aria-current="step">DoI4 Decided' in body
    assert _measure(session).stage_key == "doi4"
    # Deciding again: the step is closed (409, said in the panel).
    again = cfo.post(f"/t/acme/tasks/{cfo_task.id}/decision", data={"decision": "approve"}, headers=HTMX)
    assert again.status_code == 409 and "already decided" in again.get_data(as_text=True)


def test_rejecting_needs_a_comment(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _request_decision(session, acme, upload_dir)
    pm = as_user("pm@acme.example")
    url = f"/t/acme/tasks/{task.id}/decision"
    refused = pm.post(url, data={"decision": "reject", "comment": "  "}, headers=HTMX)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "Say why you reject: a comment is required." in body and "<details class=\"decide-reject\" open>" in body
    assert _state(session, task.id) == "pending"
    # The reject form requires its comment in the browser too; the approve form does not.
    page = pm.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert re.search(r'id="record-reject-comment-\d+" name="comment" rows="2" maxlength="5000" required', page)
    assert not re.search(r'id="record-approve-comment-\d+"[^>]*required', page)

    rejected = pm.post(url, data={"decision": "reject", "comment": "Savings not backed by a contract"},
                       headers={"HX-Request": "true", "HX-Target": f"task-{task.id}"})
    assert rejected.status_code == 200
    body = rejected.get_data(as_text=True)
    assert "Program manager decision: rejected." in body and "stays at DoI3 Detailed" in body
    session.expire_all()
    assert session.get(TransitionRequest, task.request_id).state == "rejected"
    # The owner sees why on the record page.
    page = as_user("owner@acme.example").get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert "rejected" in page and "Savings not backed by a contract" in page
    history = as_user("owner@acme.example").get(f"/t/acme/r/{measure.id}/history").get_data(as_text=True)
    assert "Approval decision" in history and "Program manager decision: rejected: Savings not backed" in history
    assert "Transition requested" in history and "Requested “Decide (DoI3 → DoI4)”: Supplier audit done" in history


def test_the_requester_withdraws(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _request_decision(session, acme, upload_dir)
    pm = as_user("pm@acme.example")
    url = f"/t/acme/requests/{task.request_id}/withdraw"
    assert pm.post(url).status_code == 403  # only the requester
    forbidden = pm.post(url, headers=HTMX)
    assert forbidden.status_code == 403 and "only the person who asked" in forbidden.get_data(as_text=True)
    owner = as_user("owner@acme.example")
    page = owner.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert 'hx-confirm="Withdraw this request?' in page
    withdrawn = owner.post(url, headers=HTMX)
    assert withdrawn.status_code == 200
    body = withdrawn.get_data(as_text=True)
    assert "request withdrawn" in body and "waiting for approval" not in body and 'id="option-decide"' in body
    assert _state(session, task.id) == "cancelled"
    # only her own measure held up by a gate, and the exceptions she answers for
    assert _nav_count(pm.get("/t/acme/inbox").data) == f"({1 + _cases(pm)})"
    # From the inbox, without htmx: back to the inbox with a flash; a second time is a conflict.
    again = owner.post(url, data={"from": "inbox"})
    assert again.status_code == 303 and again.headers["Location"].endswith("/t/acme/inbox")
    assert "can no longer be withdrawn" in owner.get("/t/acme/inbox").get_data(as_text=True)


def test_withdraw_in_the_inbox_replaces_the_row(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    _, task = _request_decision(session, acme, upload_dir)
    owner = as_user("owner@acme.example")
    inbox = owner.get("/t/acme/inbox").get_data(as_text=True)
    row = inbox.split(f'id="request-{task.request_id}"')[1].split("</li>")[0]
    assert "waiting for <strong>Program manager decision</strong>" in row and 'hx-confirm="Withdraw' in row
    assert f'hx-target="#request-{task.request_id}"' in row
    answer = owner.post(f"/t/acme/requests/{task.request_id}/withdraw", data={"from": "inbox"},
                        headers={"HX-Request": "true", "HX-Target": f"request-{task.request_id}"})
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    assert body.lstrip().startswith(f'<li class="inbox-item done" id="request-{task.request_id}"')
    assert "Decide (DoI3 → DoI4): request withdrawn." in body


def test_overdue_and_escalated_steps(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _request_decision(session, acme, upload_dir)
    session.execute(ApprovalTask.__table__.update().where(ApprovalTask.id == task.id)
                    .values(due_at=utcnow() - dt.timedelta(days=1)))
    escalated = escalate_overdue(session, utcnow())
    session.commit()
    assert [t.id for t in escalated] == [task.id]
    pm = as_user("pm@acme.example")
    inbox = pm.get("/t/acme/inbox").get_data(as_text=True)
    row = inbox.split(f'id="task-{task.id}"')[1].split("</li>")[0]
    assert "Overdue</span>" in row and "Escalated to Steering committee" in row
    assert f'<a href="#task-{task.id}">' in inbox.split('id="escalated"')[1]  # listed as overdue too
    # The steering committee member sees it escalated to them, and counts it in the navigation.
    member = as_user("steerco@acme.example")
    inbox = member.get("/t/acme/inbox").get_data(as_text=True)
    assert _nav_count(inbox.encode()) == f"({1 + _cases(member)})"
    assert f'id="escalated-{task.id}"' in inbox and MEASURE in inbox.split('id="escalated"')[1]
    assert "Nothing waits for your decision." in inbox  # escalated to them, not theirs to decide
    page = member.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert "Overdue</span>" in page and "Approve" not in page.split('id="workflow"')[1].split("</section>")[0]
    # The program manager decides without htmx: back to the record page with a flash.
    done = pm.post(f"/t/acme/tasks/{task.id}/decision", data={"decision": "approve"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/t/acme/r/{measure.id}")
    page = pm.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert "Program manager decision: approved. Next: CFO approval" in page.split('class="flash"')[1]
    assert _nav_count(member.get("/t/acme/inbox").data) == f"({_cases(member)})"


def test_status_change_needs_its_comment_and_keeps_a_history(acme, as_user, session) -> None:  # type: ignore[no-untyped-def]
    measure = _measure(session)
    owner = as_user("owner@acme.example")
    url = f"/t/acme/r/{measure.id}/status/implementation_status"
    htmx = {"HX-Request": "true", "HX-Target": "statuses"}
    refused = owner.post(url, data={"value": "delayed"}, headers=htmx)
    assert refused.status_code == 422
    assert "a comment is required" in refused.get_data(as_text=True)
    assert _measure(session).values["implementation_status"] == "on_track"
    changed = owner.post(url, data={"value": "delayed", "comment": "Supplier audit slipped"}, headers=htmx)
    assert changed.status_code == 200
    body = changed.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="statuses" id="statuses"')
    assert "On track →\n        <strong>Delayed</strong> — “Supplier audit slipped”" in body
    assert 'id="record-values" hx-swap-oob="true"' in body  # the values and the gates follow
    assert 'id="workflow" aria-labelledby="workflow-title" hx-swap-oob="true"' in body
    assert _measure(session).values["implementation_status"] == "delayed"
    # The field of the same name stays read-only in the edit form.
    form = owner.get(f"/t/acme/r/{measure.id}/edit").get_data(as_text=True)
    select_tag = re.search(r'<select[^>]*id="input-implementation_status"[^>]*>', form)
    assert select_tag and " disabled" in select_tag.group(0)
    # The viewer sees the statuses but no form, and may not change them.
    viewer = as_user("viewer@acme.example")
    page = viewer.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert 'id="statuses"' in page and "status-form" not in page and "Supplier audit slipped" in page
    assert viewer.post(url, data={"value": "on_track"}).status_code == 403
    assert viewer.post(url, data={"value": "on_track"}, headers=htmx).status_code == 403
    # The controller may update the measure only for the benefit validation: not its statuses.
    controller = as_user("controller@acme.example")
    assert "status-form" not in controller.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    refused = controller.post(url, data={"value": "on_track"}, headers=htmx)
    assert refused.status_code == 403
    assert "none of your roles allows changing the Implementation status" in refused.get_data(as_text=True)
    assert _measure(session).values["implementation_status"] == "delayed"


def test_comments_land_in_the_history(acme, as_user, session) -> None:  # type: ignore[no-untyped-def]
    measure = _measure(session)
    owner = as_user("owner@acme.example")
    url = f"/t/acme/r/{measure.id}/comments"
    empty = owner.post(url, data={"body": " "}, headers={"HX-Request": "true"})
    assert empty.status_code == 422 and "Write something first." in empty.get_data(as_text=True)
    added = owner.post(url, data={"body": "Call with the supplier on Monday."}, headers={"HX-Request": "true"})
    assert added.status_code == 200 and "Comment added." in added.get_data(as_text=True)
    assert "Call with the supplier on Monday." in added.get_data(as_text=True)
    fallback = owner.post(url, data={"body": "Second note"})
    assert fallback.status_code == 303
    history = owner.get(f"/t/acme/r/{measure.id}/history").get_data(as_text=True)
    assert '<blockquote class="comment">Call with the supplier on Monday.</blockquote>' in history
    assert history.index("Second note") < history.index("Call with the supplier")  # newest first
    # The viewer has no comment right: no form, and a post is refused.
    viewer = as_user("viewer@acme.example")
    assert "comment-form" not in viewer.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert viewer.post(url, data={"body": "hi"}).status_code == 403


def test_delegation_create_use_and_revoke(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _request_decision(session, acme, upload_dir)
    _flow(session, acme, "pm@acme.example").decide(task.id, "approve")
    session.commit()
    cfo_task = _step(session, measure, 1)
    steerco_id = session.scalar(select(User.id).where(User.email == "steerco@acme.example"))
    cfo = as_user("cfo@acme.example")
    page = cfo.get("/t/acme/delegations").get_data(as_text=True)
    assert f'<option value="{steerco_id}">Stella Steerco</option>' in page and "Frank CFO</option>" not in page
    assert "Delegations" in cfo.get("/t/acme/inbox").get_data(as_text=True)
    today = dt.date.today()
    bad = cfo.post("/t/acme/delegations", data={"deputy": str(steerco_id), "starts_on": today.isoformat(),
                                                 "ends_on": (today - dt.timedelta(days=3)).isoformat()})
    assert bad.status_code == 422 and "The end must not be before the start." in bad.get_data(as_text=True)
    assert cfo.post("/t/acme/delegations", data={"deputy": "", "starts_on": "x"}).status_code == 422
    made = cfo.post("/t/acme/delegations", data={"deputy": str(steerco_id), "starts_on": today.isoformat(),
                                                  "ends_on": (today + dt.timedelta(days=7)).isoformat()})
    assert made.status_code == 303
    page = cfo.get("/t/acme/delegations").get_data(as_text=True)
    assert "Your approvals go to Stella Steerco" in page and ">active</span>" in page
    # The deputy sees the CFO's step, "as deputy for" the CFO, and decides it.
    deputy = as_user("steerco@acme.example")
    inbox = deputy.get("/t/acme/inbox").get_data(as_text=True)
    assert f'id="task-{cfo_task.id}"' in inbox and "as deputy for Frank CFO" in inbox
    assert "Frank CFO" in deputy.get("/t/acme/delegations").get_data(as_text=True)  # received
    delegation = session.scalar(select(Delegation))
    revoke = f"/t/acme/delegations/{delegation.id}/revoke"
    assert deputy.post(revoke).status_code == 404  # not theirs to revoke
    assert 'hx-confirm="Revoke the delegation to Stella Steerco?"' in page
    revoked = cfo.post(revoke, headers={"HX-Request": "true"})
    assert revoked.status_code == 200 and "Delegation revoked." in revoked.get_data(as_text=True)
    assert ">revoked " in revoked.get_data(as_text=True)
    assert f'id="task-{cfo_task.id}"' not in deputy.get("/t/acme/inbox").get_data(as_text=True)


def test_people_without_the_right_are_refused(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _request_decision(session, acme, upload_dir)
    viewer = as_user("viewer@acme.example")
    page = viewer.get(f"/t/acme/r/{measure.id}").get_data(as_text=True)
    assert 'id="workflow"' in page and "hx-post" not in page.split('id="workflow"')[1].split("</section>")[0]
    assert viewer.post(f"/t/acme/r/{measure.id}/transitions/cancel").status_code == 403
    decided = viewer.post(f"/t/acme/tasks/{task.id}/decision", data={"decision": "approve"}, headers=HTMX)
    assert decided.status_code == 403 and "decides this step" in decided.get_data(as_text=True)
    # The owner requested it: not theirs to approve (and they have no approve right).
    owner = as_user("owner@acme.example")
    assert owner.post(f"/t/acme/tasks/{task.id}/decision", data={"decision": "approve"}).status_code == 403
    # The CFO's step is not open yet.
    cfo_task = _step(session, measure, 1)
    early = as_user("cfo@acme.example").post(f"/t/acme/tasks/{cfo_task.id}/decision", data={"decision": "approve"},
                                             headers=HTMX)
    assert early.status_code == 409 and "not open yet" in early.get_data(as_text=True)
    # A measure the owner does not own is not there for them at all.
    other = _measure(session, "Long-term agreement for sensors")
    assert owner.post(f"/t/acme/r/{other.id}/transitions/identify", headers=HTMX).status_code == 404
    status_url = f"/t/acme/r/{other.id}/status/implementation_status"
    assert owner.post(status_url, data={"value": "delayed"}).status_code == 404
    assert owner.post(f"/t/acme/r/{other.id}/comments", data={"body": "x"}).status_code == 404
    assert owner.post(f"/t/acme/r/{measure.id}/transitions/nonsense").status_code == 404


def test_ids_of_another_workspace_answer_404(acme, as_user, session, upload_dir) -> None:  # type: ignore[no-untyped-def]
    measure, task = _request_decision(session, acme, upload_dir)
    cfo_id = session.scalar(select(User.id).where(User.email == "cfo@acme.example"))
    steerco_id = session.scalar(select(User.id).where(User.email == "steerco@acme.example"))
    _flow(session, acme, "cfo@acme.example").delegate(steerco_id, dt.date.today(), dt.date.today())
    session.commit()
    delegation = session.scalar(select(Delegation).where(Delegation.user_id == cfo_id))
    # The consultant is tenant admin in both workspaces; in servicedesk, acme's ids do not exist.
    consultant = as_user("consultant@steerco.example")
    for url, data in ((f"/t/servicedesk/tasks/{task.id}/decision", {"decision": "approve"}),
                      (f"/t/servicedesk/requests/{task.request_id}/withdraw", {}),
                      (f"/t/servicedesk/r/{measure.id}/transitions/decide", {}),
                      (f"/t/servicedesk/r/{measure.id}/status/implementation_status", {"value": "delayed"}),
                      (f"/t/servicedesk/r/{measure.id}/comments", {"body": "x"}),
                      (f"/t/servicedesk/delegations/{delegation.id}/revoke", {})):
        assert consultant.post(url, data=data).status_code == 404, url
        assert consultant.post(url, data=data, headers=HTMX).status_code == 404, url
    # Not a member of servicedesk at all: its inbox is "not found" too.
    assert as_user("pm@acme.example").get("/t/servicedesk/inbox").status_code == 404
    assert _state(session, task.id) == "pending"


def test_pages_without_a_workspace_have_no_inbox_link(client, acme, as_user) -> None:  # type: ignore[no-untyped-def]
    login = client.get("/login")
    assert login.status_code == 200 and b"nav-inbox" not in login.data
    owner = as_user("owner@acme.example")
    assert b'id="nav-inbox"' in owner.get("/t/acme/").data
    assert owner.get("/t/nowhere/inbox").status_code == 404


def test_the_demo_leaves_an_approval_in_the_service_line_managers_inboxes(client, session):  # type: ignore[no-untyped-def]
    from steerco.demo import AWAITING_APPROVAL, DEMO_PASSWORD, load_demo

    load_demo(session)
    session.commit()
    for email, expected in (("slm@servicedesk.example", 1), ("slm2@servicedesk.example", 1),
                            ("owner@servicedesk.example", 0)):
        client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
        inbox = client.get("/t/servicedesk/inbox").get_data(as_text=True)
        assert (AWAITING_APPROVAL in inbox.split("My requests in flight")[0]) == bool(expected), email
