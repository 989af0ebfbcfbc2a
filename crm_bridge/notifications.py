"""Notices to the person about their tickets: acknowledgement with the number,
derivation, response — only by the means the person consented to.

How a notice travels, so that no ticket change is lost and none is sent twice:

1. The ticket change (crm_bridge.tickets) writes `citizen_notices` rows in its
   own transaction (`queue_notices`): one per consented means, keyed by the
   ticket event it tells about (a second queueing of the same event and means
   is ignored).
2. A periodic job (`CitizenNotices.send_due`, run like the SLA scan: an RQ job
   scheduled by `atiende worker`, or a thread of `atiende serve` without one)
   takes the due rows one at a time (FOR UPDATE SKIP LOCKED: replicas and
   workers never take the same row), re-checks the consent, builds the Spanish
   text and hands it to the means' Responder (crm_bridge.responders).
3. A failure is recorded on the row and retried later with backoff; after the
   last interval the row is "fallida" and stays listed with its error.

Consent: a means is used only while the person holds the CONTACT consent and
the notice consent of that means (avisos_correo, avisos_sms) and has a contact
of that kind; a notice whose consent was withdrawn before it left is
"omitida". Contacts given with consent in the request itself (the public
form, `notify_ticket_opened`) travel on the row as its destination.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_bridge.db import session_factory
from crm_bridge.exceptions import DeliveryError, InvalidValueError, NotFoundError
from crm_bridge.models import (
    CitizenNotice,
    Organism,
    PersonConsent,
    PersonEmail,
    PersonPhone,
    Ticket,
    TicketEvent,
    Unit,
)
from crm_bridge.persons import ConsentCategory, _email
from crm_bridge.phones import normalise_number
from crm_bridge.responders import LogResponder, OutgoingMessage, Responder
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import TicketAction

log = logging.getLogger(__name__)

# Minutes before retry n of a failed notice; after the last one it is "fallida".
DEFAULT_RETRY_MINUTES = (1, 5, 15, 60, 240)
_ERROR_LENGTH = 500


class NoticeKind(StrEnum):
    ACK = "acuse"  # the ticket was opened: here is its number
    DERIVATION = "derivacion"  # handed to a unit / referent
    RESPONSE = "respuesta"  # the ticket was answered


class Means(StrEnum):
    """How a notice reaches the person (a Responder's channel; not an attention channel)."""

    EMAIL = "email"
    SMS = "sms"


class NoticeStatus(StrEnum):
    PENDING = "pendiente"
    SENT = "enviada"
    FAILED = "fallida"  # retries exhausted
    SKIPPED = "omitida"  # no consent or no contact any more when it was due


CONSENT_OF: Mapping[Means, ConsentCategory] = {
    Means.EMAIL: ConsentCategory.NOTICE_EMAIL,
    Means.SMS: ConsentCategory.NOTICE_SMS,
}

# Which notice a ticket action sends (the others send none).
NOTICE_OF_ACTION: Mapping[TicketAction, NoticeKind] = {
    TicketAction.CREATE: NoticeKind.ACK,
    TicketAction.DERIVE: NoticeKind.DERIVATION,
    TicketAction.RESPOND: NoticeKind.RESPONSE,
}


# ------------------------------------------------------------------- texts

_SUBJECTS: Mapping[NoticeKind, str] = {
    NoticeKind.ACK: "Recibimos su solicitud {number}",
    NoticeKind.DERIVATION: "Su solicitud {number} fue derivada",
    NoticeKind.RESPONSE: "Su solicitud {number} fue respondida",
}

_EMAIL_BODIES: Mapping[NoticeKind, str] = {
    NoticeKind.ACK: (
        "Recibimos su solicitud sobre «{topic}».\n\n"
        "Su número de solicitud es {number}. Guárdelo: con él puede consultar "
        "el estado de su solicitud por teléfono o en la web.\n\n"
        "Le avisaremos cuando haya novedades."
    ),
    NoticeKind.DERIVATION: (
        "Su solicitud {number} sobre «{topic}» fue derivada a {where}, "
        "que se encargará de responderle.\n\n"
        "Le avisaremos cuando tenga respuesta."
    ),
    NoticeKind.RESPONSE: (
        "Su solicitud {number} sobre «{topic}» fue respondida.\n\n"
        "Si tiene dudas sobre la respuesta, comuníquese con el centro de "
        "atención indicando el número de su solicitud."
    ),
}

_SMS_BODIES: Mapping[NoticeKind, str] = {
    NoticeKind.ACK: (
        "Recibimos su solicitud. Su número es {number}: guárdelo para consultar su estado."
    ),
    NoticeKind.DERIVATION: "Su solicitud {number} fue derivada a {where} para su respuesta.",
    NoticeKind.RESPONSE: "Su solicitud {number} fue respondida. Consultas: indique el número.",
}

_CLOSING = "\n\n--\nCentro de Atención Ciudadana\nEste es un aviso automático: no lo responda."


def notice_text(
    kind: NoticeKind, means: Means, *, number: str, topic: str, where: str = ""
) -> tuple[str, str]:
    """(subject, body) of a notice, in Spanish; SMS bodies stay short."""
    values = {"number": number, "topic": topic, "where": where or "el organismo responsable"}
    subject = _SUBJECTS[kind].format(**values)
    if means is Means.SMS:
        return subject, _SMS_BODIES[kind].format(**values)
    return subject, _EMAIL_BODIES[kind].format(**values) + _CLOSING


# ------------------------------------------------------- writes in a change


def consented_means(session: Session, person_id: int) -> list[Means]:
    """The means the person allows notices by, and holds a contact for."""
    granted = {
        row.category
        for row in session.scalars(
            select(PersonConsent).where(
                PersonConsent.person_id == person_id, PersonConsent.granted.is_(True)
            )
        )
    }
    if ConsentCategory.CONTACT.value not in granted:
        return []
    out: list[Means] = []
    for means, category in CONSENT_OF.items():
        if category.value not in granted:
            continue
        if _contact(session, person_id, means) is not None:
            out.append(means)
    return out


def _contact(session: Session, person_id: int, means: Means) -> str | None:
    if means is Means.EMAIL:
        return session.scalars(
            select(PersonEmail.address)
            .where(PersonEmail.person_id == person_id)
            .order_by(PersonEmail.id)
            .limit(1)
        ).first()
    return session.scalars(
        select(PersonPhone.number)
        .where(PersonPhone.person_id == person_id)
        .order_by(PersonPhone.id)
        .limit(1)
    ).first()


def queue_notices(
    session: Session,
    ticket: Ticket,
    event_id: int,
    kind: NoticeKind,
    now: datetime,
    *,
    skip: Iterable[Means] = (),
    destinations: Mapping[Means, str] | None = None,
) -> int:
    """Notice rows for a ticket change, in the caller's transaction; how many were added.

    Without `destinations`, one per means the ticket's person consented to
    (none for a ticket without a person); `skip` leaves out means the person
    already heard through (a response sent by email needs no email notice).
    """
    targets: dict[Means, str | None] = {}
    if destinations:
        targets.update(destinations)
    elif ticket.person_id is not None:
        targets.update({m: None for m in consented_means(session, ticket.person_id)})
    for means in skip:
        targets.pop(means, None)
    if not targets:
        return 0
    bind = session.get_bind()
    insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "ticket_id": ticket.id,
            "event_id": event_id,
            "kind": kind.value,
            "means": means.value,
            "destination": destination,
            "status": NoticeStatus.PENDING.value,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for means, destination in targets.items()
    ]
    # The same event told twice by the same means (a retried request, the web
    # form and the service both asking): the first row stands.
    stmt = (
        insert(CitizenNotice)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["event_id", "means"])
        .returning(CitizenNotice.id)
    )
    return len(session.execute(stmt).scalars().all())


