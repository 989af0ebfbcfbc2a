"""Attentions remember an erasure: `erased_at`.

A rights deletion (crm_bridge.sync.rights.PersonRights.erase) anonymises the
caller's number, name and channel variables of the person's calls. The bridge
upserts attentions again when a call is replayed or resynchronised; with
`erased_at` set, those columns keep their anonymised values (see
crm_bridge.attentions._update_set), so an erasure cannot be undone by a late
record.

Revision ID: 0010_attentions_erased_at
Revises: 0009_screens_kiosk_acks
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_attentions_erased_at"
down_revision: str | None = "0009_screens_kiosk_acks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attentions") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attentions") as batch:
        batch.drop_column("erased_at")
