"""Throwaway PostgreSQL databases on the test server (one per test, module or session).

The server is the one named by ATIENDE_TEST_POSTGRES_URL, which
scripts/with-test-services.sh makes sure answers (a throwaway one if needed).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("ATIENDE_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


@contextmanager
def fresh_database(server_url: str, label: str = "db", *, migrate: bool = False) -> Iterator[str]:
    """A new empty database on the server of `server_url`, dropped afterwards.

    Its name starts with the database of `server_url` (the session's one), so
    leftovers of a killed run are easy to spot. `migrate=True` applies the
    Alembic migrations first."""
    url = make_url(server_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    base = url.database if url.database and url.database != "postgres" else "atiende_test"
    name = f"{base}_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = url.set(database=name).render_as_string(hide_password=False)
        if migrate:
            from crm_bridge.db import upgrade

            upgrade(db)
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
