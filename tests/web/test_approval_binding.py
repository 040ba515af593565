"""An approval is bound to what was approved (issue 14, finding 2), on the acme demo.

The attack: while "Decide (DoI3 → DoI4)" waits for the CFO, the owner raises the potential
tenfold through the API and swaps the business case through the form, hoping the program
manager's approval still counts. By default (``on_change: "refuse"``) both changes are
refused while the request waits; with ``on_change: "void"`` they go through, the votes given
so far are voided and every step is decided again on the new content. Either way each vote
records the record's version and the content it was given on, and the history shows it.
"""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from sqlalchemy import select

from steerco.config.loader import read_folder
from steerco.demo import DEMO_PASSWORD
from steerco.engine import tenants, tokens
from steerco.settings import RESOURCE_ROOT
from steerco.store.models import ApprovalTask, ApprovalVote, Attachment, Record, User

MEASURE = "Consolidate PCB suppliers"  # the owner's, potential 425,000 EUR: the CFO step applies


@pytest.fixture
def acme(demo_workspaces):  # type: ignore[no-untyped-def]
    """The demo workspaces (cheap password hashes); acme."""
    return demo_workspaces["acme"]


def _void_mode(session) -> None:  # type: ignore[no-untyped-def]
    """A new acme configuration version whose "decide" voids votes on a change."""
    documents, problems = read_folder(RESOURCE_ROOT / "tenants" / "acme")
    assert not problems
    documents = copy.deepcopy(documents)
    decide = next(t for t in documents["workflows"]["workflows"][0]["transitions"] if t["key"] == "decide")
    decide["on_change"] = "void"
    tenants.store_config(session, documents)
    session.commit()


