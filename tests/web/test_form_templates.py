"""Issue 15: each level's form is one template compiled per configuration version.

The compiled form must show exactly what the field templates show one by one (every field
type of the demo workspaces: lookups, grids, files, computed values, help texts), follow a
new configuration version at once, and a delegation must still make a deputy, now that the
tenant's resolution says whether to look for one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import flask
from flask import template_rendered
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.demo import DEMO_PASSWORD
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store.models import Delegation, Record, User, utcnow
from steerco.web import form_templates

#: the sections and fields as they were rendered before: a loop including the wrapper per field
ONE_BY_ONE = """{% for section in level.sections if section.fields|selectattr('key', 'in', permitted)|list %}
<fieldset><legend>{{ section.label }}</legend>
{% for fld in section.fields %}{% include "partials/_field.html" %}{% endfor %}
</fieldset>{% endfor %}"""


def _normal(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


def _form_context(app, client, url: str) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The context the edit form was rendered with, and the request's ``g``."""
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def keep(sender, template, context, **extra):  # type: ignore[no-untyped-def]
        if template.name == "record_form.html":
            seen.append((dict(context), dict(flask.g.__dict__)))

    with template_rendered.connected_to(keep, app):
        response = client.get(url)
    assert response.status_code == 200, response.data[:500]
    return seen[0]


def test_the_compiled_form_shows_what_the_field_templates_show(app, client, session, demo_workspaces) -> None:  # type: ignore[no-untyped-def]
    client.post("/login", data={"email": "admin@acme.example", "password": DEMO_PASSWORD})
    checked = 0
    for level_key in ("measure", "measure_package", "program"):
        record = session.scalar(select(Record).where(Record.tenant_id == demo_workspaces["acme"].id,
                                                     Record.level_key == level_key).order_by(Record.id))
        if record is None:
            continue
        context, request_g = _form_context(app, client, f"/t/acme/r/{record.id}/edit")
        with app.test_request_context(f"/t/acme/r/{record.id}/edit"):
            flask.g.__dict__.update(request_g)
            env = app.jinja_env
            permitted = [k for k, s in context["states"].items() if s.mode != "hidden"]
            expected = env.from_string(ONE_BY_ONE).render({**context, "permitted": permitted})
            compiled = form_templates.level_form(env, flask.g.config, context["level"])
            assert compiled is context["form_fields"]  # compiled once, reused
            assert _normal(compiled.render(context)) == _normal(expected)
        assert 'aria-describedby="error-' in expected and 'role="alert"' in expected
        checked += 1
    assert checked >= 2


def test_a_new_configuration_version_gets_its_own_compiled_form(client, session, make_tenant, make_user, login, records_for) -> None:  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    login(admin.email)
    program = records_for(tenant, admin).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    before = client.get(f"/t/{tenant.slug}/r/{program.id}/edit").get_data(as_text=True)
    assert "Sponsor's note" not in before

    # A field added in a new version: on the form at once, with its label, help and error slot.
    documents["fields"]["fields"].append({"key": "sponsor_note", "label": "Sponsor's note", "type": "text",
                                          "help": "Who backs it <and why>", "max_length": 80})
    documents["levels"]["levels"][0]["sections"][0]["fields"].append("sponsor_note")
    tenants.store_config(session, documents)
    session.commit()
    after = client.get(f"/t/{tenant.slug}/r/{program.id}/edit").get_data(as_text=True)
    assert '<label for="input-sponsor_note">Sponsor&#39;s note</label>' in after
    assert 'maxlength="80"' in after and 'aria-describedby="error-sponsor_note help-sponsor_note"' in after
    assert "Who backs it &lt;and why&gt;" in after and '<p class="error" id="error-sponsor_note" role="alert">' in after


def test_the_tenant_resolution_says_who_may_be_a_deputy(session, make_tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant(minimal_documents())
    boss = make_user(tenant, [("admin", None)], email="boss@example.com")
    deputy = make_user(tenant, [("admin", None)], email="deputy@example.com")
    _, actor = tenants.resolve(session, tenant.slug, deputy)
    assert actor.deputy is False  # nobody looks for delegations to them on this request
    today = utcnow().date()
    session.add(Delegation(tenant_id=tenant.id, user_id=boss.id, deputy_id=deputy.id,
                           starts_on=today, ends_on=today + dt.timedelta(days=3)))
    session.commit()
    assert tenants.resolve(session, tenant.slug, deputy)[1].deputy is True
    assert tenants.resolve(session, tenant.slug, session.get(User, boss.id))[1].deputy is False
