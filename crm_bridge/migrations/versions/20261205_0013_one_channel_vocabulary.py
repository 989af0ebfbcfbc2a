"""One channel vocabulary (citizen.channels.Channel) for attentions and tickets.

Attentions said "phone" and tickets "email" for what the rest of the product
calls "telefonico" and "correo"; reports and metrics per channel need one name
for each. Only values change: phone attentions keep their key and columns.

Revision ID: 0013_one_channel_vocabulary
Revises: 0012_audit_by_call
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_one_channel_vocabulary"
down_revision: str | None = "0012_audit_by_call"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old value, new value)
_RENAMES = (
    ("attentions", "phone", "telefonico"),
    ("tickets", "email", "correo"),
)


def _rename(table: str, old: str, new: str) -> None:
    op.execute(
        sa.text(f"UPDATE {table} SET channel = :new WHERE channel = :old").bindparams(
            new=new, old=old
        )
    )


def upgrade() -> None:
    for table, old, new in _RENAMES:
        _rename(table, old, new)


def downgrade() -> None:
    for table, old, new in _RENAMES:
        _rename(table, new, old)
