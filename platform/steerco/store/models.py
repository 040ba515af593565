"""The database tables, as plain SQLAlchemy models (no Flask), so the engine can use them.

Layout choices (see ARCHITECTURE.md):
- records of every level share one table: fixed system columns plus one JSON column of
  configured values (JSONB on PostgreSQL); no per-tenant DDL;
- ``Record.path`` is a materialised path (``/12/45/``, ids from the root down to the
  record itself), so a subtree is one ``LIKE`` on an indexed column;
- time-phased amounts live in ``period_value`` so that sums are SQL aggregates;
- every tenant-owned table carries ``tenant_id``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    DDL, JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, event,
    false, text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class TenantOwned:
    """Marks a table whose every row belongs to one tenant."""

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)


class Tenant(Base):
    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the active ConfigVersion (no foreign key: the two tables would reference each other)
    active_config_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ConfigVersion(TenantOwned, Base):
    """Every configuration ever stored for a tenant: drafts, the active one, and those it
    superseded (kept for viewing and rollback). Only a draft's documents ever change."""

    __tablename__ = "config_version"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    documents: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: draft, active, superseded (was active once) or discarded (a draft given up)
    state: Mapped[str] = mapped_column(String(20), default="draft")
    #: what the author said about the version (the activation comment once activated)
    comment: Mapped[str] = mapped_column(Text, default="")
    #: a draft's starting point: the version that was active when it was begun; activating
    #: the draft is refused once another version has become active meanwhile
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("config_version.id"))
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: field key -> FieldIdentity id (None in a draft: a new field, given an identity when activated)
    field_identities: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)


