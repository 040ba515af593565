"""Ids no object can have: 0, and numbers beyond the id columns (2**31-1), which the database cannot
even hold (SQLite raises OverflowError). They name nothing, so they get the answer of any
unknown id, 404, and never reach the database. Path ids are checked for every ``<int:...>``
route of the URL map (a new route is covered the day it is added); ids in query strings
and JSON bodies where the API reads them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import request
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tokens
from steerco.store.models import Record, User
from steerco.web.params import ID_MAX, IdConverter, digits_up_to, id_arg

#: path arguments that are no object id, with an acme value
KEYS = {"tenant": "acme", "level_key": "measure", "filename": "steerco.css", "key": "identify",
        "dimension": "implementation_status", "name": "fields", "token": "no-such-link",
        "field_key": "business_case"}
TOO_BIG = "99999999999999999999"
#: beyond the range, at its edge and just inside it (which must reach the database and be unknown)
BAD_IDS = [TOO_BIG, str(ID_MAX + 1), "0", str(ID_MAX)]


@pytest.fixture
def acme(session):  # type: ignore[no-untyped-def]
    """The demo, acme's administrator and a bearer token of theirs."""
    load_demo(session)
    session.commit()
    admin = session.scalar(select(User).where(User.email == "admin@acme.example"))
    _, plaintext = tokens.create_token(session, admin, "bad ids")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def _logged_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/login", data={"email": "admin@acme.example", "password": DEMO_PASSWORD})
    assert response.status_code == 302


