"""Helpers for the citizen-data tests: emptying every store table between tests."""

from __future__ import annotations

from sqlalchemy import Engine, delete, text

from crm_bridge.models import Base


def empty_store(engine: Engine) -> None:
    """Remove every row of every store table (ids restart on PostgreSQL)."""
    tables = list(Base.metadata.sorted_tables)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(delete(table))
