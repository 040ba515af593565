"""One field pipeline for every channel: what issue 8 found, each as a user would meet it.

A value hidden by its own condition must not reach the CSV; users and references read as
names, money as money (in the tenant's locale) everywhere, and as a number in the CSV;
a computed value of the wrong type is a field problem, never a 500; a reference to the
600th record of a level is accepted (one the actor may not read is refused).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import tenants
from steerco.engine.records import Submission
from steerco.store.models import Record


def _documents() -> dict:
    """The minimal tenant, its measures with a user and a reference field in the list."""
    documents = minimal_documents()
    documents["fields"]["fields"] += [
        {"key": "responsible", "label": "Responsible", "type": "user"},
        {"key": "related", "label": "Related measure", "type": "reference", "target_level": "measure"},
    ]
    measure = documents["levels"]["levels"][1]
    measure["sections"][0]["fields"] += ["responsible", "related"]
    measure["list_columns"] = ["number", "title", "potential", "capex_amount", "responsible", "related", "due"]
    return documents


@pytest.fixture
def mini(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(_documents())
    admin = make_user(tenant, [("admin", None)], name="Ada Admin")
    service = records_for(tenant, admin)
    program = service.create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return tenant, admin, service, program


def _csv(client, url: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200, response.data[:500]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_a_value_hidden_by_its_own_condition_stays_out_of_list_and_csv(client, session, mini, login):  # type: ignore[no-untyped-def]
    _, admin, service, program = mini
    measure = service.create("measure", program, Submission("Press line", MultiDict(
        {"has_capex": "1", "capex_amount": "43210"})))
    session.commit()
    service.update(measure, Submission("Press line", MultiDict({"has_capex": "0"})), measure.version)
    session.commit()
    assert session.get(Record, measure.id).values["capex_amount"] == 43210  # still stored

    login(admin.email)
    page = client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)
    listing = client.get(f"/t/mini/r/{program.id}/list/measure").get_data(as_text=True)
    export = client.get(f"/t/mini/r/{program.id}/list/measure/export.csv").get_data(as_text=True)
    api = client.get(f"/t/mini/r/{measure.id}/pdf")
    pdf = "".join(p.extract_text() for p in PdfReader(io.BytesIO(api.data)).pages)
    for name, body in (("page", page), ("list", listing), ("csv", export), ("pdf", pdf)):
        assert "43210" not in body and "43,210" not in body, f"hidden capex amount leaked into the {name}"


def test_users_and_references_read_as_names_in_lists_csv_and_history(client, session, mini, make_user, login):  # type: ignore[no-untyped-def]
    tenant, admin, service, program = mini
    grace = make_user(tenant, [("admin", None)], name="Grace Hopper")
    target = service.create("measure", program, Submission("Steel", MultiDict()))
    measure = service.create("measure", program, Submission("Press line", MultiDict(
        {"responsible": str(grace.id), "related": str(target.id), "potential": "25000"})))
    session.commit()
    service.update(measure, Submission("Press line", MultiDict({"responsible": str(admin.id),
                                                               "potential": "30000.5"})), measure.version)
    session.commit()

    login(admin.email)
    listing = client.get(f"/t/mini/r/{program.id}/list/measure").get_data(as_text=True)
    assert "Ada Admin" in listing and f"{target.number} Steel" in listing
    row = next(r for r in _csv(client, f"/t/mini/r/{program.id}/list/measure/export.csv")
               if r["No."] == measure.number)
    assert row["Responsible"] == "Ada Admin" and row["Related measure"] == f"{target.number} Steel"
    history = client.get(f"/t/mini/r/{measure.id}/history").get_data(as_text=True)
    assert "Grace Hopper" in history and "Ada Admin" in history
    assert f"{target.number} Steel" in history
    cells = re.findall(r"<td>([^<]*)</td>", history)
    assert str(grace.id) not in cells and str(target.id) not in cells
    # Money in the history is money in the tenant's locale (en-GB here), not "25000.0".
    assert "€25,000" in history and "€30,000.50" in history and "25000.0" not in history


def test_csv_cells_are_numbers_spreadsheets_can_sum_with_the_unit_in_the_header(client, session, mini, login):  # type: ignore[no-untyped-def]
    _, admin, service, program = mini
    service.create("measure", program, Submission("Press line", MultiDict(
        {"potential": "85000", "due": "2026-03-31", "category": "procurement"})))
    service.create("measure", program, Submission("-1 supplier", MultiDict({"potential": "1500.5"})))
    session.commit()
    login(admin.email)
    rows = _csv(client, f"/t/mini/r/{program.id}/list/measure/export.csv")
    by_title = {r["Measure title" if "Measure title" in r else "Title"]: r for r in rows}
    first = by_title["Press line"]
    assert first["Potential (EUR)"] == "85000" and first["Weighted potential (EUR)"] == "42500.0"
    assert first["Due date"] == "2026-03-31" and first["Category"] == "Procurement"
    assert by_title["'-1 supplier"]["Potential (EUR)"] == "1500.5"
    assert sum(float(r["Potential (EUR)"]) for r in rows) == 86500.5


def test_formula_looking_text_is_neutralised_in_values_and_headers_but_numbers_stay_numbers(client, session, make_tenant, make_user, records_for, login):  # type: ignore[no-untyped-def]
    documents = _documents()
    documents["fields"]["fields"][0]["label"] = "  =cmd|' /C calc'!A0"  # description's label
    documents["fields"]["fields"] += [{"key": "delta", "label": "Delta", "type": "integer"}]
    documents["levels"]["levels"][1]["sections"][0]["fields"].append("delta")
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    service = records_for(tenant, admin)
    program = service.create("program", None, Submission("Program", MultiDict()))
    for title, description in (("@SUM(A1)", "+1"), ("-2+3", "=1+2"), ("Plain", "plain")):
        service.create("measure", program, Submission(title, MultiDict({"description": description,
                                                                        "delta": "-250"})))
    session.commit()
    login(admin.email)
    text = client.get(f"/t/mini/r/{program.id}/list/measure/export.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert "'  =cmd|' /C calc'!A0" in rows[0]
    described = rows[0].index("'  =cmd|' /C calc'!A0")
    titles = {row[1] for row in rows[1:]}
    assert titles == {"'@SUM(A1)", "'-2+3", "Plain"}
    assert {row[described] for row in rows[1:]} == {"'+1", "'=1+2", "plain"}
    assert {row[rows[0].index("Delta")] for row in rows[1:]} == {"-250"}


def test_every_formula_start_is_neutralised_also_after_spaces_and_numbers_are_not():
    from steerco.web.records import _csv_cell

    for text in ("=1", "+1", "-1", "@A", "\tx", "\rx", "   =1", " \t"):
        assert _csv_cell(text) == "'" + text
    assert _csv_cell(-250) == -250 and _csv_cell(-0.5) == -0.5 and _csv_cell("plain -1") == "plain -1"
    assert _csv_cell(None) == ""


def test_the_csv_streams_in_a_fixed_number_of_statements_whatever_its_length(app, client, session, mini, login):  # type: ignore[no-untyped-def]
    from steerco.web.extensions import db

    _, admin, _, program = mini
    login(admin.email)
    with app.app_context():
        engine = db.engine

    def statements_of_export(expected_rows: int) -> list[str]:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert len(_csv(client, f"/t/mini/r/{program.id}/list/measure/export.csv")) == expected_rows
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return seen

    _bulk_measures(session, program, 600, start=1)
    small = statements_of_export(600)
    _bulk_measures(session, program, 600, start=601)
    large = statements_of_export(1200)
    # One more batch of 500 costs its three reads (records, amounts, files); no COUNT, no
    # page after page of OFFSET queries.
    assert len(large) - len(small) <= 3, (len(small), len(large))
    assert not any("count(" in s.lower() for s in large)
    assert len(large) < 20, len(large)


def _bulk_measures(session, program: Record, count: int, start: int = 1) -> list[Record]:  # type: ignore[no-untyped-def]
    """Measures inserted in bulk (what a migration from a spreadsheet leaves behind)."""
    found = []
    for n in range(start, start + count):
        found.append(Record(tenant_id=program.tenant_id, level_key="measure", parent_id=program.id,
                            number=f"M-{n:05d}", title=f"Measure {n}", path="", depth=1,
                            owner_id=program.owner_id, stage_key="defined", values={"potential": n},
                            version=1))
    session.add_all(found)
    session.flush()
    for record in found:
        record.path = f"{program.path}{record.id}/"
    session.commit()
    return found


def test_a_reference_to_the_600th_record_of_a_level_is_accepted(client, session, mini, make_user, records_for, login):  # type: ignore[no-untyped-def]
    tenant, admin, service, program = mini
    bulk = _bulk_measures(session, program, 600)
    measure = service.create("measure", program, Submission("Press line", MultiDict(
        {"related": str(bulk[-1].id)})))
    session.commit()
    assert session.get(Record, measure.id).values["related"] == bulk[-1].id

    # Far beyond a select: the form offers search-as-you-type, which finds the 600th.
    login(admin.email)
    form = client.get(f"/t/mini/r/{measure.id}/edit").get_data(as_text=True)
    assert 'class="lookup-search"' in form and f"{bulk[-1].number} Measure 600" in form
    found = client.get(f"/t/mini/lookup/measure/related?record={measure.id}&_search=Measure 600")
    assert found.status_code == 200 and f'value="{bulk[-1].id}"' in found.get_data(as_text=True)


@pytest.mark.parametrize("position", [1, 500, 1000])
def test_a_reference_to_any_of_1000_records_of_a_level_can_be_chosen_and_saved(  # type: ignore[no-untyped-def]
        client, session, mini, login, position):
    """Through the form, as a person does it: search the lookup by the record's title, take
    the offered entry, post the edit form with it; the record page then names it."""
    tenant, admin, service, program = mini
    bulk = _bulk_measures(session, program, 1000)
    measure = service.create("measure", program, Submission("Press line", MultiDict()))
    session.commit()
    target = bulk[position - 1]
    login(admin.email)
    found = client.get(f"/t/mini/lookup/measure/related?record={measure.id}&_search=Measure {position}")
    assert found.status_code == 200 and f'value="{target.id}"' in found.get_data(as_text=True)
    saved = client.post(f"/t/mini/r/{measure.id}/edit", data={
        "title": "Press line", "version": str(measure.version), "related": str(target.id)})
    assert saved.status_code == 303, saved.get_data(as_text=True)[:500]
    session.expire_all()
    assert session.get(Record, measure.id).values["related"] == target.id
    assert f"{target.number} Measure {position}" in client.get(f"/t/mini/r/{measure.id}").get_data(as_text=True)


def test_a_reference_to_a_record_the_actor_may_not_read_is_refused(session, mini, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, service, program = mini
    secret = service.create("measure", program, Submission("Not yours", MultiDict()))
    mine = service.create("measure", program, Submission("Yours", MultiDict()))
    owner = make_user(tenant, [("owner", None)])
    session.execute(Record.__table__.update().where(Record.id == mine.id).values(owner_id=owner.id))
    session.commit()
    session.expire_all()
    as_owner = records_for(tenant, owner)
    mine = as_owner.get(mine.id)
    from steerco.engine.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        as_owner.update(mine, Submission("Yours", MultiDict({"related": str(secret.id)})), mine.version)
    assert refused.value.errors == {"related": "Choose one of the offered entries."}
    session.rollback()
    with pytest.raises(ValidationFailed):  # nor an id that exists nowhere
        as_owner.update(mine, Submission("Yours", MultiDict({"related": "999999"})), mine.version)


def _wrongly_typed(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    """A score stored as text under version 1 that version 2 declares a decimal, and a
    computed decimal reading it: ``max(score, score)`` gives "high", a text. (The bounded
    evaluator refuses repeating a text, so the expression passes the value through.)"""
    documents = minimal_documents()
    documents["fields"]["fields"].append({"key": "score", "label": "Score", "type": "text"})
    documents["levels"]["levels"][1]["sections"][0]["fields"].append("score")
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    service = records_for(tenant, admin)
    program = service.create("program", None, Submission("Program", MultiDict()))
    measure = service.create("measure", program, Submission("Press line", MultiDict({"score": "high"})))
    session.commit()
    documents["fields"]["fields"][-1]["type"] = "decimal"
    documents["fields"]["fields"].append({"key": "double", "label": "Double score", "type": "computed",
                                          "result_type": "decimal", "expression": "max(score, score)"})
    documents["levels"]["levels"][1]["sections"][0]["fields"].append("double")
    documents["levels"]["levels"][1]["list_columns"].append("double")
    tenants.store_config(session, documents)
    session.commit()
    return admin, program, measure


def test_a_computed_value_of_the_wrong_type_is_a_field_problem_in_every_channel(client, session, make_tenant, make_user, records_for, login):  # type: ignore[no-untyped-def]
    admin, program, measure = _wrongly_typed(session, make_tenant, make_user, records_for)
    login(admin.email)
    urls = {"page": f"/t/mini/r/{measure.id}", "form": f"/t/mini/r/{measure.id}/edit",
            "list": f"/t/mini/r/{program.id}/list/measure",
            "csv": f"/t/mini/r/{program.id}/list/measure/export.csv", "pdf": f"/t/mini/r/{measure.id}/pdf"}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        body = response.get_data(as_text=True) if name != "pdf" else \
            "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
        assert "cannot be computed" in " ".join(body.split()), name
    from steerco.engine import tokens
    from steerco.store.models import User

    _, token = tokens.create_token(session, session.get(User, admin.id), "script")
    session.commit()
    record = client.get(f"/api/t/mini/records/{measure.id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert record["values"]["double"] is None
    assert record["problems"]["double"].startswith("cannot be computed")
    assert record["problems"]["score"].startswith("cannot be shown")


def test_the_lookup_search_needs_the_forms_right_and_offers_only_readable_records(client, session, mini, make_user, records_for, login):  # type: ignore[no-untyped-def]
    tenant, admin, service, program = mini
    mine = service.create("measure", program, Submission("Mine", MultiDict()))
    service.create("measure", program, Submission("Someone else's", MultiDict()))
    owner = make_user(tenant, [("owner", None)])
    session.execute(Record.__table__.update().where(Record.id == mine.id).values(owner_id=owner.id))
    session.commit()
    login(owner.email)
    found = client.get(f"/t/mini/lookup/measure/related?record={mine.id}&_search=")
    assert found.status_code == 200
    assert "Mine" in found.get_data(as_text=True) and "Someone else" not in found.get_data(as_text=True)
    assert client.get(f"/t/mini/lookup/measure/related?parent={program.id}").status_code == 404  # unreadable parent
    assert client.get(f"/t/mini/lookup/measure/description?record={mine.id}").status_code == 404  # no lookup
    assert client.get(f"/t/mini/lookup/measure/_owner?record={mine.id}").status_code == 403  # no assign_owner
