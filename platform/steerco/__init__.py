"""Steerco: a generic engine that turns a tenant's JSON configuration into a governed workspace.

The package is split so that the engine stays free of the web framework:

- ``steerco.config``  loads, validates and compiles tenant configuration (no Flask);
- ``steerco.fields``  the registry of field types (no Flask);
- ``steerco.store``   SQLAlchemy models (plain SQLAlchemy, no Flask);
- ``steerco.engine``  records, access, field state (no Flask);
- ``steerco.web``     thin Flask blueprints around all of the above.

``create_app`` lives in :mod:`steerco.web.app` and is re-exported here for ``flask --app``.
"""

from __future__ import annotations


def create_app(settings: dict | None = None):  # type: ignore[no-untyped-def]
    """Build the Flask application (imported lazily so the engine never pulls in Flask)."""
    from steerco.web.app import create_app as _create_app

    return _create_app(settings)
