"""Outgoing mail: written to the outbox first, delivered by SMTP when a server is set, never lost.

A small SMTP server on the loopback address stands in for the real one (the
``smtp_server`` fixture, ``tests/mailserver.py``); a closed port stands for one that is down.
"""

from __future__ import annotations

import socket
import stat
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
import pytest

from steerco.engine.mail import Mailer, SmtpServer, mailer_from_settings


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read(path: Path):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())


def test_without_smtp_the_outbox_is_the_delivery(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mailer = mailer_from_settings(tmp_path / "outbox", None, "steerco@example.com")
    path = mailer.send("pia@example.com", "Welcome", "Hello Pia,\nhere is your link.\n")
    message = _read(path)
    assert (message["To"], message["From"], message["Subject"]) == ("pia@example.com", "steerco@example.com", "Welcome")
    assert "here is your link" in message.get_content() and message["Message-ID"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # links in mails act as their recipient
    assert mailer.waiting() == [path] and mailer.retry() == (0, 1)


def test_with_smtp_a_message_is_delivered_and_leaves_the_outbox(tmp_path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    mailer = Mailer(tmp_path, smtp=SmtpServer("127.0.0.1", smtp_server.server_address[1], "none"), background=False)
    mailer.send("pia@example.com", "Reset", "Your link: http://x/y\n.\nA line with a dot.\n")
    assert mailer.waiting() == [] and len(smtp_server.received) == 1
    delivered = BytesParser(policy=policy.default).parsebytes(smtp_server.received[0])
    assert delivered["Subject"] == "Reset" and "A line with a dot." in delivered.get_content()


def test_a_server_that_is_down_loses_nothing_and_retry_delivers_later(tmp_path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    down = Mailer(tmp_path, smtp=SmtpServer("127.0.0.1", _closed_port(), "none"), background=False, timeout=2)
    kept = down.send("pia@example.com", "Invitation", "Join us.\n")
    assert down.waiting() == [kept] and down.retry() == (0, 1)
    up = Mailer(tmp_path, smtp=SmtpServer("127.0.0.1", smtp_server.server_address[1], "none"), background=False)
    assert up.retry() == (1, 0) and len(smtp_server.received) == 1
    assert list(tmp_path.rglob("*.eml")) == []


def test_a_slow_server_does_not_hold_the_request_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never says a word
    try:
        mailer = Mailer(tmp_path, smtp=SmtpServer("127.0.0.1", silent.getsockname()[1], "none"), timeout=1)
        began = time.perf_counter()
        path = mailer.send("pia@example.com", "Invitation", "Join us.\n")
        assert time.perf_counter() - began < 0.5
        mailer.wait()
        assert mailer.waiting() == [path]  # given up after the timeout, kept for `mail retry`
    finally:
        silent.close()


def test_a_message_being_delivered_is_not_sent_twice(tmp_path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    mailer = Mailer(tmp_path, smtp=SmtpServer("127.0.0.1", smtp_server.server_address[1], "none"), background=False)
    path = mailer._write(_message())
    assert mailer.deliver(path) is True
    assert mailer.deliver(path) is False  # claimed and gone already
    assert len(smtp_server.received) == 1


def _message():  # type: ignore[no-untyped-def]
    from email.message import EmailMessage

    message = EmailMessage()
    message["To"], message["From"], message["Subject"] = "a@example.com", "b@example.com", "x"
    message.set_content("x")
    return message


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, "none")),
    ("smtp+starttls://user%40corp:p%2Fss@mail.example.com", SmtpServer("mail.example.com", 587, "starttls",
                                                                        "user@corp", "p/ss")),
    ("smtps://u:p@mail.example.com:2465", SmtpServer("mail.example.com", 2465, "ssl", "u", "p")),
])
def test_the_smtp_url(url, expected) -> None:  # type: ignore[no-untyped-def]
    assert SmtpServer.from_url(url) == expected


def test_a_wrong_smtp_url_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="STEERCO_SMTP_URL must look like"):
        SmtpServer.from_url("http://mail.example.com")
