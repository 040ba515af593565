"""The Alembic migrations build exactly the schema the models describe.

``steerco db upgrade`` is how a real installation gets its tables, while the test suite
creates them from the models; this test makes sure the two never drift apart. It runs on
a fresh SQLite file and, when the suite runs on PostgreSQL, on a fresh PostgreSQL
database that it creates and drops itself.
"""

from __future__ import annotations

import logging.config
import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from steerco.store.models import Base

MIGRATIONS = Path(__file__).resolve().parents[2] / "platform" / "steerco" / "migrations"


@pytest.fixture
def quiet_alembic_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """env.py calls logging.config.fileConfig, which would disable every logger already
    created in this process (the app's, Flask-WTF's ...) for the rest of the test run."""
    monkeypatch.setattr(logging.config, "fileConfig", lambda *args, **kwargs: None)


def _upgrade(url: str, tmp_path: Path, revision: str = "head") -> None:
    """Run the app's Flask-Migrate configuration against ``url``."""
    import flask_migrate

    from steerco import create_app
    from steerco.web.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "migration-test", "SQLALCHEMY_DATABASE_URI": url,
                      "UPLOAD_DIR": str(tmp_path / "uploads")})
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=revision)
        finally:
            db.engine.dispose()


def _downgrade(url: str, tmp_path: Path, revision: str = "base") -> None:
    import flask_migrate

    from steerco import create_app
    from steerco.web.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "migration-test", "SQLALCHEMY_DATABASE_URI": url,
                      "UPLOAD_DIR": str(tmp_path / "uploads")})
    with app.app_context():
        try:
            flask_migrate.downgrade(revision=revision)
        finally:
            db.engine.dispose()


def _differences(url: str) -> list:  # type: ignore[type-arg]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _check_round_trip(url: str, tmp_path: Path) -> None:
    _upgrade(url, tmp_path)
    assert _tables(url) == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    differences = _differences(url)
    assert differences == [], "models and migrations disagree:\n" + "\n".join(map(str, differences))
    _downgrade(url, tmp_path)
    assert _tables(url) <= {"alembic_version"}
    _upgrade(url, tmp_path)
    assert _differences(url) == []


def test_one_head_and_one_root() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert len(scripts.get_heads()) == 1
    assert len(scripts.get_bases()) == 1


def test_migrations_match_models_on_sqlite(tmp_path: Path, quiet_alembic_logging: None) -> None:
    _check_round_trip(f"sqlite:///{tmp_path / 'migrated.db'}", tmp_path)


@pytest.fixture
def fresh_postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own next to the test database, dropped afterwards."""
    url = os.environ.get("STEERCO_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("STEERCO_TEST_DATABASE_URL is not PostgreSQL")
    base = make_url(url)
    name = f"{base.database or 'steerco'}_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_match_models_on_postgresql(fresh_postgres_database: str, tmp_path: Path,
                                               quiet_alembic_logging: None) -> None:
    _check_round_trip(fresh_postgres_database, tmp_path)
