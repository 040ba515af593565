"""Configuration versions: drafts, their problems, diff and impact, activation, rollback, export.

A tenant's configuration is a series of :class:`ConfigVersion` rows::

    draft ──activate──> active ──(another is activated)──> superseded
      └──discard──> discarded                 superseded ──rollback──> (a new draft, activated)

- A **draft** starts from the active version (its *base*) or from documents (a folder,
  a template); only a draft's documents change. Its problems come from the same
  ``problems_of``/``compile_config`` as ``steerco validate``, each with file and JSON Pointer.
- Its **diff** and **impact** compare it with the active version (:mod:`config_diff`,
  :mod:`config_impact`).
- **Activation** is one transaction: the draft must compile, and its base must still be the
  active version (a conditional UPDATE of the tenant's active version decides, so two
  administrators cannot both activate on top of the same version); field identities are
  handed over (:mod:`field_identities`); the audit event carries the diff.
- A **rollback** is a new version copying an old one's documents (and field identities),
  activated with a comment. Nothing is ever deleted.

The caller commits. The configuration right is checked by :func:`require_configuration_right`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from steerco.config import ConfigInvalid, ConfigProblem, TenantConfig, compile_config
from steerco.config.schema import DOCUMENTS, OPTIONAL_DOCUMENTS
from steerco.engine import audit, field_identities, tenants
from steerco.engine.access import Access, Actor
from steerco.engine.config_diff import ConfigChange, diff
from steerco.engine.config_impact import ImpactItem, impact
from steerco.engine.errors import Conflict, Forbidden, NotFound, SteercoError, ValidationFailed
from steerco.engine.tenants import ACTIVE, DISCARDED, DRAFT, SUPERSEDED
from steerco.store import scoping
from steerco.store.models import ConfigVersion, Tenant, User
CONFIGURATION_RIGHT = "configuration"
COMMENT_MAX = 2000


class DraftInvalid(SteercoError):
    """A draft with configuration problems cannot be activated (-> 422)."""

    status = 422

    def __init__(self, problems: Iterable[ConfigProblem]):
        self.problems = list(problems)
        super().__init__(f"The draft has {len(self.problems)} problem(s) and cannot be activated; "
                         "each is shown next to its file and place.")


class StaleDraft(Conflict):
    """The draft's base is no longer the active version: someone else activated meanwhile."""


def require_configuration_right(config: TenantConfig, actor: Actor) -> None:
    if CONFIGURATION_RIGHT not in Access(config, actor).admin_rights:
        raise Forbidden("Changing the configuration needs the configuration right in this workspace.")


# -- reading -------------------------------------------------------------------------------

@dataclass(frozen=True)
class VersionSummary:
    id: int
    number: int
    state: str
    comment: str
    source: str
    author: str | None
    created_at: dt.datetime
    updated_at: dt.datetime | None
    activated_at: dt.datetime | None
    activated_by: str | None
    base_number: int | None


def versions(session: Session, tenant: Tenant) -> list[VersionSummary]:
    """Every version of the tenant, newest first, in one query."""
    author, activator = aliased(User), aliased(User)
    base = aliased(ConfigVersion)
    rows = session.execute(
        select(ConfigVersion.id, ConfigVersion.number, ConfigVersion.state, ConfigVersion.comment,
               ConfigVersion.source, author.name, ConfigVersion.created_at, ConfigVersion.updated_at,
               ConfigVersion.activated_at, activator.name, base.number)
        .outerjoin(author, author.id == ConfigVersion.created_by_id)
        .outerjoin(activator, activator.id == ConfigVersion.activated_by_id)
        .outerjoin(base, (base.id == ConfigVersion.base_version_id) & (base.tenant_id == tenant.id))
        .where(ConfigVersion.tenant_id == tenant.id).order_by(ConfigVersion.number.desc())).all()
    return [VersionSummary(*row) for row in rows]


