"""Access rules from configuration alone (no database): several roles merge into their
union, field overrides per role, admin rights apart from data rights."""

from __future__ import annotations

from configs import minimal_documents
from steerco.config import compile_config
from steerco.engine.access import Access, Actor, Grant
from steerco.store.models import Record


def _config():  # type: ignore[no-untyped-def]
    docs = minimal_documents()
    docs["roles"]["roles"] += [
        {"key": "reader", "label": "Reader", "permissions": [{"levels": ["*"], "actions": ["read"], "scope": "tenant"}],
         "fields": {"potential": "hidden"}},
        {"key": "lead", "label": "Lead", "admin": ["users"], "permissions": [
            {"levels": ["*"], "actions": ["read", "update"], "scope": "subtree"}]},
        {"key": "checker", "label": "Checker", "permissions": [
            {"levels": ["*"], "actions": ["read"], "scope": "tenant"}], "fields": {"due": "write"}},
    ]
    return compile_config(docs)


def _measure(path: str, owner: int = 99) -> Record:
    return Record(id=int(path.strip("/").split("/")[-1]), level_key="measure", path=path, owner_id=owner,
                  tenant_id=1, number="M", title="t", values={})


def test_roles_merge_into_their_union_per_record() -> None:
    config = _config()
    access = Access(config, Actor(1, "Ann", (Grant("reader"), Grant("lead", "/1/"))))
    potential = next(f for f in config.levels["measure"].fields if f.key == "potential")
    inside, outside = _measure("/1/5/"), _measure("/2/6/")
    assert access.field_mode(potential, inside, "measure") == "write"   # the lead's subtree
    assert access.field_mode(potential, outside, "measure") == "hidden"  # only the reader applies
    assert access.can("update", "measure", inside) and not access.can("update", "measure", outside)
    # Lists may not sort or filter by it: one of the reading roles hides it.
    assert not access.field_visible_everywhere(potential, "measure")


def test_a_write_override_lets_a_reader_change_that_field_only() -> None:
    config = _config()
    access = Access(config, Actor(1, "Chris", (Grant("checker"),)))
    fields = {f.key: f for f in config.levels["measure"].fields}
    record = _measure("/1/5/")
    assert access.decide("update", "measure", record).allowed
    assert access.field_mode(fields["due"], record, "measure") == "write"
    assert access.field_mode(fields["potential"], record, "measure") == "read"
    assert not access.can("update", "program", Record(id=1, level_key="program", path="/1/", tenant_id=1))


def test_admin_rights_come_only_from_roles_held_tenant_wide() -> None:
    config = _config()
    assert Access(config, Actor(1, "Ann", (Grant("lead"),))).admin_rights == {"users"}
    assert Access(config, Actor(1, "Ann", (Grant("lead", "/1/"),))).admin_rights == set()
    assert Access(config, Actor(1, "Ann", (Grant("reader"),))).admin_rights == set()


def test_a_new_records_fields_follow_the_roles_at_its_parent_only() -> None:
    config = _config()
    # Reader of everything (potential hidden), lead only in program 1.
    access = Access(config, Actor(1, "Ann", (Grant("reader"), Grant("lead", "/1/"))))
    potential = next(f for f in config.levels["measure"].fields if f.key == "potential")
    in_one = Record(id=1, level_key="program", path="/1/", tenant_id=1)
    in_two = Record(id=2, level_key="program", path="/2/", tenant_id=1)
    assert access.new_record_mode(potential, "measure", in_one) == "read"  # the lead sees it there
    assert access.new_record_mode(potential, "measure", in_two) == "hidden"


def test_a_computed_field_is_hidden_where_one_of_its_inputs_is() -> None:
    config = _config()
    fields = {f.key: f for f in config.levels["measure"].fields}
    reader = Access(config, Actor(1, "Rita", (Grant("reader"),)))
    assert reader.field_mode(fields["weighted"], _measure("/1/5/"), "measure") == "hidden"
    assert not reader.field_visible_everywhere(fields["weighted"], "measure")
    checker = Access(config, Actor(2, "Chris", (Grant("checker"),)))
    assert checker.field_mode(fields["weighted"], _measure("/1/5/"), "measure") == "read"
