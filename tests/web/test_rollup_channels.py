"""Rollups where readers meet them: a panel on the record page and ``rollups`` in the API's
record, both from the one engine (``steerco.engine.rollups``), for a tenant of another
domain configured in JSON only; a reader of part of the tree is told what was left out."""

from __future__ import annotations

import pytest
from network_tenant import STAGES, build_network

from steerco.engine import tokens


@pytest.fixture
def network(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    return build_network(session, make_tenant, make_user, records_for)


def bearer(session, user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, plaintext = tokens.create_token(session, user, "tests")
    session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def test_the_api_record_gains_rollups(client, session, network) -> None:  # type: ignore[no-untyped-def]
    root = network.nodes[0]
    body = client.get(f"/api/t/grid/records/{root.id}", headers=bearer(session, network.admin)).get_json()
    (assets,) = body["rollups"]
    assets_below = [a for a in network.assets if a.record.path.startswith(root.path)]
    assert (assets["level"], assets["records"], assets["left_out"]) == ("asset", len(assets_below), 0)
    lines = {(f["field"], f["scenario"]): f for f in assets["fields"]}
    load = lines[("load", None)]
    assert load["function"] == "sum"
    assert load["value"] == pytest.approx(sum(float(a.values["load"]) for a in assets_below))
    assert load["weighted"] == pytest.approx(sum(float(a.values["load"]) * STAGES[a.stage] for a in assets_below))
    assert set(load["by_stage"]) == set(STAGES)
    assert set(load["by_status"]["condition"]) == {"good", "poor"}
    assert lines[("opex", "actual")]["value"] == pytest.approx(sum(a.actual for a in assets_below))


def test_a_partial_reader_sees_what_was_left_out_in_the_api(client, session, network) -> None:  # type: ignore[no-untyped-def]
    region = network.region
    body = client.get(f"/api/t/grid/records/{region.id}", headers=bearer(session, network.crew)).get_json()
    (assets,) = body["rollups"]
    below = [a for a in network.assets if a.record.path.startswith(region.path)]
    own = [a for a in below if a.crew_owned]
    assert (assets["records"], assets["left_out"]) == (len(own), len(below) - len(own))
    lines = {(f["field"], f["scenario"]): f for f in assets["fields"]}
    assert lines[("efficiency", None)] == {**lines[("efficiency", None)], "hidden": True, "value": None}
    assert lines[("load", None)]["value"] == pytest.approx(sum(float(a.values["load"]) for a in own))
    assert lines[("load", None)]["left_out"] == len(below) - len(own)


def test_the_record_page_shows_the_rollup_panel(client, session, network, login) -> None:  # type: ignore[no-untyped-def]
    login(session.get(type(network.crew), network.crew.id).email)
    page = client.get(f"/t/grid/r/{network.region.id}").get_data(as_text=True)
    below = [a for a in network.assets if a.record.path.startswith(network.region.path)]
    own = [a for a in below if a.crew_owned]
    assert 'id="rollups"' in page
    assert f"{len(below) - len(own)} records" in page  # told how many were left out
    assert "Load (MW), total" in page and "Risk-weighted" in page
    assert "Efficiency, average" in page and "Hidden" in page
    total = sum(float(a.values["load"]) for a in own)
    assert f"{total:,.0f}" in page or f"{total:g}" in page