class FieldIdentity(TenantOwned, Base):
    """One definition of a field, across the versions that carry it.

    A field's values belong to its definition, not only to its key. The identity is carried
    from version to version while the key exists continuously; a key added again after a
    version without it is a new identity unless the admin restores the removed one. The
    identity whose values sit under the field key in the records is ``in_slot``; the values
    of every other identity are kept aside under ``~<id>`` (record JSON, time-phased
    amounts, attachments) and come back only when that identity is restored.
    """

    __tablename__ = "field_identity"
    __table_args__ = (Index("ix_field_identity_tenant_key", "tenant_id", "field_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    field_key: Mapped[str] = mapped_column(String(63))
    label: Mapped[str] = mapped_column(String(200))
    first_version: Mapped[int] = mapped_column(Integer)
    last_version: Mapped[int] = mapped_column(Integer)
    in_slot: Mapped[bool] = mapped_column(Boolean, default=False)
    #: [[from, until or None], ...] (ISO times, UTC): when its values sat under the key, so the
    #: history shows a change of the key only if it was made to this identity's values
    epochs: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)


class User(Base):
    """A person; tenants are reached through memberships."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: a platform-level right (not a tenant role): may create workspaces from templates
    is_consultant: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: bumped on logout and password change so that old session cookies stop working
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: how notifications reach this person by e-mail: immediately, daily (one digest) or off
    notify_by_mail: Mapped[str] = mapped_column(String(12), default="immediately", server_default="immediately")


class ApiToken(Base):
    """A personal API token: it acts as its user in every workspace the user belongs to.

    Only the SHA-256 of the token is stored, so a leaked database does not leak working
    tokens; ``prefix`` (the token's first characters) lets the owner recognise it in lists.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AccountLink(Base):
    """A single-use link mailed to a person: an invitation to a workspace (which also sets
    the password of a new account) or a password reset. Only the SHA-256 of the link's
    token is stored; the link expires, and it works once (``used_at``)."""

    __tablename__ = "account_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: invitation or password_reset
    purpose: Mapped[str] = mapped_column(String(20))
    #: the workspace an invitation is for (None for a password reset)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: when the link was used, or made useless (a newer link, a withdrawn invitation)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LoginFailure(Base):
    """One failed login, counted against a throttle key (a hash naming the account or the
    client address) for the backoff in ``engine/throttle.py``; old rows are pruned."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key_time", "key", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Membership(TenantOwned, Base):
    """A user's place in a tenant. An invitation not yet accepted is a membership that is
    not active and has not been joined; deactivation closes it again (``is_active``)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: when the person accepted the invitation (None: invited, not yet joined)
    joined_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: the name the inviting admin typed, shown to this tenant until the person joins (the
    #: account's own name may come from another workspace and is not this tenant's to see)
    invited_name: Mapped[str | None] = mapped_column(String(200))
    #: hours the person can work per reporting period here (None: the capacity rule's default)
    capacity_hours: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))

    user: Mapped[User] = relationship(lazy="joined")


class RoleAssignment(TenantOwned, Base):
    """A role held by a user, tenant-wide (no node) or at a node and its subtree."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "role_key", "node_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role_key: Mapped[str] = mapped_column(String(63))
    node_id: Mapped[int | None] = mapped_column(ForeignKey("record.id"))


class Record(TenantOwned, Base):
    """One node of a tenant's hierarchy, of any configured level."""

    __tablename__ = "record"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_record_tenant_parent", "tenant_id", "parent_id"),
        Index("ix_record_tenant_level", "tenant_id", "level_key"),
        Index("ix_record_tenant_path", "tenant_id", "path"),
        # "my records" (the inbox's records held up by a gate, the navigation's count)
        Index("ix_record_tenant_owner", "tenant_id", "owner_id"),
        # a list (and its keyset-paged export): a level's records under one parent, in number order
        Index("ix_record_tenant_list", "tenant_id", "parent_id", "level_key", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    level_key: Mapped[str] = mapped_column(String(63))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("record.id"))
    path: Mapped[str] = mapped_column(String(1000), default="")
    depth: Mapped[int] = mapped_column(Integer, default=0)
    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    stage_key: Mapped[str | None] = mapped_column(String(63))
    values: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    #: the configuration version the values were last validated under
    config_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")

    # The ORM refuses to write a row whose version changed underneath (optimistic locking).
    __mapper_args__ = {"version_id_col": version}

    @property
    def ancestor_ids(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/") if p][:-1]


class NumberCounter(TenantOwned, Base):
    """The last number handed out per level, for readable record numbers (M-0042)."""

    __tablename__ = "number_counter"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    level_key: Mapped[str] = mapped_column(String(63), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class PeriodValue(TenantOwned, Base):
    """One time-phased amount: record, field, period (YYYY-MM), scenario."""

    __tablename__ = "period_value"
    __table_args__ = (
        UniqueConstraint("record_id", "field_key", "period", "scenario"),
        Index("ix_period_value_tenant_field", "tenant_id", "field_key", "period"),
        # a record's (or a page's) amounts: tenant and record, so no planner prefers tenant_id alone
        Index("ix_period_value_tenant_record", "tenant_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    field_key: Mapped[str] = mapped_column(String(63))
    period: Mapped[str] = mapped_column(String(7))
    scenario: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))


class PlanBaseline(TenantOwned, Base):
    """A grid's plan as it stood when the record reached a stage with ``plan_frozen``: the
    baseline shown beside the current plan once approved plan changes have moved it."""

    __tablename__ = "plan_baseline"
    __table_args__ = (
        UniqueConstraint("record_id", "field_key", "period"),
        Index("ix_plan_baseline_tenant_record", "tenant_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"))
    field_key: Mapped[str] = mapped_column(String(63))
    #: YYYY-MM; "" marks a grid frozen with an empty plan (so it is not frozen again)
    period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    frozen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReportingPeriod(TenantOwned, Base):
    """A reporting period's place in the cycle: opened (owners reminded of missing
    actuals), then locked (its values change only through an approved change request)."""

    __tablename__ = "reporting_period"
    __table_args__ = (UniqueConstraint("tenant_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: YYYY-MM, one of the tenant's reporting periods
    period: Mapped[str] = mapped_column(String(7))
    #: open or locked
    state: Mapped[str] = mapped_column(String(10), default="open")
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class Attachment(TenantOwned, Base):
    """Evidence attached to a record's field; the bytes live outside the web root."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_tenant_record", "tenant_id", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    field_key: Mapped[str] = mapped_column(String(63))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PendingUpload(TenantOwned, Base):
    """A file attached to a form that failed validation, kept so its user need not attach
    it again: bound to one user in one workspace, for a field key, until it expires or is
    saved with the form (``steerco.engine.pending_uploads``). The bytes are in the blob store."""

    __tablename__ = "pending_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    field_key: Mapped[str] = mapped_column(String(63))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class AuditEvent(TenantOwned, Base):
    """An append-only fact: who did what, when, from which value to which."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_tenant_record", "tenant_id", "record_id"),
        # the chain's "last event of this tenant" lookup on every write
        Index("ix_audit_tenant_chain", "tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("record.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


class TransitionRequest(TenantOwned, Base):
    """A request to move a record through a transition that needs approvals.

    It keeps the configuration version it started under, so a workflow changed while
    the request is in flight does not change the rules it finishes under. At most one
    request per record is pending, enforced by a partial unique index.
    """

    __tablename__ = "transition_request"
    __table_args__ = (
        Index("ix_transition_request_tenant_state", "tenant_id", "state"),
        # the inbox's "my requests in flight"
        Index("ix_transition_request_requester", "tenant_id", "requested_by_id", "state"),
        Index("ix_transition_request_tenant_record", "tenant_id", "record_id"),
        Index("uq_transition_request_pending", "record_id", unique=True,
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    workflow_key: Mapped[str] = mapped_column(String(63))
    transition_key: Mapped[str] = mapped_column(String(63))
    config_version: Mapped[int] = mapped_column(Integer)
    from_stage: Mapped[str] = mapped_column(String(63))
    to_stage: Mapped[str] = mapped_column(String(63))
    #: pending, approved, rejected, withdrawn
    state: Mapped[str] = mapped_column(String(20), default="pending")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    #: a plan change request's proposed grid cells, {field key: {scenario: {period: amount}}},
    #: applied once approved; None for a move to another stage
    changes: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)

    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id], lazy="joined")


class ApprovalTask(TenantOwned, Base):
    """One approval step of a request: who must decide (a role at the record's place),
    how many approvals it needs, and by when before it is escalated."""

    __tablename__ = "approval_task"
    __table_args__ = (
        Index("ix_approval_task_tenant_state", "tenant_id", "state"),
        # the inbox and its count: open steps of the roles a person decides, or escalated to them
        Index("ix_approval_task_inbox", "tenant_id", "state", "role"),
        Index("ix_approval_task_escalation", "tenant_id", "state", "escalate_to"),
        # an inbox page: its open steps read in due order (NULL last), stopping at the page's end
        Index("ix_approval_task_due", "tenant_id", "state", "due_at", "id"),
        Index("ix_approval_task_tenant_record", "tenant_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("transition_request.id"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    step_key: Mapped[str] = mapped_column(String(63))
    label: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(63))
    needed: Mapped[int] = mapped_column(Integer, default=1)
    same_approver_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: waiting (an earlier step is open), pending, approved, rejected, cancelled, or voided
    #: (the approval content changed while the request waited: a new task takes its place)
    state: Mapped[str] = mapped_column(String(20), default="waiting")
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    escalate_to: Mapped[str | None] = mapped_column(String(63))
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: bumped by every decision; the conditional update on it lets one decider in at a time
    claims: Mapped[int] = mapped_column(Integer, default=0)
    #: why the step applies although its threshold could not say (it fails closed); else None
    reason: Mapped[str | None] = mapped_column(Text)

    request: Mapped[TransitionRequest] = relationship(lazy="joined")


class ApprovalVote(TenantOwned, Base):
    """One person's decision on a task (in their own name or as someone's deputy)."""

    __tablename__ = "approval_vote"
    __table_args__ = (UniqueConstraint("task_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("approval_task.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("transition_request.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: approve or reject
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: what was decided on: the record's version, and the approval content's values and hash
    record_version: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id], lazy="joined")


class Delegation(TenantOwned, Base):
    """A user's approvals handed to a deputy for a period (both days included)."""

    __tablename__ = "delegation"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    deputy: Mapped[User] = relationship(foreign_keys=[deputy_id], lazy="joined")


class StatusChange(TenantOwned, Base):
    """One change of a record's status in a configured dimension, with its reason."""

    __tablename__ = "status_change"
    __table_args__ = (Index("ix_status_change_record", "tenant_id", "record_id", "dimension_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"))
    dimension_key: Mapped[str] = mapped_column(String(63))
    old_value: Mapped[str | None] = mapped_column(String(63))
    new_value: Mapped[str] = mapped_column(String(63))
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id], lazy="joined")


class Comment(TenantOwned, Base):
    """A remark on a record, kept in its history."""

    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_tenant_record", "tenant_id", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id], lazy="joined")


class ReportJob(TenantOwned, Base):
    """A report rendered in the background (a PDF), and the cache of finished ones.

    The requester polls ``state`` and ``progress``; the PDF is kept in the blob store under
    ``result_key``. ``cache_key`` names what the PDF shows (report, configuration version,
    data version, the reader's access, the scope), so a finished job answers every later
    request with the same key at once, and any write in between makes a new key.
    """

    __tablename__ = "report_job"
    __table_args__ = (Index("ix_report_job_tenant_cache", "tenant_id", "cache_key", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    report_key: Mapped[str] = mapped_column(String(63))
    #: what the reader chose (e.g. the subtree), as JSON
    params: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    cache_key: Mapped[str] = mapped_column(String(64))
    config_version: Mapped[int] = mapped_column(Integer)
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    #: queued, running, done, failed, expired (a done job whose PDF was superseded)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(200), default="")
    result_key: Mapped[str | None] = mapped_column(String(100))
    result_size: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255), default="report.pdf")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ReportSnapshot(TenantOwned, Base):
    """A report's data kept as it was (what a steering committee saw), retrievable later.

    It holds one :class:`ReportSnapshotView` per distinct view of the report's audience
    at that moment (readers with the same grants see the same), so a reader is only ever
    shown a view no wider than what they may see now (see ``steerco.reports.snapshots``).
    """

    __tablename__ = "report_snapshot"
    __table_args__ = (Index("ix_report_snapshot_tenant_report", "tenant_id", "report_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_key: Mapped[str] = mapped_column(String(63))
    label: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    config_version: Mapped[int] = mapped_column(Integer)
    data_version: Mapped[int] = mapped_column(Integer, default=0)


class ReportSnapshotView(TenantOwned, Base):
    """One audience view of a snapshot: the grants it was built for and its data (JSON)."""

    __tablename__ = "report_snapshot_view"

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("report_snapshot.id"), index=True)
    #: ``steerco.reports.jobs.access_signature`` of the readers it was built for
    signature: Mapped[str] = mapped_column(String(64))
    #: their grants, [[role, node path or ""], ...], and the person when a role reads "own"
    grants: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    user_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class ImportJob(TenantOwned, Base):
    """A spreadsheet imported into one level: the file, how its columns map onto fields,
    what the check found per row and cell, and the summary of the import.

    The uploaded file stays in the blob store under ``file_key`` until the import is done;
    ``mapping`` ({column index: target}) is also what the next import of the level starts
    from (remembered per level), and ``problems`` holds one entry per bad row.
    """

    __tablename__ = "import_job"
    __table_args__ = (Index("ix_import_job_tenant_level", "tenant_id", "level_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    level_key: Mapped[str] = mapped_column(String(63))
    #: the record the rows go under (None: top level, or a parent column names each one)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    file_key: Mapped[str | None] = mapped_column(String(100))
    #: the file's header row, as read
    columns: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    #: uploaded, checking, checked, importing, done, failed
    state: Mapped[str] = mapped_column(String(20), default="uploaded")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(200), default="")
    problems: Mapped[list[Any]] = mapped_column(JsonDocument, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


#: On PostgreSQL, ``audit_event`` is insert-only for everyone who cannot drop or disable a
#: trigger (the application's role; see the README for the grants): UPDATE, DELETE and
#: TRUNCATE are refused. Created with the table (``create_all``) and by its migration.
AUDIT_APPEND_ONLY_DDL = (
    """
    CREATE OR REPLACE FUNCTION steerco_audit_event_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_event is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION steerco_audit_event_append_only()
    """,
    """
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION steerco_audit_event_append_only()
    """,
)
AUDIT_APPEND_ONLY_DROP = (
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "DROP FUNCTION IF EXISTS steerco_audit_event_append_only()",
)
for _statement in AUDIT_APPEND_ONLY_DDL:
    event.listen(AuditEvent.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


class Notification(TenantOwned, Base):
    """Something a person should hear about (an approval waiting, a decision, an
    escalation), shown behind the bell until read and mailed as they chose."""

    __tablename__ = "notification"
    __table_args__ = (
        # the bell's count and the list: a person's unread notifications, newest first
        Index("ix_notification_user_unread", "tenant_id", "user_id", "read_at"),
        # the daily digest: notifications still to be mailed in one
        Index("ix_notification_digest", "mail_state", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("record.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: mailed (handed to the outbox), digest (waits for the daily mail), or none (mail off)
    mail_state: Mapped[str] = mapped_column(String(10))


class ExceptionCase(TenantOwned, Base):
    """An exception raised on a record by a rule of exceptions.json: open until its owner
    closes it with the evidence the rule asks for (or, for a rule that says so, until its
    condition stops holding). One open case per rule, record and subject: a capacity rule
    raises one per person and period (``subject``), the others one per record."""

    __tablename__ = "exception_case"
    __table_args__ = (
        Index("ix_exception_case_state", "tenant_id", "state", "rule_key"),
        Index("uq_exception_case_open", "record_id", "rule_key", "subject", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_key: Mapped[str] = mapped_column(String(63))
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    #: what the case is about beyond its record: a capacity rule's ``<user id>/<period>``
    subject: Mapped[str] = mapped_column(String(100), default="", server_default="")
    #: open or closed
    state: Mapped[str] = mapped_column(String(10), default="open")
    #: whether the rule's condition held at the last look (an open case may outlive it)
    holds: Mapped[bool] = mapped_column(Boolean, default=True)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: how many of the rule's escalation steps have been taken, and the last one's target
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    escalated_to: Mapped[str | None] = mapped_column(String(63))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolution: Mapped[str] = mapped_column(Text, default="")
