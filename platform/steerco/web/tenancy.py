"""Tenant-prefixed blueprints: ``/t/<tenant>/…`` resolves the tenant, its compiled
configuration and the actor once per request, before any view runs.

A user who is not a member of the tenant gets the same 404 as for a tenant that does not
exist, so workspace names do not leak. How the user is known is the blueprint's choice:
the HTML pages use the login session, the JSON API a bearer token; everything after
that (tenant, actor, configuration, access) is resolved by the same code.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, current_app, g
from flask.typing import ResponseReturnValue
from flask_login import current_user

from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.records import Records
from steerco.engine.rollups import Rollups
from steerco.store import locks, scoping  # noqa: F401 - locks: writes lock their tenant first
from steerco.store.models import User
from steerco.web.extensions import db, login_manager

#: who is asking, or None when the request does not say (or says it wrongly)
Authenticator = Callable[[], User | None]


def session_user() -> User | None:
    """The user logged in with the session cookie (the HTML pages)."""
    return current_user.user if current_user.is_authenticated else None


def tenant_blueprint(name: str, import_name: str, prefix: str = "/t/<tenant>", *,
                     authenticate: Authenticator = session_user,
                     unauthorized: Callable[[], ResponseReturnValue] = lambda: login_manager.unauthorized(),
                     ) -> Blueprint:
    """A blueprint whose views find ``g.tenant``, ``g.actor``, ``g.config``, ``g.access``
    (and ``g.user``) ready. ``authenticate`` names the user; when it gives None the
    request is answered by ``unauthorized`` (the login redirect unless told otherwise)."""
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
        user = authenticate()
        if user is None:
            return unauthorized()
        g.user = user
        # Tenant, membership and roles in one statement. Membership is checked on every
        # request: a member deactivated in this workspace is refused here at once (the same
        # 404 as for no workspace), without ending their sessions in other workspaces.
        g.tenant, g.actor = tenants.resolve(db.session, g.tenant_slug, user)
        g.tenant_id = g.tenant.id  # also binds sessions opened later in the request (extensions.py)
        scoping.bind_to_tenant(db.session, g.tenant.id)  # from here on, no query sees another tenant
        g.config = tenants.active_config(db.session, g.tenant)
        g.access = Access(g.config, g.actor)
        return None

    return bp


def rollups_service() -> Rollups:
    """The rollups of records' subtrees for this request's tenant and actor."""
    return Rollups(db.session, g.tenant.id, g.config, g.access)


def records_service() -> Records:
    """The engine's record service for this request's tenant and actor."""
    return Records(db.session, g.tenant.id, g.config, g.access, current_app.extensions["steerco.blobs"])
