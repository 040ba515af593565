"""The configuration screens: forms generated from the schemas edit a draft, no JSON typed.

The first edit starts a draft from the active version; each save is validated by the same
checks as the CLI and audited; each problem is shown at the control its JSON Pointer
names, and a draft with problems cannot be activated. Lists are reordered and items
removed (after a confirmation); expressions are checked live and evaluated on a record; a
report layout previews with the report renderer.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.engine import config_edits, tenants
from steerco.engine.config_edits import Edit, EditError
from steerco.engine.records import Submission
from steerco.store.models import AuditEvent, ConfigVersion, Tenant


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    admin = make_user(tenant, [("admin", None)], email="admin@mini.example", name="Ada Admin")
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    measure = records.create("measure", program, Submission("Steel", MultiDict({"potential": "1000"})))
    session.commit()
    return {"tenant": tenant, "admin": admin, "program": program, "measure": measure}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _field_block(page: str, pointer: str) -> str:
    """The HTML of the control editing ``pointer`` (relative to its item)."""
    match = re.search(r'<div class="field[^"]*" id="field-[^"]*" data-pointer="' + re.escape(pointer)
                      + r'".*?<p class="error"[^>]*>(.*?)</p>', page, re.S)
    assert match, f"no control for {pointer}"
    return match.group(0)


def _error_at(page: str, pointer: str) -> str:
    return html.unescape(re.search(r'<p class="error"[^>]*>(.*?)</p>$', _field_block(page, pointer), re.S).group(1))


# -- the engine ----------------------------------------------------------------------------

def test_edits_add_update_move_and_remove_at_a_pointer() -> None:
    document = {"items": [{"key": "a"}, {"key": "b"}], "other": {}}
    added = config_edits.apply(document, Edit("x", "add", "/items", {"key": "c"}))
    assert [i["key"] for i in added["items"]] == ["a", "b", "c"] and len(document["items"]) == 2
    assert config_edits.apply(document, Edit("x", "add", "/other/new", 1))["other"] == {"new": [1]}
    assert config_edits.apply(document, Edit("x", "update", "/items/1", {"key": "B"}))["items"][1] == {"key": "B"}
    assert [i["key"] for i in config_edits.apply(document, Edit("x", "move", "/items/1", by=-1))["items"]] == ["b", "a"]
    assert config_edits.apply(document, Edit("x", "remove", "/items/0"))["items"] == [{"key": "b"}]
    for bad in (Edit("x", "remove", "/items/7"), Edit("x", "move", "/items/0", by=-1), Edit("x", "add", "/nope/x", 1),
                Edit("x", "add", "/items", {"key": "nul\x00"}), Edit("x", "update", "/items/0", {"key": "\ud800"})):
        with pytest.raises(EditError):
            config_edits.apply(document, bad)


# -- the screens ---------------------------------------------------------------------------

def test_the_first_edit_starts_a_draft_and_adds_a_field_placed_in_a_section(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    entry = client.get("/t/mini/admin/config/edit")
    assert entry.status_code == 302
    active_screen = entry.headers["Location"]
    page = _text(client.get(active_screen))
    assert "Your first change starts a draft" in page and "Capex amount (capex_amount)" in page
    new = client.get(active_screen.replace("/edit/fields", "/edit/fields/new") + "?at=/fields")
    assert new.status_code == 200 and 'name="/type"' in _text(new) and 'name="place"' in _text(new)
    added = client.post(active_screen.replace("/edit/fields", "/edit/fields/add") + "?at=/fields", data={
        "/key": "supplier", "/label": "Supplier", "/type": "text", "/max_length": "80", "/required": "no",
        "place": "/levels/1/sections/0/fields"})
    assert added.status_code == 303
    session.expire_all()
    draft = session.scalars(select(ConfigVersion).where(ConfigVersion.state == "draft")).one()
    assert draft.documents["fields"]["fields"][-1] == {"key": "supplier", "label": "Supplier", "type": "text",
                                                      "max_length": 80, "required": False}
    assert draft.documents["levels"]["levels"][1]["sections"][0]["fields"][-1] == "supplier"
    assert f"/versions/{draft.id}/edit/fields?at=/fields/9" in added.headers["Location"]
    edited = [e for e in session.scalars(select(AuditEvent).where(AuditEvent.kind == "config.draft_edited"))]
    assert {e.data["file"] for e in edited} == {"fields.json", "levels.json"}
    assert edited[0].data["edits"][0]["op"] == "add"
    # The diff reads as the admin's words; the next edit goes to the same draft.
    diff = client.get(f"/t/mini/admin/config/versions/{draft.id}/diff").get_data(as_text=True)
    assert "Field <em>Supplier</em> added to <em>Measure</em>" in diff
    assert client.get("/t/mini/admin/config/edit").headers["Location"].endswith(f"/versions/{draft.id}/edit/fields")


def test_each_problem_is_shown_at_its_control_and_an_invalid_draft_cannot_be_activated(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    base = f"/t/mini/admin/config/versions/{world['tenant'].active_config_id}/edit"
    saved = client.post(f"{base}/fields/update?at=/fields/3", data={
        "/key": "capex_amount", "/label": "Capex amount", "/type": "money", "/min": "lots",
        "/visible_if": "has_capexx", "/required": "object", "/required/from_stage": "nowhere"})
    assert saved.status_code == 303
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "not of type" in _error_at(page, "/min")
    assert "has_capexx" in _error_at(page, "/visible_if")
    assert "nowhere" in _error_at(page, "/required/from_stage")
    assert 'aria-invalid="true"' in _field_block(page, "/min")
    huge = client.post(saved.headers["Location"].replace("/edit/fields?", "/edit/fields/update?"), data={
        "/key": "capex_amount", "/label": "Capex amount", "/type": "money", "/min": "lots", "/max": "1e999"})
    assert "not of type" in _error_at(client.get(huge.headers["Location"]).get_data(as_text=True), "/max")
    assert _error_at(page, "/label") == ""
    # A choice field without options: the missing property is named at its control.
    client.post(f"{base.rsplit('/', 2)[0]}/{_draft_id(session)}/edit/fields/update?at=/fields/4",
                data={"/key": "category", "/label": "Category", "/type": "single_choice"})
    page = client.get(f"/t/mini/admin/config/versions/{_draft_id(session)}/edit/fields?at=/fields/4").get_data(as_text=True)
    assert "is required" in _error_at(page, "/options")

    draft = f"/t/mini/admin/config/versions/{_draft_id(session)}"
    version_page = client.get(draft).get_data(as_text=True)
    assert f'href="{draft}/edit/fields?at=/fields/3#ctl-min"' in version_page  # each problem links to its control
    refused = client.post(f"{draft}/activate", data={"comment": "Try anyway", "confirm": "yes"})
    assert refused.status_code == 422 and "cannot be activated" in _text(refused)
    session.expire_all()
    assert tenants.active_config(session, session.get(Tenant, world["tenant"].id)).version == 1


def _draft_id(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(ConfigVersion.id).where(ConfigVersion.state == "draft")).one()


def test_reorder_by_buttons_and_remove_after_a_confirmation(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    base = f"/t/mini/admin/config/versions/{world['tenant'].active_config_id}/edit"
    moved = client.post(f"{base}/workflows/move?at=/workflows/0/stages/1", data={"direction": "up"})
    assert moved.status_code == 303
    draft = f"/t/mini/admin/config/versions/{_draft_id(session)}/edit"
    stages = session.get(ConfigVersion, _draft_id(session)).documents["workflows"]["workflows"][0]["stages"]
    assert [s["key"] for s in stages] == ["decided", "defined", "closed"]
    page = _text(client.get(f"{draft}/workflows?at=/workflows/0"))
    assert 'aria-label="Move Decided (decided) up" disabled' in page  # the first cannot move up

    ask = client.get(f"{draft}/workflows/remove?at=/workflows/0/transitions/1")
    assert ask.status_code == 200 and "Remove Close (close)?" in _text(ask)
    unconfirmed = client.post(f"{draft}/workflows/remove?at=/workflows/0/transitions/1")
    assert unconfirmed.status_code == 422
    assert len(session.get(ConfigVersion, _draft_id(session)).documents["workflows"]["workflows"][0]["transitions"]) == 2
    removed = client.post(f"{draft}/workflows/remove?at=/workflows/0/transitions/1", data={"confirm": "yes"})
    assert removed.status_code == 303
    session.expire_all()
    assert [t["key"] for t in session.get(ConfigVersion, _draft_id(session))
            .documents["workflows"]["workflows"][0]["transitions"]] == ["decide"]


def test_an_approval_step_and_a_permission_through_their_forms(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    base = f"/t/mini/admin/config/versions/{world['tenant'].active_config_id}/edit"
    form = _text(client.get(f"{base}/workflows/new?at=/workflows/0/transitions/0/approvals"))
    assert 'name="/quorum"' in form and 'name="/quorum/n"' in form and "Approvers" in form
    client.post(f"{base}/workflows/add?at=/workflows/0/transitions/0/approvals", data={
        "/key": "cfo", "/label": "CFO approval", "/role": "admin", "/threshold": "potential > 500000",
        "/quorum": "object", "/quorum/n": "2"})
    draft = session.get(ConfigVersion, _draft_id(session))
    assert draft.documents["workflows"]["workflows"][0]["transitions"][0]["approvals"] == [
        {"key": "cfo", "label": "CFO approval", "role": "admin", "threshold": "potential > 500000",
         "quorum": {"n": 2}}]
    roles = _text(client.get(f"/t/mini/admin/config/versions/{draft.id}/edit/roles"))
    assert 'id="permission-matrix"' in roles and "read, update (own)" in roles
    client.post(f"/t/mini/admin/config/versions/{draft.id}/edit/roles/update?at=/roles/1", data={
        "/key": "owner", "/label": "Measure owner", "/fields/potential": "read", "/fields/description": ""})
    session.expire_all()
    owner = session.get(ConfigVersion, draft.id).documents["roles"]["roles"][1]
    assert owner["fields"] == {"potential": "read"} and owner["permissions"][0]["scope"] == "own"  # kept


def test_an_expression_is_checked_live_and_previewed_on_a_record(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    base = f"/t/mini/admin/config/versions/{world['tenant'].active_config_id}/edit"
    wrong = client.post(f"{base}/fields/check?at=/fields/6&control=/expression", data={
        "/key": "weighted", "/label": "Weighted potential", "/type": "computed", "/result_type": "money",
        "/expression": "potentiall * 0.5"})
    assert wrong.status_code == 200 and "potentiall" in _text(wrong) and "check-problem" in _text(wrong)
    right = client.post(f"{base}/fields/check?at=/fields/6&control=/expression", data={
        "/key": "weighted", "/label": "Weighted potential", "/type": "computed", "/result_type": "money",
        "/expression": "potential * 0.25"})
    assert "Valid." in _text(right) and "On M-001 Steel: <strong>250</strong>" in _text(right)
    new = client.post(f"{base}/fields/check?at=/fields/-&control=/visible_if", data={
        "/key": "extra", "/label": "Extra", "/type": "text", "/visible_if": "potential > 10"})
    assert "Valid." in _text(new)
    assert session.scalars(select(ConfigVersion).where(ConfigVersion.state == "draft")).first() is None  # nothing saved


@pytest.fixture
def acme(session, monkeypatch):  # type: ignore[no-untyped-def]
    """The demo workspaces, passwords hashed cheaply."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from steerco.demo import load_demo
    from steerco.engine import users

    monkeypatch.setattr(users, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1"))
    load_demo(session)
    session.commit()
    return session.scalar(select(Tenant).where(Tenant.slug == "acme"))


def test_a_report_layout_previews_with_the_report_renderer_on_the_draft(client, login, session, acme) -> None:  # type: ignore[no-untyped-def]
    from steerco.demo import DEMO_PASSWORD

    login("admin@acme.example", DEMO_PASSWORD)
    base = f"/t/acme/admin/config/versions/{acme.active_config_id}/edit/reports"
    page = _text(client.get(f"{base}?at=/reports/0"))
    assert 'id="report-preview"' in page and 'name="/sections"' not in page  # sections: a list of their own
    assert 'id="list-sections"' in page
    client.post(f"{base}/update?at=/reports/0", data={
        "/key": "steering_committee_report", "/title": "Pipeline for the board",
        "/audience": ["tenant_admin"], "/level": "measure", "/page/size": "A3"})
    draft = _draft_id(session)
    preview = _text(client.get(f"/t/acme/admin/config/versions/{draft}/edit/reports/preview?at=/reports/0"))
    assert '<article id="report" class="report">' in preview and "<h1>Pipeline for the board</h1>" in preview
    assert session.get(ConfigVersion, draft).documents["reports"]["reports"][0]["page"] == {"size": "A3"}


def test_a_first_exception_rule_brings_in_the_optional_file(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    base = f"/t/mini/admin/config/versions/{world['tenant'].active_config_id}/edit"
    page = _text(client.get(f"{base}/exceptions"))
    assert 'id="list-rules"' in page and 'id="list-forums"' in page
    client.post(f"{base}/exceptions/add?at=/rules", data={
        "/key": "big", "/label": "Big measure", "/level": "measure", "/condition": "potential > 1000000",
        "/owner_role": "admin", "/due_days": "5", "/escalation": "3 | admin\n\n"})
    rules = session.get(ConfigVersion, _draft_id(session)).documents["exceptions"]["rules"]
    assert rules == [{"key": "big", "label": "Big measure", "level": "measure", "condition": "potential > 1000000",
                      "owner_role": "admin", "due_days": 5, "escalation": [{"after_days": 3, "to": "admin"}]}]


def test_a_field_renamed_through_the_screens_keeps_its_values(client, login, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    base = f"/t/mini/admin/config/versions/{world['tenant'].active_config_id}/edit"
    client.post(f"{base}/fields/update?at=/fields/1", data={
        "/key": "potential", "/label": "Savings potential", "/type": "money", "/min": "0", "/rollup": "sum",
        "/required": "object", "/required/from_stage": "decided"})
    draft = _draft_id(session)
    diff = client.get(f"/t/mini/admin/config/versions/{draft}/diff").get_data(as_text=True)
    assert "renamed" in diff.lower() and "Savings potential" in diff
    assert client.post(f"/t/mini/admin/config/versions/{draft}/activate",
                       data={"comment": "Clearer label", "confirm": "yes"}).status_code == 303
    session.expire_all()
    tenant = session.get(Tenant, world["tenant"].id)
    config = tenants.active_config(session, tenant)
    assert config.fields["potential"].label == "Savings potential"
    records = records_for(tenant, world["admin"])
    measure = records.get(world["measure"].id)
    assert records.stored_values(measure, config.levels["measure"])["potential"] == 1000
