"""Users, organisms and units, persons with consent, tickets, callbacks and surveys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from crm_bridge.models (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_surveys",
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("recorded_at", _timestamp(), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_call_surveys_score")),
        sa.PrimaryKeyConstraint("system", "linkedid", name=op.f("pk_call_surveys")),
    )
    op.create_table(
        "callback_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("number_raw", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_requests")),
        sa.UniqueConstraint(
            "system", "linkedid", name=op.f("uq_callback_requests_system_linkedid")
        ),
    )
    op.create_index(
        op.f("ix_callback_requests_status_requested_at"),
        "callback_requests",
        ["status", "requested_at"],
        unique=False,
    )
    op.create_table(
        "organisms",
        sa.Column("id", _ID, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisms")),
        sa.UniqueConstraint("code", name=op.f("uq_organisms_code")),
    )
    op.create_table(
        "persons",
        sa.Column("id", _ID, nullable=False),
        sa.Column("document_type", sa.String(length=16), nullable=True),
        sa.Column("document_number", sa.String(length=32), nullable=True),
        sa.Column("given_names", sa.String(length=200), nullable=False),
        sa.Column("family_names", sa.String(length=200), nullable=False),
        sa.Column("search_name", sa.String(length=401), nullable=False),
        sa.Column("search_family", sa.String(length=401), nullable=False),
        sa.Column("created_at", _timestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _timestamp(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint(
            "document_type",
            "document_number",
            name=op.f("uq_persons_document_type_document_number"),
        ),
    )
    op.create_index(
        op.f("ix_persons_search_family"),
        "persons",
        ["search_family"],
        unique=False,
        postgresql_ops={"search_family": "varchar_pattern_ops"},
    )
    op.create_index(
        op.f("ix_persons_search_name"),
        "persons",
        ["search_name"],
        unique=False,
        postgresql_ops={"search_name": "varchar_pattern_ops"},
    )
    op.create_table(
        "ticket_sequences",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_ticket_sequences")),
    )
    op.create_table(
        "users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _timestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "role IN ('ejecutivo', 'supervisor', 'gerente', 'referente', 'admin')",
            name=op.f("ck_users_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "person_addresses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("street", sa.Text(), nullable=False),
        sa.Column("locality", sa.String(length=120), nullable=True),
        sa.Column("department", sa.String(length=60), nullable=True),
        sa.Column("postal_code", sa.String(length=16), nullable=True),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_addresses_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_addresses")),
    )
    op.create_index(
        op.f("ix_person_addresses_person_id"), "person_addresses", ["person_id"], unique=False
    )
    op.create_table(
        "person_consents",
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("decided_at", _timestamp(), nullable=False),
        sa.Column("decided_by", _ID, nullable=True),
        sa.Column("notice_version", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_person_consents_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_consents_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "category", name=op.f("pk_person_consents")),
    )
    op.create_table(
        "person_documents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_documents_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_documents")),
    )
    op.create_index(
        op.f("ix_person_documents_person_id"), "person_documents", ["person_id"], unique=False
    )
    op.create_table(
        "person_emails",
        sa.Column("id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_emails_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_emails")),
        sa.UniqueConstraint(
            "person_id", "address", name=op.f("uq_person_emails_person_id_address")
        ),
    )
    op.create_table(
        "person_phones",
        sa.Column("id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_phones_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_phones")),
        sa.UniqueConstraint("person_id", "number", name=op.f("uq_person_phones_person_id_number")),
    )
    op.create_index(op.f("ix_person_phones_number"), "person_phones", ["number"], unique=False)
    op.create_table(
        "service_levels",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organism_id", _ID, nullable=False),
        sa.Column("unit_key", _ID, nullable=False),
        sa.Column("request_type", sa.String(length=16), nullable=False),
        sa.Column("business_hours", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organism_id"],
            ["organisms.id"],
            name=op.f("fk_service_levels_organism_id_organisms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_levels")),
        sa.UniqueConstraint(
            "organism_id",
            "unit_key",
            "request_type",
            name=op.f("uq_service_levels_organism_id_unit_key_request_type"),
        ),
    )
    op.create_table(
        "units",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organism_id", _ID, nullable=False),
        sa.Column("parent_id", _ID, nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organism_id"],
            ["organisms.id"],
            name=op.f("fk_units_organism_id_organisms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("organism_id", "code", name=op.f("uq_units_organism_id_code")),
    )
    op.create_index(op.f("ix_units_organism_id"), "units", ["organism_id"], unique=False)
    op.create_index(op.f("ix_units_parent_id"), "units", ["parent_id"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("id", _ID, nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("request_type", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("person_id", _ID, nullable=True),
        sa.Column("organism_id", _ID, nullable=False),
        sa.Column("unit_id", _ID, nullable=True),
        sa.Column("referent_id", _ID, nullable=True),
        sa.Column("created_by", _ID, nullable=True),
        sa.Column("attention_system", sa.String(length=64), nullable=True),
        sa.Column("attention_linkedid", sa.String(length=64), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("due_at", _timestamp(), nullable=True),
        sa.Column("responded_at", _timestamp(), nullable=True),
        sa.Column("closed_at", _timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_tickets_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["organism_id"], ["organisms.id"], name=op.f("fk_tickets_organism_id_organisms")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_tickets_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["referent_id"], ["users.id"], name=op.f("fk_tickets_referent_id_users")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_tickets_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("number", name=op.f("uq_tickets_number")),
    )
    op.create_index(op.f("ix_tickets_organism_id"), "tickets", ["organism_id"], unique=False)
    op.create_index(op.f("ix_tickets_person_id"), "tickets", ["person_id"], unique=False)
    op.create_index(op.f("ix_tickets_referent_id"), "tickets", ["referent_id"], unique=False)
    op.create_index(op.f("ix_tickets_status_due_at"), "tickets", ["status", "due_at"], unique=False)
    op.create_index(op.f("ix_tickets_unit_id"), "tickets", ["unit_id"], unique=False)
    op.create_table(
        "unit_referents",
        sa.Column("unit_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_unit_referents_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_unit_referents_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("unit_id", "user_id", name=op.f("pk_unit_referents")),
    )
    op.create_index(op.f("ix_unit_referents_user_id"), "unit_referents", ["user_id"], unique=False)
    op.create_table(
        "ticket_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("unit_id", _ID, nullable=True),
        sa.Column("referent_id", _ID, nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_ticket_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["referent_id"], ["users.id"], name=op.f("fk_ticket_events_referent_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_events_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_ticket_events_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    op.create_index(
        op.f("ix_ticket_events_ticket_id_at"), "ticket_events", ["ticket_id", "at"], unique=False
    )
    op.create_table(
        "ticket_responses",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=254), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", _timestamp(), nullable=False),
        sa.Column("actor_id", _ID, nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_ticket_responses_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_responses_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_responses")),
    )
    op.create_index(
        op.f("ix_ticket_responses_ticket_id_sent_at"),
        "ticket_responses",
        ["ticket_id", "sent_at"],
        unique=False,
    )
    # SQLite cannot add a foreign key in place: batch mode copies the table there.
    with op.batch_alter_table("attentions") as batch:
        batch.add_column(sa.Column("person_id", _ID, nullable=True))
        batch.add_column(sa.Column("survey_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("notice_version", sa.String(length=32), nullable=True))
        batch.create_index(op.f("ix_attentions_person_id"), ["person_id"], unique=False)
        batch.create_foreign_key(
            op.f("fk_attentions_person_id_persons"),
            "persons",
            ["person_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("attentions") as batch:
        batch.drop_constraint(op.f("fk_attentions_person_id_persons"), type_="foreignkey")
        batch.drop_index(op.f("ix_attentions_person_id"))
        batch.drop_column("notice_version")
        batch.drop_column("survey_score")
        batch.drop_column("person_id")
    op.drop_index(op.f("ix_ticket_responses_ticket_id_sent_at"), table_name="ticket_responses")
    op.drop_table("ticket_responses")
    op.drop_index(op.f("ix_ticket_events_ticket_id_at"), table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_index(op.f("ix_unit_referents_user_id"), table_name="unit_referents")
    op.drop_table("unit_referents")
    op.drop_index(op.f("ix_tickets_unit_id"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_status_due_at"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_referent_id"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_person_id"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_organism_id"), table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_units_parent_id"), table_name="units")
    op.drop_index(op.f("ix_units_organism_id"), table_name="units")
    op.drop_table("units")
    op.drop_table("service_levels")
    op.drop_index(op.f("ix_person_phones_number"), table_name="person_phones")
    op.drop_table("person_phones")
    op.drop_table("person_emails")
    op.drop_index(op.f("ix_person_documents_person_id"), table_name="person_documents")
    op.drop_table("person_documents")
    op.drop_table("person_consents")
    op.drop_index(op.f("ix_person_addresses_person_id"), table_name="person_addresses")
    op.drop_table("person_addresses")
    op.drop_table("users")
    op.drop_table("ticket_sequences")
    op.drop_index(
        op.f("ix_persons_search_name"),
        table_name="persons",
        postgresql_ops={"search_name": "varchar_pattern_ops"},
    )
    op.drop_index(
        op.f("ix_persons_search_family"),
        table_name="persons",
        postgresql_ops={"search_family": "varchar_pattern_ops"},
    )
    op.drop_table("persons")
    op.drop_table("organisms")
    op.drop_index(op.f("ix_callback_requests_status_requested_at"), table_name="callback_requests")
    op.drop_table("callback_requests")
    op.drop_table("call_surveys")
