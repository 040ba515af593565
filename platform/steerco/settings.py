"""Settings from the environment, with the embedded defaults `make run` relies on.

Every setting has an environment variable (``STEERCO_*``); ``create_app`` may override
any of them for tests. Resources (schemas, templates, tenant folders) sit at the
repository root, two folders above this package.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

RESOURCE_ROOT = Path(os.environ.get("STEERCO_HOME", Path(__file__).resolve().parents[2]))
INSTANCE_DIR = Path(os.environ.get("STEERCO_INSTANCE", RESOURCE_ROOT / "instance"))


def _secret_key() -> str:
    """A stable secret for the embedded default; production sets STEERCO_SECRET_KEY."""
    if key := os.environ.get("STEERCO_SECRET_KEY"):
        return key
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _cookies(secure: bool) -> dict[str, Any]:
    """Cookie settings: over HTTPS (``STEERCO_SECURE_COOKIES=1``) the session and remember-me
    cookies are ``Secure`` and named ``__Host-…``, which browsers accept only from HTTPS,
    for the whole site (``Path=/``) and for this host alone (no ``Domain``)."""
    return {
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "SESSION_COOKIE_PATH": "/",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_PATH": "/",
        **({"SESSION_COOKIE_NAME": "__Host-session", "REMEMBER_COOKIE_NAME": "__Host-remember_token"}
           if secure else {}),
    }


def from_environment() -> dict[str, Any]:
    """The Flask configuration for this process."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    secure = os.environ.get("STEERCO_SECURE_COOKIES", "0") == "1"
    return {
        "SECRET_KEY": _secret_key(),
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "STEERCO_DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'steerco.db'}"
        ),
        "UPLOAD_DIR": os.environ.get("STEERCO_UPLOAD_DIR", str(INSTANCE_DIR / "uploads")),
        # Object storage for evidence files when several hosts serve the app, e.g.
        # s3://bucket/prefix?endpoint_url=https://…; empty keeps files in UPLOAD_DIR.
        "BLOB_URL": os.environ.get("STEERCO_BLOB_URL", ""),
        # Above every field's own limit, so an oversized file still reaches the form and is
        # answered with a field error and the user's other values, not a bare 413.
        "MAX_CONTENT_LENGTH": int(os.environ.get("STEERCO_MAX_UPLOAD_MB", "60")) * 1024 * 1024,
        **_cookies(secure),
        # Served over HTTPS: also Strict-Transport-Security (web/app.py).
        "SECURE_COOKIES": secure,
        # Links in mails (invitations, password resets) start with this address, never with
        # the Host header of the request that caused them (which a client chooses).
        "BASE_URL": os.environ.get("STEERCO_BASE_URL", "http://127.0.0.1:5000"),
        # Mail: written to the outbox folder, then delivered through SMTP when a server is set.
        "OUTBOX_DIR": os.environ.get("STEERCO_OUTBOX_DIR", str(INSTANCE_DIR / "outbox")),
        "SMTP_URL": os.environ.get("STEERCO_SMTP_URL") or None,
        "MAIL_FROM": os.environ.get("STEERCO_MAIL_FROM", "steerco@localhost"),
        # The login throttle's store: Redis when set, the database otherwise.
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "WTF_CSRF_TIME_LIMIT": None,
        # Report PDFs render as jobs: on Redis with `steerco worker` when REDIS_URL is set,
        # else on this many threads inside the web process.
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "REPORT_QUEUE": os.environ.get("STEERCO_REPORT_QUEUE", "steerco-reports"),
        "REPORT_THREADS": int(os.environ.get("STEERCO_REPORT_THREADS", "1")),
        # processes laying out one big report PDF at once (reports/chunks.py); 1: one piece
        "REPORT_PDF_WORKERS": int(os.environ.get("STEERCO_REPORT_PDF_WORKERS", str(min(2, os.cpu_count() or 1)))),
        # rows (a chart or tiles count 25) from which a report PDF is laid out in parallel
        "REPORT_PARALLEL_FROM_ROWS": int(os.environ.get("STEERCO_REPORT_PARALLEL_FROM_ROWS", "400")),
        "TEMPLATES_AUTO_RELOAD": False,
    }
