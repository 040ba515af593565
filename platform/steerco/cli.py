"""The ``steerco`` command: a Flask CLI group (run, db, validate, load-tenant, export-tenant,
new-tenant, demo, user, token, tick, audit, mail, report, worker, bench-data)."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import FlaskGroup

from steerco import create_app


@click.group(cls=FlaskGroup, create_app=lambda: create_app())
def cli() -> None:
    """Steerco: governed strategy execution, configured per tenant."""


def _maintenance_session():  # type: ignore[no-untyped-def]
    """``db.session`` for a command: commands act on whichever workspaces they name, so the
    session says to the tenant tripwire that it works across tenants (see store/scoping.py)."""
    from steerco.store import scoping
    from steerco.web.extensions import db

    return scoping.allow_all_tenants(db.session)


def _located(path: str, problem: object) -> str:
    """A problem prefixed with its folder: ``tenants/acme/fields.json:/fields/3: …``."""
    file = getattr(problem, "file", "")
    return f"{path.rstrip('/')}/{problem}" if file else f"{path}: {problem}"


@cli.command("validate")
@click.argument("path", type=click.Path(file_okay=False))
def validate(path: str) -> None:
    """Check a tenant folder; print every problem with file and JSON path, and a warning
    for each key it uses that is accepted but not in effect yet."""
    from steerco.config import validate_folder
    from steerco.config.loader import folder_warnings

    problems = validate_folder(path)
    warnings = folder_warnings(path)
    for warning in warnings:
        click.echo(f"warning: {_located(path, warning)}")
    if not problems:
        unused = f" ({len(warnings)} key(s) accepted but not in effect yet, see above)" if warnings else ""
        click.echo(f"{path}: configuration is valid{unused}")
        return
    for problem in problems:
        click.echo(_located(path, problem))
    click.echo(f"{len(problems)} problem(s) found; nothing was activated.", err=True)
    sys.exit(1)


@cli.command("load-tenant")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--draft", "draft_only", is_flag=True,
              help="Store the folder as a draft only; review and activate it under /t/<key>/admin/config.")
@click.option("--comment", default="", help="What this version changes (default: 'Loaded from a folder').")
@click.option("--restore-field", "restore", multiple=True, metavar="KEY",
              help="A field key the active version lacks whose earlier definition and values come back "
                   "(repeatable); without it such a key is a new, empty field.")
def load_tenant(path: str, draft_only: bool, comment: str, restore: tuple[str, ...]) -> None:
    """Store a tenant folder as a new configuration version and activate it."""
    from steerco.config import ConfigInvalid
    from steerco.engine import config_versions, tenants
    from steerco.engine.config_versions import DraftInvalid, StaleDraft
    from steerco.web.extensions import db

    _maintenance_session()

    try:
        tenant, version = tenants.load_tenant_folder(db.session, path, comment=comment, restore=restore,
                                                     draft_only=draft_only)
        changes = config_versions.changes_of(db.session, tenant, version) if draft_only else None
    except (ConfigInvalid, DraftInvalid) as invalid:
        db.session.rollback()
        for problem in invalid.problems:
            click.echo(_located(path, problem))
        click.echo(f"{len(invalid.problems)} problem(s); the active configuration is unchanged.", err=True)
        sys.exit(1)
    except StaleDraft as stale:
        db.session.rollback()
        raise click.ClickException(stale.message) from None
    slug, number = tenant.slug, version.number
    db.session.commit()
    if draft_only:
        click.echo(f"tenant {slug}: draft version {number} stored (not active); "
                   f"review and activate it under /t/{slug}/admin/config")
        for change in changes or []:
            click.echo(f"  {change.text}")
        return
    click.echo(f"tenant {slug}: configuration version {number} is active")


@cli.command("export-tenant")
@click.argument("slug")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--version", "number", type=click.IntRange(1, 2**31 - 1), help="Another version than the active one.")
def export_tenant(slug: str, folder: str, number: int | None) -> None:
    """Write a workspace's active configuration as a tenant folder (validates and reloads as is)."""
    from sqlalchemy import select

    from steerco.engine import config_versions, tenants
    from steerco.engine.errors import NotFound
    from steerco.store import scoping
    from steerco.store.models import ConfigVersion
    from steerco.web.extensions import db

    try:
        tenant = tenants.tenant_by_slug(db.session, slug)
    except NotFound:
        raise click.ClickException(f"no workspace {slug!r}") from None
    scoping.bind_to_tenant(db.session, tenant.id)  # this command is about that workspace only
    version = config_versions.active(db.session, tenant) if number is None else db.session.scalar(
        select(ConfigVersion).where(ConfigVersion.tenant_id == tenant.id, ConfigVersion.number == number))
    if version is None:
        raise click.ClickException(f"workspace {slug!r} has no configuration version {number or '(active)'}")
    written = config_versions.export(version.documents, folder)
    click.echo(f"tenant {slug}: version {version.number} ({version.state}) written to {folder}: "
               + ", ".join(p.name for p in written))