def _id_rules(app) -> list[tuple[str, str, list[str]]]:  # type: ignore[no-untyped-def]
    """(rule, endpoint, allowed methods) of every route with an ``<int:...>`` argument."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)]
        if ints:
            unknown = [a for a in rule.arguments if a not in KEYS and a not in ints]
            assert not unknown, f"{rule.endpoint}: teach this test the path argument {unknown}"
            found.append((rule.rule, rule.endpoint, sorted(rule.methods - {"HEAD", "OPTIONS"})))
    return found


def test_every_int_converter_is_the_bounded_one(app) -> None:  # type: ignore[no-untyped-def]
    assert app.url_map.converters["int"] is IdConverter
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if type(converter) is IntegerConverter:
                pytest.fail(f"{rule.rule}: <{name}> uses werkzeug's unbounded int converter")


def test_every_id_route_answers_404_for_ids_no_object_can_have(app, client, acme) -> None:  # type: ignore[no-untyped-def]
    _logged_in(client)
    rules = _id_rules(app)
    assert len(rules) > 25, rules  # the whole app, not one blueprint
    failures, checked = [], 0
    for rule, endpoint, methods in rules:
        for bad in BAD_IDS:
            url = rule
            for name, value in KEYS.items():
                url = url.replace(f"<{name}>", value)
            url = re.sub(r"<[^>]+>", bad, url)  # what is left are the <int:...> ids
            api = url.startswith("/api/")
            # bodies a route would accept, so that only the id can be what is refused
            kwargs: dict[str, Any] = {"headers": acme, "json": {"version": 1, "values": {}}} if api else \
                {"data": {"title": "x", "version": "1", "comment": "x", "role": "viewer", "node": ""}}
            for method in methods:
                response = client.open(url, method=method, **kwargs)
                checked += 1
                if response.status_code != 404:
                    failures.append(f"{method} {url} ({endpoint}) -> {response.status_code}")
                elif api:
                    assert response.is_json and response.get_json()["error"]["status"] == 404, url
    assert failures == [], "\n".join(failures)
    assert checked >= len(rules) * len(BAD_IDS)


def test_api_parent_query_argument_out_of_range_is_404_and_text_is_400(client, acme) -> None:  # type: ignore[no-untyped-def]
    for bad in (TOO_BIG, str(ID_MAX + 1), "0", "-1", str(ID_MAX)):
        response = client.get(f"/api/t/acme/records?level=measure&parent={bad}", headers=acme)
        assert response.status_code == 404, bad
        assert response.get_json()["error"]["message"] == "no such record"
    malformed = client.get("/api/t/acme/records?level=measure&parent=abc", headers=acme)
    assert malformed.status_code == 400
    assert "parent must be a whole number" in malformed.get_json()["error"]["message"]
    # huge page numbers are clamped by the engine, never sent to the database as they are
    assert client.get(f"/api/t/acme/records?level=measure&page={TOO_BIG}&per_page={TOO_BIG}",
                      headers=acme).status_code == 200


def test_api_create_refuses_a_parent_id_no_record_can_have(client, acme, session) -> None:  # type: ignore[no-untyped-def]
    before = session.scalar(select(Record.id).order_by(Record.id.desc()).limit(1))
    for bad in (int(TOO_BIG), ID_MAX + 1, 0, -5, ID_MAX):
        response = client.post("/api/t/acme/records", headers=acme,
                               json={"level": "measure", "parent": bad, "title": "x", "values": {}})
        assert response.status_code == 422, bad
        assert response.get_json()["error"]["fields"] == {"parent": "No such record."}
    for wrong in ("12", 1.5, True, [1]):
        response = client.post("/api/t/acme/records", headers=acme,
                               json={"level": "measure", "parent": wrong, "title": "x", "values": {}})
        assert response.status_code == 422, wrong
        assert response.get_json()["error"]["fields"] == {"parent": "Send the id of the parent record, or null."}
    session.expire_all()
    assert session.scalar(select(Record.id).order_by(Record.id.desc()).limit(1)) == before


def test_the_converters_regex_holds_exactly_1_to_the_maximum() -> None:
    # Bounds in the regex, not only in to_python: werkzeug answers a failed conversion with
    # 405 when a rule with other methods shares the path (PATCH /api/.../records/<huge>).
    big = 2**63 - 1
    whole = re.compile(digits_up_to(big) + r"\Z")
    for value in (1, 9, 10, 10**18 - 1, 10**18, 9123372036854775807, big - 1, big, ID_MAX):
        assert whole.match(str(value)), value
    for text in ("0", "00", "007", str(big + 1), "9300000000000000000", str(10**19), TOO_BIG, "-1", "٣"):
        assert not whole.match(text), text
    for maximum in (1, 9, 10, 11, 99, 100, 305, 1000, 2099):
        small = re.compile(digits_up_to(maximum) + r"\Z")
        assert [v for v in range(0, 2 * maximum + 20) if small.match(str(v))] == list(range(1, maximum + 1))


@pytest.mark.parametrize("raw, expected", [
    ("1", 1), ("42", 42), (str(ID_MAX), ID_MAX), ("0", None), ("-1", None), (str(ID_MAX + 1), None),
    (TOO_BIG, None), ("", None), ("abc", None), (" 7", None), ("+7", None), ("1_0", None), ("٣", None),
    ("9" * 5000, None),
])
def test_id_arg_as_the_type_of_a_query_argument(app, raw, expected) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context("/", query_string={"parent": raw}):
        assert request.args.get("parent", type=id_arg) == expected
    with app.test_request_context("/", method="POST", data={"record": raw}):
        assert request.form.get("record", type=id_arg) == expected


# Query and form ids read by the HTML pages (``parent``, ``record``, ``deputy``).
def test_query_and_form_ids_of_the_html_pages_out_of_range_are_not_500(client, acme) -> None:  # type: ignore[no-untyped-def]
    _logged_in(client)
    failures = []
    for bad in (TOO_BIG, str(ID_MAX + 1)):
        for method, url, data in [
            ("GET", f"/t/acme/new/measure?parent={bad}", None),
            ("POST", f"/t/acme/new/measure?parent={bad}", {"title": "x"}),
            ("POST", f"/t/acme/form/measure/state?parent={bad}", {"title": "x"}),
            ("POST", f"/t/acme/form/measure/state?record={bad}", {"title": "x"}),
            ("POST", "/t/acme/delegations", {"deputy": bad, "starts_on": "2030-01-01", "ends_on": "2030-01-31"}),
        ]:
            response = client.open(url, method=method, data=data)
            if response.status_code >= 500:
                failures.append(f"{method} {url} {data or ''} -> {response.status_code}")
    assert failures == [], "\n".join(failures)
