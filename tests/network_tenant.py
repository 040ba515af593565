"""A tenant of another domain than the demo's, for the value layer's tests: a power network
(region > district > station > unit > asset), configured in JSON only, with values at the
leaves: numbers for each rollup function, a condition-hidden value, a status, a money grid,
stages with risk weights, and a crew member who reads only their own assets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from werkzeug.datastructures import MultiDict

from steerco.engine.records import Submission
from steerco.store.models import Record, Tenant, User

LEVELS = ["region", "district", "station", "unit", "asset"]
STAGES = {"planned": 0.25, "built": 0.5, "live": 1.0}


def network_documents() -> dict[str, Any]:
    """A tenant of another domain, written as a consultant would: nothing of it is in code."""
    levels = []
    for depth, key in enumerate(LEVELS):
        levels.append({
            "key": key, "label": key.title(), "label_plural": key.title() + "s",
            "parents": [LEVELS[depth - 1]] if depth else [], "numbering": {"prefix": key[:2].upper()},
            **({"workflow": "lifecycle"} if key == "asset" else {}),
            "sections": [{"key": "main", "label": "Main",
                          "fields": (["load", "efficiency", "low_voltage", "peak_temp", "fault_class",
                                      "monitored", "condition", "opex"] if key == "asset" else ["note"])}],
        })
    return {
        "tenant": {"key": "grid", "name": "Grid Operator", "currency": "EUR", "locale": "en-GB",
                   "fiscal_year_start": 1, "reporting": {"granularity": "month", "start": "2027-01", "periods": 12}},
        "levels": {"levels": levels},
        "fields": {"fields": [
            {"key": "note", "label": "Note", "type": "text"},
            {"key": "load", "label": "Load (MW)", "type": "decimal", "rollup": "sum"},
            {"key": "efficiency", "label": "Efficiency", "type": "percent", "rollup": "avg"},
            {"key": "low_voltage", "label": "Lowest voltage", "type": "decimal", "rollup": "min"},
            {"key": "peak_temp", "label": "Peak temperature", "type": "decimal", "rollup": "max",
             "visible_if": "monitored"},
            {"key": "fault_class", "label": "Fault class", "type": "single_choice", "rollup": "count",
             "options": [{"key": "a", "label": "A"}, {"key": "b", "label": "B"}]},
            {"key": "monitored", "label": "Monitored", "type": "yes_no"},
            {"key": "condition", "label": "Condition", "type": "single_choice",
             "options": [{"key": "good", "label": "Good"}, {"key": "poor", "label": "Poor"}]},
            {"key": "opex", "label": "Operating cost", "type": "money_grid", "rollup": "sum",
             "scenarios": ["plan", "actual"]},
        ]},
        "roles": {"roles": [
            {"key": "admin", "label": "Administrator", "admin": ["configuration", "users"],
             "permissions": [{"levels": ["*"], "actions": ["create", "read", "update", "transition"],
                              "scope": "tenant"}]},
            {"key": "crew", "label": "Crew", "fields": {"efficiency": "hidden"},
             "permissions": [{"levels": ["region", "district", "station", "unit"], "actions": ["read"],
                              "scope": "subtree"},
                             {"levels": ["asset"], "actions": ["read"], "scope": "own"}]},
        ]},
        "workflows": {
            "workflows": [{"key": "lifecycle", "label": "Lifecycle", "initial_stage": "planned",
                           "stages": [{"key": k, "label": k.title(), "order": i + 1, "risk_weight": w}
                                      for i, (k, w) in enumerate(STAGES.items())],
                           "transitions": [{"key": "build", "label": "Build", "from": ["planned"], "to": "built",
                                            "roles": ["admin"]},
                                           {"key": "commission", "label": "Commission", "from": ["built"],
                                            "to": "live", "roles": ["admin"]}]}],
            "status_dimensions": [{"key": "condition", "label": "Condition", "levels": ["asset"],
                                   "options": [{"key": "good", "label": "Good"}, {"key": "poor", "label": "Poor"}]}],
        },
    }


@dataclass
class Asset:
    record: Record
    stage: str
    values: dict[str, Any]
    plan: float
    actual: float
    crew_owned: bool = False


@dataclass
class Network:
    tenant: Tenant
    nodes: list[Record] = field(default_factory=list)
    assets: list[Asset] = field(default_factory=list)
    admin: User | None = None
    crew: User | None = None
    region: Record | None = None


def asset_values(n: int) -> dict[str, Any]:
    """Varied values, some empty, so counts and averages are not trivially the record count."""
    values: dict[str, Any] = {"load": str(10 + n * 3), "low_voltage": str(200 + (n * 37) % 50),
                              "monitored": "1" if n % 3 else "0", "peak_temp": str(40 + (n * 11) % 30),
                              "condition": "poor" if n % 4 == 0 else "good"}
    if n % 5:
        values["efficiency"] = str(50 + (n * 7) % 40)
    if n % 2:
        values["fault_class"] = "a" if n % 3 else "b"
    return values


def build_network(session, make_tenant, make_user, records_for) -> Network:  # type: ignore[no-untyped-def]
    """The network with 48 assets under 16 units, 8 stations, 4 districts and 2 regions; the
    crew member holds their role at the first region and owns every other asset."""
    tenant = make_tenant(network_documents())
    admin = make_user(tenant)
    records = records_for(tenant, admin)
    world = Network(tenant, admin=admin)
    counter = itertools.count()

    def grow(parent: Record | None, depth: int) -> None:
        key = LEVELS[depth]
        for i in range(3 if key == "asset" else 2):
            if key == "asset":
                n = next(counter)
                values = asset_values(n)
                plan, actual = 100.0 + n, 90.0 + 2 * n
                form = {**{k: v for k, v in values.items() if k != "condition"}, "monitored": "1", "opex.plan.2027-01": str(plan / 2), "opex.plan.2027-02": str(plan / 2),
                        "opex.actual.2027-01": str(actual)}
                record = records.create(key, parent, Submission(f"Asset {n}", MultiDict(form)))
                stage = list(STAGES)[n % 3]
                world.assets.append(Asset(record, stage, values, plan, actual))
            else:
                record = records.create(key, parent, Submission(f"{key.title()} {i}", MultiDict()))
                world.nodes.append(record)
                grow(record, depth + 1)

    grow(None, 0)
    for asset in world.assets:  # stages and statuses as their own panels would have set them
        stored = session.get(Record, asset.record.id)
        session.execute(update(Record).where(Record.id == asset.record.id).values(
            stage_key=asset.stage, values={**stored.values, "condition": asset.values["condition"],
                                             # unmonitored since: its peak temperature stays, hidden
                                             "monitored": asset.values["monitored"] == "1"}))
    world.region = world.nodes[0]
    world.crew = make_user(tenant, [("crew", world.region.id)])
    for asset in world.assets[::2]:
        asset.crew_owned = True
        session.execute(update(Record).where(Record.id == asset.record.id).values(owner_id=world.crew.id))
    session.commit()
    return world