def get(session: Session, tenant: Tenant, version_id: int) -> ConfigVersion:
    """A version of this tenant; NotFound for any other id (another tenant's included)."""
    version = session.scalar(select(ConfigVersion).where(
        ConfigVersion.id == version_id, ConfigVersion.tenant_id == tenant.id))
    if version is None:
        raise NotFound("no such configuration version")
    return version


def active(session: Session, tenant: Tenant) -> ConfigVersion | None:
    if tenant.active_config_id is None:
        return None
    return session.scalar(select(ConfigVersion).where(
        ConfigVersion.id == tenant.active_config_id, ConfigVersion.tenant_id == tenant.id))


def _key_problems(tenant: Tenant, documents: Mapping[str, Any]) -> list[ConfigProblem]:
    """A version may not move the workspace elsewhere: its key is in every address."""
    key = documents["tenant"].get("key") if isinstance(documents.get("tenant"), dict) else None
    if isinstance(key, str) and key != tenant.slug:
        return [ConfigProblem("tenant.json", "/key", f"the workspace key is {tenant.slug!r} and cannot change "
                              "(it is part of every address of the workspace)", "tenant_key_fixed", tenant.slug)]
    return []


def compiled(tenant: Tenant, version: ConfigVersion) -> TenantConfig:
    """The version's compiled configuration; DraftInvalid listing every problem otherwise.

    Compiled by the same ``compile_config`` as ``steerco validate`` (schema, semantics,
    defaults), once: versions that were active come from the per-version cache.
    """
    documents = version.documents or {}
    found = _key_problems(tenant, documents)
    try:
        config = tenants.compiled(version)
    except ConfigInvalid as invalid:
        raise DraftInvalid([*invalid.problems, *found]) from None
    if found:
        raise DraftInvalid(found)
    return config


def problems(tenant: Tenant, version: ConfigVersion) -> list[ConfigProblem]:
    """Everything wrong with a version's documents, each with file and JSON Pointer."""
    try:
        compiled(tenant, version)
    except DraftInvalid as invalid:
        return invalid.problems
    return []


# -- drafts --------------------------------------------------------------------------------

def _next_number(session: Session, tenant: Tenant) -> int:
    """The tenant's next version number; its row is locked first (PostgreSQL), so two drafts
    started at the same moment do not both take the same number."""
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    return (session.scalar(select(func.max(ConfigVersion.number)).where(ConfigVersion.tenant_id == tenant.id)) or 0) + 1


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)


def _base_identities(session: Session, base: ConfigVersion | None) -> dict[str, int]:
    return field_identities.identities_of(session, base) if base is not None else {}


def create_draft(session: Session, tenant: Tenant, *, documents: Mapping[str, Any] | None = None,
                 user_id: int | None = None, comment: str = "", source: str = "",
                 restore: Iterable[str] = (), identities: Mapping[str, int | None] | None = None,
                 now: dt.datetime | None = None) -> ConfigVersion:
    """A new draft on top of the active version, with ``documents`` (default: the active
    version's). Field keys of ``restore`` that the base lacks get back their most recent
    earlier definition (and its values); ``identities`` fixes every field's identity
    instead (a rollback)."""
    base = active(session, tenant)
    if documents is None:
        if base is None:
            raise NotFound("the workspace has no active configuration to start a draft from")
        documents = base.documents
    documents = copy.deepcopy(dict(documents))
    base_ids = _base_identities(session, base)
    if identities is None:
        chosen: dict[str, int] = {}
        for key in restore:
            earlier = field_identities.restorable(session, tenant.id, key, exclude=base_ids.values())
            if earlier:
                chosen[key] = earlier[0].id
        mapping = field_identities.draft_identities(base_ids, documents, chosen)
    else:
        mapping = {key: identities.get(key) for key in field_identities.field_labels(documents)}
    moment = _now(now)
    draft = ConfigVersion(tenant_id=tenant.id, number=_next_number(session, tenant), documents=documents,
                          source=source[:500], created_by_id=user_id, created_at=moment, updated_at=moment,
                          state=DRAFT, comment=comment.strip()[:COMMENT_MAX],
                          base_version_id=base.id if base else None, field_identities=mapping)
    session.add(draft)
    session.flush()
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind="config.draft_created",
                 data={"version": draft.number, "base": base.number if base else None, "source": draft.source},
                 now=moment)
    return draft


