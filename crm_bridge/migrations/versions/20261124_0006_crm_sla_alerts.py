"""SLA alerts raised by the scheduled scan (one per ticket and level).

Revision ID: 0006_crm_sla_alerts
Revises: 0005_crm_sync
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_crm_sla_alerts"
down_revision: str | None = "0005_crm_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sla_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("raised_at", _timestamp(), nullable=False),
        sa.Column("due_at", _timestamp(), nullable=False),
        sa.Column("unit_id", _ID, nullable=True),
        sa.Column("referent_id", _ID, nullable=True),
        sa.Column("acknowledged_at", _timestamp(), nullable=True),
        sa.Column("acknowledged_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_sla_alerts_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_sla_alerts_unit_id_units"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["referent_id"],
            ["users.id"],
            name=op.f("fk_sla_alerts_referent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_sla_alerts_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_alerts")),
        sa.UniqueConstraint("ticket_id", "level", name=op.f("uq_sla_alerts_ticket_id_level")),
    )
    op.create_index(
        op.f("ix_sla_alerts_acknowledged_at_raised_at"),
        "sla_alerts",
        ["acknowledged_at", "raised_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sla_alerts_acknowledged_at_raised_at"), table_name="sla_alerts")
    op.drop_table("sla_alerts")
