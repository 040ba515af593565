"""What every part of the workflow needs to know: who acts, in which tenant, at what moment.

The workflow's parts (gates, approvers, approvals, delegations, statuses, comments, the
inbox) each live in a module of their own and share one :class:`WorkContext`: the
session, the tenant, its compiled configuration, the actor's :class:`Access`, the clock
(passed in, so time-based rules are testable at any date) and the record service used to
read a record's values. It also holds the few helpers they all use: the audit event, the
notification, a
record's level and workflow, and the transition a request runs under.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy.orm import Session

from steerco.config.model import Level, TenantConfig, Transition, Workflow
from steerco.engine import audit, notifications
from steerco.engine.access import Access
from steerco.engine.errors import NotFound, ValidationFailed
from steerco.store.models import Record, TransitionRequest, utcnow

if TYPE_CHECKING:  # records.py calls into the workflow on every save: no import cycle at run time
    from steerco.engine.records import Records

COMMENT_MAX = 5000


@dataclass
class WorkContext:
    """One actor acting in one tenant, at one moment (``now`` None: the wall clock)."""

    session: Session
    tenant_id: int
    config: TenantConfig
    access: Access
    records: "Records"
    clock: dt.datetime | None = None
    #: compiled configurations of earlier versions that requests in flight started under
    _versions: dict[int, TenantConfig] = field(default_factory=dict, repr=False)

    @property
    def now(self) -> dt.datetime:
        return self.clock or utcnow()

    @property
    def me(self) -> int:
        return self.access.actor.user_id

    def audit(self, kind: str, record_id: int | None, data: dict[str, Any]) -> None:
        """Append an audit event in the caller's transaction (the caller commits)."""
        audit.append(self.session, tenant_id=self.tenant_id, user_id=self.me, kind=kind,
                     record_id=record_id, data=data, now=self.now)

    def notify(self, user_ids: Iterable[int], kind: str, record: Record, text: str,
               exclude: Iterable[int | None] = ()) -> None:
        """Tell people about ``record`` in the caller's transaction (see engine/notifications)."""
        notifications.notify(self.session, self.tenant_id, user_ids, kind, record.id,
                             f"{record.number} {record.title}: {text}", self.now, exclude=exclude)

    def level(self, record: Record, config: TenantConfig | None = None) -> Level:
        level = (config or self.config).levels.get(record.level_key)
        if level is None:
            raise NotFound("no such record")
        return level

    def workflow(self, record: Record) -> Workflow | None:
        return self.config.workflow_of(self.level(record))

    def config_of(self, request: TransitionRequest) -> TenantConfig:
        """The configuration a request started under (it finishes under the same rules)."""
        if request.config_version == self.config.version:
            return self.config
        if request.config_version not in self._versions:
            from steerco.engine.tenants import config_version

            self._versions[request.config_version] = config_version(
                self.session, self.tenant_id, request.config_version)
        return self._versions[request.config_version]

    def transition_of(self, request: TransitionRequest) -> Transition | None:
        """The transition under the rules the request started with; None when those rules
        do not know it (a request written by hand, a version that is gone)."""
        try:
            workflow = self.config_of(request).workflows.get(request.workflow_key)
        except NotFound:
            return None
        if workflow is None:
            return None
        return workflow.transition(request.transition_key)

    def comment_text(self, comment: str | None) -> str:
        """A comment as stored: trimmed, and not longer than :data:`COMMENT_MAX`."""
        comment = (comment or "").strip()
        if len(comment) > COMMENT_MAX:
            raise ValidationFailed({"comment": f"At most {COMMENT_MAX} characters."}, {"comment": comment})
        return comment

    def hidden(self, record: Record, level: Level, key: str) -> bool:
        """Is the level's field ``key`` hidden from the actor on this record?"""
        fld = level.field(key)
        return fld is not None and self.access.field_mode(fld, record, level.key) == "hidden"