def _require_draft(tenant: Tenant, version: ConfigVersion) -> None:
    if version.tenant_id != tenant.id:
        raise NotFound("no such configuration version")
    if version.state != DRAFT:
        raise Conflict(f"Version {version.number} is {version.state}, not a draft: its documents are fixed. "
                       "Start a new draft to change the configuration.")


def save_document(session: Session, tenant: Tenant, draft: ConfigVersion, name: str, document: Any, *,
                  user_id: int | None = None, now: dt.datetime | None = None,
                  edits: list[dict[str, Any]] | None = None) -> list[ConfigProblem]:
    """Replace one document of a draft (``None`` leaves out an optional one) and return the
    draft's problems. A draft may be saved with problems; it cannot be activated with them.
    ``edits``: what a configuration screen changed, recorded in the audit event."""
    _require_draft(tenant, draft)
    if name not in DOCUMENTS:
        raise NotFound(f"no configuration file {name}.json")
    # Two people saving different files of one draft: each applies to what the other saved.
    session.refresh(draft, with_for_update=True)
    _require_draft(tenant, draft)
    documents = dict(draft.documents or {})
    if document is None:
        if name not in OPTIONAL_DOCUMENTS:
            raise ValidationFailed({name: f"{name}.json is required and cannot be left out."})
        documents.pop(name, None)
    else:
        documents[name] = document
    draft.documents = documents
    draft.field_identities = field_identities.draft_identities(
        _base_identities(session, _base(session, tenant, draft)), documents, draft.field_identities)
    draft.updated_at = _now(now)
    session.flush()
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind="config.draft_edited",
                 data={"version": draft.number, "file": f"{name}.json", **({"edits": edits} if edits else {})},
                 now=now)
    return problems(tenant, draft)


def _base(session: Session, tenant: Tenant, draft: ConfigVersion) -> ConfigVersion | None:
    if draft.base_version_id is None:
        return None
    return session.scalar(select(ConfigVersion).where(
        ConfigVersion.id == draft.base_version_id, ConfigVersion.tenant_id == tenant.id))


def discard(session: Session, tenant: Tenant, draft: ConfigVersion, *, user_id: int | None = None) -> None:
    """Give up a draft; it stays listed as discarded."""
    _require_draft(tenant, draft)
    draft.state = DISCARDED
    session.flush()
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind="config.draft_discarded",
                 data={"version": draft.number})


def rebase(session: Session, tenant: Tenant, draft: ConfigVersion, *, user_id: int | None = None) -> ConfigVersion:
    """Put a draft on top of the version active now (after someone else activated): its
    documents stay as they are, so its diff then shows what it would change from there."""
    _require_draft(tenant, draft)
    base = active(session, tenant)
    draft.base_version_id = base.id if base else None
    draft.field_identities = field_identities.draft_identities(
        _base_identities(session, base), draft.documents, draft.field_identities)
    session.flush()
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind="config.draft_rebased",
                 data={"version": draft.number, "base": base.number if base else None})
    return draft


# -- what a draft changes ------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChoice:
    """A field key of a draft that an earlier definition had: start empty, or restore it."""

    key: str
    label: str
    restored: int | None
    earlier: tuple[field_identities.Restorable, ...]


def field_choices(session: Session, tenant: Tenant, draft: ConfigVersion) -> list[FieldChoice]:
    """Keys the draft adds that were used before: the admin decides whether the old values
    come back (restore) or stay aside (a new field that reuses the key, the default)."""
    base = _base(session, tenant, draft)
    base_ids = _base_identities(session, base)
    labels = field_identities.field_labels(draft.documents or {})
    choices = []
    for key, label in labels.items():
        if key in base_ids:
            continue
        earlier = field_identities.restorable(session, tenant.id, key, exclude=base_ids.values())
        if earlier:
            chosen = (draft.field_identities or {}).get(key)
            choices.append(FieldChoice(key, label, chosen if isinstance(chosen, int) else None, tuple(earlier)))
    return choices


