"""Pending wrap-ups that come back (contact, reminder, escalation, closing) and
the notices a person gets about their tickets (citizen_notices).

Revision ID: 0015_followups_and_notices
Revises: 0014_callback_worklist
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_followups_and_notices"
down_revision: str | None = "0014_callback_worklist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FOLLOW_UP_INDEX = "ix_attention_wrapups_resolution_follow_up_closed_at_follow_up_at"


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("attention_wrapups") as batch:
        batch.add_column(sa.Column("follow_up_contact_kind", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("follow_up_contact", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("follow_up_reminded_at", _timestamp(), nullable=True))
        batch.add_column(sa.Column("follow_up_escalated_at", _timestamp(), nullable=True))
        batch.add_column(sa.Column("follow_up_closed_at", _timestamp(), nullable=True))
        batch.add_column(sa.Column("follow_up_closed_by", _ID, nullable=True))
        batch.add_column(sa.Column("follow_up_response", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_attention_wrapups_follow_up_closed_by_users"),
            "users",
            ["follow_up_closed_by"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(
            op.f(_FOLLOW_UP_INDEX), ["resolution", "follow_up_closed_at", "follow_up_at"]
        )
    op.create_table(
        "citizen_notices",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("means", sa.String(length=8), nullable=False),
        sa.Column("destination", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("next_attempt_at", _timestamp(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", _timestamp(), nullable=True),
        sa.Column("sent_via", sa.String(length=8), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_citizen_notices_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_citizen_notices_event_id_ticket_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_notices")),
        sa.UniqueConstraint("event_id", "means", name=op.f("uq_citizen_notices_event_id_means")),
    )
    op.create_index(
        op.f("ix_citizen_notices_status_next_attempt_at"),
        "citizen_notices",
        ["status", "next_attempt_at"],
    )
    op.create_index(op.f("ix_citizen_notices_ticket_id"), "citizen_notices", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_citizen_notices_ticket_id"), table_name="citizen_notices")
    op.drop_index(op.f("ix_citizen_notices_status_next_attempt_at"), table_name="citizen_notices")
    op.drop_table("citizen_notices")
    with op.batch_alter_table("attention_wrapups") as batch:
        batch.drop_index(op.f(_FOLLOW_UP_INDEX))
        batch.drop_constraint(
            op.f("fk_attention_wrapups_follow_up_closed_by_users"), type_="foreignkey"
        )
        for column in (
            "follow_up_response",
            "follow_up_closed_by",
            "follow_up_closed_at",
            "follow_up_escalated_at",
            "follow_up_reminded_at",
            "follow_up_contact",
            "follow_up_contact_kind",
        ):
            batch.drop_column(column)
