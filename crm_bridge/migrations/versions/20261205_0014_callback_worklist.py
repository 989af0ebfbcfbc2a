"""Callbacks become a worklist: origin, due and target times, attempts, an end reason.

IVR requests and the callbacks an agent schedules from a wrap-up share
`callback_requests`. Each row now says when it is due (business hours
applied), the deadline that counts it "within target", how many calls were
tried and what the last one gave, who holds it while it is being called, and
why it ended (completed, no answer, busy, invalid number, max attempts,
cancelled). The outbound attention that completed it is linked by linkedid.

Revision ID: 0014_callback_worklist
Revises: 0013_one_channel_vocabulary
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_callback_worklist"
down_revision: str | None = "0013_one_channel_vocabulary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("callback_requests") as batch:
        batch.add_column(sa.Column("origin", sa.String(8), nullable=False, server_default="ivr"))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("target_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_result", sa.String(16), nullable=True))
        batch.add_column(sa.Column("end_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_by", _ID, nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("outbound_linkedid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("person_id", _ID, nullable=True))
        batch.add_column(sa.Column("reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("scheduled_by", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_callback_requests_person_id_persons"),
            "persons",
            ["person_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(
            op.f("ix_callback_requests_queue_status_due_at"), ["queue", "status", "due_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_requests") as batch:
        batch.drop_index(op.f("ix_callback_requests_queue_status_due_at"))
        batch.drop_constraint(op.f("fk_callback_requests_person_id_persons"), type_="foreignkey")
        for column in (
            "scheduled_by",
            "reason",
            "person_id",
            "outbound_linkedid",
            "claimed_at",
            "claimed_by",
            "completed_at",
            "end_reason",
            "last_result",
            "last_attempt_at",
            "attempts",
            "target_at",
            "due_at",
            "origin",
        ):
            batch.drop_column(column)
