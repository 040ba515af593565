"""The workflow through the JSON API: one acme demo measure walks from DoI1 to DoI6 as the
demo people would drive it with their tokens, gate by gate.

At every gate the request is first refused (422) with exactly the criteria that are not
met, the owner fixes them (``PATCH``, a status change, or the business case, which the JSON
API cannot upload and is attached through the engine here), and the request goes through.
Each approval step shows up in the inbox of exactly the person who decides it. Around
the walk: decided steps answer 409, refusals keep the JSON error format, and another
workspace's ids are 404.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

from steerco.demo import load_demo
from steerco.engine import audit, tenants, tokens, users
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import escalate_overdue
from steerco.fields import Upload
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import ApprovalVote, AuditEvent, Record, Tenant, TransitionRequest, User, utcnow

MEASURE = "Consolidate PCB suppliers"  # owner@acme.example's, potential 425,000 (the CFO step applies)
PEOPLE = ("owner", "pm", "cfo", "controller", "steerco", "admin", "portfolio", "viewer")


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture
def acme(session, monkeypatch):  # type: ignore[no-untyped-def]
    """The demo workspaces (cheap password hashes: nobody logs in with a password here)."""
    monkeypatch.setattr(users, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1"))
    load_demo(session)
    session.commit()
    return session.scalar(select(Tenant).where(Tenant.slug == "acme"))


class Api:
    """A demo person's API client: ``api.owner.get("/inbox")`` and so on."""

    def __init__(self, client, session, email: str):  # type: ignore[no-untyped-def]
        user = session.scalar(select(User).where(User.email == email))
        _, plaintext = tokens.create_token(session, user, "workflow walk")
        session.commit()
        self.client, self.user = client, user
        self.headers = {"Authorization": f"Bearer {plaintext}"}

    def get(self, path: str, tenant: str = "acme"):  # type: ignore[no-untyped-def]
        return self.client.get(f"/api/t/{tenant}{path}", headers=self.headers)

    def post(self, path: str, body: Any = None, tenant: str = "acme"):  # type: ignore[no-untyped-def]
        kwargs = {} if body is None else {"json": body}
        return self.client.post(f"/api/t/{tenant}{path}", headers=self.headers, **kwargs)

    def patch(self, path: str, body: Any):  # type: ignore[no-untyped-def]
        return self.client.patch(f"/api/t/acme{path}", headers=self.headers, json=body)


@pytest.fixture
def api(client, session, acme):  # type: ignore[no-untyped-def]
    class People:
        pass

    people = People()
    for name in PEOPLE:
        setattr(people, name, Api(client, session, f"{name}@acme.example"))
    return people


def ok(response, status: int = 200) -> Any:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


def error_of(response, status: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.is_json
    error = response.get_json()["error"]
    assert error["status"] == status
    return error


def measure_id(session) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(Record.id).where(Record.title == MEASURE))


def fix(person: Api, record_id: int, **values: Any) -> dict[str, Any]:
    """Change fields through the API, based on the version just read."""
    record = ok(person.get(f"/records/{record_id}"))
    return ok(person.patch(f"/records/{record_id}", {"version": record["version"], "values": values}))


def refused_with(person: Api, record_id: int, transition: str) -> list[dict[str, Any]]:
    error = error_of(person.post(f"/records/{record_id}/transitions/{transition}"), 422)
    assert "cannot be requested yet" in error["message"]
    return error["missing"]


def option(person: Api, record_id: int, transition: str) -> dict[str, Any]:
    listing = ok(person.get(f"/records/{record_id}/transitions"))
    return next(o for o in listing["transitions"] if o["key"] == transition)


def inbox_steps(api, kind: str = "approvals") -> dict[str, list[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    """Per person, the (task id, step key) entries of one inbox list."""
    return {name: [(e["id"], e["key"]) for e in ok(getattr(api, name).get("/inbox"))[kind]] for name in PEOPLE}


def only_in_inbox_of(api, name: str, task_id: int, step: str) -> None:  # type: ignore[no-untyped-def]
    steps = inbox_steps(api)
    assert steps[name] == [(task_id, step)]
    assert {other: s for other, s in steps.items() if other != name} == {other: [] for other in PEOPLE if other != name}


def attach_business_case(session, tenant: Tenant, record_id: int, upload_dir) -> None:  # type: ignore[no-untyped-def]
    """Evidence is uploaded through the form (multipart); the JSON API has no file upload.
    The owner attaches it through the engine, as the form's save does."""
    session.expire_all()
    owner = session.scalar(select(User).where(User.email == "owner@acme.example"))
    config = tenants.active_config(session, tenant)
    records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, owner)),
                      DiskBlobStore(upload_dir))
    record = records.get(record_id)
    records.update(record, Submission(record.title, MultiDict(), uploads={"business_case": [
        Upload("business-case.pdf", "application/pdf", b"%PDF-1.4 signed business case")]}), record.version)
    session.commit()


