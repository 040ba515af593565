"""Aggregates in expressions, for a tenant of another domain configured in JSON only (the
power network of ``network_tenant``): ``total(grid, 'scenario'[, 'from', 'to'])`` in an
approval threshold, a validation rule and a computed field, typed when the configuration
is loaded and evaluated on the server within the evaluator's bounds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from network_tenant import network_documents
from werkzeug.datastructures import MultiDict

from steerco.config.compiler import compile_config
from steerco.config.errors import ConfigInvalid
from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.errors import ValidationFailed
from steerco.engine.records import Records, Submission
from steerco.engine.workflow import Workflows
from steerco.store.models import Record

THRESHOLD = "total(opex, 'actual', '2027-01', '2027-06') > 1000"


def documents() -> dict[str, Any]:
    """The network, where building an asset whose first-half actual cost is above 1,000 needs
    the controller too; the actual cost may not run 5 % over the plan; a computed field shows
    the year's actual cost."""
    docs = network_documents()
    docs["roles"]["roles"].append({"key": "controller", "label": "Controller", "permissions": [
        {"levels": ["*"], "actions": ["read", "approve"], "scope": "tenant"}]})
    build = docs["workflows"]["workflows"][0]["transitions"][0]
    build["approvals"] = [{"key": "controller", "label": "Controller", "role": "controller",
                           "threshold": THRESHOLD, "quorum": "any"}]
    docs["fields"]["fields"].append({"key": "actual_cost", "label": "Actual cost", "type": "computed",
                                     "result_type": "money", "expression": "total(opex, 'actual')"})
    asset = next(level for level in docs["levels"]["levels"] if level["key"] == "asset")
    asset["sections"][0]["fields"].append("actual_cost")
    asset["rules"] = [{"key": "within_plan", "condition": "total(opex, 'actual') <= total(opex, 'plan') * 1.05",
                       "message": "The actual cost runs more than 5 % over the plan.", "fields": ["opex"]}]
    return docs


@pytest.fixture
def network(session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, admin))
    records = Records(session, tenant.id, config, access)
    unit: Record | None = None
    for key in ("region", "district", "station", "unit"):
        unit = records.create(key, unit, Submission(key.title(), MultiDict()))
    session.commit()
    flow = Workflows(session, tenant.id, config, access, now=dt.datetime(2027, 7, 1, 9))
    return records, flow, unit


def asset(records: Records, unit: Record, **amounts: str) -> Record:
    return records.create("asset", unit, Submission("Transformer", MultiDict(amounts)))


def test_a_threshold_on_a_grid_total_applies_above_the_amount_and_not_below(session, network) -> None:  # type: ignore[no-untyped-def]
    records, flow, unit = network
    below = asset(records, unit, **{"opex.plan.2027-01": "2000", "opex.actual.2027-01": "600",
                                    "opex.actual.2027-03": "400"})  # 1,000: not above
    above = asset(records, unit, **{"opex.plan.2027-01": "2000", "opex.actual.2027-01": "600",
                                    "opex.actual.2027-06": "401"})  # 1,001
    # an amount outside the threshold's periods does not count
    later = asset(records, unit, **{"opex.plan.2027-01": "2000", "opex.actual.2027-01": "600",
                                    "opex.actual.2027-07": "900"})
    session.commit()
    steps = [[s.key for s in flow.options(r)[0].steps] for r in (below, above, later)]
    assert steps == [[], ["controller"], []]


def test_a_computed_field_and_a_rule_read_a_grid_total(session, network) -> None:  # type: ignore[no-untyped-def]
    records, _, unit = network
    record = asset(records, unit, **{"opex.plan.2027-01": "1000", "opex.actual.2027-01": "700",
                                     "opex.actual.2027-02": "350"})
    session.commit()
    assert records.stored_values(record, records.config.levels["asset"])["actual_cost"] == 1050
    with pytest.raises(ValidationFailed) as refused:
        asset(records, unit, **{"opex.plan.2027-01": "1000", "opex.actual.2027-01": "1051"})
    assert refused.value.errors["opex"] == "The actual cost runs more than 5 % over the plan."


@pytest.mark.parametrize(("expression", "message"), [
    ("total(opex, 'budget') > 1", "'budget' is not a scenario of opex (scenarios: actual, plan)"),
    ("total(load, 'plan') > 1", "total needs a time-phased grid first, not load (a number)"),
    ("total(opex, 'plan', '2027-13') > 1", "'2027-13' is no period; write periods as 'YYYY-MM'"),
    ("total(opex) > 1", "total takes 2 to 4 argument(s), not 1"),
    ("total(opex, 'plan') > 'x'", "cannot compare total(opex, 'plan') (a number) with 'x' (a text)"),
])
def test_aggregates_are_typed_when_the_configuration_is_loaded(expression, message) -> None:
    docs = documents()
    docs["workflows"]["workflows"][0]["transitions"][0]["approvals"][0]["threshold"] = expression
    with pytest.raises(ConfigInvalid) as invalid:
        compile_config(docs)
    assert any(message in p.message for p in invalid.value.problems), [p.message for p in invalid.value.problems]


