#!/usr/bin/env python
"""Load test: two gunicorn processes on PostgreSQL, evidence in an S3 emulator, 50 users.

    python bench/load_test.py [--users 50] [--seconds 60] [--measures 2000]
                              [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/steerco_scale_load]

What it sets up (everything on this machine, on the loopback):

1. a scratch PostgreSQL database (dropped and created; its name must start with ``steerco_``),
   migrated with ``steerco db upgrade``;
2. moto's S3 server (``moto_server``, a separate process) with one bucket; the app stores
   evidence there (``STEERCO_BLOB_URL``);
3. a tenant ``load`` from ``steerco bench-data load --measures N`` (its business case files
   go to the bucket too), plus more approvers (``steerco user create``) and API tokens;
4. two gunicorn processes (``--workers`` gthread workers of ``--threads`` threads each) on
   two ports, sharing nothing but the database, the bucket and the secret key.

Then ``--users`` simulated people (threads with their own ``requests`` session), for
``--seconds``, each sending every request to the other server than the one before:

- editors open the edit form of a measure in a small "hot" set (so that people collide)
  and save a new KPI value with the version the form carried (303 saved, 409 stale);
- uploaders attach a business case file to a hot measure through the same form;
- approvers approve open steps through the JSON API, several of them racing for the same
  few steps (200 decided, 409 decided already).

Afterwards it checks, from the database and the bucket: no response was a server error;
no lost update (every accepted save is in the audit trail with the value it sent, each
record's KPI changes link old to new without a gap, and the final value is the last
accepted one); every accepted upload is stored and downloads back byte for byte; no double
decision (at most one vote per single-approver step, one per accepted decision); and
``steerco audit verify`` passes. It prints requests per second and exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import html
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SLUG = "load"
PASSWORD = "steerco-bench"
BUCKET = "steerco-load"
HOT = 40  # measures that editors and uploaders share


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


# ---------------------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------------------

@dataclass
class Setup:
    env: dict[str, str]
    servers: list[str]
    processes: list[subprocess.Popen]
    logs: list[Path]
    tmp: Path


def steerco(env: dict[str, str], *args: str, input: str | None = None) -> str:
    done = subprocess.run([str(BIN / "steerco"), *args], env=env, capture_output=True, text=True,
                          input=input, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"steerco {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def set_up(args: argparse.Namespace, processes: list[subprocess.Popen]) -> Setup:
    """Everything the users need; ``processes`` collects what was started, so the caller
    stops it even when the set-up fails half-way."""
    tmp = Path(tempfile.mkdtemp(prefix="steerco-load-"))
    name = args.database_url.rsplit("/", 1)[1]
    if not name.startswith("steerco_"):
        raise SystemExit(f"refusing to drop database {name!r}: use a scratch database named steerco_...")
    server = create_engine(args.database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()

    logs: list[Path] = []
    s3_port = free_port()
    s3_log = tmp / "moto.log"
    processes.append(subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
                                      stdout=s3_log.open("w"), stderr=subprocess.STDOUT))
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "load", "AWS_SECRET_ACCESS_KEY": "load",
           "AWS_DEFAULT_REGION": "us-east-1", "STEERCO_DATABASE_URL": args.database_url,
           "STEERCO_BLOB_URL": f"s3://{BUCKET}/evidence?endpoint_url={endpoint}",
           "STEERCO_SECRET_KEY": "load-test-" + os.urandom(8).hex(), "STEERCO_INSTANCE": str(tmp / "instance"),
           "STEERCO_UPLOAD_DIR": str(tmp / "no-local-uploads")}
    wait_for(endpoint)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="load", aws_secret_access_key="load",
                 region_name="us-east-1").create_bucket(Bucket=BUCKET)

    print("migrating the database, generating the tenant ...", flush=True)
    steerco(env, "db", "upgrade")
    print("  " + steerco(env, "bench-data", SLUG, "--measures", str(args.measures)).splitlines()[-2], flush=True)
    extra = [("controller", 4), ("program_manager", 3)]
    for role, count in extra:
        for n in range(count):
            steerco(env, "user", "create", f"{role}-{n + 2}@{SLUG}.example", "--name", f"{role} {n + 2}",
                    "--password", PASSWORD, "--tenant", SLUG, "--role", role)

    servers = []
    for _ in range(2):
        port = free_port()
        log = tmp / f"gunicorn-{port}.log"
        logs.append(log)
        processes.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
             "--worker-class", "gthread", "--threads", str(args.threads), "--timeout", "120",
             "--graceful-timeout", "10", "--no-control-socket", "--keep-alive", "75",
             "--error-logfile", str(log), "steerco:create_app()"],
            env=env, cwd=str(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append(f"http://127.0.0.1:{port}")
    for url in servers:
        wait_for(url + "/login")
    return Setup(env, servers, processes, logs, tmp)


def tear_down(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------------------------------
# Simulated people
# ---------------------------------------------------------------------------------------

@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    statuses: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    saves: list[tuple[int, float]] = field(default_factory=list)  # (record id, KPI value) accepted
    uploads: list[tuple[int, str, str]] = field(default_factory=list)  # (record id, filename, sha256) accepted
    decisions: list[int] = field(default_factory=list)  # task ids decided with 200
    errors: list[str] = field(default_factory=list)

    def note(self, action: str, response: requests.Response, started: float) -> None:
        with self.lock:
            self.latencies[action].append(time.perf_counter() - started)
            self.statuses[action][response.status_code] += 1
            if response.status_code >= 500:
                self.errors.append(f"{action} {response.request.method} {response.url}: {response.status_code}")


class Person(threading.Thread):
    """One user with a session, alternating between the servers on every request."""

    def __init__(self, email: str, servers: list[str], stats: Stats, deadline: float, seed: int):
        super().__init__(daemon=True)
        self.email, self.servers, self.stats, self.deadline = email, servers, stats, deadline
        self.http = requests.Session()
        self.turn = seed
        self.rng = random.Random(seed)

    def url(self, path: str) -> str:
        self.turn += 1
        return self.servers[self.turn % len(self.servers)] + path

    def call(self, action: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        response = self.http.request(method, self.url(path), allow_redirects=False, timeout=120, **kwargs)
        self.stats.note(action, response, started)
        return response

    def login(self) -> None:
        page = self.call("login", "GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer = self.call("login", "POST", "/login", data={"email": self.email, "password": PASSWORD,
                                                           "csrf_token": token})
        assert answer.status_code == 302, f"{self.email} cannot log in: {answer.status_code}"

    def run(self) -> None:
        try:
            self.login()
            while time.time() < self.deadline:
                self.act()
        except Exception as failure:  # noqa: BLE001 - a crashed simulated user is a finding
            with self.stats.lock:
                self.stats.errors.append(f"{self.email}: {failure!r}")

    def act(self) -> None:
        raise NotImplementedError

    def open_form(self, record_id: int) -> tuple[str, str, str] | None:
        page = self.call("edit form", "GET", f"/t/{SLUG}/r/{record_id}/edit")
        if page.status_code != 200:
            return None
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        version = re.search(r'name="version" value="(\d+)"', page.text)
        title = re.search(r'name="title"[^>]*value="([^"]*)"', page.text)
        assert csrf and version and title, "the edit form lacks csrf_token, version or title"
        return csrf.group(1), version.group(1), html.unescape(title.group(1))


class Editor(Person):
    counter = iter(range(1, 10_000_000))

    def __init__(self, *args: Any, hot: list[int]):
        super().__init__(*args)
        self.hot = hot

    def act(self) -> None:
        record_id = self.rng.choice(self.hot)
        form = self.open_form(record_id)
        if form is None:
            return
        csrf, version, title = form
        value = float(100000 + next(Editor.counter)) + 0.5
        saved = self.call("save", "POST", f"/t/{SLUG}/r/{record_id}/edit", data={
            "csrf_token": csrf, "version": version, "title": title, "kpi_actual_value": str(value)})
        if saved.status_code == 303:
            with self.stats.lock:
                self.stats.saves.append((record_id, value))


class Uploader(Editor):
    def act(self) -> None:
        record_id = self.rng.choice(self.hot)
        form = self.open_form(record_id)
        if form is None:
            return
        csrf, version, title = form
        n = next(Editor.counter)
        data = f"%PDF-1.4\n% business case upload {n} for record {record_id}\n".encode() + os.urandom(2048)
        name = f"case-{n}.pdf"
        saved = self.call("upload", "POST", f"/t/{SLUG}/r/{record_id}/edit",
                          data={"csrf_token": csrf, "version": version, "title": title},
                          files={"business_case": (name, data, "application/pdf")})
        if saved.status_code == 303:
            with self.stats.lock:
                self.stats.uploads.append((record_id, name, hashlib.sha256(data).hexdigest()))


class Approver(Person):
    def __init__(self, *args: Any, token: str, queue: list[int], queue_lock: threading.Lock):
        super().__init__(*args)
        self.token, self.queue, self.queue_lock = token, queue, queue_lock

    def login(self) -> None:  # the JSON API needs no session
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def act(self) -> None:
        with self.queue_lock:
            if not self.queue:
                time.sleep(0.2)
                return
            task_id = self.rng.choice(self.queue[:4])  # several approvers race for the same few steps
        answer = self.call("approve", "POST", f"/api/t/{SLUG}/approvals/{task_id}", json={"decision": "approve"})
        if answer.status_code in (200, 409, 403, 422):
            with self.queue_lock:
                if task_id in self.queue:
                    self.queue.remove(task_id)
        if answer.status_code == 200:
            with self.stats.lock:
                self.stats.decisions.append(task_id)


def people(setup: Setup, args: argparse.Namespace, stats: Stats, deadline: float) -> list[Person]:
    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        tenant_id = conn.scalar(text("SELECT id FROM tenant WHERE slug = :s"), {"s": SLUG})
        package = conn.scalar(text("SELECT id FROM record WHERE tenant_id = :t AND level_key = 'measure_package' "
                                   "ORDER BY id LIMIT 1"), {"t": tenant_id})
        hot = list(conn.scalars(text("SELECT id FROM record WHERE parent_id = :p ORDER BY number LIMIT :n"),
                                {"p": package, "n": HOT}))
        tasks = {role: list(conn.scalars(text(
            "SELECT id FROM approval_task WHERE tenant_id = :t AND state = 'pending' AND role = :r ORDER BY id"),
            {"t": tenant_id, "r": role})) for role in ("controller", "program_manager")}
    engine.dispose()
    editors = ["admin", "portfolio1", "pm1"]
    crowd: list[Person] = []
    n_approvers = max(2, args.users * 16 // 50)
    n_uploaders = max(1, args.users * 10 // 50)
    n_editors = args.users - n_approvers - n_uploaders
    for i in range(n_editors):
        crowd.append(Editor(f"{editors[i % len(editors)]}@{SLUG}.example", setup.servers, stats, deadline, i,
                            hot=hot))
    for i in range(n_uploaders):
        crowd.append(Uploader(f"{editors[i % len(editors)]}@{SLUG}.example", setup.servers, stats, deadline,
                              1000 + i, hot=hot))
    approvers = [("controller", f"controller@{SLUG}.example")] + \
        [("controller", f"controller-{n}@{SLUG}.example") for n in range(2, 6)] + \
        [("program_manager", f"program_manager-{n}@{SLUG}.example") for n in range(2, 5)]
    tokens = {email: steerco(setup.env, "token", "create", email, "--name", "load test").splitlines()[1].strip()
              for _, email in approvers}
    locks = {role: threading.Lock() for role in tasks}
    for i in range(n_approvers):
        role, email = approvers[i % len(approvers)]
        crowd.append(Approver(email, setup.servers, stats, deadline, 2000 + i, token=tokens[email],
                              queue=tasks[role], queue_lock=locks[role]))
    return crowd


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------

def check(setup: Setup, args: argparse.Namespace, stats: Stats) -> list[str]:
    problems = list(stats.errors)
    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        tenant_id = conn.scalar(text("SELECT id FROM tenant WHERE slug = :s"), {"s": SLUG})
        # -- lost updates -------------------------------------------------------------------------
        changes: dict[int, list[tuple[Any, Any]]] = collections.defaultdict(list)
        for record_id, data in conn.execute(text(
                "SELECT record_id, data FROM audit_event WHERE tenant_id = :t AND kind = 'record.updated' "
                "ORDER BY id"), {"t": tenant_id}):
            data = data if isinstance(data, dict) else json.loads(data)
            change = data.get("changes", {}).get("kpi_actual_value")
            if change is not None:
                changes[record_id].append(tuple(change))
        accepted = collections.defaultdict(list)
        for record_id, value in stats.saves:
            accepted[record_id].append(value)
        logged = {(r, new) for r, chain in changes.items() for _, new in chain}
        missing = [(r, v) for r, v in stats.saves if (r, v) not in logged]
        if missing:
            problems.append(f"lost updates: {len(missing)} accepted saves are not in the audit trail, e.g. {missing[:3]}")
        phantom = [(r, new) for r, chain in changes.items() for _, new in chain if new not in accepted.get(r, [])]
        if phantom:
            problems.append(f"{len(phantom)} KPI changes in the audit trail that no accepted save sent")
        for record_id, chain in changes.items():
            for (_, before), (after_old, _) in zip(chain, chain[1:]):
                if before != after_old:
                    problems.append(f"record {record_id}: a save overwrote {before} without seeing it (saw {after_old})")
                    break
            final = conn.scalar(text("SELECT \"values\" FROM record WHERE id = :r"), {"r": record_id})
            final = final if isinstance(final, dict) else json.loads(final)
            if final.get("kpi_actual_value") != chain[-1][1]:
                problems.append(f"record {record_id}: final value {final.get('kpi_actual_value')} is not the "
                                f"last accepted save {chain[-1][1]}")
        # -- uploads ------------------------------------------------------------------------------
        stored = {(r, f): (a, s) for a, r, f, s in conn.execute(text(
            "SELECT id, record_id, filename, sha256 FROM attachment WHERE tenant_id = :t"), {"t": tenant_id})}
        lost_files = [u for u in stats.uploads if (u[0], u[1]) not in stored or stored[(u[0], u[1])][1] != u[2]]
        if lost_files:
            problems.append(f"{len(lost_files)} accepted uploads are not stored as sent, e.g. {lost_files[:3]}")
        # -- double decisions -----------------------------------------------------------------------
        doubles = conn.execute(text(
            "SELECT t.id, count(v.id) FROM approval_task t JOIN approval_vote v ON v.task_id = t.id "
            "WHERE t.tenant_id = :t GROUP BY t.id, t.needed HAVING count(v.id) > t.needed"), {"t": tenant_id}).all()
        if doubles:
            problems.append(f"double decisions on {len(doubles)} steps, e.g. {doubles[:3]}")
        decided_events = collections.Counter(
            (json.loads(d) if isinstance(d, str) else d)["task"] for d in conn.scalars(text(
                "SELECT data FROM audit_event WHERE tenant_id = :t AND kind = 'approval.decided' AND created_at > "
                "(SELECT min(created_at) FROM api_token)"), {"t": tenant_id}))
        if any(n > 1 for n in decided_events.values()) or set(decided_events) != set(stats.decisions) \
                or len(stats.decisions) != len(set(stats.decisions)):
            problems.append(f"{len(stats.decisions)} decisions accepted, {sum(decided_events.values())} recorded")
        moved = conn.execute(text(
            "SELECT (data->>'request'), count(*) FROM audit_event WHERE tenant_id = :t AND kind = 'record.transitioned' "
            "GROUP BY data->>'request' HAVING count(*) > 1"), {"t": tenant_id}).all()
        if moved:
            problems.append(f"{len(moved)} requests moved their record twice")
    engine.dispose()
    # -- the files download back, from the bucket, through both servers -----------------------------
    http = requests.Session()
    page = http.get(setup.servers[0] + "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    http.post(setup.servers[0] + "/login", data={"email": f"admin@{SLUG}.example", "password": PASSWORD,
                                                 "csrf_token": token})
    for n, (record_id, name, sha) in enumerate(stats.uploads):
        if (record_id, name) not in stored:
            continue
        got = http.get(f"{setup.servers[n % 2]}/t/{SLUG}/attachments/{stored[(record_id, name)][0]}")
        if got.status_code != 200 or hashlib.sha256(got.content).hexdigest() != sha:
            problems.append(f"{name} does not download back ({got.status_code})")
    verify = subprocess.run([str(BIN / "steerco"), "audit", "verify", "--tenant", SLUG], env=setup.env,
                            capture_output=True, text=True)
    print("  " + verify.stdout.strip())
    if verify.returncode != 0:
        problems.append("the audit chain is broken: " + verify.stdout.strip())
    for log in setup.logs:
        tracebacks = log.read_text().count("Traceback")
        if tracebacks:
            problems.append(f"{log.name}: {tracebacks} tracebacks")
    return problems


def report(stats: Stats, seconds: float, args: argparse.Namespace) -> None:
    total = sum(sum(c.values()) for c in stats.statuses.values())
    print()
    print(f"{args.users} users for {seconds:.0f} s against 2 gunicorn processes x {args.workers} workers x "
          f"{args.threads} threads: {total} requests, {total / seconds:.1f} requests/s")
    print()
    print(f"{'action':<12}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}  statuses")
    for action, latencies in stats.latencies.items():
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses[action].items()))
        print(f"{action:<12}{len(latencies):>10}{1000 * statistics.median(ordered):>9.0f}{1000 * p95:>9.0f}  {statuses}")
    errors = sum(n for c in stats.statuses.values() for code, n in c.items() if code >= 500)
    print()
    print(f"server errors: {errors}; accepted saves: {len(stats.saves)}, uploads: {len(stats.uploads)}, "
          f"decisions: {len(stats.decisions)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--measures", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per process (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/steerco_scale_load",
                        help="a scratch database (dropped and created); its name must start with steerco_")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder with the server logs")
    args = parser.parse_args(argv)
    processes: list[subprocess.Popen] = []
    stats = Stats()
    setup = None
    try:
        setup = set_up(args, processes)
        crowd = people(setup, args, stats, deadline=0)
        print(f"{len(crowd)} users at work for {args.seconds:.0f} s on {', '.join(setup.servers)} ...", flush=True)
        started = time.time()
        for person in crowd:
            person.deadline = started + args.seconds
            person.start()
        for person in crowd:
            person.join()
        elapsed = time.time() - started
        report(stats, elapsed, args)
        print("\nchecks:")
        problems = check(setup, args, stats)
    finally:
        tear_down(processes)
        if setup is not None and not args.keep:
            shutil.rmtree(setup.tmp, ignore_errors=True)
    for problem in problems:
        print(f"  FAIL {problem}")
    if not problems:
        print("  0 server errors, 0 lost updates, 0 double decisions, every upload stored and readable")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
