"""Fixtures shared by every test: a real database (SQLite, or PostgreSQL when
``STEERCO_TEST_DATABASE_URL`` is set), the app, a client, and small factories.

Tables are created once per run; after each test every row is removed, so no test sees
another's data. Tenants are always built through the real configuration compiler.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from configs import minimal_documents  # noqa: E402
from database import bypass_audit_trigger  # noqa: E402
from mailserver import serve as serve_smtp  # noqa: E402

from steerco.engine import tenants  # noqa: E402
from steerco.engine.access import Access  # noqa: E402
from steerco.engine.records import Records  # noqa: E402
from steerco.engine.users import create_user  # noqa: E402
from steerco.store import scoping  # noqa: E402
from steerco.store.blobs import DiskBlobStore  # noqa: E402
from steerco.store.models import Base, Tenant, User  # noqa: E402

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("STEERCO_TEST_DATABASE_URL") or \
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'steerco-test.db'}"


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    Base.metadata.drop_all(engine)
    engine.dispose()


def _wipe(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            bypass_audit_trigger(conn)  # audit_event refuses TRUNCATE to everyone else
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
    tenants.forget_compiled()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "db_engine" in request.fixturenames:
        _wipe(request.getfixturevalue("db_engine"))


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    """A plain SQLAlchemy session: engine tests need no Flask.

    Tests set up several workspaces in one session, so it works across tenants for the
    tenant tripwire (``store/scoping.py``); a test may still bind it to one tenant.
    """
    with scoping.TenantSession(db_engine, expire_on_commit=False) as db_session:
        yield scoping.allow_all_tenants(db_session)


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def outbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the test apps' mail lands (no SMTP server is configured)."""
    return tmp_path_factory.mktemp("outbox")


@pytest.fixture(scope="session")
def app(db_engine: Engine, database_url: str, upload_dir: Path, outbox_dir: Path):  # type: ignore[no-untyped-def]
    from steerco import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(upload_dir), "WTF_CSRF_ENABLED": False, "OUTBOX_DIR": str(outbox_dir),
    })


@pytest.fixture
def outbox(outbox_dir: Path) -> Iterator[Callable[[], list[Any]]]:
    """Call it for the mails sent so far in this test (``email.message.EmailMessage``, oldest first)."""
    from email import policy
    from email.parser import BytesParser

    for old in outbox_dir.glob("*.eml"):
        old.unlink()

    def read() -> list[Any]:
        return [BytesParser(policy=policy.default).parsebytes(path.read_bytes())
                for path in sorted(outbox_dir.glob("*.eml"))]

    yield read
    for sent in outbox_dir.glob("*.eml"):
        sent.unlink()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def make_tenant(session: Session) -> Callable[..., Tenant]:
    """Store and activate a tenant configuration (the minimal one unless documents are given)."""

    def make(documents: dict[str, Any] | None = None) -> Tenant:
        tenant, _ = tenants.store_config(session, documents or minimal_documents())
        session.commit()
        return tenant

    return make


@pytest.fixture
def make_user(session: Session) -> Callable[..., User]:
    """A user who is a member of ``tenant`` holding ``roles`` [(role, node id or None)]."""
    counter = iter(range(1, 10_000))

    def make(tenant: Tenant | None = None, roles: list[tuple[str, int | None]] | None = None,
             email: str | None = None, name: str | None = None) -> User:
        n = next(counter)
        user = create_user(session, email or f"user{n}@example.com", name or f"User {n}", PASSWORD)
        if tenant is not None:
            tenants.add_member(session, tenant, user, roles if roles is not None else [("admin", None)])
        session.commit()
        return user

    return make


@pytest.fixture
def records_for(session: Session, upload_dir: Path) -> Callable[[Tenant, User], Records]:
    """The engine's record service as ``user`` in ``tenant``."""

    def make(tenant: Tenant, user: User) -> Records:
        config = tenants.active_config(session, tenant)
        return Records(session, tenant.id, config, Access(config, tenants.actor_for(session, tenant, user)),
                       DiskBlobStore(upload_dir))

    return make


@pytest.fixture
def demo_workspaces(session: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, Tenant]:
    """The demo workspaces ({slug: tenant}), their people's passwords hashed cheaply (logging
    in still checks them)."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from steerco.demo import load_demo
    from steerco.engine import users

    monkeypatch.setattr(users, "generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1000"))
    load_demo(session)
    session.commit()
    return {t.slug: t for t in session.scalars(select(Tenant))}


@pytest.fixture
def login(client):  # type: ignore[no-untyped-def]
    def do(email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        return client.post("/login", data={"email": email, "password": password})

    return do


@pytest.fixture
def smtp_server():  # type: ignore[no-untyped-def]
    """An SMTP server on 127.0.0.1 (``server.server_address[1]`` is its port); what it
    accepted is in ``server.received``."""
    yield from serve_smtp()
