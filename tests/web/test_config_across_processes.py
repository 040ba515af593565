"""Several app processes share only the database: a configuration activated through one
process is in effect in every other on its next request, with no restart.

Each process caches compiled configurations per stored version (never per tenant), and
every request resolves the tenant's active version from the database, so a new version
shows at once; a role granted or withdrawn elsewhere counts on the next request too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store.models import RoleAssignment

PASSWORD = "correct-horse-battery"  # the conftest's password for every made user


def _other_process(database_url: str, tmp_path: Path, *args: str) -> str:
    """Run ``steerco ARGS`` in a separate Python process on the same database."""
    env = {**os.environ, "STEERCO_DATABASE_URL": database_url, "STEERCO_INSTANCE": str(tmp_path / "instance"),
           "STEERCO_SECRET_KEY": "another-process"}
    done = subprocess.run([sys.executable, "-c", "from steerco.cli import cli; cli()", *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_configuration_activated_by_another_process_is_used_on_the_next_request(
        app, database_url, tmp_path, session, make_tenant, make_user, records_for) -> None:  # type: ignore[no-untyped-def]
    from steerco import create_app

    tenant = make_tenant()
    admin = make_user(tenant, [("admin", None)])
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    # Two app instances of this process, both warmed up on version 1 (compiled and cached).
    second = create_app({**app.config, "SECRET_KEY": app.config["SECRET_KEY"]})
    clients = [app.test_client(), second.test_client()]
    for client in clients:
        assert client.post("/login", data={"email": admin.email, "password": PASSWORD}).status_code == 302
        page = client.get(f"/t/mini/new/measure?parent={program.id}").get_data(as_text=True)
        assert "Potential" in page and "Savings potential" not in page

    # Another process stores and activates version 2, which renames a field.
    documents = minimal_documents()
    next(f for f in documents["fields"]["fields"] if f["key"] == "potential")["label"] = "Savings potential"
    folder = tmp_path / "mini"
    folder.mkdir()
    for name, document in documents.items():
        (folder / f"{name}.json").write_text(json.dumps(document))
    assert "configuration version 2 is active" in _other_process(database_url, tmp_path, "load-tenant", str(folder))

    for client in clients:
        page = client.get(f"/t/mini/new/measure?parent={program.id}").get_data(as_text=True)
        assert "Savings potential" in page


def test_a_role_withdrawn_elsewhere_counts_on_the_next_request(
        client, login, session, make_tenant, make_user, records_for) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    admin = make_user(tenant, [("admin", None)])
    reader = make_user(tenant, [("admin", None)])
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    login(reader.email)
    assert client.get(f"/t/mini/r/{program.id}").status_code == 200
    session.query(RoleAssignment).filter_by(user_id=reader.id).delete()
    session.commit()  # as another process would, through the database
    assert client.get(f"/t/mini/r/{program.id}").status_code == 404
    assert tenants.active_config(session, tenant).version == 1
