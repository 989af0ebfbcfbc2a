"""Tickets (solicitudes): creation with a yearly number, derivation, response, closing.

Every action goes through ticket_rules.next_status and leaves one row on the
ticket's timeline (who, when, what, from/to status, notes) in the same
transaction as the change. Due dates are business time (sla.py, the IVR's
calendar) from creation, with the service level of the unit the ticket is in
(or its nearest ancestor, or the organism, or DEFAULT_SLA_HOURS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from citizen.calendar import BusinessHours
from citizen.channels import Channel, parse_channel
from crm_bridge.db import session_factory
from crm_bridge.exceptions import (
    DeliveryError,
    InvalidTransitionError,
    InvalidValueError,
    NotFoundError,
)
from crm_bridge.models import (
    Attention,
    Organism,
    Person,
    Ticket,
    TicketEvent,
    TicketResponse,
    TicketSequence,
    Unit,
    UnitReferent,
    User,
)
from crm_bridge.notifications import NOTICE_OF_ACTION, Means, queue_notices
from crm_bridge.organisms import Role, service_level_in
from crm_bridge.responders import LogResponder, OutgoingMessage, Responder
from crm_bridge.sla import add_business_time
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import (
    DEFAULT_SLA_HOURS,
    OPEN_STATUSES,
    RequestType,
    TicketAction,
    TicketStatus,
    format_number,
    next_status,
    parse_enum,
    parse_number,
)
from telephony.domain import CallKey, Outcome


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    number: str
    channel: Channel
    request_type: RequestType
    topic: str
    description: str
    status: TicketStatus
    person_id: int | None
    organism_id: int
    unit_id: int | None
    referent_id: int | None
    created_by: int | None
    attention: CallKey | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue(self, now: datetime) -> bool:
        """Past its due date without a response."""
        return (
            self.due_at is not None
            and self.responded_at is None
            and self.status is not TicketStatus.CERRADA
            and now > self.due_at
        )


@dataclass(frozen=True, slots=True)
class TicketEventView:
    at: datetime
    actor_id: int | None
    action: TicketAction
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    unit_id: int | None
    referent_id: int | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class ResponseView:
    id: int
    ticket_number: str
    channel: str
    destination: str
    body: str
    sent_at: datetime
    actor_id: int | None
    delivered: bool
    error: str | None


def _view(row: Ticket) -> TicketView:
    attention = (
        None
        if row.attention_system is None or row.attention_linkedid is None
        else CallKey(row.attention_system, row.attention_linkedid)
    )
    return TicketView(
        id=row.id,
        number=row.number,
        channel=Channel(row.channel),
        request_type=RequestType(row.request_type),
        topic=row.topic,
        description=row.description,
        status=TicketStatus(row.status),
        person_id=row.person_id,
        organism_id=row.organism_id,
        unit_id=row.unit_id,
        referent_id=row.referent_id,
        created_by=row.created_by,
        attention=attention,
        created_at=row.created_at,
        updated_at=row.updated_at,
        due_at=row.due_at,
        responded_at=row.responded_at,
        closed_at=row.closed_at,
    )


def _event_view(row: TicketEvent) -> TicketEventView:
    return TicketEventView(
        at=row.at,
        actor_id=row.actor_id,
        action=TicketAction(row.action),
        from_status=None if row.from_status is None else TicketStatus(row.from_status),
        to_status=None if row.to_status is None else TicketStatus(row.to_status),
        unit_id=row.unit_id,
        referent_id=row.referent_id,
        notes=row.notes,
    )


def response_view(row: TicketResponse, number: str) -> ResponseView:
    return ResponseView(
        id=row.id,
        ticket_number=number,
        channel=row.channel,
        destination=row.destination,
        body=row.body,
        sent_at=row.sent_at,
        actor_id=row.actor_id,
        delivered=row.delivered,
        error=row.error,
    )


class TicketService:
    """The ticket lifecycle on the store."""

    def __init__(
        self,
        engine: Engine,
        *,
        business_hours: BusinessHours,
        responders: Iterable[Responder] = (),
        default_sla_hours: Mapping[RequestType, float] = DEFAULT_SLA_HOURS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise InvalidValueError(f"unsupported database {engine.dialect.name!r}")
        self._dialect = engine.dialect.name
        self._sessions = session_factory(engine)
        self._hours = business_hours
        self._zone = ZoneInfo(business_hours.timezone)
        log = LogResponder()
        self._responders: dict[str, Responder] = {log.channel: log}
        self._responders.update({r.channel: r for r in responders})
        self._default_sla = dict(default_sla_hours)
        self._clock = clock

    @property
    def channels(self) -> list[str]:
        """Channels a response can be sent through."""
        return sorted(self._responders)

    # -------------------------------------------------------------- create

    def create(
        self,
        *,
        channel: Channel | str,
        request_type: RequestType | str,
        topic: str,
        organism_id: int,
        description: str = "",
        person_id: int | None = None,
        unit_id: int | None = None,
        actor_id: int | None = None,
        attention: CallKey | None = None,
    ) -> TicketView:
        """A new ticket, abierta, numbered YYYY-NNNNNN in the centre's local year.

        Without `person_id`, a ticket created from a call (`attention`) belongs
        to the person that call is linked to.
        """
        try:
            via = parse_channel(str(channel))
        except ValueError:
            choices = ", ".join(member.value for member in Channel)
            raise InvalidValueError(f"unknown channel {channel!r} (one of: {choices})") from None
        kind = parse_enum(RequestType, str(request_type), "request type")
        subject = " ".join(topic.split())
        if not subject or len(subject) > 200:
            raise InvalidValueError("a ticket needs a topic of 1 to 200 characters")
        now = self._clock()
        with translated("creating a ticket"), self._sessions.begin() as session:
            if session.get(Organism, organism_id) is None:
                raise NotFoundError(f"no organism {organism_id}")
            if person_id is not None and session.get(Person, person_id) is None:
                raise NotFoundError(f"no person {person_id}")
            if person_id is None and attention is not None:
                # Created from a call: the person the call was linked to, if any.
                person_id = session.scalars(
                    select(Attention.person_id).where(
                        Attention.system == attention.system,
                        Attention.linkedid == attention.linkedid,
                    )
                ).first()
            if unit_id is not None:
                _unit_of(session, unit_id, organism_id)
            year = now.astimezone(self._zone).year
            row = Ticket(
                number=format_number(year, self._next_sequence(session, year)),
                channel=via.value,
                request_type=kind.value,
                topic=subject,
                description=description.replace("\x00", ""),
                status=TicketStatus.ABIERTA.value,
                person_id=person_id,
                organism_id=organism_id,
                unit_id=unit_id,
                created_by=actor_id,
                attention_system=None if attention is None else attention.system,
                attention_linkedid=None if attention is None else attention.linkedid,
                created_at=now,
                updated_at=now,
                due_at=self._due(session, now, organism_id, kind, unit_id),
            )
            session.add(row)
            session.flush()
            self._event(session, row, now, actor_id, TicketAction.CREATE, None, unit_id=unit_id)
            return _view(row)

    def _next_sequence(self, session: Session, year: int) -> int:
        # One upsert: the row lock it takes serialises concurrent creators on
        # PostgreSQL until they commit, and the first ticket of a year cannot
        # race another into a duplicate.
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(TicketSequence)
            .values(year=year, last_value=1)
            .on_conflict_do_update(
                index_elements=[TicketSequence.year],
                set_={"last_value": TicketSequence.last_value + 1},
            )
            .returning(TicketSequence.last_value)
        )
        return int(session.execute(stmt).scalar_one())

    def _due(
        self,
        session: Session,
        start: datetime,
        organism_id: int,
        kind: RequestType,
        unit_id: int | None,
    ) -> datetime | None:
        hours = service_level_in(session, organism_id, kind, unit_id)
        if hours is None:
            hours = self._default_sla.get(kind)
        if hours is None:
            return None
        return add_business_time(self._hours, start, timedelta(hours=hours))

    # ------------------------------------------------------------- actions

    def derive(
        self,
        number: str,
        *,
        actor_id: int | None,
        unit_id: int | None = None,
        referent_id: int | None = None,
        notes: str | None = None,
    ) -> TicketView:
        """Hand the ticket to a unit of its organism, a referent, or both.

        A referent named with a unit must answer for that unit. The due date
        follows the new unit's service level (counted from creation).
        """
        if unit_id is None and referent_id is None:
            raise InvalidValueError("derive to a unit, a referent or both")
        with translated("deriving a ticket"), self._sessions.begin() as session:
            row = self._locked(session, number)
            before = TicketStatus(row.status)
            after = next_status(before, TicketAction.DERIVE)
            if unit_id is not None:
                _unit_of(session, unit_id, row.organism_id)
            if referent_id is not None:
                user = session.get(User, referent_id)
                if user is None or user.role != Role.REFERENTE or not user.active:
                    raise InvalidValueError("derive only to an active user with the referente role")
                if (
                    unit_id is not None
                    and session.get(UnitReferent, (unit_id, referent_id)) is None
                ):
                    raise InvalidValueError("that referent does not answer for that unit")
            now = self._clock()
            row.status = after.value
            row.unit_id = unit_id if unit_id is not None else row.unit_id
            row.referent_id = referent_id
            row.updated_at = now
            row.due_at = self._due(
                session, row.created_at, row.organism_id, RequestType(row.request_type), row.unit_id
            )
            self._event(
                session,
                row,
                now,
                actor_id,
                TicketAction.DERIVE,
                before,
                unit_id=unit_id,
                referent_id=referent_id,
                notes=notes,
            )
            return _view(row)

    def start(self, number: str, *, actor_id: int | None, notes: str | None = None) -> TicketView:
        """Someone is working on it (en proceso)."""
        return self._simple(number, TicketAction.START, actor_id, notes)

    def close(self, number: str, *, actor_id: int | None, notes: str | None = None) -> TicketView:
        """Close an answered ticket."""
        return self._simple(number, TicketAction.CLOSE, actor_id, notes)

    def reopen(self, number: str, *, actor_id: int | None, notes: str | None = None) -> TicketView:
        """Back into process after a response the person did not accept."""
        return self._simple(number, TicketAction.REOPEN, actor_id, notes)

    def add_note(self, number: str, *, actor_id: int | None, notes: str) -> TicketView:
        if not notes.strip():
            raise InvalidValueError("a note needs text")
        return self._simple(number, TicketAction.NOTE, actor_id, notes)

    def link_person(self, number: str, *, person_id: int, actor_id: int | None) -> TicketView:
        """Say whose ticket it is, when it arrived unlinked (an email from an
        unknown address); its attention gets the same person. A ticket already
        linked is not re-linked here (InvalidValueError)."""
        with translated("linking a person to a ticket"), self._sessions.begin() as session:
            row = self._locked(session, number)
            if session.get(Person, person_id) is None:
                raise NotFoundError(f"no person {person_id}")
            if row.person_id is not None:
                if row.person_id == person_id:
                    return _view(row)
                raise InvalidValueError(f"ticket {number} already belongs to a person")
            now = self._clock()
            row.person_id = person_id
            row.updated_at = now
            if row.attention_system is not None and row.attention_linkedid is not None:
                session.execute(
                    update(Attention)
                    .where(
                        Attention.system == row.attention_system,
                        Attention.linkedid == row.attention_linkedid,
                        Attention.person_id.is_(None),
                    )
                    .values(person_id=person_id)
                )
            before = TicketStatus(row.status)
            self._event(
                session, row, now, actor_id, TicketAction.NOTE, before, notes="Persona vinculada."
            )
            return _view(row)

    def citizen_message(self, number: str, *, notes: str) -> TicketView:
        """The person wrote again on the ticket (an email answer): a note on the
        timeline with no actor, and an answered ticket goes back into process."""
        if not notes.strip():
            raise InvalidValueError("a message needs text")
        with translated("recording the person's message"), self._sessions.begin() as session:
            row = self._locked(session, number)
            before = TicketStatus(row.status)
            action = TicketAction.REOPEN if before is TicketStatus.RESPONDIDA else TicketAction.NOTE
            row.status = next_status(before, action).value
            now = self._clock()
            row.updated_at = now
            self._event(session, row, now, None, action, before, notes=notes)
            return _view(row)

    def respond(
        self,
        number: str,
        *,
        actor_id: int | None,
        body: str,
        destination: str,
        channel: str = "log",
        subject: str | None = None,
    ) -> TicketView:
        """Send `body` to the person through `channel` and mark the ticket respondida.

        The attempt is recorded either way; when delivery fails the status does
        not change and DeliveryError is raised.
        """
        if not body.strip():
            raise InvalidValueError("a response needs text")
        responder = self._responders.get(channel)
        if responder is None:
            raise InvalidValueError(f"no response channel {channel!r} (have: {self.channels})")
        ticket = self.get(number)
        if ticket is None:
            raise NotFoundError(f"no ticket {number}")
        next_status(ticket.status, TicketAction.RESPOND)  # refuse before sending anything
        message = OutgoingMessage(
            destination=destination,
            subject=subject or f"Respuesta a su solicitud {ticket.number}",
            body=body,
            reference=ticket.number,
        )
        failure: DeliveryError | None = None
        try:
            responder.send(message)
        except DeliveryError as err:
            failure = err
        with translated("recording a response"), self._sessions.begin() as session:
            row = self._locked(session, number)
            now = self._clock()
            session.add(
                TicketResponse(
                    ticket_id=row.id,
                    channel=channel,
                    destination=destination[:254],
                    body=body,
                    sent_at=now,
                    actor_id=actor_id,
                    delivered=failure is None,
                    error=None if failure is None else str(failure),
                )
            )
            if failure is None:
                before = TicketStatus(row.status)
                action = TicketAction.RESPOND
                try:
                    row.status = next_status(before, action).value
                except InvalidTransitionError:
                    # Someone changed the ticket while the message was on its
                    # way: it went out, so it is recorded, as a note.
                    action = TicketAction.NOTE
                row.responded_at = row.responded_at or now
                row.updated_at = now
                # The response went by email or SMS: no notice by that means as well.
                heard = Means(channel) if channel in tuple(Means) else None
                self._event(
                    session,
                    row,
                    now,
                    actor_id,
                    action,
                    before,
                    notes=f"via {channel}",
                    heard_by=heard,
                )
                _first_answer(session, row, now, actor_id)
            view = _view(row)
        if failure is not None:
            raise failure
        return view

    def _simple(
        self, number: str, action: TicketAction, actor_id: int | None, notes: str | None
    ) -> TicketView:
        with translated(f"ticket action {action.value}"), self._sessions.begin() as session:
            row = self._locked(session, number)
            before = TicketStatus(row.status)
            after = next_status(before, action)
            now = self._clock()
            row.status = after.value
            row.updated_at = now
            if after is TicketStatus.CERRADA:
                row.closed_at = now
            if action is TicketAction.REOPEN:
                row.closed_at = None
            self._event(session, row, now, actor_id, action, before, notes=notes)
            return _view(row)

    @staticmethod
    def _event(
        session: Session,
        row: Ticket,
        at: datetime,
        actor_id: int | None,
        action: TicketAction,
        before: TicketStatus | None,
        *,
        unit_id: int | None = None,
        referent_id: int | None = None,
        notes: str | None = None,
        heard_by: Means | None = None,
    ) -> None:
        event = TicketEvent(
            ticket_id=row.id,
            at=at,
            actor_id=actor_id,
            action=action.value,
            from_status=None if before is None else before.value,
            to_status=row.status,
            unit_id=unit_id,
            referent_id=referent_id,
            notes=None if notes is None else notes.replace("\x00", ""),
        )
        session.add(event)
        kind = NOTICE_OF_ACTION.get(action)
        if kind is not None:
            session.flush()
            # The person's notice rides in the change's transaction: no change
            # without its notice, no notice of a change rolled back.
            skip = () if heard_by is None else (heard_by,)
            queue_notices(session, row, event.id, kind, at, skip=skip)

    def _locked(self, session: Session, number: str) -> Ticket:
        # FOR UPDATE: two agents acting at once apply one after the other, each
        # checking its transition against the status the other left.
        return _ticket_row(session, number, for_update=True)

    # --------------------------------------------------------------- reads

    def get(self, number: str) -> TicketView | None:
        if parse_number(number) is None:
            return None
        with translated("reading a ticket"), self._sessions() as session:
            row = session.scalars(_by_number(number)).first()
            return None if row is None else _view(row)

    def timeline(self, number: str) -> list[TicketEventView]:
        """Every action on the ticket, oldest first."""
        with translated("reading a ticket timeline"), self._sessions() as session:
            row = _ticket_row(session, number)
            events = session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == row.id)
                .order_by(TicketEvent.at, TicketEvent.id)
            ).all()
            return [_event_view(event) for event in events]

    def responses(self, number: str) -> list[ResponseView]:
        with translated("reading responses"), self._sessions() as session:
            row = _ticket_row(session, number)
            rows = session.scalars(
                select(TicketResponse)
                .where(TicketResponse.ticket_id == row.id)
                .order_by(TicketResponse.sent_at, TicketResponse.id)
            ).all()
            return [response_view(r, row.number) for r in rows]

    def open_for_person(self, person_id: int) -> list[TicketView]:
        """The person's tickets not closed yet, newest first (for the screen-pop)."""
        query = (
            select(Ticket)
            .where(
                Ticket.person_id == person_id,
                Ticket.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        )
        with translated("reading tickets"), self._sessions() as session:
            return [_view(row) for row in session.scalars(query).all()]

    def assigned_to(self, referent_id: int, *, open_only: bool = True) -> list[TicketView]:
        """Tickets derived to the referent or to a unit the referent answers for."""
        units = select(UnitReferent.unit_id).where(UnitReferent.user_id == referent_id)
        query = select(Ticket).where(
            (Ticket.referent_id == referent_id) | Ticket.unit_id.in_(units)
        )
        if open_only:
            query = query.where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        query = query.order_by(Ticket.due_at, Ticket.id)
        with translated("reading tickets"), self._sessions() as session:
            return [_view(row) for row in session.scalars(query).all()]

    def is_assigned(self, number: str, user_id: int) -> bool:
        """The ticket is derived to this user or to a unit this user answers for."""
        query = select(Ticket.id).where(
            Ticket.number == number.strip(),
            (Ticket.referent_id == user_id)
            | Ticket.unit_id.in_(
                select(UnitReferent.unit_id).where(UnitReferent.user_id == user_id)
            ),
        )
        with translated("reading a ticket"), self._sessions() as session:
            return session.scalars(query).first() is not None


def _first_answer(session: Session, ticket: Ticket, at: datetime, actor_id: int | None) -> None:
    """A written request (web, mail) is attended when its first response goes out.

    Its attention (crm_bridge.contacts) waited from arrival until then, which
    is what the per-channel service level measures; calls are the bridge's.
    """
    system = ticket.attention_system
    if system is None or not system.startswith("atiende:") or ticket.attention_linkedid is None:
        return
    row = session.scalars(
        select(Attention).where(
            Attention.system == system, Attention.linkedid == ticket.attention_linkedid
        )
    ).first()
    if row is None or row.answered_at is not None or row.ended_at is not None:
        return
    user = None if actor_id is None else session.get(User, actor_id)
    agent = None if user is None else user.username
    arrived = row.arrived_at if row.arrived_at.tzinfo else row.arrived_at.replace(tzinfo=UTC)
    row.answered_at = at
    row.ended_at = at
    row.wait_seconds = max(0.0, (at - arrived).total_seconds())
    row.talk_seconds = 0.0
    row.outcome = Outcome.ANSWERED.value
    if agent is not None:
        row.agent = agent
        row.agents = [*row.agents, agent]
    row.updated_at = at


def _by_number(number: str) -> Select[Ticket]:
    return select(Ticket).where(Ticket.number == number.strip())


def _ticket_row(session: Session, number: str, *, for_update: bool = False) -> Ticket:
    """The ticket of that number (NotFoundError without one)."""
    query = _by_number(number)
    row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFoundError(f"no ticket {number}")
    return row


def _unit_of(session: Session, unit_id: int, organism_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFoundError(f"no unit {unit_id}")
    if unit.organism_id != organism_id:
        raise InvalidValueError("the unit belongs to another organism")
    return unit
