"""Outgoing e-mail: written to the outbox first, then delivered by SMTP when one is configured.

``Mailer.send(to, subject, body)`` never loses a message and never holds a request up
for long:

1. the message is written to the outbox folder as an ``.eml`` file (atomically: a
   temporary name, then a rename), so a crash or an SMTP server that is down loses
   nothing;
2. without an SMTP server (``STEERCO_SMTP_URL`` unset) that file *is* the delivery: a
   developer or operator reads it there (``instance/outbox/`` by default);
3. with one, a background thread delivers the file and deletes it once the server has
   accepted it; a failed delivery stays in the outbox, and ``steerco mail retry`` (cron)
   tries every waiting message again.

A file being delivered is first moved to ``sending/`` (a rename is atomic), so the
background thread and ``mail retry`` never send the same message twice; a file left
there by a process that died is moved back by the next retry after a while.

No Flask: the web layer builds one :class:`Mailer` from its settings
(``app.extensions["steerco.mailer"]``); notifications use the same ``send``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

#: a message in ``sending/`` longer than this was abandoned by a process that died
STALE_SENDING = dt.timedelta(minutes=10)


class MailError(Exception):
    """A message could not be handed to the SMTP server (it stays in the outbox)."""


@dataclass(frozen=True)
class SmtpServer:
    """Where to deliver, from ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs
    (``user:password@host:port``; user and password are percent-decoded)."""

    host: str
    port: int
    tls: str  # "none", "starttls" or "ssl"
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> "SmtpServer":
        parts = urlsplit(url)
        tls = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "ssl"}.get(parts.scheme)
        if tls is None or not parts.hostname:
            raise ValueError(f"STEERCO_SMTP_URL must look like smtp[s]://[user:password@]host[:port] or "
                             f"smtp+starttls://…, not {parts.scheme or 'no scheme'}://…")
        port = parts.port or {"none": 25, "starttls": 587, "ssl": 465}[tls]
        return cls(parts.hostname, port, tls, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


@dataclass
class Mailer:
    """Sends mail through the outbox folder; see the module docstring."""

    outbox: Path
    sender: str = "steerco@localhost"
    smtp: SmtpServer | None = None
    #: seconds an SMTP conversation may take before it is given up (and retried later)
    timeout: float = 10.0
    #: deliver in a background thread (the web); False delivers before ``send`` returns
    background: bool = True
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    @property
    def sending_dir(self) -> Path:
        return self.outbox / "sending"

    def send(self, to: str, subject: str, body: str) -> Path:
        """Queue a plain-text message to ``to``; returns the outbox file it was written to."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "localhost")
        message.set_content(body)
        path = self._write(message)
        if self.smtp is not None:
            if self.background:
                thread = threading.Thread(target=self._deliver_quietly, args=(path,), daemon=True,
                                          name="steerco-mail")
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
                thread.start()
            else:
                self._deliver_quietly(path)
        return path

    def waiting(self) -> list[Path]:
        """Messages in the outbox not (yet) delivered, oldest first."""
        if not self.outbox.is_dir():
            return []
        return sorted(self.outbox.glob("*.eml"))

    def retry(self, now: float | None = None) -> tuple[int, int]:
        """Try every waiting message again: (delivered, still waiting). Without an SMTP
        server there is nothing to deliver to, and the outbox is where mail stays."""
        if self.smtp is None:
            return 0, len(self.waiting())
        self._recover_abandoned(now if now is not None else time.time())
        delivered = 0
        for path in self.waiting():
            try:
                if self.deliver(path):
                    delivered += 1
            except MailError as error:
                log.warning("mail %s still waiting: %s", path.name, error)
        return delivered, len(self.waiting())

    def deliver(self, path: Path) -> bool:
        """Hand one outbox message to the SMTP server; True once it is accepted (and the
        file deleted), False if another process is delivering it. Raises MailError."""
        assert self.smtp is not None
        self.sending_dir.mkdir(parents=True, exist_ok=True)
        claimed = self.sending_dir / path.name
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return False  # someone else took it
        os.utime(claimed)  # the claim's time, which tells an abandoned claim from a slow one
        try:
            message = BytesParser(policy=default_policy).parsebytes(claimed.read_bytes())
            self._smtp_send(message)
        except (OSError, smtplib.SMTPException) as error:
            os.rename(claimed, path)  # back into the outbox, for the next retry
            raise MailError(f"{type(error).__name__}: {error}") from error
        claimed.unlink()
        return True

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for background deliveries (tests, and the CLI before it exits)."""
        for thread in list(self._threads):
            thread.join(timeout)

    # -- internals ------------------------------------------------------------------------
    def _write(self, message: EmailMessage) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{secrets.token_hex(4)}.eml"
        temporary = self.outbox / f".{name}.tmp"
        # Links in these messages act as their recipient: readable by the owner only.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(message.as_bytes())
        final = self.outbox / name
        os.rename(temporary, final)
        return final

    def _deliver_quietly(self, path: Path) -> None:
        try:
            self.deliver(path)
        except MailError as error:
            log.warning("mail %s kept in the outbox for `steerco mail retry`: %s", path.name, error)

    def _smtp_send(self, message: EmailMessage) -> None:
        assert self.smtp is not None
        server = self.smtp
        if server.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        with client:
            if server.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(message)

    def _recover_abandoned(self, now: float) -> None:
        if not self.sending_dir.is_dir():
            return
        for path in self.sending_dir.glob("*.eml"):
            if now - path.stat().st_mtime > STALE_SENDING.total_seconds():
                try:
                    os.rename(path, self.outbox / path.name)
                except FileNotFoundError:
                    pass


def mailer_from_settings(outbox: str | Path, smtp_url: str | None, sender: str, *,
                         background: bool = True) -> Mailer:
    """The mailer the settings describe (an invalid SMTP URL raises ValueError at start-up)."""
    return Mailer(Path(outbox), sender=sender, smtp=SmtpServer.from_url(smtp_url) if smtp_url else None,
                  background=background)
