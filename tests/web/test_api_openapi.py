"""The OpenAPI document of each workspace: valid, generated from its configuration, and true.

- It validates against the OpenAPI 3.1 specification (openapi-spec-validator).
- A field added to the configuration appears in its level's schemas without code.
- A property-based run (schemathesis, on Hypothesis) calls every documented operation with
  generated parameters and bodies, as a tenant administrator, and checks each answer
  against the document: no server error, a documented status, the documented media type
  and a body that matches its schema. Path ids are drawn from a sample of the workspace's
  real objects (and one that does not exist), so the calls reach records, files, steps,
  people and jobs rather than 404 alone.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.engine.errors import ValidationFailed
from steerco.fields import Upload
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import ApprovalTask, Attachment, Record, ReportJob, RoleAssignment, Tenant, User

ADMINS = {"acme": "admin@acme.example", "servicedesk": "admin@servicedesk.example"}
#: examples per operation: enough to reach every answer of each, short enough for every run
EXAMPLES = 12


@pytest.fixture
def demo(session, demo_workspaces):  # type: ignore[no-untyped-def]
    return session


def bearer(session, email: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    user = session.scalars(select(User).where(User.email == email)).one()
    _, plaintext = tokens.create_token(session, user, "openapi")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_the_openapi_document_of_each_demo_tenant_validates(client, demo, slug) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/t/{slug}/openapi.json", headers=bearer(demo, ADMINS[slug]))
    assert response.status_code == 200
    document = response.get_json()
    validate(document)  # raises with the place of the first problem
    assert document["openapi"].startswith("3.1") and document["servers"] == [{"url": f"/api/t/{slug}"}]
    tenant = demo.scalar(select(Tenant).where(Tenant.slug == slug))
    config = tenants.active_config(demo, tenant)
    schemas = document["components"]["schemas"]
    for level in config.levels.values():
        values = schemas[f"Values_{level.key}"]["properties"]
        assert set(values) == {f.key for f in level.fields}
        assert all(values[f.key]["title"] == f.label for f in level.fields)
    # A token is needed: the document names the workspace's fields and roles.
    assert client.get(f"/api/t/{slug}/openapi.json").status_code == 401


def test_a_new_field_appears_in_the_document_without_code(client, session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    headers = bearer(session, admin.email)
    level = tenants.active_config(session, tenant).levels["program"]
    before = client.get("/api/t/mini/openapi.json", headers=headers).get_json()
    assert "risk_score" not in before["components"]["schemas"][f"Values_{level.key}"]["properties"]

    documents = copy.deepcopy(documents)
    documents["fields"]["fields"].append({"key": "risk_score", "label": "Risk score", "type": "integer",
                                          "min": 0, "max": 10})
    documents["levels"]["levels"][0]["sections"][0]["fields"].append("risk_score")
    tenants.store_config(session, documents)
    session.commit()
    after = client.get("/api/t/mini/openapi.json", headers=headers).get_json()
    validate(after)
    risk = after["components"]["schemas"][f"Values_{level.key}"]["properties"]["risk_score"]
    assert risk["title"] == "Risk score"
    assert {"type": "integer", "minimum": 0, "maximum": 10}.items() <= risk["anyOf"][0].items()
    assert "risk_score" in after["components"]["schemas"][f"Input_{level.key}"]["properties"]


def test_the_docs_page_renders_the_document_without_scripts(client, demo) -> None:  # type: ignore[no-untyped-def]
    from steerco.demo import DEMO_PASSWORD

    assert client.post("/login", data={"email": "admin@acme.example", "password": DEMO_PASSWORD}).status_code == 302
    page = client.get("/t/acme/api-docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for text in ("GET /records", "POST /records/{record_id}/files/{field_key}", "Values_measure",
                 "Business case", "application/problem+json"):
        assert text in html
    assert "<script" not in html.split("</head>")[1] and "cdn" not in html.lower()
    problems = client.get("/api/problems").get_data(as_text=True)
    assert 'id="stale-record"' in problems and 'id="validation-failed"' in problems


# -- the property-based run -------------------------------------------------------------------
def _sample(session, slug: str, upload_dir) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """Real ids of the workspace for each path parameter (plus one that names nothing)."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    config = tenants.active_config(session, tenant)
    admin = session.scalars(select(User).where(User.email == ADMINS[slug])).one()
    access = Access(config, tenants.actor_for(session, tenant, admin))
    records = Records(session, tenant.id, config, access, DiskBlobStore(upload_dir))
    level_key, field_key = next((lv.key, f.key) for lv in config.levels.values() for f in lv.fields
                                if f.kind.storage == "attachments")
    for record in session.scalars(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == level_key)
                                  .order_by(Record.id)).all():
        try:  # the first record whose other values let it be saved as it is
            records.update(record, Submission(record.title, MultiDict(), {field_key: [
                Upload("evidence.txt", "text/plain", b"evidence")]}), record.version)
        except ValidationFailed:
            session.rollback()
            continue
        session.commit()
        break
    pending = session.scalar(select(ApprovalTask.id).where(ApprovalTask.tenant_id == tenant.id))
    ids = list(session.scalars(select(Record.id).where(Record.tenant_id == tenant.id).order_by(Record.id).limit(8)))
    return {
        "record_id": ids + [999_999], "attachment_id": list(session.scalars(select(Attachment.id).where(
            Attachment.tenant_id == tenant.id))) + [999_999],
        "user_id": list(session.scalars(select(RoleAssignment.user_id).where(
            RoleAssignment.tenant_id == tenant.id).distinct().limit(6))) + [999_999],
        "assignment_id": list(session.scalars(select(RoleAssignment.id).where(
            RoleAssignment.tenant_id == tenant.id).limit(6))) + [999_999],
        "task_id": ([pending] if pending else []) + [999_999],
        "request_id": [1, 2, 999_999],
        "job_id": list(session.scalars(select(ReportJob.id).where(ReportJob.tenant_id == tenant.id))) + [999_999],
        "field_key": [field_key, "no_such_field"],
        "key": sorted({t.key for w in config.workflows.values() for t in w.transitions} | set(config.reports))[:6]
        + ["no_such_key"],
    }


