"""A tenant's start page: its top-level records, and the switch between workspaces."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, url_for
from flask_login import current_user

from steerco.engine import tables, tenants
from steerco.reports.data import build_report, home_report
from steerco.web.extensions import db
from steerco.web.tenancy import records_service, tenant_blueprint

bp = tenant_blueprint("workspace", __name__)

#: what the home page shows of the default report: its figures, not its long tables
HOME_SECTIONS = frozenset({"kpi_tiles", "chart", "crosstab", "approvals", "exceptions"})


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    records = records_service()
    pages = [(level, records.children(None, level.key)) for level in g.config.root_levels
             if g.access.can_somewhere("read", level.key)]
    # An empty top-level list only helps someone who may fill it; others start at their areas.
    lists = [tables.listing(records, level, None, page) for level, page in pages
             if page.total or g.access.can("create", level.key)]
    return render_template("workspace.html", lists=lists, areas=records.areas(), home=_home_report(),
                           record_url=lambda record_id: url_for("records.view", record_id=record_id),
                           workspaces=tenants.tenants_of(db.session, current_user.user))


def _home_report() -> Any:
    """The reader's default report (``home_for`` in reports.json), built for them, or None."""
    report = home_report(g.config, g.access)
    if report is None:
        return None
    return build_report(db.session, g.tenant.id, g.config, g.access, report, types=HOME_SECTIONS)
