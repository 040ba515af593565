"""A tenant's start page (where each of the member's roles has its work), "My records",
and the switch between workspaces."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, url_for
from flask_login import current_user

from steerco.engine import tables, tenants, worklist
from steerco.reports.data import build_report, home_report
from steerco.web.extensions import db
from steerco.web.tenancy import records_service, tenant_blueprint
from steerco.web.workflow import flow

bp = tenant_blueprint("workspace", __name__)

#: what the home page shows of the default report: its figures, not its long tables
HOME_SECTIONS = frozenset({"kpi_tiles", "chart", "crosstab", "approvals", "exceptions"})
#: records of one level shown on "My records" (the full list is a click away)
MINE_PER_LEVEL = 50
#: entries of each "waiting for me" section shown on "My records" (the inbox has them all)
WAITING_SHOWN = 10


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    records = records_service()
    pages = [(level, records.children(None, level.key)) for level in g.config.root_levels
             if g.access.can_somewhere("read", level.key)]
    # An empty top-level list only helps someone who may fill it; others start at their areas.
    lists = [tables.listing(records, level, None, page) for level, page in pages
             if page.total or g.access.can("create", level.key)]
    return render_template("workspace.html", lists=lists, roles=worklist.by_role(records),
                           owned=records.owned_counts(), home=_home_report(),
                           record_url=lambda record_id: url_for("records.view", record_id=record_id),
                           workspaces=tenants.tenants_of(db.session, current_user.user))


def _home_report() -> Any:
    """The reader's default report (``home_for`` in reports.json), built for them, or None."""
    report = home_report(g.config, g.access)
    if report is None:
        return None
    return build_report(db.session, g.tenant.id, g.config, g.access, report, types=HOME_SECTIONS)


@bp.get("/mine")
def mine():  # type: ignore[no-untyped-def]
    """What the member owns, level by level, and what waits on them (decisions,
    escalations, their records held up by a gate): each record one click away."""
    records = records_service()
    me = g.actor.user_id
    owned = records.owned_counts()
    listings = []
    for level in g.config.levels.values():
        if owned.get(level.key):
            page = records.children(None, level.key, top_level=False, owner_id=me, per_page=MINE_PER_LEVEL)
            listings.append(tables.listing(records, level, None, page, records.conditions(level, owner_id=me)))
    box = flow().inbox
    approvals, blocked, escalated = (box.approvals(1, WAITING_SHOWN), box.blocked(1, WAITING_SHOWN),
                                     box.escalated(1, WAITING_SHOWN))
    waiting = [
        ("mine-approvals", "Waiting for my decision", approvals.total, [i.record for i in approvals.items],
         "Nothing waits for your decision."),
        ("mine-blocked", "My records held up by a gate", blocked.total, [r for r, _ in blocked.items],
         "None of your records is held up by a gate."),
        ("mine-escalated", "Escalated to me", escalated.total, [r for _, r in escalated.items],
         "Nothing is escalated to you."),
    ]
    return render_template("mine.html", listings=listings, waiting=waiting)
