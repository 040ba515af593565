"""No page pays for the inbox: statement counts stay flat as the work grows.

Each test counts the SQL statements one request runs (a SQLAlchemy ``before_cursor_execute``
listener on the app's engine) for a small and a large amount of the same kind of data, and
asserts the two counts are equal (and small): the acme record page whatever the number of
approvals waiting in the reader's inbox or of requests in the record's past, and the inbox
(HTML and API) at 10 and at 200 waiting steps.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Iterator

import pytest
from sqlalchemy import event, select
from werkzeug.datastructures import MultiDict

from steerco.demo import DEMO_PASSWORD
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.store.models import ApprovalTask, ApprovalVote, Record, Tenant, TransitionRequest, User, utcnow
from steerco.web.extensions import db

MEASURE = "Consolidate PCB suppliers"
#: a fixed ceiling for the record page, however much data sits behind it
RECORD_PAGE_MAX = 40


@pytest.fixture
def acme(demo_workspaces):  # type: ignore[no-untyped-def]
    """The demo workspaces (cheap password hashes); acme."""
    return demo_workspaces["acme"]


@contextlib.contextmanager
def counted(app) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The SQL statements run while the block runs."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _user(session, email: str) -> User:  # type: ignore[no-untyped-def]
    return session.scalar(select(User).where(User.email == email))


def _records(session, tenant: Tenant, email: str) -> Records:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, _user(session, email))))


def _measures(session, tenant: Tenant, count: int, owner: str = "owner@acme.example") -> list[Record]:  # type: ignore[no-untyped-def]
    """``count`` new measures in the program manager's program, owned by ``owner``."""
    records = _records(session, tenant, owner)
    package = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.title == "Electronics"))
    made = [records.create("measure", package, Submission(f"Load measure {n:03d}", MultiDict({"category": "procurement"})))
            for n in range(count)]
    session.commit()
    return made


def _waiting(session, tenant: Tenant, records: list[Record], *, requester: str, role: str,  # type: ignore[no-untyped-def]
             voter: str | None = None, state: str = "pending") -> None:
    """A "decide" request on each record with its step of ``role`` open (rows as the engine
    leaves them), each with one vote already given by ``voter`` when named."""
    requester_id = _user(session, requester).id
    voter_id = _user(session, voter).id if voter else None
    for record in records:
        request = TransitionRequest(tenant_id=tenant.id, record_id=record.id, workflow_key="doi", transition_key="decide",
                                    config_version=1, from_stage="doi3", to_stage="doi4", requested_by_id=requester_id,
                                    state=state, requested_at=utcnow())
        session.add(request)
        session.flush()
        task = ApprovalTask(tenant_id=tenant.id, request_id=request.id, record_id=record.id, position=0,
                            step_key="program_manager", label="Program manager decision", role=role,
                            needed=2 if voter_id else 1, state="pending" if state == "pending" else "cancelled",
                            opened_at=utcnow(), due_at=utcnow() + dt.timedelta(days=5))
        session.add(task)
        session.flush()
        if voter_id:
            session.add(ApprovalVote(tenant_id=tenant.id, task_id=task.id, request_id=request.id, user_id=voter_id,
                                     decision="approve" if state == "pending" else "reject", comment="ok",
                                     record_version=record.version, content_hash="0" * 64, content={"potential": 1}))
    session.commit()


