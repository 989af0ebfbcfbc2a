"""The knowledge base: what the agent reads to the citizen about each catalog
topic (requisitos, pasos, plazos, costo, dónde y cómo, the online link,
keywords), and the trámite information sent to a person ("difundir").

On PostgreSQL, a generated tsvector over the topic's text (name weight A,
keywords B, the rest C) with a GIN index, folded accent-free by
`atiende_fold(text)`: the unaccent extension when the server has it and lets
this role create it (Debian's postgresql ships it; trusted since 13), else a
translate() of the Spanish and Portuguese accented letters. Either way the
function is immutable, as a generated column requires.

Revision ID: 0016_knowledge_base
Revises: 0015_followups_and_notices
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "0016_knowledge_base"
down_revision: str | None = "0015_followups_and_notices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT_COLUMNS = ("description", "requirements", "steps", "deadlines", "cost", "where_how")

ACCENTED = "ÁÀÂÄÃÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇáàâäãéèêëíìîïóòôöõúùûüñç"
PLAIN = "AAAAAEEEEIIIIOOOOOUUUUNCaaaaaeeeeiiiiooooouuuunc"

_VECTOR = """
    setweight(to_tsvector('spanish'::regconfig, atiende_fold(coalesce(name, ''))), 'A')
    || setweight(to_tsvector('spanish'::regconfig, atiende_fold(coalesce(keywords, ''))), 'B')
    || setweight(to_tsvector('spanish'::regconfig, atiende_fold(
        coalesce(description, '') || ' ' || coalesce(requirements, '') || ' '
        || coalesce(steps, '') || ' ' || coalesce(where_how, '') || ' '
        || coalesce(organism_label, ''))), 'C')
"""


def _unaccent_schema(bind: sa.Connection) -> str | None:
    """The schema unaccent lives in, installing it when possible; None without it."""
    query = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'unaccent'"
    )
    schema = bind.execute(query).scalar()
    if schema is not None:
        return str(schema)
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
    ).scalar()
    if available is None:
        return None
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except DBAPIError:
        # Not allowed for this role: the translate() fold does the job.
        savepoint.rollback()
        return None
    savepoint.commit()
    found = bind.execute(query).scalar()
    return None if found is None else str(found)


def upgrade() -> None:
    with op.batch_alter_table("catalog_topics") as batch:
        for name in _TEXT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=True))
        batch.add_column(sa.Column("online_url", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("keywords", sa.Text(), nullable=True))
        batch.add_column(sa.Column("organism_label", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("source_updated", sa.String(length=32), nullable=True))

    op.create_table(
        "topic_disseminations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("topic_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("means", sa.String(length=16), nullable=False),
        sa.Column("destination_masked", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["catalog_topics.id"],
            name=op.f("fk_topic_disseminations_topic_id_catalog_topics"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_topic_disseminations_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_topic_disseminations_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_disseminations")),
    )
    op.create_index(
        op.f("ix_topic_disseminations_system_linkedid"),
        "topic_disseminations",
        ["system", "linkedid"],
    )

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = _unaccent_schema(bind)
    if schema is not None:
        body = f"SELECT lower({schema}.unaccent('{schema}.unaccent'::regdictionary, $1))"
    else:
        body = f"SELECT lower(translate($1, '{ACCENTED}', '{PLAIN}'))"
    op.execute(
        "CREATE OR REPLACE FUNCTION atiende_fold(text) RETURNS text"
        f" LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $${body}$$"
    )
    op.execute(
        f"ALTER TABLE catalog_topics ADD COLUMN search_vector tsvector"
        f" GENERATED ALWAYS AS ({_VECTOR}) STORED"
    )
    op.execute(
        "CREATE INDEX ix_catalog_topics_search_vector ON catalog_topics USING gin (search_vector)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_catalog_topics_search_vector")
        op.execute("ALTER TABLE catalog_topics DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP FUNCTION IF EXISTS atiende_fold(text)")
        # The unaccent extension stays: other databases objects may use it.
    op.drop_index(
        op.f("ix_topic_disseminations_system_linkedid"), table_name="topic_disseminations"
    )
    op.drop_table("topic_disseminations")
    with op.batch_alter_table("catalog_topics") as batch:
        for name in (
            "source_updated",
            "source",
            "organism_label",
            "keywords",
            "online_url",
            *reversed(_TEXT_COLUMNS),
        ):
            batch.drop_column(name)