def _pinned(document: dict[str, Any], sample: dict[str, list[Any]]) -> dict[str, Any]:
    """The document with each path parameter limited to the sample (the run's own choice;
    the document itself allows any id)."""
    pinned = copy.deepcopy(document)
    for item in pinned["paths"].values():
        for holder in [item, *[op for m, op in item.items() if m != "parameters"]]:
            for param in holder.get("parameters", []) if isinstance(holder, dict) else []:
                if param["in"] == "path" and param["name"] in sample and "enum" not in param["schema"]:
                    param["schema"] = {"enum": sample[param["name"]]}
    return pinned


class _QueuedOnly:
    """Report PDFs are queued, not rendered, during the run (a job per call would take minutes)."""

    def submit(self, tenant_id: int, job_id: int) -> None:
        pass


@pytest.mark.fuzz
@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_every_documented_operation_answers_as_documented(app, client, demo, slug, upload_dir,  # type: ignore[no-untyped-def]
                                                          monkeypatch) -> None:
    monkeypatch.setitem(app.extensions, "steerco.report_runner", _QueuedOnly())
    headers = bearer(demo, ADMINS[slug])
    document = client.get(f"/api/t/{slug}/openapi.json", headers=headers).get_json()
    schema = schemathesis.openapi.from_dict(_pinned(document, _sample(demo, slug, upload_dir)))
    schema.app = app
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    statuses: dict[int, int] = {}

    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers)
            calls[label] = calls.get(label, 0) + 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=checks)
            except Exception as exc:  # noqa: BLE001 - collected, all named at the end
                failures.setdefault(label, f"{response.status_code}: {str(exc)[:600]}")

        run()
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert sum(n for status, n in statuses.items() if status >= 500) == 0
    assert len(calls) == sum(len([m for m in item if m != "parameters"]) for item in document["paths"].values())
    assert statuses.get(200, 0) + statuses.get(201, 0) > len(calls)  # not only refusals
