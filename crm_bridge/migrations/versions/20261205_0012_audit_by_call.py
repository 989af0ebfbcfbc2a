"""The audit log by call: the need-to-know check looks up who was shown
which person for a call (agent_api.need_to_know.identified_for_call) on every
person read; without this index that is a scan of the whole log.

Revision ID: 0012_audit_by_call
Revises: 0011_queue_report_rollup
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_audit_by_call"
down_revision: str | None = "0011_queue_report_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_audit_log_call_linkedid_call_system"),
        "audit_log",
        ["call_linkedid", "call_system"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_call_linkedid_call_system"), table_name="audit_log")
