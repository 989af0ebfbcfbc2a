"""Engines, sessions and schema migrations of the attention store.

The migrations ship inside the package (crm_bridge/migrations) and run from a
programmatic Alembic configuration, so `atiende migrate` works from an
installed wheel without an alembic.ini on disk. crm_bridge/alembic.ini exists
only for developers writing new revisions.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from crm_bridge.exceptions import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a SQLite writer waits for another connection's lock before failing.
_SQLITE_BUSY_TIMEOUT_MS = 5000
# Arbitrary constant naming the "schema migration" advisory lock on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x41_54_49_45  # "ATIE"


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and cross-thread use.

    Connections are pinged before use so that a database that restarted does
    not fail the first batch written after it came back.
    """
    parsed = make_url(url)
    # Statement parameters are caller numbers and names: keep them out of
    # error messages and logs.
    options.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        connect_args = dict(options.pop("connect_args", {}))
        # The attention writer owns a thread of its own; SQLite's check would
        # refuse connections handed across threads by the pool.
        connect_args.setdefault("check_same_thread", False)
        if parsed.database in (None, "", ":memory:"):
            # Every pooled connection would open a database of its own.
            options.setdefault("poolclass", StaticPool)
        engine = create_engine(parsed, connect_args=connect_args, **options)
        event.listen(engine, "connect", _configure_sqlite)
        database = parsed.database
        if database not in (None, "", ":memory:") and not database.startswith("file:"):
            # Before SQLite opens (and creates) the file, not when the engine
            # is built: a configuration error must leave no file behind.
            path = Path(database)
            event.listen(engine, "do_connect", lambda *_: _private_file(path))
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **options)


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds names,
    numbers and documents); SQLite gives its -wal and -shm files the same mode."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            with contextlib.suppress(OSError):  # not ours: leave it to its owner
                path.chmod(0o600)
        return
    with contextlib.suppress(FileNotFoundError):  # a missing folder: SQLite says so
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets report readers run while the writer commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows read in a session stay readable after it closes (repositories hand
    # them out).
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (the latest by default)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several bridges may start (and migrate) at once: one at a time.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            config = alembic_config()
            # env.py uses this connection instead of building an engine, so the
            # URL (and any password in it) never goes through ini parsing.
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except (SQLAlchemyError, CommandError) as err:
        raise MigrationError(f"could not migrate the attention store: {err}") from err
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
