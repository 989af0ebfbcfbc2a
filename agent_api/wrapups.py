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
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent_api.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from citizen.channels import Channel, parse_channel
from crm_bridge.db import session_factory
from crm_bridge.models import Attention, AttentionWrapup, CatalogTopic
from crm_bridge.persons import PersonRegistry
from crm_bridge.phones import normalise_number
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
    # Pendiente: the person's phone or email the case comes back through.
    follow_up_contact: str | None = None


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
    follow_up_contact_kind: str | None = None
    follow_up_contact: str | None = None

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
        follow_up_contact_kind=row.follow_up_contact_kind,
        follow_up_contact=row.follow_up_contact,
    )


# How far ahead a follow-up may be set, and how far back a time just typed may be.
MAX_FOLLOW_UP_AHEAD = timedelta(days=366)
FOLLOW_UP_SLACK = timedelta(minutes=5)


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
        phone_region: str = "UY",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._tickets = tickets
        self._persons = PersonRegistry(engine, phone_region=phone_region)
        self._region = phone_region
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
        contact = self._follow_up(data) if data.resolution is Resolution.PENDIENTE else None
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
            row.follow_up_contact_kind = None if contact is None else contact[0]
            row.follow_up_contact = None if contact is None else contact[1]
            row.ticket_number = ticket_number
            row.person_id = data.person_id
            row.wrapup_ended_at = max(now, row.wrapup_started_at)
            session.flush()
            return _view(row)

    def _follow_up(self, data: WrapupInput) -> tuple[str, str]:
        """A pending case's (contact kind, contact): checked here, whatever the page did."""
        if data.follow_up_at is None:
            raise InvalidInput(
                "pending without follow-up",
                detalle="Una atención pendiente necesita fecha y hora de seguimiento.",
            )
        if data.follow_up_at.tzinfo is None:
            raise InvalidInput(
                "naive follow-up time", detalle="La fecha de seguimiento no es válida."
            )
        if data.person_id is None:
            raise InvalidInput(
                "pending without person",
                detalle=(
                    "Una atención pendiente necesita la persona vinculada y un teléfono "
                    "o correo suyo para volver a contactarla."
                ),
            )
        raw = (data.follow_up_contact or "").strip()
        if not raw:
            raise InvalidInput(
                "pending without contact",
                detalle="Elija el teléfono o correo de la persona para el seguimiento.",
            )
        now = self._clock()
        if data.follow_up_at < now - FOLLOW_UP_SLACK:
            raise InvalidInput(
                "follow-up in the past",
                detalle="La fecha de seguimiento ya pasó; elija una fecha y hora futuras.",
            )
        if data.follow_up_at > now + MAX_FOLLOW_UP_AHEAD:
            raise InvalidInput(
                "follow-up too far",
                detalle="La fecha de seguimiento puede estar a lo sumo a un año.",
            )
        person = self._persons.get(data.person_id)
        if person is None:
            raise InvalidInput("unknown person", detalle="La persona vinculada no existe.")
        # Only contacts kept with the person's consent (the view holds no others).
        if "@" in raw:
            emails = {e.address.casefold(): e.address for e in person.emails}
            if raw.casefold() in emails:
                return "email", emails[raw.casefold()]
        else:
            number = normalise_number(raw, self._region)
            if number is not None and number in {p.number for p in person.phones}:
                return "phone", number
        raise InvalidInput(
            "contact not of the person",
            detalle=(
                "El contacto de seguimiento debe ser un teléfono o correo registrado de la "
                "persona (con su consentimiento). Regístrelo en su ficha si falta."
            ),
        )

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
