"""Rollups over a five-level tree of a domain that is not the demo's (a power network:
region > district > station > unit > asset), configured here in JSON only: every node's
rollup equals the aggregate computed independently in this test, for each function
(sum, avg, min, max, count), by stage, by status and risk-weighted, for an administrator
and for a crew member who reads only their own assets and is told how many were left out."""

from __future__ import annotations

from typing import Any

import pytest
from network_tenant import STAGES, Asset, Network, build_network
from sqlalchemy import event

from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.rollups import Rollups, RollupSet
from steerco.store.models import Record, User

@pytest.fixture
def network(session, make_tenant, make_user, records_for) -> Network:  # type: ignore[no-untyped-def]
    return build_network(session, make_tenant, make_user, records_for)


def rollups_for(session, network: Network, user: User) -> Rollups:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, network.tenant)
    return Rollups(session, network.tenant.id, config, Access(config, tenants.actor_for(session, network.tenant, user)))


def under(node: Record, assets: list[Asset]) -> list[Asset]:
    return [a for a in assets if a.record.path.startswith(node.path)]


def expected(function: str, key: str, assets: list[Asset]) -> tuple[Any, int]:
    """(the aggregate, how many values counted), computed without the database."""
    values = [float(a.values[key]) if key != "fault_class" else a.values[key] for a in assets
              if key in a.values and (key != "peak_temp" or a.values["monitored"] == "1")]
    if function == "count":
        return float(len(values)), len(values)
    if not values:
        return None, 0
    return {"sum": sum, "min": min, "max": max, "avg": lambda v: sum(v) / len(v)}[function](values), len(values)


def lines_of(sets: list[RollupSet], level: str) -> dict[tuple[str, str | None], Any]:
    found = next(s for s in sets if s.level.key == level)
    return {(line.field.key, line.scenario): line for line in found.lines}


FUNCTIONS = {"load": "sum", "efficiency": "avg", "low_voltage": "min", "peak_temp": "max", "fault_class": "count"}


def test_every_nodes_rollup_equals_the_aggregate_computed_here(session, network) -> None:  # type: ignore[no-untyped-def]
    rollups = rollups_for(session, network, network.admin)
    for node in network.nodes:
        assets = under(node, network.assets)
        found = next(s for s in rollups.of(node) if s.level.key == "asset")
        assert (found.records, found.left_out) == (len(assets), 0)
        lines = lines_of(rollups.of(node), "asset")
        for key, function in FUNCTIONS.items():
            line = lines[(key, None)]
            value, count = expected(function, key, assets)
            assert line.function == function
            assert line.breakdown.total.value == pytest.approx(value), (node.title, key)
            assert line.breakdown.total.count == count
            # a value hidden by its own condition is left out, even for the administrator
            hidden_by_condition = len([a for a in assets if a.values["monitored"] == "0"]) if key == "peak_temp" else 0
            assert line.breakdown.total.left_out == hidden_by_condition
        for scenario in ("plan", "actual"):
            total = lines[("opex", scenario)].breakdown.total
            assert total.value == pytest.approx(sum(getattr(a, scenario) for a in assets))
            assert (total.count, total.left_out) == (len(assets), 0)


def test_rollups_by_stage_status_and_risk_weight(session, network) -> None:  # type: ignore[no-untyped-def]
    rollups = rollups_for(session, network, network.admin)
    root = network.nodes[0]
    assets = under(root, network.assets)
    load = lines_of(rollups.of(root), "asset")[("load", None)].breakdown
    by_stage = dict(load.by_stage)
    assert list(by_stage) == list(STAGES)  # in the workflow's order
    for stage in STAGES:
        assert by_stage[stage].value == pytest.approx(expected("sum", "load", [a for a in assets if a.stage == stage])[0])
    by_status = {(dim, option): amount for dim, option, amount in load.by_status}
    for option in ("good", "poor"):
        members = [a for a in assets if a.values["condition"] == option]
        assert by_status[("condition", option)].value == pytest.approx(expected("sum", "load", members)[0])
    weighted = sum(float(a.values["load"]) * STAGES[a.stage] for a in assets)
    assert load.weighted == pytest.approx(weighted)
    average = dict(lines_of(rollups.of(root), "asset")[("efficiency", None)].breakdown.by_stage)
    for stage in STAGES:
        assert average[stage].value == pytest.approx(
            expected("avg", "efficiency", [a for a in assets if a.stage == stage])[0])


def test_a_reader_of_part_of_the_tree_is_told_how_much_was_left_out(session, network) -> None:  # type: ignore[no-untyped-def]
    rollups = rollups_for(session, network, network.crew)
    for node in [n for n in network.nodes if n.path.startswith(network.region.path)]:
        everything = under(node, network.assets)
        own = [a for a in everything if a.crew_owned]
        found = next(s for s in rollups.of(node) if s.level.key == "asset")
        assert (found.records, found.left_out) == (len(own), len(everything) - len(own))
        lines = lines_of(rollups.of(node), "asset")
        assert lines[("efficiency", None)].breakdown.total.hidden  # hidden from the crew's role
        for key, function in FUNCTIONS.items():
            if key == "efficiency":
                continue
            total = lines[(key, None)].breakdown.total
            value, count = expected(function, key, own)
            assert total.value == pytest.approx(value) and total.count == count, (node.title, key)
            present = [a for a in everything if key in a.values]
            assert total.left_out == len(present) - count
        load = lines[("load", None)].breakdown
        assert sum(a.value for _, a in load.by_stage) == pytest.approx(load.total.value)
        assert load.weighted == pytest.approx(sum(float(a.values["load"]) * STAGES[a.stage] for a in own))
        plan = lines[("opex", "plan")].breakdown.total
        assert plan.value == pytest.approx(sum(a.plan for a in own))
        assert (plan.count, plan.left_out) == (len(own), len(everything) - len(own))


def test_one_query_per_rollup_set_whatever_the_tree(session, network) -> None:  # type: ignore[no-untyped-def]
    rollups = rollups_for(session, network, network.admin)
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        sets = rollups.of(network.nodes[0])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # the asset level: one query for its scalar fields, one for its grid; no other level rolls up
    assert [s.level.key for s in sets] == ["asset"]
    assert len(statements) == 2


def test_a_grid_counts_per_scenario_only_the_records_with_amounts_in_it(session, network) -> None:  # type: ignore[no-untyped-def]
    """A record without amounts in one scenario counts in the others only, in total and per stage."""
    from sqlalchemy import delete

    from steerco.store.models import PeriodValue

    dropped = {a.record.id for a in network.assets[::4]}
    session.execute(delete(PeriodValue).where(PeriodValue.record_id.in_(dropped), PeriodValue.scenario == "actual"))
    session.commit()
    root = network.nodes[0]
    assets = under(root, network.assets)
    kept = [a for a in assets if a.record.id not in dropped]
    lines = lines_of(rollups_for(session, network, network.admin).of(root), "asset")
    plan, actual = lines[("opex", "plan")].breakdown, lines[("opex", "actual")].breakdown
    assert (plan.total.count, actual.total.count) == (len(assets), len(kept))
    assert actual.total.value == pytest.approx(sum(a.actual for a in kept))
    assert {stage for stage, _ in actual.by_stage} == {a.stage for a in kept}
    for stage, amount in actual.by_stage:
        members = [a for a in kept if a.stage == stage]
        assert (amount.value, amount.count) == (pytest.approx(sum(a.actual for a in members)), len(members))
