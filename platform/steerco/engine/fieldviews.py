"""The field pipeline: for a reader, each record and every field, its state and its display.

Every channel that shows a record's values asks here: the record page, the edit form,
list cells, the CSV export, the record PDF and the JSON API (history shows changes
through :func:`display_for`, which resolves names the same way). One call answers for a
whole list of records of one level in a fixed number of statements:

1. the values (JSON, time-phased amounts, attachments) of all records, read by the field
   types' loaders (:meth:`Records.values_of`), unless the caller has them already;
2. per record, the computed values (a result of the wrong type becomes a *problem*, never
   a 500) and the field states of :func:`steerco.engine.forms.field_states`: the role
   modes merged with ``visible_if``/``editable_if`` and the stage's requirements;
3. for the visible values only, the names of the users and referenced records, in at most
   two queries for the whole batch (a referenced record the reader may not read shows as
   "not visible to you", never its title);
4. the display text of each visible value, formatted by the field's type with Babel in
   the tenant's locale and currency.

A hidden field's :class:`FieldView` carries no value and no text, so no template, export
or API answer can print it by mistake.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from sqlalchemy import select

from steerco.config.model import Field, Level, Section
from steerco.engine.forms import FieldState, compute_checked, field_states
from steerco.fields.base import ExportValue
from steerco.fields.display import Display
from steerco.store.models import Membership, Record, User, utcnow

if TYPE_CHECKING:
    from steerco.engine.records import Records

HIDDEN = FieldState(False, False, False, "hidden")


class FieldView:
    """One field of one record as one reader sees it.

    The text (and a view template's detail) is formatted on first use: a form needs the
    states of all fields but the text of only a few, a list only its columns'.
    """

    __slots__ = ("field", "state", "value", "problem", "display", "__dict__")

    def __init__(self, field: Field, state: FieldState, value: Any, problem: str | None, display: Display):
        self.field = field
        self.state = state
        #: the typed stored (or computed) value; None when not visible or not computable
        self.value = value
        #: why the value cannot be shown ("cannot be computed: ..."), or None
        self.problem = problem
        self.display = display

    @cached_property
    def text(self) -> str:
        """The value as people read it ("" when empty, not visible or a problem)."""
        if not self.state.visible or self.problem:
            return ""
        return self.field.kind.display(self.field, self.value, self.display)

    @cached_property
    def detail(self) -> Any:
        """What the field type's view template needs beyond the text (a grid's cells, files)."""
        if not self.state.visible or self.problem:
            return None
        return self.field.kind.detail(self.field, self.value, self.display)

    @property
    def key(self) -> str:
        return self.field.key

    @property
    def visible(self) -> bool:
        return self.state.visible

    @property
    def shown(self) -> str:
        """What a page, list cell or PDF prints: the text, the problem, or a dash."""
        return self.problem or self.text or "—"

    def export_value(self) -> ExportValue:
        """The CSV cell: a number stays a number; a problem reads as itself."""
        if not self.visible:
            return None
        if self.problem:
            return self.problem
        return self.field.kind.export_value(self.field, self.value, self.display)

    def json_value(self) -> Any:
        """The typed value as the JSON API gives it (null when it cannot be computed)."""
        return None if self.problem else self.field.kind.json_value(self.field, self.value)


@dataclass(frozen=True)
class RecordView:
    """A record (or a form's values) as one reader sees it: every field of its level."""

    record: Record | None
    level: Level
    fields: Mapping[str, FieldView]
    display: Display

    @property
    def states(self) -> dict[str, FieldState]:
        return {key: view.state for key, view in self.fields.items()}

    @property
    def visible(self) -> tuple[FieldView, ...]:
        return tuple(v for v in self.fields.values() if v.visible)

    def sections(self) -> list[tuple[Section, list[FieldView]]]:
        """The level's sections that show something, each with its visible fields."""
        found = []
        for section in self.level.sections:
            views = [self.fields[f.key] for f in section.fields if self.fields[f.key].visible]
            if views:
                found.append((section, views))
        return found

    def texts(self) -> dict[str, str]:
        """{field key: what is shown} for every visible field: the cross-channel contract."""
        return {v.key: v.shown for v in self.visible}

    def problems(self) -> dict[str, str]:
        return {v.key: v.problem for v in self.visible if v.problem}

    def api_values(self) -> dict[str, Any]:
        return {v.key: v.json_value() for v in self.visible}


@dataclass(frozen=True)
class Subject:
    """What the pipeline looks at: a stored record, or the values of a form being filled."""

    record: Record | None
    values: Mapping[str, Any]
    stage: str | None
    title: str
    parent: Record | None = None


def today_of(records: "Records") -> dt.date:
    """The day conditions and computed values are worked out for (``records.now``'s)."""
    return (records.now or utcnow()).date()


_today = today_of


def member_names(records: "Records") -> dict[int, str]:
    """{user id: name} of every member of the workspace, in one query: what a long
    export resolves once instead of once per batch."""
    return dict(records.session.execute(
        select(User.id, User.name).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == records.tenant_id)).all())


