"""Status dimensions (acme: implementation status and potential status): each keeps its
own history, and some values need a comment saying why.

A dimension's value lives in the record's values; a field named like the dimension holds
it, shows read-only in forms, and decides who sees the status (hidden field, hidden
status). A change goes through :meth:`Statuses.set`, never the form, and passes the
workflow's change guard like any other write (a waiting request's approval content).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from steerco.config.model import StatusDimension
from steerco.engine.approvals import Approvals
from steerco.engine.context import WorkContext
from steerco.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steerco.engine.forms import compute
from steerco.store.models import Record, StatusChange


class Statuses:
    def __init__(self, ctx: WorkContext, approvals: Approvals | None = None):
        self.ctx = ctx
        self.approvals = approvals or Approvals(ctx)

    def dimensions(self, record: Record) -> list[StatusDimension]:
        """The record's status dimensions the actor may see: one held by a field follows
        that field's mode (hidden from a role, its status and history are too)."""
        level = self.ctx.level(record)
        return [d for d in self.ctx.config.status_dimensions.values()
                if record.level_key in d.levels and not self.ctx.hidden(record, level, d.key)]

    def can_set(self, record: Record, dimension_key: str) -> bool:
        """A status held by a field changes with write access to that field (a role's update
        right, or a write override of that very field); one without a field, with a role's
        update right. A write override for another field (the controller who may only
        validate a benefit) does not do."""
        access = self.ctx.access
        fld = self.ctx.level(record).field(dimension_key)
        if fld is not None:
            return access.field_mode(fld, record, record.level_key) == "write"
        return bool(access.roles_allowing("update", record.level_key, record))

    def set(self, record: Record, dimension_key: str, value: str, comment: str = "") -> StatusChange | None:
        """Change the record's status in one dimension; some values need a reason."""
        ctx = self.ctx
        dimension = next((d for d in self.dimensions(record) if d.key == dimension_key), None)
        if dimension is None:
            raise NotFound("no such status")
        if not self.can_set(record, dimension.key):
            raise Forbidden(f"none of your roles allows changing the {dimension.label} here")
        comment = ctx.comment_text(comment)
        labels = {o.key: o.label for o in dimension.options}
        if value not in labels:
            raise ValidationFailed({dimension.key: "Choose one of the offered options."}, {"comment": comment})
        if value in dimension.comment_required_for and not comment:
            raise ValidationFailed({"comment": f"Say why the status is “{labels[value]}”: a comment is required."},
                                   {dimension.key: value, "comment": comment})
        old = (record.values or {}).get(dimension.key)
        if old == value:
            return None
        level = ctx.level(record)
        values = {**(record.values or {}), dimension.key: value}
        values.update(compute(level, values, record.stage_key, record.title, ctx.now.date()))
        record.values = values
        record.updated_at, record.updated_by_id = ctx.now, ctx.me
        change = StatusChange(tenant_id=ctx.tenant_id, record_id=record.id, dimension_key=dimension.key,
                              old_value=old, new_value=value, comment=comment, user_id=ctx.me, changed_at=ctx.now)
        ctx.session.add(change)
        try:
            ctx.session.flush()
        except StaleDataError:
            raise Conflict("The record changed at the same moment; reload it and try again.") from None
        self.approvals.on_record_change(record, [dimension.key], {dimension.key: value, "comment": comment})
        ctx.audit("status.changed", record.id, {
            "dimension": dimension.key, "changes": {dimension.key: [old, value]},
            "summary": f"{dimension.label}: {labels.get(old, old or '—')} → {labels[value]}"
                       + (f": {comment}" if comment else "")})
        return change

    def history(self, record: Record) -> dict[str, list[StatusChange]]:
        """Each visible dimension's changes, newest first (one query; who changed it joined)."""
        history: dict[str, list[StatusChange]] = {d.key: [] for d in self.dimensions(record)}
        if not history:
            return history
        for change in self.ctx.session.scalars(select(StatusChange).where(
                StatusChange.tenant_id == self.ctx.tenant_id, StatusChange.record_id == record.id,
                StatusChange.dimension_key.in_(history)).order_by(StatusChange.id.desc())):
            history[change.dimension_key].append(change)
        return history
