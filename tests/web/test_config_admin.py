"""The configuration pages of a workspace administrator, and a consultant's new workspace.

An administrator starts a draft, edits a file as JSON (a syntax error keeps the text; each
problem is shown with its file, JSON Pointer and line), cannot activate an invalid draft,
reads the diff and the impact, activates with a comment, and rolls back. A consultant
creates a workspace from the servicedesk template and its invited administrator creates
the first record in it.
"""

from __future__ import annotations

import copy
import html
import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store.models import AuditEvent, ConfigVersion, Record, Tenant

PASSWORD = "correct-horse-battery"


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    admin = make_user(tenant, [("admin", None)], email="admin@mini.example", name="Ada Admin")
    owner = make_user(tenant, [("owner", None)], email="owner@mini.example", name="Olli Owner")
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    measure = records.create("measure", program, Submission("Steel", MultiDict({"potential": "1000"})))
    session.commit()
    return {"tenant": tenant, "admin": admin, "owner": owner, "program": program, "measure": measure}


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _new_draft(client) -> str:  # type: ignore[no-untyped-def]
    started = client.post("/t/mini/admin/config/drafts")
    assert started.status_code == 303
    return started.headers["Location"]


def _textarea(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', response.get_data(as_text=True),
                                   re.S).group(1))


def test_only_configuration_administrators_reach_the_pages(client, login, world) -> None:  # type: ignore[no-untyped-def]
    login("owner@mini.example")
    assert client.get("/t/mini/admin/config").status_code == 403
    assert client.post("/t/mini/admin/config/drafts").status_code == 403
    login("admin@mini.example")
    page = _text(client.get("/t/mini/admin/config"))
    assert "Version 1" in page and ">active<" in page
    assert 'id="to-configuration"' in client.get("/t/mini/").get_data(as_text=True)