# -- the walk -------------------------------------------------------------------------------------
def test_a_measure_walks_from_doi1_to_doi6_through_the_api(api, session, acme, upload_dir) -> None:  # type: ignore[no-untyped-def]
    record_id = measure_id(session)
    owner, pm, cfo, controller = api.owner, api.pm, api.cfo, api.controller
    assert ok(owner.get(f"/records/{record_id}"))["stage"] == "doi1"

    # The owner sees what they may request from DoI1; cancelling is not theirs.
    listing = ok(owner.get(f"/records/{record_id}/transitions"))
    assert listing["pending"] is None
    assert listing["transitions"] == [{
        "key": "identify", "label": "Identify (DoI1 → DoI2)", "to": "doi2", "ready": False,
        "missing": [{"field": "target_date", "label": "Target date", "message": "Target date is empty."}],
        "approvals": []}]
    assert [o["key"] for o in ok(pm.get(f"/records/{record_id}/transitions"))["transitions"]] == ["identify", "cancel"]
    assert ok(api.viewer.get(f"/records/{record_id}/transitions"))["transitions"] == []
    # Held up by its gate, the measure is in the owner's inbox (and in nobody else's).
    blocked = ok(owner.get("/inbox"))["blocked"]
    assert [b["record"]["id"] for b in blocked if b["record"]["id"] == record_id] == [record_id]
    assert record_id not in [b["record"]["id"] for b in ok(pm.get("/inbox"))["blocked"]]

    # DoI1 -> DoI2: no approval, applied at once.
    assert refused_with(owner, record_id, "identify") == [
        {"field": "target_date", "label": "Target date", "message": "Target date is empty."}]
    fix(owner, record_id, target_date="2027-06-30")
    identified = owner.post(f"/records/{record_id}/transitions/identify", {"comment": "Scope agreed"})
    done = ok(identified, 201)
    assert (done["transition"], done["from"], done["to"], done["state"], done["steps"]) == \
        ("identify", "doi1", "doi2", "approved", [])
    assert done["requested_by"] == {"id": owner.user.id, "name": "Oskar Owner"} and done["comment"] == "Scope agreed"
    assert identified.headers["Location"].endswith(f"/api/t/acme/requests/{done['id']}")
    assert ok(owner.get(f"/requests/{done['id']}")) == done
    assert ok(owner.get(f"/records/{record_id}"))["stage"] == "doi2"

    # DoI2 -> DoI3: the description is missing.
    assert refused_with(owner, record_id, "detail") == [
        {"field": "description", "label": "Description", "message": "Description is empty."}]
    fix(owner, record_id, description="Two PCB suppliers instead of five, under one framework contract.")
    assert ok(owner.post(f"/records/{record_id}/transitions/detail"), 201)["state"] == "approved"
    assert ok(owner.get(f"/records/{record_id}"))["stage"] == "doi3"

    # DoI3 -> DoI4: the business case is missing; then the program manager and the CFO decide.
    assert refused_with(owner, record_id, "decide") == [
        {"field": "business_case", "label": "Business case", "message": "Business case: no file attached."}]
    attach_business_case(session, acme, record_id, upload_dir)
    ready = option(owner, record_id, "decide")
    assert ready["ready"] and ready["missing"] == []
    assert ready["approvals"] == [
        {"key": "program_manager", "label": "Program manager decision", "role": "program_manager",
         "roles": ["program_manager"], "parallel_with_previous": False, "reason": None},
        {"key": "cfo", "label": "CFO approval (potential above 250,000 EUR)", "role": "cfo", "roles": ["cfo"],
         "parallel_with_previous": False, "reason": None}]
    requested = ok(owner.post(f"/records/{record_id}/transitions/decide", {"comment": "Supplier audit done"}), 201)
    assert (requested["state"], requested["from"], requested["to"]) == ("pending", "doi3", "doi4")
    assert requested["config_version"] == 1
    pm_step, cfo_step = requested["steps"]
    assert (pm_step["key"], pm_step["state"], pm_step["role"], pm_step["needed"], pm_step["votes"]) == \
        ("program_manager", "pending", "program_manager", 1, [])
    assert pm_step["due_at"] is not None and pm_step["escalated_at"] is None
    assert (cfo_step["key"], cfo_step["state"], cfo_step["due_at"]) == ("cfo", "waiting", None)
    assert ok(owner.get(f"/records/{record_id}/transitions"))["pending"] == requested
    assert [r["id"] for r in ok(owner.get("/inbox"))["requests"]] == [requested["id"]]
    error_of(owner.post(f"/records/{record_id}/transitions/decide"), 409)  # one request in flight
    only_in_inbox_of(api, "pm", pm_step["id"], "program_manager")
    # The CFO's step is not open yet.
    assert "not open yet" in error_of(cfo.post(f"/approvals/{cfo_step['id']}", {"decision": "approve"}), 409)["message"]
    # Overdue: escalated to the steering committee, whose members see it in "escalated".
    escalated = escalate_overdue(session, utcnow() + dt.timedelta(days=6))
    session.commit()
    assert [t.id for t in escalated] == [pm_step["id"]]
    assert [(e["id"], e["record"]["number"]) for e in ok(api.steerco.get("/inbox"))["escalated"]] == \
        [(pm_step["id"], ok(owner.get(f"/records/{record_id}"))["number"])]
    assert ok(owner.get("/inbox"))["escalated"] == [] and ok(pm.get("/inbox"))["escalated"] == []

    decided = ok(pm.post(f"/approvals/{pm_step['id']}", {"decision": "approve", "comment": "Go"}))
    assert [s["state"] for s in decided["steps"]] == ["approved", "pending"]
    assert decided["steps"][0]["votes"][0]["user"] == {"id": pm.user.id, "name": "Petra Program"}
    assert (decided["steps"][0]["votes"][0]["decision"], decided["steps"][0]["votes"][0]["on_behalf_of"]) == \
        ("approve", None)
    twice = error_of(pm.post(f"/approvals/{pm_step['id']}", {"decision": "approve"}), 409)
    assert twice["message"] == "This step was already decided; nothing was changed."
    only_in_inbox_of(api, "cfo", cfo_step["id"], "cfo")
    ok(cfo.post(f"/approvals/{cfo_step['id']}", {"decision": "approve"}))
    assert ok(owner.get(f"/records/{record_id}"))["stage"] == "doi4"
    assert ok(owner.get("/inbox"))["requests"] == []
    assert all(not steps for steps in inbox_steps(api).values())

    # DoI4 -> DoI5: an implementation in critical state cannot be confirmed.
    critical = ok(owner.post(f"/records/{record_id}/status/implementation_status",
                             {"value": "critical", "comment": "Second supplier failed qualification."}))
    assert critical["changed"] is True
    assert option(owner, record_id, "implement")["ready"] is False
    refused = error_of(owner.post(f"/records/{record_id}/transitions/implement"), 422)
    assert refused["missing"] == [{"field": None, "label": "Condition",
                                   "message": "The condition implementation_status != 'critical' does not hold."}]
    record = ok(owner.get(f"/records/{record_id}"))
    cleared = owner.patch(f"/records/{record_id}", {"version": record["version"],
                                                    "values": {"implementation_status": None, "potential": None}})
    assert set(error_of(cleared, 422)["fields"]) == {"implementation_status", "potential"}
    delayed = owner.post(f"/records/{record_id}/status/implementation_status", {"value": "delayed"})
    assert "comment is required" in error_of(delayed, 422)["fields"]["comment"]
    status = ok(owner.post(f"/records/{record_id}/status/implementation_status",
                           {"value": "delayed", "comment": "Second supplier qualification slipped."}))
    assert (status["dimension"], status["value"], status["changed"]) == ("implementation_status", "delayed", True)
    assert [(h["from"], h["to"], h["comment"], h["user"]["name"]) for h in status["history"]][0] == \
        ("critical", "delayed", "Second supplier qualification slipped.", "Oskar Owner")
    again = ok(owner.post(f"/records/{record_id}/status/implementation_status",
                          {"value": "delayed", "comment": "Still"}))
    assert again["changed"] is False and len(again["history"]) == len(status["history"])
    ok(owner.post(f"/records/{record_id}/status/implementation_status", {"value": "on_track"}))
    assert ok(owner.post(f"/records/{record_id}/transitions/implement"), 201)["state"] == "approved"
    assert ok(owner.get(f"/records/{record_id}"))["stage"] == "doi5"

    # DoI5 -> DoI6: a lost potential cannot be closed; confirmed again, the controller validates
    # the benefit and approves the closure.
    lost = owner.post(f"/records/{record_id}/status/potential_status", {"value": "lost"})
    assert "comment is required" in error_of(lost, 422)["fields"]["comment"]
    ok(owner.post(f"/records/{record_id}/status/potential_status",
                  {"value": "lost", "comment": "The main supplier withdrew its offer."}))
    assert refused_with(owner, record_id, "close") == [
        {"field": None, "label": "Condition", "message": "The condition potential_status != 'lost' does not hold."}]
    ok(owner.post(f"/records/{record_id}/status/potential_status",
                  {"value": "confirmed", "comment": "The second supplier confirmed the volumes."}))
    closing = ok(owner.post(f"/records/{record_id}/transitions/close"), 201)
    (validation,) = closing["steps"]
    assert (validation["key"], validation["role"], validation["state"]) == \
        ("benefit_validation", "controller", "pending")
    only_in_inbox_of(api, "controller", validation["id"], "benefit_validation")
    # The owner cannot validate the benefit; the controller can, without other update rights.
    record = ok(owner.get(f"/records/{record_id}"))
    refused = error_of(owner.patch(f"/records/{record_id}", {"version": record["version"],
                                                             "values": {"benefit_validated": True}}), 422)
    assert "benefit_validated" in refused["fields"]
    assert ok(owner.get(f"/records/{record_id}"))["values"]["benefit_validated"] is False
    validated = fix(controller, record_id, benefit_validated=True)
    assert validated["values"]["benefit_validated"] is True
    assert validated["values"]["validated_benefit_run_rate"] == 425000
    ok(controller.post(f"/records/{record_id}/comments", {"body": "Savings visible in the October close."}), 201)
    final = ok(controller.post(f"/approvals/{validation['id']}", {"decision": "approve"}))
    assert final["state"] == "approved" and final["steps"][0]["state"] == "approved"
    assert ok(owner.get(f"/records/{record_id}"))["stage"] == "doi6"
    assert ok(owner.get(f"/records/{record_id}/transitions"))["transitions"] == []
    assert all(not steps for steps in inbox_steps(api).values())

    # Everything left its trace, and the chain holds.
    session.expire_all()
    kinds = [k for k in session.scalars(select(AuditEvent.kind).where(AuditEvent.record_id == record_id)
                                        .order_by(AuditEvent.id))]
    assert kinds.count("record.transitioned") == 5 and kinds.count("approval.decided") == 3
    assert kinds.count("comment.added") == 1 and kinds.count("approval.escalated") == 1
    assert audit.verify(session, acme.id) is None


