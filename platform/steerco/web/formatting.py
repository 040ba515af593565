"""Days and moments on pages, in the workspace's locale and time zone (template filters).

Field values are formatted by their types (``steerco.fields``); these are the dates and
times that belong to no field: when a request was made, a delegation's days, a version's
activation. Stored times are naive UTC; they are shown in ``tenant.json``'s ``timezone``.
"""

from __future__ import annotations

import datetime as dt

from flask import g

from steerco.fields.display import Formatter


def _formatter() -> Formatter:
    config = getattr(g, "config", None)
    return Formatter(config.locale, config.currency, config.timezone) if config is not None else Formatter()


def day(value: dt.date | None, for_input: bool = False) -> str:
    """Template filter: a day as the workspace's locale writes it (``for_input``: the short
    form a person types, ``31.03.2027``; else ``31.03.2027`` / ``31 Mar 2027``)."""
    if value is None:
        return ""
    return _formatter().date_input(value) if for_input else _formatter().date(value)


def moment(value: dt.datetime | None, with_time: bool = True) -> str:
    """Template filter: a stored (UTC) moment in the workspace's locale and time zone;
    outside a workspace (account pages) in UTC, saying so."""
    if value is None:
        return ""
    if getattr(g, "config", None) is None:
        return Formatter("en-GB").moment(value, with_time) + (" UTC" if with_time else "")
    return _formatter().moment(value, with_time)