def choose_identity(session: Session, tenant: Tenant, draft: ConfigVersion, key: str, identity_id: int | None, *,
                    user_id: int | None = None) -> None:
    """Restore an earlier definition of ``key`` in the draft (``None``: a new field)."""
    _require_draft(tenant, draft)
    choice = next((c for c in field_choices(session, tenant, draft) if c.key == key), None)
    if choice is None:
        raise NotFound("the draft has no such field to restore")
    if identity_id is not None and identity_id not in {e.id for e in choice.earlier}:
        raise NotFound("no such earlier definition of this field")
    draft.field_identities = {**(draft.field_identities or {}), key: identity_id}
    session.flush()
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind="config.draft_edited",
                 data={"version": draft.number, "field": key,
                       "restores": identity_id if identity_id is not None else "new"})


def _identity_changes(session: Session, tenant: Tenant, draft: ConfigVersion) -> list[ConfigChange]:
    """Sentences for the field keys whose identity the draft settles."""
    changes = []
    for choice in field_choices(session, tenant, draft):
        steps = field_identities.field_labels(draft.documents)
        pointer = f"/fields/{list(steps).index(choice.key)}" if choice.key in steps else ""
        latest = choice.earlier[0]
        if choice.restored is not None:
            earlier = next(e for e in choice.earlier if e.id == choice.restored)
            changes.append(ConfigChange("field.restored", "fields.json", pointer,
                                        f"Field *{choice.label}* restores the earlier field *{earlier.label}* "
                                        f"(versions {earlier.first_version}–{earlier.last_version}): the values of "
                                        f"{earlier.records} record(s) come back"))
        else:
            changes.append(ConfigChange("field.reused_key", "fields.json", pointer,
                                        f"Field *{choice.label}* reuses the key {choice.key!r} of the earlier field "
                                        f"*{latest.label}*: it starts empty; the earlier values stay aside "
                                        f"(restore the earlier field to bring them back)"))
    return changes


def _compare(session: Session, tenant: Tenant, version: ConfigVersion, new: TenantConfig,
             other: ConfigVersion | None) -> list[ConfigChange]:
    old = tenants.compiled(other) if other is not None else None
    changes = diff(old, new, other.documents if other else None, version.documents)
    if version.state == DRAFT:
        changes += _identity_changes(session, tenant, version)
    return changes


def changes_of(session: Session, tenant: Tenant, version: ConfigVersion,
               against: ConfigVersion | None = None) -> list[ConfigChange]:
    """The version's diff against ``against`` (default: the active version; for the active
    version itself, the version it was based on). DraftInvalid when it does not compile."""
    new = compiled(tenant, version)
    other = against if against is not None else active(session, tenant)
    if other is not None and other.id == version.id:
        other = _base(session, tenant, version)
    return _compare(session, tenant, version, new, other)


def impact_of(session: Session, tenant: Tenant, version: ConfigVersion) -> list[ImpactItem]:
    """What activating the version would do to the tenant's data, against the active version."""
    new = compiled(tenant, version)
    current = active(session, tenant)
    old = tenants.compiled(current) if current is not None and current.id != version.id else None
    items = impact(session, tenant.id, old, new)
    if version.state == DRAFT:
        for choice in field_choices(session, tenant, version):
            if choice.restored is None and choice.earlier[0].records:
                latest = choice.earlier[0]
                items.append(ImpactItem("values_set_aside", f"{latest.records} record(s) hold values of the earlier "
                                        f"field *{latest.label}*: they stay aside and are not shown in the new field "
                                        f"*{choice.label}* (restore the earlier field to keep them)",
                                        latest.records, "info"))
    return items