# -- refusals ---------------------------------------------------------------------------------------
def _pending_decision(api, session, acme, upload_dir) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The measure at DoI3 with its business case, and the owner's pending "decide" request."""
    record_id = measure_id(session)
    session.execute(Record.__table__.update().where(Record.id == record_id).values(stage_key="doi3"))
    session.commit()
    fix(api.owner, record_id, target_date="2027-06-30")
    attach_business_case(session, acme, record_id, upload_dir)
    return record_id, ok(api.owner.post(f"/records/{record_id}/transitions/decide"), 201)


def test_rejection_needs_a_comment_and_sends_the_measure_back(api, session, acme, upload_dir) -> None:  # type: ignore[no-untyped-def]
    record_id, requested = _pending_decision(api, session, acme, upload_dir)
    step = requested["steps"][0]["id"]
    error = error_of(api.pm.post(f"/approvals/{step}", {"decision": "reject"}), 422)
    assert error["fields"] == {"comment": "Say why you reject: a comment is required."}
    assert error_of(api.pm.post(f"/approvals/{step}", {"decision": "maybe"}), 422)["fields"] == \
        {"decision": "Choose approve or reject."}
    assert "decision" in error_of(api.pm.post(f"/approvals/{step}", {"decision": 1}), 422)["fields"]
    assert "Unknown properties" in error_of(api.pm.post(f"/approvals/{step}", {"verdict": "approve"}), 400)["message"]
    assert "JSON object" in error_of(api.pm.post(f"/approvals/{step}"), 400)["message"]
    rejected = ok(api.pm.post(f"/approvals/{step}", {"decision": "reject", "comment": "Numbers are not backed."}))
    assert rejected["state"] == "rejected" and [s["state"] for s in rejected["steps"]] == ["rejected", "cancelled"]
    assert rejected["steps"][0]["votes"][0]["comment"] == "Numbers are not backed."
    assert ok(api.owner.get(f"/records/{record_id}"))["stage"] == "doi3"
    assert error_of(api.cfo.post(f"/approvals/{rejected['steps'][1]['id']}", {"decision": "approve"}), 409)


