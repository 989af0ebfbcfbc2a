"""Kiosk links of the wallboard, queue alert acknowledgements, notes on SLA alert acks.

Revision ID: 0008_screens_kiosk_acks
Revises: 0008_usernames_normalised
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_screens_kiosk_acks"
down_revision: str | None = "0008_usernames_normalised"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sla_alerts") as batch:
        batch.add_column(sa.Column("acknowledged_note", sa.Text(), nullable=True))
    op.create_table(
        "kiosk_links",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", _ID, nullable=True),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.Column("revoked_by", _ID, nullable=True),
        sa.Column("last_used_at", _timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_kiosk_links_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"],
            ["users.id"],
            name=op.f("fk_kiosk_links_revoked_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_kiosk_links_token_hash")),
    )
    op.create_table(
        "queue_alert_acks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_queue_alert_acks_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_alert_acks")),
    )
    op.create_index(op.f("ix_queue_alert_acks_at"), "queue_alert_acks", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_queue_alert_acks_at"), table_name="queue_alert_acks")
    op.drop_table("queue_alert_acks")
    op.drop_table("kiosk_links")
    with op.batch_alter_table("sla_alerts") as batch:
        batch.drop_column("acknowledged_note")
