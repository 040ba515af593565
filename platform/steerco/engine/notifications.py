"""Notifications: the people a piece of work concerns hear about it, in the app and by mail.

What happens (an approval step opens, a step is decided, a request is rejected with its
comment, a step is escalated) is told by the engine code that makes it happen, through
:func:`notify`, in the same transaction: a notification exists exactly when its cause
was committed. Each person chose how mail reaches them (``User.notify_by_mail``):

- ``immediately``: one mail per notification, handed to the outbox once the transaction
  has committed (:data:`MAIL_QUEUE` in the session's ``info``; the web layer and the CLI
  hand the queue to the :class:`~steerco.engine.mail.Mailer` after commit), so a rolled
  back change sends nothing and a slow SMTP server never holds a request up;
- ``daily``: kept for one digest a day, sent by ``steerco tick`` (:func:`send_digests`);
- ``off``: the bell only.

The outbox keeps every message until an SMTP server has taken it (``steerco mail
retry``), so a server that is down loses nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.orm import Session

from steerco.engine.errors import ValidationFailed
from steerco.store import scoping
from steerco.store.models import Notification, Record, Tenant, User

#: how a person may choose to be mailed
MAIL_CHOICES: dict[str, str] = {
    "immediately": "Immediately, one e-mail each",
    "daily": "Once a day, in one e-mail",
    "off": "Not by e-mail (the bell only)",
}

#: what a notification can be about, as people read it in a mail's subject
KINDS: dict[str, str] = {
    "approval.waiting": "Approval waiting for you",
    "approval.decided": "A step of your request was decided",
    "transition.approved": "Your request was approved",
    "transition.rejected": "Your request was rejected",
    "approval.escalated": "An approval step is overdue",
    "exception.raised": "An exception needs you",
    "exception.escalated": "An exception was escalated to you",
    "plan_change.applied": "Your plan change was approved and applied",
    "period.opened": "A reporting period is open: actuals are due",
}

#: session.info key: mails to hand to the outbox once the session's transaction commits
MAIL_QUEUE = "steerco.mail_queue"

PAGE_SIZE = 50


@dataclass(frozen=True)
class Mail:
    """One message for the outbox; ``path`` is the page it points to, made absolute by
    whoever sends it (the engine does not know the server's address)."""

    to: str
    subject: str
    text: str
    path: str | None
    #: the page where the person reads their notifications and chooses how mail reaches them
    settings_path: str


def notify(session: Session, tenant_id: int, user_ids: Iterable[int], kind: str, record_id: int | None,
           text: str, now: dt.datetime, *, exclude: Iterable[int | None] = ()) -> list[Notification]:
    """Tell each person of ``user_ids`` (but ``exclude``) about ``kind``, in the caller's
    transaction; mails for those who want them at once wait for the commit."""
    wanted = set(user_ids) - set(exclude)
    if not wanted:
        return []
    people = session.execute(select(User.id, User.email, User.notify_by_mail).where(
        User.id.in_(wanted), User.is_active.is_(True))).all()
    made = []
    for user_id, email, mode in sorted(people):
        state = {"immediately": "mailed", "daily": "digest"}.get(mode, "none")
        made.append(Notification(tenant_id=tenant_id, user_id=user_id, kind=kind, record_id=record_id,
                                 text=text, created_at=now, mail_state=state))
    session.add_all(made)
    immediate = [(email, n) for (_, email, mode), n in zip(sorted(people), made) if mode == "immediately"]
    if immediate:
        name, slug = session.execute(select(Tenant.name, Tenant.slug).where(Tenant.id == tenant_id)).one()
        queue = session.info.setdefault(MAIL_QUEUE, [])
        for email, n in immediate:
            queue.append(Mail(email, f"[{name}] {KINDS.get(kind, kind)}", f"{n.text}\n\nWorkspace: {name}\n",
                              f"/t/{slug}/r/{record_id}" if record_id else None, f"/t/{slug}/notifications"))
    return made


def take_queued_mail(session: Session) -> list[Mail]:
    """The mails a committed transaction queued (and forget them)."""
    return session.info.pop(MAIL_QUEUE, None) or []


def drop_queued_mail(session: Session) -> None:
    """A rolled back transaction sends nothing."""
    session.info.pop(MAIL_QUEUE, None)


# -- the bell ------------------------------------------------------------------------------------
#: the bell's count, built once with its values bound at execution: every page runs it, and
#: building the statement and the ORM's per-execution work cost more than running it
_UNREAD_COUNT = select(func.count()).select_from(Notification).where(
    Notification.tenant_id == bindparam("tenant_id", type_=Integer),
    Notification.user_id == bindparam("user_id", type_=Integer), Notification.read_at.is_(None))


def unread_count(session: Session, tenant_id: int, user_id: int) -> int:
    """The bell's number: one indexed count. On the connection (Core), like the inbox's
    count: the statement names its tenant itself."""
    return session.connection().execute(_UNREAD_COUNT, {"tenant_id": tenant_id, "user_id": user_id}).scalar() or 0


def page(session: Session, tenant_id: int, user_id: int, *, before: int | None = None,
         unread_only: bool = False, limit: int = PAGE_SIZE) -> list[Notification]:
    """A person's notifications, newest first; ``before`` (an id) continues a page."""
    query = select(Notification).where(Notification.tenant_id == tenant_id, Notification.user_id == user_id)
    if before is not None:
        query = query.where(Notification.id < before)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(max(1, min(limit, 200)))))


