"""``steerco mail retry``: delivers what waits in the outbox once the SMTP server answers."""

from __future__ import annotations

import socket
from pathlib import Path

from steerco.cli import cli


def _app(database_url: str, outbox: Path, smtp_url: str | None):  # type: ignore[no-untyped-def]
    from steerco import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "mail", "SQLALCHEMY_DATABASE_URI": database_url,
                       "OUTBOX_DIR": str(outbox), "SMTP_URL": smtp_url, "MAIL_IN_BACKGROUND": False})


def test_mail_retry_delivers_what_a_down_server_left_waiting(database_url, tmp_path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    down = _app(database_url, tmp_path, f"smtp://127.0.0.1:{closed}")
    with down.app_context():
        down.extensions["steerco.mailer"].timeout = 2
        down.extensions["steerco.mailer"].send("pia@example.com", "Invitation", "Join us.\n")
    result = down.test_cli_runner().invoke(cli, ["mail", "retry"])
    assert result.exit_code == 1 and "0 message(s) delivered, 1 still waiting" in result.output
    up = _app(database_url, tmp_path, f"smtp://127.0.0.1:{smtp_server.server_address[1]}")
    result = up.test_cli_runner().invoke(cli, ["mail", "retry"])
    assert result.exit_code == 0 and "1 message(s) delivered, 0 still waiting" in result.output
    assert len(smtp_server.received) == 1


def test_mail_retry_without_smtp_says_where_mail_is(database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = _app(database_url, tmp_path, None)
    with app.app_context():
        app.extensions["steerco.mailer"].send("pia@example.com", "Invitation", "Join us.\n")
    result = app.test_cli_runner().invoke(cli, ["mail", "retry"])
    assert result.exit_code == 0 and f"STEERCO_SMTP_URL is not set: 1 message(s) in {tmp_path}" in result.output
