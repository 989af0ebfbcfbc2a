"""Agent panel: agent interfaces, audit log, catalog of trámites y servicios, wrap-ups.

Revision ID: 0004_agent_api
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_agent_api"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_interfaces",
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("interface", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_interfaces_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "interface", name=op.f("pk_agent_interfaces")),
        sa.UniqueConstraint("interface", name=op.f("uq_agent_interfaces_interface")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("person_id", _ID, nullable=True),
        sa.Column("call_system", sa.String(length=64), nullable=True),
        sa.Column("call_linkedid", sa.String(length=64), nullable=True),
        sa.Column("details", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_audit_log_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_person_id_at"), "audit_log", ["person_id", "at"])
    op.create_index(op.f("ix_audit_log_actor_id_at"), "audit_log", ["actor_id", "at"])
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_table(
        "catalog_topics",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("organism_id", _ID, nullable=True),
        sa.Column("unit_id", _ID, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organism_id"],
            ["organisms.id"],
            name=op.f("fk_catalog_topics_organism_id_organisms"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_catalog_topics_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_topics")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_topics_code")),
    )
    op.create_table(
        "attention_wrapups",
        sa.Column("id", _ID, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("agent_user_id", _ID, nullable=True),
        sa.Column("attention_type", sa.String(length=16), nullable=True),
        sa.Column("topic_id", _ID, nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("follow_up_at", _timestamp(), nullable=True),
        sa.Column("ticket_number", sa.String(length=16), nullable=True),
        sa.Column("person_id", _ID, nullable=True),
        sa.Column("wrapup_started_at", _timestamp(), nullable=False),
        sa.Column("wrapup_ended_at", _timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_user_id"],
            ["users.id"],
            name=op.f("fk_attention_wrapups_agent_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["catalog_topics.id"],
            name=op.f("fk_attention_wrapups_topic_id_catalog_topics"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_attention_wrapups_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attention_wrapups")),
        sa.UniqueConstraint(
            "system", "linkedid", name=op.f("uq_attention_wrapups_system_linkedid")
        ),
    )
    op.create_index(
        op.f("ix_attention_wrapups_agent_user_id_wrapup_started_at"),
        "attention_wrapups",
        ["agent_user_id", "wrapup_started_at"],
    )


def downgrade() -> None:
    op.drop_table("attention_wrapups")
    op.drop_table("catalog_topics")
    op.drop_table("audit_log")
    op.drop_table("agent_interfaces")