@cli.command("new-tenant")
@click.argument("slug")
@click.option("--from", "source", required=True, metavar="TEMPLATE",
              help="A template folder in tenants/ (e.g. servicedesk), workspace:<key> to copy another "
                   "workspace's configuration without its data, or folder:<path>.")
@click.option("--admin", "admin_email", required=True, help="E-mail of the workspace's first administrator.")
@click.option("--name", default="", help="The workspace's name (default: the template's).")
@click.option("--admin-name", default="", help="The administrator's name, if they have no account yet.")
@click.option("--admin-role", default="", help="Their role (default: the first role administering users).")
def new_tenant(slug: str, source: str, admin_email: str, name: str, admin_name: str, admin_role: str) -> None:
    """Create a workspace from a template and invite its first administrator (a mailed
    single-use link with which they join and, without an account yet, choose a password)."""
    from steerco.config import ConfigInvalid
    from steerco.engine import workspaces
    from steerco.engine.errors import NotFound, ValidationFailed
    from steerco.web.extensions import db

    source_id = source if ":" in source else f"{workspaces.TEMPLATE}:{source}"
    if not name:
        try:
            _, documents, _ = workspaces.documents_of(db.session, None, source_id)
            name = str(documents.get("tenant", {}).get("name") or slug)
        except (NotFound, ConfigInvalid):  # the same lookup below reports the problem with the source
            name = slug
    try:
        created = workspaces.create(db.session, None, slug=slug, name=name, source_id=source_id,
                                    admin_email=admin_email, admin_name=admin_name or admin_email.split("@")[0],
                                    admin_role=admin_role)
    except ValidationFailed as failed:
        db.session.rollback()
        raise click.UsageError("; ".join(f"{k}: {v}" for k, v in failed.errors.items())) from None
    invited = created.invited
    tenant_slug, workspace = created.tenant.slug, created.config.name
    db.session.commit()  # the invitation is kept before its link is mailed
    click.echo(f"workspace {tenant_slug} ({name}) created from {source_id}: /t/{tenant_slug}/")
    if invited is not None:
        click.echo(f"administrator {invited.email} invited: " + _mail_invitation(invited, workspace))


def _mail_invitation(invitation, workspace: str) -> str:  # type: ignore[no-untyped-def]
    """Mail an invitation's single-use link (links start with STEERCO_BASE_URL, as from the
    web app); says where the mail went."""
    from flask import current_app

    from steerco.web import mailing

    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        path = mailing.send_invitation(invitation.email, invitation.name, invitation.token, workspace=workspace,
                                       inviter="The Steerco operator", needs_password=invitation.needs_password)
        mailer = mailing.mailer()
        mailer.wait()  # a background delivery finishes before the command exits
    if mailer.smtp is None:
        return f"the link is in the mail written to {path} (STEERCO_SMTP_URL is not set)"
    if path.exists():
        return f"the mail could not be delivered yet and waits in {path} for `steerco mail retry`"
    return "the link was mailed to them"


@cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the demo tenants exist already.")
def demo(if_empty: bool) -> None:
    """Load the demo tenants (acme, servicedesk) with users and sample records."""
    from steerco.demo import DEMO_PASSWORD, DEMO_USERS, demo_loaded, load_demo
    from steerco.web.extensions import db

    _maintenance_session()

    if demo_loaded(db.session):
        if if_empty:
            click.echo("demo data is present")
        else:
            click.echo("demo tenants exist already; use a fresh database to reload them", err=True)
            sys.exit(1)
    else:
        with click.progressbar(length=1, label="Loading demo tenants") as bar:
            load_demo(db.session)
            db.session.commit()
            bar.update(1)
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for user in DEMO_USERS:
        roles = "; ".join(f"{slug}: " + ", ".join(f"{r}@{n}" if n else r for r, n in pairs)
                          for slug, pairs in user.roles.items())
        click.echo(f"  {user.email:32} {roles}")


@cli.group("user")
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--tenant", "tenant_slug", help="Add to this workspace.")
@click.option("--role", "roles", multiple=True, help="Tenant-wide role key (repeatable).")
@click.option("--consultant", is_flag=True, help="May create workspaces from templates (a platform right).")
def user_create(email: str, name: str, password: str, tenant_slug: str | None, roles: tuple[str, ...],
                consultant: bool) -> None:
    """Create a user, optionally a member of a workspace with tenant-wide roles."""
    from steerco.engine import tenants, users, workspaces
    from steerco.engine.errors import NotFound, ValidationFailed
    from steerco.web.extensions import db

    _maintenance_session()

    try:
        created = users.create_user(db.session, email, name, password)
        if consultant:
            workspaces.set_consultant(db.session, created)
        if tenant_slug:
            tenant = tenants.tenant_by_slug(db.session, tenant_slug)
            config = tenants.active_config(db.session, tenant)
            unknown = [r for r in roles if r not in config.roles]
            if unknown:
                raise click.UsageError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(config.roles)}")
            tenants.add_member(db.session, tenant, created, [(r, None) for r in roles])
    except ValidationFailed as failed:
        db.session.rollback()
        raise click.UsageError("; ".join(f"{k}: {v}" for k, v in failed.errors.items())) from None
    except NotFound as missing:
        db.session.rollback()
        raise click.UsageError(missing.message) from None
    db.session.commit()
    click.echo(f"user {created.email} created")


@user.command("grant-consultant")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take the right away instead.")
def user_grant_consultant(email: str, revoke: bool) -> None:
    """Let a user create workspaces from templates (a platform right, not a tenant role)."""
    from steerco.engine import workspaces
    from steerco.web.extensions import db

    found = _user_by_email(email)
    workspaces.set_consultant(db.session, found, not revoke)
    address = found.email
    db.session.commit()
    click.echo(f"{address} is {'no longer ' if revoke else ''}a consultant")


@user.command("deactivate")
@click.argument("email")
def user_deactivate(email: str) -> None:
    """Switch an account off everywhere (an operator's decision; workspaces close only their own
    membership): its sessions, API tokens and logins stop working at once."""
    from steerco.web.extensions import db

    account = _user_by_email(email)
    account.is_active = False
    account.session_version += 1
    db.session.commit()
    click.echo(f"account {account.email} is switched off in every workspace")


@user.command("activate")
@click.argument("email")
def user_activate(email: str) -> None:
    """Switch an account on again (its workspace memberships are as each workspace left them)."""
    from steerco.web.extensions import db

    account = _user_by_email(email)
    account.is_active = True
    db.session.commit()
    click.echo(f"account {account.email} is switched on")


@cli.group("mail")
def mail_group() -> None:
    """Outgoing mail (invitations, password resets): the outbox folder and its delivery."""


@mail_group.command("retry")
def mail_retry() -> None:
    """Deliver every message still waiting in the outbox (run it from cron when SMTP is set).

    Without STEERCO_SMTP_URL there is nothing to deliver to: the outbox is where mail stays.
    """
    from flask import current_app

    mailer = current_app.extensions["steerco.mailer"]
    if mailer.smtp is None:
        click.echo(f"STEERCO_SMTP_URL is not set: {len(mailer.waiting())} message(s) in {mailer.outbox}, "
                   "read there")
        return
    delivered, waiting = mailer.retry()
    click.echo(f"{delivered} message(s) delivered, {waiting} still waiting in {mailer.outbox}")
    if waiting:
        sys.exit(1)