def test_an_invalid_draft_keeps_what_was_typed_and_names_each_problem(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    draft = _new_draft(client)
    editor = client.get(f"{draft}/files/fields")
    assert editor.status_code == 200
    typed = _textarea(editor).replace('"label": "Potential"', '"label": "Potential",,')
    broken = client.post(f"{draft}/files/fields", data={"document": typed})
    assert broken.status_code == 422
    assert "Not valid JSON at line" in _text(broken) and "your text is kept below" in _text(broken)
    assert _textarea(broken) == typed  # nothing typed is lost

    documents = json.loads(_textarea(editor))
    documents["fields"][3]["visible_if"] = "has_capexx"
    documents["fields"][0]["max_length"] = "500"
    saved = client.post(f"{draft}/files/fields", data={"document": json.dumps(documents, indent=2)})
    assert saved.status_code == 200
    page = _text(saved)
    assert "Saved. The draft still has problems" in page
    assert re.search(r'data-pointer="/fields/0/max_length"><button type="button" class="link goto" '
                     r'data-line="\d+">line \d+</button> <code>/fields/0/max_length</code>', saved.get_data(as_text=True))
    version_page = _text(client.get(draft))
    assert "problem(s):" in version_page and 'data-pointer="/fields/0/max_length"' in version_page

    refused = client.post(f"{draft}/activate", data={"comment": "Try anyway", "confirm": "yes"})
    assert refused.status_code == 422
    assert "cannot be activated" in _text(refused) and "/fields/0/max_length" in _text(refused)
    assert "Try anyway" in _text(refused)  # the comment typed is kept
    session.expire_all()
    assert tenants.active_config(session, session.get(Tenant, world["tenant"].id)).version == 1


def test_an_admin_changes_the_configuration_sees_diff_and_impact_and_activates(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    draft = _new_draft(client)
    documents = json.loads(_textarea(client.get(f"{draft}/files/fields")))
    documents["fields"].append({"key": "capex_note", "label": "Capex note", "type": "text", "required": True})
    assert client.post(f"{draft}/files/fields", data={"document": json.dumps(documents)}).status_code == 200
    levels = json.loads(_textarea(client.get(f"{draft}/files/levels")))
    levels["levels"][1]["sections"][0]["fields"].append("capex_note")
    saved = client.post(f"{draft}/files/levels", data={"document": json.dumps(levels)})
    assert "The draft validates" in _text(saved)

    diff = client.get(f"{draft}/diff").get_data(as_text=True)
    assert "Field <em>Capex note</em> added to <em>Measure</em>" in diff
    impact = _text(client.get(f"{draft}/impact"))
    assert "1 Measure would miss *Capex note*" not in impact and "would miss <em>Capex note</em>" in impact
    assert f'href="/t/mini/r/{world["measure"].id}"' in impact

    unconfirmed = client.post(f"{draft}/activate", data={"comment": "Capex note on measures"})
    assert unconfirmed.status_code == 422 and "Tick the box" in _text(unconfirmed)
    activated = client.post(f"{draft}/activate", data={"comment": "Capex note on measures", "confirm": "yes"})
    assert activated.status_code == 303
    form = client.get(f"/t/mini/r/{world['measure'].id}/edit").get_data(as_text=True)
    assert 'name="capex_note"' in form  # the next request already works with the new version
    session.expire_all()
    event = session.scalar(select(AuditEvent).where(AuditEvent.kind == "config.activated")
                           .order_by(AuditEvent.id.desc()).limit(1))
    assert event.data["comment"] == "Capex note on measures"
    assert event.data["changes"][0]["text"] == "Field *Capex note* added to *Measure*"

    versions = client.get("/t/mini/admin/config").get_data(as_text=True)
    first = session.scalar(select(ConfigVersion.id).where(ConfigVersion.number == 1))
    rolled = client.post(f"/t/mini/admin/config/versions/{first}/rollback", data={"comment": "Too early", "confirm": "yes"})
    assert rolled.status_code == 303 and "Version 2" in versions
    assert 'name="capex_note"' not in client.get(f"/t/mini/r/{world['measure'].id}/edit").get_data(as_text=True)
    listing = _text(client.get("/t/mini/admin/config"))
    assert "rollback to version 1" in listing and "Too early" in listing


def test_a_stale_draft_is_refused_with_the_reason_and_can_be_rebased(client, login, world) -> None:  # type: ignore[no-untyped-def]
    login("admin@mini.example")
    mine, theirs = _new_draft(client), _new_draft(client)
    assert client.post(f"{theirs}/activate", data={"comment": "Theirs", "confirm": "yes"}).status_code == 303
    refused = client.post(f"{mine}/activate", data={"comment": "Mine", "confirm": "yes"})
    assert refused.status_code == 409
    page = _text(refused)
    assert "Version 3 was activated by Ada Admin" in page and "Rebase on version 3" in page
    assert client.post(f"{mine}/rebase").status_code == 303
    assert client.post(f"{mine}/activate", data={"comment": "Mine", "confirm": "yes"}).status_code == 303


def test_a_reused_field_key_starts_empty_unless_the_admin_restores_it(client, login, session, world, records_for) -> None:  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    without = copy.deepcopy(documents)
    without["fields"]["fields"] = [f for f in without["fields"]["fields"] if f["key"] != "due"]
    without["levels"]["levels"][1]["sections"][1]["fields"].remove("due")
    measure = world["measure"]
    records = records_for(world["tenant"], world["admin"])
    record = records.get(measure.id)
    records.update(record, Submission(record.title, MultiDict({"due": "2026-12-31"})), record.version)
    session.commit()
    tenants.store_config(session, without)
    session.commit()
    login("admin@mini.example")
    draft = _new_draft(client)
    assert client.post(f"{draft}/files/fields", data={"document": json.dumps(documents["fields"])}).status_code == 200
    assert client.post(f"{draft}/files/levels", data={"document": json.dumps(documents["levels"])}).status_code == 200
    diff = _text(client.get(f"{draft}/diff"))
    assert "reuses the key 'due'" in diff and "A new field: start empty" in diff
    earlier = re.search(r'name="identity" value="(\d+)"', diff).group(1)
    chosen = client.post(f"{draft}/fields/due/identity", data={"identity": earlier})
    assert chosen.status_code == 303
    assert "restores the earlier field" in _text(client.get(f"{draft}/diff"))
    assert client.post(f"{draft}/activate", data={"comment": "Due date is back", "confirm": "yes"}).status_code == 303
    assert "31 Dec 2026" in client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)


def test_records_in_a_stage_that_is_gone_are_listed_for_the_admin(client, login, session, world) -> None:  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    workflow = documents["workflows"]["workflows"][0]
    workflow["stages"] = [s for s in workflow["stages"] if s["key"] != "defined"]
    workflow["initial_stage"] = "decided"
    workflow["transitions"] = [t for t in workflow["transitions"] if t["key"] != "decide"]
    tenants.store_config(session, documents)
    session.commit()
    login("admin@mini.example")
    page = _text(client.get("/t/mini/admin/config"))
    assert "Records needing attention" in page and "sit in stage 'defined'" in page
    assert f'href="/t/mini/r/{world["measure"].id}"' in page


# -- a consultant's new workspace ------------------------------------------------------------

@pytest.fixture
def consultant(session, make_user, world):  # type: ignore[no-untyped-def]
    clara = make_user(world["tenant"], [("admin", None)], email="clara@consulting.example", name="Clara Consultant")
    clara.is_consultant = True
    session.commit()
    return clara


def test_a_consultant_creates_a_workspace_whose_admin_creates_its_first_record(client, login, session, consultant, app, outbox) -> None:  # type: ignore[no-untyped-def]
    login("clara@consulting.example")
    assert 'id="new-workspace"' in client.get("/t/mini/").get_data(as_text=True)
    form = _text(client.get("/workspaces/new"))
    assert "Template servicedesk: Northwind Group IT" in form and "Copy of workspace: Mini Corp" in form
    roles = _text(client.get("/workspaces/new/roles?source=template:servicedesk"))
    assert 'value="service_admin"' in roles
    created = client.post("/workspaces/new", data={
        "source": "template:servicedesk", "name": "Client Co Service Desk", "slug": "clientco",
        "admin_email": "bea@clientco.example", "admin_name": "Bea Boss", "admin_role": "service_admin"})
    assert created.status_code == 200, _text(created)
    assert "Invitation sent to bea@clientco.example" in _text(created)
    sent = re.search(r'<section class="card" id="workspace-created".*?</section>', _text(created), re.S).group(0)
    assert "password" not in sent.lower()  # nobody but Bea chooses it, and no page shows it
    assert "no-store" in created.headers["Cache-Control"]
    # The consultant switches to it like to any other workspace.
    assert "Client Co Service Desk" in _text(client.get("/t/mini/"))
    assert client.get("/t/clientco/admin/config").status_code == 200

    # The administrator opens the mailed link, chooses a password, and is in.
    [mail] = outbox()
    assert mail["To"] == "bea@clientco.example" and "Clara Consultant invites you" in mail.get_content()
    link = urlsplit(re.search(r"http://\S+/account/invitation/\S+", mail.get_content()).group(0)).path
    client.post("/logout")
    joined = client.post(link, data={"name": "Bea Boss", "password": "bea's own secret", "confirm": "bea's own secret"})
    assert joined.status_code == 303 and urlsplit(joined.headers["Location"]).path == "/t/clientco/"
    client.post("/logout")
    assert client.post("/login", data={"email": "bea@clientco.example", "password": "bea's own secret"}).status_code == 302
    home = client.get("/t/clientco/")
    assert home.status_code == 200 and "Client Co Service Desk" in _text(home)
    config = tenants.active_config(session, session.scalar(select(Tenant).where(Tenant.slug == "clientco")))
    top = config.root_levels[0]
    new = client.post(f"/t/clientco/new/{top.key}", data={"title": "Workplace Services"})
    assert new.status_code == 303, _text(new)
    session.expire_all()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "clientco"))
    assert [r.title for r in session.scalars(select(Record).where(Record.tenant_id == tenant.id))] == ["Workplace Services"]
    kinds = set(session.scalars(select(AuditEvent.kind).where(AuditEvent.tenant_id == tenant.id)))
    assert {"workspace.created", "member.invited", "record.created"} <= kinds


def test_creating_a_workspace_is_for_consultants_and_their_own_workspaces(client, login, session, consultant, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    other = minimal_documents()
    other["tenant"].update(key="other", name="Other Ltd")
    make_tenant(other)
    login("admin@mini.example")
    assert client.get("/workspaces/new").status_code == 403
    assert client.post("/workspaces/new", data={"source": "template:servicedesk"}).status_code == 403
    login("clara@consulting.example")
    assert "Other Ltd" not in _text(client.get("/workspaces/new"))
    refused = client.post("/workspaces/new", data={
        "source": "workspace:other", "name": "Copy", "slug": "copy", "admin_email": "x@copy.example"})
    assert refused.status_code == 422 and "no such workspace to copy" in _text(refused)
    taken = client.post("/workspaces/new", data={
        "source": "template:servicedesk", "name": "Mini again", "slug": "mini", "admin_email": "x@copy.example"})
    assert taken.status_code == 422 and "exists already" in _text(taken)
    session.expire_all()
    assert session.query(Tenant).count() == 2
