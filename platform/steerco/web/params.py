"""Object ids from URLs, query strings and forms, bounded to what the database can hold.

Ids are INTEGER columns: 32-bit signed on PostgreSQL (64-bit on SQLite). A larger number
makes the driver or the database raise (SQLite: ``OverflowError``, PostgreSQL: "out of
range for type integer") before any row is found, which would answer 500.
Ids start at 1, so 0 and negative numbers cannot name an object either. Both kinds of
number are therefore refused where they enter: in a route (:class:`IdConverter`, installed
for ``<int:...>`` by the app factory, so such a URL is a plain 404) and in a query or form
argument (:func:`id_arg`, as ``type=`` of ``request.args.get``/``request.form.get``, so
the argument counts as absent).
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

#: the largest id an INTEGER column holds on PostgreSQL (the smaller of our databases)
ID_MAX = 2**31 - 1
ID_MIN = 1


def digits_up_to(maximum: int) -> str:
    """A regex for the decimal numbers 1..``maximum`` (ASCII digits, no leading zero).

    Numbers shorter than ``maximum``, then, digit by digit, those that share its first
    digits and are lower at the next one, then ``maximum`` itself.
    """
    digits = str(maximum)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low, high = (1 if i == 0 else 0), int(digit) - 1
        if high >= low:
            rest = len(digits) - i - 1
            alternatives.append(f"{digits[:i]}[{low}-{high}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class IdConverter(IntegerConverter):
    """``<int:...>`` limited to 1..ID_MAX unless a rule asks for other bounds.

    The bounds are part of the regex, not only of :meth:`to_python`: werkzeug answers a
    path that matched a rule's regex but failed its conversion with 405 when another rule
    with other methods has the same path (PATCH /records/<huge> -> "405, Allow: GET"),
    where 404 is the truth. ``to_python`` keeps the check for any other bounds.
    """

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = ID_MIN,  # noqa: A002
                 max: int | None = ID_MAX, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
        if not signed and not fixed_digits and (min or 0) >= 1 and max is not None and max >= 1:
            self.regex = digits_up_to(max)


def is_id(value: Any) -> bool:
    """Is ``value`` an int (not a bool) that can name a stored object?"""
    return isinstance(value, int) and not isinstance(value, bool) and ID_MIN <= value <= ID_MAX


def id_arg(value: str) -> int:
    """An id from a query string or form: ``type=id_arg`` makes anything else the default.

    Raises ValueError (which werkzeug's ``get(..., type=...)`` turns into the default) for
    text that is no whole number, or a number outside 1..ID_MAX.
    """
    # Plain ASCII digits only: int() would also take "+1", " 1", "1_0" and other scripts' digits.
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19):
        raise ValueError(f"not an id: {value!r}")
    number = int(value)
    if not ID_MIN <= number <= ID_MAX:
        raise ValueError(f"id out of range: {value!r}")
    return number
