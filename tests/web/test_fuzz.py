"""A property-based run over the JSON API and the HTML form posts: no input answers 500.

Hypothesis sends well over 2,000 requests per run (the demo's acme workspace, as its
administrator; the login form anonymously): record creation and edits, the htmx field
state endpoint and the list filters, through both the API and the forms, with values
drawn from everything JSON and a form can carry, plus the inputs that once broke the app
(huge numbers and ids, NaN, NUL, lone surrogates, deep nesting, very long text). Every
answer must be below 500. The run is derandomized, so CI sends the same requests each
time, on whichever database the suite runs on.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tenants, tokens, users
from steerco.store.models import Record, Tenant, User

pytestmark = pytest.mark.fuzz

#: inputs that broke the app once, or could: numbers, ids, dates, text edge cases
NASTY = ["1e999999999", "-1e999999999", "1e-999999999", "0e999999999", "NaN", "Infinity", "-0", "1_000",
         "99999999999999999999", "2147483648", "-1", "0", "0x10", "1,5", "1.005", " 12 ", "١٢٣",
         "2026-02-30", "9999-12-31", "0000-01-01", "2026-13", "", " ", "\x00", "a\x00b", "\r\n", "\t=cmd",
         "<script>alert(1)</script>", "' OR 1=1 --", "%", "_", "\\", "../../etc/passwd", "x" * 5000,
         "\u202e", "\ufeff", "😀", "e\u0301", "\U0010ffff"]
#: strings JSON can carry but a form cannot (a form's text is UTF-8 encoded)
JSON_ONLY = ["\ud800", "a\udfffb", "\ud83d"]

SETTINGS = dict(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])

form_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.integers().map(str),
                      st.floats().map(str), st.dates().map(str))
json_text = st.one_of(form_text, st.sampled_from(JSON_ONLY),
                      st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**70, max_value=2**70),
                        st.floats(allow_nan=True, allow_infinity=True), json_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(json_text, inner, max_size=4)), max_leaves=12)
deep = st.integers(min_value=30, max_value=1500).map(lambda n: "[" * n + "]" * n)


@pytest.fixture
def world(session, monkeypatch, app):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(users, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))
    load_demo(session)
    admin = session.scalar(select(User).where(User.email == "admin@acme.example"))
    _, plaintext = tokens.create_token(session, admin, "fuzz")
    session.commit()
    acme = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    config = tenants.active_config(session, acme)
    measures = list(session.scalars(select(Record.id).where(Record.tenant_id == acme.id,
                                                            Record.level_key == "measure").order_by(Record.id)))
    package = session.scalar(select(Record.id).where(Record.tenant_id == acme.id,
                                                     Record.level_key == "measure_package").order_by(Record.id))
    client = app.test_client()
    assert client.post("/login", data={"email": admin.email, "password": DEMO_PASSWORD}).status_code == 302
    session.close()
    fields = [f.key for f in config.levels["measure"].fields]
    return {"client": client, "api": {"Authorization": f"Bearer {plaintext}"}, "measures": measures,
            "package": package, "fields": fields, "levels": list(config.levels)}


def _run(name: str, examples: int, strategy: Any, send: Callable[[Any], Any], sent: list[str]) -> None:
    """Send one request per example; each must answer below 500."""
    count = 0

    @settings(max_examples=examples, **SETTINGS)
    @given(strategy)
    def check(example: Any) -> None:
        nonlocal count
        count += 1
        response = send(example)
        assert response.status_code < 500, (name, example, response.get_data(as_text=True)[:300])

    check()
    assert count >= examples, (name, count)
    sent.extend([name] * count)


def test_no_request_answers_500(world, app) -> None:  # type: ignore[no-untyped-def]
    client, api, fields = world["client"], world["api"], world["fields"]
    measure_ids = st.sampled_from(world["measures"])
    field_keys = st.one_of(st.sampled_from(fields), json_text)
    values = st.dictionaries(field_keys, json_value, max_size=6)
    form = st.dictionaries(st.one_of(st.sampled_from(fields + ["title", "version", "financials.plan.2026-03",
                                                               "financials.actual.2026-13", "_state"]),
                                     st.text(max_size=10)),
                           form_text, max_size=8)
    sent: list[str] = []

    def api_create(example: dict[str, Any]):  # type: ignore[no-untyped-def]
        body, raw = example
        return client.post("/api/t/acme/records", headers=api, content_type="application/json",
                           data=raw if raw is not None else json.dumps(body))

    _run("api create", 350, st.tuples(
        st.fixed_dictionaries({"level": st.one_of(st.sampled_from(world["levels"]), json_value),
                               "parent": st.one_of(st.just(world["package"]), json_scalar),
                               "title": json_value, "values": st.one_of(values, json_value)}),
        st.one_of(st.none(), st.none(), deep.map(lambda d: '{"level": "measure", "values": %s}' % d),
                  st.text(max_size=30))), api_create, sent)

    def api_update(example):  # type: ignore[no-untyped-def]
        record_id, body = example
        return client.patch(f"/api/t/acme/records/{record_id}", headers=api, content_type="application/json",
                            data=json.dumps(body))

    _run("api update", 350, st.tuples(measure_ids, st.fixed_dictionaries(
        {"version": st.one_of(st.integers(min_value=1, max_value=6), json_scalar), "values": values},
        optional={"title": json_value})), api_update, sent)

    def api_list(params):  # type: ignore[no-untyped-def]
        return client.get("/api/t/acme/records", headers=api, query_string=params)

    list_params = st.dictionaries(st.one_of(
        st.sampled_from(["level", "parent", "q", "stage", "owner", "sort", "dir", "page", "per_page"]),
        st.sampled_from(fields).map(lambda k: f"field.{k}"), st.text(max_size=8)), form_text, max_size=5)
    _run("api list", 300, list_params.map(lambda p: {"level": "measure", **p}), api_list, sent)

    _run("form create", 250, form, lambda data: client.post(f"/t/acme/new/measure?parent={world['package']}",
                                                             data=data), sent)
    _run("form edit", 250, st.tuples(measure_ids, form),
         lambda example: client.post(f"/t/acme/r/{example[0]}/edit", data=example[1]), sent)
    _run("form state", 250, st.tuples(measure_ids, form),
         lambda example: client.post(f"/t/acme/form/measure/state?record={example[0]}", data=example[1],
                                     headers={"HX-Request": "true"}), sent)
    _run("html list", 150, list_params,
         lambda params: client.get("/t/acme/list/measure", query_string=params), sent)

    anonymous = app.test_client()
    _run("login", 150, st.fixed_dictionaries({"email": form_text, "password": form_text}),
         lambda data: anonymous.post("/login", data=data), sent)

    def api_workflow(example):  # type: ignore[no-untyped-def]
        record_id, path, body = example
        return client.post(f"/api/t/acme/records/{record_id}/{path}", headers=api, content_type="application/json",
                           data=json.dumps(body))

    _run("api workflow", 100, st.tuples(measure_ids, st.sampled_from(
        ["comments", "status/implementation_status", "transitions/identify", "transitions/x"]),
        st.dictionaries(st.sampled_from(["body", "value", "comment"]), json_value, max_size=3)),
        api_workflow, sent)
    assert len(sent) >= 2000, len(sent)
