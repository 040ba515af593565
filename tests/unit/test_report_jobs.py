"""Report PDFs as jobs, run by the in-process thread pool and by an RQ worker on Redis,
and the cache: an unchanged report is served from the finished job, a write makes a new
one, and nobody gets a PDF rendered for someone who may see more."""

from __future__ import annotations

import io
import socket
import uuid
from typing import Any

import pytest
from configs import minimal_documents
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from werkzeug.datastructures import MultiDict

from steerco.engine import tenants
from steerco.engine.access import Access
from steerco.engine.errors import NotFound
from steerco.engine.records import Submission
from steerco.reports import jobs
from steerco.reports.render import Printer
from steerco.store.blobs import DiskBlobStore
from steerco.store.models import ReportJob


def documents() -> dict[str, Any]:
    docs = minimal_documents()
    docs["roles"]["roles"].append({"key": "reader", "label": "Reader", "fields": {"potential": "hidden"},
                                   "permissions": [{"levels": ["*"], "actions": ["read"], "scope": "tenant"}]})
    docs["reports"] = {"reports": [{
        "key": "pack", "title": "Measure pack", "audience": ["admin", "reader", "owner"], "level": "measure",
        "sections": [{"type": "kpi_tiles", "title": "Headline", "tiles": [
            {"label": "Total potential", "field": "potential", "aggregate": "sum"}]},
            {"type": "table", "columns": ["number", "title", "potential"], "totals": True}],
    }]}
    return docs


@pytest.fixture
def environment(db_engine, upload_dir) -> jobs.JobEnvironment:  # type: ignore[no-untyped-def]
    return jobs.JobEnvironment(sessionmaker(db_engine, expire_on_commit=False), DiskBlobStore(upload_dir), Printer())


@pytest.fixture
def world(session, make_tenant, make_user, records_for):  # type: ignore[no-untyped-def]
    tenant = make_tenant(documents())
    admin = make_user(tenant)
    records = records_for(tenant, admin)
    program = records.create("program", None, Submission("Program", MultiDict()))
    measure = records.create("measure", program, Submission("Steel", MultiDict({"potential": "1234"})))
    session.commit()
    return tenant, admin, measure


def service(session, tenant, user, upload_dir) -> tuple[jobs.ReportJobs, Any]:  # type: ignore[no-untyped-def]
    config = tenants.active_config(session, tenant)
    access = Access(config, tenants.actor_for(session, tenant, user))
    return jobs.ReportJobs(session, tenant.id, config, access, DiskBlobStore(upload_dir)), config.reports["pack"]


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_thread_runner_renders_a_job_with_progress_and_the_cache_answers_after(  # type: ignore[no-untyped-def]
        session, world, environment, upload_dir, make_user, records_for):
    tenant, admin, measure = world
    report_jobs, report = service(session, tenant, admin, upload_dir)
    assert report_jobs.cached(report) is None
    job, new = report_jobs.start(report)
    assert new and job.state == "queued" and job.message == "Waiting for a worker"
    session.commit()
    again, new = report_jobs.start(report)  # asking twice does not render twice
    assert again.id == job.id and not new
    runner = jobs.ThreadRunner(environment)
    runner.submit(tenant.id, job.id)
    runner.wait(job.id)
    session.expire_all()
    done = session.get(ReportJob, job.id)
    assert (done.state, done.progress, done.message) == ("done", 100, "Ready")
    assert done.started_at and done.finished_at and done.result_size
    pdf = report_jobs.pdf(done)
    assert "Measure pack" in text_of(pdf) and "€1,234" in text_of(pdf)
    # Unchanged: served from the cache, to the same reader and to anyone with the same access.
    assert report_jobs.cached(report).id == job.id
    colleague, _ = service(session, tenant, make_user(tenant), upload_dir)
    assert colleague.cached(report).id == job.id
    # A reader who sees less never gets it.
    reader, _ = service(session, tenant, make_user(tenant, [("reader", None)]), upload_dir)
    assert reader.cached(report) is None
    # A changed record is a new data version: the cached PDF no longer answers.
    records = records_for(tenant, admin)
    records.update(measure, Submission("Steel", MultiDict({"potential": "999"})), measure.version)
    session.commit()
    assert report_jobs.cached(report) is None
    second, new = report_jobs.start(report)
    session.commit()
    runner.submit(tenant.id, second.id)
    runner.wait(second.id)
    session.expire_all()
    assert "€999" in text_of(report_jobs.pdf(report_jobs.cached(report)))
    # The superseded PDF is dropped from the blob store.
    first = session.get(ReportJob, job.id)
    assert first.state == "expired" and first.result_key is None


def test_a_job_is_its_requesters_alone(session, world, upload_dir, make_user) -> None:  # type: ignore[no-untyped-def]
    tenant, admin, _ = world
    report_jobs, report = service(session, tenant, admin, upload_dir)
    job, _ = report_jobs.start(report)
    session.commit()
    other, _ = service(session, tenant, make_user(tenant), upload_dir)
    with pytest.raises(NotFound):
        other.get(job.id)
    with pytest.raises(NotFound):
        report_jobs.pdf(job)  # not rendered yet


def test_own_scope_readers_never_share_a_cached_pdf(session, world, make_user, upload_dir) -> None:  # type: ignore[no-untyped-def]
    tenant, _, _ = world
    config = tenants.active_config(session, tenant)
    first, second = (tenants.actor_for(session, tenant, make_user(tenant, [("owner", None)])) for _ in range(2))
    assert jobs.access_signature(config, first) != jobs.access_signature(config, second)
    admins = [tenants.actor_for(session, tenant, make_user(tenant)) for _ in range(2)]
    assert jobs.access_signature(config, admins[0]) == jobs.access_signature(config, admins[1])


def test_a_failing_job_says_so(session, world, environment, upload_dir) -> None:  # type: ignore[no-untyped-def]
    tenant, admin, _ = world
    report_jobs, report = service(session, tenant, admin, upload_dir)
    job, _ = report_jobs.start(report)
    job.report_key = "no_such_report"
    session.commit()
    jobs.run_job(environment, tenant.id, job.id)
    session.expire_all()
    failed = session.get(ReportJob, job.id)
    assert (failed.state, failed.progress) == ("failed", 100)
    assert failed.message == "The report could not be rendered." and "no_such_report" in failed.error


def _redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_running(), reason="no Redis on 127.0.0.1:6379")
def test_an_rq_worker_renders_a_queued_job(session, world, environment, upload_dir) -> None:  # type: ignore[no-untyped-def]
    from redis import Redis
    from rq import Queue, SimpleWorker

    tenant, admin, _ = world
    report_jobs, report = service(session, tenant, admin, upload_dir)
    job, _ = report_jobs.start(report)
    session.commit()
    name = f"steerco-test-{uuid.uuid4().hex}"
    runner = jobs.RQRunner("redis://127.0.0.1:6379/0", name)
    runner.submit(tenant.id, job.id)
    connection = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        assert Queue(name, connection=connection).count == 1
        jobs.configure(environment)
        SimpleWorker([Queue(name, connection=connection)], connection=connection).work(burst=True)
    finally:
        Queue(name, connection=connection).delete(delete_jobs=True)
    session.expire_all()
    done = session.get(ReportJob, job.id)
    assert done.state == "done" and "€1,234" in text_of(report_jobs.pdf(done))
    assert session.scalar(select(ReportJob.id).where(ReportJob.state == "queued")) is None
