"""SQLAlchemy tables of the attention store.

One `attentions` row per call (an "atención" of the citizen-attention model)
and the closed spans of agent states that AHT and occupancy are computed from.
Persons, tickets, organisms and units join later through nullable foreign keys
on `attentions`; their tables arrive with the features that use them.

Types are portable: the embedded default is SQLite, production is PostgreSQL
(JSONB there). Constraint names follow a naming convention so that every
migration, on either database, refers to the same names.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact); plain JSON text elsewhere.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
Identifier = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no offset, so values are converted to UTC before they are
    bound and get UTC attached when read; naive datetimes are refused instead
    of guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        datetime: UtcDateTime(),
        dict[str, Any]: PortableJSON,
        list[Any]: PortableJSON,
    }


class Attention(Base):
    """One call to the centre, from arrival to hang-up."""

    __tablename__ = "attentions"
    __table_args__ = (
        UniqueConstraint("system", "linkedid"),
        Index(None, "arrived_at"),
        Index(None, "outcome", "arrived_at"),
        Index(None, "queue", "arrived_at"),
        Index(None, "agent", "arrived_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    # Asterisk restarts its uniqueid counters: the system name is part of the key.
    system: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), default="telefonico")
    # Caller ID is whatever the trunk sent: unbounded text so no value can
    # make a batch fail.
    caller_number_raw: Mapped[str] = mapped_column(Text)
    caller_number: Mapped[str | None] = mapped_column(String(20))  # E.164 or null
    caller_name: Mapped[str] = mapped_column(Text)
    arrived_at: Mapped[datetime]
    queue_joined_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ivr_path: Mapped[list[Any]]
    queues: Mapped[list[Any]]  # in the order the call visited them
    queue: Mapped[str | None] = mapped_column(String(128))  # the last one
    agent: Mapped[str | None] = mapped_column(String(128))  # last answering member
    agents: Mapped[list[Any]]
    legs: Mapped[list[Any]]
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32))
    hangup_side: Mapped[str] = mapped_column(String(16))
    variables: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set by other services, never by the bridge's upserts (see attentions._UPDATABLE).
    person_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    survey_score: Mapped[int | None] = mapped_column(Integer)
    # Version of the privacy notice the caller heard (ATIENDE_NOTICE_VERSION).
    notice_version: Mapped[str | None] = mapped_column(String(32))
    # Set by a rights deletion: the caller's data stay anonymised whatever a
    # later upsert of the call carries (attentions._update_set).
    erased_at: Mapped[datetime | None]


class AgentStateInterval(Base):
    """A closed span of one agent in one state, optionally for one queue."""

    __tablename__ = "agent_state_intervals"
    __table_args__ = (
        Index(None, "member_name", "started_at"),
        Index(None, "state", "started_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(128))
    member_name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)  # pause reason
    queue: Mapped[str | None] = mapped_column(String(128))  # null: every queue
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    duration_seconds: Mapped[float] = mapped_column(Float)


# A replayed span must not count twice. A span that held for every queue
# (queue null) is keyed as the empty queue, since NULLs never collide in a
# unique index (and SQLite has no NULLS NOT DISTINCT).
Index(
    "uq_agent_state_intervals_span",
    AgentStateInterval.system,
    AgentStateInterval.interface,
    AgentStateInterval.state,
    func.coalesce(AgentStateInterval.queue, ""),
    AgentStateInterval.started_at,
    unique=True,
)


# ------------------------------------------------------------ queue report rollup
# Kept by dashboards.report_rollup: the queue report's tallies per queue and
# UTC hour of arrival, computed by dashboards.kpi's counting rule for one set
# of thresholds (`fingerprint`). Triggers on attentions (migration 0011) mark
# the hours whose attentions changed; the next report recounts those hours.


class ReportDirtyHour(Base):
    """An hour (epoch // 3600 of arrived_at) whose attentions changed since it was counted."""

    __tablename__ = "report_dirty_hours"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Bumped by every write: the row lock it takes orders a writer against
    # a recount that consumes the mark.
    touched: Mapped[int] = mapped_column(BigInteger, default=1)


class QueueHourCounted(Base):
    """An hour counted for one set of thresholds (with or without calls)."""

    __tablename__ = "queue_hours_counted"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class QueueHourTally(Base):
    """dashboards.kpi.QueueCounts of one queue and hour, for one set of thresholds."""

    __tablename__ = "queue_hour_tallies"

    fingerprint: Mapped[str] = mapped_column(String(32), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    queue: Mapped[str] = mapped_column(String(128), primary_key=True)
    offered: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    answered_within: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    short_abandoned: Mapped[int] = mapped_column(Integer)
    abandoned_within: Mapped[int] = mapped_column(Integer)
    exited: Mapped[int] = mapped_column(Integer)
    in_progress: Mapped[int] = mapped_column(Integer)
    answered_wait_seconds: Mapped[float] = mapped_column(Float)
    talk_seconds: Mapped[float] = mapped_column(Float)
    talked: Mapped[int] = mapped_column(Integer)


# ------------------------------------------------------------ users and organisms

USER_ROLES = ("ejecutivo", "supervisor", "gerente", "referente", "admin")


class User(Base):
    """Someone who works with Atiende (agents, supervisors, referents, admins)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("username"),
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in USER_ROLES)})", name="role"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # Filled by the authentication feature; null means the user cannot log in yet.
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Organism(Base):
    """A public body (organismo) whose requests the centre handles."""

    __tablename__ = "organisms"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Unit(Base):
    """An executing unit (unidad ejecutora) of an organism; units may nest."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("organism_id", "code"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    organism_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("organisms.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("units.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class UnitReferent(Base):
    """A referent (user with the referente role) answering for a unit."""

    __tablename__ = "unit_referents"

    unit_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ServiceLevel(Base):
    """Business hours allowed to answer a request type, for an organism or one unit.

    A row with a unit overrides the organism's row (unit_id 0 stands for the
    whole organism: NULLs would not collide in the unique key).
    """

    __tablename__ = "service_levels"
    __table_args__ = (UniqueConstraint("organism_id", "unit_key", "request_type"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    organism_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("organisms.id", ondelete="CASCADE")
    )
    unit_key: Mapped[int] = mapped_column(Identifier, default=0)
    request_type: Mapped[str] = mapped_column(String(16))
    business_hours: Mapped[float] = mapped_column(Float)


# ------------------------------------------------------------------- persons


class Person(Base):
    """A citizen. Only identification data lives here; the rest sits in
    per-category tables that hold values only while the person consents."""

    __tablename__ = "persons"
    __table_args__ = (
        UniqueConstraint("document_type", "document_number"),
        # Prefix searches (LIKE 'pere%') use these on PostgreSQL whatever the collation.
        Index(None, "search_name", postgresql_ops={"search_name": "varchar_pattern_ops"}),
        Index(None, "search_family", postgresql_ops={"search_family": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    document_type: Mapped[str | None] = mapped_column(String(16))
    document_number: Mapped[str | None] = mapped_column(String(32))
    given_names: Mapped[str] = mapped_column(String(200))
    family_names: Mapped[str] = mapped_column(String(200))
    # Lower-case, accents removed: "given family" and "family given".
    search_name: Mapped[str] = mapped_column(String(401))
    search_family: Mapped[str] = mapped_column(String(401))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PersonConsent(Base):
    """The person's decision on one data category (granted or withdrawn)."""

    __tablename__ = "person_consents"

    person_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    notice_version: Mapped[str | None] = mapped_column(String(32))


class PersonPhone(Base):
    __tablename__ = "person_phones"
    __table_args__ = (UniqueConstraint("person_id", "number"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    person_id: Mapped[int] = mapped_column(Identifier, ForeignKey("persons.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    label: Mapped[str | None] = mapped_column(String(32))


class PersonEmail(Base):
    __tablename__ = "person_emails"
    __table_args__ = (UniqueConstraint("person_id", "address"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    person_id: Mapped[int] = mapped_column(Identifier, ForeignKey("persons.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    label: Mapped[str | None] = mapped_column(String(32))


class PersonAddress(Base):
    __tablename__ = "person_addresses"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    street: Mapped[str] = mapped_column(Text)
    locality: Mapped[str | None] = mapped_column(String(120))
    department: Mapped[str | None] = mapped_column(String(60))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(32))


class PersonDocument(Base):
    """Documentation the person chose to keep (passport, vaccination card...)."""

    __tablename__ = "person_documents"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(120))
    notes: Mapped[str | None] = mapped_column(Text)


# ------------------------------------------------------------------- tickets


class TicketSequence(Base):
    """Last ticket number handed out per year (the row lock serialises creators)."""

    __tablename__ = "ticket_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    """A request (solicitud) that needs follow-up."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("number"),
        Index(None, "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    number: Mapped[str] = mapped_column(String(16))  # YYYY-NNNNNN
    channel: Mapped[str] = mapped_column(String(16))
    request_type: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="SET NULL"), index=True
    )
    organism_id: Mapped[int] = mapped_column(Identifier, ForeignKey("organisms.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(Identifier, ForeignKey("units.id"), index=True)
    referent_id: Mapped[int | None] = mapped_column(Identifier, ForeignKey("users.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(Identifier, ForeignKey("users.id"))
    # The call it came from, by key: attentions are rewritten by the bridge and
    # a foreign key would tie the two lifecycles together.
    attention_system: Mapped[str | None] = mapped_column(String(64))
    attention_linkedid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class TicketEvent(Base):
    """One action on a ticket's timeline."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index(None, "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Identifier, ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(Identifier, ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(Identifier, ForeignKey("units.id"))
    referent_id: Mapped[int | None] = mapped_column(Identifier, ForeignKey("users.id"))
    notes: Mapped[str | None] = mapped_column(Text)


class TicketResponse(Base):
    """An answer sent to the person, through one channel adapter."""

    __tablename__ = "ticket_responses"
    __table_args__ = (Index(None, "ticket_id", "sent_at"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Identifier, ForeignKey("tickets.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(Identifier, ForeignKey("users.id"))
    delivered: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class MailMessage(Base):
    """One email message of a ticket's thread, in or out, keyed by Message-ID.

    The intake's idempotence (a message read twice is handled once) and its
    thread map (an answer's In-Reply-To/References find the ticket) both rest
    on the unique Message-ID. Messages that made no ticket (bounces,
    auto-replies) are kept too, so they are not looked at again.
    """

    __tablename__ = "mail_messages"
    __table_args__ = (UniqueConstraint("message_id"), Index(None, "ticket_id", "at"))

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    # As in the header, angle brackets included; longer ones are hashed.
    message_id: Mapped[str] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(8))  # in, out
    kind: Mapped[str] = mapped_column(String(16))  # nuevo, respuesta, rebote, automatica...
    mailbox: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("tickets.id", ondelete="CASCADE")
    )
    # The other end's address: the citizen's, whom replies go to.
    address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class TicketAttachment(Base):
    """A file that came with a ticket's email: stored as data, only ever downloaded."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index(None, "ticket_id"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Identifier, ForeignKey("tickets.id", ondelete="CASCADE"))
    mail_message_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("mail_messages.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


# ------------------------------------------------------- what the IVR stores


class CallbackRequest(Base):
    """A caller who chose to be called back instead of waiting (one per call)."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        UniqueConstraint("system", "linkedid"),
        Index(None, "status", "requested_at"),
        Index(None, "queue", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    number_raw: Mapped[str] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(20))  # E.164 or null
    queue: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # pending, done, failed, cancelled
    requested_at: Mapped[datetime]
    # The worklist (crm_bridge.callback_rules): ivr or agent; when it may be
    # called (business hours applied) and by when it counts within target.
    origin: Mapped[str] = mapped_column(String(8), default="ivr", server_default="ivr")
    due_at: Mapped[datetime | None]
    target_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_attempt_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(16))
    completed_at: Mapped[datetime | None]
    # The agent calling it now (users.id); a stale hold is released by time.
    claimed_by: Mapped[int | None] = mapped_column(Identifier)
    claimed_at: Mapped[datetime | None]
    outbound_linkedid: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(String(200))
    scheduled_by: Mapped[int | None] = mapped_column(Identifier)


class CallSurvey(Base):
    """The caller's 1..5 rating of a call, kept even before its attention row exists."""

    __tablename__ = "call_surveys"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score"),)

    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime]
    # The person's own words with a farewell evaluation (walk-ins); null for the IVR's.
    comment: Mapped[str | None] = mapped_column(Text)


# ------------------------------------------------ agent panel (agent_api area)


class AgentInterface(Base):
    """A queue member interface (PJSIP/4001, Local/4001@agents/n) that is this user.

    One interface belongs to one user: pops for it go to that user only.
    """

    __tablename__ = "agent_interfaces"
    __table_args__ = (UniqueConstraint("interface"),)

    user_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    interface: Mapped[str] = mapped_column(String(128), primary_key=True)


class AuditEntry(Base):
    """Who saw or changed which person's data, when, and for which call."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "person_id", "at"),
        Index(None, "actor_id", "at"),
        Index(None, "at"),
        # Who was shown whom for a call (agent_api.need_to_know).
        Index(None, "call_linkedid", "call_system"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="SET NULL")
    )
    call_system: Mapped[str | None] = mapped_column(String(64))
    call_linkedid: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]]


class CatalogTopic(Base):
    """One entry of the catalog of trámites y servicios the wrap-up picks from."""

    __tablename__ = "catalog_topics"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # tramite or servicio
    organism_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("organisms.id", ondelete="SET NULL")
    )
    unit_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("units.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the agent reads to the citizen ("orientar") and sends ("difundir");
    # crm_bridge.knowledge searches it. Plain text, one item a line.
    description: Mapped[str | None] = mapped_column(Text)  # qué es
    requirements: Mapped[str | None] = mapped_column(Text)  # requisitos
    steps: Mapped[str | None] = mapped_column(Text)  # pasos
    deadlines: Mapped[str | None] = mapped_column(Text)  # plazos
    cost: Mapped[str | None] = mapped_column(Text)  # costo
    where_how: Mapped[str | None] = mapped_column(Text)  # dónde y cómo
    online_url: Mapped[str | None] = mapped_column(String(500))
    keywords: Mapped[str | None] = mapped_column(Text)  # words citizens use for it
    # The organism as the source names it, when it is not one of ours.
    organism_label: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(16))  # tramites-gub, propio, None: by hand
    source_updated: Mapped[str | None] = mapped_column(String(32))  # the source's revision date
    # PostgreSQL also has `search_vector`, a generated tsvector (migration 0016)
    # the models leave out: see DATABASE_ONLY.


# Objects only some databases have, made by the migrations and unknown to the
# models (a PostgreSQL generated tsvector and its index): the schema comparison
# and autogenerate leave them alone.
DATABASE_ONLY = frozenset({"search_vector", "ix_catalog_topics_search_vector"})


def include_object(
    _object: object, name: str | None, _type: str, _reflected: bool, _compare_to: object
) -> bool:
    """Alembic's include_object hook: everything but DATABASE_ONLY."""
    return name not in DATABASE_ONLY


class TopicDissemination(Base):
    """A trámite's information sent to the person of an attention ("difundir").

    Keyed by call like the wrap-up. The destination is kept masked: the record
    says that and how it was sent, not the address itself.
    """

    __tablename__ = "topic_disseminations"
    __table_args__ = (Index(None, "system", "linkedid"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    topic_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("catalog_topics.id", ondelete="SET NULL")
    )
    person_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="SET NULL")
    )
    means: Mapped[str] = mapped_column(String(16))  # email, sms (the responder's channel)
    destination_masked: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    delivered: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(200))


class AttentionWrapup(Base):
    """What the agent recorded about a call once it ended (the attention's outcome).

    Keyed by call like tickets: the bridge rewrites `attentions` rows, the
    wrap-up is the agent's and must survive those rewrites.
    """

    __tablename__ = "attention_wrapups"
    __table_args__ = (
        UniqueConstraint("system", "linkedid"),
        Index(None, "agent_user_id", "wrapup_started_at"),
        # The follow-up worklists: open pending cases by due time.
        Index(None, "resolution", "follow_up_closed_at", "follow_up_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    agent_user_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    attention_type: Mapped[str | None] = mapped_column(String(16))
    topic_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("catalog_topics.id", ondelete="SET NULL")
    )
    notes: Mapped[str | None] = mapped_column(Text)
    # resuelta (first contact), derivada (a ticket), pendiente (follow-up);
    # null only while the wrap-up is open.
    resolution: Mapped[str | None] = mapped_column(String(16))
    follow_up_at: Mapped[datetime | None]
    ticket_number: Mapped[str | None] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("persons.id", ondelete="SET NULL")
    )
    wrapup_started_at: Mapped[datetime]
    wrapup_ended_at: Mapped[datetime | None]
    # A pendiente wrap-up's way back to the person (phone or email, chosen in
    # the form from the person's consented contacts) and its follow-up life:
    # reminded when due, escalated when overdue, closed with a response.
    follow_up_contact_kind: Mapped[str | None] = mapped_column(String(8))
    follow_up_contact: Mapped[str | None] = mapped_column(String(254))
    follow_up_reminded_at: Mapped[datetime | None]
    follow_up_escalated_at: Mapped[datetime | None]
    follow_up_closed_at: Mapped[datetime | None]
    follow_up_closed_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    follow_up_response: Mapped[str | None] = mapped_column(Text)


# ------------------------------------------- CRM sync and rights (crm_bridge.sync area)


class CrmOutbox(Base):
    """A change that must reach the CRM, written in the transaction of the change.

    The relay hands pending rows to the job queue (enqueued_at) and hands them
    again when the queue lost them; a job marks its row done. Rows carry ids
    only: the job reads the entity's current values when it runs.
    """

    __tablename__ = "crm_outbox"
    __table_args__ = (
        Index(None, "done_at", "enqueued_at"),
        Index(None, "entity", "entity_id"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))  # attention, person
    # No foreign key: an erased person's row must outlive the person.
    entity_id: Mapped[int] = mapped_column(Identifier)
    action: Mapped[str] = mapped_column(String(16))  # upsert, erase
    created_at: Mapped[datetime]
    enqueued_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    # Set when the last retry failed; cleared by a manual retry.
    failed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class CrmLink(Base):
    """The CRM's id of an entity already synced: a retry updates instead of creating."""

    __tablename__ = "crm_links"

    adapter: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=False)
    crm_id: Mapped[str] = mapped_column(String(128))
    synced_at: Mapped[datetime]


class RightsRequest(Base):
    """One exercise of a person's rights (Ley 18.331): access, rectification, deletion.

    The person id stays after a deletion (no foreign key) and no personal
    value is kept: details name fields and counts only.
    """

    __tablename__ = "rights_requests"
    __table_args__ = (Index(None, "person_id", "at"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    person_id: Mapped[int] = mapped_column(Identifier)
    kind: Mapped[str] = mapped_column(String(16))  # acceso, rectificacion, supresion
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, Any]]


class SlaAlert(Base):
    """A ticket about to miss (por_vencer) or past (vencido) its due date unanswered.

    One per ticket and level: scans that run again, or in several workers,
    never raise the same alert twice.
    """

    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("ticket_id", "level"),
        Index(None, "acknowledged_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Identifier, ForeignKey("tickets.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(16))
    raised_at: Mapped[datetime]
    due_at: Mapped[datetime]
    unit_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("units.id", ondelete="SET NULL")
    )
    referent_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_note: Mapped[str | None] = mapped_column(Text)


class KioskLink(Base):
    """A read-only wallboard link for a TV: only the SHA-256 of its token is kept."""

    __tablename__ = "kiosk_links"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    last_used_at: Mapped[datetime | None]
    # What the link opens: the wallboard, a service point's waiting-room
    # display (sala) or a desk's evaluation tablet (evaluacion).
    kind: Mapped[str] = mapped_column(String(16), default="pizarra", server_default="pizarra")
    service_point_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("service_points.id", ondelete="CASCADE")
    )
    desk_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("service_desks.id", ondelete="CASCADE")
    )


class QueueAlertAck(Base):
    """A supervisor's acknowledgement, with a note, of a live queue alert (SL, wait)."""

    __tablename__ = "queue_alert_acks"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str] = mapped_column(Text)


# ---------------------------------------------- walk-in attention (crm_bridge.turns)


class ServicePoint(Base):
    """A place where people are attended in person (a Centro de Atención Ciudadana)."""

    __tablename__ = "service_points"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    # A turn called within this wait counts as "served within target".
    target_wait_seconds: Mapped[int] = mapped_column(Integer, default=900)
    # Recalls before a called turn is a no-show.
    max_recalls: Mapped[int] = mapped_column(Integer, default=2)
    # The estimate of one attention before any has been measured today.
    attention_seconds: Mapped[int] = mapped_column(Integer, default=600)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServicePointTopic(Base):
    """What people come for at a point (a catalog topic), with its turn prefix letter."""

    __tablename__ = "service_point_topics"
    __table_args__ = (UniqueConstraint("point_id", "prefix"), UniqueConstraint("point_id", "code"))

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    point_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("service_points.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(1))
    catalog_topic_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("catalog_topics.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceDesk(Base):
    """A desk (puesto) of a point; `topic_ids` empty means it serves every topic."""

    __tablename__ = "service_desks"
    __table_args__ = (UniqueConstraint("point_id", "code"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    point_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("service_points.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(60))
    topic_ids: Mapped[list[Any]] = mapped_column(default=list)
    # Who sits at the desk now (set when an ejecutivo takes it at /puesto).
    user_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class TurnPriority(Base):
    """A priority category the centre configures (discapacidad, embarazo, ...)."""

    __tablename__ = "turn_priorities"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Turn(Base):
    """A person's turn at a point: its number, its wait and its desk (no personal data:
    the person is on the attention it belongs to)."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("point_id", "topic_id", "service_day", "number"),
        Index(None, "point_id", "status", "issued_at"),
        Index(None, "attention_linkedid", "attention_system"),
        Index(None, "issued_at"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    point_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("service_points.id", ondelete="CASCADE")
    )
    topic_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("service_point_topics.id", ondelete="CASCADE")
    )
    service_day: Mapped[date] = mapped_column(Date)
    number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(8))
    priority_code: Mapped[str | None] = mapped_column(String(32))
    priority_rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    issued_at: Mapped[datetime]
    issued_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    first_called_at: Mapped[datetime | None]
    called_at: Mapped[datetime | None]
    desk_id: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("service_desks.id", ondelete="SET NULL")
    )
    called_by: Mapped[int | None] = mapped_column(
        Identifier, ForeignKey("users.id", ondelete="SET NULL")
    )
    recalls: Mapped[int] = mapped_column(Integer, default=0)
    served_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    attention_system: Mapped[str] = mapped_column(String(64))
    attention_linkedid: Mapped[str] = mapped_column(String(64))
    # The farewell evaluation was given (or offered by link) for this turn.
    evaluated: Mapped[bool] = mapped_column(Boolean, default=False)


class EvaluationLink(Base):
    """A one-time farewell evaluation link sent to a person (only its SHA-256 is kept)."""

    __tablename__ = "evaluation_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CitizenNotice(Base):
    """A notice due to the person about their ticket (acknowledgement, derivation,
    response), written in the transaction of the ticket change it tells about
    and worked by a periodic job (crm_bridge.notifications) with retries.

    `destination` is set only for contacts given with consent in the request
    itself (the public form); otherwise the person's consented contact is read
    when the notice is sent, so a consent withdrawn in between stops it.
    """

    __tablename__ = "citizen_notices"
    __table_args__ = (
        UniqueConstraint("event_id", "means"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "ticket_id"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Identifier, ForeignKey("tickets.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("ticket_events.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))  # acuse, derivacion, respuesta
    means: Mapped[str] = mapped_column(String(8))  # email, sms
    destination: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))  # pendiente, enviada, fallida, omitida
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    sent_via: Mapped[str | None] = mapped_column(String(8))  # the responder: email, sms, log
    last_error: Mapped[str | None] = mapped_column(Text)
