"""Roles live in the tenant's JSON: changing them changes who may do what after the
configuration is stored again, with no code change and no restart."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission


def _reload(session, documents) -> None:  # type: ignore[no-untyped-def]
    tenants.store_config(session, documents)
    session.commit()


def _with_reader(make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    """The minimal tenant plus a tenant-wide "reader" role, an admin and a program."""
    documents = minimal_documents()
    documents["roles"]["roles"].append({"key": "reader", "label": "Reader", "permissions": [
        {"levels": ["*"], "actions": ["read"], "scope": "tenant"}]})
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    return documents, tenant, admin, program


def test_role_changes_in_the_json_take_effect_after_reload(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    documents, tenant, admin, program = _with_reader(make_tenant, make_user, records_for)
    measure = records_for(tenant, admin).create("measure", program, Submission(
        "Steel", MultiDict({"potential": "424242", "description": "Cheaper coil"})))
    session.commit()
    reader = make_user(tenant, [("reader", None)])
    login(reader.email)

    page = client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)
    assert "424,242" in page and "Edit</a>" not in page
    assert client.get(f"/t/mini/r/{measure.id}/edit").status_code == 403

    # The consultant grants readers the right to update measures, and hides the potential.
    documents["roles"]["roles"][-1]["permissions"].append(
        {"levels": ["measure"], "actions": ["update"], "scope": "tenant"})
    documents["roles"]["roles"][-1]["fields"] = {"potential": "hidden"}
    _reload(session, documents)

    page = client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)
    assert "424,242" not in page and 'id="value-potential"' not in page and "Edit</a>" in page
    form = client.get(f"/t/mini/r/{measure.id}/edit")
    assert form.status_code == 200 and 'name="potential"' not in form.get_data(as_text=True)
    saved = client.post(f"/t/mini/r/{measure.id}/edit", data={
        "title": "Steel", "version": measure.version, "description": "Cheaper coil, signed"})
    assert saved.status_code == 303

    # Taking the right away again: the edit form is refused once more.
    documents["roles"]["roles"][-1]["permissions"].pop()
    _reload(session, documents)
    assert client.get(f"/t/mini/r/{measure.id}/edit").status_code == 403
    assert "Edit</a>" not in client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)


def test_a_role_removed_from_the_json_grants_nothing_any_more(client, session, make_tenant, make_user, login, records_for):  # type: ignore[no-untyped-def]
    documents, tenant, _, program = _with_reader(make_tenant, make_user, records_for)
    session.commit()
    reader = make_user(tenant, [("reader", None)])
    login(reader.email)
    assert client.get(f"/t/mini/r/{program.id}").status_code == 200

    documents["roles"]["roles"].pop()
    _reload(session, documents)
    # The assignment row still names "reader", but no such role exists in the active version.
    assert client.get(f"/t/mini/r/{program.id}").status_code == 404
