"""Scale data for benchmarks: a realistic tenant of the acme template at N measures.

``steerco bench-data SLUG --measures N`` (and ``bench/scale_bench.py``) call :func:`generate`.
It is a benchmark fixture, not a product feature, and nothing in the engine imports it.

What it writes, in one transaction, all of it consistent with the models and the engine:

- the acme configuration from ``tenants/acme``, stored under ``SLUG`` through the real
  configuration compiler (``tenants.store_config``);
- the hierarchy above the measures through the engine (``Records.create``): one
  organization, 2 portfolios, 5 programs, 10 projects and 10 measure packages, so that one
  package holds a tenth of the measures (the list and export the benchmark times);
- users with roles at nodes: an admin, a controller, a CFO, a steering committee member and
  a viewer tenant-wide, a portfolio owner per portfolio, a program manager per program and
  one measure owner per 50 measures at their package (every user's password is
  :data:`BENCH_PASSWORD`);
- N measures, bulk-inserted (Core ``insert()`` with executemany on SQLite, ``COPY`` on
  PostgreSQL) with explicit ids so that paths and the audit chain are known up front: values
  for every field (computed ones computed by the engine's :func:`compute`), 22 time-phased
  amounts each, a business case file for those past the decision gate, one comment each,
  both status dimensions changed once each, the transitions that brought each measure to
  its stage (requests, approval steps and votes where the workflow asks for them), and
  pending requests: N/10 waiting for the controller (benefit validation) and N/20 for the
  program managers (the DoI4 decision), opened during the last ten days;
- about 9 audit events per measure, chained by the engine's own hash
  (:func:`steerco.engine.audit.digest`), so ``steerco audit verify`` passes.

The generator is deterministic for a given ``seed``. It must run alone on the database
(it assigns ids itself and moves the PostgreSQL sequences past them at the end).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Sequence

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

from steerco.config.loader import read_folder
from steerco.config.model import Level, TenantConfig, Transition, Workflow
from steerco.engine import audit, tenants
from steerco.engine.access import Access
from steerco.engine.forms import compute
from steerco.engine.records import Records, Submission
from steerco.engine.users import create_user
from steerco.settings import RESOURCE_ROOT
from steerco.store import scoping, statistics
from steerco.store.blobs import BlobStore
from steerco.store.models import (
    ApprovalTask, ApprovalVote, Attachment, AuditEvent, Comment, Membership, NumberCounter,
    PeriodValue, Record, RoleAssignment, StatusChange, Tenant, TransitionRequest, User,
)

BENCH_PASSWORD = "steerco-bench"
TEMPLATE = RESOURCE_ROOT / "tenants" / "acme"
MEASURE = "measure"
PACKAGES = 10
MEASURES_PER_OWNER = 50
#: pending approval steps: one measure in ``n`` waits for this role
PENDING_EVERY = {"controller": 10, "program_manager": 20}
#: stages of the measures not waiting for an approval, as shares of all measures
STAGE_SHARES = {"doi1": 0.25, "doi2": 0.25, "doi3": 0.15, "doi4": 0.075, "doi5": 0.025,
                "doi6": 0.075, "cancelled": 0.025}
CHUNK = 2000

CATEGORIES = ["procurement", "personnel", "process", "footprint", "product", "logistics"]
VERBS = ["Renegotiate", "Consolidate", "Re-tender", "Automate", "Standardise", "Dual-source",
         "Redesign", "Relocate", "Bundle", "Digitise"]
OBJECTS = ["coil steel contracts", "PCB suppliers", "cleaning services", "end-of-line testing",
           "freight lanes", "packaging material", "spare parts pricing", "energy contracts",
           "warehouse B", "site admin services", "sensor purchasing", "travel policy"]
COMMENTS = ["Weekly review: on track.", "Supplier workshop held, terms agreed in principle.",
            "Waiting for the legal review of the framework contract.",
            "Volumes confirmed by the plant controller.", "Savings booked in the forecast."]


@dataclass
class Result:
    """What was generated, for the command's summary and the tests."""

    tenant_id: int
    slug: str
    measures: int
    users: int
    period_values: int
    audit_events: int
    comments: int
    attachments: int
    pending: dict[str, int]
    #: named records the benchmark uses: a package holding a tenth of the measures, ...
    package_id: int
    seconds: float
    #: e-mail of a user per role key (the first one, for role-wide roles)
    logins: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Writing rows in bulk
