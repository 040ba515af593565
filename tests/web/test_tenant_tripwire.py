"""The tenant tripwire in the running app: every session a tenant request opens is bound to
that tenant, including the one a streamed export opens after the view has returned."""

from __future__ import annotations

from flask import g
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine.records import Submission
from steerco.store import scoping

PASSWORD = "correct-horse-battery"  # the conftest's password for every made user


def test_a_session_opened_later_in_a_tenant_request_is_bound_to_it(app) -> None:  # type: ignore[no-untyped-def]
    from steerco.web.extensions import db

    with app.test_request_context("/t/mini/"):
        assert scoping.bound_tenant(db.session()) is None  # no tenant resolved yet
        db.session.remove()
        g.tenant_id = 7
        assert scoping.bound_tenant(db.session()) == 7
        db.session.remove()


def test_a_streamed_export_shows_only_its_tenant(client, session, make_tenant, make_user, records_for) -> None:  # type: ignore[no-untyped-def]
    mini = make_tenant()
    documents = minimal_documents()
    documents["tenant"].update(key="other", name="Other Ltd")
    other = make_tenant(documents)
    user = make_user(mini)
    records_for(mini, user).create("program", None, Submission("Program of mini", MultiDict()))
    records_for(other, make_user(other)).create("program", None, Submission("Program of other", MultiDict()))
    session.commit()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    export = client.get("/t/mini/list/program/export.csv")
    body = export.get_data(as_text=True)
    assert export.status_code == 200 and "Program of mini" in body and "Program of other" not in body
