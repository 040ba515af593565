"""The same record reads the same in every channel, for every role of both demo tenants.

For one record, the set of visible fields and their display text must be identical in the
page, a list row, the CSV row, the PDF (its text, parsed back with pypdf) and the API's
keys, with a conditional field both shown and hidden (acme's capex amount behind
"Requires capex", servicedesk's change ticket behind priority P1/P2). The expected view is
the engine's own (``Records.view``); each channel must agree with it.
"""

from __future__ import annotations

import csv
import html
import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tables, tenants, tokens
from steerco.engine.access import Access
from steerco.engine.records import Records, Submission
from steerco.fields.display import Display
from steerco.store.models import Record, Tenant, User

#: one person per role, and the conditional field with the values that show and hide it
TENANTS: dict[str, dict[str, Any]] = {
    "acme": {
        "people": ["admin", "portfolio", "pm", "owner", "controller", "cfo", "steerco", "viewer"],
        "level": "measure", "conditional": "capex_amount",
        "shown": {"has_capex": "1", "capex_amount": "120000"}, "hidden": {"has_capex": "0"},
    },
    "servicedesk": {
        "people": ["admin", "slm", "owner", "analyst", "auditor"],
        "level": "improvement", "conditional": "change_ticket",
        "shown": {"priority": "p1", "change_ticket": "CHG0012345"}, "hidden": {"priority": "p3"},
    },
}


def _normal(text: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("\xa0", " ").replace("\u202f", " ").split())


def _service(session, tenant: Tenant, user: User) -> Records:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)))


def _page_values(body: str) -> dict[str, str]:
    return {k: _normal(v) for k, v in re.findall(r'<dd id="value-([a-z0-9_]+)"[^>]*>(.*?)</dd>', body, re.S)}


def _list_row(body: str, record: Record, keys: list[str]) -> dict[str, str | None]:
    """The list row of the record: {column key: text, or None for a hidden cell}."""
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    row = next(r for r in rows if f">{record.number}</a>" in r)
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S)
    return {key: None if "hidden-value" in attrs else _normal(text) for key, (attrs, text) in zip(keys, cells)}