def notify_ticket_opened(
    engine: Engine,
    number: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    phone_region: str = "UY",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Queue the acknowledgement (with its number) of ticket `number`; how many were queued.

    For a ticket of a registered person, without `email`/`phone`: by the means
    the person consented to (TicketService.create already queued those; this
    adds nothing then). With `email` and/or `phone`: to those contacts, which
    the caller asserts the person gave *for this purpose* (the public form's
    "avísenme por correo / SMS" boxes) — never pass a contact without that.
    InvalidValueError for an unusable address or number; NotFoundError for an
    unknown ticket. Sending happens later, in the notices job.
    """
    destinations: dict[Means, str] = {}
    if email is not None and email.strip():
        destinations[Means.EMAIL] = _email(email)
    if phone is not None and phone.strip():
        normalised = normalise_number(phone, phone_region)
        if normalised is None:
            raise InvalidValueError("not a valid phone number")
        destinations[Means.SMS] = normalised
    sessions = session_factory(engine)
    with translated("queueing a ticket acknowledgement"), sessions.begin() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number.strip())).first()
        if ticket is None:
            raise NotFoundError(f"no ticket {number}")
        event_id = session.scalars(
            select(TicketEvent.id)
            .where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.action == TicketAction.CREATE.value,
            )
            .order_by(TicketEvent.id)
            .limit(1)
        ).first()
        if event_id is None:
            raise NotFoundError(f"ticket {number} has no creation event")
        return queue_notices(
            session, ticket, event_id, NoticeKind.ACK, clock(), destinations=destinations or None
        )


# ------------------------------------------------------------------ the job


@dataclass(frozen=True, slots=True)
class NoticeView:
    id: int
    ticket_number: str
    kind: NoticeKind
    means: Means
    status: NoticeStatus
    created_at: datetime
    attempts: int
    sent_at: datetime | None
    sent_via: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SendRun:
    sent: int = 0
    retried: int = 0  # failed now, tried again later
    failed: int = 0  # failed for good
    skipped: int = 0


class CitizenNotices:
    """Sends due notices through the responders; lists and counts them."""

    def __init__(
        self,
        engine: Engine,
        *,
        responders: Iterable[Responder] = (),
        fallback: Responder | None = None,
        retry_minutes: Sequence[float] = DEFAULT_RETRY_MINUTES,
        batch_size: int = 50,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`responders` by channel ("email", "sms"); a means without one goes to
        `fallback` (default: the log responder, which delivers nothing and says
        so in `sent_via`), so a centre without SMTP still sees what was due."""
        self._sessions = session_factory(engine)
        self._responders = {r.channel: r for r in responders}
        self._fallback: Responder = fallback or LogResponder()
        self._retry = [timedelta(minutes=m) for m in retry_minutes]
        self._batch = batch_size
        self._clock = clock

    def send_due(self) -> SendRun:
        """Send up to `batch_size` due notices, one transaction each."""
        counts = {"sent": 0, "retried": 0, "failed": 0, "skipped": 0}
        for _ in range(self._batch):
            outcome = self._send_one()
            if outcome is None:
                break
            counts[outcome] += 1
        return SendRun(**counts)

    def _send_one(self) -> str | None:
        now = self._clock()
        query = (
            select(CitizenNotice)
            .where(
                CitizenNotice.status == NoticeStatus.PENDING.value,
                CitizenNotice.next_attempt_at <= now,
            )
            .order_by(CitizenNotice.next_attempt_at, CitizenNotice.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with translated("sending a citizen notice"), self._sessions.begin() as session:
            row = session.scalars(query).first()
            if row is None:
                return None
            ticket = session.get(Ticket, row.ticket_id)
            means = Means(row.means)
            destination = row.destination
            # Consent is checked again now: withdrawn since queueing, nothing leaves.
            if (
                destination is None
                and ticket is not None
                and ticket.person_id is not None
                and means in consented_means(session, ticket.person_id)
            ):
                destination = _contact(session, ticket.person_id, means)
            if ticket is None or destination is None:
                row.status = NoticeStatus.SKIPPED.value
                return "skipped"
            subject, body = notice_text(
                NoticeKind(row.kind),
                means,
                number=ticket.number,
                topic=ticket.topic,
                where=_where(session, ticket),
            )
            responder = self._responders.get(means.value, self._fallback)
            message = OutgoingMessage(
                destination=destination, subject=subject, body=body, reference=ticket.number
            )
            row.attempts += 1
            try:
                responder.send(message)
            except DeliveryError as err:
                row.last_error = f"{type(err).__name__}: {err}"[:_ERROR_LENGTH]
                if row.attempts > len(self._retry):
                    row.status = NoticeStatus.FAILED.value
                    log.warning(
                        "notice %d (%s, ticket %s) failed for good after %d attempts",
                        row.id,
                        row.kind,
                        ticket.number,
                        row.attempts,
                    )
                    return "failed"
                row.next_attempt_at = now + self._retry[row.attempts - 1]
                log.info("notice %d (ticket %s) failed, retried later", row.id, ticket.number)
                return "retried"
            row.status = NoticeStatus.SENT.value
            row.sent_at = now
            row.sent_via = responder.channel
            row.last_error = None
            return "sent"

    def of_ticket(self, number: str) -> list[NoticeView]:
        query = (
            select(CitizenNotice, Ticket.number)
            .join(Ticket, Ticket.id == CitizenNotice.ticket_id)
            .where(Ticket.number == number.strip())
            .order_by(CitizenNotice.id)
        )
        with translated("reading citizen notices"), self._sessions() as session:
            return [_view(row, str(n)) for row, n in session.execute(query).all()]

    def counts(self) -> dict[NoticeStatus, int]:
        """Notices per status (for /metrics)."""
        query = select(CitizenNotice.status, func.count()).group_by(CitizenNotice.status)
        with translated("counting citizen notices"), self._sessions() as session:
            found = {str(s): int(n) for s, n in session.execute(query).all()}
        return {status: found.get(status.value, 0) for status in NoticeStatus}


def _where(session: Session, ticket: Ticket) -> str:
    """The unit (or organism) a ticket is in, by name, for the derivation notice."""
    if ticket.unit_id is not None:
        unit = session.get(Unit, ticket.unit_id)
        if unit is not None:
            return unit.name
    organism = session.get(Organism, ticket.organism_id)
    return "" if organism is None else organism.name


def _view(row: CitizenNotice, number: str) -> NoticeView:
    return NoticeView(
        id=row.id,
        ticket_number=number,
        kind=NoticeKind(row.kind),
        means=Means(row.means),
        status=NoticeStatus(row.status),
        created_at=row.created_at,
        attempts=row.attempts,
        sent_at=row.sent_at,
        sent_via=row.sent_via,
        last_error=row.last_error,
    )


# ------------------------------------------------------------- scheduling

_installed: CitizenNotices | None = None


def install(notices: CitizenNotices) -> None:
    """Give this worker process's `send_citizen_notices` jobs their sender."""
    global _installed
    _installed = notices


def send_citizen_notices() -> int:
    """The RQ job: send the due notices once; returns how many were sent."""
    if _installed is None:
        raise RuntimeError("no CitizenNotices installed in this worker (notifications.install)")
    return _installed.send_due().sent
