"""The ``steerco`` command: validate, load-tenant, demo, user create.

The commands run through Flask's CLI runner against the test app (and so the test
database); what they store is checked with a plain SQLAlchemy session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from steerco.cli import cli
from steerco.engine import tenants
from steerco.engine.users import authenticate
from steerco.store.models import ConfigVersion, Membership, RoleAssignment, Tenant, User

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "tenants" / "acme"


def _field_index(fields: list[dict], key: str) -> int:
    return next(i for i, f in enumerate(fields) if f["key"] == key)


@pytest.fixture
def broken_acme(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of tenants/acme with three planted mistakes, and the JSON pointer of each."""
    folder = tmp_path / "acme-broken"
    shutil.copytree(ACME, folder)
    path = folder / "fields.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    fields = document["fields"]
    risk = _field_index(fields, "risk_note")
    headquarters = _field_index(fields, "headquarters")
    start = _field_index(fields, "start_date")
    fields[risk]["visible_if"] = "potential_statuss == 'at_risk'"  # a typo in an expression
    fields[headquarters]["max_length"] = "120"  # a string where an integer belongs
    fields.append(dict(fields[start]))  # the same key twice
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return folder, {
        "unknown_name": f"fields.json:/fields/{risk}/visible_if",
        "type": f"fields.json:/fields/{headquarters}/max_length",
        "duplicate_key": f"fields.json:/fields/{len(fields) - 1}/key",
    }


def _active_version(session, slug: str) -> ConfigVersion | None:  # type: ignore[no-untyped-def]
    session.expire_all()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None or tenant.active_config_id is None:
        return None
    return session.get(ConfigVersion, tenant.active_config_id)


# -- validate ------------------------------------------------------------------------

def test_validate_accepts_the_reference_tenant(runner):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["validate", str(ACME)])
    assert result.exit_code == 0, result.output
    assert "configuration is valid" in result.output


@pytest.mark.parametrize("slug", ["acme", "servicedesk"])
def test_the_demo_tenants_validate_with_nothing_but_keys_not_in_effect_yet(runner, slug):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["validate", str(ROOT / "tenants" / slug)])

    assert result.exit_code == 0, result.output
    *warnings, last = result.output.splitlines()
    assert all(line.startswith("warning: ") and line.endswith("[not_in_effect]") for line in warnings), warnings
    assert last.endswith(f"configuration is valid ({len(warnings)} key(s) accepted but not in effect yet, see above)")


def test_validate_warns_about_each_key_accepted_but_not_in_effect_and_still_succeeds(runner, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "acme-weighted"
    shutil.copytree(ACME, folder)

    result = runner.invoke(cli, ["validate", str(folder)])

    assert result.exit_code == 0, result.output
    described = [line for line in result.output.splitlines() if "'description'" in line]
    assert described == [f"warning: {folder}/roles.json:/roles/0/description (role tenant_admin): "
                         "'description' is accepted, not in effect yet (and 7 more place(s)) [not_in_effect]"]
    assert "plan_frozen" not in result.output  # the plan freezes (steerco.engine.plan)
    assert "'delete'" not in result.output  # the delete action is in effect (soft delete)
    assert "exceptions.json" not in result.output  # its rules are in effect


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"reports": [], "n": 1' + "0" * 5000 + "}"])
def test_validate_answers_a_document_beyond_its_bounds_without_a_traceback(runner, tmp_path, text):  # type: ignore[no-untyped-def]
    folder = tmp_path / "acme-huge"
    shutil.copytree(ACME, folder)
    (folder / "reports.json").write_text(text, encoding="utf-8")

    result = runner.invoke(cli, ["validate", str(folder)])

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"{folder}/reports.json:/: " in result.output and "[document_too_large]" in result.output


def test_validate_names_every_planted_mistake_with_file_and_pointer(runner, broken_acme):  # type: ignore[no-untyped-def]
    folder, pointers = broken_acme
    result = runner.invoke(cli, ["validate", str(folder)])
    assert result.exit_code != 0
    lines = result.output.splitlines()

    def line_for(pointer: str) -> str:
        found = [line for line in lines if f"{pointer}:" in line or f"{pointer} (" in line]
        assert found, f"{pointer} not named in:\n{result.output}"
        return found[0]

    unknown = line_for(pointers["unknown_name"])
    assert "potential_statuss" in unknown and "[unknown_name]" in unknown and "potential_status" in unknown
    wrong_type = line_for(pointers["type"])
    assert "integer" in wrong_type
    duplicate = line_for(pointers["duplicate_key"])
    assert "duplicate" in duplicate and "start_date" in duplicate and "[duplicate_key]" in duplicate
    assert "3 problem(s) found" in result.output


def test_validate_of_a_missing_folder_fails(runner, tmp_path):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["validate", str(tmp_path / "nothing-here")])
    assert result.exit_code != 0


