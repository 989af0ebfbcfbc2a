"""The packaged migrations build exactly the schema the models describe."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, Table, inspect, text

from crm_bridge.db import current_revision, make_engine, upgrade
from crm_bridge.exceptions import MigrationError
from crm_bridge.models import Base, include_object

pytestmark = pytest.mark.filterwarnings(
    # SQLite cannot reflect expression indexes; the span index is checked directly.
    "ignore:.*expression-based index:UserWarning",
    "ignore:.*expression-based index",
)


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    yield request.getfixturevalue("new_postgres_database")()


def _differences(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        return list(compare_metadata(context, metadata))


def test_upgrade_builds_the_models_schema(fresh_url: str) -> None:
    assert current_revision(fresh_url) is None
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    try:
        assert _differences(engine, Base.metadata) == []
        assert current_revision(fresh_url) is not None
    finally:
        engine.dispose()


def test_upgrade_twice_is_harmless(fresh_url: str) -> None:
    upgrade(fresh_url)
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    try:
        assert set(inspect(engine).get_table_names()) >= {"attentions", "agent_state_intervals"}
    finally:
        engine.dispose()


def test_the_comparison_would_see_a_drift(fresh_url: str) -> None:
    """Guards the schema test itself: a column the migrations lack is reported."""
    upgrade(fresh_url)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    Table("attentions", drifted, Column("drift_probe", String(36)), extend_existing=True)
    engine = make_engine(fresh_url)
    try:
        differences = _differences(engine, drifted)
    finally:
        engine.dispose()
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_column"]


def test_interval_span_index_is_unique_over_the_queue_or_empty(fresh_url: str) -> None:
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    insert = text(
        "INSERT INTO agent_state_intervals (system, interface, member_name, state, queue,"
        " started_at, ended_at, duration_seconds) VALUES ('pbx', 'PJSIP/1001', 'Ana',"
        " 'paused', NULL, :t, :t, 0)"
    )
    moment = "2025-11-24 08:00:00"
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"t": moment})
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"), engine.begin() as conn:
            conn.execute(insert, {"t": moment})
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()


def test_bridges_starting_together_migrate_one_after_the_other(
    new_postgres_database: Callable[[], str],
) -> None:
    url = new_postgres_database()
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(url)
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = make_engine(url)
    try:
        assert _differences(engine, Base.metadata) == []
    finally:
        engine.dispose()


def test_an_unknown_revision_is_a_migration_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError):
        upgrade(f"sqlite:///{tmp_path / 'x.db'}", revision="no-such-revision")


def test_the_migrations_have_one_head() -> None:
    # Two branches landing migrations on the same parent leave two heads, and
    # `upgrade head` then refuses to run on an operator's database.
    from alembic.script import ScriptDirectory

    from crm_bridge.db import alembic_config

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several alembic heads: {heads}; renumber the newest migration"


def test_every_migration_goes_down_to_base_and_up_again(fresh_url: str) -> None:
    # An operator rolling back a release runs the downgrades: each must work
    # on the schema the later ones leave (SQLite triggers name tables, so a
    # table rebuilt under them fails there).
    from alembic import command

    from crm_bridge.db import alembic_config

    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(fresh_url)
        assert _differences(engine, Base.metadata) == []
    finally:
        engine.dispose()