class Person:
    """A demo person with a browser session and an API token."""

    def __init__(self, app, session, email: str):  # type: ignore[no-untyped-def]
        self.browser = app.test_client()
        assert self.browser.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302
        self.api = app.test_client()
        _, token = tokens.create_token(session, session.scalar(select(User).where(User.email == email)), "binding")
        session.commit()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        response = self.api.get(f"/api/t/acme{path}", headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.get_json()

    def post(self, path: str, body: Any = None):  # type: ignore[no-untyped-def]
        return self.api.post(f"/api/t/acme{path}", headers=self.headers, json=body if body is not None else {})

    def patch(self, path: str, body: Any):  # type: ignore[no-untyped-def]
        return self.api.patch(f"/api/t/acme{path}", headers=self.headers, json=body)


def _upload(person: Person, record_id: int, name: str, content: bytes):  # type: ignore[no-untyped-def]
    record = person.get(f"/records/{record_id}")
    return person.browser.post(f"/t/acme/r/{record_id}/edit", content_type="multipart/form-data", data={
        "title": record["title"], "version": str(record["version"]),
        "business_case": (io.BytesIO(content), name, "application/pdf")})


def _waiting_for_the_cfo(app, session) -> tuple[dict[str, Person], int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The measure at DoI3 with its business case; the owner requests "decide" and the
    program manager approves: the request waits for the CFO."""
    people = {name: Person(app, session, f"{name}@acme.example") for name in ("owner", "pm", "cfo")}
    record_id = session.scalar(select(Record.id).where(Record.title == MEASURE))
    session.execute(Record.__table__.update().where(Record.id == record_id).values(stage_key="doi3"))
    session.commit()
    owner = people["owner"]
    record = owner.get(f"/records/{record_id}")
    assert owner.patch(f"/records/{record_id}", {"version": record["version"],
                                                 "values": {"target_date": "2027-06-30"}}).status_code == 200
    assert _upload(owner, record_id, "business-case.pdf", b"%PDF-1.4 signed business case").status_code == 303
    requested = owner.post(f"/records/{record_id}/transitions/decide", {"comment": "Supplier audit done"})
    assert requested.status_code == 201, requested.get_data(as_text=True)
    pm_step = requested.get_json()["steps"][0]
    decided = people["pm"].post(f"/approvals/{pm_step['id']}", {"decision": "approve", "comment": "Go"})
    assert decided.status_code == 200
    return people, record_id, decided.get_json()


def test_raising_the_potential_and_swapping_the_business_case_are_refused_while_a_request_waits(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    people, record_id, request = _waiting_for_the_cfo(app, session)
    owner = people["owner"]
    record = owner.get(f"/records/{record_id}")
    tenfold = owner.patch(f"/records/{record_id}", {"version": record["version"], "values": {"baseline": 5000000, "potential": 4250000}})  # the baseline rule allows it
    assert tenfold.status_code == 409
    error = tenfold.get_json()["error"]
    assert "waits for approval" in error["message"] and set(error["fields"]) == {"potential"}
    swapped = _upload(owner, record_id, "better-case.pdf", b"%PDF-1.4 a much better business case")
    assert swapped.status_code == 409
    page = swapped.get_data(as_text=True)
    assert "waits for approval" in page and "Withdraw the request to change it." in page
    session.expire_all()
    assert session.scalars(select(Attachment.filename).where(Attachment.record_id == record_id)).all() == \
        ["business-case.pdf"]
    # A field the approvers do not decide on still changes.
    assert owner.patch(f"/records/{record_id}", {"version": record["version"],
                                                 "values": {"description": "Second source in audit."}}).status_code == 200
    # The CFO decides on what the program manager saw; each vote says what it was given on.
    cfo_step = request["steps"][1]
    done = people["cfo"].post(f"/approvals/{cfo_step['id']}", {"decision": "approve"})
    assert done.status_code == 200
    steps = done.get_json()["steps"]
    pm_vote, cfo_vote = steps[0]["votes"][0], steps[1]["votes"][0]
    assert pm_vote["approved"]["potential"] == cfo_vote["approved"]["potential"] == 425000
    assert [f["filename"] for f in cfo_vote["approved"]["business_case"]] == ["business-case.pdf"]
    assert pm_vote["content_hash"] == cfo_vote["content_hash"] and pm_vote["version"] < cfo_vote["version"]
    assert owner.get(f"/records/{record_id}")["stage"] == "doi4"
    # The history shows what each approver decided on.
    history = people["pm"].browser.get(f"/t/acme/r/{record_id}/history").get_data(as_text=True)
    assert "Program manager decision: approved: Go — on version" in history
    decided_on = history.split('class="changes decided-on"')[1].split("</table>")[0]
    assert "<td>Potential</td><td>425.000\xa0€</td>" in decided_on and "business-case.pdf" in decided_on


def test_in_void_mode_a_change_voids_the_votes_and_the_steps_are_decided_again(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    _void_mode(session)
    people, record_id, request = _waiting_for_the_cfo(app, session)
    owner, pm, cfo = people["owner"], people["pm"], people["cfo"]
    first_pm_step = request["steps"][0]["id"]
    record = owner.get(f"/records/{record_id}")
    tenfold = owner.patch(f"/records/{record_id}", {"version": record["version"], "values": {"baseline": 5000000, "potential": 4250000}})  # the baseline rule allows it
    assert tenfold.status_code == 200
    swapped = _upload(owner, record_id, "better-case.pdf", b"%PDF-1.4 a much better business case")
    assert swapped.status_code == 303
    # The program manager's approval no longer counts: her step is open again, as a new step.
    pending = owner.get(f"/records/{record_id}/transitions")["pending"]
    assert [(s["key"], s["state"], s["votes"]) for s in pending["steps"]] == [
        ("program_manager", "pending", []), ("cfo", "waiting", [])]
    assert pending["steps"][0]["id"] != first_pm_step
    again = pm.post(f"/approvals/{first_pm_step}", {"decision": "approve"})
    assert again.status_code == 409 and "opened again" in again.get_json()["error"]["message"]
    cfo_early = cfo.post(f"/approvals/{pending['steps'][1]['id']}", {"decision": "approve"})
    assert cfo_early.status_code == 409  # not open yet: the program manager decides first, again
    page = pm.browser.get(f"/t/acme/r/{record_id}").get_data(as_text=True)
    assert f'hx-post="/t/acme/tasks/{pending["steps"][0]["id"]}/decision"' in page
    history = pm.browser.get(f"/t/acme/r/{record_id}/history").get_data(as_text=True)
    assert "Approvals so far voided: Potential changed while “Decide (DoI3 → DoI4)” waited" in history
    assert pm.post(f"/approvals/{pending['steps'][0]['id']}", {"decision": "approve"}).status_code == 200
    done = cfo.post(f"/approvals/{pending['steps'][1]['id']}", {"decision": "approve"})
    assert done.status_code == 200 and owner.get(f"/records/{record_id}")["stage"] == "doi4"
    votes = done.get_json()["steps"][0]["votes"]
    assert votes[0]["approved"]["potential"] == 4250000
    assert [f["filename"] for f in votes[0]["approved"]["business_case"]] == ["business-case.pdf", "better-case.pdf"]
    session.expire_all()
    assert session.get(ApprovalTask, first_pm_step).state == "voided"
    assert session.scalar(select(ApprovalVote).where(ApprovalVote.task_id == first_pm_step)).decision == "approve"
