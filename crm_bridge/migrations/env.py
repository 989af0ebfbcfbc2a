"""Alembic environment of the attention store.

Run programmatically by crm_bridge.db.upgrade, which passes an open connection
in `config.attributes["connection"]`; the alembic command line works too, with
the URL from crm_bridge/alembic.ini or the ATIENDE_DATABASE_URL variable.
Logging is left alone: the application configured it already.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from crm_bridge.db import make_engine
from crm_bridge.models import Base, include_object

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = os.environ.get("ATIENDE_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set ATIENDE_DATABASE_URL or sqlalchemy.url")
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as owned:
            _run(owned)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
