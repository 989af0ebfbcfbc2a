"""Email intake: each configured mailbox is read over IMAP; mail becomes tickets.

A person's NEW thread opens an attention (channel correo, through
ContactAttentions like every non-phone contact) and a ticket in the mailbox's
organism and unit, linked to the person whose registered email wrote it (or
left unlinked for an agent when nobody or several people hold it). A message
answering the thread (In-Reply-To/References naming one of its messages, or
the ticket number in the subject when the sender is the ticket's) lands on
the same ticket: a note, reopening it if it was answered. Bounces and
automatic replies are recorded and make nothing.

Idempotent by Message-ID (crm_bridge.mail_store): a message is claimed in
the store before anything is made, so reading it again (a crash before the
IMAP \\Seen flag, two copies delivered) changes nothing; a claim left half
done is finished on the next read.

Everything here is synchronous (imaplib and the store): `atiende serve` runs
`poll` in a worker thread (crm_bridge.sync.sla_alerts.PeriodicScan), never
on the event loop. Logs name mailboxes and counts, never addresses or text.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import imaplib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from enum import StrEnum
from typing import Literal

from sqlalchemy import Engine, select

from citizen.channels import Channel
from crm_bridge.contacts import TOPIC_VARIABLE, ContactAttentions
from crm_bridge.db import session_factory
from crm_bridge.exceptions import CrmBridgeError, NotFoundError
from crm_bridge.mail_rules import (
    Attachment,
    AttachmentPolicy,
    MailKind,
    attachments,
    body_text,
    classify,
    header,
    normalise_message_id,
    sender_of,
    subject_of,
    thread_of,
)
from crm_bridge.mail_store import (
    ANSWER,
    AUTO_REPLY,
    BOUNCE,
    NEW,
    OUT,
    PENDING,
    MailRecord,
    MailThreads,
)
from crm_bridge.models import Organism, PersonConsent, PersonEmail, Unit
from crm_bridge.persons import ConsentCategory
from crm_bridge.store_access import translated
from crm_bridge.ticket_rules import RequestType
from crm_bridge.tickets import TicketService

log = logging.getLogger(__name__)

# A message bigger than this is not fetched (it could not be kept anyway).
MAX_MESSAGE_BYTES = 40 * 1024 * 1024
MAILBOX_VARIABLE = "ATIENDE_MAILBOX"
# A claim still unfinished after this long was left by a pass that died;
# younger ones may be another replica's pass at work.
STALE_CLAIM = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Mailbox:
    """One organism's or unit's mailbox as the intake reads it."""

    name: str  # short, for logs and the store (never the address)
    address: str  # what replies are sent from
    organism: str  # organism code
    host: str
    username: str
    password: str = field(repr=False)
    port: int = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"
    folder: str = "INBOX"
    unit: str | None = None  # unit code within the organism
    request_type: RequestType = RequestType.CONSULTA
    timeout: float = 30.0


class Outcome(StrEnum):
    NEW_TICKET = "nuevo"
    ANSWER = "respuesta"
    BOUNCE = "rebote"
    AUTO_REPLY = "automatica"
    DUPLICATE = "repetido"


@dataclass(frozen=True, slots=True)
class MailStats:
    """Totals since start, per mailbox name, for /metrics."""

    messages: dict[tuple[str, str], int]  # (mailbox, outcome) -> count
    read_failures: dict[str, int]
    last_read: dict[str, float]  # mailbox -> Unix time of its last complete pass


@dataclass
class PollReport:
    counts: dict[str, int] = field(default_factory=dict)
    failed_mailboxes: list[str] = field(default_factory=list)
    failed_messages: int = 0

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.value] = self.counts.get(outcome.value, 0) + 1


class ImapSource:
    """Unseen messages of one IMAP folder; flagged \\Seen once handled."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._box = mailbox
        self._client: imaplib.IMAP4 | None = None

    def __enter__(self) -> ImapSource:
        box = self._box
        context = ssl.create_default_context()
        client: imaplib.IMAP4
        if box.security == "ssl":
            client = imaplib.IMAP4_SSL(box.host, box.port, ssl_context=context, timeout=box.timeout)
        else:
            client = imaplib.IMAP4(box.host, box.port, timeout=box.timeout)
            if box.security == "starttls":
                client.starttls(ssl_context=context)
        self._client = client
        client.login(box.username, box.password)
        status, _ = client.select(_quoted(box.folder))
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot open folder of mailbox {box.name}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                self._client.logout()
            self._client = None

    def unseen(self) -> Iterator[tuple[str, bytes | None]]:
        """(uid, raw message) of each unseen message; raw None when too big."""
        client = self._require()
        _, data = client.uid("SEARCH", "UNSEEN")
        for uid in (data[0] or b"").decode("ascii", "replace").split():
            _, sizes = client.uid("FETCH", uid, "(RFC822.SIZE)")
            size = _size_of(sizes)
            if size is not None and size > MAX_MESSAGE_BYTES:
                yield uid, None
                continue
            _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if raw is not None:
                yield uid, raw

    def mark_seen(self, uid: str) -> None:
        self._require().uid("STORE", uid, "+FLAGS", "(\\Seen)")

    def _require(self) -> imaplib.IMAP4:
        if self._client is None:
            raise RuntimeError("ImapSource used outside its with block")
        return self._client


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _size_of(parts: list[object]) -> int | None:
    for part in parts:
        text = part[0] if isinstance(part, tuple) else part
        if isinstance(text, bytes) and b"RFC822.SIZE" in text:
            try:
                return int(text.split(b"RFC822.SIZE")[1].strip(b" )").split()[0])
            except (ValueError, IndexError):
                return None
    return None