def test_validate_of_a_missing_folder_names_it_once(runner, tmp_path):  # type: ignore[no-untyped-def]
    missing = tmp_path / "nothing-here"
    result = runner.invoke(cli, ["validate", str(missing)])
    assert result.exit_code == 1
    assert "not a folder of tenant configuration" in result.output
    assert f"{missing}//" not in result.output and f"{missing}/{missing}" not in result.output


def test_validate_reports_unreadable_json_with_its_line(runner, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "acme-json"
    shutil.copytree(ACME, folder)
    (folder / "roles.json").write_text('{"roles": [\n  {"key": "x",}\n]}', encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(folder)])
    assert result.exit_code == 1
    assert "roles.json:/: not valid JSON" in result.output and "line 2" in result.output


# -- load-tenant ---------------------------------------------------------------------

def test_load_tenant_stores_and_activates_a_version_each_time(runner, session):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["load-tenant", str(ACME)])
    assert result.exit_code == 0, result.output
    assert "tenant acme: configuration version 1 is active" in result.output
    version = _active_version(session, "acme")
    assert version is not None and version.number == 1
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    assert tenant.name and tenants.active_config(session, tenant).key == "acme"
    again = runner.invoke(cli, ["load-tenant", str(ACME)])
    assert again.exit_code == 0, again.output
    assert "configuration version 2 is active" in again.output
    version = _active_version(session, "acme")
    assert version.number == 2
    assert list(session.scalars(select(ConfigVersion.number).where(ConfigVersion.tenant_id == tenant.id)
                                .order_by(ConfigVersion.number))) == [1, 2]  # every version is kept


def test_load_tenant_of_a_broken_folder_changes_nothing(runner, session, broken_acme):  # type: ignore[no-untyped-def]
    folder, pointers = broken_acme
    assert runner.invoke(cli, ["load-tenant", str(ACME)]).exit_code == 0
    before = _active_version(session, "acme")
    result = runner.invoke(cli, ["load-tenant", str(folder)])
    assert result.exit_code == 1
    for pointer in pointers.values():
        assert pointer in result.output
    assert "the active configuration is unchanged" in result.output
    after = _active_version(session, "acme")
    assert after.id == before.id and after.number == 1
    assert session.query(ConfigVersion).count() == 1


def test_load_tenant_of_a_broken_folder_creates_no_tenant(runner, session, broken_acme):  # type: ignore[no-untyped-def]
    folder, _ = broken_acme
    result = runner.invoke(cli, ["load-tenant", str(folder)])
    assert result.exit_code == 1
    session.expire_all()
    assert session.query(Tenant).count() == 0 and session.query(ConfigVersion).count() == 0


# -- demo ----------------------------------------------------------------------------