def test_who_may_decide_withdraw_and_see(api, session, acme, upload_dir) -> None:  # type: ignore[no-untyped-def]
    record_id, requested = _pending_decision(api, session, acme, upload_dir)
    step, request_id = requested["steps"][0]["id"], requested["id"]
    # Only a program manager at the measure's place decides the first step; the owner does not
    # decide their own request; the viewer reads the request but decides nothing.
    for person in (api.cfo, api.controller, api.admin, api.owner, api.viewer):
        assert error_of(person.post(f"/approvals/{step}", {"decision": "approve"}), 403)["message"]
    assert ok(api.viewer.get(f"/requests/{request_id}"))["id"] == request_id
    # Withdrawal is the requester's alone.
    assert "only the person who asked" in error_of(api.pm.post(f"/requests/{request_id}/withdraw"), 403)["message"]
    withdrawn = ok(api.owner.post(f"/requests/{request_id}/withdraw", {"comment": "Numbers need another look"}))
    assert withdrawn["state"] == "withdrawn" and [s["state"] for s in withdrawn["steps"]] == ["cancelled", "cancelled"]
    assert error_of(api.owner.post(f"/requests/{request_id}/withdraw"), 409)
    assert "already decided" in error_of(api.pm.post(f"/approvals/{step}", {"decision": "approve"}), 409)["message"]
    assert session.scalar(select(func.count()).select_from(ApprovalVote)) == 0
    # Unknown transitions, dimensions, requests and steps are 404; bad bodies are 400/422.
    assert error_of(api.owner.post(f"/records/{record_id}/transitions/launch"), 404)
    assert error_of(api.owner.post(f"/records/{record_id}/status/mood", {"value": "happy"}), 404)
    assert error_of(api.owner.get("/requests/999999"), 404)
    assert error_of(api.owner.post("/approvals/999999", {"decision": "approve"}), 404)
    assert error_of(api.owner.post(f"/records/{record_id}/transitions/decide", {"comment": 5}), 422)["fields"] == \
        {"comment": "Send a string."}
    assert error_of(api.owner.post(f"/records/{record_id}/status/implementation_status", {"value": "meh"}), 422)
    assert error_of(api.owner.post(f"/records/{record_id}/comments", {"body": "  "}), 422)["fields"] == \
        {"body": "Write something first."}
    # The viewer may read but not comment (acme's viewer has no comment right).
    assert error_of(api.viewer.post(f"/records/{record_id}/comments", {"body": "Nice"}), 403)
    # Another workspace's people do not see acme's request at all.
    desk = Api(api.owner.client, session, "analyst@servicedesk.example")
    assert error_of(desk.get(f"/requests/{request_id}"), 404)


