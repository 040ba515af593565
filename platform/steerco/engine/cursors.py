"""Cursor pagination: a list read page after page by keyset, stable while records change.

A page number counts rows (``OFFSET``): a record created or deleted between two pages
shifts every later one, so a script walking a list sees one twice or misses one, and a
deep page costs the rows before it. A cursor instead names the last row of the page
before: its sort value and id. The next page is the rows after it in one fixed order,
the sort value (ascending or descending, empty values where the database puts them)
then the id, the order of a page by number too, so each row has one place whatever
changes around it. The cursor is opaque to the client (URL-safe base64 of a small JSON object)
and remembers the sort it was made for; one for another sort is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_

from steerco.engine.records import PER_PAGE_MAX, InvalidQuery, Records
from steerco.store.models import Record


@dataclass(frozen=True)
class CursorPage:
    """One page of a list, and the cursor of the next one (None at the end)."""

    items: list[Record]
    next_cursor: str | None


def encode(sort: str, descending: bool, value: Any, record_id: int) -> str:
    """The opaque cursor after a row with sort ``value`` and id ``record_id``."""
    if isinstance(value, dt.datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps({"s": sort, "d": descending, "v": value, "i": record_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sort: str, descending: bool) -> tuple[Any, int]:
    """(sort value, id) of a cursor made for this sort and direction; InvalidQuery otherwise."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, record_id = data["v"], data["i"]
        if data["s"] != sort or data["d"] is not descending:
            raise InvalidQuery("this cursor belongs to a list in another order; start again without it")
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise ValueError
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["dt"])
        elif isinstance(value, list):
            raise ValueError
        return value, record_id
    except InvalidQuery:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidQuery("cursor is not one this API gave out; use next_cursor of the previous page") from None


def page(records: Records, level_key: str, *, cursor: str | None = None, sort: str = "number",
         descending: bool = False, limit: int = 25, **conditions: Any) -> CursorPage:
    """One page of the readable records of a level matching ``conditions`` (those of
    :meth:`Records.search`), after ``cursor``: one statement, whatever the depth."""
    level, query = records.matching(level_key, sort=sort, **conditions)
    column = records.sort_column(level, sort)
    limit = max(1, min(limit, PER_PAGE_MAX))
    nulls_first = _nulls_first(records, descending)
    if cursor:
        value, after_id = decode(cursor, sort, descending)
        if not _fits(column, value):
            raise InvalidQuery("cursor is not one this API gave out; use next_cursor of the previous page")
        query = query.where(_after(column, value, after_id, descending, nulls_first))
    order = column.desc() if descending else column.asc()
    rows = records.session.execute(query.add_columns(column.label("sort_value"))
                                   .order_by(order, Record.id).limit(limit + 1)).all()
    items = [row[0] for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last_value, last = rows[limit - 1][1], rows[limit - 1][0]
        next_cursor = encode(sort, descending, last_value, last.id)
    return CursorPage(items, next_cursor)


def _fits(column: Any, value: Any) -> bool:
    """Is ``value`` of the column's type (so a forged cursor cannot reach the database
    driver with text where a number belongs)?"""
    if value is None:
        return True
    try:
        expected = column.type.python_type
    except NotImplementedError:
        return isinstance(value, str)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _nulls_first(records: Records, descending: bool) -> bool:
    """Where the database puts empty sort values: SQLite takes NULL as the smallest value,
    PostgreSQL as the largest. Pages keep the database's own order, the same as a page by
    number (:meth:`Records.search`), so both ways of paging list records alike."""
    smallest = records.session.get_bind().dialect.name == "sqlite"
    return smallest != descending


def _after(column: Any, value: Any, after_id: int, descending: bool,  # type: ignore[no-untyped-def]
           nulls_first: bool):
    """Rows after (``value``, ``after_id``) in the order ``column`` (ascending or
    descending, empty values first or last), then id ascending."""
    if value is None:
        same = and_(column.is_(None), Record.id > after_id)
        return or_(same, column.is_not(None)) if nulls_first else same
    beyond = column < value if descending else column > value
    condition = or_(beyond, and_(column == value, Record.id > after_id))
    return condition if nulls_first else or_(condition, column.is_(None))
