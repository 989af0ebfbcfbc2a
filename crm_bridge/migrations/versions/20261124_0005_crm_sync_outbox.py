"""CRM sync: the transactional outbox, the CRM ids of synced entities, rights requests.

Revision ID: 0005_crm_sync
Revises: 0004_agent_api
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_crm_sync"
down_revision: str | None = "0004_agent_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "crm_outbox",
        sa.Column("id", _ID, nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", _ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("enqueued_at", _timestamp(), nullable=True),
        sa.Column("done_at", _timestamp(), nullable=True),
        sa.Column("failed_at", _timestamp(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_outbox")),
    )
    op.create_index(
        op.f("ix_crm_outbox_done_at_enqueued_at"), "crm_outbox", ["done_at", "enqueued_at"]
    )
    op.create_index(op.f("ix_crm_outbox_entity_entity_id"), "crm_outbox", ["entity", "entity_id"])
    op.create_table(
        "crm_links",
        sa.Column("adapter", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", _ID, autoincrement=False, nullable=False),
        sa.Column("crm_id", sa.String(length=128), nullable=False),
        sa.Column("synced_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("adapter", "entity", "entity_id", name=op.f("pk_crm_links")),
    )
    op.create_table(
        "rights_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("details", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_rights_requests_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_requests")),
    )
    op.create_index(op.f("ix_rights_requests_person_id_at"), "rights_requests", ["person_id", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rights_requests_person_id_at"), table_name="rights_requests")
    op.drop_table("rights_requests")
    op.drop_table("crm_links")
    op.drop_index(op.f("ix_crm_outbox_entity_entity_id"), table_name="crm_outbox")
    op.drop_index(op.f("ix_crm_outbox_done_at_enqueued_at"), table_name="crm_outbox")
    op.drop_table("crm_outbox")
