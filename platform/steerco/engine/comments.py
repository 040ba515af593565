"""Comments on a record: anyone with the ``comment`` right adds one; every comment is an
audit event too, so the record's history shows them all."""

from __future__ import annotations

from sqlalchemy import select

from steerco.engine.context import COMMENT_MAX, WorkContext
from steerco.engine.errors import Forbidden, ValidationFailed
from steerco.store.models import Comment, Record


class Comments:
    def __init__(self, ctx: WorkContext):
        self.ctx = ctx

    def add(self, record: Record, body: str) -> Comment:
        ctx = self.ctx
        decision = ctx.access.decide("comment", record.level_key, record)
        if not decision:
            raise Forbidden(decision.reason)
        body = (body or "").strip()
        if not body:
            raise ValidationFailed({"body": "Write something first."}, {"body": body})
        if len(body) > COMMENT_MAX:
            raise ValidationFailed({"body": f"At most {COMMENT_MAX} characters."}, {"body": body})
        entry = Comment(tenant_id=ctx.tenant_id, record_id=record.id, user_id=ctx.me, body=body, created_at=ctx.now)
        ctx.session.add(entry)
        ctx.session.flush()
        ctx.audit("comment.added", record.id, {"comment": entry.id, "summary": body})
        return entry

    def latest(self, record: Record, limit: int) -> list[Comment]:
        """The record's newest comments (authors' names joined), newest first."""
        return list(self.ctx.session.scalars(select(Comment).where(
            Comment.tenant_id == self.ctx.tenant_id, Comment.record_id == record.id)
            .order_by(Comment.id.desc()).limit(limit)))
