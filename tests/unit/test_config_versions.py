"""Configuration versions as an administrator uses them: a draft, its problems, its diff
and its impact on the data, activation with a comment, and rollback; and the promise that
no data is lost by a configuration change while a field's values stay with its definition.

Engine only (no Flask), on the real database, through the real configuration compiler.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from configs import minimal_documents
from steerco.engine import config_versions, history, tenants
from steerco.engine.config_versions import DraftInvalid, StaleDraft
from steerco.engine.errors import Conflict, ValidationFailed
from steerco.engine.records import Submission
from steerco.fields import Upload
from steerco.store.models import Attachment, AuditEvent, ConfigVersion, PeriodValue, Record, Tenant


def _without_field(documents: dict[str, Any], key: str) -> dict[str, Any]:
    """The documents with field ``key`` removed everywhere it is named."""
    docs = copy.deepcopy(documents)
    docs["fields"]["fields"] = [f for f in docs["fields"]["fields"] if f["key"] != key]
    for level in docs["levels"]["levels"]:
        for section in level["sections"]:
            section["fields"] = [k for k in section["fields"] if k != key]
        if "list_columns" in level:
            level["list_columns"] = [c for c in level["list_columns"] if c != key]
    for workflow in docs.get("workflows", {}).get("workflows", []):
        for transition in workflow["transitions"]:
            for name in ("required_fields", "required_evidence"):
                if name in transition:
                    transition[name] = [k for k in transition[name] if k != key]
    return docs


def _with_secret(documents: dict[str, Any], *, label: str = "Secret note", only_admin: bool = True) -> dict[str, Any]:
    """The documents plus a text field "secret" on measures (readable by admins only, or by all)."""
    docs = copy.deepcopy(documents)
    field: dict[str, Any] = {"key": "secret", "label": label, "type": "text"}
    if only_admin:
        field.update(read_roles=["admin"], write_roles=["admin"])
    docs["fields"]["fields"].append(field)
    docs["levels"]["levels"][1]["sections"][0]["fields"].append("secret")
    return docs


def _editor(documents: dict[str, Any]) -> dict[str, Any]:
    docs = copy.deepcopy(documents)
    docs["roles"]["roles"].append({"key": "editor", "label": "Editor", "permissions": [
        {"levels": ["*"], "actions": ["read", "update"], "scope": "tenant"}]})
    return docs


@pytest.fixture
def mini(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    """The mini tenant with an admin, an editor, a program and a measure holding values."""
    documents = _editor(minimal_documents())
    tenant = make_tenant(documents)
    admin = make_user(tenant, [("admin", None)])
    editor = make_user(tenant, [("editor", None)])
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Cost program", MultiDict()))
    measure = records.create("measure", program, Submission("Steel", MultiDict({
        "description": "Cheaper coil", "potential": "424242", "category": "procurement",
        "financials.plan.2026-01": "1000"}), {"evidence": [Upload("case.txt", "text/plain", b"the case")]}))
    session.commit()
    return documents, tenant, admin, editor, measure


def _activate(session, tenant, documents, user, **kwargs):  # type: ignore[no-untyped-def]
    draft = config_versions.create_draft(session, tenant, documents=documents, user_id=user.id,
                                         restore=kwargs.pop("restore", ()))
    activation = config_versions.activate(session, tenant, draft, user_id=user.id,
                                          comment=kwargs.pop("comment", "a change"), **kwargs)
    session.commit()
    return activation


def _values(session, records_for, tenant, user, measure):  # type: ignore[no-untyped-def]
    """What ``user`` is shown of the measure: the values of the fields they may see."""
    session.expire_all()
    records = records_for(tenant, user)
    record = records.get(measure.id)
    level = records.config.levels["measure"]
    stored = records.stored_values(record, level)
    return {f.key: stored.get(f.key) for f in level.fields
            if records.access.field_mode(f, record, level.key) != "hidden" and f.key in stored}


def _states(session, tenant) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(v.number, v.state) for v in config_versions.versions(session, tenant)]


# -- drafts, problems, activation -------------------------------------------------------

def test_a_draft_is_activated_with_a_comment_and_the_versions_keep_their_states(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, _ = mini
    draft = config_versions.create_draft(session, tenant, user_id=admin.id)
    assert _states(session, tenant) == [(2, "draft"), (1, "active")]
    assert tenants.active_config(session, tenant).version == 1  # a draft changes nothing
    changed = copy.deepcopy(documents)
    changed["fields"]["fields"][0]["label"] = "Summary"
    assert config_versions.save_document(session, tenant, draft, "fields", changed["fields"], user_id=admin.id) == []
    with pytest.raises(ValidationFailed) as refused:
        config_versions.activate(session, tenant, draft, user_id=admin.id, comment="  ")
    assert "comment" in refused.value.errors
    activation = config_versions.activate(session, tenant, draft, user_id=admin.id, comment="Shorter label")
    session.commit()
    assert _states(session, tenant) == [(2, "active"), (1, "superseded")]
    summary = config_versions.versions(session, tenant)[0]
    assert (summary.comment, summary.author, summary.activated_by) == ("Shorter label", admin.name, admin.name)
    assert summary.activated_at is not None and summary.base_number == 1
    assert tenants.active_config(session, tenant).fields["description"].label == "Summary"
    assert [c.text for c in activation.changes] == [
        "Field *Description* renamed to *Summary* (same key 'description': its values stay)"]
    with pytest.raises(Conflict):
        config_versions.save_document(session, tenant, draft, "fields", documents["fields"])  # fixed now


def test_an_invalid_draft_cannot_be_activated_and_each_problem_names_its_place(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, _ = mini
    broken = copy.deepcopy(documents)
    fields = broken["fields"]["fields"]
    fields[3]["visible_if"] = "has_capexx"  # a typo in an expression
    fields[0]["max_length"] = "500"  # a string where a number belongs
    broken["tenant"]["key"] = "other"  # another workspace's address
    draft = config_versions.create_draft(session, tenant, documents=broken, user_id=admin.id)
    session.commit()  # a draft may be kept with problems
    problems = config_versions.problems(tenant, draft)
    places = {(p.file, p.pointer) for p in problems}
    assert ("fields.json", "/fields/0/max_length") in places
    assert ("tenant.json", "/key") in places
    with pytest.raises(DraftInvalid) as refused:
        config_versions.activate(session, tenant, draft, user_id=admin.id, comment="try")
    assert {(p.file, p.pointer) for p in refused.value.problems} == places
    session.rollback()
    # Fixing the two schema problems leaves the semantic one, at its own place.
    broken["fields"]["fields"][0]["max_length"] = 500
    broken["tenant"]["key"] = "mini"
    draft = session.get(ConfigVersion, draft.id)
    config_versions.save_document(session, tenant, draft, "tenant", broken["tenant"])
    remaining = config_versions.save_document(session, tenant, draft, "fields", broken["fields"])
    assert [(p.file, p.pointer, p.code) for p in remaining] == [
        ("fields.json", "/fields/3/visible_if", "unknown_name")]
    assert session.get(Tenant, tenant.id).active_config_id == session.scalar(
        select(ConfigVersion.id).where(ConfigVersion.tenant_id == tenant.id, ConfigVersion.number == 1))


def test_a_draft_whose_base_is_no_longer_active_is_refused_until_rebased(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, _ = mini
    mine = config_versions.create_draft(session, tenant, user_id=admin.id)
    theirs = config_versions.create_draft(session, tenant, user_id=admin.id)
    session.commit()
    config_versions.activate(session, tenant, theirs, user_id=admin.id, comment="First")
    session.commit()
    with pytest.raises(StaleDraft) as refused:
        config_versions.activate(session, tenant, mine, user_id=admin.id, comment="Second")
    assert f"Version {theirs.number} was activated by {admin.name}" in refused.value.message
    assert "rebase" in refused.value.message
    session.rollback()
    config_versions.rebase(session, tenant, session.get(ConfigVersion, mine.id), user_id=admin.id)
    config_versions.activate(session, tenant, session.get(ConfigVersion, mine.id), user_id=admin.id, comment="Second")
    session.commit()
    assert _states(session, tenant) == [(3, "superseded"), (2, "active"), (1, "superseded")]


def test_activation_and_rollback_are_audit_events_with_the_diff(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, _ = mini
    _activate(session, tenant, _with_secret(documents), admin, comment="A secret note")
    first = session.scalar(select(ConfigVersion).where(ConfigVersion.tenant_id == tenant.id, ConfigVersion.number == 1))
    config_versions.rollback(session, tenant, first, user_id=admin.id, comment="Back to the start")
    session.commit()
    events = {e.kind: e for e in session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id))}
    activated, rolled = events["config.activated"], events["config.rolled_back"]
    assert activated.data["comment"] == "A secret note" and activated.data["version"] == 2
    assert {"kind": "field.added", "path": "fields.json:/fields/9", "text": "Field *Secret note* added to *Measure*"} \
        in activated.data["changes"]
    assert rolled.data["rolled_back_to"] == 1 and rolled.data["version"] == 3
    assert any(c["kind"] == "field.removed" for c in rolled.data["changes"])
    assert tenants.active_config(session, session.get(Tenant, tenant.id)).fields.get("secret") is None
    current = session.get(ConfigVersion, session.get(Tenant, tenant.id).active_config_id)
    with pytest.raises(Conflict):  # the active version is no rollback target
        config_versions.rollback(session, tenant, current, user_id=admin.id, comment="again")


# -- the diff -------------------------------------------------------------------------

def test_the_diff_reads_like_the_changes_an_admin_made(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, _ = mini
    new = _with_secret(documents, label="Capex justification", only_admin=False)
    workflow = new["workflows"]["workflows"][0]
    workflow["stages"].append({"key": "validated", "label": "Validated", "order": 4})
    workflow["transitions"].append({"key": "validate", "label": "Validate", "from": ["closed"], "to": "validated",
                                    "roles": ["admin"]})
    workflow["transitions"][0]["roles"] = ["admin", "editor"]
    new["roles"]["roles"][2]["permissions"][0]["actions"].append("transition")  # to request it
    workflow["transitions"][0]["approvals"] = [{"key": "cfo", "label": "CFO approval", "role": "admin",
                                                "threshold": "potential > 250000"}]
    # not "potential": the CFO threshold reads it, and a requester may not be blind to it
    new["roles"]["roles"][2]["fields"] = {"description": "hidden"}
    new["fields"]["fields"][4]["options"].append({"key": "energy", "label": "Energy"})
    draft = config_versions.create_draft(session, tenant, documents=new, user_id=admin.id)
    texts = [c.text for c in config_versions.changes_of(session, tenant, draft)]
    assert texts == [
        "Field *Capex justification* added to *Measure*",
        "Field *Category*: option *Energy* added",
        "Role *Editor* may now transition every level (everywhere)",
        "Role *Editor*: field *Description* as the field says -> hidden",
        "Stage *Validated* added to Workflow *Gates*",
        "Transition *Validate* added (Closed -> Validated)",
        "Transition *Decide*: roles Administrator -> Administrator, Editor",
        "Step *CFO approval* (Administrator) added to Transition *Decide* when “potential > 250000”",
    ]
    config_versions.activate(session, tenant, draft, user_id=admin.id, comment="CFO step")
    session.commit()
    raised = copy.deepcopy(new)
    raised["workflows"]["workflows"][0]["transitions"][0]["approvals"][0]["threshold"] = "potential > 500000"
    raised["workflows"]["workflows"][0]["stages"].pop()
    raised["workflows"]["workflows"][0]["transitions"].pop()
    second = config_versions.create_draft(session, tenant, documents=raised, user_id=admin.id)
    changes = config_versions.changes_of(session, tenant, second)
    assert [(c.kind, c.path, c.text) for c in changes] == [
        ("stage.removed", "workflows.json:/workflows/0/stages/3", "Stage *Validated* removed from Workflow *Gates*"),
        ("transition.removed", "workflows.json:/workflows/0/transitions/2",
         "Transition *Validate* removed from Workflow *Gates*"),
        ("step.changed", "workflows.json:/workflows/0/transitions/0/approvals/0",
         "Step *CFO approval*: threshold 250,000 -> 500,000"),
    ]


# -- the impact on the data ------------------------------------------------------------

def test_the_impact_counts_records_and_people_a_draft_would_affect(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, editor, measure = mini
    records = records_for(tenant, admin)
    program = records.get(measure.parent_id)
    empty = records.create("measure", program, Submission("Aluminium", MultiDict({"category": "personnel"})))
    empty.stage_key = "decided"
    session.commit()
    new = copy.deepcopy(documents)
    new["fields"]["fields"][0]["required"] = True  # description, now always required
    new["fields"]["fields"][4]["options"].pop()  # "personnel" goes
    new["workflows"]["workflows"][0]["stages"] = [s for s in new["workflows"]["workflows"][0]["stages"]
                                                  if s["key"] != "defined"]
    new["workflows"]["workflows"][0]["initial_stage"] = "decided"
    new["workflows"]["workflows"][0]["transitions"] = [t for t in new["workflows"]["workflows"][0]["transitions"]
                                                       if t["key"] != "decide"]
    new["roles"]["roles"] = [r for r in new["roles"]["roles"] if r["key"] != "editor"]
    draft = config_versions.create_draft(session, tenant, documents=new, user_id=admin.id)
    found = config_versions.impact_of(session, tenant, draft)
    items = {item.kind: item for item in found}
    required = [item.text for item in found if item.kind == "required_missing"]
    assert required == ["1 Program would miss *Description*, now required (no stage: 1)",
                        "1 Measure would miss *Description*, now required (Decided: 1)"]
    missing = next(item for item in found if item.kind == "required_missing" and "Measure" in item.text)
    assert [r.number for r in missing.records] == [empty.number]
    assert items["stage_removed"].count == 1 and "stage 'defined'" in items["stage_removed"].text
    assert [r.number for r in items["stage_removed"].records] == [measure.number]
    assert items["option_removed"].count == 1 and items["option_removed"].records[0].number == empty.number
    assert items["role_removed"].count == 1 and "Role *Editor*" in items["role_removed"].text


def test_the_impact_names_who_loses_a_field_or_a_permission(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, editor, measure = mini
    new = copy.deepcopy(documents)
    editor_role = new["roles"]["roles"][2]
    editor_role["fields"] = {"potential": "hidden"}
    editor_role["permissions"] = [{"levels": ["*"], "actions": ["read"], "scope": "tenant"}]
    draft = config_versions.create_draft(session, tenant, documents=new, user_id=admin.id)
    texts = [item.text for item in config_versions.impact_of(session, tenant, draft)]
    assert "Role *Editor* loses update (tenant -> nowhere) on *Programs*: 1 user(s), 1 record(s)" in texts
    assert "Role *Editor* loses update (tenant -> nowhere) on *Measures*: 1 user(s), 1 record(s)" in texts
    assert "Role *Editor*: *Potential* on *Measures* read -> hidden: 1 user(s), 1 record(s)" in texts


# -- no data lost; a field's values belong to its definition ----------------------------------

def test_a_renamed_field_keeps_its_values(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, measure = mini
    renamed = copy.deepcopy(documents)
    renamed["fields"]["fields"][1]["label"] = "Savings potential"
    _activate(session, tenant, renamed, admin)
    config = tenants.active_config(session, session.get(Tenant, tenant.id))
    assert config.fields["potential"].label == "Savings potential"
    assert _values(session, records_for, tenant, admin, measure)["potential"] == 424242


def test_a_removed_then_restored_field_gets_its_old_values_back(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, measure = mini
    stripped = documents
    for key in ("description", "financials", "evidence"):
        stripped = _without_field(stripped, key)
    _activate(session, tenant, stripped, admin)
    kept = session.get(Record, measure.id).values
    assert kept["description"] == "Cheaper coil"  # kept in the record, shown by no field
    assert "description" not in _values(session, records_for, tenant, admin, measure)
    # An edit under the version without the field keeps what the record holds for it.
    records = records_for(tenant, admin)
    record = records.get(measure.id)
    records.update(record, Submission("Steel, renamed", MultiDict({"potential": "500000"})), record.version)
    session.commit()
    assert session.get(Record, measure.id).values["description"] == "Cheaper coil"

    activation = _activate(session, tenant, documents, admin, restore=["description", "financials", "evidence"])
    assert sorted(activation.fields.restored) == ["description", "evidence", "financials"]
    values = _values(session, records_for, tenant, admin, measure)
    assert values["description"] == "Cheaper coil" and values["potential"] == 500000
    assert values["financials"] == {"plan": {"2026-01": 1000.0}}
    assert [a.filename for a in values["evidence"]] == ["case.txt"]


def test_a_new_field_reusing_a_removed_fields_key_starts_empty(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: a new field that reuses the key of a removed hidden field must not show the
    old value to roles that could not see it (nor to anyone: it is another field)."""
    documents, tenant, admin, editor, measure = mini
    _activate(session, tenant, _with_secret(documents), admin)
    records = records_for(tenant, admin)
    record = records.get(measure.id)
    records.update(record, Submission(record.title, MultiDict({"secret": "layoffs in plant 3"})), record.version)
    session.commit()
    assert "secret" not in _values(session, records_for, tenant, editor, measure)  # hidden from the editor
    _activate(session, tenant, documents, admin)  # the secret note is removed
    reused = _with_secret(documents, label="Public note", only_admin=False)
    draft = config_versions.create_draft(session, tenant, documents=reused, user_id=admin.id)
    assert [c.kind for c in config_versions.changes_of(session, tenant, draft)] == ["field.added", "field.reused_key"]
    impact = [i for i in config_versions.impact_of(session, tenant, draft) if i.kind == "values_set_aside"]
    assert impact and impact[0].count == 1
    activation = config_versions.activate(session, tenant, draft, user_id=admin.id, comment="A public note")
    session.commit()
    assert activation.fields.reused == ["secret"]
    for user in (editor, admin):
        assert _values(session, records_for, tenant, user, measure).get("secret") is None
    # Nor does the history tell: the change to the old field is not shown under the new one.
    session.expire_all()
    editor_records = records_for(tenant, editor)
    entries = history.record_history(session, editor_records.config, editor_records.access,
                                     editor_records.get(measure.id))
    assert "layoffs" not in repr(entries)
    # The new field's own values work as any field's do.
    record = editor_records.get(measure.id)
    editor_records.update(record, Submission(record.title, MultiDict({"secret": "all hands on Friday"})),
                          record.version)
    session.commit()
    assert _values(session, records_for, tenant, editor, measure)["secret"] == "all hands on Friday"
    entries = history.record_history(session, editor_records.config, editor_records.access,
                                     editor_records.get(measure.id))
    assert "all hands on Friday" in repr(entries) and "layoffs" not in repr(entries)

    # Rolling back to the version with the secret note brings its definition and values back,
    # and sets the public note's aside.
    with_secret = session.scalar(select(ConfigVersion).where(ConfigVersion.tenant_id == tenant.id,
                                                             ConfigVersion.number == 2))
    config_versions.rollback(session, tenant, with_secret, user_id=admin.id, comment="Undo")
    session.commit()
    assert _values(session, records_for, tenant, admin, measure)["secret"] == "layoffs in plant 3"
    assert "secret" not in _values(session, records_for, tenant, editor, measure)