class MailIntake:
    """Reads the mailboxes and turns mail into attentions, tickets and ticket notes."""

    def __init__(
        self,
        engine: Engine,
        *,
        tickets: TicketService,
        contacts: ContactAttentions,
        threads: MailThreads,
        mailboxes: list[Mailbox],
        policy: AttachmentPolicy | None = None,
        source: Callable[[Mailbox], ImapSource] = ImapSource,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._tickets = tickets
        self._contacts = contacts
        self._threads = threads
        self._mailboxes = list(mailboxes)
        self._policy = policy or AttachmentPolicy()
        self._source = source
        self._clock = clock
        # Written by the polling thread, read by the metrics thread.
        self._stats_lock = threading.Lock()
        self._messages: dict[tuple[str, str], int] = {}
        self._read_failures: dict[str, int] = {}
        self._last_read: dict[str, float] = {}

    def stats(self) -> MailStats:
        with self._stats_lock:
            return MailStats(dict(self._messages), dict(self._read_failures), dict(self._last_read))

    def _count(self, box: Mailbox, outcome: Outcome | None) -> None:
        with self._stats_lock:
            if outcome is None:
                self._read_failures[box.name] = self._read_failures.get(box.name, 0) + 1
            else:
                key = (box.name, outcome.value)
                self._messages[key] = self._messages.get(key, 0) + 1

    @property
    def mailboxes(self) -> list[Mailbox]:
        return list(self._mailboxes)

    def poll(self) -> PollReport:
        """One pass over every mailbox; a mailbox that fails is logged and skipped."""
        report = PollReport()
        for box in self._mailboxes:
            try:
                with self._source(box) as source:
                    for uid, raw in source.unseen():
                        if raw is None:
                            log.warning(
                                "mailbox %s: a message over the size limit left unread", box.name
                            )
                            continue
                        try:
                            outcome = self.handle(box, raw)
                        except CrmBridgeError as err:
                            # Left unseen: the next pass resumes it (its claim says so).
                            report.failed_messages += 1
                            log.warning("mailbox %s: a message not handled: %s", box.name, err)
                            continue
                        report.add(outcome)
                        self._count(box, outcome)
                        # Only after the store has it: a crash in between reads it again,
                        # and the Message-ID makes that harmless.
                        source.mark_seen(uid)
                with self._stats_lock:
                    self._last_read[box.name] = time.time()
            except (imaplib.IMAP4.error, OSError) as err:
                self._count(box, None)
                report.failed_mailboxes.append(box.name)
                log.warning("mailbox %s: IMAP read failed (%s)", box.name, type(err).__name__)
        if report.counts:
            log.info(
                "mail intake: %s", ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
            )
        return report

    # ---------------------------------------------------------------- one message

    def handle(self, box: Mailbox, raw: bytes) -> Outcome:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        thread = thread_of(message)
        # No Message-ID (rare, but legal): the content's hash stands in, so
        # the same message read twice is still the same.
        message_id = thread.message_id or normalise_message_id(
            f"<sha256.{hashlib.sha256(raw).hexdigest()}@atiende.invalid>"
        )
        assert message_id is not None
        kind = classify(message)
        name, address = sender_of(message)
        subject = subject_of(message)
        text = body_text(message)
        pending = {
            MailKind.PERSON: PENDING,
            MailKind.BOUNCE: BOUNCE,
            MailKind.AUTO_REPLY: AUTO_REPLY,
        }[kind]
        record = self._threads.claim(
            message_id,
            mailbox=box.name,
            kind=pending,
            address=address or None,
            subject=subject,
            body=text if kind is MailKind.PERSON else "",
        )
        if record is None:
            previous = self._threads.seen(message_id)
            if (
                previous is None
                or previous.kind != PENDING
                or previous.direction == OUT
                or self._clock() - previous.at < STALE_CLAIM
            ):
                # Handled, or being handled right now (another replica's pass).
                return Outcome.DUPLICATE
            record = previous  # a claim a crash left half done long ago: finish it
        if kind is MailKind.BOUNCE:
            self._bounced(message)
            return Outcome.BOUNCE
        if kind is MailKind.AUTO_REPLY:
            return Outcome.AUTO_REPLY
        number = self._answered_ticket(thread.answers, thread.ticket_number, address)
        kept, refused = attachments(message, self._policy)
        if number is not None:
            self._answer(number, text, kept, refused)
            self._threads.complete(record.id, kind=ANSWER, ticket_number=number, attachments=kept)
            return Outcome.ANSWER
        number = self._new_ticket(box, record, name, address, subject, text, refused, message)
        self._threads.complete(record.id, kind=NEW, ticket_number=number, attachments=kept)
        return Outcome.NEW_TICKET

    def _answered_ticket(
        self, answers: tuple[str, ...], number_in_subject: str | None, address: str
    ) -> str | None:
        number = self._threads.ticket_answered(answers)
        if number is not None:
            return number
        if number_in_subject is None or not address:
            return None
        # A ticket number alone is guessable: it threads only mail from an
        # address that already wrote on that ticket or is its person's.
        ticket = self._tickets.get(number_in_subject)
        if ticket is None:
            return None
        if address in self._threads.addresses(ticket.number):
            return ticket.number
        if ticket.person_id is not None and ticket.person_id in self._persons_with(address):
            return ticket.number
        return None

    def _answer(
        self,
        number: str,
        text: str,
        kept: list[Attachment],
        refused: list[tuple[str, str]],
    ) -> None:
        notes = "Mensaje de la persona por correo electrónico:\n" + (text or "(sin texto)")
        if kept:
            notes += f"\n[{len(kept)} adjunto(s) guardado(s)]"
        notes += _refused_note(refused)
        self._tickets.citizen_message(number, notes=notes)

    def _new_ticket(
        self,
        box: Mailbox,
        record: MailRecord,
        name: str,
        address: str,
        subject: str,
        text: str,
        refused: list[tuple[str, str]],
        message: Message,
    ) -> str:
        organism_id, unit_id = self._place(box)
        persons = self._persons_with(address) if address else []
        # Several people share the address (a family's): an agent decides.
        person_id = persons[0] if len(persons) == 1 else None
        arrived = self._clock()
        key = self._contacts.open(
            Channel.CORREO,
            arrived_at=arrived,
            person_id=person_id,
            caller_name=name,
            variables={MAILBOX_VARIABLE: box.name, TOPIC_VARIABLE: subject[:200]},
        )
        description = text or "(mensaje sin texto)"
        description += _refused_note(refused)
        ticket = self._tickets.create(
            channel=Channel.CORREO,
            request_type=box.request_type,
            topic=subject or "Consulta por correo electrónico",
            organism_id=organism_id,
            unit_id=unit_id,
            description=description,
            person_id=person_id,
            attention=key,
        )
        return ticket.number

    def _bounced(self, message: Message) -> None:
        """A bounce of one of our replies: said on the ticket, nothing else made."""
        for part in message.walk():
            if part.get_content_type() not in ("text/rfc822-headers", "message/rfc822"):
                continue
            original: Message
            if part.get_content_type() == "message/rfc822":
                inner = part.get_payload()
                if not (isinstance(inner, list) and inner and isinstance(inner[0], Message)):
                    continue
                original = inner[0]
            else:
                raw = part.get_payload(decode=True)
                if not isinstance(raw, bytes):
                    continue
                original = email.message_from_bytes(raw, policy=email.policy.default)
            sent = normalise_message_id(header(original, "Message-ID"))
            if sent is None:
                continue
            previous = self._threads.seen(sent)
            if previous is None or previous.direction != OUT or previous.ticket_id is None:
                continue
            number = self._threads.ticket_answered([sent])
            if number is not None:
                self._tickets.add_note(
                    number,
                    actor_id=None,
                    notes="La respuesta por correo electrónico no pudo entregarse (rebote).",
                )
            return

    # ----------------------------------------------------------------- lookups

    def _place(self, box: Mailbox) -> tuple[int, int | None]:
        with translated("reading the mailbox's organism"), self._sessions() as session:
            organism = session.scalars(
                select(Organism.id).where(Organism.code == box.organism)
            ).first()
            if organism is None:
                raise NotFoundError(f"mailbox {box.name}: no organism {box.organism!r}")
            if box.unit is None:
                return organism, None
            unit = session.scalars(
                select(Unit.id).where(Unit.organism_id == organism, Unit.code == box.unit)
            ).first()
            if unit is None:
                raise NotFoundError(f"mailbox {box.name}: no unit {box.unit!r}")
            return organism, unit

    def _persons_with(self, address: str) -> list[int]:
        """Persons holding this email with their consent to keep contact data."""
        local, _, domain = address.rpartition("@")
        query = (
            select(PersonEmail.person_id)
            .join(
                PersonConsent,
                (PersonConsent.person_id == PersonEmail.person_id)
                & (PersonConsent.category == ConsentCategory.CONTACT.value)
                & PersonConsent.granted,
            )
            .where(PersonEmail.address == f"{local}@{domain.lower()}")
            .distinct()
        )
        with translated("finding a person by email"), self._sessions() as session:
            return sorted(session.scalars(query).all())


def _refused_note(refused: list[tuple[str, str]]) -> str:
    if not refused:
        return ""
    lines = "\n".join(f"- {name}: {reason}" for name, reason in refused)
    return "\n\nAdjuntos no guardados:\n" + lines
