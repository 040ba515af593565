"""Delegation: a person hands their approvals to a deputy for a period.

While a delegation is in effect (both days included, not revoked), the deputy may decide
the steps the person may decide, in that person's name (see :mod:`approvers`); the two
are one voice in a quorum. Only the person who delegated may revoke it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select

from steerco.engine.context import WorkContext
from steerco.engine.errors import NotFound, ValidationFailed
from steerco.store.models import Delegation, Membership


class Delegations:
    """The actor's delegations, given and received."""

    def __init__(self, ctx: WorkContext):
        self.ctx = ctx

    def delegate(self, deputy_id: int, starts_on: dt.date, ends_on: dt.date) -> Delegation:
        """Hand the actor's approvals to a deputy for a period (both days included)."""
        ctx = self.ctx
        errors = {}
        if deputy_id == ctx.me:
            errors["deputy"] = "Choose someone else as your deputy."
        elif ctx.session.scalar(select(Membership.id).where(
                Membership.tenant_id == ctx.tenant_id, Membership.user_id == deputy_id, Membership.is_active)) is None:
            errors["deputy"] = "Choose a member of this workspace."
        if ends_on < starts_on:
            errors["ends_on"] = "The end must not be before the start."
        elif ends_on < ctx.now.date():
            errors["ends_on"] = "The period is over already."
        if errors:
            raise ValidationFailed(errors, {"deputy": deputy_id, "starts_on": starts_on.isoformat(),
                                            "ends_on": ends_on.isoformat()})
        delegation = Delegation(tenant_id=ctx.tenant_id, user_id=ctx.me, deputy_id=deputy_id,
                                starts_on=starts_on, ends_on=ends_on, created_at=ctx.now)
        ctx.session.add(delegation)
        ctx.session.flush()
        ctx.audit("delegation.created", None, {
            "deputy": deputy_id, "from": starts_on.isoformat(), "to": ends_on.isoformat(),
            "summary": f"Approvals delegated from {starts_on} to {ends_on}"})
        return delegation

    def revoke(self, delegation_id: int) -> None:
        """End one of the actor's own delegations; anyone else's is NotFound."""
        ctx = self.ctx
        delegation = ctx.session.scalar(select(Delegation).where(
            Delegation.id == delegation_id, Delegation.tenant_id == ctx.tenant_id, Delegation.user_id == ctx.me))
        if delegation is None:
            raise NotFound("no such delegation")
        if delegation.revoked_at is None:
            delegation.revoked_at = ctx.now
            ctx.audit("delegation.revoked", None, {"delegation": delegation.id, "summary": "Delegation revoked"})

    def all(self) -> list[Delegation]:
        """Delegations the actor gave or received, the latest first."""
        ctx = self.ctx
        return list(ctx.session.scalars(select(Delegation).where(
            Delegation.tenant_id == ctx.tenant_id, or_(Delegation.user_id == ctx.me, Delegation.deputy_id == ctx.me))
            .order_by(Delegation.starts_on.desc())))
