"""Report PDFs as background jobs, and the cache of finished ones.

A PDF of a long report takes seconds, too long for a request. :class:`ReportJobs` (for
one reader in one tenant) answers a download at once from the cache when an identical
PDF exists, and otherwise records a :class:`ReportJob` and hands its id to a runner:

- :class:`ThreadRunner`, the embedded default: a small thread pool in the web process;
- :class:`RQRunner` when ``REDIS_URL`` is set: the job goes to a Redis queue and a
  ``steerco worker`` process (RQ) renders it.

Either way :func:`run_job` does the work in its own database sessions, each bound to the
job's workspace (the runner's message names workspace and job; a job id under another
workspace finds nothing): it builds the
report data as the requester may see it, prints it, stores the PDF through the blob store
(``put/get/remove`` only) and writes progress (0-100 and a message) as it goes, so the
browser can poll the job's row.

The cache key is what the PDF shows: the report, the configuration version, the data
version (the tenant's latest audit event: every write appends one), the reader's access
signature (their grants; their user id too when a role of theirs reads "own" records)
and what they chose: the scope, the reporting periods, a snapshot (``as_of``). An unchanged report is therefore instant to download again,
for anyone who would see exactly the same, and a changed record makes a new key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from steerco.config.model import Report, TenantConfig
from steerco.engine import tenants
from steerco.engine.access import Access, Actor
from steerco.engine.errors import NotFound
from steerco.reports import snapshots
from steerco.reports.data import build_report, data_version
from steerco.reports.period import PeriodRange, parse_period
from steerco.reports.render import Printer
from steerco.store import scoping
from steerco.store.blobs import BlobStore
from steerco.store.models import Record, ReportJob, ReportSnapshot, Tenant, User, utcnow

log = logging.getLogger(__name__)

#: a queued or running job older than this is presumed lost (a worker died); ask again
STALE_AFTER = dt.timedelta(minutes=15)
#: RQ's own limit for one job
JOB_TIMEOUT_SECONDS = 600


def access_signature(config: TenantConfig, actor: Actor) -> str:
    """Who sees the same data: the same grants (and the same person when a role of
    theirs reads only their own records)."""
    grants = sorted((g.role, g.node_path or "") for g in actor.grants)
    own = any(p.scope == "own" for g in actor.grants if (role := config.roles.get(g.role))
              for p in role.permissions)
    return hashlib.sha256(json.dumps([grants, actor.user_id if own else None]).encode()).hexdigest()


def cache_key(tenant_id: int, config: TenantConfig, report: Report, version: int, actor: Actor,
              params: dict[str, Any]) -> str:
    parts = [tenant_id, report.key, config.version, version, access_signature(config, actor),
             sorted(params.items())]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def download_name(report: Report, under: Record | None = None, period: PeriodRange | None = None,
                  snapshot: ReportSnapshot | None = None) -> str:
    parts = [report.title, under.number if under else "", period.param if period else "",
             f"snapshot {snapshot.created_at:%Y-%m-%d}" if snapshot else ""]
    return " - ".join(p for p in parts if p) + ".pdf"


class ReportJobs:
    """Report PDFs for one reader in one tenant: from the cache, or as a job."""

    def __init__(self, session: Session, tenant_id: int, config: TenantConfig, access: Access,
                 blobs: BlobStore, now: dt.datetime | None = None):
        self.session, self.tenant_id, self.config, self.access = session, tenant_id, config, access
        self.blobs = blobs
        self.now = now

    def key(self, report: Report, under: Record | None, period: PeriodRange | None = None,
            snapshot: ReportSnapshot | None = None) -> str:
        return cache_key(self.tenant_id, self.config, report, data_version(self.session, self.tenant_id),
                         self.access.actor, _params(under, period, snapshot))

    def cached(self, report: Report, under: Record | None = None, period: PeriodRange | None = None,
               snapshot: ReportSnapshot | None = None) -> ReportJob | None:
        """A finished PDF showing exactly what this reader would get now, if one exists."""
        return self.session.scalar(
            select(ReportJob).where(ReportJob.tenant_id == self.tenant_id,
                                    ReportJob.cache_key == self.key(report, under, period, snapshot),
                                    ReportJob.state == "done", ReportJob.result_key.is_not(None))
            .order_by(ReportJob.id.desc()).limit(1))

    def start(self, report: Report, under: Record | None = None, period: PeriodRange | None = None,
              snapshot: ReportSnapshot | None = None) -> tuple[ReportJob, bool]:
        """The reader's job for this report: one already under way, or a new one (True).
        The caller commits, then submits a new job to a runner."""
        key = self.key(report, under, period, snapshot)
        since = (self.now or utcnow()) - STALE_AFTER
        running = self.session.scalar(
            select(ReportJob).where(ReportJob.tenant_id == self.tenant_id, ReportJob.cache_key == key,
                                    ReportJob.user_id == self.access.actor.user_id,
                                    ReportJob.state.in_(("queued", "running")), ReportJob.created_at >= since)
            .order_by(ReportJob.id.desc()).limit(1))
        if running is not None:
            return running, False
        job = ReportJob(tenant_id=self.tenant_id, user_id=self.access.actor.user_id, report_key=report.key,
                        params=_params(under, period, snapshot), cache_key=key, config_version=self.config.version,
                        data_version=data_version(self.session, self.tenant_id), state="queued", progress=0,
                        message="Waiting for a worker", filename=download_name(report, under, period, snapshot),
                        created_at=self.now or utcnow())
        self.session.add(job)
        self.session.flush()
        return job, True

    def get(self, job_id: int) -> ReportJob:
        """The reader's own job; anyone else's (or another tenant's) is NotFound."""
        job = self.session.scalar(select(ReportJob).where(
            ReportJob.id == job_id, ReportJob.tenant_id == self.tenant_id,
            ReportJob.user_id == self.access.actor.user_id))
        if job is None:
            raise NotFound("no such report job")
        return job

    def pdf(self, job: ReportJob) -> bytes:
        if job.state != "done" or not job.result_key:
            raise NotFound("this report has no PDF (yet)")
        return self.blobs.get(self.tenant_id, job.result_key)


def _params(under: Record | None, period: PeriodRange | None = None,
            snapshot: ReportSnapshot | None = None) -> dict[str, Any]:
    """What the reader chose, as a job keeps it: the subtree, the periods, the snapshot."""
    params: dict[str, Any] = {"under": under.id} if under is not None else {}
    if period is not None:
        params["period"] = period.param
    if snapshot is not None:
        params["as_of"] = snapshot.id
    return params


# -- doing the work ------------------------------------------------------------------------
@dataclass(frozen=True)
class JobEnvironment:
    """What a worker needs: fresh database sessions, the blob store and a printer."""

    sessions: Callable[[], Session]
    blobs: BlobStore
    printer: Printer


_environment: JobEnvironment | None = None


def configure(environment: JobEnvironment) -> None:
    """Set this process's environment for :func:`perform` (the RQ worker, before working)."""
    global _environment
    _environment = environment


def perform(tenant_id: int, job_id: int) -> None:
    """RQ's entry point: run one job in the environment :func:`configure` set."""
    if _environment is None:
        raise RuntimeError("steerco.reports.jobs.configure() was not called in this worker")
    run_job(_environment, tenant_id, job_id)


@contextmanager
def _session(environment: JobEnvironment, tenant_id: int) -> Iterator[Session]:
    """A fresh session of the worker, bound to the job's workspace (the tenant tripwire
    refuses a query of tenant data in a session bound to none)."""
    with environment.sessions() as session:
        scoping.bind_to_tenant(session, tenant_id)
        yield session


class _Progress:
    """Writes a job's progress in its own short transactions, so pollers see it at once."""

    def __init__(self, environment: JobEnvironment, tenant_id: int, job_id: int):
        self.environment, self.tenant_id, self.job_id = environment, tenant_id, job_id
        self.last = (-1, "")

    def __call__(self, percent: int, message: str, **values: Any) -> None:
        if (percent, message) == self.last and not values:
            return
        self.last = (percent, message)
        with _session(self.environment, self.tenant_id) as session:
            session.execute(update(ReportJob).where(ReportJob.id == self.job_id).values(
                progress=max(0, min(100, percent)), message=message[:200], **values))
            session.commit()


def run_job(environment: JobEnvironment, tenant_id: int, job_id: int) -> None:
    """Render one job's PDF as its requester may see the report, store it, say so."""
    progress = _Progress(environment, tenant_id, job_id)
    with _session(environment, tenant_id) as session:
        job = session.get(ReportJob, job_id)
        if job is None or job.state not in ("queued", "running"):
            return
        progress(1, "Starting", state="running", started_at=utcnow())
        try:
            job, key, pdf = _render(session, environment, job, progress)
        except Exception as exc:  # noqa: BLE001 - any failure is told to the requester, not lost
            session.rollback()
            log.exception("report job %s failed", job_id)
            progress(100, "The report could not be rendered.", state="failed", finished_at=utcnow(),
                     error=f"{type(exc).__name__}: {exc}"[:2000])
            return
        blob = environment.blobs.put(job.tenant_id, pdf)
        progress(100, "Ready", state="done", finished_at=utcnow(), result_key=blob, result_size=len(pdf),
                 cache_key=key)
        _expire_superseded(environment, tenant_id, job_id)


def _render(session: Session, environment: JobEnvironment, job: ReportJob,
            progress: Callable[[int, str], None]) -> tuple[ReportJob, str, bytes]:
    """The job's PDF, and the cache key of what it really shows (the data may have moved on
    since the request, the requester's roles too)."""
    tenant_id = job.tenant_id
    tenant = session.get(Tenant, tenant_id)
    user = session.get(User, job.user_id)
    assert tenant is not None and user is not None
    config = tenants.config_version(session, tenant_id, job.config_version)
    report = config.reports.get(job.report_key)
    if report is None:
        raise NotFound(f"report {job.report_key!r} is not in configuration version {job.config_version}")
    access = Access(config, tenants.actor_for(session, tenant, user))
    under = None
    if job.params.get("under"):
        under = session.scalar(select(Record).where(Record.id == job.params["under"], Record.tenant_id == tenant_id,
                                                    Record.deleted_at.is_(None), access.read_filter()))
        if under is None:
            raise NotFound("the record the report was limited to is no longer readable")
    period = parse_period(config, job.params.get("period"))
    snapshot = None
    if job.params.get("as_of"):
        snapshot = snapshots.get(session, tenant_id, report, job.params["as_of"])
        data = snapshots.view_for(session, tenant_id, config, access, snapshot)
        if data is None:
            raise NotFound("this snapshot holds no view you may see")
        version = data_version(session, tenant_id)
    else:
        data = build_report(session, tenant_id, config, access, report, under=under, progress=progress, period=period)
        version = data.data_version
    pdf = environment.printer.report_pdf(config, report, data, progress)
    key = cache_key(tenant_id, config, report, version, access.actor, _params(under, period, snapshot))
    return job, key, pdf


def _expire_superseded(environment: JobEnvironment, tenant_id: int, job_id: int) -> None:
    """Older finished PDFs of the same report for the same reader show older data: drop them."""
    with _session(environment, tenant_id) as session:
        job = session.get(ReportJob, job_id)
        assert job is not None
        older = list(session.scalars(select(ReportJob).where(
            ReportJob.tenant_id == job.tenant_id, ReportJob.user_id == job.user_id,
            ReportJob.report_key == job.report_key, ReportJob.id < job.id, ReportJob.state == "done",
            ReportJob.cache_key != job.cache_key)))
        for stale in older:
            if stale.result_key:
                environment.blobs.remove(stale.tenant_id, stale.result_key)
            stale.state, stale.result_key = "expired", None
        session.commit()


# -- runners -------------------------------------------------------------------------------
class Runner(Protocol):
    """Something that runs a committed job soon."""

    def submit(self, tenant_id: int, job_id: int) -> None: ...


class ThreadRunner:
    """The embedded default: jobs run on a small thread pool inside the web process."""

    def __init__(self, environment: JobEnvironment, workers: int = 1):
        self.environment = environment
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="steerco-report")
        self.futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, tenant_id: int, job_id: int) -> None:
        with self._lock:
            self.futures[job_id] = self.pool.submit(run_job, self.environment, tenant_id, job_id)

    def wait(self, job_id: int, timeout: float = 120) -> None:
        """Block until the job has run (tests, the command line)."""
        with self._lock:
            future = self.futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)


class RQRunner:
    """Jobs go to a Redis queue; ``steerco worker`` (an RQ worker) runs them."""

    def __init__(self, redis_url: str, queue: str):
        from redis import Redis
        from rq import Queue

        self.queue = Queue(queue, connection=Redis.from_url(redis_url))

    def submit(self, tenant_id: int, job_id: int) -> None:
        self.queue.enqueue("steerco.reports.jobs.perform", tenant_id, job_id, job_timeout=JOB_TIMEOUT_SECONDS,
                           result_ttl=0, failure_ttl=24 * 3600, description=f"report job {job_id}")


def fail(session: Session, job: ReportJob, message: str) -> None:
    """Mark a job failed before it ran (its queue could not be reached)."""
    job.state, job.progress, job.message, job.error, job.finished_at = "failed", 100, message[:200], message, utcnow()
