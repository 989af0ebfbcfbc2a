"""Walk-in attention: service points, their topics and desks, priority categories,
turns, one-time evaluation links; kiosk links learn what they open (wallboard,
waiting-room display, evaluation tablet); a survey may carry a comment.

Revision ID: 0018_walk_in_turns
Revises: 0017_mail_intake
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018_walk_in_turns"
down_revision: str | None = "0017_mail_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "service_points",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("target_wait_seconds", sa.Integer(), nullable=False),
        sa.Column("max_recalls", sa.Integer(), nullable=False),
        sa.Column("attention_seconds", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_points")),
        sa.UniqueConstraint("code", name=op.f("uq_service_points_code")),
    )
    op.create_table(
        "service_point_topics",
        sa.Column("id", _ID, nullable=False),
        sa.Column("point_id", _ID, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(1), nullable=False),
        sa.Column("catalog_topic_id", _ID, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _fk("service_point_topics", "point_id", "service_points", "CASCADE"),
        sa.ForeignKeyConstraint(
            ["catalog_topic_id"],
            ["catalog_topics.id"],
            name=op.f("fk_service_point_topics_catalog_topic_id_catalog_topics"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_point_topics")),
        sa.UniqueConstraint(
            "point_id", "prefix", name=op.f("uq_service_point_topics_point_id_prefix")
        ),
        sa.UniqueConstraint("point_id", "code", name=op.f("uq_service_point_topics_point_id_code")),
    )
    op.create_table(
        "service_desks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("point_id", _ID, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("topic_ids", _JSON, nullable=False),
        sa.Column("user_id", _ID, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _fk("service_desks", "point_id", "service_points", "CASCADE"),
        _fk("service_desks", "user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_desks")),
        sa.UniqueConstraint("point_id", "code", name=op.f("uq_service_desks_point_id_code")),
    )
    op.create_table(
        "turn_priorities",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turn_priorities")),
        sa.UniqueConstraint("code", name=op.f("uq_turn_priorities_code")),
    )
    op.create_table(
        "turns",
        sa.Column("id", _ID, nullable=False),
        sa.Column("point_id", _ID, nullable=False),
        sa.Column("topic_id", _ID, nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("priority_code", sa.String(32), nullable=True),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("issued_at", _ts(), nullable=False),
        sa.Column("issued_by", _ID, nullable=True),
        sa.Column("first_called_at", _ts(), nullable=True),
        sa.Column("called_at", _ts(), nullable=True),
        sa.Column("desk_id", _ID, nullable=True),
        sa.Column("called_by", _ID, nullable=True),
        sa.Column("recalls", sa.Integer(), nullable=False),
        sa.Column("served_at", _ts(), nullable=True),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("attention_system", sa.String(64), nullable=False),
        sa.Column("attention_linkedid", sa.String(64), nullable=False),
        sa.Column("evaluated", sa.Boolean(), nullable=False),
        _fk("turns", "point_id", "service_points", "CASCADE"),
        _fk("turns", "topic_id", "service_point_topics", "CASCADE"),
        _fk("turns", "issued_by", "users", "SET NULL"),
        _fk("turns", "desk_id", "service_desks", "SET NULL"),
        _fk("turns", "called_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turns")),
        sa.UniqueConstraint(
            "point_id",
            "topic_id",
            "service_day",
            "number",
            name=op.f("uq_turns_point_id_topic_id_service_day_number"),
        ),
    )
    op.create_index(
        op.f("ix_turns_point_id_status_issued_at"), "turns", ["point_id", "status", "issued_at"]
    )
    op.create_index(
        op.f("ix_turns_attention_linkedid_attention_system"),
        "turns",
        ["attention_linkedid", "attention_system"],
    )
    op.create_index(op.f("ix_turns_issued_at"), "turns", ["issued_at"])
    op.create_table(
        "evaluation_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("used_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_evaluation_links")),
    )
    with op.batch_alter_table("kiosk_links") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="pizarra"))
        batch.add_column(sa.Column("service_point_id", _ID, nullable=True))
        batch.add_column(sa.Column("desk_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_kiosk_links_service_point_id_service_points"),
            "service_points",
            ["service_point_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_foreign_key(
            op.f("fk_kiosk_links_desk_id_service_desks"),
            "service_desks",
            ["desk_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("call_surveys") as batch:
        batch.add_column(sa.Column("comment", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): recreating call_surveys would trip
    # the attentions triggers that name it (migration 0003).
    with op.batch_alter_table("call_surveys", recreate="never") as batch:
        batch.drop_column("comment")
    with op.batch_alter_table("kiosk_links") as batch:
        batch.drop_constraint(op.f("fk_kiosk_links_desk_id_service_desks"), type_="foreignkey")
        batch.drop_constraint(
            op.f("fk_kiosk_links_service_point_id_service_points"), type_="foreignkey"
        )
        batch.drop_column("desk_id")
        batch.drop_column("service_point_id")
        batch.drop_column("kind")
    op.drop_table("evaluation_links")
    op.drop_index(op.f("ix_turns_issued_at"), table_name="turns")
    op.drop_index(op.f("ix_turns_attention_linkedid_attention_system"), table_name="turns")
    op.drop_index(op.f("ix_turns_point_id_status_issued_at"), table_name="turns")
    op.drop_table("turns")
    op.drop_table("turn_priorities")
    op.drop_table("service_desks")
    op.drop_table("service_point_topics")
    op.drop_table("service_points")