def test_another_workspaces_ids_are_404(api, session, acme, upload_dir) -> None:  # type: ignore[no-untyped-def]
    record_id, requested = _pending_decision(api, session, acme, upload_dir)
    step, request_id = requested["steps"][0]["id"], requested["id"]
    # The consultant belongs to both workspaces: acme's ids under servicedesk are unknown.
    consultant = Api(api.owner.client, session, "consultant@steerco.example")
    desk = partial(consultant.post, tenant="servicedesk")
    assert error_of(consultant.get(f"/records/{record_id}/transitions", tenant="servicedesk"), 404)
    assert error_of(consultant.get(f"/requests/{request_id}", tenant="servicedesk"), 404)
    assert error_of(desk(f"/records/{record_id}/transitions/decide"), 404)
    assert error_of(desk(f"/requests/{request_id}/withdraw"), 404)
    assert error_of(desk(f"/approvals/{step}", {"decision": "approve"}), 404)
    assert error_of(desk(f"/records/{record_id}/status/implementation_status", {"value": "on_track"}), 404)
    assert error_of(desk(f"/records/{record_id}/comments", {"body": "x"}), 404)
    assert ok(consultant.get("/inbox", tenant="servicedesk"))["approvals"] == []
    # Nothing was decided or written by those calls.
    session.expire_all()
    assert session.scalar(select(TransitionRequest.state).where(TransitionRequest.id == request_id)) == "pending"
    assert session.scalar(select(func.count()).select_from(ApprovalVote)) == 0
