"""A tenant's start page: its top-level records, and the switch between workspaces."""

from __future__ import annotations

from flask import g, render_template
from flask_login import current_user

from steerco.engine import tenants
from steerco.web.extensions import db
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("workspace", __name__)


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    records = records_service()
    lists = [(level, records.children(None, level.key)) for level in g.config.root_levels]
    return render_template("workspace.html", lists=lists,
                           workspaces=tenants.tenants_of(db.session, current_user.user))