# ---------------------------------------------------------------------------------------

class _Writer:
    """Bulk rows into a table: COPY on PostgreSQL, Core executemany elsewhere.

    Ids are assigned here (from the table's current maximum), so a caller knows them
    before the rows exist; :meth:`finish` moves PostgreSQL's sequences past them.
    """

    def __init__(self, session: Session):
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self._next: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def ids(self, table: Table, n: int) -> range:
        start = self._next.get(table.name)
        if start is None:
            start = (self.session.scalar(select(func.max(table.c.id))) or 0) + 1
        self._next[table.name] = start + n
        return range(start, start + n)

    def write(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
        if not self.postgres:
            self.session.execute(insert(table), [dict(zip(columns, row)) for row in rows])
            return
        json_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
        raw = self.session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f'COPY {table.name} ({", ".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                if json_at:
                    row = tuple(json.dumps(v) if i in json_at else v for i, v in enumerate(row))
                copy.write_row(row)

    def finish(self) -> None:
        if not self.postgres:
            return
        for name in self._next:
            self.session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))


class _Chain:
    """The tenant's audit chain, continued from its last event with the engine's hash."""

    COLUMNS = ("id", "tenant_id", "record_id", "user_id", "kind", "data", "created_at", "prev_hash", "hash")

    def __init__(self, session: Session, writer: _Writer, tenant_id: int):
        self.writer = writer
        self.tenant_id = tenant_id
        self.previous = session.scalar(select(AuditEvent.hash).where(AuditEvent.tenant_id == tenant_id)
                                       .order_by(AuditEvent.id.desc()).limit(1)) or ""
        self.pending: list[tuple[int | None, int | None, str, dict[str, Any], dt.datetime]] = []

    def add(self, record_id: int | None, user_id: int | None, kind: str, data: dict[str, Any],
            at: dt.datetime) -> None:
        self.pending.append((record_id, user_id, kind, data, at))

    def flush(self) -> None:
        rows = []
        for event_id, (record_id, user_id, kind, data, at) in zip(
                self.writer.ids(AuditEvent.__table__, len(self.pending)), self.pending):
            event = AuditEvent(id=event_id, tenant_id=self.tenant_id, record_id=record_id, user_id=user_id,
                               kind=kind, data=json.loads(json.dumps(data, default=str)), created_at=at,
                               prev_hash=self.previous)
            event.hash = audit.digest(event)
            self.previous = event.hash
            rows.append(tuple(getattr(event, c) for c in self.COLUMNS))
        self.writer.write(AuditEvent.__table__, self.COLUMNS, rows)
        self.pending = []


# ---------------------------------------------------------------------------------------
# The tenant above the measures
# ---------------------------------------------------------------------------------------

def _documents(slug: str) -> dict[str, Any]:
    documents, problems = read_folder(str(TEMPLATE))
    if problems:
        raise RuntimeError(f"{TEMPLATE} does not validate: {problems[0]}")
    documents["tenant"] = {**documents["tenant"], "key": slug,
                           "name": f"{documents['tenant']['name']} ({slug})"}
    return documents


@dataclass
class _People:
    admin: User
    controller: int
    cfo: int
    steerco: int
    viewer: int
    portfolio_owners: list[int]
    program_managers: list[int]
    #: owners by package index
    owners: list[list[int]]


