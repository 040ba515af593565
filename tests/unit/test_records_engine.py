"""The record engine without Flask: create, update, field states, grids, lists, audit, access.

Every test talks to :class:`steerco.engine.records.Records` directly, with a plain
SQLAlchemy session and ``MultiDict`` forms, the way the web layer, the demo loader and a
future API all do.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from database import bypass_audit_trigger
from steerco.engine import audit, tenants
from steerco.engine.errors import Forbidden, NotFound, StaleRecord, ValidationFailed
from steerco.engine.records import Records, Submission
from steerco.store import scoping
from steerco.store.models import AuditEvent, PeriodValue, Record, RoleAssignment


def _form(**values) -> MultiDict:  # type: ignore[no-untyped-def]
    form = MultiDict()
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            form.add(key, item)
    return form


def _grid_form(**values) -> MultiDict:  # type: ignore[no-untyped-def]
    """Like _form, but ``financials__plan__2026_01`` becomes ``financials.plan.2026-01``."""
    form = MultiDict()
    for key, value in values.items():
        if "__" in key:
            field, scenario, period = key.split("__")
            key = f"{field}.{scenario}.{period.replace('_', '-')}"
        form.add(key, value)
    return form


def _with_tasks():  # type: ignore[no-untyped-def]
    documents = minimal_documents()
    documents["levels"]["levels"].append({
        "key": "task", "label": "Task", "label_plural": "Tasks", "parents": ["measure"],
        "numbering": {"prefix": "T", "digits": 2},
        "sections": [{"key": "main", "label": "Main", "fields": ["due"]}]})
    return documents


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    """The mini tenant, its admin, the admin's Records service and one program."""
    tenant = make_tenant()
    admin = make_user(tenant, [("admin", None)])
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    return tenant, admin, records, program


def _measure(records: Records, parent: Record, title: str = "Renegotiate steel", **values) -> Record:  # type: ignore[no-untyped-def]
    return records.create("measure", parent, Submission(title, _grid_form(**values)))


def _events(session: Session, tenant_id: int, **filters) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEvent).filter_by(tenant_id=tenant_id, **filters)
                                .order_by(AuditEvent.id)))


# -- creating ------------------------------------------------------------------------

