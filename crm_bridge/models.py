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

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
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
    channel: Mapped[str] = mapped_column(String(16), default="phone")
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