def test_restoring_is_a_choice_made_on_the_draft(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, measure = mini
    _activate(session, tenant, _without_field(documents, "description"), admin)
    draft = config_versions.create_draft(session, tenant, documents=documents, user_id=admin.id)
    [choice] = config_versions.field_choices(session, tenant, draft)
    assert (choice.key, choice.restored, choice.earlier[0].records) == ("description", None, 1)
    config_versions.choose_identity(session, tenant, draft, "description", choice.earlier[0].id, user_id=admin.id)
    assert [c.kind for c in config_versions.changes_of(session, tenant, draft)] == ["field.added", "field.restored"]
    config_versions.activate(session, tenant, draft, user_id=admin.id, comment="Description is back")
    session.commit()
    assert _values(session, records_for, tenant, admin, measure)["description"] == "Cheaper coil"


def test_a_save_keeps_values_no_field_of_the_version_shows(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, measure = mini
    session.get(Record, measure.id).values = {**session.get(Record, measure.id).values, "legacy_key": "kept",
                                              "~99": "aside"}
    session.commit()
    records = records_for(tenant, admin)
    record = records.get(measure.id)
    records.update(record, Submission(record.title, MultiDict({"description": "Even cheaper coil"})), record.version)
    session.commit()
    session.expire_all()
    stored = session.get(Record, measure.id).values
    assert (stored["legacy_key"], stored["~99"], stored["description"]) == ("kept", "aside", "Even cheaper coil")


def test_time_phased_amounts_and_files_are_set_aside_with_their_field(session, mini) -> None:  # type: ignore[no-untyped-def]
    documents, tenant, admin, _, measure = mini
    stripped = _without_field(_without_field(documents, "financials"), "evidence")
    _activate(session, tenant, stripped, admin)
    _activate(session, tenant, documents, admin)  # both come back as new fields
    keys = set(session.scalars(select(PeriodValue.field_key).where(PeriodValue.record_id == measure.id)))
    files = set(session.scalars(select(Attachment.field_key).where(Attachment.record_id == measure.id)))
    assert len(keys) == 1 and keys.pop().startswith("~") and len(files) == 1 and files.pop().startswith("~")


def test_values_kept_from_before_identities_were_tracked_are_set_aside_too(session, mini, records_for) -> None:  # type: ignore[no-untyped-def]
    """An installation upgraded from a release without field identities: its versions have
    none, and a removed field's values sit under their key claimed by nobody. A new field
    reusing the key does not show them; restoring the earlier field brings them back."""
    from sqlalchemy import delete, update

    from steerco.store.models import FieldIdentity

    documents, tenant, admin, editor, measure = mini
    _activate(session, tenant, _with_secret(documents), admin)
    records = records_for(tenant, admin)
    record = records.get(measure.id)
    records.update(record, Submission(record.title, MultiDict({"secret": "old confidential"})), record.version)
    session.commit()
    _activate(session, tenant, documents, admin)
    session.execute(delete(FieldIdentity))  # as the upgrade leaves an installation
    session.execute(update(ConfigVersion).values(field_identities=None))
    session.commit()
    tenants.forget_compiled()

    _activate(session, tenant, _with_secret(documents, label="Public note", only_admin=False), admin)
    assert _values(session, records_for, tenant, editor, measure).get("secret") is None
    assert _values(session, records_for, tenant, admin, measure).get("secret") is None
    _activate(session, tenant, documents, admin)
    draft = config_versions.create_draft(session, tenant, documents=_with_secret(documents), user_id=admin.id)
    [choice] = config_versions.field_choices(session, tenant, draft)
    earliest = choice.earlier[-1]
    assert earliest.label == "Secret note (earlier)" and earliest.records == 1
    config_versions.choose_identity(session, tenant, draft, "secret", earliest.id)
    config_versions.activate(session, tenant, draft, user_id=admin.id, comment="The secret note is back")
    session.commit()
    assert _values(session, records_for, tenant, admin, measure)["secret"] == "old confidential"
