"""Attentions and agent state intervals.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models: a migration must
# keep creating what it created the day it was written.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attentions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("caller_number_raw", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.String(length=20), nullable=True),
        sa.Column("caller_name", sa.Text(), nullable=False),
        sa.Column("arrived_at", _timestamp(), nullable=False),
        sa.Column("queue_joined_at", _timestamp(), nullable=True),
        sa.Column("answered_at", _timestamp(), nullable=True),
        sa.Column("ended_at", _timestamp(), nullable=True),
        sa.Column("ivr_path", _json(), nullable=False),
        sa.Column("queues", _json(), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("agents", _json(), nullable=False),
        sa.Column("legs", _json(), nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("hangup_side", sa.String(length=16), nullable=False),
        sa.Column("variables", _json(), nullable=False),
        sa.Column("created_at", _timestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _timestamp(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attentions")),
        sa.UniqueConstraint("system", "linkedid", name=op.f("uq_attentions_system_linkedid")),
    )
    op.create_index(op.f("ix_attentions_arrived_at"), "attentions", ["arrived_at"])
    op.create_index(
        op.f("ix_attentions_outcome_arrived_at"), "attentions", ["outcome", "arrived_at"]
    )
    op.create_index(op.f("ix_attentions_queue_arrived_at"), "attentions", ["queue", "arrived_at"])
    op.create_index(op.f("ix_attentions_agent_arrived_at"), "attentions", ["agent", "arrived_at"])

    op.create_table(
        "agent_state_intervals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("interface", sa.String(length=128), nullable=False),
        sa.Column("member_name", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("ended_at", _timestamp(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_intervals")),
    )
    op.create_index(
        op.f("ix_agent_state_intervals_member_name_started_at"),
        "agent_state_intervals",
        ["member_name", "started_at"],
    )
    op.create_index(
        op.f("ix_agent_state_intervals_state_started_at"),
        "agent_state_intervals",
        ["state", "started_at"],
    )
    op.create_index(
        "uq_agent_state_intervals_span",
        "agent_state_intervals",
        ["system", "interface", "state", sa.text("coalesce(queue, '')"), "started_at"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("agent_state_intervals")
    op.drop_table("attentions")
