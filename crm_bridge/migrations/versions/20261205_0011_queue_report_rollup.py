"""Queue report rollup: hourly tallies per queue and the hours to recount.

`queue_hour_tallies` holds dashboards.kpi's counts per queue and UTC hour of
arrival for one set of thresholds (`fingerprint`); `queue_hours_counted` the
hours counted for that set; `report_dirty_hours` the hours whose attentions
changed since. Triggers mark an hour on every insert, update or delete of an
attention, whatever wrote it (the bridge's writer, the queue_log import, a
COPY), so the rollup never silently goes stale; the report recounts marked
hours with the same rule as everything else (dashboards.report_rollup).

Revision ID: 0011_queue_report_rollup
Revises: 0010_attentions_erased_at
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_queue_report_rollup"
down_revision: str | None = "0010_attentions_erased_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hour of dashboards.report_queries (and of migration 0007's statistics).
_PG_HOUR = (
    "CAST(floor(EXTRACT(epoch FROM arrived_at) / CAST(3600.0 AS DOUBLE PRECISION)) AS INTEGER)"
)
_PG_MARK = """
INSERT INTO report_dirty_hours (hour, touched)
SELECT hour, 1 FROM ({rows}) AS changed
ORDER BY hour
ON CONFLICT (hour) DO UPDATE SET touched = report_dirty_hours.touched + 1
"""


def _pg_function(name: str, rows: str) -> str:
    # Statement-level with transition tables: one upsert per hour touched by
    # a batch, not per row. Ordered, so concurrent writers lock alike.
    return f"""
CREATE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
{_PG_MARK.format(rows=rows)};
RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def _distinct_hours(*tables: str) -> str:
    return " UNION ".join(f"SELECT DISTINCT {_PG_HOUR} AS hour FROM {t}" for t in tables)


_SQLITE_HOUR = "CAST(strftime('%s', {row}.arrived_at) AS INTEGER) / 3600"
_SQLITE_MARK = (
    "INSERT INTO report_dirty_hours (hour, touched) VALUES ({hour}, 1) "
    "ON CONFLICT (hour) DO UPDATE SET touched = touched + 1;"
)


def _sqlite_mark(row: str) -> str:
    return _SQLITE_MARK.format(hour=_SQLITE_HOUR.format(row=row))


def upgrade() -> None:
    op.create_table(
        "report_dirty_hours",
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("touched", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_report_dirty_hours")),
    )
    op.create_table(
        "queue_hours_counted",
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", "hour", name=op.f("pk_queue_hours_counted")),
    )
    op.create_table(
        "queue_hour_tallies",
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "offered",
                "answered",
                "answered_within",
                "abandoned",
                "short_abandoned",
                "abandoned_within",
                "exited",
                "in_progress",
            )
        ),
        sa.Column("answered_wait_seconds", sa.Float(), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.Column("talked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", "hour", "queue", name=op.f("pk_queue_hour_tallies")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_function("atiende_report_dirty_new", _distinct_hours("new_rows")))
        op.execute(_pg_function("atiende_report_dirty_old", _distinct_hours("old_rows")))
        op.execute(
            _pg_function("atiende_report_dirty_both", _distinct_hours("old_rows", "new_rows"))
        )
        op.execute(
            "CREATE TRIGGER attentions_report_dirty_insert AFTER INSERT ON attentions "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION atiende_report_dirty_new()"
        )
        op.execute(
            "CREATE TRIGGER attentions_report_dirty_update AFTER UPDATE ON attentions "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION atiende_report_dirty_both()"
        )
        op.execute(
            "CREATE TRIGGER attentions_report_dirty_delete AFTER DELETE ON attentions "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION atiende_report_dirty_old()"
        )
        return
    op.execute(
        "CREATE TRIGGER attentions_report_dirty_insert AFTER INSERT ON attentions BEGIN "
        f"{_sqlite_mark('NEW')} END"
    )
    op.execute(
        "CREATE TRIGGER attentions_report_dirty_update AFTER UPDATE ON attentions BEGIN "
        f"{_sqlite_mark('OLD')} {_sqlite_mark('NEW')} END"
    )
    op.execute(
        "CREATE TRIGGER attentions_report_dirty_delete AFTER DELETE ON attentions BEGIN "
        f"{_sqlite_mark('OLD')} END"
    )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS attentions_report_dirty_{event} ON attentions")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS attentions_report_dirty_{event}")
    if op.get_bind().dialect.name == "postgresql":
        for name in ("new", "old", "both"):
            op.execute(f"DROP FUNCTION IF EXISTS atiende_report_dirty_{name}()")
    op.drop_table("queue_hour_tallies")
    op.drop_table("queue_hours_counted")
    op.drop_table("report_dirty_hours")
