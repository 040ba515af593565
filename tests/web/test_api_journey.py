"""One acme measure from DoI1 to DoI6 through the JSON API alone, as the people who move it.

The same journey as ``tests/browser/test_doi_journey.py``, with tokens instead of a
browser: the owner fills what each gate asks for (PATCH with the version read), uploads
the business case as a multipart file (the DoI4 gate's required evidence) and requests
each transition; the program manager and the CFO find their steps in their inboxes and
approve; the controller validates the benefit and approves the closure. Every write is
the engine's, so the audit trail tells the story, and the record's PDF comes back too.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from steerco.engine import tokens
from steerco.store.models import Attachment, AuditEvent, Record, User

MEASURE = "Consolidate PCB suppliers"
API = "/api/t/acme"


@pytest.fixture
def demo(session, demo_workspaces):  # type: ignore[no-untyped-def]
    return session


def token_of(session, email: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    user = session.scalars(select(User).where(User.email == email)).one()
    _, plaintext = tokens.create_token(session, user, "journey")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


class Person:
    """Someone calling the API with their own token."""

    def __init__(self, client, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        self.client, self.headers = client, headers

    def get(self, path: str, status: int = 200) -> Any:
        response = self.client.get(API + path, headers=self.headers)
        assert response.status_code == status, response.get_data(as_text=True)[:500]
        return response.get_json() if response.is_json else response

    def send(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = self.client.open(API + path, method=method, headers=self.headers, **kwargs)
        assert response.status_code == status, response.get_data(as_text=True)[:500]
        return response.get_json()

    def record(self, record_id: int) -> dict[str, Any]:
        return self.get(f"/records/{record_id}")

    def patch(self, record_id: int, values: dict[str, Any]) -> dict[str, Any]:
        version = self.record(record_id)["version"]
        return self.send("PATCH", f"/records/{record_id}", 200, json={"version": version, "values": values})

    def missing(self, record_id: int, transition: str) -> list[str]:
        options = {o["key"]: o for o in self.get(f"/records/{record_id}/transitions")["transitions"]}
        return [m["message"] for m in options[transition]["missing"]]

    def request(self, record_id: int, transition: str, comment: str = "") -> dict[str, Any]:
        return self.send("POST", f"/records/{record_id}/transitions/{transition}", 201, json={"comment": comment})

    def approve_waiting(self, record_id: int, step: str, comment: str = "") -> dict[str, Any]:
        waiting = [a for a in self.get("/inbox")["approvals"] if a["record"]["id"] == record_id]
        assert [a["label"] for a in waiting] == [step], waiting
        return self.send("POST", f"/approvals/{waiting[0]['id']}", 200,
                         json={"decision": "approve", "comment": comment})


def test_a_measure_goes_from_doi1_to_doi6_through_the_api_alone(client, demo) -> None:  # type: ignore[no-untyped-def]
    session = demo
    owner, pm, cfo, controller = (Person(client, token_of(session, f"{who}@acme.example"))
                                  for who in ("owner", "pm", "cfo", "controller"))
    found = owner.get(f"/records?level=measure&q={MEASURE.replace(' ', '+')}")["items"]
    assert [m["title"] for m in found] == [MEASURE]
    measure = found[0]["id"]
    assert owner.record(measure)["stage"] == "doi1"

    # -- DoI1 -> DoI2 -> DoI3: the gates name what is missing; a PATCH fills it ---------------
    assert "Target date is empty." in owner.missing(measure, "identify")
    owner.send("POST", f"/records/{measure}/transitions/identify", 422, json={})
    owner.patch(measure, {"target_date": "2027-06-30"})
    assert owner.request(measure, "identify", "Scope agreed with purchasing")["state"] == "approved"
    assert owner.record(measure)["stage"] == "doi2"

    assert "Description is empty." in owner.missing(measure, "detail")
    owner.patch(measure, {"description": "Bundle the PCB volume of both plants with two suppliers."})
    owner.request(measure, "detail")
    assert owner.record(measure)["stage"] == "doi3"

    # -- the business case as a multipart upload: the evidence gate of DoI4 ---------------------
    assert "Business case: no file attached." in owner.missing(measure, "decide")
    stale = owner.send("POST", f"/records/{measure}/files/business_case", 409, content_type="multipart/form-data",
                       data={"version": "1", "file": (io.BytesIO(b"%PDF-1.4 case"), "business-case.pdf")})
    assert stale["status"] == 409 and stale["current_version"] == owner.record(measure)["version"]
    version = owner.record(measure)["version"]
    uploaded = owner.send("POST", f"/records/{measure}/files/business_case", 201,
                          content_type="multipart/form-data",
                          data={"version": str(version),
                                "file": (io.BytesIO(b"%PDF-1.4\n% business case\n"), "business-case.pdf")})
    files = uploaded["values"]["business_case"]
    assert [(f["filename"], f["size"]) for f in files] == [("business-case.pdf", 25)]
    assert uploaded["version"] == version + 1
    download = owner.get(f"/attachments/{files[0]['id']}")
    assert download.data == b"%PDF-1.4\n% business case\n"
    assert "business-case.pdf" in download.headers["Content-Disposition"]
    assert owner.missing(measure, "decide") == []

    pending = owner.request(measure, "decide", "Supplier audits passed.")
    assert pending["state"] == "pending"
    assert [s["key"] for s in pending["steps"]] == ["program_manager", "cfo"]

    # -- the program manager, then the CFO, approve from their inboxes --------------------------
    pm.approve_waiting(measure, "Program manager decision", "Good case.")
    assert cfo.get("/inbox")["totals"]["approvals"] == 1
    decided = cfo.approve_waiting(measure, "CFO approval (potential above 250,000 EUR)")
    assert decided["state"] == "approved"
    assert owner.record(measure)["stage"] == "doi4"

    # -- DoI4 -> DoI5: a critical implementation status closes the gate until it recovers -------
    owner.send("POST", f"/records/{measure}/status/implementation_status", 200,
               json={"value": "critical", "comment": "Supplier B failed qualification."})
    owner.send("POST", f"/records/{measure}/transitions/implement", 422, json={})
    owner.send("POST", f"/records/{measure}/status/implementation_status", 200, json={"value": "on_track"})
    owner.request(measure, "implement")
    assert owner.record(measure)["stage"] == "doi5"
    owner.request(measure, "close", "Savings visible in the October close.")

    # -- the controller validates the benefit and approves the closure ----------------------------
    controller.patch(measure, {"benefit_validated": True})
    closed = controller.approve_waiting(measure, "Benefit validation by controlling", "Effect booked in the P&L.")
    assert closed["state"] == "approved"
    final = owner.record(measure)
    assert final["stage"] == "doi6" and final["values"]["benefit_validated"] is True

    # The audit trail tells the whole story, and the record prints.
    kinds = [e.kind for e in session.scalars(select(AuditEvent).where(AuditEvent.record_id == measure)
                                             .order_by(AuditEvent.id))]
    assert kinds.count("record.transitioned") == 5 and kinds.count("approval.decided") == 3, kinds
    assert kinds.count("record.updated") == 4  # two gate fixes, the file, the controller's check
    stored = session.scalar(select(Attachment).where(Attachment.record_id == measure))
    assert stored.filename == "business-case.pdf"
    pdf = owner.get(f"/records/{measure}/pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert session.get(Record, measure) is not None