@cli.group("token")
def token() -> None:
    """Manage personal API tokens (Authorization: Bearer <token> on /api/t/<tenant>/...)."""


def _user_by_email(email: str):  # type: ignore[no-untyped-def]
    """The user with this e-mail (any case), or a click error naming the address."""
    from sqlalchemy import func, select

    from steerco.store.models import User
    from steerco.web.extensions import db

    found = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if found is None:
        raise click.ClickException(f"no user with e-mail {email!r}")
    return found


def _when(value) -> str:  # type: ignore[no-untyped-def]
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


@token.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for, e.g. 'monthly export'.")
def token_create(email: str, name: str) -> None:
    """Create an API token for a user and print it (it is shown only this once)."""
    from steerco.engine import tokens
    from steerco.engine.errors import Forbidden, ValidationFailed
    from steerco.web.extensions import db

    owner = _user_by_email(email)
    try:
        created, plaintext = tokens.create_token(db.session, owner, name)
    except ValidationFailed as failed:
        db.session.rollback()
        raise click.UsageError("; ".join(f"{k}: {v}" for k, v in failed.errors.items())) from None
    except Forbidden as refused:
        db.session.rollback()
        raise click.ClickException(refused.message) from None
    token_id = created.id
    db.session.commit()
    click.echo(f"API token {token_id} ({name.strip()}) for {owner.email}:")
    click.echo(plaintext)
    click.echo("Copy it now; it cannot be shown again. Send it with every API request as")
    click.echo("  Authorization: Bearer <the token above>")


@token.command("list")
@click.argument("email")
def token_list(email: str) -> None:
    """List a user's API tokens (never their values)."""
    from steerco.engine import tokens
    from steerco.web.extensions import db

    owner = _user_by_email(email)
    found = tokens.tokens_of(db.session, owner)
    if not found:
        click.echo(f"{owner.email} has no API tokens")
        return
    click.echo(f"{'id':>5}  {'name':30}  {'starts with':14}  {'created':16}  {'last used':16}  status")
    for t in found:
        status = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
        click.echo(f"{t.id:>5}  {t.name[:30]:30}  {t.prefix + '…':14}  {_when(t.created_at):16}  "
                   f"{_when(t.last_used_at):16}  {status}")


@token.command("revoke")
@click.argument("email")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
def token_revoke(email: str, token_id: int) -> None:
    """Revoke one of a user's API tokens by its id (see ``steerco token list``)."""
    from steerco.engine import tokens
    from steerco.engine.errors import NotFound
    from steerco.web.extensions import db

    owner = _user_by_email(email)
    try:
        revoked = tokens.revoke_token(db.session, owner, token_id)
    except NotFound:
        db.session.rollback()
        raise click.ClickException(f"{owner.email} has no API token {token_id}") from None
    name = revoked.name
    db.session.commit()
    click.echo(f"API token {token_id} ({name}) of {owner.email} is revoked")


#: what ``--now`` accepts (naive times are UTC, as stored)
NOW_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _record_numbers(ids: set[int]) -> dict[int, str]:
    """Record numbers by id, across tenants (the commands below work on every tenant)."""
    from sqlalchemy import select

    from steerco.store import scoping
    from steerco.store.models import Record
    from steerco.web.extensions import db

    if not ids:
        return {}
    return dict(db.session.execute(select(Record.id, Record.number).where(Record.id.in_(ids))
                                   .execution_options(**{scoping.ALL_TENANTS: True})).all())


@cli.command("tick")
@click.option("--now", type=click.DateTime(formats=NOW_FORMATS), default=None,
              help="The moment to act as if it were (UTC), e.g. 2026-12-01T09:00; default: now.")
