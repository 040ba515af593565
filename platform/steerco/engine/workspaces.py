"""New workspaces, created by consultants from a template or from another workspace.

Being a consultant is a platform-level right (``User.is_consultant``), not a role of any
tenant: it lets a person create a workspace for a client. The configuration comes from a
template folder in ``tenants/`` or is copied from a workspace the consultant belongs to
(with the configuration right there): only its configuration, never its data. The new
workspace gets its own key and name; the consultant becomes a member holding the chosen
administrator role (so they can go on configuring it, and switch to it like to any other
workspace), and its first administrator is invited through the member engine
(:func:`steerco.engine.members.invite`), exactly like any later invitation: a waiting
membership and a single-use link, which the caller mails (nobody but that person ever
chooses or sees their password).

Every creation is an audit event (``workspace.created``, with the configuration's diff)
in the new workspace, and a copy is noted in the workspace copied from (``config.copied``).
The work in each workspace runs with the session bound to it (``scoping.within_tenant``):
looking through the consultant's workspaces binds to each in turn.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steerco.config import ConfigInvalid, TenantConfig, compile_config
from steerco.config.loader import read_folder
from steerco.engine import audit, config_versions, members, tenants
from steerco.engine.access import Access, Actor, Grant
from steerco.engine.errors import Forbidden, NotFound, ValidationFailed
from steerco.settings import RESOURCE_ROOT
from steerco.store import scoping
from steerco.store.models import Tenant, User

TEMPLATES = RESOURCE_ROOT / "tenants"
#: a workspace key is a configuration key (it becomes ``tenant.json``'s ``key``) and its address
SLUG = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
NAME_MAX = 120
TEMPLATE, WORKSPACE, FOLDER = "template", "workspace", "folder"


@dataclass(frozen=True)
class Source:
    """Where a new workspace's configuration comes from: ``template:<folder>`` or ``workspace:<slug>``."""

    kind: str
    key: str
    label: str

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class Created:
    tenant: Tenant
    config: TenantConfig
    #: the first administrator's invitation, for the caller to mail (None: the consultant
    #: named themselves, or nobody)
    invited: members.Invitation | None


def require_consultant(user: User | None) -> None:
    if user is None or not user.is_consultant:
        raise Forbidden("Creating workspaces is for consultants.")


def set_consultant(session: Session, user: User, granted: bool = True) -> None:
    """Grant or take away the consultant right (a platform operator's decision: the CLI)."""
    user.is_consultant = granted
    session.flush()


def templates(folder: Path = TEMPLATES) -> list[Source]:
    """Template folders (each with a readable ``tenant.json``), by name."""
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        tenant_file = path / "tenant.json"
        if not tenant_file.is_file():
            continue
        try:
            name = json.loads(tenant_file.read_text(encoding="utf-8")).get("name") or path.name
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        found.append(Source(TEMPLATE, path.name, f"Template {path.name}: {name}"))
    return found


def _copyable(session: Session, user: User) -> list[tuple[Tenant, Source]]:
    """Workspaces whose configuration ``user`` may copy: those they hold the configuration right in."""
    found = []
    for tenant in tenants.tenants_of(session, user):
        try:
            with scoping.within_tenant(session, tenant.id):
                config = tenants.active_config(session, tenant)
                actor = tenants.actor_for(session, tenant, user)
        except NotFound:
            continue
        if config_versions.CONFIGURATION_RIGHT in Access(config, actor).admin_rights:
            found.append((tenant, Source(WORKSPACE, tenant.slug, f"Copy of workspace: {tenant.name}")))
    return found


def sources(session: Session, user: User) -> list[Source]:
    """Every source ``user`` may start a workspace from."""
    return templates() + [source for _, source in _copyable(session, user)]


def documents_of(session: Session, user: User | None, source_id: str) -> tuple[Source, dict[str, Any], Tenant | None]:
    """The documents of a source; NotFound for a source the user may not use. With no
    user (the command line, run by the platform's operator) any workspace may be copied."""
    kind, _, key = source_id.partition(":")
    if kind == TEMPLATE:
        source = next((s for s in templates() if s.key == key), None)
        if source is None:
            raise NotFound(f"no template {key!r}; templates: {', '.join(s.key for s in templates())}")
        documents, problems = read_folder(TEMPLATES / key)
        if problems:
            raise ConfigInvalid(problems)
        return source, documents, None
    if kind == FOLDER and user is None:  # the operator's own folder, from the command line only
        documents, problems = read_folder(key)
        if problems:
            raise ConfigInvalid(problems)
        return Source(FOLDER, key, f"Folder {key}"), documents, None
    if kind == WORKSPACE:
        allowed = _copyable(session, user) if user is not None else [
            (t, Source(WORKSPACE, t.slug, f"Copy of workspace: {t.name}"))
            for t in session.scalars(select(Tenant).where(Tenant.slug == key))]
        for tenant, source in allowed:
            if tenant.slug == key:
                with scoping.within_tenant(session, tenant.id):
                    version = config_versions.active(session, tenant)
                if version is not None:
                    return source, copy.deepcopy(version.documents), tenant
        raise NotFound("no such workspace to copy")
    raise NotFound(f"unknown source {source_id!r}: use template:<folder> or workspace:<key>")


