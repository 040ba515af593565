"""The ``steerco`` command: a Flask CLI group (run, db, validate, load-tenant, demo, user, token,
tick, audit, mail)."""

from __future__ import annotations

import sys

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
    """Check a tenant folder; print every problem with file and JSON path."""
    from steerco.config import validate_folder

    problems = validate_folder(path)
    if not problems:
        click.echo(f"{path}: configuration is valid")
        return
    for problem in problems:
        click.echo(_located(path, problem))
    click.echo(f"{len(problems)} problem(s) found; nothing was activated.", err=True)
    sys.exit(1)


@cli.command("load-tenant")
@click.argument("path", type=click.Path(file_okay=False))
def load_tenant(path: str) -> None:
    """Store a tenant folder as a new configuration version and activate it."""
    from steerco.config import ConfigInvalid
    from steerco.engine import tenants
    from steerco.web.extensions import db

    _maintenance_session()

    try:
        tenant, version = tenants.load_tenant_folder(db.session, path)
    except ConfigInvalid as invalid:
        db.session.rollback()
        for problem in invalid.problems:
            click.echo(_located(path, problem))
        click.echo(f"{len(invalid.problems)} problem(s); the active configuration is unchanged.", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"tenant {tenant.slug}: configuration version {version.number} is active")


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
def user_create(email: str, name: str, password: str, tenant_slug: str | None, roles: tuple[str, ...]) -> None:
    """Create a user, optionally a member of a workspace with tenant-wide roles."""
    from steerco.engine import tenants, users
    from steerco.engine.errors import NotFound, ValidationFailed
    from steerco.web.extensions import db

    _maintenance_session()

    try:
        created = users.create_user(db.session, email, name, password)
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
    """Escalate every open approval step past its due time, in every workspace (run from cron)."""
    from sqlalchemy import select

    from steerco.engine import tenants, workflow
    from steerco.store.models import Tenant, utcnow
    from steerco.web.extensions import db

    _maintenance_session()

    moment = now or utcnow()
    escalated = workflow.escalate_overdue(db.session, moment)
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
    click.echo(f"{moment:%Y-%m-%d %H:%M} UTC: {len(escalated)} overdue approval step(s) escalated"
               + (":" if escalated else "."))
    for line in lines:
        click.echo(line)


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