def tick(now) -> None:  # type: ignore[no-untyped-def]
    """Escalate every open approval step past its due time, raise and escalate exceptions,
    and send the daily notification digests, in every workspace (run from cron).

    Safe on several hosts at once: runs take turns (a lock in the database), so each step
    is escalated once.
    """
    from sqlalchemy import select

    from steerco.engine import jobs, tenants
    from steerco.store import statistics
    from steerco.store.models import Tenant, utcnow
    from steerco.web import mailing
    from steerco.web.extensions import db

    _maintenance_session()

    moment = now or utcnow()
    escalated = jobs.tick(db.session, moment)
    numbers = _record_numbers({t.record_id for t in escalated})
    slugs = {tenant.id: tenant for tenant in db.session.scalars(
        select(Tenant).where(Tenant.id.in_({t.tenant_id for t in escalated})))} if escalated else {}
    lines = []
    for task in escalated:
        tenant = slugs[task.tenant_id]
        target = task.escalate_to or "nobody (no escalation target configured)"
        if task.escalate_to:
            forum = tenants.active_config(db.session, tenant).forums.get(task.escalate_to)
            target = f"{forum.label} ({task.escalate_to})" if forum else task.escalate_to
        lines.append(f"  {tenant.slug} {numbers.get(task.record_id, task.record_id)}: {task.label}, "
                     f"due {task.due_at:%Y-%m-%d %H:%M}, escalated to {target}")
    db.session.commit()
    statistics.refresh_engine(db.engine)  # SQLite: the planner's numbers follow the data's growth
    click.echo(f"{moment:%Y-%m-%d %H:%M} UTC: {len(escalated)} overdue approval step(s) escalated"
               + (":" if escalated else "."))
    for line in lines:
        click.echo(line)
    raised, stepped = jobs.review_exceptions(db.session, moment)
    if raised or stepped:
        click.echo(f"{raised} exception(s) raised, {stepped} exception escalation step(s) taken.")
    digests = jobs.send_digests(db.session, moment, mailing.send_notification_mail)
    if digests:
        click.echo(f"{digests} daily notification digest(s) sent to the outbox.")


@cli.group("audit")
def audit_group() -> None:
    """Check the hash-chained audit trail, and anchor its head outside the database."""


def _workspaces(tenant_slug: str | None):  # type: ignore[no-untyped-def]
    """The workspaces a command acts on, by slug; a click error for an unknown one."""
    from sqlalchemy import select

    from steerco.store.models import Tenant

    query = select(Tenant).order_by(Tenant.slug)
    if tenant_slug:
        query = query.where(Tenant.slug == tenant_slug)
    workspaces = list(_maintenance_session().scalars(query))
    if tenant_slug and not workspaces:
        raise click.ClickException(f"no workspace {tenant_slug!r}")
    return workspaces


def _anchor_key() -> str:
    import os

    key = os.environ.get("STEERCO_AUDIT_ANCHOR_KEY", "")
    if len(key) < 16:
        raise click.ClickException("set STEERCO_AUDIT_ANCHOR_KEY (at least 16 characters, kept outside the "
                                   "database): anchors are signed and checked with it")
    return key


@audit_group.command("verify")
@click.option("--tenant", "tenant_slug", help="Check only this workspace (default: every workspace).")
@click.option("--anchor", "anchor_file", type=click.File("r"),
              help="An anchor written by `steerco audit anchor`: the chains must still hold its heads.")
def audit_verify(tenant_slug: str | None, anchor_file) -> None:  # type: ignore[no-untyped-def]
    """Walk each workspace's audit events in order and name the first one that was altered.

    With --anchor, also check that each chain still contains the head the anchor recorded,
    at the same position with the same hash (catches removed last events and a re-hashed
    chain). Exits 1 when a chain is broken or does not match its anchor.
    """
    from steerco.engine import audit

    session = _maintenance_session()
    heads: dict[str, audit.Head] = {}
    if anchor_file is not None:
        try:
            heads = audit.read_anchor(anchor_file.read(), _anchor_key())
        except audit.AnchorInvalid as invalid:
            raise click.ClickException(f"{anchor_file.name}: {invalid}") from None
    workspaces = _workspaces(tenant_slug)
    if not workspaces:
        click.echo("no workspaces, nothing to verify")
        return
    missing = sorted(set(heads) - {t.slug for t in workspaces}) if not tenant_slug else []
    broken = 0
    for tenant in workspaces:
        anchored = heads.get(tenant.slug)
        if anchored is not None and anchored.tenant_id != tenant.id:
            broken += 1
            click.echo(f"{tenant.slug}: does not match the anchor: it was anchored as workspace "
                       f"{anchored.tenant_id}, this one is {tenant.id} (deleted and created again?)")
            continue
        found = audit.check(session, tenant.id, anchored)
        if found.intact:
            note = " and holds the anchored head" if anchored is not None else ""
            if anchor_file is not None and anchored is None:
                note = " (not in the anchor)"
            click.echo(f"{tenant.slug}: {found.head.events} events, chain intact{note}")
            continue
        broken += 1
        if found.broken_id is not None:
            click.echo(f"{tenant.slug}: chain broken at {_describe(found.broken_id)}")
        else:
            click.echo(f"{tenant.slug}: does not match the anchor: {found.anchor_problem}")
    for slug in missing:
        broken += 1
        click.echo(f"{slug}: in the anchor, but there is no such workspace any more")
    if broken:
        click.echo(f"{broken} of {len(workspaces) + len(missing)} workspace(s) have an altered audit trail.",
                   err=True)
        sys.exit(1)