def admin_roles(config: TenantConfig) -> list[tuple[str, str]]:
    """Roles able to administer users (what a first administrator needs), configuration first."""
    roles = [r for r in config.roles.values() if members.USERS_RIGHT in r.admin]
    roles.sort(key=lambda r: config_versions.CONFIGURATION_RIGHT not in r.admin)
    return [(r.key, r.label) for r in roles]


def _check(session: Session, slug: str, name: str) -> dict[str, str]:
    errors = {}
    if not SLUG.match(slug):
        errors["slug"] = ("2 to 63 characters: lower-case letters, digits and _, starting with a letter "
                          "(it becomes the workspace's address, /t/<key>/).")
    elif session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        errors["slug"] = "A workspace with this key exists already; choose another."
    if not name:
        errors["name"] = "Required."
    elif len(name) > NAME_MAX:
        errors["name"] = f"At most {NAME_MAX} characters."
    return errors


def create(session: Session, by: User | None, *, slug: str, name: str, source_id: str, admin_email: str,
           admin_name: str = "", admin_role: str = "") -> Created:
    """Create a workspace from a source and invite its first administrator.

    ``by`` is the consultant (None: the command line). Raises ValidationFailed with a
    message per form field, NotFound for a source the consultant may not use. The caller
    commits, then mails :attr:`Created.invited` (``web.mailing.send_invitation``).
    """
    if by is not None:
        require_consultant(by)
    slug, name = slug.strip().lower(), name.strip()
    submitted = {"slug": slug, "name": name, "source": source_id, "admin_email": admin_email,
                 "admin_name": admin_name, "admin_role": admin_role}
    errors = _check(session, slug, name)
    try:
        source, documents, copied_from = documents_of(session, by, source_id)
    except NotFound as missing:
        raise ValidationFailed({**errors, "source": missing.message}, submitted) from None
    documents["tenant"] = {**documents.get("tenant", {}), "key": slug or "x", "name": name or "x"}
    try:
        config = compile_config(documents)
    except ConfigInvalid as invalid:
        raise ValidationFailed({**errors, "source": f"{source.label} does not validate: "
                                f"{invalid.problems[0]} ({len(invalid.problems)} problem(s))"}, submitted) from None
    roles = dict(admin_roles(config))
    admin_role = admin_role or next(iter(roles), "")
    if admin_role not in roles:
        errors["admin_role"] = (f"Choose a role that administers users: {', '.join(roles.values())}." if roles
                                else "This configuration has no role that administers users.")
    if not admin_email.strip() and by is None:
        errors["admin_email"] = "Required."
    if errors:
        raise ValidationFailed(errors, submitted)
    tenant, version, activation = config_versions.store(
        session, documents, source=source.label, user_id=by.id if by else None,
        comment=f"Workspace created from {source.label}")
    assert activation is not None
    with scoping.within_tenant(session, tenant.id):
        audit.append(session, tenant_id=tenant.id, user_id=by.id if by else None, kind="workspace.created",
                     data={"slug": slug, "name": name, "source": source.id, "version": version.number,
                           "changes": [c.as_data() for c in activation.changes]})
        invited = _first_members(session, tenant, config, by, admin_email, admin_name, admin_role, submitted)
    if copied_from is not None:  # noted in the workspace copied from, in its own audit trail
        with scoping.within_tenant(session, copied_from.id):
            copied = config_versions.active(session, copied_from)
            audit.append(session, tenant_id=copied_from.id, user_id=by.id if by else None, kind="config.copied",
                         data={"to": slug, "name": name, "version": copied.number if copied else None})
    return Created(tenant, config, invited)


def _first_members(session: Session, tenant: Tenant, config: TenantConfig, by: User | None, admin_email: str,
                   admin_name: str, admin_role: str, submitted: dict[str, str]) -> members.Invitation | None:
    """The consultant joins as administrator; the first administrator is invited (unless
    that is the consultant)."""
    actor = Actor(None, "steerco command", (Grant(admin_role),))  # type: ignore[arg-type]
    if by is not None:
        tenants.add_member(session, tenant, by, [(admin_role, None)])
        actor = tenants.actor_for(session, tenant, by)
    if not admin_email.strip() or (by is not None and admin_email.strip().lower() == by.email.lower()):
        return None
    try:
        return members.invite(session, tenant, config, actor, admin_email, admin_name, [(admin_role, None)])
    except ValidationFailed as failed:  # the invitation's fields are the admin's fields here
        names = {"email": "admin_email", "name": "admin_name", "role": "admin_role"}
        raise ValidationFailed({names.get(k, k): v for k, v in failed.errors.items()}, submitted) from None