def _check(client, session, tenant: Tenant, record: Record, person: User, token: str, conditional: str,
           failures: list[str]) -> None:  # type: ignore[no-untyped-def]
    service = _service(session, tenant, person)
    who = person.email
    if not service.access.can("read", record.level_key, record):
        assert client.get(f"/t/{tenant.slug}/r/{record.id}").status_code == 404
        return
    view = service.view(record)
    level = service.config.levels[record.level_key]
    expected = {v.key: _normal(v.shown) for v in view.visible}
    textual = {k for k in expected if level.field(k).kind.tabular}

    page = _page_values(client.get(f"/t/{tenant.slug}/r/{record.id}").get_data(as_text=True))
    if set(page) != set(expected):
        failures.append(f"{who}: page shows {sorted(set(page) ^ set(expected))} differently")
    for key in textual & set(page):
        if page[key] != expected[key]:
            failures.append(f"{who}: page {key} {page[key]!r} != {expected[key]!r}")

    columns = tables.columns(service.config, service.access, level)
    listing = client.get(f"/t/{tenant.slug}/r/{record.parent_id}/list/{level.key}?per_page=200").get_data(as_text=True)
    cells = _list_row(listing, record, [c.key for c in columns])
    assert len(textual) >= 5 and sum(c.field is not None for c in columns) >= 3, (textual, columns)
    for col in columns:
        if col.field is None:
            continue
        shown = cells[col.key]
        if (shown is not None) != (col.key in expected):  # noqa: SIM102
            failures.append(f"{who}: list {col.key} visible={shown is not None}, page says {col.key in expected}")
        elif shown is not None and (shown or "—") != expected[col.key]:
            failures.append(f"{who}: list {col.key} {shown!r} != {expected[col.key]!r}")

    export = client.get(f"/t/{tenant.slug}/r/{record.parent_id}/list/{level.key}/export.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(export)))
    header, row = rows[0], next(r for r in rows[1:] if r[0] == record.number)
    display = Display.of(service.config)
    for col in tables.export_columns(service.config, service.access, level):
        if col.field is None:
            continue
        cell = row[header.index(tables.header(col, display))]
        fv = view.fields[col.key]
        wanted = fv.export_value()
        if not fv.visible and cell != "":
            failures.append(f"{who}: csv {col.key} holds {cell!r} though it is hidden")
        elif fv.visible and cell.lstrip("'") != ("" if wanted is None else str(wanted)):
            failures.append(f"{who}: csv {col.key} {cell!r} != {wanted!r}")
        elif fv.visible and wanted is not None and isinstance(wanted, str) and not fv.problem \
                and _normal(wanted) != expected[col.key]:
            failures.append(f"{who}: csv text {col.key} {wanted!r} != page {expected[col.key]!r}")

    pdf = client.get(f"/t/{tenant.slug}/r/{record.id}/pdf")
    text = _normal("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages))
    for key in textual:
        if expected[key] != "—" and expected[key] not in text:
            failures.append(f"{who}: pdf lacks {key} {expected[key]!r}")
    label = _normal(level.field(conditional).label)
    if (conditional in expected) != (label in text):
        failures.append(f"{who}: pdf shows {conditional}: {label in text}, page: {conditional in expected}")

    api = client.get(f"/api/t/{tenant.slug}/records/{record.id}", headers={"Authorization": f"Bearer {token}"})
    if set(api.get_json()["values"]) != set(expected):
        failures.append(f"{who}: api keys differ by {sorted(set(api.get_json()['values']) ^ set(expected))}")


@pytest.mark.parametrize("slug", sorted(TENANTS))
def test_every_channel_shows_the_same_fields_and_texts_for_every_role(client, session, slug):  # type: ignore[no-untyped-def]
    load_demo(session)
    session.commit()
    spec = TENANTS[slug]
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    admin = session.scalar(select(User).where(User.email == f"admin@{slug}.example"))
    owner = session.scalar(select(User).where(User.email == f"owner@{slug}.example"))
    # A record the role with the narrowest scope can read too: one the owner owns, or one
    # in the owner's part of the tree.
    record = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == spec["level"],
                                                 Record.owner_id == owner.id).order_by(Record.id))
    people = [session.scalar(select(User).where(User.email == f"{p}@{slug}.example")) for p in spec["people"]]
    people_tokens = {p.id: tokens.create_token(session, p, "cross-channel")[1] for p in people}
    session.commit()
    failures: list[str] = []
    seen = {"shown": 0, "hidden": 0}
    for state in ("shown", "hidden"):
        service = _service(session, tenant, admin)
        record = service.get(record.id)
        service.update(record, Submission(record.title, MultiDict(spec[state])), record.version)
        session.commit()
        record = session.get(Record, record.id)
        for person in people:
            assert client.post("/login", data={"email": person.email, "password": DEMO_PASSWORD}).status_code == 302
            _check(client, session, tenant, record, person, people_tokens[person.id], spec["conditional"], failures)
            view = _service(session, tenant, person).view(record)
            seen[state] += view.fields[spec["conditional"]].visible
    assert failures == [], "\n".join(failures)
    # The conditional field really was shown to someone, then hidden from everyone.
    assert seen["shown"] > 0 and seen["hidden"] == 0


def test_the_record_pdf_carries_the_tenants_branding_page_numbers_and_a_packages_measures(client, session):  # type: ignore[no-untyped-def]
    load_demo(session)
    session.commit()
    tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
    package = session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.level_key == "measure_package")
                             .order_by(Record.id))
    measures = session.scalars(select(Record).where(Record.parent_id == package.id)).all()
    assert client.post("/login", data={"email": "admin@acme.example", "password": DEMO_PASSWORD}).status_code == 302
    pdf = client.get(f"/t/acme/r/{package.id}/pdf")
    text = _normal("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages))
    assert "ACME Transformation Office" in text  # branding: logo text
    assert "Confidential – for steering committee use only" in text  # branding: footer
    assert "Page 1 of" in text
    assert measures and all(m.number in text and _normal(m.title) in text for m in measures)
    assert "Measures" in text
