"""Wrap-up: the agent closes an attention with its type, topic, notes and resolution.

"Toda consulta debe tener su respuesta": a wrap-up is finished only with a
resolution (resolved at first contact, derived to a ticket, or pending with a
follow-up date); calls the agent answered without one are listed as pending.
Wrap-up time counts in AHT: it starts when the call ends (the pop hub opens
it) or when the agent opens the form, whichever comes first, and ends when
the agent submits it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent_api.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from citizen.channels import Channel, parse_channel
from crm_bridge.db import session_factory
from crm_bridge.models import Attention, AttentionWrapup, CatalogTopic
from crm_bridge.tickets import TicketService
from telephony.domain import CallKey


class AttentionType(StrEnum):
    CONSULTA = "consulta"
    TRAMITE = "tramite"
    SUGERENCIA = "sugerencia"
    QUEJA = "queja"
    RECLAMO = "reclamo"


class Resolution(StrEnum):
    RESUELTA = "resuelta"  # resolved at first contact
    DERIVADA = "derivada"  # a ticket was created
    PENDIENTE = "pendiente"  # pending, with a follow-up date


# Tickets know four request types; a trámite that needs follow-up is a query
# about that trámite.
_TICKET_TYPE = {AttentionType.TRAMITE: "consulta"}


@dataclass(frozen=True, slots=True)
class WrapupInput:
    attention_type: AttentionType
    resolution: Resolution
    topic_id: int | None = None
    notes: str = ""
    follow_up_at: datetime | None = None
    person_id: int | None = None
    organism_id: int | None = None  # derivation target when the topic names none
    unit_id: int | None = None


@dataclass(frozen=True, slots=True)
class WrapupView:
    call: CallKey
    agent_user_id: int | None
    attention_type: str | None
    topic_id: int | None
    notes: str | None
    resolution: str | None
    follow_up_at: datetime | None
    ticket_number: str | None
    person_id: int | None
    started_at: datetime
    ended_at: datetime | None

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


def _view(row: AttentionWrapup) -> WrapupView:
    return WrapupView(
        call=CallKey(row.system, row.linkedid),
        agent_user_id=row.agent_user_id,
        attention_type=row.attention_type,
        topic_id=row.topic_id,
        notes=row.notes,
        resolution=row.resolution,
        follow_up_at=row.follow_up_at,
        ticket_number=row.ticket_number,
        person_id=row.person_id,
        started_at=row.wrapup_started_at,
        ended_at=row.wrapup_ended_at,
    )


@dataclass(frozen=True, slots=True)
class OpenWrapup:
    """A call the agent answered and has not closed (today or earlier)."""

    system: str
    linkedid: str
    started_at: datetime
    arrived_at: datetime | None
    caller_number: str
    caller_name: str
    queue: str | None


class WrapupStore:
    def __init__(
        self,
        engine: Engine,
        *,
        tickets: TicketService | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._tickets = tickets
        self._clock = clock

    def start(self, key: CallKey, user_id: int, at: datetime | None = None) -> WrapupView:
        """Open the wrap-up (idempotent: the first start stands)."""
        try:
            with self._sessions.begin() as session:
                row = self._row(session, key)
                if row is not None:
                    if row.agent_user_id not in (None, user_id):
                        raise Forbidden("wrap-up belongs to another agent")
                    return _view(row)
                row = AttentionWrapup(
                    system=key.system,
                    linkedid=key.linkedid,
                    agent_user_id=user_id,
                    wrapup_started_at=at or self._clock(),
                )
                session.add(row)
                session.flush()
                return _view(row)
        except IntegrityError:
            # Opened concurrently (hub and form at once): the other start stands.
            existing = self.get(key)
            if existing is None:
                raise
            if existing.agent_user_id not in (None, user_id):
                raise Forbidden("wrap-up belongs to another agent") from None
            return existing

    def finish(self, key: CallKey, user_id: int, data: WrapupInput) -> WrapupView:
        notes = data.notes.replace("\x00", "").strip()
        if len(notes) > 4000:
            raise InvalidInput("notes too long", detalle="Las notas admiten hasta 4000 caracteres.")
        if data.resolution is Resolution.PENDIENTE and data.follow_up_at is None:
            raise InvalidInput(
                "pending without follow-up",
                detalle="Una atención pendiente necesita fecha de seguimiento.",
            )
        self.start(key, user_id)
        topic = None
        with self._sessions() as session:
            if data.topic_id is not None:
                topic = session.get(CatalogTopic, data.topic_id)
                if topic is None:
                    raise InvalidInput("unknown topic", detalle="El tema elegido no existe.")
            existing = self._row(session, key)
            if existing is not None and existing.wrapup_ended_at is not None:
                raise Conflict("already wrapped up", detalle="Esta atención ya fue cerrada.")
        ticket_number = None
        if data.resolution is Resolution.DERIVADA:
            ticket_number = self._derive(key, user_id, data, notes, topic)
        now = self._clock()
        with self._sessions.begin() as session:
            row = self._row(session, key, lock=True)
            if row is None:
                raise NotFound("wrap-up vanished")
            if row.agent_user_id not in (None, user_id):
                raise Forbidden("wrap-up belongs to another agent")
            if row.wrapup_ended_at is not None:
                raise Conflict("already wrapped up", detalle="Esta atención ya fue cerrada.")
            row.attention_type = data.attention_type.value
            row.topic_id = data.topic_id
            row.notes = notes or None
            row.resolution = data.resolution.value
            row.follow_up_at = data.follow_up_at
            row.ticket_number = ticket_number
            row.person_id = data.person_id
            row.wrapup_ended_at = max(now, row.wrapup_started_at)
            session.flush()
            return _view(row)

    def _derive(
        self,
        key: CallKey,
        user_id: int,
        data: WrapupInput,
        notes: str,
        topic: CatalogTopic | None,
    ) -> str:
        if self._tickets is None:
            raise Conflict("no ticket service", detalle="La derivación no está disponible.")
        organism_id = data.organism_id or (topic.organism_id if topic is not None else None)
        unit_id = data.unit_id or (topic.unit_id if topic is not None else None)
        if organism_id is None:
            raise InvalidInput(
                "derivation without organism",
                detalle="Para derivar, elija un tema con organismo o indique el organismo.",
            )
        ticket = self._tickets.create(
            channel=_channel_of(key),
            request_type=_TICKET_TYPE.get(data.attention_type, data.attention_type.value),
            topic=topic.name if topic is not None else data.attention_type.value,
            organism_id=organism_id,
            unit_id=unit_id,
            description=notes,
            person_id=data.person_id,
            actor_id=user_id,
            attention=key,
        )
        return ticket.number

    def get(self, key: CallKey) -> WrapupView | None:
        with self._sessions() as session:
            row = self._row(session, key)
            return None if row is None else _view(row)

    def open_of(self, user_id: int, *, limit: int = 100) -> list[OpenWrapup]:
        """The agent's wrap-ups opened (at hang-up or by hand) and not finished, oldest first."""
        query = (
            select(AttentionWrapup, Attention)
            .outerjoin(
                Attention,
                (Attention.system == AttentionWrapup.system)
                & (Attention.linkedid == AttentionWrapup.linkedid),
            )
            .where(
                AttentionWrapup.agent_user_id == user_id,
                AttentionWrapup.wrapup_ended_at.is_(None),
            )
            .order_by(AttentionWrapup.wrapup_started_at.desc())
            .limit(limit)
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
        out = [
            OpenWrapup(
                system=w.system,
                linkedid=w.linkedid,
                started_at=w.wrapup_started_at,
                arrived_at=None if a is None else a.arrived_at,
                caller_number="" if a is None else (a.caller_number or a.caller_number_raw),
                caller_name="" if a is None else a.caller_name,
                queue=None if a is None else a.queue,
            )
            for w, a in rows
        ]
        out.reverse()
        return out

    def details_of(self, linkedids: list[str]) -> dict[str, tuple[str | None, ...]]:
        """linkedid → (resolution, notes, attention type, topic name), for history lists."""
        if not linkedids:
            return {}
        query = (
            select(
                AttentionWrapup.linkedid,
                AttentionWrapup.resolution,
                AttentionWrapup.notes,
                AttentionWrapup.attention_type,
                CatalogTopic.name,
            )
            .outerjoin(CatalogTopic, CatalogTopic.id == AttentionWrapup.topic_id)
            .where(AttentionWrapup.linkedid.in_(linkedids))
        )
        with self._sessions() as session:
            return {str(r[0]): tuple(r[1:]) for r in session.execute(query).all()}

    def of_calls(self, keys: list[CallKey]) -> dict[CallKey, WrapupView]:
        if not keys:
            return {}
        linkedids = {k.linkedid for k in keys}
        with self._sessions() as session:
            rows = session.scalars(
                select(AttentionWrapup).where(AttentionWrapup.linkedid.in_(linkedids))
            ).all()
            wanted = set(keys)
            return {v.call: v for v in map(_view, rows) if v.call in wanted}

    @staticmethod
    def _row(session: Session, key: CallKey, *, lock: bool = False) -> AttentionWrapup | None:
        query = select(AttentionWrapup).where(
            AttentionWrapup.system == key.system, AttentionWrapup.linkedid == key.linkedid
        )
        if lock:
            query = query.with_for_update()
        return session.scalars(query).first()


def _channel_of(key: CallKey) -> Channel:
    """A derived ticket's channel: the attention's (a walk-in's ticket is presencial)."""
    prefix, _, name = key.system.partition(":")
    if prefix == "atiende":
        try:
            return parse_channel(name)
        except ValueError:
            pass
    return Channel.TELEFONICO
