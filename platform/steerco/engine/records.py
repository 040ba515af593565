"""Records: read what the actor may read, and write only through validation.

Every write goes through :class:`Records`: the access check, parsing each field by its
type, the field state (visible/editable/required), JSON Schema validation of the values,
the version check, the audit event, all in the caller's one transaction. A failure raises
a domain error that carries the user's input so that nothing typed is lost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import jsonschema
import jsonschema_rs
from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import MultiDict

from steerco.config.expressions import RELATED
from steerco.config.model import SYSTEM_COLUMNS, Field, Level, TenantConfig
from steerco.engine import audit, exceptions
from steerco.engine import fieldviews, plan
from steerco.engine.access import Access, Actor, Grant
from steerco.engine.errors import Forbidden, NotFound, SteercoError, StaleRecord, ValidationFailed
from steerco.engine.fieldviews import RecordView
from steerco.engine.forms import LOOKUP_SELECT_MAX, FieldState, Lookups, compute, field_states
from steerco.engine.related import RelatedRecords
from steerco.engine.rules import rule_problems
from steerco.fields import FieldInvalid, FormInput, Upload
from steerco.fields.base import StoreContext
from steerco.store.blobs import BlobStore
from steerco.store.models import (
    Attachment, Membership, NumberCounter, Record, RoleAssignment, User, utcnow,
)

TITLE_MAX = 300
PER_PAGE_MAX = 200


class InvalidQuery(SteercoError):
    """A list request naming a level, stage, field or sort that cannot be used (-> 400)."""

    status = 400
_FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


#: how many records an export reads per statement (keyset pagination)
EXPORT_BATCH = 500
#: an export's batches double from EXPORT_BATCH up to this many records: the statements grow
#: with the logarithm of the list's length (10,000 records: 5 batches, not 20)
EXPORT_BATCH_MAX = 8000
#: how many matches a search-as-you-type answer offers
SEARCH_LIMIT = 20


@dataclass
class Submission:
    """What a form or API call sends for a record.

    ``owner`` is the id of the user who should own the record, or None to leave the owner
    as it is (the creator, for a new record); sending it needs the ``assign_owner`` action.
    """

    title: str | None
    form: FormInput
    uploads: dict[str, list[Upload]] = field(default_factory=dict)
    owner: Any = None
    #: the locale the values were typed in (a browser form: the tenant's, "5.000,50" in
    #: de-DE); None for machine notation ("5000.50": the JSON API, the demo loader)
    locale: str | None = None


@dataclass
class Page:
    items: list[Record]
    total: int
    page: int
    per_page: int
    sort: str
    descending: bool

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _schema_message(error: jsonschema.ValidationError) -> str:
    """jsonschema's findings in words for the person filling the form."""
    value = error.validator_value
    return {
        "maxLength": f"At most {value} characters.",
        "minimum": f"Must be at least {value:,}." if isinstance(value, (int, float)) else "Too small.",
        "maximum": f"Must be at most {value:,}." if isinstance(value, (int, float)) else "Too large.",
        "enum": "Choose one of the offered options.",
        "format": "Enter a valid date (YYYY-MM-DD).",
        "type": "This value has the wrong type.",
        "uniqueItems": "Each option may be chosen once.",
    }.get(str(error.validator), error.message)


_validators: dict[int, tuple[Field, jsonschema.Draft202012Validator, Any]] = {}


def _value_validators(fld: Field) -> tuple[jsonschema.Draft202012Validator, Any]:
    """The field's value schema in python-jsonschema (whose errors we word for people) and
    in jsonschema-rs (which answers "valid?" some 30 times faster; like the configuration's
    check in ``config/schema.py``), both built once per compiled field."""
    hit = _validators.get(id(fld))
    if hit is None or hit[0] is not fld:
        schema = fld.kind.value_schema(fld)
        hit = (fld, jsonschema.Draft202012Validator(schema, format_checker=_FORMAT_CHECKER),
               jsonschema_rs.validator_for(schema, validate_formats=True))
        _validators[id(fld)] = hit
    return hit[1], hit[2]