@cli.command("bench-data")
@click.argument("slug")
@click.option("--measures", type=click.IntRange(10, 10_000_000), default=1000, show_default=True,
              help="How many measures to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the random choices.")
def bench_data(slug: str, measures: int, seed: int) -> None:
    """Generate a benchmark workspace SLUG: the acme template at N measures, in bulk.

    Values, time-phased amounts, files, comments, statuses, audit trail, users with roles
    and pending approvals in proportion (see bench/README.md). Every user's password is
    printed at the end. Use a scratch database: the generator must run alone on it.
    """
    from flask import current_app

    from steerco.benchdata import BENCH_PASSWORD, generate
    from steerco.config import ConfigInvalid
    from steerco.web.extensions import db

    with click.progressbar(length=measures, label=f"Generating {slug}") as bar:
        done = [0]

        def advance(count: int) -> None:
            bar.update(count - done[0])
            done[0] = count

        try:
            result = generate(db.session, slug, measures, blobs=current_app.extensions["steerco.blobs"],
                              seed=seed, progress=advance)
        except ValueError as refused:
            db.session.rollback()
            raise click.ClickException(str(refused)) from None
        except ConfigInvalid as invalid:
            db.session.rollback()
            raise click.ClickException(f"{slug!r} cannot be a workspace key: "
                                       + "; ".join(str(p) for p in invalid.problems)) from None
    click.echo(f"{result.slug}: {result.measures} measures, {result.users} users, {result.period_values} "
               f"time-phased amounts, {result.audit_events} audit events, {result.comments} comments, "
               f"{result.attachments} files; pending approvals: "
               + ", ".join(f"{n} for {role}" for role, n in sorted(result.pending.items()))
               + f" ({result.seconds:.1f} s)")
    click.echo(f"Logins (password {BENCH_PASSWORD}): " + ", ".join(
        f"{role} {email}" for role, email in result.logins.items()))


@cli.group("report")
def report_group() -> None:
    """Render configured reports."""


def _workspace_report(slug: str, key: str) -> tuple[Any, Any, Any]:
    """(tenant, active configuration, report) for the report commands, bound to the tenant;
    a clear message when the workspace or the report does not exist."""
    from steerco.engine import tenants
    from steerco.engine.errors import SteercoError
    from steerco.store import scoping
    from steerco.web.extensions import db

    try:
        tenant = tenants.tenant_by_slug(db.session, slug)
    except SteercoError as problem:
        raise click.ClickException(problem.message) from None
    scoping.bind_to_tenant(db.session, tenant.id)
    config = tenants.active_config(db.session, tenant)
    report = config.reports.get(key)
    if report is None:
        raise click.ClickException(f"workspace {slug!r} has no report {key!r}; reports: "
                                   + (", ".join(config.reports) or "none"))
    return tenant, config, report


@report_group.command("render")
@click.argument("slug")
@click.argument("key")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the PDF.")
@click.option("--as", "as_email", help="Render as this member sees it (default: the report's audience roles, "
              "held tenant-wide).")