def mark_read(session: Session, tenant_id: int, user_id: int, ids: Sequence[int] | None,
              now: dt.datetime) -> int:
    """Mark some (``ids``) or all (``None``) of a person's notifications read; how many
    changed. Ids of someone else's notifications change nothing."""
    query = update(Notification).where(Notification.tenant_id == tenant_id, Notification.user_id == user_id,
                                       Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    result = session.execute(query.values(read_at=now).execution_options(synchronize_session=False))
    return result.rowcount or 0


def set_mail_preference(session: Session, user: User, choice: str) -> None:
    """Choose how notifications reach ``user`` by mail."""
    if choice not in MAIL_CHOICES:
        raise ValidationFailed({"notify_by_mail": "Choose one of: " + ", ".join(MAIL_CHOICES) + "."},
                               {"notify_by_mail": choice})
    user.notify_by_mail = choice


# -- the daily digest --------------------------------------------------------------------------------
def send_digests(session: Session, now: dt.datetime, send: Callable[[Mail], None]) -> int:
    """Mail each person who chose a daily digest one message per workspace with what
    they were told before today (UTC); ``send`` hands a mail to the outbox. Returns the
    number of mails. Marked in the caller's transaction, committed after sending: the outbox
    keeps what it was given, so a digest is never lost (at worst, after a crash between the
    two, sent again)."""
    today = dt.datetime.combine(now.date(), dt.time())
    rows = session.execute(
        select(Notification, User.email, Tenant.name, Tenant.slug)
        .join(User, User.id == Notification.user_id).join(Tenant, Tenant.id == Notification.tenant_id)
        .where(Notification.mail_state == "digest", Notification.created_at < today)
        .order_by(Notification.tenant_id, Notification.user_id, Notification.id)
        .execution_options(**{scoping.ALL_TENANTS: True})).all()
    grouped: dict[tuple[str, str, str], list[Notification]] = defaultdict(list)
    for notification, email, name, slug in rows:
        grouped[(email, name, slug)].append(notification)
    for (email, name, slug), items in grouped.items():
        lines = [f"- {n.created_at:%Y-%m-%d %H:%M} UTC: {n.text}" for n in items]
        send(Mail(email, f"[{name}] {len(items)} notification(s) since your last digest",
                  "\n".join(lines) + f"\n\nWorkspace: {name}\n", None, f"/t/{slug}/notifications"))
        for n in items:
            n.mail_state = "mailed"
    session.flush()
    return len(grouped)


def record_labels(session: Session, tenant_id: int, record_ids: Iterable[int]) -> dict[int, str]:
    """Number and title of the records notifications point to (one query for a page)."""
    ids = {i for i in record_ids if i}
    if not ids:
        return {}
    return {rid: f"{number} {title}" for rid, number, title in session.execute(
        select(Record.id, Record.number, Record.title).where(Record.tenant_id == tenant_id, Record.id.in_(ids)))}
