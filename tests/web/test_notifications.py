"""Notifications (issue 13, item 5), on the acme demo: who hears about an approval, a
decision, a rejection and an escalation; the bell and its read state; mail immediately,
as a daily digest or not at all; and an SMTP server that is down loses nothing.

Who should hear of a waiting step is checked against the inbox, an independent reading
of the same rule: everyone whose inbox shows the step has exactly one notification of it.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import pytest
from sqlalchemy import select

from steerco.demo import DEMO_PASSWORD
from steerco.engine import jobs, notifications, tokens
from steerco.engine.mail import Mailer, SmtpServer
from steerco.store.models import ApprovalTask, Notification, Record, User, utcnow

MEASURE = "Consolidate PCB suppliers"  # the owner's, potential 425,000 EUR: the CFO step applies


@pytest.fixture
def acme(demo_workspaces):  # type: ignore[no-untyped-def]
    """The demo workspaces (cheap password hashes); acme."""
    return demo_workspaces["acme"]


class Api:
    """A demo person's API token client."""

    def __init__(self, app, session, email: str):  # type: ignore[no-untyped-def]
        self.client = app.test_client()
        self.user = session.scalar(select(User).where(User.email == email))
        _, token = tokens.create_token(session, self.user, "notifications")
        session.commit()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        response = self.client.get(f"/api/t/acme{path}", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.get_json()

    def send(self, method: str, path: str, body: Any = None):  # type: ignore[no-untyped-def]
        return self.client.open(f"/api/t/acme{path}", method=method, headers=self.headers,
                                json=body if body is not None else {})


def _at_doi3(session) -> int:  # type: ignore[no-untyped-def]
    """The measure at DoI3 with what "decide" needs, so the owner may request it."""
    record_id = session.scalar(select(Record.id).where(Record.title == MEASURE))
    session.execute(Record.__table__.update().where(Record.id == record_id).values(stage_key="doi3"))
    session.commit()
    return record_id


def _request_decide(app, session, owner: Api) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    record_id = _at_doi3(session)
    record = owner.get(f"/records/{record_id}")
    assert owner.send("PATCH", f"/records/{record_id}", {"version": record["version"],
                                                        "values": {"target_date": "2027-06-30"}}).status_code == 200
    browser = app.test_client()
    assert browser.post("/login", data={"email": owner.user.email, "password": DEMO_PASSWORD}).status_code == 302
    import io
    record = owner.get(f"/records/{record_id}")
    assert browser.post(f"/t/acme/r/{record_id}/edit", content_type="multipart/form-data", data={
        "title": record["title"], "version": str(record["version"]),
        "business_case": (io.BytesIO(b"%PDF-1.4 case"), "case.pdf", "application/pdf")}).status_code == 303
    requested = owner.send("POST", f"/records/{record_id}/transitions/decide", {"comment": "Audit done"})
    assert requested.status_code == 201, requested.get_data(as_text=True)
    return record_id, requested.get_json()


def _notified(session, kind: str, record_id: int | None = None) -> dict[int, list[Notification]]:  # type: ignore[no-untyped-def]
    """Who was told of ``kind`` (about the measure of these tests: the demo tells of others)."""
    record_id = record_id or session.scalar(select(Record.id).where(Record.title == MEASURE))
    found: dict[int, list[Notification]] = {}
    for n in session.scalars(select(Notification).where(Notification.kind == kind, Notification.record_id == record_id)
                             .order_by(Notification.id)):
        found.setdefault(n.user_id, []).append(n)
    return found


def _members(session, acme) -> list[User]:  # type: ignore[no-untyped-def]
    from steerco.store.models import Membership

    return list(session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                .where(Membership.tenant_id == acme.id).order_by(User.id)))