def related_documents() -> dict[str, Any]:
    """The network where a unit adds up its assets, and an asset of a critical region needs
    a fault class."""
    docs = documents()
    docs["fields"]["fields"] += [
        {"key": "asset_load", "label": "Assets' load", "type": "computed", "result_type": "decimal",
         "expression": "children('asset').sum('load')"},
        {"key": "live_assets", "label": "Live assets", "type": "computed", "result_type": "integer",
         "expression": "children('asset').count(stage == 'live' and load > 10)"},
        {"key": "peak_of_assets", "label": "Highest asset load", "type": "computed", "result_type": "decimal",
         "expression": "children('asset').max('load')"},
    ]
    unit = next(level for level in docs["levels"]["levels"] if level["key"] == "unit")
    unit["sections"][0]["fields"] += ["asset_load", "live_assets", "peak_of_assets"]
    asset = next(level for level in docs["levels"]["levels"] if level["key"] == "asset")
    asset["rules"].append({"key": "critical_needs_class",
                           "condition": "ancestor('region').note != 'critical' or not empty(fault_class)",
                           "message": "An asset of a critical region needs a fault class.",
                           "fields": ["fault_class"]})
    return docs


@pytest.fixture
def related(session, make_tenant, make_user):  # type: ignore[no-untyped-def]
    tenant = make_tenant(related_documents())
    admin = make_user(tenant)
    config = tenants.active_config(session, tenant)
    records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)))
    regions = {}
    for name in ("critical", "calm"):
        node = records.create("region", None, Submission(name.title(), MultiDict({"note": name})))
        for key in ("district", "station", "unit"):
            node = records.create(key, node, Submission(key.title(), MultiDict()))
        regions[name] = node  # the unit
    session.commit()
    return records, regions


def test_a_rule_reads_an_ancestor(session, related) -> None:  # type: ignore[no-untyped-def]
    records, units = related
    with pytest.raises(ValidationFailed) as refused:
        records.create("asset", units["critical"], Submission("Pump", MultiDict({"load": "5"})))
    assert refused.value.errors["fault_class"] == "An asset of a critical region needs a fault class."
    records.create("asset", units["critical"], Submission("Pump", MultiDict({"load": "5", "fault_class": "a"})))
    records.create("asset", units["calm"], Submission("Pump", MultiDict({"load": "5"})))  # not critical


def test_aggregates_over_children_are_live_on_the_record_and_typed(session, related) -> None:  # type: ignore[no-untyped-def]
    records, units = related
    unit = units["calm"]
    made = [records.create("asset", unit, Submission(f"Asset {n}", MultiDict({"load": str(load)})))
            for n, load in enumerate((8, 12, 30))]
    for record, stage in zip(made, ("live", "live", "built")):
        record.stage_key = stage
    session.commit()
    level = records.config.levels["unit"]
    view = records.view(unit, records.stored_values(unit, level))
    assert view.api_values()["asset_load"] == 50
    assert view.api_values()["live_assets"] == 1  # live and above 10: only the second
    assert view.api_values()["peak_of_assets"] == 30
    records.update(made[0], Submission("Asset 0", MultiDict({"load": "20"})), made[0].version)
    session.commit()
    view = records.view(unit, records.stored_values(unit, level))
    assert (view.api_values()["asset_load"], view.api_values()["live_assets"]) == (62, 2)


@pytest.mark.parametrize(("expression", "message"), [
    ("children('station').sum('load')", "'station' is no level below this one (levels below: asset)"),
    ("children('asset').sum('fault_class')", "sum needs a number, but fault_class is a text"),
    ("children('asset').count(stage == 'gone')", "'gone' is not an option of stage"),
    ("children('asset').sum(load)", "sum takes the key of a field of the children, in quotes"),
    ("parent.nothing + 1", "level 'station' has no field 'nothing'"),
    ("ancestor('asset').note", "'asset' is no level above this one"),
])
def test_relations_are_typed_when_the_configuration_is_loaded(expression, message) -> None:
    docs = related_documents()
    next(f for f in docs["fields"]["fields"] if f["key"] == "asset_load")["expression"] = expression
    with pytest.raises(ConfigInvalid) as invalid:
        compile_config(docs)
    assert any(message in p.message for p in invalid.value.problems), [p.message for p in invalid.value.problems]