# -- activation and rollback ---------------------------------------------------------------

@dataclass
class Activation:
    version: ConfigVersion
    changes: list[ConfigChange]
    fields: field_identities.Handover = field(default_factory=field_identities.Handover)


def activate(session: Session, tenant: Tenant, draft: ConfigVersion, *, user_id: int | None = None,
             comment: str = "", now: dt.datetime | None = None, kind: str = "config.activated",
             extra: Mapping[str, Any] | None = None) -> Activation:
    """Make the draft the active version, atomically; see the module docstring."""
    _require_draft(tenant, draft)
    comment = (comment.strip() or draft.comment or "").strip()
    if not comment:
        raise ValidationFailed({"comment": "Say in a few words what this version changes and why."})
    if len(comment) > COMMENT_MAX:
        raise ValidationFailed({"comment": f"At most {COMMENT_MAX} characters."}, {"comment": comment})
    config = compiled(tenant, draft)
    current = active(session, tenant)
    base_number = current.number if current else None
    if draft.base_version_id != (current.id if current else None):
        raise _stale(session, tenant, draft, current)
    changes = _compare(session, tenant, draft, config, current)
    moment = _now(now)
    claimed = session.execute(
        update(Tenant).where(Tenant.id == tenant.id,
                             Tenant.active_config_id == current.id if current else Tenant.active_config_id.is_(None))
        .values(active_config_id=draft.id, name=config.name).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _stale(session, tenant, draft, None)
    set_committed_value(tenant, "active_config_id", draft.id)
    set_committed_value(tenant, "name", config.name)
    identities, handover = field_identities.activate(session, tenant.id, draft.number, draft.documents,
                                                     draft.field_identities or {}, moment,
                                                     _base_identities(session, current))
    if current is not None:
        current.state = SUPERSEDED
    draft.state, draft.comment = ACTIVE, comment
    draft.activated_at, draft.activated_by_id = moment, user_id
    draft.field_identities = identities
    session.flush()
    audit.append(session, tenant_id=tenant.id, user_id=user_id, kind=kind, now=moment, data={
        "version": draft.number, "base": base_number, "source": draft.source, "comment": comment,
        **(extra or {}), "changes": [c.as_data() for c in changes], "fields": handover.as_data()})
    return Activation(draft, changes, handover)


def _stale(session: Session, tenant: Tenant, draft: ConfigVersion, current: ConfigVersion | None) -> StaleDraft:
    session.expire(tenant, ["active_config_id"])
    current = current or active(session, tenant)
    if current is None:
        return StaleDraft("The workspace's configuration changed meanwhile; reload and try again.")
    who = session.scalar(select(User.name).where(User.id == current.activated_by_id)) if current.activated_by_id \
        else None
    when = f" at {current.activated_at:%Y-%m-%d %H:%M} UTC" if current.activated_at else ""
    return StaleDraft(f"Version {current.number} was activated{' by ' + who if who else ''}{when} after draft "
                      f"{draft.number} was started, so the draft would undo its changes. Your draft is kept: "
                      "rebase it on the active version, check its diff again, then activate.")


def rollback(session: Session, tenant: Tenant, version: ConfigVersion, *, user_id: int | None = None,
             comment: str = "", now: dt.datetime | None = None) -> Activation:
    """Activate a copy of an earlier version: a new version with its documents and its
    fields' definitions (so the values those fields held come back)."""
    if version.tenant_id != tenant.id:
        raise NotFound("no such configuration version")
    if version.state != SUPERSEDED:
        raise Conflict(f"Version {version.number} is {version.state}: only a version that was active before can "
                       "be rolled back to.")
    if not comment.strip():
        raise ValidationFailed({"comment": "Say why you roll back."})
    current = active(session, tenant)
    base_ids = _base_identities(session, current)
    identities: dict[str, int | None]
    if version.field_identities is not None:
        identities = {k: (int(v) if v is not None else None) for k, v in version.field_identities.items()}
    else:  # kept from before identities: each key keeps the definition whose values sit under it
        identities = dict(field_identities.draft_identities(base_ids, version.documents))
        for key, identity in identities.items():
            if identity is None:
                earlier = field_identities.restorable(session, tenant.id, key, exclude=base_ids.values())
                identities[key] = earlier[0].id if earlier else None
    draft = create_draft(session, tenant, documents=version.documents, user_id=user_id, comment=comment,
                         source=f"rollback to version {version.number}", identities=identities, now=now)
    return activate(session, tenant, draft, user_id=user_id, comment=comment, now=now, kind="config.rolled_back",
                    extra={"rolled_back_to": version.number})


def store(session: Session, documents: Mapping[str, Any], *, source: str = "", user_id: int | None = None,
          comment: str = "", restore: Iterable[str] = (), activate_now: bool = True,
          now: dt.datetime | None = None) -> tuple[Tenant, ConfigVersion, Activation | None]:
    """Store documents (a folder, a template) as a draft of the tenant their ``tenant.key``
    names, creating the tenant on its first configuration, and activate it unless told
    not to. Raises ConfigInvalid, storing nothing, when they do not compile."""
    config = compile_config(documents)
    tenant = session.scalar(select(Tenant).where(Tenant.slug == config.key))
    created = tenant is None
    if tenant is None:
        tenant = Tenant(slug=config.key, name=config.name)
        session.add(tenant)
        session.flush()
    with scoping.within_tenant(session, tenant.id):  # a command's session names no tenant
        draft = create_draft(session, tenant, documents=documents, user_id=user_id, source=source,
                             comment=comment or ("Loaded from a folder" if source else ""), restore=restore,
                             now=now)
        if not activate_now:
            return tenant, draft, None
        activation = activate(session, tenant, draft, user_id=user_id, comment=draft.comment or "stored",
                              now=now, extra={"workspace_created": True} if created else None)
    return tenant, draft, activation


# -- export --------------------------------------------------------------------------------

def export(documents: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write documents as a tenant folder (one ``<name>.json`` each) that ``steerco
    validate`` accepts and ``steerco load-tenant`` loads to the same configuration; files of
    optional documents the version leaves out are removed, so the folder says exactly that."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DOCUMENTS:
        path = target / f"{name}.json"
        if name in documents:
            path.write_text(json.dumps(documents[name], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
        elif path.exists():
            path.unlink()
    return written


# -- a document as text for the expert editor ---------------------------------------------

def document_text(document: Any) -> tuple[str, dict[str, int]]:
    """The document as indented JSON (as ``json.dumps(indent=2)`` writes it), and the line
    where each JSON Pointer starts, so a problem can be shown at its line."""
    lines: list[str] = []
    where: dict[str, int] = {}

    def emit(value: Any, pointer: str, depth: int, prefix: str, suffix: str) -> None:
        where.setdefault(pointer, len(lines) + 1)
        pad = "  " * depth
        if isinstance(value, (dict, list)) and value:
            items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
            lines.append(f"{pad}{prefix}{'{' if isinstance(value, dict) else '['}")
            for n, (key, item) in enumerate(items):
                label = json.dumps(key, ensure_ascii=False) + ": " if isinstance(value, dict) else ""
                part = str(key).replace("~", "~0").replace("/", "~1")
                emit(item, f"{pointer}/{part}", depth + 1, label, "," if n < len(items) - 1 else "")
            lines.append(f"{pad}{'}' if isinstance(value, dict) else ']'}{suffix}")
        else:
            lines.append(f"{pad}{prefix}{json.dumps(value, ensure_ascii=False)}{suffix}")

    emit(document, "", 0, "", "")
    return "\n".join(lines) + "\n", where


def line_of(where: Mapping[str, int], pointer: str) -> int | None:
    """The line of ``pointer``, or of its nearest ancestor that exists (a missing property
    is reported at the object that lacks it)."""
    while pointer and pointer not in where:
        pointer = pointer.rsplit("/", 1)[0]
    return where.get(pointer)
