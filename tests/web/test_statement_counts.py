"""Pages and exports run the same number of SQL statements at 10 and at 200 records.

Each test counts the statements one request runs (a ``before_cursor_execute`` listener on
the app's engine) with 10 measures under a package, then with 200, and asserts the counts
are equal: a statement per record (an N+1) or per batch of an export would show as a
difference. The measures are made through the engine, each with a responsible person,
time-phased amounts and a reference, so every loader of the field pipeline has rows to
read. The record page and the inbox at 10 and 200 waiting steps are in
``test_workflow_statements.py``; here the record page is checked against the number of
records around it.
"""

from __future__ import annotations

from typing import Callable

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from steerco.store.models import Record, Tenant, User
from test_workflow_statements import _login, _records, _statements, acme  # noqa: F401 - the fixture

EXPORT_ROWS_BEYOND_A_BATCH = 200


def _package(session, tenant: Tenant) -> Record:  # type: ignore[no-untyped-def]
    return session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.title == "Electronics"))


def _fill(session, tenant: Tenant, up_to: int) -> list[Record]:  # type: ignore[no-untyped-def]
    """Measures under the Electronics package until it holds ``up_to`` of them."""
    from steerco.engine.records import Submission

    package = _package(session, tenant)
    have = list(session.scalars(select(Record).where(Record.parent_id == package.id, Record.level_key == "measure",
                                                     Record.title.startswith("Scale measure")).order_by(Record.id)))
    records = _records(session, tenant, "pm@acme.example")
    responsible = session.scalar(select(User.id).where(User.email == "owner@acme.example"))
    for n in range(len(have), up_to):
        form = MultiDict({"category": "procurement", "baseline": "50000", "potential": str(1000 + n),
                          "responsible": str(responsible), "financials.plan.2026-01": str(100 + n),
                          "financials.actual.2026-02": str(50 + n)})
        have.append(records.create("measure", package, Submission(f"Scale measure {n:03d}", form)))
    session.commit()
    return have


def _flat(app, session, acme_tenant: Tenant, url_of: Callable[[Record, list[Record]], str],  # type: ignore[no-untyped-def]
          check: Callable[[str, int], None] | None = None, **kwargs) -> tuple[int, int]:
    counts = []
    for size in (10, 200):
        made = _fill(session, acme_tenant, size)
        client = _login(app, "pm@acme.example")
        url = url_of(_package(session, acme_tenant), made)
        client.get(url, **kwargs)  # the first request of a session takes the navigation's gate fingerprint
        counts.append(_statements(app, client, url, **kwargs))
        if check is not None:
            check(client.get(url, **kwargs).get_data(as_text=True), size)
    return counts[0], counts[1]


