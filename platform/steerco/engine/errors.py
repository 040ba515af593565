"""The engine's errors: one hierarchy, each carrying what the user needs to know.

    SteercoError
    ├── NotFound          the thing does not exist for this user in this tenant (-> 404)
    ├── Forbidden         the user may see it but not do this (-> 403), with a reason
    ├── ValidationFailed  bad input: a message per field, and the user's values to re-show
    ├── StaleRecord       the record changed since the form was opened (-> 409)
    ├── Conflict          the action no longer fits the record's state: an approval decided
    │                     already, a request in flight already (-> 409)
    └── GateNotMet        a transition's criteria do not hold; carries what is missing (-> 422)

The web layer maps each class to an answer once; views do not catch them one by one.
"""

from __future__ import annotations

from typing import Any, Mapping


class SteercoError(Exception):
    """Base of every error the engine raises on purpose."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(SteercoError):
    status = 404


class Forbidden(SteercoError):
    status = 403


class ValidationFailed(SteercoError):
    """``errors`` maps a field key (or ``title``, ``owner``, ``_form``) to a message."""

    status = 422

    def __init__(self, errors: Mapping[str, str], submitted: Mapping[str, Any] | None = None):
        super().__init__("Please correct the marked fields.")
        self.errors = dict(errors)
        self.submitted = dict(submitted or {})


class StaleRecord(SteercoError):
    status = 409

    def __init__(self, current_version: int, submitted: Mapping[str, Any] | None = None):
        super().__init__(
            "Someone else saved this record after you opened it. Nothing was overwritten: "
            "your entries are shown below; reload the record to see the current values."
        )
        self.current_version = current_version
        self.submitted = dict(submitted or {})


class Conflict(SteercoError):
    status = 409


class GateNotMet(SteercoError):
    """``missing`` lists the unmet criteria (each with a field key where one applies)."""

    status = 422

    def __init__(self, message: str, missing: list[Any]):
        super().__init__(message)
        self.missing = list(missing)
