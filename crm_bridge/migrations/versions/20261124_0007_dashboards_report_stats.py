"""Planner statistics for the hourly queue report (PostgreSQL only).

The queue report groups attentions by queue and UTC hour of arrival. Without
statistics on that expression PostgreSQL guesses a group per row, sorts a
million rows on disk and aggregates them in one process; with them it
hash-aggregates in parallel workers (about 2.5 times faster on the month
benchmark, bench/report_month.py). The expression must stay the one
dashboards.report_queries renders. No table or index changes, so the
models are untouched; SQLite has no extended statistics and needs none.

Revision ID: 0007_dashboards_report_stats
Revises: 0006_crm_sla_alerts
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_dashboards_report_stats"
down_revision: str | None = "0006_crm_sla_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOUR = "CAST(floor(EXTRACT(epoch FROM arrived_at) / CAST(3600.0 AS DOUBLE PRECISION)) AS INTEGER)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE STATISTICS st_attentions_queue_hour (ndistinct) ON queue, ({HOUR}) FROM attentions"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS st_attentions_queue_hour")