def test_a_list_runs_the_same_statements_at_10_and_200_records(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    def check(page: str, size: int) -> None:
        assert page.count("Scale measure ") == min(size, 25 - 3)  # a page of 25; the demo's 3 come first

    ten, two_hundred = _flat(app, session, acme, lambda package, _: f"/t/acme/r/{package.id}/list/measure", check)
    assert ten == two_hundred, (ten, two_hundred)


def test_a_large_list_page_is_capped(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    _fill(session, acme, 210)
    client = _login(app, "pm@acme.example")
    package = _package(session, acme)
    page = client.get(f"/t/acme/r/{package.id}/list/measure?per_page=100000").get_data(as_text=True)
    assert page.count("Scale measure ") == 200 - 3  # PER_PAGE_MAX rows, whatever was asked for


def test_the_csv_export_runs_the_same_statements_at_10_and_200_records(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    def check(body: str, size: int) -> None:
        assert body.count("Scale measure ") == size

    ten, two_hundred = _flat(app, session, acme,
                             lambda package, _: f"/t/acme/r/{package.id}/list/measure/export.csv", check)
    assert ten == two_hundred, (ten, two_hundred)


def test_the_api_list_runs_the_same_statements_at_10_and_200_records(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    from steerco.engine import tokens

    pm = session.scalar(select(User).where(User.email == "pm@acme.example"))
    _, token = tokens.create_token(session, pm, "counts")
    session.commit()
    api = {"Authorization": f"Bearer {token}"}

    def check(body: str, size: int) -> None:
        assert body.count("Scale measure ") == min(size, 200 - 3)  # one page of 200; the demo's 3 first

    ten, two_hundred = _flat(app, session, acme, lambda package, _:
                             f"/api/t/acme/records?level=measure&parent={package.id}&per_page=200", check, headers=api)
    assert ten == two_hundred, (ten, two_hundred)


@pytest.mark.parametrize("which", ["first", "last"])
def test_the_record_page_runs_the_same_statements_at_10_and_200_records(app, session, acme, which) -> None:  # type: ignore[no-untyped-def]
    ten, two_hundred = _flat(app, session, acme, lambda _, made: f"/t/acme/r/{made[0 if which == 'first' else -1].id}")
    assert ten == two_hundred, (ten, two_hundred)


def test_the_history_is_paged_and_runs_the_same_statements_at_10_and_120_events(app, session, acme) -> None:  # type: ignore[no-untyped-def]
    from steerco.engine.records import Submission

    measure = _fill(session, acme, 1)[0]
    records = _records(session, acme, "pm@acme.example")
    counts = []
    for events in (10, 120):
        while session.scalar(select(Record.version).where(Record.id == measure.id)) < events:
            current = records.get(measure.id)
            records.update(current, Submission(current.title, MultiDict({"kpi_actual_value": str(current.version)})),
                           current.version)
            session.commit()
        client = _login(app, "pm@acme.example")
        client.get(f"/t/acme/r/{measure.id}/history")
        counts.append(_statements(app, client, f"/t/acme/r/{measure.id}/history"))
    # Bounded, not growing: the short history also holds the creation, whose people are
    # looked up by name (one statement the first page of the long one does not need).
    assert counts[1] <= counts[0] <= 10, counts
    page = client.get(f"/t/acme/r/{measure.id}/history").get_data(as_text=True)
    assert page.count("<li class=\"event-") == 50 and "Older entries" in page
    older = page.split('href="/t/acme/r/')[-1].split('"')[0]
    assert "before=" in older
    rest = client.get(f"/t/acme/r/{older}".replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count("<li class=\"event-") == 50 and "Older entries" in rest


def test_an_export_in_doubling_batches_yields_every_record_once_in_order(session, acme) -> None:  # type: ignore[no-untyped-def]
    made = _fill(session, acme, 40)
    records = _records(session, acme, "pm@acme.example")
    package = _package(session, acme)
    exported = [record.id for record, _ in records.export_rows("measure", package, batch=3)]  # 3, 6, 12, 24
    expected = list(session.scalars(select(Record.id).where(Record.parent_id == package.id,
                                                            Record.level_key == "measure").order_by(Record.number)))
    assert exported == expected and set(r.id for r in made) <= set(exported)


def test_a_long_csv_export_reads_its_records_in_one_statement_whatever_the_batches(  # type: ignore[no-untyped-def]
        app, session, acme, monkeypatch) -> None:
    """An export streams its records from one statement, batch by batch: with batches of
    7 records, 10 and 200 records (2 and 30 batches) run the same statements, and every
    record comes once, in number order."""
    from steerco.engine import records as records_module

    monkeypatch.setattr(records_module, "EXPORT_BATCH", 7)
    numbers: list[list[str]] = []

    def check(body: str, size: int) -> None:
        assert body.count("Scale measure ") == size
        numbers.append([line.split(",")[0] for line in body.splitlines()[1:]])

    ten, two_hundred = _flat(app, session, acme,
                             lambda package, _: f"/t/acme/r/{package.id}/list/measure/export.csv", check)
    assert ten == two_hundred, (ten, two_hundred)
    expected = list(session.scalars(select(Record.number).where(
        Record.parent_id == _package(session, acme).id, Record.level_key == "measure").order_by(Record.number, Record.id)))
    assert numbers[-1] == expected
