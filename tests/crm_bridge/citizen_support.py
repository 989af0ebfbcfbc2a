"""Helpers for the citizen-data tests: emptying every store table between tests."""

from __future__ import annotations

from sqlalchemy import Engine, delete, inspect, text

from crm_bridge.models import Base


def empty_store(engine: Engine) -> None:
    """Remove every row of every store table (ids restart on PostgreSQL).

    Only tables the database has: a model whose migration is still being
    written must not break these tests.
    """
    present = set(inspect(engine).get_table_names())
    tables = [table for table in Base.metadata.sorted_tables if table.name in present]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(delete(table))
