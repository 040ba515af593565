"""Where an actor's work is: per role they hold, the place it covers and the lists it reads.

The workspace home and the navigation start from here, so no member lands on an empty
page: a role held at a record leads to that record, a role held tenant-wide to the lists
of every level it reads (with how many records the actor may read there), whatever the
top of the hierarchy shows. Two queries whatever the number of roles and levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from steerco.config.model import Level
from steerco.store.models import Record

if TYPE_CHECKING:
    from steerco.engine.records import Records


@dataclass(frozen=True)
class LevelList:
    """The list of one level across the workspace, and how many records the actor reads there."""

    level: Level
    count: int


@dataclass(frozen=True)
class RoleWork:
    """One role the actor holds: where (a record, or None for the whole workspace) and
    the lists of the levels it reads."""

    label: str
    place: Record | None
    lists: tuple[LevelList, ...]


def by_role(records: "Records") -> list[RoleWork]:
    """Per grant of the actor: the role's label, its place and the lists it reads."""
    counts = records.readable_counts()
    places = {r.path: r for r in records.areas()}
    result = []
    for grant in records.access.actor.grants:
        role = records.config.roles.get(grant.role)
        if role is None:
            continue
        place = places.get(grant.node_path) if grant.node_path else None
        if grant.node_path and place is None:
            continue  # a role at a record the actor cannot read (any more) leads nowhere
        lists = tuple(LevelList(level, counts.get(level.key, 0)) for level in records.config.levels.values()
                      if role.allows("read", level.key))
        if lists or place is not None:
            result.append(RoleWork(role.label, place, lists))
    return result
