"""Report snapshots: what the steering committee saw, kept retrievable.

Taking a snapshot (:func:`take`, by a role the report's ``snapshot_by`` names) builds the
report once per distinct view of its audience at that moment: every active member holding
an audience role, grouped by access signature (the same grants see the same data; "own"
scopes make the person part of it). Each view's :class:`~steerco.reports.data.ReportData`
is stored as JSON with the grants it was built for.

Whose view a reader gets (:func:`view_for`): the view built for exactly their current
grants, else the widest view whose grants they all still hold (more grants never see less:
:meth:`Access.field_mode` is the most generous of the roles), else none. So a reader never
sees through a snapshot what they may not see now: a revoked role or a removed member
finds no view, and a reader who joined later sees the view of a narrower colleague.
Nothing of the snapshot is recomputed: it shows the numbers as they were.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.config.model import Report, TenantConfig
from steerco.engine import audit, tenants
from steerco.engine.access import Access, Actor
from steerco.engine.errors import Forbidden, NotFound
from steerco.reports import data as report_data
from steerco.reports.data import ReportData
from steerco.store.models import Membership, ReportSnapshot, ReportSnapshotView, RoleAssignment, Tenant, User, utcnow

#: the longest label a snapshot takes
LABEL_LENGTH = 200


def may_take(report: Report, access: Access) -> bool:
    """Whether the reader holds a role the report's ``snapshot_by`` names."""
    return bool({g.role for g in access.actor.grants} & set(report.snapshot_by))


def take(session: Session, tenant_id: int, config: TenantConfig, report: Report, *, by: Access | None,
         label: str = "", now: dt.datetime | None = None) -> ReportSnapshot:
    """Keep the report's data as each view of its audience sees it now, in the caller's
    transaction, with an audit event. ``by`` is the person taking it (None: the command
    line, which speaks for the operator); they need a ``snapshot_by`` role."""
    if by is not None and not may_take(report, by):
        raise Forbidden("you may not take snapshots of this report")
    now = now or utcnow()
    label = (label.strip() or f"{report.title} {now:%Y-%m-%d %H:%M}")[:LABEL_LENGTH]
    views = [(signature, grants, user_id, dataclasses.replace(
                 report_data.build_report(session, tenant_id, config, access, report, now=now), snapshot=label))
             for signature, (grants, user_id, access) in _audience_views(session, tenant_id, config, report).items()]
    snapshot = ReportSnapshot(tenant_id=tenant_id, report_key=report.key, label=label,
                              created_by_id=by.actor.user_id if by else None, created_at=now,
                              config_version=config.version,
                              data_version=report_data.data_version(session, tenant_id))
    session.add(snapshot)
    session.flush()
    for signature, grants, user_id, built in views:
        session.add(ReportSnapshotView(tenant_id=tenant_id, snapshot_id=snapshot.id, signature=signature,
                                       grants=grants, user_id=user_id, data=to_json(built)))
    audit.append(session, tenant_id=tenant_id, user_id=by.actor.user_id if by else None, kind="report.snapshot",
                 data={"report": report.key, "snapshot": snapshot.id, "label": label}, now=now)
    session.flush()
    return snapshot


def _audience_views(session: Session, tenant_id: int, config: TenantConfig,
                    report: Report) -> dict[str, tuple[list[list[str]], int | None, Access]]:
    """One reader per distinct view of the audience: {signature: (grants, person, access)}."""
    from steerco.reports.jobs import access_signature  # jobs build on this module's neighbours

    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    users = session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.is_active, User.is_active,
               User.id.in_(select(RoleAssignment.user_id).where(RoleAssignment.tenant_id == tenant_id,
                                                                RoleAssignment.role_key.in_(report.audience))))
        .order_by(User.id)).all()
    views: dict[str, tuple[list[list[str]], int | None, Access]] = {}
    for user in users:
        actor = tenants.actor_for(session, tenant, user)
        signature = access_signature(config, actor)
        if signature not in views:
            own = _reads_own(config, actor)
            views[signature] = (_grants(actor), actor.user_id if own else None, Access(config, actor))
    return views


def _grants(actor: Actor) -> list[list[str]]:
    return sorted([g.role, g.node_path or ""] for g in actor.grants)


def _reads_own(config: TenantConfig, actor: Actor) -> bool:
    return any(p.scope == "own" for g in actor.grants if (role := config.roles.get(g.role)) for p in role.permissions)


def snapshots(session: Session, tenant_id: int, report: Report) -> list[ReportSnapshot]:
    """The report's snapshots, newest first."""
    return list(session.scalars(select(ReportSnapshot).where(
        ReportSnapshot.tenant_id == tenant_id, ReportSnapshot.report_key == report.key)
        .order_by(ReportSnapshot.id.desc())))


