"""A tenant's start page: its top-level records, and the switch between workspaces."""

from __future__ import annotations

from flask import g, render_template
from flask_login import current_user

from steerco.engine import tables, tenants
from steerco.web.extensions import db
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("workspace", __name__)


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    records = records_service()
    pages = [(level, records.children(None, level.key)) for level in g.config.root_levels
             if g.access.can_somewhere("read", level.key)]
    # An empty top-level list only helps someone who may fill it; others start at their areas.
    lists = [tables.listing(records, level, None, page) for level, page in pages
             if page.total or g.access.can("create", level.key)]
    return render_template("workspace.html", lists=lists, areas=records.areas(),
                           workspaces=tenants.tenants_of(db.session, current_user.user))