def test_a_request_notifies_each_eligible_approver_once_in_the_app_and_by_mail(app, session, acme, outbox) -> None:  # type: ignore[no-untyped-def]
    owner = Api(app, session, "owner@acme.example")
    record_id, request = _request_decide(app, session, owner)
    step_id = request["steps"][0]["id"]
    session.expire_all()
    waiting = _notified(session, "approval.waiting")
    # The inbox is the other reading of who decides the step.
    deciders = set()
    for person in _members(session, acme):
        inbox = Api(app, session, person.email).get("/inbox")
        if any(item["id"] == step_id for item in inbox["approvals"]):
            deciders.add(person.id)
    assert deciders and set(waiting) == deciders, (deciders, set(waiting))
    assert all(len(items) == 1 for items in waiting.values())
    assert owner.user.id not in waiting
    mails = [m for m in outbox() if "Approval waiting for you" in m["Subject"] and MEASURE in m.get_content()]
    emails = {u.email for u in session.scalars(select(User).where(User.id.in_(deciders)))}
    assert sorted(m["To"] for m in mails) == sorted(emails)
    body = mails[0].get_content()
    assert MEASURE in body and f"/t/acme/r/{record_id}" in body and "/t/acme/notifications" in body


def test_a_decision_notifies_the_requester_and_a_rejection_carries_its_comment(app, session, acme, outbox) -> None:  # type: ignore[no-untyped-def]
    owner, pm, cfo = (Api(app, session, f"{who}@acme.example") for who in ("owner", "pm", "cfo"))
    _, request = _request_decide(app, session, owner)
    assert pm.send("POST", f"/approvals/{request['steps'][0]['id']}", {"decision": "approve"}).status_code == 200
    session.expire_all()
    decided = _notified(session, "approval.decided")
    assert list(decided) == [owner.user.id] and "approved by" in decided[owner.user.id][0].text
    cfo_step = session.scalar(select(ApprovalTask).where(ApprovalTask.request_id == request["id"],
                                                         ApprovalTask.state == "pending"))
    assert cfo.user.id in _notified(session, "approval.waiting")  # the next step's approvers hear of it
    rejected = cfo.send("POST", f"/approvals/{cfo_step.id}", {"decision": "reject", "comment": "Payback too long"})
    assert rejected.status_code == 200, rejected.get_data(as_text=True)
    session.expire_all()
    told = _notified(session, "transition.rejected")
    assert list(told) == [owner.user.id] and "Payback too long" in told[owner.user.id][0].text
    assert any("rejected" in m["Subject"] and m["To"] == owner.user.email and "Payback too long" in m.get_content()
               for m in outbox())