def get(session: Session, tenant_id: int, report: Report, snapshot_id: int) -> ReportSnapshot:
    found = session.scalar(select(ReportSnapshot).where(
        ReportSnapshot.id == snapshot_id, ReportSnapshot.tenant_id == tenant_id,
        ReportSnapshot.report_key == report.key))
    if found is None:
        raise NotFound("no such snapshot of this report")
    return found


def view_for(session: Session, tenant_id: int, config: TenantConfig, access: Access,
             snapshot: ReportSnapshot) -> ReportData | None:
    """The snapshot as this reader may see it (see the module's docstring), or None."""
    from steerco.reports.jobs import access_signature

    views = session.execute(select(ReportSnapshotView.id, ReportSnapshotView.signature, ReportSnapshotView.grants,
                                   ReportSnapshotView.user_id).where(
        ReportSnapshotView.tenant_id == tenant_id, ReportSnapshotView.snapshot_id == snapshot.id)).all()
    mine = access_signature(config, access.actor)
    held = {tuple(g) for g in _grants(access.actor)}
    chosen = next((v.id for v in views if v.signature == mine), None)
    if chosen is None:
        narrower = [v for v in views if {tuple(g) for g in v.grants} <= held
                    and v.user_id in (None, access.actor.user_id)]
        chosen = max(narrower, key=lambda v: len(v.grants)).id if narrower else None
    if chosen is None:
        return None
    view = session.get(ReportSnapshotView, chosen)
    assert view is not None
    return from_json(view.data)


def last_data(session: Session, tenant_id: int, config: TenantConfig, access: Access,
              report: Report) -> ReportData | None:
    """The report's latest snapshot as this reader may see it (tiles compare with it)."""
    latest = session.scalar(select(ReportSnapshot).where(
        ReportSnapshot.tenant_id == tenant_id, ReportSnapshot.report_key == report.key)
        .order_by(ReportSnapshot.id.desc()).limit(1))
    return view_for(session, tenant_id, config, access, latest) if latest is not None else None


def snapshot_config(session: Session, tenant_id: int, snapshot: ReportSnapshot) -> TenantConfig:
    """The configuration the snapshot was taken under (its layout and page setup)."""
    return tenants.config_version(session, tenant_id, snapshot.config_version)


# -- ReportData <-> JSON -------------------------------------------------------------------
def to_json(data: ReportData) -> dict[str, Any]:
    """Everything of the report, the charts' SVG included, as JSON values."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        if isinstance(value, Markup):
            return str(value)
        return value

    return clean(dataclasses.asdict(data))


def from_json(raw: dict[str, Any]) -> ReportData:
    """The :class:`ReportData` :func:`to_json` wrote."""
    d = report_data
    cell = lambda c: d.Cell(**c) if c is not None else None  # noqa: E731
    cells = lambda items: tuple(cell(c) for c in items)  # noqa: E731

    def table(t: dict[str, Any] | None) -> Any:
        if t is None:
            return None
        groups = tuple(d.RowGroup(g["key"], g["label"], tuple(
            d.Row(r["record_id"], r["number"], cells(r["cells"]), r["color"], r["color_label"]) for r in g["rows"]),
            g["records"], cells(g["subtotal"]) if g["subtotal"] is not None else None) for g in t["groups"])
        return d.Table(tuple(d.Column(**c) for c in t["columns"]), groups, t["records"], t["shown"],
                       cells(t["total"]) if t["total"] is not None else None, t["grouped_by"],
                       tuple(t["hidden_columns"]))

    def chart(c: dict[str, Any] | None) -> Any:
        if c is None:
            return None
        return d.Chart(c["kind"], tuple(c["labels"]), tuple((n, tuple(v)) for n, v in c["series"]), Markup(c["svg"]))

    def crosstab(x: dict[str, Any] | None) -> Any:
        if x is None:
            return None
        return d.CrossTab(x["measure"], x["row_label"], x["column_label"], tuple(x["column_keys"]), tuple(x["columns"]),
                          tuple(d.CrossRow(r["key"], r["label"], cells(r["cells"]), cell(r["total"]))
                                for r in x["rows"]), cells(x["totals"]), cell(x["total"]))

    def tile(t: dict[str, Any]) -> Any:
        comparison = d.Comparison(**t["comparison"]) if t.get("comparison") else None
        return d.Tile(**{**t, "comparison": comparison})

    sections = tuple(d.Section(s["index"], s["type"], s["title"], s["level"], s["new_page"], tuple(s["notes"]),
                               tuple(tile(t) for t in s["tiles"]), table(s["table"]), chart(s["chart"]),
                               crosstab(s["crosstab"]), s["text"]) for s in raw["sections"])
    simple = {k: v for k, v in raw.items() if k != "sections"}
    simple["generated_at"] = dt.datetime.fromisoformat(raw["generated_at"])
    return ReportData(**{**simple, "sections": sections})
