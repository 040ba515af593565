"""Tenant-prefixed blueprints: ``/t/<tenant>/…`` resolves the tenant, its compiled
configuration and the actor once per request, before any view runs.

A user who is not a member of the tenant gets the same 404 as for a tenant that does not
exist, so workspace names do not leak.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g
from flask_login import current_user

from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records
from steerco.web.extensions import db, login_manager


def tenant_blueprint(name: str, import_name: str, prefix: str = "/t/<tenant>") -> Blueprint:
    bp = Blueprint(name, import_name, url_prefix=prefix)

    @bp.url_value_preprocessor
    def _pull_tenant(endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.tenant_slug = (values or {}).pop("tenant", None)

    @bp.url_defaults
    def _add_tenant(endpoint: str, values: dict[str, Any]) -> None:
        if "tenant" not in values and getattr(g, "tenant_slug", None):
            values["tenant"] = g.tenant_slug

    @bp.before_request
    def _resolve_tenant():  # type: ignore[no-untyped-def]
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        g.tenant = tenants.tenant_by_slug(db.session, g.tenant_slug)
        g.actor = tenants.actor_for(db.session, g.tenant, current_user.user)
        g.config = tenants.active_config(db.session, g.tenant)
        g.access = Access(g.config, g.actor)
        return None

    return bp


def records_service() -> Records:
    """The engine's record service for this request's tenant and actor."""
    return Records(db.session, g.tenant.id, g.config, g.access, current_app.extensions["steerco.blobs"])