@click.option("--under", "under_number", help="Only the subtree under this record number, e.g. PG-001.")
@click.option("--period", "period_text", help="Only these reporting periods: 2026-01 or 2026-01..2026-06.")
@click.option("--as-of", "as_of", type=int, help="Render this snapshot (its id, see `steerco report snapshots`) "
              "instead of the live data.")
def report_render(slug: str, key: str, out: str, as_email: str | None, under_number: str | None,
                  period_text: str | None, as_of: int | None) -> None:
    """Render report KEY of workspace SLUG to a PDF file."""
    import time

    from sqlalchemy import select

    from steerco.engine import tenants
    from steerco.engine.access import Access, Actor, Grant
    from steerco.engine.errors import SteercoError
    from steerco.reports.data import build_report
    from steerco.reports.render import Printer
    from steerco.store.models import Record
    from steerco.web.extensions import db

    started = time.perf_counter()
    try:
        tenant, config, report = _workspace_report(slug, key)
        actor = tenants.actor_for(db.session, tenant, _user_by_email(as_email)) if as_email else \
            Actor(0, "steerco report", tuple(Grant(role) for role in report.audience))
        access = Access(config, actor)
        under = None
        if under_number:
            under = db.session.scalar(select(Record).where(Record.tenant_id == tenant.id, Record.number == under_number,
                                                           Record.deleted_at.is_(None), access.read_filter()))
            if under is None:
                raise click.ClickException(f"no record {under_number!r} that this reader may see in {slug!r}")
        if as_of is not None:
            from steerco.reports import snapshots

            found = snapshots.view_for(db.session, tenant.id, config, access,
                                       snapshots.get(db.session, tenant.id, report, as_of))
            if found is None:
                raise click.ClickException(f"snapshot {as_of} holds no view this reader may see")
            data = found
        else:
            from steerco.reports.period import parse_period

            data = build_report(db.session, tenant.id, config, access, report, under=under,
                                period=parse_period(config, period_text))
        from flask import current_app

        pdf = Printer(workers=current_app.config.get("REPORT_PDF_WORKERS", 1)).report_pdf(config, report, data)
    except SteercoError as missing:
        raise click.ClickException(missing.message) from None
    with open(out, "wb") as file:
        file.write(pdf)
    who = as_email or "audience " + ", ".join(report.audience)
    click.echo(f"{out}: {report.title} ({len(pdf) / 1024:.0f} kB, as {who}) in {time.perf_counter() - started:.1f} s")


@cli.command("period")
@click.argument("action", type=click.Choice(["open", "lock", "unlock"]))
@click.argument("slug")
@click.argument("period")
def period(action: str, slug: str, period: str) -> None:
    """Open, lock or unlock reporting PERIOD (YYYY-MM) of workspace SLUG. Opening reminds
    the owners of records whose actual for the period is missing; a locked period's values
    change only through an approved plan change."""
    from steerco.engine import tenants
    from steerco.engine.errors import SteercoError
    from steerco.engine.periods import ReportingCycle
    from steerco.store import scoping
    from steerco.store.models import utcnow
    from steerco.web.extensions import db

    try:
        tenant = tenants.tenant_by_slug(db.session, slug)
        scoping.bind_to_tenant(db.session, tenant.id)
        cycle = ReportingCycle(db.session, tenant.id, tenants.active_config(db.session, tenant), utcnow())
        if action == "open":
            opened = cycle.open(period, None)
            missing = sum(map(len, opened.reminded.values()))
            note = f"; {len(opened.reminded)} owner(s) reminded of {missing} missing actual(s)"
        else:
            getattr(cycle, action)(period, None)
            note = ""
    except SteercoError as refused:
        db.session.rollback()
        raise click.ClickException(" ".join(getattr(refused, "errors", {}).values()) or refused.message) from None
    db.session.commit()
    click.echo(f"{slug} {period}: {'opened' if action == 'open' else action + 'ed'}{note}")