class Records:
    """Record reads and writes for one actor in one tenant."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access,
                 blobs: BlobStore | None = None, now: dt.datetime | None = None):
        self.session = session
        self.tenant_id = tenant_id
        self.config = config
        self.access = access
        self.blobs = blobs
        self.now = now
        #: a plan change request validates (and its approval writes) frozen or locked cells
        self._protected_allowed = False
        self._protected: dict[str, Any] = {}
        self._locked: frozenset[str] | None = None

    # -- reading ---------------------------------------------------------------------
    def _readable(self):  # type: ignore[no-untyped-def]
        return select(Record).where(Record.tenant_id == self.tenant_id, Record.deleted_at.is_(None),
                                    self.access.read_filter())

    def get(self, record_id: int) -> Record:
        """The record, if it exists in this tenant and the actor may read it; else NotFound."""
        record = self.session.scalar(self._readable().where(Record.id == record_id))
        if record is None or record.level_key not in self.config.levels:
            raise NotFound("no such record")
        return record

    def areas(self) -> list[Record]:
        """The readable records where the actor holds a role: where their work starts,
        when the top of the hierarchy is not theirs to see."""
        ids = {int(g.node_path.strip("/").split("/")[-1]) for g in self.access.actor.grants if g.node_path}
        if not ids:
            return []
        return list(self.session.scalars(self._readable().where(Record.id.in_(ids)).order_by(Record.number)))

    def breadcrumbs(self, record: Record) -> list[Record]:
        """Readable ancestors from the top down, in one query."""
        ids = record.ancestor_ids
        if not ids:
            return []
        found = {r.id: r for r in self.session.scalars(self._readable().where(Record.id.in_(ids)))}
        return [found[i] for i in ids if i in found]

    def _sort_column(self, level: Level, sort: str):  # type: ignore[no-untyped-def]
        if sort in SYSTEM_COLUMNS:
            return {"number": Record.number, "title": Record.title, "owner": Record.owner_id,
                    "stage": Record.stage_key, "updated_at": Record.updated_at}[sort]
        fld = level.field(sort)
        if fld is None or not fld.kind.tabular \
                or not self.access.field_visible_everywhere(fld, level.key):
            return Record.number  # a hidden field must not order rows: the order would tell its values
        return getattr(Record.values[fld.key], f"as_{fld.kind.sort_cast(fld)}")()

    def _queryable(self, level: Level, key: str, *, filtering: bool = False) -> Field | None:
        """The level's field ``key`` if a list may sort (or filter) by it: one value per
        record in its JSON (entered, not computed, to filter) and shown to every role through
        which the actor reads the level, so neither the order nor the matches tell anything
        about a value hidden from them."""
        fld = level.field(key)
        if fld is None or not fld.kind.tabular or (filtering and not fld.kind.accepts_input) \
                or not self.access.field_visible_everywhere(fld, level.key):
            return None
        return fld

    def _sortable(self, level: Level, sort: str) -> bool:
        return sort in SYSTEM_COLUMNS or self._queryable(level, sort) is not None

    def children(self, parent: Record | None, level_key: str, *, top_level: bool | None = None,
                 q: str | None = None, stage: str | None = None, owner_id: int | None = None,
                 filters: Mapping[str, str] | None = None, sort: str = "number",
                 descending: bool = False, page: int = 1, per_page: int = 25) -> Page:
        """One page of the readable records of a level under ``parent`` (top level if None,
        unless ``top_level`` is False: then the whole workspace), matching the search and
        filters given (see :meth:`search`).

        Pages follow links, so an unusable sort falls back to the number instead of failing;
        the page still names the sort that was asked for.
        """
        level = self.config.levels[level_key]
        usable = sort in SYSTEM_COLUMNS or sort in level.list_columns and self._sortable(level, sort)
        found = self.search(level_key, parent=parent, top_level=parent is None if top_level is None else top_level,
                            q=q, stage=stage, owner_id=owner_id, filters=filters,
                            sort=sort if usable else "number", descending=descending,
                            page=page, per_page=per_page)
        return dataclasses.replace(found, sort=sort)

    def search(self, level_key: str, *, parent: Record | None = None, top_level: bool = False,
               q: str | None = None, stage: str | None = None, owner_id: int | None = None,
               filters: Mapping[str, str] | None = None, sort: str = "number",
               descending: bool = False, page: int = 1, per_page: int = 25) -> Page:
        """One page of the readable records of a level that match every condition given.

        It starts from the one read filter, so no list can show a record ``get`` refuses.
        ``parent`` keeps its direct children, ``top_level`` records without a parent, ``q``
        numbers or titles containing it (any case); ``filters`` maps a JSON-stored field to a value
        as typed into its input (parsed by its type; empty means "no value"). A level,
        stage, field or sort that does not exist or is hidden raises InvalidQuery.
        """
        level, query = self.matching(level_key, parent=parent, top_level=top_level, q=q, stage=stage,
                                     owner_id=owner_id, filters=filters, sort=sort)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        column = self._sort_column(level, sort)
        order = column.desc() if descending else column.asc()
        per_page = max(1, min(per_page, PER_PAGE_MAX))
        page = max(1, min(page, max(1, math.ceil(total / per_page))))
        items = list(self.session.scalars(query.order_by(order, Record.id)
                                          .offset((page - 1) * per_page).limit(per_page)))
        return Page(items, total, page, per_page, sort, descending)

    def matching(self, level_key: str, *, parent: Record | None = None, top_level: bool = False,
                 q: str | None = None, stage: str | None = None, owner_id: int | None = None,
                 filters: Mapping[str, str] | None = None, sort: str = "number") -> tuple[Level, Any]:
        """The level and the unordered query of :meth:`search` (see there), for a caller
        that pages it its own way (the API's cursors, :mod:`steerco.engine.cursors`)."""
        level = self.config.levels.get(level_key)
        if level is None:
            raise InvalidQuery(f"unknown level {level_key!r}; levels: {', '.join(self.config.levels)}")
        if not self._sortable(level, sort):
            raise InvalidQuery(f"cannot sort {level.label_plural} by {sort!r}; use one of "
                               f"{', '.join(SYSTEM_COLUMNS)} or a field of the level")
        query = self._readable().where(Record.level_key == level.key, self.conditions(
            level, parent=parent, top_level=top_level, q=q, stage=stage, owner_id=owner_id, filters=filters))
        return level, query

    def count(self, level_key: str, **conditions: Any) -> int:
        """How many readable records of the level match ``conditions`` (those of :meth:`matching`)."""
        _, query = self.matching(level_key, **conditions)
        return self.session.scalar(select(func.count()).select_from(query.subquery())) or 0

    def sort_column(self, level: Level, sort: str):  # type: ignore[no-untyped-def]
        """The SQL expression a list of the level is ordered by for ``sort``."""
        return self._sort_column(level, sort)

    def conditions(self, level: Level, *, parent: Record | None = None, top_level: bool = False,
                   q: str | None = None, stage: str | None = None, owner_id: int | None = None,
                   filters: Mapping[str, str] | None = None) -> ColumnElement[bool]:
        """SQL: the conditions of a list request on a level's records, beyond the read
        filter (which every caller adds): the one place a list's search and filters are
        turned into SQL, so a page, its count and its footer totals select the same rows.
        ``q`` matches a part of the number or the title (any case)."""
        conditions: list[ColumnElement[bool]] = []
        if parent is not None:
            conditions.append(Record.parent_id == parent.id)
        elif top_level:
            conditions.append(Record.parent_id.is_(None))
        if q and q.strip():
            text = q.strip()
            conditions.append(or_(Record.title.icontains(text, autoescape=True),
                                  Record.number.icontains(text, autoescape=True)))
        if stage is not None:
            conditions.append(Record.stage_key == self._stage_of(level, stage))
        if owner_id is not None:
            conditions.append(Record.owner_id == owner_id)
        for key, raw in (filters or {}).items():
            conditions.append(self._equals(level, key, raw))
        return and_(true(), *conditions)

    def filter_fields(self, level: Level) -> list[Field]:
        """The level's choice fields a list may be filtered by (``?field.<key>=``): one
        option per record, stored on it, and shown to every role through which the actor
        reads the level (see :meth:`_queryable`)."""
        return [fld for fld in level.fields if fld.options and fld.kind.expression_type != "list"
                and self._queryable(level, fld.key, filtering=True) is not None]

    def readable_counts(self, *, owned: bool = False) -> dict[str, int]:
        """{level key: how many records the actor may read there (only those they own, if
        ``owned``)}, in one grouped query."""
        query = self._readable().with_only_columns(Record.level_key, func.count())
        if owned:
            query = query.where(Record.owner_id == self.access.actor.user_id)
        rows = self.session.execute(query.group_by(Record.level_key)).all()
        return {key: int(n) for key, n in rows if key in self.config.levels}

    def owned_counts(self) -> dict[str, int]:
        """{level key: how many readable records the actor owns there}, in one query."""
        return self.readable_counts(owned=True)

    def _stage_of(self, level: Level, stage: str) -> str:
        workflow = self.config.workflow_of(level)
        if workflow is None:
            raise InvalidQuery(f"{level.label_plural} have no stages")
        if workflow.stage(stage) is None:
            raise InvalidQuery(f"unknown stage {stage!r}; stages: {', '.join(s.key for s in workflow.stages)}")
        return stage

    def _equals(self, level: Level, key: str, raw: str):  # type: ignore[no-untyped-def]
        """SQL condition: the field's stored value equals ``raw`` parsed by the field's type."""
        fld = self._queryable(level, key, filtering=True)
        if fld is None:
            raise InvalidQuery(f"cannot filter {level.label_plural} by {key!r}; "
                               "use a field of the level that is stored on the record")
        try:
            value = fld.kind.parse(fld, MultiDict([(fld.key, raw)]), {})
        except FieldInvalid as exc:
            raise InvalidQuery(f"field.{key}: {exc}") from None
        if isinstance(value, (list, dict)):
            raise InvalidQuery(f"field.{key} holds several values and cannot be compared for equality")
        column = getattr(Record.values[fld.key], f"as_{fld.kind.sort_cast(fld)}")()
        return column.is_(None) if value is None else column == value

    def stored_values(self, record: Record | None, level: Level, parent: Record | None = None) -> dict[str, Any]:
        """Everything the record holds for its fields: JSON values, time-phased amounts, files;
        and, for expressions, the records around it (``parent.x``, ``children('level')...``),
        read only if an expression asks (``steerco.engine.related``)."""
        related = {RELATED: RelatedRecords(self.session, self.tenant_id, record, parent)}
        if record is None:
            return {**{f.key: f.default for f in level.fields if f.default is not None}, **related}
        return {**self.values_of([record], level)[record.id], **related}

    def values_of(self, records: list[Record], level: Level,
                  only: Iterable[str] | None = None) -> dict[int, dict[str, Any]]:
        """:meth:`stored_values` of many records of one level, in at most three queries,
        so a page of an API list costs the same whatever its length; ``only`` these fields'
        storage outside the JSON is read (a list whose columns need no time-phased amounts
        does not read them)."""
        return load_values(self.session, self.tenant_id, records, level, only)

    # -- the field pipeline ----------------------------------------------------------------
    def views(self, level: Level, records: list[Record],
              values: Mapping[int, Mapping[str, Any]] | None = None) -> dict[int, RecordView]:
        """Every field of each record as the actor sees it (state, value, text), batched:
        see :mod:`steerco.engine.fieldviews`."""
        return fieldviews.record_views(self, level, records, values)

    def view(self, record: Record, values: Mapping[str, Any] | None = None) -> RecordView:
        return fieldviews.record_view(self, record, values)

    def export_rows(self, level_key: str, parent: Record | None = None,
                    batch: int = EXPORT_BATCH) -> Iterator[tuple[Record, RecordView]]:
        """Every readable record of a level under ``parent`` (top level if None), in number
        order, with its view: a keyset-paginated stream of batches that start at ``batch``
        records and double up to :data:`EXPORT_BATCH_MAX` (a fixed number of statements per
        batch, so the same count for any list up to ``batch`` records and a handful more for
        100,000), with at most one batch in memory."""
        level = self.config.levels[level_key]
        for items in self.export_batches(level_key, parent, batch):
            views = self.views(level, items)
            for record in items:
                yield record, views[record.id]

    def export_stream(self, level_key: str, parent: Record | None = None,
                      batch: int | None = None) -> Iterator[list[Record]]:
        """The records of :meth:`export_rows` in number order from ONE statement, read
        ``batch`` (default :data:`EXPORT_BATCH`) at a time through a server-side cursor on
        PostgreSQL (SQLite's cursor reads as it goes): the same statements for 100 records
        as for 100,000, and one batch in memory."""
        level = self.config.levels[level_key]
        query = self._readable().where(Record.level_key == level.key)
        query = query.where(Record.parent_id == parent.id) if parent is not None \
            else query.where(Record.parent_id.is_(None))
        size = batch or EXPORT_BATCH
        result = self.session.scalars(query.order_by(Record.number, Record.id).execution_options(yield_per=size))
        for part in result.partitions(size):
            yield list(part)

    def export_batches(self, level_key: str, parent: Record | None = None,
                       batch: int = EXPORT_BATCH) -> Iterator[list[Record]]:
        """The records of :meth:`export_rows`, batch by batch (keyset pagination on the
        number: each batch an index range, however far into the list)."""
        level = self.config.levels[level_key]
        query = self._readable().where(Record.level_key == level.key)
        query = query.where(Record.parent_id == parent.id) if parent is not None \
            else query.where(Record.parent_id.is_(None))
        after: tuple[str, int] | None = None
        while True:
            page_query = query.order_by(Record.number, Record.id).limit(batch)
            if after is not None:
                page_query = page_query.where((Record.number > after[0]) | (
                    (Record.number == after[0]) & (Record.id > after[1])))
            items = list(self.session.scalars(page_query))
            if not items:
                return
            yield items
            if len(items) < batch:
                return
            after = (items[-1].number, items[-1].id)
            batch = min(batch * 2, max(batch, EXPORT_BATCH_MAX))

    def attachments(self, record: Record) -> list[Attachment]:
        return list(self.session.scalars(select(Attachment).where(
            Attachment.tenant_id == self.tenant_id, Attachment.record_id == record.id,
            Attachment.deleted_at.is_(None)).order_by(Attachment.id)))

    def attachment(self, attachment_id: int) -> tuple[Attachment, bytes]:
        """An attachment's metadata and bytes, if the actor may see its record and field."""
        att = self.session.scalar(select(Attachment).where(
            Attachment.id == attachment_id, Attachment.tenant_id == self.tenant_id,
            Attachment.deleted_at.is_(None)))
        if att is None:
            raise NotFound("no such attachment")
        record = self.get(att.record_id)
        level = self.config.levels[record.level_key]
        fld = level.field(att.field_key)
        if fld is None or self.access.field_mode(fld, record, level.key) == "hidden":
            raise NotFound("no such attachment")
        assert self.blobs is not None
        return att, self.blobs.get(self.tenant_id, att.storage_key)

    def lookups(self, level: Level, *, owner: bool = False) -> Lookups:
        """Choices for the level's user and reference fields (and the owner, if ``owner``):
        a select's worth at most per source; a larger source is left to the search."""
        lookups = Lookups()
        kinds = {getattr(f.kind, "lookup", None) for f in level.fields}
        if "users" in kinds or owner:
            rows = self.session.execute(self._members().with_only_columns(User.id, User.name)
                                        .order_by(User.name).limit(LOOKUP_SELECT_MAX + 1)).all()
            lookups.users = [(i, n) for i, n in rows] if len(rows) <= LOOKUP_SELECT_MAX else None
        for fld in level.fields:
            if getattr(fld.kind, "lookup", None) == "records" and fld.target_level:
                rows = self.session.execute(
                    self._readable().with_only_columns(Record.id, Record.number, Record.title)
                    .where(Record.level_key == fld.target_level).order_by(Record.number)
                    .limit(LOOKUP_SELECT_MAX + 1)).all()
                lookups.records[fld.target_level] = [(i, f"{n} {t}") for i, n, t in rows] \
                    if len(rows) <= LOOKUP_SELECT_MAX else None
        return lookups

    def _members(self):  # type: ignore[no-untyped-def]
        """Active members of the workspace (the people a user field or an owner may name)."""
        return select(User).join(Membership, Membership.user_id == User.id).where(
            Membership.tenant_id == self.tenant_id, Membership.is_active, User.is_active)

    def search_choices(self, source: str, target_level: str | None, text: str) -> list[tuple[int, str]]:
        """Search-as-you-type for a lookup: up to :data:`SEARCH_LIMIT` active members whose
        name contains ``text`` (``source`` "users"), or readable records of ``target_level``
        whose number or title contains it (``source`` "records")."""
        text = (text or "").strip()
        if source == "users":
            query = self._members().with_only_columns(User.id, User.name).order_by(User.name)
            if text:
                query = query.where(User.name.icontains(text, autoescape=True))
            return [(i, n) for i, n in self.session.execute(query.limit(SEARCH_LIMIT)).all()]
        query = self._readable().with_only_columns(Record.id, Record.number, Record.title) \
            .where(Record.level_key == target_level).order_by(Record.number)
        if text:
            query = query.where(Record.title.icontains(text, autoescape=True)
                                | Record.number.icontains(text, autoescape=True))
        return [(i, f"{n} {t}") for i, n, t in self.session.execute(query.limit(SEARCH_LIMIT)).all()]

    def _lookup_problem(self, fld: Field, value: Any) -> str | None:
        """A chosen user or record checked on its own, in one query: an active member, or a
        record of the target level the actor may read. No list of choices, so no cap."""
        source = getattr(fld.kind, "lookup", None)
        if source == "users":
            found = self.session.scalar(self._members().with_only_columns(User.id).where(User.id == value))
        elif source == "records":
            found = self.session.scalar(self._readable().with_only_columns(Record.id).where(
                Record.id == value, Record.level_key == fld.target_level))
        else:
            return None
        return None if found is not None else "Choose one of the offered entries."

    def states(self, level: Level, values: Mapping[str, Any], record: Record | None,
               stage: str | None, title: str, parent: Record | None = None) -> dict[str, FieldState]:
        return field_states(self.config, level, values, stage=stage, title=title,
                            access=self.access, record=record, parent=parent,
                            today=(self.now or utcnow()).date())

    # -- validation ----------------------------------------------------------------------
    def _validate(self, level: Level, submission: Submission, record: Record | None,
                  stage: str | None, parent: Record | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Parse and check a submission; returns (changes, submitted) or raises ValidationFailed.

        ``changes`` holds the values of the fields the actor may edit in the state the
        submission leaves the record in; ``submitted`` is everything typed, for re-display.
        """
        current = self.stored_values(record, level, parent)
        parsed, submitted, errors = self._parse(level, submission)
        title = (submission.title or "").strip()
        candidate = {**current, **{k: v for k, v in parsed.items() if k not in errors}}
        states = self.states(level, candidate, record, stage, title, parent)
        if record is not None and title != record.title and not self.access.roles_allowing(
                "update", level.key, record):
            # A field override lets a role change that field, not the record's title.
            errors["title"] = "You may only read this field; your change was not applied."
        changes: dict[str, Any] = {}
        for fld in level.fields:
            state = states[fld.key]
            if fld.key in errors:
                continue
            if fld.key in parsed and not state.editable:
                # A field hidden by a condition is ignored (the browser still posts it);
                # a change to a field the actor may not write is refused, never dropped quietly.
                # A field hidden from the actor is never in their form: posting it at all is
                # refused, whatever the value, so a refusal cannot confirm a guess of it.
                if state.mode == "hidden":
                    errors["_form"] = "The form contained a field you may not change; nothing was saved."
                elif state.visible and fld.kind.differs(parsed[fld.key], current.get(fld.key)):
                    errors[fld.key] = "You may only read this field; your change was not applied."
                continue
            if not state.editable:
                continue
            value = fld.kind.after_submit(current.get(fld.key), parsed[fld.key]) if fld.key in parsed \
                else current.get(fld.key)
            empty = not fld.kind.is_filled(value)
            if state.required and empty:
                errors[fld.key] = "Required."
                continue
            if fld.key not in parsed or empty:
                if fld.key in parsed:
                    changes[fld.key] = parsed[fld.key]
                continue
            problem = self._schema_problem(fld, value) or fld.kind.check(fld, value, self.config)
            if problem is None and value != current.get(fld.key):
                # An unchanged choice stays valid even when the actor cannot read its target.
                problem = self._lookup_problem(fld, value)
            if problem:
                errors[fld.key] = problem
            else:
                changes[fld.key] = parsed[fld.key]
        grid_errors, self._protected = plan.cell_problems(
            self.config, level, record, stage, self.locked_periods(), current,
            {k: v for k, v in changes.items() if k in parsed}, protected_allowed=self._protected_allowed)
        errors.update(grid_errors)
        if not errors:  # the level's cross-field rules, on what the save would leave
            after = {**current, **{key: level.field(key).kind.after_submit(current.get(key), value)  # type: ignore[union-attr]
                                   for key, value in changes.items()}}
            errors.update(rule_problems(level, after, (self.now or utcnow()).date(),
                                        stage=stage, title=title, before=None if record is None else current,
                                        shown={k for k, s in states.items() if s.visible}))
        owner_problem = self._owner_problem(level, submission.owner, record, parent)
        if owner_problem:
            errors["owner"] = owner_problem
        if errors:
            raise ValidationFailed(errors, {**submitted, **({"_owner": submission.owner}
                                                            if submission.owner is not None else {})})
        return changes, submitted

    # -- ownership -------------------------------------------------------------------------
    def _owner_problem(self, level: Level, owner: Any, record: Record | None,
                       parent: Record | None) -> str | None:
        """Why ``owner`` may not (become) the record's owner, or None.

        Choosing the owner needs the ``assign_owner`` action at the record (or, for a new
        record, at its place). The new owner must be an active member of the workspace who
        may read the record once they own it, so that an "own"-scoped role follows them.
        """
        if owner is None or (record is not None and owner == record.owner_id):
            return None
        if not self.may_assign_owner(level, record, parent):
            return "You may not choose the owner here."
        if isinstance(owner, bool) or not isinstance(owner, int) or owner < 1:
            return "Choose a member of the workspace."
        candidate = self.member_actor(owner)
        if candidate is None:
            return "Choose an active member of the workspace."
        place = record.path if record is not None else f"{parent.path if parent else '/'}0/"
        probe = Record(id=record.id if record is not None else 0, path=place, owner_id=owner,
                       level_key=level.key)
        if not Access(self.config, candidate).can("read", level.key, probe):
            return f"{candidate.name} may not read this {level.label.lower()}; choose someone who may."
        return None

    def may_assign_owner(self, level: Level, record: Record | None, parent: Record | None = None) -> bool:
        """May the actor choose the owner of ``record`` (of a new record under ``parent``)?
        A new record is judged at its place, owned by its creator until they choose."""
        if record is None:
            record = Record(id=0, path=f"{parent.path if parent else '/'}0/", owner_id=self.access.actor.user_id,
                            level_key=level.key)
        return self.access.can("assign_owner", level.key, record)

    def member_actor(self, user_id: int) -> Actor | None:
        """An active member of the workspace as an actor (their roles), or None."""
        user = self.session.scalar(self._members().where(User.id == user_id))
        if user is None:
            return None
        rows = self.session.execute(
            select(RoleAssignment.role_key, RoleAssignment.node_id, Record.path)
            .outerjoin(Record, (Record.id == RoleAssignment.node_id) & (Record.tenant_id == self.tenant_id))
            .where(RoleAssignment.tenant_id == self.tenant_id, RoleAssignment.user_id == user_id)).all()
        return Actor(user.id, user.name, tuple(Grant(role, path) for role, node_id, path in rows
                                                if node_id is None or path is not None))

    def _parse(self, level: Level, submission: Submission) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
        """Each posted field parsed by its type: (values, everything typed, parse errors)."""
        submitted: dict[str, Any] = {"title": submission.title or ""}
        errors: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        title = (submission.title or "").strip()
        if not title:
            errors["title"] = "Required."
        elif len(title) > TITLE_MAX:
            errors["title"] = f"At most {TITLE_MAX} characters."
        # A field is posted under its key or as ``key.<part>`` (a grid's cells): the part of
        # each input name before its first dot, once, rather than every name per field.
        posted_keys = {name.split(".", 1)[0] for name in submission.form.keys()} \
            if hasattr(submission.form, "keys") else set()
        for fld in level.fields:
            posted = fld.key in posted_keys or fld.key in submission.uploads
            if not posted or not fld.kind.accepts_input:
                continue
            try:
                parsed[fld.key] = fld.kind.parse(fld, submission.form, submission.uploads, submission.locale)
            except FieldInvalid as exc:
                errors[fld.key] = str(exc)
                # A grid names its bad cells (input names, distinct from field keys), so
                # the form marks only them and shows every typed cell again.
                errors.update(exc.inputs)
                if exc.typed is not None:
                    submitted[fld.key] = exc.typed
                    continue
                raw = submission.form.getlist(fld.key) if hasattr(submission.form, "getlist") else []
                submitted[fld.key] = raw[0] if len(raw) == 1 else (raw or None)
        submitted.update({k: v for k, v in parsed.items() if k not in submitted})
        return parsed, submitted, errors

    def preview(self, level: Level, submission: Submission, record: Record | None,
                parent: Record | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        """The values as typed so far and what is wrong with them, without saving.

        Used for inline validation while the user types: it runs the same checks as a
        save but leaves out "Required." for fields not filled in yet.
        """
        workflow = self.config.workflow_of(level)
        stage = record.stage_key if record else (workflow.initial_stage if workflow else None)
        errors: dict[str, str] = {}
        try:
            self._validate(level, submission, record, stage, parent)
        except ValidationFailed as failed:
            errors = {k: v for k, v in failed.errors.items() if v != "Required."}
        current = self.stored_values(record, level, parent)
        _, submitted, _ = self._parse(level, submission)
        return {**current, **submitted}, errors

    @staticmethod
    def _schema_problem(fld: Field, value: Any) -> str | None:
        worded, fast = _value_validators(fld)
        if fast.is_valid(value):
            return None
        error = next(iter(worded.iter_errors(value)), None)
        # Refused either way: the two libraries' formats could differ on an odd value.
        return _schema_message(error) if error else "This value is not valid here."

    # -- writing -------------------------------------------------------------------------
    def _next_number(self, level: Level) -> str:
        counter = self.session.get(NumberCounter, (self.tenant_id, level.key), with_for_update=True)
        if counter is None:
            counter = NumberCounter(tenant_id=self.tenant_id, level_key=level.key, last=0)
            self.session.add(counter)
        counter.last += 1
        self.session.flush()
        return f"{level.number_prefix}-{counter.last:0{level.number_digits}d}"

    def create(self, level_key: str, parent: Record | None, submission: Submission) -> Record:
        """Validate and store a new record under ``parent``; one audit event."""
        level = self.config.levels.get(level_key)
        if level is None:
            raise NotFound("no such level")
        if parent is None and not level.is_root or parent is not None and parent.level_key not in level.parents:
            raise Forbidden(f"a {level.label} cannot be created here")
        decision = self.access.decide("create", level_key, parent=parent)
        if not decision:
            raise Forbidden(decision.reason)
        workflow = self.config.workflow_of(level)
        stage = workflow.initial_stage if workflow else None
        changes, _ = self._validate(level, submission, None, stage, parent)
        now = self.now or utcnow()
        title = (submission.title or "").strip()
        owner = submission.owner if submission.owner is not None else self.access.actor.user_id
        record = Record(
            tenant_id=self.tenant_id, level_key=level.key, parent_id=parent.id if parent else None,
            number=self._next_number(level), title=title, path="",
            owner_id=owner, stage_key=stage, values={},
            config_version=self.config.version, created_at=now, updated_at=now,
            created_by_id=self.access.actor.user_id, updated_by_id=self.access.actor.user_id,
            depth=(parent.depth + 1) if parent else 0,
        )
        defaults = {f.key: f.default for f in level.fields if f.default is not None}
        statuses = {d.key: d.default for d in self.config.status_dimensions.values()
                    if level.key in d.levels and d.default is not None}
        changes = {**defaults, **statuses, **changes}
        diff = self._apply_values(level, record, changes, {},
                                  {RELATED: RelatedRecords(self.session, self.tenant_id, None, parent)})
        # Statuses without a field of their name live in the values all the same.
        record.values = {**{k: v for k, v in statuses.items() if level.field(k) is None}, **(record.values or {})}
        self.session.add(record)
        self.session.flush()
        # The path holds the record's own id, known only now; writing it is not an edit,
        # so it bypasses the version counter and a new record starts at version 1.
        path = f"{parent.path if parent else '/'}{record.id}/"
        self.session.execute(update(Record).where(Record.id == record.id).values(path=path))
        set_committed_value(record, "path", path)
        diff.update(self._apply_related(level, record, changes))
        if owner != self.access.actor.user_id:
            diff["owner"] = [None, owner]
        self.session.flush()
        audit.append(self.session, tenant_id=self.tenant_id, user_id=self.access.actor.user_id,
                     kind="record.created", record_id=record.id,
                     data={"level": level.key, "number": record.number, "title": record.title, "changes": diff},
                     now=now)
        # a workflow that starts at a plan-freezing stage keeps the plan as entered now
        plan.freeze(self.session, self.tenant_id, self.config, record, self.access.actor.user_id, now)
        self.review_exceptions(record)
        return record

    def review_exceptions(self, record: Record) -> None:
        """The exception rules look at the record after each change (engine/exceptions.py)."""
        if exceptions.watches(self.config, record.level_key):
            exceptions.review(self.session, self.tenant_id, self.config, record,
                              self.stored_values(record, self.config.levels[record.level_key]),
                              self.access.actor.user_id, self.now or utcnow())

    def update(self, record: Record, submission: Submission, expected_version: int | None) -> Record:
        """Validate and apply a submission to ``record``, refusing a stale form with 409."""
        level = self.config.levels[record.level_key]
        decision = self.access.decide("update", level.key, record)
        if not decision:
            raise Forbidden(decision.reason)
        if expected_version is not None and expected_version != record.version:
            raise StaleRecord(record.version, self._resubmission(level, submission))
        changes, submitted = self._validate(level, submission, record, record.stage_key)
        before = dict(record.values or {})
        # what computed fields may read besides the JSON: grids, files, the records around
        context = self.stored_values(record, level) if level.computed_order else {}
        title = (submission.title or "").strip()
        # No autoflush while the changes are applied: the grid's query would otherwise write
        # the record early, so one save counted as two versions, and a concurrent save
        # surfaced there as an unhandled StaleDataError instead of the 409 below.
        renamed = [record.title, title] if title != record.title else None
        record.title = title  # before computing, so that expressions reading the title see the new one
        with self.session.no_autoflush:
            diff = self._apply_values(level, record, changes, before, context)
            diff.update(self._apply_related(level, record, changes))
        if renamed:
            diff["title"] = renamed
        if submission.owner is not None and submission.owner != record.owner_id:
            # "own" scope follows the owner: from now on the new owner's own-scoped roles apply.
            diff["owner"] = [record.owner_id, submission.owner]
            record.owner_id = submission.owner
        if not diff:
            return record
        record.updated_at = self.now or utcnow()
        record.updated_by_id = self.access.actor.user_id
        record.config_version = self.config.version
        try:
            self.session.flush()
        except StaleDataError:
            # Another transaction saved first; this session must be rolled back by the caller,
            # so nothing more is read from it here.
            raise StaleRecord(expected_version or 0, self._resubmission(level, submission)) from None
        # What a waiting request's approvers decide on may not change under them (refused,
        # or their votes voided): the workflow decides, on every save. Imported here, as the
        # workflow reads records through this module.
        from steerco.engine.approvals import on_record_change
        on_record_change(self, record, diff, submitted)
        audit.append(self.session, tenant_id=self.tenant_id, user_id=self.access.actor.user_id,
                     kind="record.updated", record_id=record.id, data={"changes": diff},
                     now=self.now)
        self.review_exceptions(record)
        return record

    def locked_periods(self) -> frozenset[str]:
        """The tenant's locked reporting periods (read once per service)."""
        if self._locked is None:
            from steerco.engine.periods import locked_periods

            self._locked = locked_periods(self.session, self.tenant_id)
        return self._locked

    def protected_changes(self, level: Level, submission: Submission, record: Record) -> dict[str, Any]:
        """The frozen-plan and locked-period cells ``submission`` changes, validated as a
        save would be (``ValidationFailed`` otherwise): what a plan change request carries."""
        self._protected_allowed = True
        try:
            self._validate(level, submission, record, record.stage_key)
            return dict(self._protected)
        finally:
            self._protected_allowed = False

    def apply_approved(self, record: Record, cells: Mapping[str, Any]) -> dict[str, Any]:
        """Write an approved plan change's grid cells ({field: {scenario: {period: amount}}})
        with everything a save does after validation (computed fields, version, exception
        review); the approval stands in for the field checks. {key: [old, new]}."""
        level = self.config.levels[record.level_key]
        changes = {k: v for k, v in cells.items() if level.field(k) is not None}
        before = dict(record.values or {})
        context = self.stored_values(record, level)
        with self.session.no_autoflush:
            diff = self._apply_values(level, record, changes, before, context)
            diff.update(self._apply_related(level, record, changes))
        if diff:
            record.updated_at = self.now or utcnow()
            record.updated_by_id = self.access.actor.user_id
            self.session.flush()
            audit.append(self.session, tenant_id=self.tenant_id, user_id=self.access.actor.user_id,
                         kind="record.updated", record_id=record.id, data={"changes": diff}, now=self.now)
            self.review_exceptions(record)
        return diff

    def _resubmission(self, level: Level, submission: Submission) -> dict[str, Any]:
        """What the user typed, to show again with a refusal (parsing only, no queries)."""
        return self._parse(level, submission)[1]

    def _apply_values(self, level: Level, record: Record, changes: Mapping[str, Any],
                      before: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write changes of JSON-stored fields and recompute computed ones; {field: [old, new]}."""
        values = dict(record.values or {})
        diff: dict[str, Any] = {}
        for fld in level.fields:
            if fld.key in changes:
                diff.update(fld.kind.write_value(fld, values, changes[fld.key]))
        # Computed fields may read values kept outside the JSON too (a grid's total): as
        # the save leaves them, though only the computed results are written here.
        context = context or {}
        elsewhere = {fld.key: fld.kind.after_submit(context.get(fld.key), changes[fld.key]) if fld.key in changes
                     else context.get(fld.key) for fld in level.fields if fld.kind.storage in ("periods", "attachments")}
        related = {RELATED: context[RELATED]} if RELATED in context else {}
        values.update(compute(level, {**values, **elsewhere, **related}, record.stage_key, record.title,
                              (self.now or utcnow()).date()))
        for fld in level.computed_order:
            if fld.key in before and before.get(fld.key) != values.get(fld.key):
                diff[fld.key] = [before.get(fld.key), values.get(fld.key)]
        if values != (record.values or {}):
            record.values = values
        return diff

    def _apply_related(self, level: Level, record: Record, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Write the values that live in tables of their own (time-phased amounts, files):
        each field type writes its own, once the record has an id."""
        context = StoreContext(self.session, self.tenant_id, self.access.actor.user_id,
                               frozenset(p.key for p in self.config.periods), self.blobs)
        diff: dict[str, Any] = {}
        for fld in level.fields:
            if fld.key in changes:
                diff.update(fld.kind.write_related(context, record, fld, changes[fld.key]))
        return diff


def load_values(session: Session, tenant_id: int, records: list[Record], level: Level,
                only: Iterable[str] | None = None) -> dict[int, dict[str, Any]]:
    """Everything records of one level hold for their fields (JSON values, time-phased
    amounts, files), whoever reads them: one query per kind of storage outside the JSON
    (only for the fields ``only`` names, when given)."""
    found = {r.id: dict(r.values or {}) for r in records}
    if not found:
        return found
    keys = None if only is None else set(only)
    for loader in dict.fromkeys(f.kind.loader for f in level.fields
                                if f.kind.loader and (keys is None or f.key in keys)):
        loader(session, tenant_id, found)  # type: ignore[misc]
    return found
