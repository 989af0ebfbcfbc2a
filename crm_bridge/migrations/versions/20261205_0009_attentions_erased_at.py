"""Attentions remember an erasure: `erased_at`.

A rights deletion (crm_bridge.sync.rights.PersonRights.erase) anonymises the
caller's number, name and channel variables of the person's calls. The bridge
upserts attentions again when a call is replayed or resynchronised; with
`erased_at` set, those columns keep their anonymised values (see
crm_bridge.attentions._update_set), so an erasure cannot be undone by a late
record. Also joins the two 0008 heads into one.

Revision ID: 0009_attentions_erased_at
Revises: 0008_screens_kiosk_acks, 0008_usernames_normalised
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_attentions_erased_at"
down_revision: str | Sequence[str] | None = (
    "0008_screens_kiosk_acks",
    "0008_usernames_normalised",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attentions") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attentions") as batch:
        batch.drop_column("erased_at")
