"""The JSON API under /api/t/<tenant>/: the same engine as the forms, reached with a token.

Lists filter, sort and page in SQL from the one read filter; reads show only the fields
visible to the actor; writes are validated like a form post, need the version they are
based on, and answer every problem as a JSON error. Tenants stay apart: another
workspace's record is a 404 that says nothing about it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from configs import editor_documents
from steerco.config.model import Field, Option
from steerco.engine import tokens
from steerco.fields import FieldInvalid, registry
from steerco.store.models import ApiToken, AuditEvent, Membership, PeriodValue, Record, Tenant, User

MEASURE = {"potential": 120000, "has_capex": False, "category": "procurement", "due": "2026-05-31",
           "description": "Cheaper coil", "financials": {"plan": {"2026-01": 1000}, "actual": {"2026-02": 250.5}}}


# -- helpers and fixtures ------------------------------------------------------------------
def bearer(session, user: User) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, plaintext = tokens.create_token(session, user, "tests")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def user_named(session, email: str) -> User:  # type: ignore[no-untyped-def]
    return session.scalars(select(User).where(User.email == email)).one()


def error_of(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.is_json, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["error"]["status"] == response.status_code
    return body["error"]


@pytest.fixture
def demo(session, demo_workspaces):  # type: ignore[no-untyped-def]
    """Both demo tenants; passwords hashed cheaply, since no test here logs in with them."""
    return session


@pytest.fixture
def mini(session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    """The mini tenant, an admin with a token, and one program to put measures under."""
    tenant = make_tenant()
    admin = make_user(tenant, [("admin", None)], name="Ada Admin")
    headers = bearer(session, admin)

    class Mini:
        pass

    mini = Mini()
    mini.tenant, mini.admin, mini.headers = tenant, admin, headers
    return mini


def post(client, headers, body, tenant="mini"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/t/{tenant}/records", json=body, headers=headers)


def patch(client, headers, record_id, body, tenant="mini"):  # type: ignore[no-untyped-def]
    return client.patch(f"/api/t/{tenant}/records/{record_id}", json=body, headers=headers)


def program_and_measure(client, headers, **values):  # type: ignore[no-untyped-def]
    program = post(client, headers, {"level": "program", "title": "Cost program"}).get_json()
    created = post(client, headers, {"level": "measure", "parent": program["id"], "title": "Renegotiate steel",
                                     "values": {**MEASURE, **values}})
    assert created.status_code == 201, created.get_data(as_text=True)
    return program, created.get_json()


def listing(client, headers, tenant="acme", **params):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/t/{tenant}/records", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- JSON values through each field type's parser ---------------------------------------
OPTIONS = (Option("a", "A"), Option("b", "B"))
ROUND_TRIPS = [
    ("text", {}, "Hello", "Hello"), ("long_text", {}, "two\nlines", "two\nlines"),
    ("integer", {}, 42, 42), ("decimal", {}, 2.5, 2.5), ("money", {}, 1250.5, 1250.5),
    ("percent", {}, 95, 95), ("date", {}, "2026-05-31", "2026-05-31"),
    ("yes_no", {}, True, True), ("yes_no", {}, False, False),
    ("single_choice", {"options": OPTIONS}, "b", "b"),
    ("multiple_choice", {"options": OPTIONS}, ["a", "b"], ["a", "b"]),
    ("multiple_choice", {"options": OPTIONS}, [], None),
    ("user", {}, 7, 7), ("reference", {}, 9, 9),
    ("money_grid", {"scenarios": ("plan",)}, {"plan": {"2026-01": 10, "2026-02": None}},
     {"plan": {"2026-01": 10.0, "2026-02": None}}),
    ("measure_grid", {"scenarios": ("target", "actual"), "unit": "%"}, {"target": {"2026-01": 95}, "actual": {"2026-01": 93.5}},
     {"target": {"2026-01": 95.0}, "actual": {"2026-01": 93.5}}),
    ("text", {}, None, None), ("money", {}, None, None),
]


@pytest.mark.parametrize("type_key, attributes, sent, parsed", ROUND_TRIPS)
def test_each_type_turns_json_into_the_form_input_its_parser_reads(type_key, attributes, sent, parsed):  # type: ignore[no-untyped-def]
    field = Field(key="f", label="F", type=type_key, kind=registry.get(type_key), **attributes)
    form = MultiDict(field.kind.form_input(field, sent))
    assert field.kind.parse(field, form, {}) == parsed


def test_every_registered_type_answers_form_input():  # type: ignore[no-untyped-def]
    covered = {type_key for type_key, *_ in ROUND_TRIPS} | {"evidence", "computed"}
    assert covered == set(registry.keys())
    for type_key in ("evidence", "computed"):
        field = Field(key="f", label="F", type=type_key, kind=registry.get(type_key))
        with pytest.raises(FieldInvalid):
            field.kind.form_input(field, [])


# -- reading -------------------------------------------------------------------------------
def test_list_filters_sorts_and_pages(client, demo):  # type: ignore[no-untyped-def]
    session = demo
    headers = bearer(session, user_named(session, "admin@acme.example"))
    measures = session.scalars(select(Record).join(Tenant).where(Tenant.slug == "acme",
                                                                 Record.level_key == "measure")).all()

    first = listing(client, headers, level="measure", sort="potential", dir="desc", per_page=5)
    assert (first["total"], first["pages"], first["page"], first["per_page"]) == (len(measures), 4, 1, 5)
    pages = [first] + [listing(client, headers, level="measure", sort="potential", dir="desc", per_page=5, page=n)
                       for n in (2, 3, 4)]
    items = [item for page in pages for item in page["items"]]
    assert [p["page"] for p in pages] == [1, 2, 3, 4] and len(pages[3]["items"]) == len(measures) - 15
    assert sorted(i["id"] for i in items) == sorted(m.id for m in measures)
    potentials = [i["values"]["potential"] for i in items]
    assert potentials == sorted(potentials, reverse=True)

    by_category = listing(client, headers, level="measure", **{"field.category": "procurement"})
    expected = [m for m in measures if m.values.get("category") == "procurement"]
    assert by_category["total"] == len(expected) > 0
    assert {i["values"]["category"] for i in by_category["items"]} == {"procurement"}

    with_capex = listing(client, headers, level="measure", **{"field.has_capex": "true"})
    assert with_capex["total"] == sum(1 for m in measures if m.values.get("has_capex")) > 0
    assert all(i["values"]["has_capex"] is True for i in with_capex["items"])
    rich = listing(client, headers, level="measure", **{"field.potential": "595000"})
    assert rich["total"] == sum(1 for m in measures if m.values.get("potential") == 595000) > 0

    steel = listing(client, headers, level="measure", q="STEEL")
    assert [i["title"] for i in steel["items"]] == ["Renegotiate coil steel contracts"]

    package = session.scalars(select(Record).where(Record.title == "Steel & Metals")).one()
    children = listing(client, headers, level="measure", parent=package.id, sort="title")
    assert children["total"] == 4 and {i["parent_id"] for i in children["items"]} == {package.id}
    assert [i["title"] for i in children["items"]] == sorted(i["title"] for i in children["items"])

    initial = listing(client, headers, level="measure", stage="doi1")
    assert initial["total"] == sum(1 for m in measures if m.stage_key == "doi1")
    assert listing(client, headers, level="measure", stage="doi6")["total"] == 0


def test_owner_me_lists_the_token_user_s_own_records_within_what_they_may_read(client, demo):  # type: ignore[no-untyped-def]
    session = demo
    owner = user_named(session, "owner@acme.example")
    headers = bearer(session, owner)
    mine = listing(client, headers, level="measure", owner="me", per_page=200)
    assert mine["total"] == session.scalar(select(func.count()).select_from(Record).where(
        Record.owner_id == owner.id, Record.level_key == "measure")) > 0
    assert {i["owner"]["id"] for i in mine["items"]} == {owner.id}
    # The measure owner reads only their program's subtree: measures elsewhere are not listed.
    everything = listing(client, headers, level="measure", per_page=200)
    assert everything["total"] == mine["total"]


@pytest.mark.parametrize("params, words", [
    ({}, "level is required"),
    ({"level": "measures"}, "'measures' is unknown"),
    ({"level": "measure", "sort": "colour"}, "cannot sort Measures by 'colour'"),
    ({"level": "measure", "sort": "financials"}, "cannot sort Measures by 'financials'"),
    ({"level": "measure", "field.colour": "red"}, "cannot filter Measures by 'colour'"),
    ({"level": "measure", "field.business_case": "x"}, "cannot filter Measures by 'business_case'"),
    ({"level": "measure", "field.potential": "a lot"}, "field.potential: Enter a number"),
    ({"level": "measure", "field.category": ["a", "b"]}, "field.category is given more than once"),
    ({"level": "measure", "stage": "doi9"}, "unknown stage 'doi9'"),
    ({"level": "organization", "stage": "doi1"}, "have no stages"),
    ({"level": "measure", "dir": "sideways"}, "dir must be asc or desc"),
    ({"level": "measure", "page": "two"}, "page must be a whole number"),
    ({"level": "measure", "owner": "someone"}, "only 'me'"),
    ({"level": "measure", "colour": "red"}, "unknown parameter 'colour'"),
])
def test_list_mistakes_are_400_with_a_message(client, demo, params, words):  # type: ignore[no-untyped-def]
    headers = bearer(demo, user_named(demo, "admin@acme.example"))
    response = client.get("/api/t/acme/records", query_string=params, headers=headers)
    assert response.status_code == 400
    assert words in error_of(response)["message"]


def test_read_a_record_with_grid_computed_and_evidence_values(client, session, mini, login):  # type: ignore[no-untyped-def]
    program, created = program_and_measure(client, mini.headers)
    login(mini.admin.email)  # evidence is uploaded through the form, the API only lists it
    upload = client.post(f"/t/mini/r/{created['id']}/edit", content_type="multipart/form-data",
                         data={"title": "Renegotiate steel", "version": "1",
                               "evidence": (io.BytesIO(b"%PDF-1.4 case"), "case.pdf")})
    assert upload.status_code == 303

    response = client.get(f"/api/t/mini/records/{created['id']}", headers=mini.headers)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    record = response.get_json()
    assert {k: record[k] for k in ("number", "level", "title", "parent_id", "stage", "version")} == {
        "number": "M-001", "level": "measure", "title": "Renegotiate steel", "parent_id": program["id"],
        "stage": "defined", "version": 2}
    assert record["owner"] == {"id": mini.admin.id, "name": "Ada Admin"}
    assert record["config_version"] == 1 and record["created_at"].endswith("+00:00")
    assert record["url"] == f"http://localhost/t/mini/r/{created['id']}"
    values = record["values"]
    assert values["potential"] == 120000 and values["weighted"] == 60000  # computed, included
    assert values["financials"] == {"plan": {"2026-01": 1000.0}, "actual": {"2026-02": 250.5}}
    assert values["evidence"] == [{"id": values["evidence"][0]["id"], "filename": "case.pdf", "size": 13}]
    assert values["has_capex"] is False and values["due"] == "2026-05-31"
    assert "capex_amount" not in values  # visible_if has_capex: hidden, so no key at all


def test_create_answers_201_with_the_record_and_its_location(client, session, mini):  # type: ignore[no-untyped-def]
    program, created = program_and_measure(client, mini.headers)
    response = post(client, mini.headers, {"level": "measure", "parent": program["id"], "title": "Second",
                                           "values": {"potential": 10}})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"http://localhost/api/t/mini/records/{body['id']}"
    assert "Set-Cookie" not in response.headers  # the API never starts a session
    assert body["number"] == "M-002" and body["version"] == 1 and body["values"]["weighted"] == 5
    assert client.get(response.headers["Location"], headers=mini.headers).get_json() == body
    stored = session.get(Record, body["id"])
    assert stored.parent_id == program["id"] and stored.created_by_id == mini.admin.id
    amounts = {(p.scenario, p.period): float(p.amount) for p in
               session.scalars(select(PeriodValue).where(PeriodValue.record_id == created["id"]))}
    assert amounts == {("plan", "2026-01"): 1000.0, ("actual", "2026-02"): 250.5}
    events = session.scalars(select(AuditEvent).where(AuditEvent.record_id == body["id"])).all()
    assert [(e.kind, e.user_id) for e in events] == [("record.created", mini.admin.id)]


def test_update_changes_what_was_sent_and_keeps_the_rest(client, session, mini):  # type: ignore[no-untyped-def]
    _, created = program_and_measure(client, mini.headers)
    response = patch(client, mini.headers, created["id"], {
        "version": 1, "title": "Renegotiate coil steel",
        "values": {"potential": 5000, "financials": {"plan": {"2026-02": 10, "2026-01": None}},
                   "category": None, "has_capex": True, "capex_amount": 700}})
    assert response.status_code == 200, response.get_data(as_text=True)
    record = response.get_json()
    assert record["version"] == 2 and record["title"] == "Renegotiate coil steel"
    values = record["values"]
    assert values["potential"] == 5000 and values["weighted"] == 2500
    assert values["financials"] == {"plan": {"2026-02": 10.0}, "actual": {"2026-02": 250.5}}
    assert values["category"] is None and values["capex_amount"] == 700
    assert values["description"] == "Cheaper coil"  # not sent, not touched

    title_only = patch(client, mini.headers, created["id"], {"version": 2, "title": "Steel"})
    assert title_only.status_code == 200 and title_only.get_json()["version"] == 3
    unchanged = patch(client, mini.headers, created["id"], {"version": 3, "values": {"potential": 5000}})
    assert unchanged.status_code == 200 and unchanged.get_json()["version"] == 3
    kinds = session.scalars(select(AuditEvent.kind).where(AuditEvent.record_id == created["id"])
                            .order_by(AuditEvent.id)).all()
    assert kinds == ["record.created", "record.updated", "record.updated"]


def test_a_stale_version_is_409_and_nothing_is_overwritten(client, session, mini):  # type: ignore[no-untyped-def]
    _, created = program_and_measure(client, mini.headers)
    assert patch(client, mini.headers, created["id"], {"version": 1, "title": "First"}).status_code == 200
    stale = patch(client, mini.headers, created["id"], {"version": 1, "title": "Second",
                                                        "values": {"potential": 1}})
    assert stale.status_code == 409
    error = error_of(stale)
    assert error["current_version"] == 2 and "nothing was saved" in error["message"]
    session.expire_all()
    record = session.get(Record, created["id"])
    assert (record.title, record.values["potential"], record.version) == ("First", 120000, 2)


@pytest.mark.parametrize("body", [{"title": "No version"}, {"version": "1", "title": "x"},
                                  {"version": True, "title": "x"}, {"version": None}])
def test_the_version_is_mandatory_on_the_api(client, session, mini, body):  # type: ignore[no-untyped-def]
    _, created = program_and_measure(client, mini.headers)
    response = patch(client, mini.headers, created["id"], body)
    assert response.status_code == 400 and "'version' is required" in error_of(response)["message"]
    session.expire_all()
    assert session.get(Record, created["id"]).title == "Renegotiate steel"


def test_invalid_values_are_422_with_the_form_s_messages_and_nothing_is_saved(client, session, mini):  # type: ignore[no-untyped-def]
    program = post(client, mini.headers, {"level": "program", "title": "P"}).get_json()
    response = post(client, mini.headers, {
        "level": "measure", "parent": program["id"], "title": " ",
        "values": {"description": "x" * 501, "potential": "a lot", "category": "forged_option",
                   "due": "31.05.2026", "has_capex": True}})
    assert response.status_code == 422
    error = error_of(response)
    assert error["message"] == "Please correct the marked fields."
    fields = error["fields"]
    assert fields["title"] == "Required."
    assert fields["description"] == "At most 500 characters."
    assert fields["potential"].startswith("Enter a number")
    assert fields["category"] == "Choose one of the offered options."
    assert fields["due"].startswith("Enter a date")
    assert fields["capex_amount"] == "Required."  # has_capex made it visible and required
    assert session.scalar(select(func.count()).select_from(Record).where(Record.level_key == "measure")) == 0


def test_values_of_the_wrong_json_type_or_unknown_keys_are_422_naming_them(client, session, mini):  # type: ignore[no-untyped-def]
    program, created = program_and_measure(client, mini.headers)
    response = patch(client, mini.headers, created["id"], {"version": 1, "values": {
        "colour": "red", "has_capex": "yes", "potential": True, "financials": [1, 2],
        "weighted": 1, "evidence": [], "description": 5}})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert fields == {
        "colour": "Measure has no field 'colour'.",
        "has_capex": "Send true or false.",
        "potential": "Send a number, or null to clear the field.",
        "financials": "Send an object of scenarios, each an object of periods (YYYY-MM) and amounts.",
        "weighted": "This value is computed from other fields and cannot be set.",
        "evidence": "Upload files through the form; the JSON API cannot attach them.",
        "description": "Send a string, or null to clear the field.",
    }
    grid = patch(client, mini.headers, created["id"], {"version": 1, "values": {
        "financials": {"forecast": {"2026-01": 1}}}})
    assert error_of(grid)["fields"] == {"financials": "Unknown scenario 'forecast'."}
    outside = patch(client, mini.headers, created["id"], {"version": 1, "values": {
        "financials": {"plan": {"2031-01": 1}}}})
    assert "outside the reporting periods" in error_of(outside)["fields"]["financials"]
    session.expire_all()
    assert session.get(Record, created["id"]).version == 1


@pytest.mark.parametrize("body, status, words", [
    ({"level": "task", "title": "x"}, 422, "Unknown level"),
    ({"level": "measure", "parent": "1", "title": "x"}, 422, "Send the id of the parent record"),
    ({"level": "measure", "parent": 99999, "title": "x"}, 422, "No such record."),
    ({"level": "measure", "title": "x"}, 403, "cannot be created here"),
    ({"level": "program", "title": "x", "values": []}, 400, "'values' must be an object"),
    ({"level": "program", "title": "x", "vals": {}}, 400, "Unknown properties vals"),
    ({"level": "program", "title": 7}, 422, "Send a string."),
])
def test_malformed_create_bodies_are_refused_with_json(client, session, mini, body, status, words):  # type: ignore[no-untyped-def]
    response = post(client, mini.headers, body)
    assert response.status_code == status
    error = error_of(response)
    assert words in error["message"] + json.dumps(error.get("fields", {}))
    assert session.scalar(select(func.count()).select_from(Record)) == 0


def test_a_body_that_is_not_a_json_object_is_400(client, mini):  # type: ignore[no-untyped-def]
    for kwargs in ({"data": "title=x"}, {"data": "[1]", "content_type": "application/json"},
                   {"data": "{", "content_type": "application/json"}):
        response = client.post("/api/t/mini/records", headers=mini.headers, **kwargs)
        assert response.status_code == 400 and "Send a JSON object" in error_of(response)["message"]


# -- field access --------------------------------------------------------------------------
def test_fields_hidden_from_a_role_are_absent_from_read_and_list(client, demo):  # type: ignore[no-untyped-def]
    session = demo
    viewer = bearer(session, user_named(session, "viewer@acme.example"))
    admin = bearer(session, user_named(session, "admin@acme.example"))
    measure = session.scalars(select(Record).where(Record.level_key == "measure").order_by(Record.id)).first()

    as_admin = client.get(f"/api/t/acme/records/{measure.id}", headers=admin).get_json()["values"]
    assert {"financials", "business_case", "potential"} <= set(as_admin)
    response = client.get(f"/api/t/acme/records/{measure.id}", headers=viewer)
    as_viewer = response.get_json()["values"]
    assert "potential" in as_viewer
    assert "financials" not in as_viewer and "business_case" not in as_viewer
    assert '"financials"' not in response.get_data(as_text=True)
    listed = client.get("/api/t/acme/records?level=measure&per_page=200", headers=viewer)
    assert listed.get_json()["total"] == 18
    assert all("financials" not in i["values"] and "business_case" not in i["values"]
               for i in listed.get_json()["items"])
    assert '"financials"' not in listed.get_data(as_text=True)

    refused = patch(client, viewer, measure.id, {"version": measure.version, "values": {"potential": 1}}, "acme")
    assert refused.status_code == 403 and "none of your roles allows update" in error_of(refused)["message"]


def test_a_read_only_field_posted_with_a_new_value_is_422_and_unchanged(client, demo):  # type: ignore[no-untyped-def]
    session = demo
    admin = bearer(session, user_named(session, "admin@acme.example"))
    measure = session.scalars(select(Record).where(Record.level_key == "measure").order_by(Record.id)).first()
    before = dict(measure.values)

    response = patch(client, admin, measure.id, {"version": measure.version, "title": "Changed too",
                                                 "values": {"benefit_validated": True, "potential": 1000}},
                     "acme")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert error_of(response)["fields"] == {
        "benefit_validated": "You may only read this field; your change was not applied."}
    session.expire_all()
    again = session.get(Record, measure.id)
    assert again.values == before and again.title == measure.title and again.version == measure.version


def test_a_field_hidden_from_the_actor_is_refused_like_a_field_that_does_not_exist(client, session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    documents = editor_documents()
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    editor = bearer(session, make_user(tenant, [("editor", None)]))
    _, created = program_and_measure(client, bearer(session, admin))

    record = client.get(f"/api/t/mini/records/{created['id']}", headers=editor).get_json()
    # The weighted potential is computed from the potential: it would give it away.
    assert "potential" not in record["values"] and "weighted" not in record["values"]
    for value in (120000, 1):  # the stored value and another: the same answer, so nothing leaks
        response = patch(client, editor, created["id"], {"version": 1, "values": {"potential": value}})
        assert response.status_code == 422
        assert error_of(response)["fields"] == {"potential": "Measure has no field 'potential'."}
    for params in ({"sort": "potential"}, {"field.potential": "120000"}):
        response = client.get("/api/t/mini/records", headers=editor, query_string={"level": "measure", **params})
        assert response.status_code == 400
    assert patch(client, editor, created["id"], {"version": 1, "values": {"due": "2026-06-30"}}).status_code == 200


def test_multiple_choice_and_yes_no_values_round_trip(client, demo):  # type: ignore[no-untyped-def]
    session = demo
    headers = bearer(session, user_named(session, "admin@servicedesk.example"))
    item = listing(client, headers, tenant="servicedesk", level="improvement", sort="title")["items"][0]
    changed = patch(client, headers, item["id"], {"version": item["version"], "tenant": None}, tenant="servicedesk")
    assert changed.status_code == 400  # "tenant" is no property of an update
    changed = patch(client, headers, item["id"], {"version": item["version"], "values": {
        "improvement_type": ["tooling", "supplier"], "priority": "p1", "change_ticket": "CHG-1"}},
        tenant="servicedesk")
    assert changed.status_code == 200, changed.get_data(as_text=True)
    values = changed.get_json()["values"]
    assert values["improvement_type"] == ["tooling", "supplier"] and values["change_ticket"] == "CHG-1"
    cleared = patch(client, headers, item["id"], {"version": changed.get_json()["version"],
                                                  "values": {"improvement_type": []}}, tenant="servicedesk")
    assert cleared.get_json()["values"]["improvement_type"] is None
    forged = patch(client, headers, item["id"], {"version": cleared.get_json()["version"],
                                                 "values": {"improvement_type": ["bribery"]}}, tenant="servicedesk")
    assert error_of(forged)["fields"] == {"improvement_type": "Choose one of the offered options."}


# -- tenants and authentication ------------------------------------------------------------
def test_another_tenant_s_record_is_a_404_that_says_nothing_about_it(client, demo):  # type: ignore[no-untyped-def]
    session = demo
    admin = bearer(session, user_named(session, "admin@acme.example"))
    foreign = session.scalars(select(Record).join(Tenant).where(Tenant.slug == "servicedesk",
                                                                Record.level_key == "improvement")).first()
    for response in (client.get(f"/api/t/acme/records/{foreign.id}", headers=admin),
                     patch(client, admin, foreign.id, {"version": foreign.version, "title": "Mine now"}, "acme")):
        assert response.status_code == 404
        assert error_of(response) == {"status": 404, "message": "no such record"}
        text = response.get_data(as_text=True)
        assert foreign.title not in text and foreign.number not in text and "servicedesk" not in text

    not_member = client.get("/api/t/servicedesk/records?level=service", headers=admin)
    unknown = client.get("/api/t/nowhere/records?level=service", headers=admin)
    assert not_member.status_code == unknown.status_code == 404
    assert not_member.get_json()["error"] == unknown.get_json()["error"] == {"status": 404, "message": "no such workspace"}
    assert {k: v for k, v in not_member.get_json().items() if k != "instance"} == \
        {k: v for k, v in unknown.get_json().items() if k != "instance"}

    as_parent = post(client, admin, {"level": "measure", "parent": foreign.id, "title": "x"}, "acme")
    assert error_of(as_parent)["fields"] == {"parent": "No such record."}
    session.expire_all()
    assert session.get(Record, foreign.id).title == foreign.title


def test_a_consultant_s_one_token_works_in_each_of_their_workspaces(client, demo):  # type: ignore[no-untyped-def]
    headers = bearer(demo, user_named(demo, "consultant@steerco.example"))
    assert listing(client, headers, tenant="acme", level="organization")["total"] == 1
    assert listing(client, headers, tenant="servicedesk", level="service_line")["total"] == 2


def test_missing_bad_revoked_or_deactivated_credentials_are_401(client, session, mini, login):  # type: ignore[no-untyped-def]
    url = "/api/t/mini/records?level=program"
    assert client.get(url, headers=mini.headers).status_code == 200
    token = session.scalars(select(ApiToken)).one()
    assert token.last_used_at is not None

    answers = [client.get(url),
               client.get(url, headers={"Authorization": "Bearer stc_not-a-token"}),
               client.get(url, headers={"Authorization": "Basic " + mini.headers["Authorization"][7:]}),
               client.get(url, headers={"Authorization": mini.headers["Authorization"][7:]})]
    login(mini.admin.email)  # a session cookie is not an API credential
    answers.append(client.get(url))
    answers.append(post(client, {}, {"level": "program", "title": "x"}))
    tokens.revoke_token(session, mini.admin, token.id)
    session.commit()
    answers.append(client.get(url, headers=mini.headers))
    other = bearer(session, mini.admin)
    assert client.get(url, headers=other).status_code == 200
    mini.admin.is_active = False
    session.commit()
    answers.append(client.get(url, headers=other))

    for response in answers:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].lower() == "bearer"
        assert "Authorization: Bearer" in error_of(response)["message"]
    assert len({r.get_data(as_text=True) for r in answers}) == 1  # one answer for every failure
    assert session.scalar(select(func.count()).select_from(Record)) == 0


def test_a_member_whose_membership_ends_gets_404_even_with_a_valid_token(client, session, mini):  # type: ignore[no-untyped-def]
    membership = session.scalars(select(Membership).where(Membership.user_id == mini.admin.id)).one()
    membership.is_active = False
    session.commit()
    response = client.get("/api/t/mini/records?level=program", headers=mini.headers)
    assert response.status_code == 404 and error_of(response)["message"] == "no such workspace"


# -- errors are JSON under /api/ -----------------------------------------------------------
def test_unknown_urls_wrong_methods_and_crashes_answer_json(client, session, mini, monkeypatch):  # type: ignore[no-untyped-def]
    missing = client.get("/api/t/mini/nothing-here", headers=mini.headers)
    assert missing.status_code == 404 and error_of(missing)["status"] == 404
    assert client.get("/api/", headers=mini.headers).status_code == 404
    wrong = client.put("/api/t/mini/records/1", headers=mini.headers)
    assert wrong.status_code == 405 and "PATCH" in wrong.headers["Allow"]
    assert error_of(wrong)["status"] == 405

    import steerco.web.api as api

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api, "record_json", broken)
    program = post(client, mini.headers, {"level": "program", "title": "P"})
    assert program.status_code == 500
    assert error_of(program) == {"status": 500, "message": "Something went wrong on our side; nothing was saved."}
    assert "secret internals" not in program.get_data(as_text=True)
    # HTML pages keep their HTML error pages
    html = client.get("/t/nowhere/")
    assert html.status_code in (302, 404) and not html.is_json


def test_the_api_needs_no_csrf_token_while_forms_still_do(session, mini, database_url, upload_dir):  # type: ignore[no-untyped-def]
    from steerco import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "csrf-test", "SQLALCHEMY_DATABASE_URI": database_url,
                      "UPLOAD_DIR": str(upload_dir), "WTF_CSRF_ENABLED": True})
    client = app.test_client()
    created = client.post("/api/t/mini/records", json={"level": "program", "title": "Via API"}, headers=mini.headers)
    assert created.status_code == 201
    login = client.post("/login", data={"email": mini.admin.email, "password": "correct-horse-battery"})
    assert login.status_code == 400  # the HTML form without its CSRF token
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 400
    with app.app_context():
        from steerco.web.extensions import db
        db.engine.dispose()