@report_group.command("snapshot")
@click.argument("slug")
@click.argument("key")
@click.option("--label", default="", help="What the snapshot is, e.g. \"Steering committee 2026-03\".")
def report_snapshot(slug: str, key: str, label: str) -> None:
    """Keep report KEY of workspace SLUG as its audience sees it now (each view)."""
    from steerco.engine.errors import SteercoError
    from steerco.reports import snapshots
    from steerco.store import scoping
    from steerco.web.extensions import db

    try:
        tenant, config, report = _workspace_report(slug, key)
        snapshot = snapshots.take(db.session, tenant.id, config, report, by=None, label=label)
        db.session.commit()
    except SteercoError as problem:
        raise click.ClickException(problem.message) from None
    click.echo(f"snapshot {snapshot.id}: {snapshot.label} ({snapshot.created_at:%Y-%m-%d %H:%M} UTC); render it with "
               f"`steerco report render {slug} {key} --as-of {snapshot.id} --out FILE`")


@report_group.command("snapshots")
@click.argument("slug")
@click.argument("key")
def report_snapshots(slug: str, key: str) -> None:
    """List the snapshots of report KEY of workspace SLUG, newest first."""
    from steerco.reports import snapshots
    from steerco.web.extensions import db

    tenant, _, report = _workspace_report(slug, key)
    for s in snapshots.snapshots(db.session, tenant.id, report):
        click.echo(f"{s.id}\t{s.created_at:%Y-%m-%d %H:%M}\t{s.label}")


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (tests, cron).")
@click.option("--queue", "queue_name", help="Queue to work on (default: STEERCO_REPORT_QUEUE or steerco-reports).")
def worker(burst: bool, queue_name: str | None) -> None:
    """Render report PDFs queued on Redis (REDIS_URL); without Redis the web process runs them."""
    from flask import current_app
    from redis import Redis
    from rq import Queue, Worker

    from steerco.reports import jobs
    from steerco.web.reports import job_environment

    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) for the web app and this worker; "
                                   "without it, report jobs run inside the web process and need no worker.")
    jobs.configure(job_environment(current_app._get_current_object()))  # type: ignore[attr-defined]
    connection = Redis.from_url(url)
    name = queue_name or current_app.config["REPORT_QUEUE"]
    click.echo(f"steerco worker: rendering report jobs from queue {name!r}" + (" until it is empty" if burst else ""))
    Worker([Queue(name, connection=connection)], connection=connection).work(burst=burst)


def _describe(event_id: int) -> str:
    """An event of a broken chain, for people: id, kind, record, time, and what is wrong."""
    from sqlalchemy import select

    from steerco.engine import audit
    from steerco.store import scoping
    from steerco.store.models import AuditEvent

    event = _maintenance_session().scalar(select(AuditEvent).where(AuditEvent.id == event_id)
                                          .execution_options(**{scoping.ALL_TENANTS: True}))
    record = _record_numbers({event.record_id}).get(event.record_id) if event.record_id else None
    why = ("its stored content no longer matches its hash (the row was edited)"
           if not audit.content_matches(event) else
           "it does not link to the event before it (an event was removed or inserted)")
    return (f"event {event.id} ({event.kind}" + (f", record {record}" if record else "")
            + f", {event.created_at:%Y-%m-%d %H:%M:%S} UTC): {why}")


@audit_group.command("anchor")
@click.option("--tenant", "tenant_slug", help="Anchor only this workspace (default: every workspace).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the anchor to this file (default: print it).")
def audit_anchor(tenant_slug: str | None, out_file: str | None) -> None:
    """Print (or write) the head of each workspace's chain, signed with STEERCO_AUDIT_ANCHOR_KEY.

    Keep anchors outside the database (another host, write-once storage, a ticket):
    `steerco audit verify --anchor FILE` then notices removed last events and a chain
    rewritten with new hashes, which the chain alone cannot show.
    """
    import json

    from steerco.engine import audit

    key = _anchor_key()
    session = _maintenance_session()
    try:
        heads = {t.slug: audit.head(session, t.id) for t in _workspaces(tenant_slug)}
    except audit.AnchorInvalid as refused:
        raise click.ClickException(str(refused)) from None
    text = json.dumps(audit.anchor(heads, key), indent=2, sort_keys=True) + "\n"
    if out_file:
        with open(out_file, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"anchored {len(heads)} workspace(s) in {out_file}", err=True)
    else:
        click.echo(text, nl=False)


def main() -> None:  # pragma: no cover
    cli()