def test_the_bell_counts_unread_and_reading_clears_it_only_for_its_owner(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    owner, pm = Api(app, session, "owner@acme.example"), Api(app, session, "pm@acme.example")
    _request_decide(app, session, owner)
    browser = app.test_client()
    assert browser.post("/login", data={"email": "pm@acme.example", "password": DEMO_PASSWORD}).status_code == 302
    listed = pm.get("/notifications")
    unread = listed["unread"]  # the step, and whatever else the demo told the program manager
    page = browser.get("/t/acme/notifications").get_data(as_text=True)
    assert 'id="nav-notifications"' in page and f"({unread}<span" in page and "Approval waiting for you" in page
    assert listed["items"][0]["kind"] == "approval.waiting" and not listed["items"][0]["read"]
    mine = listed["items"][0]["id"]
    # Someone else's ids change nothing.
    assert owner.send("POST", "/notifications/read", {"ids": [mine]}).get_json()["marked"] == 0
    assert browser.post("/t/acme/notifications/read", data={"id": str(mine)}).status_code == 303
    assert pm.get("/notifications")["unread"] == unread - 1
    assert f"({unread}<span" not in browser.get("/t/acme/notifications").get_data(as_text=True)
    assert pm.send("POST", "/notifications/read", {"all": True}).get_json() == {"marked": unread - 1, "unread": 0}
    assert pm.send("POST", "/notifications/read", {"ids": "all"}).status_code == 422


def test_a_daily_digest_waits_for_the_next_day_and_is_sent_once(app, session, acme, outbox) -> None:  # type: ignore[no-untyped-def]
    pm = Api(app, session, "pm@acme.example")
    assert pm.send("PUT", "/notifications/preferences", {"notify_by_mail": "daily"}).get_json()["notify_by_mail"] == "daily"
    assert pm.send("PUT", "/notifications/preferences", {"notify_by_mail": "hourly"}).status_code == 422
    _request_decide(app, session, Api(app, session, "owner@acme.example"))
    assert "pm@acme.example" not in {m["To"] for m in outbox()}
    session.expire_all()
    sent: list[notifications.Mail] = []
    assert jobs.send_digests(session, utcnow(), sent.append) == 0  # not before the day is over
    tomorrow = utcnow() + dt.timedelta(days=1)
    assert jobs.send_digests(session, tomorrow, sent.append) == 1
    assert [m.to for m in sent] == ["pm@acme.example"] and MEASURE in sent[0].text
    assert jobs.send_digests(session, tomorrow, sent.append) == 0  # once


def test_mail_off_leaves_the_bell_only(app, session, acme, outbox) -> None:  # type: ignore[no-untyped-def]
    pm = Api(app, session, "pm@acme.example")
    assert pm.send("PUT", "/notifications/preferences", {"notify_by_mail": "off"}).status_code == 200
    _request_decide(app, session, Api(app, session, "owner@acme.example"))
    assert "pm@acme.example" not in {m["To"] for m in outbox()}
    assert pm.get("/notifications?unread=1")["unread"] >= 1
    sent: list[notifications.Mail] = []
    jobs.send_digests(session, utcnow() + dt.timedelta(days=1), sent.append)
    assert "pm@acme.example" not in {m.to for m in sent}


def test_tick_sends_the_digests_to_the_outbox(app, session, acme, outbox) -> None:  # type: ignore[no-untyped-def]
    pm = Api(app, session, "pm@acme.example")
    pm.send("PUT", "/notifications/preferences", {"notify_by_mail": "daily"})
    _request_decide(app, session, Api(app, session, "owner@acme.example"))
    from steerco.cli import cli

    result = app.test_cli_runner().invoke(cli, ["tick", "--now", (utcnow() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")])
    assert result.exit_code == 0, result.output
    assert "1 daily notification digest(s)" in result.output
    digest = [m for m in outbox() if m["To"] == "pm@acme.example"]
    assert len(digest) == 1 and "notification(s) since your last digest" in digest[0]["Subject"]


def test_an_escalated_step_is_told_to_the_requester(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    owner = Api(app, session, "owner@acme.example")
    _, request = _request_decide(app, session, owner)
    session.execute(ApprovalTask.__table__.update().where(ApprovalTask.id == request["steps"][0]["id"])
                    .values(due_at=utcnow() - dt.timedelta(days=1)))
    session.commit()
    assert len(jobs.tick(session, utcnow())) == 1
    session.expire_all()
    assert list(_notified(session, "approval.escalated")) == [owner.user.id]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failing_smtp_server_loses_nothing(db_engine, database_url, upload_dir, tmp_path, session, acme, smtp_server) -> None:  # type: ignore[no-untyped-def]
    from steerco import create_app

    outbox = tmp_path / "outbox"
    down = create_app({"TESTING": True, "SECRET_KEY": "t", "SQLALCHEMY_DATABASE_URI": database_url,
                       "UPLOAD_DIR": str(upload_dir), "WTF_CSRF_ENABLED": False, "OUTBOX_DIR": str(outbox),
                       "SMTP_URL": f"smtp://127.0.0.1:{_closed_port()}", "MAIL_IN_BACKGROUND": False})
    _request_decide(down, session, Api(down, session, "owner@acme.example"))
    session.expire_all()
    told = sum(len(v) for v in _notified(session, "approval.waiting").values())
    waiting = sorted(outbox.glob("*.eml"))
    assert told and len(waiting) == told  # every mail kept while the server is down
    mailer = Mailer(outbox, smtp=SmtpServer("127.0.0.1", smtp_server.server_address[1], "none"), background=False)
    delivered, left = mailer.retry()
    assert (delivered, left) == (told, 0)
    assert len(smtp_server.received) == told


def test_a_rolled_back_change_sends_nothing(session, acme) -> None:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.email == "pm@acme.example"))
    notifications.notify(session, acme.id, [user.id], "approval.waiting", None, "test", utcnow())
    assert session.info.get(notifications.MAIL_QUEUE)
    session.rollback()
    assert not notifications.take_queued_mail(session)


def test_notifications_are_for_members_of_the_workspace_only(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    outsider = app.test_client()
    assert outsider.get("/t/acme/notifications").status_code == 302  # to the login
    other = Api(app, session, "admin@servicedesk.example")  # a member of another workspace only
    assert other.client.get("/api/t/acme/notifications", headers=other.headers).status_code == 404