def _hierarchy(records: Records) -> tuple[list[Record], list[Record], list[Record]]:
    """Organization, portfolios, programs, projects and packages; (portfolios, programs, packages)."""
    def make(level: str, parent: Record | None, title: str, values: dict[str, str]) -> Record:
        return records.create(level, parent, Submission(title, MultiDict(values)))

    org = make("organization", None, "ACME Group", {"headquarters": "Stuttgart", "savings_target": "900000000"})
    portfolios = [make("portfolio", org, title, {"savings_target": "450000000"})
                  for title in ("Operations Excellence", "Commercial Excellence")]
    programs = [make("program", portfolios[0 if i < 3 else 1], title, {"health": ["green", "amber", "red"][i % 3]})
                for i, title in enumerate(["Procurement 2027", "Footprint Optimisation", "Lean Plants",
                                           "Pricing Power", "Sales Effectiveness"])]
    packages = []
    for p in range(PACKAGES):
        project = make("project", programs[p // 2], f"Project {p + 1:02d}", {"budget": str(250000 * (p + 1))})
        packages.append(make("measure_package", project, f"Package {p + 1:02d}",
                             {"package_target": str(5000000 + p * 100000)}))
    return portfolios, programs, packages


def _people(session: Session, writer: _Writer, tenant: Tenant, slug: str, measures: int,
            portfolios: list[Record], programs: list[Record], packages: list[Record], admin: User) -> _People:
    """Users, memberships and role assignments, in bulk (one password hash for all)."""
    password_hash = generate_password_hash(BENCH_PASSWORD)
    owners_per_package = max(1, measures // MEASURES_PER_OWNER // PACKAGES)
    people: list[tuple[str, str, str, int | None]] = [  # (email, name, role, node)
        (f"controller@{slug}.example", "Carla Controller", "controller", None),
        (f"cfo@{slug}.example", "Frank CFO", "cfo", None),
        (f"steerco@{slug}.example", "Stella Steerco", "steering_committee_member", None),
        (f"viewer@{slug}.example", "Vera Viewer", "viewer", None),
    ]
    people += [(f"portfolio{i + 1}@{slug}.example", f"Portfolio Owner {i + 1}", "portfolio_owner", r.id)
               for i, r in enumerate(portfolios)]
    people += [(f"pm{i + 1}@{slug}.example", f"Program Manager {i + 1}", "program_manager", r.id)
               for i, r in enumerate(programs)]
    people += [(f"owner{p + 1}-{k + 1}@{slug}.example", f"Owner {p + 1}-{k + 1}", "measure_owner", r.id)
               for p, r in enumerate(packages) for k in range(owners_per_package)]
    now = _utcnow()
    ids = writer.ids(User.__table__, len(people))
    writer.write(User.__table__, ("id", "email", "name", "password_hash", "is_active", "session_version", "created_at"),
                 [(i, email, name, password_hash, True, 1, now) for i, (email, name, _, _) in zip(ids, people)])
    writer.write(Membership.__table__, ("id", "tenant_id", "user_id", "is_active", "created_at"),
                 [(m, tenant.id, u, True, now) for m, u in zip(writer.ids(Membership.__table__, len(people)), ids)])
    writer.write(RoleAssignment.__table__, ("id", "tenant_id", "user_id", "role_key", "node_id"),
                 [(a, tenant.id, u, role, node) for a, u, (_, _, role, node)
                  in zip(writer.ids(RoleAssignment.__table__, len(people)), ids, people)])
    by_role: dict[str, list[int]] = {}
    for user_id, (_, _, role, _) in zip(ids, people):
        by_role.setdefault(role, []).append(user_id)
    owners = by_role["measure_owner"]
    return _People(admin, by_role["controller"][0], by_role["cfo"][0], by_role["steering_committee_member"][0],
                   by_role["viewer"][0], by_role["portfolio_owner"], by_role["program_manager"],
                   [owners[p * owners_per_package:(p + 1) * owners_per_package] for p in range(PACKAGES)])


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------
# Measures
# ---------------------------------------------------------------------------------------

def _stages(n: int, rng: random.Random) -> list[str]:
    """One plan per measure: a stage key, or ``pending:<role>`` for those waiting for a role."""
    plan = [f"pending:{role}" for role, every in PENDING_EVERY.items() for _ in range(n // every)]
    rest = n - len(plan)
    total = sum(STAGE_SHARES.values())
    for stage, share in STAGE_SHARES.items():
        plan += [stage] * int(rest * share / total)
    plan += ["doi1"] * (n - len(plan))
    rng.shuffle(plan)
    return plan


def _path_to(workflow: Workflow, stage: str) -> list[Transition]:
    """The transitions that bring a record from the initial stage to ``stage`` (the forward
    path along stage order; a cancelled record was cancelled from the initial stage)."""
    by_pair = {(source, t.target): t for t in workflow.transitions for source in t.sources}
    if (workflow.initial_stage, stage) in by_pair and workflow.stage(stage).category == "cancelled":  # type: ignore[union-attr]
        return [by_pair[(workflow.initial_stage, stage)]]
    ordered = [s.key for s in sorted(workflow.stages, key=lambda s: s.order) if s.category != "cancelled"]
    steps = ordered[:ordered.index(stage) + 1]
    return [by_pair[(a, b)] for a, b in zip(steps, steps[1:])]


def _awaiting(workflow: Workflow, role: str) -> Transition:
    """The transition whose first approval step is decided by ``role``."""
    return next(t for t in workflow.transitions if t.approvals and t.approvals[0].role == role)


@dataclass
class _Measure:
    """Everything about one measure, decided before any row is written."""

    id: int
    number: str
    title: str
    package: int
    owner: int
    stage: str
    passed: list[Transition]
    waiting: Transition | None
    values: dict[str, Any]
    grid: dict[str, dict[str, float]]
    created: dt.datetime


class _MeasureWriter:
    """Turns measures into rows of every table, a chunk at a time."""

    def __init__(self, session: Session, writer: _Writer, chain: _Chain, config: TenantConfig,
                 tenant_id: int, people: _People, packages: list[Record], programs: list[Record],
                 blobs: BlobStore | None, now: dt.datetime, rng: random.Random):
        self.session, self.writer, self.chain, self.config = session, writer, chain, config
        self.tenant_id, self.people, self.packages, self.programs = tenant_id, people, packages, programs
        self.level: Level = config.levels[MEASURE]
        self.workflow = config.workflow_of(self.level)
        assert self.workflow is not None
        self.blobs, self.now, self.rng = blobs, now, rng
        self.labels = {s.key: s.label for s in self.workflow.stages}
        self.grid_field = next((f for f in self.level.fields if f.kind.storage == "periods"), None)
        self.evidence = [t.required_evidence for t in self.workflow.transitions if t.required_evidence]
        self.periods = [p.key for p in config.periods]
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self.attachments = 0
        self.pending: dict[str, int] = {}

    # -- values ----------------------------------------------------------------------------
    def values(self, i: int, owner: int, stage: str, waiting: Transition | None) -> dict[str, Any]:
        rng = self.rng
        potential = rng.randint(1, 12) * 42500
        late = stage in {"doi5", "doi6"} or waiting is not None and waiting.target == "doi6"
        implementation = rng.choice(["on_track", "on_track", "delayed"] if late else
                                    ["on_track", "on_track", "delayed", "critical"])
        potential_status = rng.choice(["confirmed", "confirmed", "at_risk"] if late else
                                      ["confirmed", "confirmed", "at_risk", "lost"])
        values: dict[str, Any] = {
            "description": f"Measure {i + 1}: savings through a better contract and process.",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "effect_type": "recurring" if i % 3 else "one_time",
            "responsible": owner,
            "target_date": (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 700))).isoformat(),
            "baseline": potential * 4, "potential": potential,
            "benefit_probability": rng.choice([50, 60, 70, 80, 90, 100]),
            "has_capex": i % 4 == 0,
            "implementation_status": implementation, "potential_status": potential_status,
            "kpi_name": "Price per tonne", "kpi_target_value": 812.5, "kpi_actual_value": 840.0,
            "review_frequency": "monthly", "benefit_validated": stage == "doi6",
        }
        if values["has_capex"]:
            values["capex_amount"] = potential // 2
        if potential_status in {"at_risk", "lost"}:
            values["risk_note"] = "Supplier has not confirmed the new terms yet."
        values = {k: v for k, v in values.items() if self.level.field(k) is not None}
        values.update(compute(self.level, values, stage, "", self.now.date()))
        return values

    def grid(self, potential: float) -> dict[str, dict[str, float]]:
        monthly = round(potential / 12, 2)
        actual = round(monthly * self.rng.choice([0.8, 0.9, 1.0, 1.1]), 2)
        return {"plan": {p: monthly for p in self.periods},
                "actual": {p: actual for p in self.periods[:max(0, len(self.periods) - 2)]}}

    # -- rows --------------------------------------------------------------------------------
    def add(self, table: Table, *row: Any) -> None:
        self.rows.setdefault(table.name, []).append(row)

    def write_chunk(self, measures: list[_Measure]) -> None:
        # Every table's ids for the chunk are taken first, in the order the rows are made.
        for m in measures:
            self.measure_rows(m)
        for table, columns in TABLES:
            self.writer.write(table, columns, self.rows.pop(table.name, []))
        self.chain.flush()

    def measure_rows(self, m: _Measure) -> None:
        package = self.packages[m.package]
        at = m.created
        step = dt.timedelta(hours=30)
        dimensions = [d for d in self.config.status_dimensions.values() if MEASURE in d.levels]
        with_evidence = any(t.required_evidence for t in m.passed + ([m.waiting] if m.waiting else []))
        # the version counts the record's writes, as the ORM's version counter would have
        version = 1 + (self.grid_field is not None) + len(dimensions) + with_evidence + len(m.passed)
        self.add(Record.__table__, m.id, self.tenant_id, MEASURE, package.id, f"{package.path}{m.id}/",
                 package.depth + 1, m.number, m.title, m.owner, m.stage, m.values, version, self.config.version,
                 m.created, m.created, m.owner, m.owner, None)
        created_changes = {k: [None, v] for k, v in m.values.items()}
        self.chain.add(m.id, m.owner, "record.created", {
            "level": MEASURE, "number": m.number, "title": m.title, "changes": created_changes}, at)
        if self.grid_field is not None:
            at += step
            diff = {}
            for scenario, amounts in m.grid.items():
                for period, amount in amounts.items():
                    self.add(PeriodValue.__table__, self.next_id(PeriodValue), self.tenant_id, m.id,
                             self.grid_field.key, period, scenario, Decimal(str(amount)))
                    diff[f"{self.grid_field.key}.{scenario}.{period}"] = [None, amount]
            self.chain.add(m.id, m.owner, "record.updated", {"changes": diff}, at)
        for dimension in dimensions:
            at += step
            old, new = dimension.default, m.values.get(dimension.key, dimension.default)
            comment = "" if new not in dimension.comment_required_for else "Supplier audit slipped by six weeks."
            labels = {o.key: o.label for o in dimension.options}
            change_id = self.next_id(StatusChange)
            self.add(StatusChange.__table__, change_id, self.tenant_id, m.id, dimension.key, old, new,
                     comment, m.owner, at)
            self.chain.add(m.id, m.owner, "status.changed", {
                "dimension": dimension.key, "changes": {dimension.key: [old, new]},
                "summary": f"{dimension.label}: {labels.get(old, old or '—')} → {labels[new]}"
                           + (f": {comment}" if comment else "")}, at)
        if with_evidence:
            at += step
            self.attach(m, at)
        at += step
        body = COMMENTS[m.id % len(COMMENTS)]
        comment_id = self.next_id(Comment)
        self.add(Comment.__table__, comment_id, self.tenant_id, m.id, m.owner, body, at)
        self.chain.add(m.id, m.owner, "comment.added", {"comment": comment_id, "summary": body}, at)
        stage = self.workflow.initial_stage
        for transition in m.passed:
            at += step
            stage = self.transition(m, transition, stage, at)
        if m.waiting is not None:
            self.request(m, m.waiting, stage, self.now - dt.timedelta(hours=self.rng.uniform(1, 240)))

    def next_id(self, model: type) -> int:
        return self.writer.ids(model.__table__, 1).start  # type: ignore[attr-defined]

    def attach(self, m: _Measure, at: dt.datetime) -> None:
        key_field = next(k for keys in self.evidence for k in keys)
        data = f"%PDF-1.4\n% business case of {m.number}: {m.title}\n".encode()
        storage_key = self.blobs.put(self.tenant_id, data) if self.blobs is not None else hashlib.md5(
            f"{self.tenant_id}-{m.id}".encode()).hexdigest()
        filename = f"business-case-{m.number}.pdf"
        self.add(Attachment.__table__, self.next_id(Attachment), self.tenant_id, m.id, key_field, filename,
                 "application/pdf", len(data), hashlib.sha256(data).hexdigest(), storage_key, m.owner, at, None)
        self.chain.add(m.id, m.owner, "record.updated", {"changes": {key_field: [None, {"attached": [filename]}]}}, at)
        self.attachments += 1

    def approver(self, role: str, m: _Measure) -> int:
        return {"controller": self.people.controller, "cfo": self.people.cfo,
                "program_manager": self.people.program_managers[m.package // 2]}.get(role, self.people.admin.id)

    def requester(self, transition: Transition, m: _Measure) -> int:
        if "measure_owner" in transition.roles:
            return m.owner
        return self.people.program_managers[m.package // 2]

    def steps(self, m: _Measure, transition: Transition) -> list[Any]:
        scope = {**m.values, "stage": m.stage, "title": m.title}
        return [s for s in transition.approvals if s.threshold is None or s.threshold.holds(scope, today=self.now.date())]

    def transition(self, m: _Measure, transition: Transition, stage: str, at: dt.datetime) -> str:
        """A transition the measure went through: its request, approvals and move."""
        requester = self.requester(transition, m)
        request_id = self.next_id(TransitionRequest)
        steps = self.steps(m, transition)
        decided = at + dt.timedelta(hours=len(steps) * 20)
        self.add(TransitionRequest.__table__, request_id, self.tenant_id, m.id, self.workflow.key, transition.key,
                 self.config.version, stage, transition.target, "approved", requester, at, decided, "")
        self.chain.add(m.id, requester, "transition.requested", {
            "transition": transition.key, "from": stage, "to": transition.target, "request": request_id,
            "summary": f"Requested “{transition.label}”"}, at)
        for position, step in enumerate(steps):
            task_id = self.next_id(ApprovalTask)
            opened = at + dt.timedelta(hours=position * 20)
            voter = self.approver(step.role, m)
            due = opened + dt.timedelta(days=transition.escalate_after_days) if transition.escalate_after_days else None
            self.add(ApprovalTask.__table__, task_id, self.tenant_id, request_id, m.id, position, step.key,
                     step.label, step.role, 1, step.same_approver_allowed, "approved", opened, due,
                     opened + dt.timedelta(hours=19), transition.escalate_to, None, 1)
            self.add(ApprovalVote.__table__, self.next_id(ApprovalVote), self.tenant_id, task_id, request_id, voter,
                     None, "approve", "", opened + dt.timedelta(hours=19))
            self.chain.add(m.id, voter, "approval.decided", {
                "request": request_id, "task": task_id, "step": step.key, "decision": "approve",
                "on_behalf_of": None, "summary": f"{step.label}: approved"}, opened + dt.timedelta(hours=19))
        why = f"“{transition.label}”"
        if steps:
            self.chain.add(m.id, self.approver(steps[-1].role, m), "transition.approved", {
                "request": request_id, "transition": transition.key,
                "summary": f"“{transition.label}” approved"}, decided)
            why += " approved"
        self.chain.add(m.id, requester, "record.transitioned", {
            "from": stage, "to": transition.target, "request": request_id,
            "summary": f"{self.labels.get(stage, stage)} → {self.labels.get(transition.target)} ({why})",
            "changes": {"stage": [stage, transition.target]}}, decided)
        return transition.target

    def request(self, m: _Measure, transition: Transition, stage: str, at: dt.datetime) -> None:
        """A request in flight: its first step open (and due), the others waiting."""
        requester = self.requester(transition, m)
        request_id = self.next_id(TransitionRequest)
        self.add(TransitionRequest.__table__, request_id, self.tenant_id, m.id, self.workflow.key, transition.key,
                 self.config.version, stage, transition.target, "pending", requester, at, None, "")
        self.chain.add(m.id, requester, "transition.requested", {
            "transition": transition.key, "from": stage, "to": transition.target, "request": request_id,
            "summary": f"Requested “{transition.label}”"}, at)
        for position, step in enumerate(self.steps(m, transition)):
            is_open = position == 0
            due = at + dt.timedelta(days=transition.escalate_after_days) \
                if is_open and transition.escalate_after_days else None
            self.add(ApprovalTask.__table__, self.next_id(ApprovalTask), self.tenant_id, request_id, m.id, position,
                     step.key, step.label, step.role, 1, step.same_approver_allowed,
                     "pending" if is_open else "waiting", at if is_open else None, due, None,
                     transition.escalate_to, None, 0)
            if is_open:
                self.pending[step.role] = self.pending.get(step.role, 0) + 1


TABLES: list[tuple[Table, tuple[str, ...]]] = [
    (Record.__table__, ("id", "tenant_id", "level_key", "parent_id", "path", "depth", "number", "title", "owner_id",
                        "stage_key", "values", "version", "config_version", "created_at", "updated_at",
                        "created_by_id", "updated_by_id", "deleted_at")),
    (PeriodValue.__table__, ("id", "tenant_id", "record_id", "field_key", "period", "scenario", "amount")),
    (StatusChange.__table__, ("id", "tenant_id", "record_id", "dimension_key", "old_value", "new_value", "comment",
                              "user_id", "changed_at")),
    (Attachment.__table__, ("id", "tenant_id", "record_id", "field_key", "filename", "content_type", "size",
                            "sha256", "storage_key", "uploaded_by_id", "created_at", "deleted_at")),
    (Comment.__table__, ("id", "tenant_id", "record_id", "user_id", "body", "created_at")),
    (TransitionRequest.__table__, ("id", "tenant_id", "record_id", "workflow_key", "transition_key", "config_version",
                                   "from_stage", "to_stage", "state", "requested_by_id", "requested_at",
                                   "decided_at", "comment")),
    (ApprovalTask.__table__, ("id", "tenant_id", "request_id", "record_id", "position", "step_key", "label", "role",
                              "needed", "same_approver_allowed", "state", "opened_at", "due_at", "decided_at",
                              "escalate_to", "escalated_at", "claims")),
    (ApprovalVote.__table__, ("id", "tenant_id", "task_id", "request_id", "user_id", "on_behalf_of_id", "decision",
                              "comment", "decided_at")),
]


def generate(session: Session, slug: str, measures: int, *, blobs: BlobStore | None = None, seed: int = 1,
             progress: Callable[[int], None] | None = None) -> Result:
    """Generate the tenant ``slug`` with ``measures`` measures (see the module docstring).

    Runs in the caller's transaction and commits at the end. ``blobs`` receives the
    business case files (without it, attachments are rows only). ``progress`` is called
    with the number of measures written so far.
    """
    started = time.perf_counter()
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise ValueError(f"a workspace {slug!r} exists already; pick another slug or a fresh database")
    tenant, _ = tenants.store_config(session, _documents(slug))
    with scoping.within_tenant(session, tenant.id):
        return _populate(session, tenant, measures, blobs, random.Random(seed), progress, started)


def _populate(session: Session, tenant: Tenant, measures: int, blobs: BlobStore | None, rng: random.Random,
              progress: Callable[[int], None] | None, started: float) -> Result:
    """The new workspace's people, records and history, in a session bound to it."""
    slug = tenant.slug
    now = _utcnow()
    config = tenants.active_config(session, tenant)
    admin = create_user(session, f"admin@{slug}.example", "Anna Admin", BENCH_PASSWORD)
    tenants.add_member(session, tenant, admin, [("tenant_admin", None)])
    records = Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, admin)), blobs)
    portfolios, programs, packages = _hierarchy(records)
    session.flush()

    writer = _Writer(session)
    people = _people(session, writer, tenant, slug, measures, portfolios, programs, packages, admin)
    chain = _Chain(session, writer, tenant.id)
    measure_writer = _MeasureWriter(session, writer, chain, config, tenant.id, people, packages, programs,
                                    blobs, now, rng)
    level = config.levels[MEASURE]
    workflow = measure_writer.workflow
    plans = _stages(measures, rng)
    record_ids = writer.ids(Record.__table__, measures)
    span = dt.timedelta(days=300)
    for start in range(0, measures, CHUNK):
        chunk = []
        for i in range(start, min(start + CHUNK, measures)):
            package = i * PACKAGES // measures
            owners = people.owners[package]
            owner = owners[i % len(owners)]
            plan = plans[i]
            waiting = _awaiting(workflow, plan.split(":", 1)[1]) if plan.startswith("pending:") else None
            stage = waiting.sources[0] if waiting else plan
            values = measure_writer.values(i, owner, stage, waiting)
            chunk.append(_Measure(
                id=record_ids[i], number=f"{level.number_prefix}-{i + 1:0{level.number_digits}d}",
                title=f"{VERBS[i % len(VERBS)]} {OBJECTS[(i // len(VERBS)) % len(OBJECTS)]} #{i + 1}",
                package=package, owner=owner, stage=stage, passed=_path_to(workflow, stage), waiting=waiting,
                values=values, grid=measure_writer.grid(values.get("potential") or 0),
                created=now - dt.timedelta(days=400) + span * (i / max(1, measures))))
        measure_writer.write_chunk(chunk)
        if progress:
            progress(min(start + CHUNK, measures))
    session.add(NumberCounter(tenant_id=tenant.id, level_key=MEASURE, last=measures))
    session.flush()
    writer.finish()
    session.commit()
    if writer.postgres:
        session.execute(text("ANALYZE"))  # what autovacuum would do soon after a load this size
        session.commit()
    else:  # SQLite's planner needs the numbers to prefer a record's index to the tenant's
        statistics.refresh(session.connection().connection.dbapi_connection)
        session.commit()
    counts = writer.counts
    logins = {"tenant_admin": admin.email, "controller": f"controller@{slug}.example",
              "cfo": f"cfo@{slug}.example", "program_manager": f"pm1@{slug}.example",
              "measure_owner": f"owner1-1@{slug}.example", "viewer": f"viewer@{slug}.example"}
    return Result(
        tenant_id=tenant.id, slug=slug, measures=measures, users=counts.get("user_account", 0) + 1,
        period_values=counts.get("period_value", 0),
        audit_events=session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == tenant.id)) or 0,
        comments=counts.get("comment", 0), attachments=counts.get("attachment", 0),
        pending=dict(measure_writer.pending), package_id=packages[0].id,
        seconds=time.perf_counter() - started, logins=logins)

