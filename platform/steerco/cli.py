"""The ``steerco`` command: a Flask CLI group (run, db, validate, load-tenant, demo, user)."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from steerco import create_app


@click.group(cls=FlaskGroup, create_app=lambda: create_app())
def cli() -> None:
    """Steerco: governed strategy execution, configured per tenant."""


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


def main() -> None:  # pragma: no cover
    cli()
