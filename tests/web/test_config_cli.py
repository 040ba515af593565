"""The configuration commands: load-tenant as a draft, export-tenant (a round trip), new-tenant,
and the consultant right.

The commands run through Flask's CLI runner against the test app (and so the test
database); what they store is checked with a plain SQLAlchemy session.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from steerco.cli import cli
from steerco.config import load_folder
from steerco.engine import tenants
from steerco.engine.users import authenticate
from steerco.store.models import AuditEvent, ConfigVersion, Membership, RoleAssignment, Tenant, User

TENANTS = Path(__file__).resolve().parents[2] / "tenants"


def _tenant(session, slug: str) -> Tenant:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_export_validates_and_reloads_to_the_same_configuration(runner, session, tmp_path, slug) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(cli, ["load-tenant", str(TENANTS / slug)]).exit_code == 0
    folder = tmp_path / f"{slug}-export"
    exported = runner.invoke(cli, ["export-tenant", slug, str(folder)])
    assert exported.exit_code == 0, exported.output
    assert f"tenant {slug}: version 1 (active) written to {folder}" in exported.output
    validated = runner.invoke(cli, ["validate", str(folder)])
    assert validated.exit_code == 0 and "configuration is valid" in validated.output
    assert runner.invoke(cli, ["load-tenant", str(folder)]).exit_code == 0
    tenant = _tenant(session, slug)
    reloaded = tenants.active_config(session, tenant)
    assert reloaded.version == 2
    original = load_folder(TENANTS / slug)
    assert dataclasses.replace(reloaded, version=0) == original
    for file in folder.iterdir():  # the very documents, file by file
        assert json.loads(file.read_text()) == json.loads((TENANTS / slug / file.name).read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (TENANTS / slug).glob("*.json"))


def test_export_of_an_unknown_workspace_says_so(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["export-tenant", "nowhere", str(tmp_path / "x")])
    assert result.exit_code == 1 and "no workspace 'nowhere'" in result.output


def test_load_tenant_as_a_draft_leaves_the_active_version_alone(runner, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(cli, ["load-tenant", str(TENANTS / "servicedesk")]).exit_code == 0
    folder = tmp_path / "desk"
    shutil.copytree(TENANTS / "servicedesk", folder)
    workflows = json.loads((folder / "workflows.json").read_text())
    workflows["workflows"][0]["stages"].append({"key": "audited", "label": "Audited", "order": 99})
    workflows["workflows"][0]["transitions"].append(
        {"key": "audit", "label": "Audit", "from": [workflows["workflows"][0]["stages"][-2]["key"]], "to": "audited",
         "roles": ["service_admin"]})
    (folder / "workflows.json").write_text(json.dumps(workflows))
    result = runner.invoke(cli, ["load-tenant", str(folder), "--draft", "--comment", "An audit stage"])
    assert result.exit_code == 0, result.output
    assert "tenant servicedesk: draft version 2 stored (not active)" in result.output
    assert "Stage *Audited* added to Workflow" in result.output
    tenant = _tenant(session, "servicedesk")
    assert tenants.active_config(session, tenant).version == 1
    draft = session.scalar(select(ConfigVersion).where(ConfigVersion.tenant_id == tenant.id, ConfigVersion.number == 2))
    assert (draft.state, draft.comment) == ("draft", "An audit stage")


def _invitation_path(outbox, to: str) -> str:  # type: ignore[no-untyped-def]
    """The path of the single-use link in the last invitation mailed to ``to``."""
    mail = [m for m in outbox() if m["To"] == to][-1]
    return urlsplit(re.search(r"http://\S+/account/invitation/\S+", mail.get_content()).group(0)).path


def test_new_tenant_from_a_template_invites_its_first_administrator(runner, session, app, outbox) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["new-tenant", "clientco", "--from", "servicedesk", "--admin", "Boss@ClientCo.example",
                                 "--name", "Client Co Service Desk", "--admin-name", "Bea Boss"])
    assert result.exit_code == 0, result.output
    assert "workspace clientco (Client Co Service Desk) created from template:servicedesk" in result.output
    assert "administrator boss@clientco.example invited: the link is in the mail written to" in result.output
    assert "password" not in result.output  # nobody but the person chooses it, nothing shows it
    [mail] = outbox()
    assert mail["Subject"] == "Invitation to Client Co Service Desk on Steerco"
    assert "The Steerco operator invites you" in mail.get_content() and "choose your password" in mail.get_content()
    tenant = _tenant(session, "clientco")
    config = tenants.active_config(session, tenant)
    assert (config.key, config.name) == ("clientco", "Client Co Service Desk")
    assert set(config.levels) == set(load_folder(TENANTS / "servicedesk").levels)
    # The administrator follows the link, chooses a password, and is in.
    newcomer = app.test_client()
    link = _invitation_path(outbox, "boss@clientco.example")
    joined = newcomer.post(link, data={"name": "Bea Boss", "password": "bea's own secret", "confirm": "bea's own secret"})
    assert joined.status_code == 303 and urlsplit(joined.headers["Location"]).path == "/t/clientco/"
    session.expire_all()
    boss = authenticate(session, "boss@clientco.example", "bea's own secret")
    assert boss is not None and boss.name == "Bea Boss"
    assert [r.role_key for r in session.scalars(select(RoleAssignment).where(RoleAssignment.tenant_id == tenant.id))] \
        == ["service_admin"]
    kinds = list(session.scalars(select(AuditEvent.kind).where(AuditEvent.tenant_id == tenant.id)
                                 .order_by(AuditEvent.id)))
    assert kinds[:3] == ["config.draft_created", "config.activated", "workspace.created"]
    assert "member.invited" in kinds and "role.granted" in kinds


@pytest.mark.parametrize("args, message", [
    (["acme", "--from", "servicedesk", "--admin", "x@example.com"], "slug: A workspace with this key exists already"),
    (["Bad Key", "--from", "servicedesk", "--admin", "x@example.com"], "slug: 2 to 63 characters"),
    (["fresh", "--from", "nope", "--admin", "x@example.com"], "source: no template 'nope'"),
    (["fresh", "--from", "servicedesk", "--admin", "x@example.com", "--admin-role", "analyst"],
     "admin_role: Choose a role that administers users"),
    (["fresh", "--from", "servicedesk", "--admin", "not-an-email"], "admin_email: Enter a valid e-mail address."),
])
def test_new_tenant_refuses_bad_input_and_creates_nothing(runner, session, args, message) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(cli, ["load-tenant", str(TENANTS / "acme")]).exit_code == 0
    result = runner.invoke(cli, ["new-tenant", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    session.expire_all()
    assert session.query(Tenant).count() == 1 and session.query(Membership).count() == 0


def test_new_tenant_copies_another_workspaces_configuration_without_its_data(runner, session, app, outbox) -> None:  # type: ignore[no-untyped-def]
    from steerco.demo import DEMO_PASSWORD, load_demo

    load_demo(session)
    session.commit()
    result = runner.invoke(cli, ["new-tenant", "acme_two", "--from", "workspace:acme", "--admin",
                                 "admin@acme.example", "--name", "ACME II"])
    assert result.exit_code == 0, result.output
    # The same words as for an address without an account: an invitation by mail.
    assert "administrator admin@acme.example invited: the link is in the mail" in result.output
    [mail] = outbox()
    assert "log in with your existing Steerco password" in mail.get_content()
    copy = _tenant(session, "acme_two")
    waiting = session.scalar(select(Membership).where(Membership.tenant_id == copy.id))
    assert waiting.user.email == "admin@acme.example" and not waiting.is_active  # until they accept
    person = app.test_client()
    person.post("/login", data={"email": "admin@acme.example", "password": DEMO_PASSWORD})
    joined = person.post(_invitation_path(outbox, "admin@acme.example"))
    assert joined.status_code == 303 and urlsplit(joined.headers["Location"]).path == "/t/acme_two/"
    assert person.get("/t/acme_two/").status_code == 200
    assert tenants.active_config(session, copy).levels.keys() == tenants.active_config(
        session, _tenant(session, "acme")).levels.keys()
    from steerco.store.models import Record

    assert session.query(Record).filter(Record.tenant_id == copy.id).count() == 0
    acme = _tenant(session, "acme")
    assert session.scalar(select(AuditEvent.kind).where(AuditEvent.tenant_id == acme.id)
                          .order_by(AuditEvent.id.desc()).limit(1)) == "config.copied"


def test_the_consultant_right_is_granted_and_taken_by_the_command_line(runner, session) -> None:  # type: ignore[no-untyped-def]
    created = runner.invoke(cli, ["user", "create", "clara@consulting.example", "--name", "Clara", "--password",
                                  "pw-long-enough", "--consultant"])
    assert created.exit_code == 0, created.output
    other = runner.invoke(cli, ["user", "create", "olaf@consulting.example", "--name", "Olaf", "--password",
                                "pw-long-enough"])
    assert other.exit_code == 0
    session.expire_all()
    assert [u.is_consultant for u in session.scalars(select(User).order_by(User.email))] == [True, False]
    granted = runner.invoke(cli, ["user", "grant-consultant", "OLAF@consulting.example"])
    assert granted.exit_code == 0 and "olaf@consulting.example is a consultant" in granted.output
    revoked = runner.invoke(cli, ["user", "grant-consultant", "clara@consulting.example", "--revoke"])
    assert revoked.exit_code == 0 and "is no longer a consultant" in revoked.output
    session.expire_all()
    assert [u.is_consultant for u in session.scalars(select(User).order_by(User.email))] == [False, True]
