"""Requests citizens open themselves on the public web form, and their tracking.

A submission becomes one web attention (crm_bridge.contacts: the same
`attentions` table as calls) and one ticket linked to it. What the person
typed is used for this request only, unless the person asked the centre to
keep it in their record (Ley 18.331: "la persona será quien decida cuales
datos desea que sean registrados"):

- the document and the email are kept as salted scrypt verifiers on the
  attention, enough to recognise them on the tracking page and never
  readable back (a cédula has ten million values: a plain hash would not
  hide it);
- an email or phone the person allowed the centre to answer to is kept on
  the attention (caller number, ATIENDE_CONTACT_EMAIL), so the referente's
  response reaches them without a person record;
- with the "keep my data" consent a new person is registered with the
  identification and contact categories; a document already registered links
  the request to that person without changing what their record holds (the
  web form proves nothing about who typed it).

Tracking answers only to the ticket number together with the document or the
email it was opened with (or those of the person it belongs to); a wrong
number and a wrong document look the same to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from citizen import cedula as cedulas
from citizen.channels import Channel
from crm_bridge.contacts import TOPIC_VARIABLE, ContactAttentions
from crm_bridge.db import session_factory
from crm_bridge.exceptions import NotFoundError
from crm_bridge.models import Attention, CatalogTopic, Person, PersonEmail, Ticket, TicketResponse
from crm_bridge.notifications import Means, notify_ticket_opened
from crm_bridge.persons import ConsentCategory, DocumentType, PersonRegistry
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import RequestType, TicketStatus, parse_number
from crm_bridge.tickets import TicketService
from telephony.domain import CallKey

DOCUMENT_VERIFIER = "ATIENDE_DOCUMENT_VERIFIER"
EMAIL_VERIFIER = "ATIENDE_EMAIL_VERIFIER"
CONTACT_EMAIL = "ATIENDE_CONTACT_EMAIL"
NOTICE_VARIABLE = "ATIENDE_NOTICE_VERSION"
# Attention variables hold 200 characters (crm_bridge.contacts).
MAX_EMAIL = 200
MAX_DESCRIPTION = 4000
MAX_NAME = 120

# scrypt at 16 MiB and ~50 ms a try: one ticket's cédula takes days to guess
# offline, a tracking request stays quick.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normal_email(raw: str) -> str | None:
    value = raw.strip().lower()
    if not value or len(value) > MAX_EMAIL or not _EMAIL.match(value):
        return None
    return value


def normal_cedula(raw: str) -> str | None:
    digits = re.sub(r"[.\-\s]", "", raw)
    if not digits.isdigit() or not cedulas.is_valid(digits):
        return None
    return cedulas.normalise(digits)


def make_verifier(value: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(value.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"s1${salt.hex()}${digest.hex()}"


def check_verifier(stored: str | None, value: str) -> bool:
    """`value` is what made `stored`; always does the work, so timing tells nothing."""
    parts = (stored or "").split("$")
    ok_shape = len(parts) == 3 and parts[0] == "s1"
    try:
        salt = bytes.fromhex(parts[1]) if ok_shape else b"\0" * 16
        want = bytes.fromhex(parts[2]) if ok_shape else b"\0" * 32
    except ValueError:
        salt, want, ok_shape = b"\0" * 16, b"\0" * 32, False
    got = hashlib.scrypt(value.encode("utf-8"), salt=salt, **_SCRYPT)
    return hmac.compare_digest(got, want) and ok_shape


@dataclass(frozen=True, slots=True)
class CitizenRequest:
    """A validated submission (the web layer checks and words the errors)."""

    topic_id: int
    request_type: RequestType
    description: str
    given_names: str
    family_names: str
    cedula: str | None  # normalised (normal_cedula)
    email: str | None  # normalised (normal_email)
    phone: str | None  # E.164
    answer_by_email: bool  # the person allows the email to be used to answer
    answer_by_sms: bool
    keep_record: bool  # the person asks the centre to keep their data
    notice_version: str


@dataclass(frozen=True, slots=True)
class Receipt:
    number: str
    attention: CallKey
    person_id: int | None
    acknowledged_by: tuple[str, ...]  # delivery means the acknowledgement was queued for


@dataclass(frozen=True, slots=True)
class PublicResponse:
    at: datetime
    body: str


@dataclass(frozen=True, slots=True)
class TrackedTicket:
    number: str
    status: TicketStatus
    request_type: RequestType
    topic: str
    created_at: datetime
    due_at: datetime | None
    responses: tuple[PublicResponse, ...]
    person_id: int | None
    attention: CallKey | None


@dataclass(frozen=True, slots=True)
class PublicTopic:
    id: int
    name: str


class CitizenRequests:
    """Opens citizens' web requests and finds them again for tracking."""

    def __init__(
        self,
        engine: Engine,
        tickets: TicketService,
        *,
        phone_region: str = "UY",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._tickets = tickets
        self._contacts = ContactAttentions(engine, phone_region=phone_region)
        self._persons = PersonRegistry(engine, phone_region=phone_region)
        self._region = phone_region
        self._clock = clock

    # ------------------------------------------------------------ topics

    def topics(self) -> list[PublicTopic]:
        """Active catalog topics that say which organism answers them."""
        query = (
            select(CatalogTopic.id, CatalogTopic.name)
            .where(CatalogTopic.active.is_(True), CatalogTopic.organism_id.is_not(None))
            .order_by(CatalogTopic.name)
        )
        with translated("reading the catalog"), self._sessions() as session:
            return [PublicTopic(int(i), str(n)) for i, n in session.execute(query).all()]

    def phone(self, raw: str) -> str | None:
        return normalise_number(raw, self._region)

    # ------------------------------------------------------------ submit

    def submit(self, request: CitizenRequest) -> Receipt:
        with translated("reading a topic"), self._sessions() as session:
            topic = session.get(CatalogTopic, request.topic_id)
            if topic is None or not topic.active or topic.organism_id is None:
                raise NotFoundError(f"no public topic {request.topic_id}")
            topic_code, topic_name = topic.code, topic.name
            organism_id, unit_id = topic.organism_id, topic.unit_id
        person_id = self._person_for(request)
        variables = {TOPIC_VARIABLE: topic_code, NOTICE_VARIABLE: request.notice_version}
        if request.cedula:
            variables[DOCUMENT_VERIFIER] = make_verifier(request.cedula)
        if request.email:
            variables[EMAIL_VERIFIER] = make_verifier(request.email)
            if request.answer_by_email:
                variables[CONTACT_EMAIL] = request.email
        name = f"{request.given_names} {request.family_names}".strip()
        now = self._clock()
        key = self._contacts.open(
            Channel.WEB,
            arrived_at=now,
            person_id=person_id,
            caller_number=(request.phone or "") if request.answer_by_sms else "",
            caller_name=name[:MAX_NAME],
            variables=variables,
        )
        ticket = self._tickets.create(
            channel=Channel.WEB,
            request_type=request.request_type,
            topic=topic_name,
            organism_id=organism_id,
            unit_id=unit_id,
            description=request.description,
            person_id=person_id,
            attention=key,
        )
        queued = self.acknowledge(ticket.number, request)
        return Receipt(ticket.number, key, person_id, queued)

    def acknowledge(self, number: str, request: CitizenRequest) -> tuple[str, ...]:
        """Queue the acknowledgement with the number by the means the person ticked
        (crm_bridge.notifications sends it, retrying, in its job)."""
        email = request.email if request.answer_by_email else None
        phone = request.phone if request.answer_by_sms else None
        if email is None and phone is None:
            return ()
        notify_ticket_opened(
            self._engine, number, email=email, phone=phone, phone_region=self._region
        )
        return tuple(m for m, v in (("email", email), ("sms", phone)) if v is not None)

    def _person_for(self, request: CitizenRequest) -> int | None:
        if not request.keep_record or request.cedula is None:
            return None
        # A public form proves nobody's identity: typing someone's cédula or
        # email must not put a request in that person's history. A match is
        # left unlinked (tracking works by the stored verifiers) for an agent
        # to link after checking who wrote it (POST /api/tickets/{n}/person).
        if self._persons.find_by_document(DocumentType.CEDULA, request.cedula) is not None:
            return None
        if request.email and self._email_known(request.email):
            return None
        consents = [ConsentCategory.IDENTIFICATION]
        # "Guardar mi nombre, cédula y contacto": the contacts given are kept too.
        phones = [request.phone] if request.phone else []
        emails = [request.email] if request.email else []
        if phones or emails:
            consents.append(ConsentCategory.CONTACT)
        person = self._persons.register(
            given_names=request.given_names,
            family_names=request.family_names,
            consents=consents,
            document_type=DocumentType.CEDULA,
            document_number=request.cedula,
            phones=phones,
            emails=emails,
            notice_version=request.notice_version,
        )
        return person.id

    def _email_known(self, email: str) -> bool:
        local, _, domain = email.strip().rpartition("@")
        query = select(PersonEmail.person_id).where(
            PersonEmail.address == f"{local}@{domain.lower()}"
        )
        with translated("finding a person by email"), self._sessions() as session:
            return session.scalars(query.limit(1)).first() is not None

    def contact(self, attention: CallKey, channel: str) -> str | None:
        """The address or number a web request's person allowed an answer to go to."""
        with translated("reading a request's contact"), self._sessions() as session:
            row = session.scalars(
                select(Attention).where(
                    Attention.system == attention.system, Attention.linkedid == attention.linkedid
                )
            ).first()
            if row is None:
                return None
            return contact_of(row.variables or {}, row.caller_number or "", channel)

    # ------------------------------------------------------------ track

    def track(self, number: str, identifier: str) -> TrackedTicket | None:
        """The ticket, if `identifier` (a cédula or an email) is the one it was
        opened with or its person's; None otherwise, whichever part was wrong."""
        cedula = normal_cedula(identifier)
        email = None if cedula is not None else normal_email(identifier)
        value = cedula or email or identifier.strip()[:MAX_EMAIL]
        number = number.strip()
        row: Ticket | None = None
        variables: dict[str, str] = {}
        person: Person | None = None
        emails: set[str] = set()
        with translated("tracking a ticket"), self._sessions() as session:
            if parse_number(number) is not None:
                row = session.scalars(select(Ticket).where(Ticket.number == number)).first()
            if row is not None and row.attention_system and row.attention_linkedid:
                attention = session.scalars(
                    select(Attention).where(
                        Attention.system == row.attention_system,
                        Attention.linkedid == row.attention_linkedid,
                    )
                ).first()
                variables = {} if attention is None else dict(attention.variables or {})
            if row is not None and row.person_id is not None:
                person = session.get(Person, row.person_id)
                emails = set(
                    session.scalars(
                        select(PersonEmail.address).where(PersonEmail.person_id == row.person_id)
                    ).all()
                )
            verifier = variables.get(DOCUMENT_VERIFIER if cedula else EMAIL_VERIFIER)
            # Always one scrypt, found or not: the time taken tells nothing.
            matched = check_verifier(verifier, value) and (cedula or email) is not None
            if row is None:
                return None
            if not matched and person is not None:
                if cedula is not None:
                    matched = (
                        person.document_type == DocumentType.CEDULA.value
                        and person.document_number is not None
                        and hmac.compare_digest(person.document_number, cedula)
                    )
                elif email is not None:
                    matched = email in {e.lower() for e in emails}
            if not matched:
                return None
            # Only answers that went to the person (email, SMS): a "log" response is
            # the centre's internal record, never shown to whoever holds the number.
            responses = session.scalars(
                select(TicketResponse)
                .where(
                    TicketResponse.ticket_id == row.id,
                    TicketResponse.delivered.is_(True),
                    TicketResponse.channel.in_([m.value for m in Means]),
                )
                .order_by(TicketResponse.sent_at, TicketResponse.id)
            ).all()
            return TrackedTicket(
                number=row.number,
                status=TicketStatus(row.status),
                request_type=RequestType(row.request_type),
                topic=row.topic,
                created_at=row.created_at,
                due_at=row.due_at,
                responses=tuple(PublicResponse(r.sent_at, r.body) for r in responses),
                person_id=row.person_id,
                attention=(
                    None
                    if row.attention_system is None or row.attention_linkedid is None
                    else CallKey(row.attention_system, row.attention_linkedid)
                ),
            )


def contact_of(variables: Mapping[str, str], caller_number: str, channel: str) -> str | None:
    """Where the person of a web request allowed an answer to go, by delivery means."""
    if channel == "email":
        return variables.get(CONTACT_EMAIL) or None
    if channel == "sms":
        return caller_number or None
    return None
