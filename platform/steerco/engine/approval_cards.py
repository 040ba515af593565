"""What an approver sees beside a decision: the facts of the record and the gate's evidence.

A level names the fields of its approval card (``approval_card`` in levels.json; without
it, the fields the approval is given on). The inbox card and the record's decision panel
show them, and link the evidence files the transition's gate requires, each through the
field pipeline: a field hidden from the approver is not on their card. One call answers
for a page of cards in a fixed number of queries per level (the pipeline's batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from steerco.config.model import Level, TenantConfig, Transition
from steerco.engine.approval_content import content_fields
from steerco.engine.fieldviews import FieldView
from steerco.store.models import Record, TransitionRequest

if TYPE_CHECKING:
    from steerco.engine.records import Records


@dataclass(frozen=True)
class ApprovalCard:
    """The card's fields with a value to show, and the gate's evidence, as the approver sees them."""

    facts: tuple[FieldView, ...]
    evidence: tuple[FieldView, ...]

    def __bool__(self) -> bool:
        return bool(self.facts or self.evidence)


def transition_of(config: TenantConfig, request: TransitionRequest) -> Transition | None:
    """The transition a request asks for, in the active configuration (None if gone)."""
    workflow = config.workflows.get(request.workflow_key)
    if workflow is None:
        return None
    return workflow.transition(request.transition_key)


def card_fields(level: Level, transition: Transition | None) -> tuple[str, ...]:
    """The keys of the fields on the card: the level's choice, else the approval content
    (evidence is shown apart, as links)."""
    evidence = set(transition.required_evidence) if transition else set()
    chosen = level.approval_card or (content_fields(transition, level) if transition else ())
    return tuple(key for key in chosen if level.field(key) is not None and key not in evidence)


def cards(records: "Records", entries: Iterable[tuple[Record, TransitionRequest]]) -> dict[int, ApprovalCard]:
    """The card of each (record, request) by request id, the records' views read in one batch per level."""
    entries = list(entries)
    by_level: dict[str, list[Record]] = {}
    for record, _ in entries:
        if record.level_key in records.config.levels:
            by_level.setdefault(record.level_key, [])
            if record not in by_level[record.level_key]:
                by_level[record.level_key].append(record)
    views = {}
    for level_key, items in by_level.items():
        views.update(records.views(records.config.levels[level_key], items))
    result = {}
    for record, request in entries:
        view = views.get(record.id)
        if view is None:
            continue
        transition = transition_of(records.config, request)
        facts = tuple(fv for key in card_fields(view.level, transition)
                      if (fv := view.fields[key]).visible)
        evidence = tuple(fv for key in (transition.required_evidence if transition else ())
                         if key in view.fields and (fv := view.fields[key]).visible and fv.detail)
        result[request.id] = ApprovalCard(facts, evidence)
    return result