def test_demo_loads_both_tenants_and_prints_the_logins(runner, session):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "Demo logins (password for all: steerco-demo)" in result.output
    for email in ("consultant@steerco.example", "admin@acme.example", "owner@servicedesk.example"):
        assert email in result.output
    session.expire_all()
    slugs = set(session.scalars(select(Tenant.slug)))
    assert slugs == {"acme", "servicedesk"}
    for slug in slugs:
        assert _active_version(session, slug) is not None
    assert authenticate(session, "consultant@steerco.example", "steerco-demo") is not None

    second = runner.invoke(cli, ["demo", "--if-empty"])
    assert second.exit_code == 0, second.output
    assert "demo data is present" in second.output
    session.expire_all()
    assert session.query(Tenant).count() == 2
    assert session.query(ConfigVersion).count() == 2  # nothing reloaded

    refused = runner.invoke(cli, ["demo"])
    assert refused.exit_code == 1
    assert "exist already" in refused.output


# -- user create ---------------------------------------------------------------------

def test_user_create_asks_for_the_password(runner, session, make_tenant):  # type: ignore[no-untyped-def]
    make_tenant()
    result = runner.invoke(cli, ["user", "create", "New.Person@Example.com", "--name", "New Person",
                                 "--tenant", "mini", "--role", "owner"],
                           input="long-enough-pw\nlong-enough-pw\n")
    assert result.exit_code == 0, result.output
    assert "user new.person@example.com created" in result.output
    assert "long-enough-pw" not in result.output  # hidden input is not echoed
    session.expire_all()
    user = authenticate(session, "new.person@example.com", "long-enough-pw")
    assert user is not None and user.name == "New Person"
    assert session.query(Membership).filter_by(user_id=user.id).count() == 1
    assert [r.role_key for r in session.query(RoleAssignment).filter_by(user_id=user.id)] == ["owner"]


def test_user_create_without_tenant(runner, session):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["user", "create", "solo@example.com", "--name", "Solo", "--password", "pw-long-enough"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert authenticate(session, "solo@example.com", "pw-long-enough") is not None


@pytest.mark.parametrize("args, answer, message", [
    (["mismatch@example.com", "--name", "M"], "first-password\nsecond-password\n", "do not match"),
    (["short@example.com", "--name", "S"], "short\nshort\n", "password: At least 12 characters."),
    (["bad-email", "--name", "B"], "long-enough-pw\nlong-enough-pw\n", "email: Enter a valid e-mail address."),
    (["unknown@example.com", "--name", "U", "--tenant", "nope"], "long-enough-pw\nlong-enough-pw\n",
     "no such workspace"),
    (["role@example.com", "--name", "R", "--tenant", "mini", "--role", "emperor"],
     "long-enough-pw\nlong-enough-pw\n", "unknown role(s) emperor"),
    # the column holds 200: refused with a message, not left to the database (DataError on PostgreSQL)
    (["long@example.com", "--name", "N" * 201], "long-enough-pw\nlong-enough-pw\n", "name: At most 200 characters."),
])
def test_user_create_refuses_bad_input_and_stores_nothing(runner, session, make_tenant, args, answer, message):  # type: ignore[no-untyped-def]
    make_tenant()
    result = runner.invoke(cli, ["user", "create", *args], input=answer)
    assert result.exit_code != 0
    assert message in result.output
    session.expire_all()
    assert session.query(User).count() == 0
    assert session.query(Membership).count() == 0


def test_user_create_takes_a_name_of_exactly_200_characters(runner, session):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["user", "create", "edge@example.com", "--name", f" {'N' * 200} ",
                                 "--password", "pw-long-enough"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.scalar(select(User.name).where(User.email == "edge@example.com")) == "N" * 200


def test_user_create_refuses_a_duplicate_email(runner, session, make_user):  # type: ignore[no-untyped-def]
    make_user(None, email="taken@example.com")
    result = runner.invoke(cli, ["user", "create", "TAKEN@example.com", "--name", "Again", "--password", "pw-long-enough"])
    assert result.exit_code == 2
    assert "exists already" in result.output
    session.expire_all()
    assert session.query(User).count() == 1
