"""List footers: totals of numeric columns count only what the reader sees.

A total over rows the reader cannot open, or over a value their roles or the field's own
``visible_if`` hide, would tell that value by subtraction. Journeys from the acme demo:
a viewer who also manages one program sees project budgets only there; a measure owner
sees only their own measures; a capex amount left on a measure without capex is hidden.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from steerco.demo import DEMO_PASSWORD, load_demo
from steerco.engine import tables, tenants
from steerco.engine.access import Access
from steerco.engine.records import Records
from steerco.fields.display import Display
from steerco.store.models import Record, RoleAssignment, Tenant, User


def _service(session, tenant: Tenant, email: str) -> Records:  # type: ignore[no-untyped-def]
    user = session.scalar(select(User).where(User.email == email))
    config = tenants.active_config(session, tenant)
    return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)))


def _login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/login", data={"email": email, "password": DEMO_PASSWORD}).status_code == 302


def _footer(body: str, key: str) -> str | None:
    found = re.search(rf'data-total="{key}">([^<]*)<', body)
    return found.group(1).strip() if found else None


def _money(records: Records, level_key: str, key: str, amount: float) -> str:
    fld = records.config.levels[level_key].field(key)
    assert fld is not None
    return fld.kind.display(fld, int(amount) if float(amount).is_integer() else amount, Display.of(records.config))


@pytest.fixture
def acme(session):  # type: ignore[no-untyped-def]
    load_demo(session)
    session.commit()
    return session.scalar(select(Tenant).where(Tenant.slug == "acme"))


def _budgets(session, tenant: Tenant, under: str | None = None) -> dict[int, float]:  # type: ignore[no-untyped-def]
    query = select(Record).where(Record.tenant_id == tenant.id, Record.level_key == "project",
                                 Record.deleted_at.is_(None))
    if under is not None:
        query = query.where(Record.path.startswith(under))
    return {r.id: float(r.values.get("budget") or 0) for r in session.scalars(query)}


def test_a_value_hidden_from_the_reader_is_not_in_the_total(acme, session, client) -> None:  # type: ignore[no-untyped-def]
    """The viewer's role hides budgets; as program manager of one program they see that
    program's budgets, and the footer adds those alone."""
    viewer = session.scalar(select(User).where(User.email == "viewer@acme.example"))
    program = session.scalar(select(Record).where(Record.tenant_id == acme.id, Record.level_key == "program")
                             .order_by(Record.id))
    session.add(RoleAssignment(tenant_id=acme.id, user_id=viewer.id, role_key="program_manager", node_id=program.id))
    session.commit()
    everywhere, inside = _budgets(session, acme), _budgets(session, acme, program.path)
    assert 0 < sum(inside.values()) < sum(everywhere.values()), "the demo has budgets outside the program"

    records = _service(session, acme, "viewer@acme.example")
    level = records.config.levels["project"]
    cols = tables.columns(records.config, records.access, level)
    total = dict(zip([c.key for c in cols], tables.totals(records, level, cols, records.conditions(level))))["budget"]
    assert total is not None
    assert total.text == _money(records, "project", "budget", sum(inside.values()))
    assert total.left_out == sum(1 for i, v in everywhere.items() if i not in inside and v)

    _login(client, "viewer@acme.example")
    body = client.get("/t/acme/list/project").get_data(as_text=True)
    assert _footer(body, "budget") == _money(records, "project", "budget", sum(inside.values()))
    assert _money(records, "project", "budget", sum(everywhere.values())) not in body


def test_rows_the_reader_cannot_open_are_not_in_the_total(acme, session, client) -> None:  # type: ignore[no-untyped-def]
    """The measure owner reads only their own measures: the potential total is theirs."""
    owner = session.scalar(select(User).where(User.email == "owner@acme.example"))
    measures = list(session.scalars(select(Record).where(Record.tenant_id == acme.id, Record.level_key == "measure",
                                                          Record.deleted_at.is_(None))))
    own = sum(float(m.values.get("potential") or 0) for m in measures if m.owner_id == owner.id)
    everyone = sum(float(m.values.get("potential") or 0) for m in measures)
    assert 0 < own < everyone
    records = _service(session, acme, "owner@acme.example")

    _login(client, "owner@acme.example")
    body = client.get("/t/acme/list/measure").get_data(as_text=True)
    assert _footer(body, "potential") == _money(records, "measure", "potential", own)
    # A search narrows the rows and the total with them.
    first = next(m for m in sorted(measures, key=lambda m: m.number) if m.owner_id == owner.id)
    body = client.get(f"/t/acme/list/measure?q={first.number}").get_data(as_text=True)
    assert _footer(body, "potential") == _money(records, "measure", "potential", float(first.values["potential"]))


def test_a_value_hidden_by_its_condition_is_not_in_the_total(acme, session) -> None:  # type: ignore[no-untyped-def]
    """``capex_amount`` shows only when ``has_capex``: an amount left behind on a measure
    without capex is not shown on its row, and not added to the footer either."""
    measures = list(session.scalars(select(Record).where(Record.tenant_id == acme.id, Record.level_key == "measure",
                                                          Record.deleted_at.is_(None)).order_by(Record.id)))
    left_behind = measures[0]
    left_behind.values = {**left_behind.values, "has_capex": False, "capex_amount": 987654}
    flag_modified(left_behind, "values")
    session.commit()
    shown = sum(float(m.values.get("capex_amount") or 0) for m in measures if m.values.get("has_capex"))

    records = _service(session, acme, "admin@acme.example")
    level = records.config.levels["measure"]
    cols = tables.columns(records.config, records.access, level, ["number", "title", "capex_amount"])
    total = tables.totals(records, level, cols, records.conditions(level))[2]
    assert total is not None and total.left_out == 1
    assert total.text == ("" if not shown else _money(records, "measure", "capex_amount", shown))
    row = tables.rows(records, level, cols, [left_behind])[0]
    assert row.cells[2].hidden