def test_create_at_the_root_and_under_a_parent(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    assert program.parent_id is None and program.depth == 0
    assert program.path == f"/{program.id}/"
    assert program.number == "PG-0001" and program.stage_key is None and program.owner_id == admin.id
    first = _measure(records, program, "First")
    second = _measure(records, program, "Second")
    session.commit()
    assert (first.number, second.number) == ("M-001", "M-002")
    assert first.path == f"/{program.id}/{first.id}/" and second.path == f"/{program.id}/{second.id}/"
    assert first.depth == 1 and first.parent_id == program.id
    assert first.stage_key == "defined"  # the workflow's initial stage
    assert first.ancestor_ids == [program.id]
    assert first.version == 1
    created = _events(session, tenant.id, kind="record.created")
    assert [e.record_id for e in created] == [program.id, first.id, second.id]
    assert created[1].data["number"] == "M-001" and created[1].user_id == admin.id


def test_level_placement_is_enforced(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program)
    session.commit()
    with pytest.raises(Forbidden):
        records.create("measure", None, Submission("Orphan", MultiDict()))
    with pytest.raises(Forbidden):
        records.create("program", measure, Submission("Program under a measure", MultiDict()))
    with pytest.raises(Forbidden):
        records.create("program", program, Submission("Program under a program", MultiDict()))
    with pytest.raises(Forbidden):
        records.create("measure", measure, Submission("Measure under a measure", MultiDict()))
    with pytest.raises(NotFound):
        records.create("no_such_level", program, Submission("?", MultiDict()))
    session.rollback()
    assert session.query(Record).count() == 2


def test_a_role_without_create_may_not_create(session, world, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    owner = make_user(tenant, [("owner", None)])
    with pytest.raises(Forbidden):
        records_for(tenant, owner).create("measure", program, Submission("Mine", MultiDict()))


def test_create_refuses_bad_input_with_a_message_per_field_and_stores_nothing(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    with pytest.raises(ValidationFailed) as failed:
        _measure(records, program, "", potential="lots", category="forged", due="yesterday",
                 description="x" * 501)
    errors = failed.value.errors
    assert errors["title"] == "Required."
    assert errors["potential"].startswith("Enter a number")
    assert errors["category"] == "Choose one of the offered options."
    assert errors["due"].startswith("Enter a date")
    assert errors["description"] == "At most 500 characters."
    assert failed.value.submitted["potential"] == "lots"  # what was typed comes back
    session.rollback()
    assert session.query(Record).filter_by(level_key="measure").count() == 0


# -- updating ------------------------------------------------------------------------

def test_update_bumps_the_version_and_audits_old_and_new_values(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, potential="120000", category="procurement")
    session.commit()
    assert measure.version == 1 and measure.values["weighted"] == 60000
    before = len(_events(session, tenant.id))
    records.update(measure, Submission("Renegotiate coil", _form(potential="150000", category="personnel")), 1)
    session.commit()
    session.expire_all()
    stored = session.get(Record, measure.id)
    assert stored.version == 2
    assert stored.title == "Renegotiate coil"
    assert stored.values["potential"] == 150000 and stored.values["category"] == "personnel"
    assert stored.updated_by_id == admin.id
    events = _events(session, tenant.id)
    assert len(events) == before + 1
    updated = _events(session, tenant.id, kind="record.updated", record_id=measure.id)
    assert len(updated) == 1
    changes = updated[0].data["changes"]
    assert changes["potential"] == [120000, 150000]
    assert changes["category"] == ["procurement", "personnel"]
    assert changes["title"] == ["Renegotiate steel", "Renegotiate coil"]
    assert changes["weighted"] == [60000, 75000]
    assert updated[0].user_id == admin.id


def test_saving_without_a_change_writes_no_version_and_no_event(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, potential="100")
    session.commit()
    before = len(_events(session, tenant.id))
    records.update(measure, Submission("Renegotiate steel", _form(potential="100")), 1)
    session.commit()
    session.expire_all()
    assert session.get(Record, measure.id).version == 1
    assert len(_events(session, tenant.id)) == before


def test_stale_expected_version_changes_nothing(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, potential="100")
    session.commit()
    records.update(measure, Submission("Second title", _form(potential="200")), 1)
    session.commit()
    events = len(_events(session, tenant.id))
    with pytest.raises(StaleRecord) as stale:
        records.update(measure, Submission("Stale title", _form(potential="999")), 1)
    assert stale.value.current_version == 2
    assert stale.value.submitted.get("title") == "Stale title"
    session.rollback()
    session.expire_all()
    stored = session.get(Record, measure.id)
    assert (stored.title, stored.values["potential"], stored.version) == ("Second title", 200, 2)
    assert len(_events(session, tenant.id)) == events


def test_concurrent_save_in_another_session_is_detected(session, db_engine, world, records_for):  # type: ignore[no-untyped-def]
    """Both opened version 1; the other one saved first. The ORM's version check catches
    the second save even though the form's version looked current to its session."""
    tenant, admin, records, program = world
    measure = _measure(records, program, potential="100")
    session.commit()
    mine = session.get(Record, measure.id)
    assert mine.version == 1
    with Session(db_engine, expire_on_commit=False) as theirs:
        scoping.bind_to_tenant(theirs, tenant.id)  # as a request would
        config = tenants.active_config(theirs, tenant)
        from steerco.engine.access import Access

        other = Records(theirs, tenant.id, config, Access(config, tenants.actor_for(theirs, tenant, admin)))
        record = other.get(measure.id)
        other.update(record, Submission("Their title", _form(potential="300")), 1)
        theirs.commit()
    with pytest.raises(StaleRecord):
        records.update(mine, Submission("My title", _form(potential="400")), 1)
    session.rollback()
    session.expire_all()
    stored = session.get(Record, measure.id)
    assert (stored.title, stored.values["potential"], stored.version) == ("Their title", 300, 2)


# -- field states: conditions and computed fields --------------------------------------

def test_a_field_hidden_by_its_condition_is_not_required_and_its_post_is_ignored(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    # visible (has_capex) and required: missing is an error
    with pytest.raises(ValidationFailed) as failed:
        _measure(records, program, has_capex="1")
    assert failed.value.errors == {"capex_amount": "Required."}
    session.rollback()
    # hidden: not required, and a value posted anyway is not stored
    hidden = _measure(records, program, "Hidden", has_capex="0", capex_amount="777")
    assert hidden.values["has_capex"] is False and "capex_amount" not in hidden.values
    shown = _measure(records, program, "Shown", has_capex="1", capex_amount="5000")
    session.commit()
    assert shown.values["capex_amount"] == 5000
    # hiding it again: the posted value is ignored and the stored value is kept
    records.update(shown, Submission("Shown", _form(has_capex=["0"], capex_amount="9999")), shown.version)
    session.commit()
    session.expire_all()
    stored = session.get(Record, shown.id)
    assert stored.values["has_capex"] is False
    assert stored.values["capex_amount"] == 5000
    changes = _events(session, tenant.id, kind="record.updated", record_id=shown.id)[0].data["changes"]
    assert "capex_amount" not in changes and changes["has_capex"] == [True, False]


def test_computed_field_is_recomputed_on_save_and_never_taken_from_the_post(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, potential="1000", weighted="123456789")
    session.commit()
    assert measure.values["weighted"] == 500
    records.update(measure, Submission(measure.title, _form(potential="3000", weighted="1")), measure.version)
    session.commit()
    session.expire_all()
    assert session.get(Record, measure.id).values["weighted"] == 1500
    records.update(measure, Submission(measure.title, _form(potential="", weighted="42")), measure.version)
    session.commit()
    session.expire_all()
    stored = session.get(Record, measure.id)
    assert stored.values.get("potential") is None
    assert stored.values["weighted"] == 0


# -- the time-phased money grid ---------------------------------------------------------

def _grid(session: Session, record: Record) -> dict[tuple[str, str], float]:
    session.expire_all()
    return {(r.scenario, r.period): float(r.amount) for r in session.scalars(
        select(PeriodValue).where(PeriodValue.record_id == record.id))}


def test_money_grid_is_stored_changed_and_cleared(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, financials__plan__2026_01="1000", financials__actual__2026_02="250.50")
    session.commit()
    assert _grid(session, measure) == {("plan", "2026-01"): 1000.0, ("actual", "2026-02"): 250.5}
    assert "financials" not in (measure.values or {})  # grids live in period_value, not in JSON
    records.update(measure, Submission(measure.title, _grid_form(
        financials__plan__2026_01="1500", financials__actual__2026_02="", financials__plan__2026_03="42")),
        measure.version)
    session.commit()
    assert _grid(session, measure) == {("plan", "2026-01"): 1500.0, ("plan", "2026-03"): 42.0}
    assert session.get(Record, measure.id).version == 2
    changes = _events(session, tenant.id, kind="record.updated", record_id=measure.id)[0].data["changes"]
    assert changes["financials.plan.2026-01"] == [1000.0, 1500.0]
    assert changes["financials.actual.2026-02"] == [250.5, None]
    assert changes["financials.plan.2026-03"] == [None, 42.0]
    stored = records.stored_values(session.get(Record, measure.id), records.config.levels["measure"])
    assert stored["financials"] == {"plan": {"2026-01": 1500.0, "2026-03": 42.0}}
    # clearing everything removes every row
    records.update(measure, Submission(measure.title, _grid_form(
        financials__plan__2026_01="", financials__plan__2026_03="")), 2)
    session.commit()
    assert _grid(session, measure) == {}


def test_money_grid_refuses_bad_amounts_and_keeps_the_stored_ones(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, financials__plan__2026_01="1000")
    session.commit()
    with pytest.raises(ValidationFailed) as failed:
        records.update(measure, Submission(measure.title, _grid_form(
            financials__plan__2026_01="ten", financials__actual__2026_02="1.005")), 1)
    assert "not a number" in failed.value.errors["financials"]
    assert "at most two decimals" in failed.value.errors["financials"]
    session.rollback()
    with pytest.raises(ValidationFailed) as unknown:
        records.update(measure, Submission(measure.title, _grid_form(financials__forecast__2026_01="5")), 1)
    assert "Unknown scenario" in unknown.value.errors["financials"]
    session.rollback()
    assert _grid(session, measure) == {("plan", "2026-01"): 1000.0}


def test_money_grid_amount_for_a_period_outside_the_reporting_range_is_an_error(session, world):  # type: ignore[no-untyped-def]
    """An unknown period is refused like an unknown scenario, never dropped without a word."""
    tenant, admin, records, program = world
    measure = _measure(records, program, financials__plan__2026_01="1000")
    session.commit()
    with pytest.raises(ValidationFailed) as failed:
        records.update(measure, Submission(measure.title, _grid_form(financials__plan__2031_07="5000")), 1)
    assert "2031-07" in failed.value.errors["financials"]
    session.rollback()
    assert _grid(session, measure) == {("plan", "2026-01"): 1000.0}
    assert session.get(Record, measure.id).version == 1


# -- lists and breadcrumbs -------------------------------------------------------------

def test_children_sort_by_a_json_field_and_page(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    potentials = [(i * 7) % 30 * 1000 + 500 for i in range(30)]  # all different, not in creation order
    created = [_measure(records, program, f"Measure {i:02d}", potential=str(p)) for i, p in enumerate(potentials)]
    session.commit()
    by_potential = [r.id for r in sorted(created, key=lambda r: r.values["potential"])]

    def walk(descending: bool) -> list[int]:
        ids = []
        for number in (1, 2, 3):
            page = records.children(program, "measure", sort="potential", descending=descending,
                                    page=number, per_page=10)
            assert (page.total, page.pages, page.page, page.per_page) == (30, 3, number, 10)
            assert len(page.items) == 10
            ids += [r.id for r in page.items]
        return ids

    assert walk(False) == by_potential
    assert walk(True) == list(reversed(by_potential))
    # a page beyond the end shows the last one; a sort key that is no list column falls back to number
    assert records.children(program, "measure", per_page=10, page=99).page == 3
    fallback = records.children(program, "measure", sort="description", per_page=30)
    assert [r.number for r in fallback.items] == [f"M-{n:03d}" for n in range(1, 31)]
    assert [r.number for r in records.children(program, "measure", sort="number", descending=True,
                                               per_page=3).items] == ["M-030", "M-029", "M-028"]
    # the top level, and per_page is bounded
    assert [r.id for r in records.children(None, "program").items] == [program.id]
    assert records.children(program, "measure", per_page=0).per_page == 1


def test_children_do_not_list_soft_deleted_records(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    keep, gone = _measure(records, program, "Keep"), _measure(records, program, "Gone")
    session.commit()
    session.execute(update(Record).where(Record.id == gone.id).values(deleted_at=Record.created_at))
    session.commit()
    assert [r.id for r in records.children(program, "measure").items] == [keep.id]
    with pytest.raises(NotFound):
        records.get(gone.id)


def test_breadcrumbs_are_the_ancestors_from_the_top_down(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(_with_tasks())
    admin = make_user(tenant)
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Program", MultiDict()))
    measure = _measure(records, program, "Measure")
    task = records.create("task", measure, Submission("Task", _form(due="2026-03-01")))
    session.commit()
    assert task.path == f"/{program.id}/{measure.id}/{task.id}/" and task.depth == 2
    assert task.number == "T-01"
    assert [r.id for r in records.breadcrumbs(task)] == [program.id, measure.id]
    assert [r.id for r in records.breadcrumbs(measure)] == [program.id]
    assert records.breadcrumbs(program) == []


# -- the audit chain -----------------------------------------------------------------

def test_audit_chain_detects_an_edited_event(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    measure = _measure(records, program, potential="100")
    records.update(measure, Submission("New title", _form(potential="200")), 1)
    _measure(records, program, "Another")
    session.commit()
    events = _events(session, tenant.id)
    assert len(events) >= 4
    assert audit.first_broken(events) is None
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:]))
    target = next(e for e in events if e.kind == "record.updated")
    tampered = {**target.data, "changes": {"potential": [100, 100000]}}
    bypass_audit_trigger(session)  # on PostgreSQL the table is insert-only for the application
    session.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == target.id)
                    .values(data=tampered))
    session.commit()
    session.expire_all()
    broken = audit.first_broken(_events(session, tenant.id))
    assert broken is not None and broken.id == target.id


def test_audit_chain_detects_a_deleted_event(session, world):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    for n in range(3):
        _measure(records, program, f"M{n}")
    session.commit()
    events = _events(session, tenant.id)
    victim, successor = events[2], events[3]
    bypass_audit_trigger(session)
    session.execute(delete(AuditEvent).where(AuditEvent.id == victim.id))
    session.commit()
    session.expire_all()
    broken = audit.first_broken(_events(session, tenant.id))
    assert broken is not None and broken.id == successor.id


def test_audit_chains_are_per_tenant(session, world, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    documents = minimal_documents()
    documents["tenant"]["key"] = "other"
    other = make_tenant(documents)
    other_admin = make_user(other)
    records_for(other, other_admin).create("program", None, Submission("Elsewhere", MultiDict()))
    _measure(records, program, "Interleaved")
    session.commit()
    for t in (tenant, other):
        events = _events(session, t.id)
        assert events[0].prev_hash == ""
        assert audit.first_broken(events) is None


# -- access: the per-record decision and the SQL read filter agree -------------------------

def _set_owner(session: Session, record: Record, user_id: int) -> None:
    session.execute(update(Record).where(Record.id == record.id).values(owner_id=user_id))
    session.commit()
    session.expire_all()


def _every_listing(records: Records, admin_records: Records) -> set[int]:
    """Everything the service lists, walking the tree with parents the admin can see."""
    listed: set[int] = set()
    for program in admin_records.children(None, "program", per_page=200).items:
        listed |= {r.id for r in records.children(program, "measure", per_page=200).items}
    listed |= {r.id for r in records.children(None, "program", per_page=200).items}
    return listed


def test_owner_scope_reads_only_own_measures_and_the_list_agrees(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    admin = make_user(tenant)
    admin_records = records_for(tenant, admin)
    north = admin_records.create("program", None, Submission("North", MultiDict()))
    south = admin_records.create("program", None, Submission("South", MultiDict()))
    measures = [_measure(admin_records, parent, f"{parent.title} {n}") for parent in (north, south) for n in range(3)]
    session.commit()
    owner = make_user(tenant, [("owner", None)])  # own measures anywhere
    scoped = make_user(tenant, [("owner", north.id)])  # own measures under North only
    for record in (measures[0], measures[1], measures[3]):
        _set_owner(session, record, owner.id)
    for record in (measures[2], measures[4]):
        _set_owner(session, record, scoped.id)

    owner_records = records_for(tenant, owner)
    assert owner_records.get(measures[0].id).id == measures[0].id
    with pytest.raises(NotFound):
        owner_records.get(measures[2].id)  # someone else's
    with pytest.raises(NotFound):
        owner_records.get(north.id)  # programs are not readable for the role at all
    assert owner_records.breadcrumbs(owner_records.get(measures[0].id)) == []
    # may update own measures, but not the others
    owner_records.update(owner_records.get(measures[1].id), Submission("Owner edit", _form(potential="5")), None)
    session.commit()

    expected_visible = {
        owner.id: {measures[0].id, measures[1].id, measures[3].id},
        scoped.id: {measures[2].id},  # measures[4] is the scoped user's but under South
        admin.id: {r.id for r in measures} | {north.id, south.id},
    }
    everything = list(session.scalars(select(Record).where(Record.tenant_id == tenant.id)))
    for user in (owner, scoped, admin):
        service = records_for(tenant, user)
        listed = _every_listing(service, admin_records)
        decided = {r.id for r in everything if service.access.can("read", r.level_key, r)}
        assert listed == decided, user.email
        assert decided == expected_visible[user.id], user.email
        for r in everything:
            if r.id in decided:
                assert service.get(r.id).id == r.id
            else:
                with pytest.raises(NotFound):
                    service.get(r.id)


def test_records_of_another_tenant_are_not_found(session, world, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    documents = minimal_documents()
    documents["tenant"]["key"] = "other"
    other = make_tenant(documents)
    foreign = records_for(other, make_user(other)).create("program", None, Submission("Foreign", MultiDict()))
    session.commit()
    with pytest.raises(NotFound):
        records.get(foreign.id)
    assert records.children(None, "program").total == 1
    with pytest.raises(NotFound):
        records.attachment(10_000_000)


def test_a_role_at_a_node_of_another_tenant_grants_nothing(session, world, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant, admin, records, program = world
    _measure(records, program)
    documents = minimal_documents()
    documents["tenant"]["key"] = "other"
    other = make_tenant(documents)
    foreign_node = records_for(other, make_user(other)).create("program", None, Submission("Foreign", MultiDict()))
    session.commit()
    # add_member refuses a node of another workspace ...
    newcomer = make_user(None)
    with pytest.raises(NotFound):
        tenants.add_member(session, tenant, newcomer, [("admin", foreign_node.id)])
    session.rollback()
    # ... and an assignment that got stored anyway (older data, a direct insert) is no tenant-wide grant
    intruder = make_user(tenant, [])
    session.add(RoleAssignment(tenant_id=tenant.id, user_id=intruder.id, role_key="admin", node_id=foreign_node.id))
    session.commit()
    service = records_for(tenant, intruder)
    assert service.access.actor.grants == ()
    assert service.children(None, "program").total == 0
    with pytest.raises(NotFound):
        service.get(program.id)


@pytest.mark.parametrize("explicit", [False, True], ids=["default-prefix", "explicit-prefix"])
def test_levels_with_the_same_number_prefix_are_refused(session, explicit):  # type: ignore[no-untyped-def]
    """Numbers are unique per tenant, so two levels sharing a prefix would collide on their
    first records; the configuration is refused instead ('program' and 'project' both
    default to 'PRO')."""
    from steerco.config import ConfigInvalid

    documents = minimal_documents()
    levels = documents["levels"]["levels"]
    levels[0].pop("numbering")
    levels[1]["parents"] = ["project"]
    project = {"key": "project", "label": "Project", "label_plural": "Projects", "parents": ["program"],
               "sections": [{"key": "main", "label": "Main", "fields": ["due"]}]}
    if explicit:
        levels[0]["numbering"] = {"prefix": "X"}
        project["numbering"] = {"prefix": "X"}
    levels.insert(1, project)
    with pytest.raises(ConfigInvalid) as invalid:
        tenants.store_config(session, documents)
    session.rollback()
    problems = [p for p in invalid.value.problems if p.code == "duplicate_prefix"]
    assert problems and problems[0].file == "levels.json" and problems[0].pointer.startswith("/levels/1")
    assert session.query(Record).count() == 0