def note_lookup(fld: Any, value: Any, users: set[Any], refs: set[Any]) -> None:
    """Remember a shown value that names a person or a record, so that all of a page's names
    are read in one query each (:func:`display_for`)."""
    if value is None:
        return
    source = getattr(fld.kind, "lookup", None)
    if source == "users":
        users.add(value)
    elif source == "records":
        refs.add(value)


def display_for(records: "Records", user_ids: Iterable[Any] = (),
                record_ids: Iterable[Any] = (), members: Mapping[int, str] | None = None) -> Display:
    """A :class:`Display` with the names of these users (members of the workspace) and
    the "number title" of these records (only those the reader may read): two queries
    at most, none when there is nothing to resolve (and no user query when the caller
    has ``members``, from :func:`member_names`)."""
    users = {i for i in user_ids if isinstance(i, int) and not isinstance(i, bool)}
    refs = {i for i in record_ids if isinstance(i, int) and not isinstance(i, bool)}
    names: dict[int, str] = {}
    labels: dict[int, str] = {}
    if members is not None:
        names = {i: members[i] for i in users if i in members}
    elif users:
        names = dict(records.session.execute(
            select(User.id, User.name).join(Membership, Membership.user_id == User.id)
            .where(Membership.tenant_id == records.tenant_id, User.id.in_(users))).all())
    if refs:
        labels = {i: f"{n} {t}" for i, n, t in records.session.execute(
            records._readable().with_only_columns(Record.id, Record.number, Record.title)
            .where(Record.id.in_(refs))).all()}
    return Display.of(records.config, names, labels)


def views_of(records: "Records", level: Level, subjects: list[Subject]) -> list[RecordView]:
    """The pipeline itself: state and display of every field for each subject."""
    today = _today(records)
    prepared = []
    users: set[Any] = set()
    refs: set[Any] = set()
    for subject in subjects:
        computed, problems = compute_checked(level, subject.values, subject.stage, subject.title, today)
        values = {**subject.values, **computed}
        states = field_states(records.config, level, values, stage=subject.stage, title=subject.title,
                              access=records.access, record=subject.record, today=today,
                              parent=subject.parent, computed=computed)
        for fld in level.fields:
            if states[fld.key].visible:
                note_lookup(fld, values.get(fld.key), users, refs)
        prepared.append((subject, values, states, problems))
    display = display_for(records, users, refs)
    result = []
    for subject, values, states, problems in prepared:
        fields: dict[str, FieldView] = {}
        for fld in level.fields:
            state = states[fld.key]
            if not state.visible:
                fields[fld.key] = FieldView(fld, state, None, None, display)
                continue
            value = values.get(fld.key)
            problem = problems.get(fld.key) or fld.kind.value_problem(fld, value)
            fields[fld.key] = FieldView(fld, state, None if problem else value, problem, display)
        result.append(RecordView(subject.record, level, fields, display))
    return result


def record_views(records: "Records", level: Level, items: list[Record],
                 values: Mapping[int, Mapping[str, Any]] | None = None) -> dict[int, RecordView]:
    """Each stored record of ``level`` as the reader sees it, by record id (batched)."""
    if values is None:
        values = records.values_of(items, level)
    subjects = [Subject(r, values[r.id], r.stage_key, r.title) for r in items]
    return {view.record.id: view for view in views_of(records, level, subjects)  # type: ignore[union-attr]
            if view.record is not None}


def record_view(records: "Records", record: Record,
                values: Mapping[str, Any] | None = None) -> RecordView:
    """One stored record as the reader sees it."""
    level = records.config.levels[record.level_key]
    found = None if values is None else {record.id: values}
    return record_views(records, level, [record], found)[record.id]


def form_view(records: "Records", level: Level, values: Mapping[str, Any], record: Record | None,
              stage: str | None, title: str, parent: Record | None = None) -> RecordView:
    """The values of a form being filled (typed, not saved) as the reader sees them."""
    return views_of(records, level, [Subject(record, values, stage, title, parent)])[0]