def _login(app, email: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
    return client


def _statements(app, client, url: str, **kwargs) -> int:  # type: ignore[no-untyped-def]
    with counted(app) as statements:
        response = client.get(url, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return len(statements)


def test_the_record_page_runs_a_fixed_number_of_statements(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    measure = session.scalar(select(Record).where(Record.title == MEASURE))
    url = f"/t/acme/r/{measure.id}"
    # One step waiting in the program manager's inbox, then fifty.
    extra = _measures(session, acme, 49)
    _waiting(session, acme, extra[:1], requester="owner@acme.example", role="program_manager")
    one = _statements(app, _login(app, "pm@acme.example"), url)
    _waiting(session, acme, extra[1:], requester="owner@acme.example", role="program_manager",
             voter="portfolio@acme.example")
    fifty = _statements(app, _login(app, "pm@acme.example"), url)
    assert one == fifty <= RECORD_PAGE_MAX, (one, fifty)
    # A record without requests in its past, then one with five (votes on each), one pending.
    before = _statements(app, _login(app, "pm@acme.example"), url)
    _waiting(session, acme, [measure] * 4, requester="owner@acme.example", role="program_manager",
             voter="portfolio@acme.example", state="withdrawn")
    _waiting(session, acme, [measure], requester="owner@acme.example", role="program_manager",
             voter="portfolio@acme.example")
    pm = _login(app, "pm@acme.example")
    page = pm.get(url).get_data(as_text=True)
    assert "Program manager decision" in page and "waiting for approval" in page
    after = _statements(app, pm, url)
    assert after <= RECORD_PAGE_MAX
    # The request in flight adds its steps, votes and "your decision" (a fixed handful);
    # the four in the past add nothing.
    assert after - before <= 4, (before, after)


def test_the_navigation_count_costs_one_statement_once_known(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    """A page view that follows no change to the reader's records takes the count in one
    statement (plus the delegation lookup), however many steps and records there are."""
    measure = session.scalar(select(Record).where(Record.title == MEASURE))
    owner = _login(app, "owner@acme.example")
    first = _statements(app, owner, f"/t/acme/r/{measure.id}")
    again = _statements(app, owner, f"/t/acme/r/{measure.id}")
    assert again < first  # the records held up by a gate were looked at once
    _measures(session, acme, 30)  # thirty more of the owner's records held up at DoI1
    changed = _statements(app, owner, f"/t/acme/r/{measure.id}")
    settled = _statements(app, owner, f"/t/acme/r/{measure.id}")
    assert changed == first and settled == again


@pytest.mark.parametrize("kind", ["html", "api"])
def test_the_inbox_runs_the_same_statements_at_10_and_200_tasks(app, session, acme, kind) -> None:  # type: ignore[no-untyped-def]
    pm = _user(session, "pm@acme.example")
    _, token = tokens.create_token(session, pm, "inbox")
    session.commit()
    api = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/t/acme/inbox", headers=api).status_code == 200  # the token's first use
    counts = []
    made: list[Record] = []
    for total in (10, 200):
        new = _measures(session, acme, total - len(made))
        # Half of them wait for the program manager's decision (one vote given already), half
        # are her own requests in flight, waiting for the CFO.
        _waiting(session, acme, new[: len(new) // 2], requester="owner@acme.example", role="program_manager",
                 voter="portfolio@acme.example")
        _waiting(session, acme, new[len(new) // 2:], requester="pm@acme.example", role="cfo",
                 voter="steerco@acme.example")
        made += new
        if kind == "html":
            client = _login(app, "pm@acme.example")
            counts.append(_statements(app, client, "/t/acme/inbox"))
        else:
            client = app.test_client()
            counts.append(_statements(app, client, "/api/t/acme/inbox?per_page=200", headers=api))
    assert counts[0] == counts[1], counts
    if kind == "html":  # a hundred steps to decide: four pages of 25, each section paged on its own
        first = client.get("/t/acme/inbox").get_data(as_text=True)
        waiting = first.split('id="waiting"')[1].split("</section>")[0]
        assert waiting.count('class="inbox-item"') == 25 and ">100</span>" in waiting
        assert "Page 1 of 4" in waiting and 'href="/t/acme/inbox?approvals_page=2' in waiting
        last = client.get("/t/acme/inbox?approvals_page=4&requests_page=2").get_data(as_text=True)
        assert last.split('id="waiting"')[1].split("</section>")[0].count('class="inbox-item"') == 25
        assert "Page 2 of 4" in last.split('id="my-requests"')[1].split("</section>")[0]
    if kind == "api":
        body = client.get("/api/t/acme/inbox?per_page=200", headers=api).get_json()
        assert body["totals"]["approvals"] == 100 and len(body["approvals"]) == 100
        assert body["totals"]["requests"] == 100 and body["requests"][0]["steps"][0]["votes"][0]["user"]["name"]
        assert body["approvals"][0]["votes"][0]["user"] == {"id": _user(session, "portfolio@acme.example").id,
                                                            "name": "Paul Portfolio"}


def test_the_approvals_total_stops_counting_at_its_cap(app, session, acme, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past COUNT_CAP entries beyond the page's start the total is a lower bound, shown as
    "N+" (HTML) and named in ``totals_capped`` (API); the pages still go on to the end."""
    from steerco.engine import inbox

    monkeypatch.setattr(inbox, "COUNT_CAP", 30)
    pm = _user(session, "pm@acme.example")
    _, token = tokens.create_token(session, pm, "inbox cap")
    session.commit()
    made = _measures(session, acme, 60)
    _waiting(session, acme, made, requester="owner@acme.example", role="program_manager",
             voter="portfolio@acme.example")
    client = _login(app, "pm@acme.example")
    first = client.get("/t/acme/inbox").get_data(as_text=True).split('id="waiting"')[1].split("</section>")[0]
    assert ">30+</span>" in first and "Page 1 of 2+" in first
    last = client.get("/t/acme/inbox?approvals_page=3").get_data(as_text=True)
    waiting = last.split('id="waiting"')[1].split("</section>")[0]
    assert waiting.count('class="inbox-item"') == 10 and ">60</span>" in waiting and "Page 3 of 3<" in waiting
    body = app.test_client().get("/api/t/acme/inbox?per_page=10",
                                 headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["totals"]["approvals"] == 30 and body["totals_capped"] == ["approvals"]
