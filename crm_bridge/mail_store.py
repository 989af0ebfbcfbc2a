"""The email threads of tickets: messages by Message-ID, attachments, threaded replies.

`MailThreads` keeps every message of a ticket's conversation (in and out) in
`mail_messages`, keyed by Message-ID: the intake asks it whether a message
was already handled and which ticket an answer belongs to; replies ask it
which headers keep the thread. `ThreadedEmailResponder` is the ticket
service's "email" responder: it sends through the SmtpResponder with the
mailbox's address as sender and In-Reply-To/References pointing at the
citizen's last message, then records its own Message-ID so the citizen's
answer to it finds the ticket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import make_msgid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm_bridge.contacts import ContactAttentions
from crm_bridge.db import session_factory
from crm_bridge.exceptions import NotFoundError, RecordRejectedError
from crm_bridge.mail_rules import Attachment, references_for
from crm_bridge.models import MailMessage, Ticket, TicketAttachment
from crm_bridge.responders import OutgoingMessage, SmtpResponder
from crm_bridge.store_access import translated
from telephony.domain import CallKey

# mail_messages.kind
NEW = "nuevo"  # the message that opened the ticket
ANSWER = "respuesta"  # the citizen's later message on the same ticket
REPLY = "envio"  # what the centre sent
BOUNCE = "rebote"
AUTO_REPLY = "automatica"
PENDING = "recibiendo"  # claimed by the intake, not finished (resumed on the next read)
IN, OUT = "in", "out"


@dataclass(frozen=True, slots=True)
class MailRecord:
    id: int
    message_id: str
    direction: str
    kind: str
    mailbox: str
    ticket_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """What a reply on a ticket needs to stay in the citizen's thread."""

    ticket_number: str
    mailbox: str
    address: str  # the citizen's
    subject: str  # of the message that opened it
    last_in: str | None  # the citizen's latest Message-ID
    message_ids: tuple[str, ...]  # the whole conversation, oldest first
    attention: CallKey | None = None  # the contact the thread opened


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    id: int
    filename: str
    content_type: str
    size: int
    created_at: datetime


def _record(row: MailMessage) -> MailRecord:
    return MailRecord(
        row.id, row.message_id, row.direction, row.kind, row.mailbox, row.ticket_id, row.at
    )


class MailThreads:
    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    # ----------------------------------------------------------------- reads

    def seen(self, message_id: str) -> MailRecord | None:
        with translated("reading a mail message"), self._sessions() as session:
            row = session.scalars(
                select(MailMessage).where(MailMessage.message_id == message_id)
            ).first()
            return None if row is None else _record(row)

    def ticket_answered(self, message_ids: Sequence[str]) -> str | None:
        """The number of the ticket one of `message_ids` belongs to (first found wins)."""
        if not message_ids:
            return None
        with translated("reading mail threads"), self._sessions() as session:
            rows = session.execute(
                select(MailMessage.message_id, Ticket.number)
                .join(Ticket, Ticket.id == MailMessage.ticket_id)
                .where(MailMessage.message_id.in_(list(message_ids)))
            ).all()
        found = {message_id: number for message_id, number in rows}
        return next((found[m] for m in message_ids if m in found), None)

    def addresses(self, ticket_number: str) -> set[str]:
        """The addresses the citizen wrote from on this ticket."""
        with translated("reading mail threads"), self._sessions() as session:
            rows = session.scalars(
                select(MailMessage.address)
                .join(Ticket, Ticket.id == MailMessage.ticket_id)
                .where(Ticket.number == ticket_number, MailMessage.direction == IN)
            ).all()
        return {a for a in rows if a}

    def thread(self, ticket_number: str) -> ThreadInfo | None:
        with translated("reading a mail thread"), self._sessions() as session:
            ticket = session.scalars(select(Ticket).where(Ticket.number == ticket_number)).first()
            attention = (
                None
                if ticket is None
                or ticket.attention_system is None
                or ticket.attention_linkedid is None
                else CallKey(ticket.attention_system, ticket.attention_linkedid)
            )
            rows = session.scalars(
                select(MailMessage)
                .join(Ticket, Ticket.id == MailMessage.ticket_id)
                .where(Ticket.number == ticket_number)
                .order_by(MailMessage.at, MailMessage.id)
            ).all()
        incoming = [r for r in rows if r.direction == IN and r.address]
        if not incoming:
            return None
        first, last = incoming[0], incoming[-1]
        return ThreadInfo(
            ticket_number=ticket_number,
            mailbox=first.mailbox,
            address=last.address or "",
            subject=first.subject,
            last_in=last.message_id,
            message_ids=tuple(r.message_id for r in rows),
            attention=attention,
        )

    def messages(self, ticket_number: str) -> list[MailRecord]:
        with translated("reading a mail thread"), self._sessions() as session:
            rows = session.scalars(
                select(MailMessage)
                .join(Ticket, Ticket.id == MailMessage.ticket_id)
                .where(Ticket.number == ticket_number)
                .order_by(MailMessage.at, MailMessage.id)
            ).all()
            return [_record(r) for r in rows]

    # ---------------------------------------------------------------- writes

    def claim(
        self,
        message_id: str,
        *,
        mailbox: str,
        kind: str,
        address: str | None,
        subject: str,
        body: str,
        direction: str = IN,
        ticket_number: str | None = None,
    ) -> MailRecord | None:
        """Record a message; None if its Message-ID is already there (handled before)."""
        try:
            return self._claim(
                message_id,
                mailbox=mailbox,
                kind=kind,
                address=address,
                subject=subject,
                body=body,
                direction=direction,
                ticket_number=ticket_number,
            )
        except RecordRejectedError:
            # Another reader claimed it between the check and the insert (the
            # unique Message-ID decides); anything else it rejects stays an error.
            if self.seen(message_id) is not None:
                return None
            raise

    def _claim(
        self,
        message_id: str,
        *,
        mailbox: str,
        kind: str,
        address: str | None,
        subject: str,
        body: str,
        direction: str,
        ticket_number: str | None,
    ) -> MailRecord | None:
        with translated("recording a mail message"), self._sessions.begin() as session:
            if session.scalars(
                select(MailMessage.id).where(MailMessage.message_id == message_id)
            ).first():
                return None
            row = MailMessage(
                message_id=message_id,
                direction=direction,
                kind=kind,
                mailbox=mailbox[:64],
                ticket_id=None if ticket_number is None else _ticket_id(session, ticket_number),
                address=None if address is None else address[:254],
                subject=subject[:300],
                body=body.replace("\x00", ""),
                at=self._clock(),
            )
            session.add(row)
            session.flush()
            return _record(row)

    def complete(
        self,
        record_id: int,
        *,
        kind: str,
        ticket_number: str | None,
        attachments: Iterable[Attachment] = (),
    ) -> None:
        """The claimed message handled: its kind, its ticket and its kept files."""
        with translated("recording a mail message"), self._sessions.begin() as session:
            row = session.get(MailMessage, record_id)
            if row is None:
                raise NotFoundError(f"no mail message {record_id}")
            row.kind = kind
            if ticket_number is not None:
                row.ticket_id = _ticket_id(session, ticket_number)
                now = self._clock()
                for item in attachments:
                    session.add(
                        TicketAttachment(
                            ticket_id=row.ticket_id,
                            mail_message_id=row.id,
                            filename=item.filename[:200],
                            content_type=item.content_type[:100],
                            size=item.size,
                            data=item.data,
                            created_at=now,
                        )
                    )

    # ----------------------------------------------------------- attachments

    def attachments(self, ticket_number: str) -> list[AttachmentInfo]:
        query = (
            select(
                TicketAttachment.id,
                TicketAttachment.filename,
                TicketAttachment.content_type,
                TicketAttachment.size,
                TicketAttachment.created_at,
            )
            .join(Ticket, Ticket.id == TicketAttachment.ticket_id)
            .where(Ticket.number == ticket_number)
            .order_by(TicketAttachment.id)
        )
        with translated("reading attachments"), self._sessions() as session:
            return [AttachmentInfo(*row) for row in session.execute(query).all()]

    def attachment(self, ticket_number: str, attachment_id: int) -> tuple[AttachmentInfo, bytes]:
        """One file of the ticket (NotFoundError if it is another ticket's)."""
        query = (
            select(TicketAttachment)
            .join(Ticket, Ticket.id == TicketAttachment.ticket_id)
            .where(Ticket.number == ticket_number, TicketAttachment.id == attachment_id)
        )
        with translated("reading an attachment"), self._sessions() as session:
            row = session.scalars(query).first()
            if row is None:
                raise NotFoundError(f"no attachment {attachment_id} on ticket {ticket_number}")
            info = AttachmentInfo(row.id, row.filename, row.content_type, row.size, row.created_at)
            return info, bytes(row.data)


def _ticket_id(session: Session, number: str) -> int:
    found = session.scalars(select(Ticket.id).where(Ticket.number == number)).first()
    if found is None:
        raise NotFoundError(f"no ticket {number}")
    return found


def reply_subject(subject: str, ticket_number: str) -> str:
    """ "Re: <their subject> [Solicitud N]": the number lets an answer find the ticket
    even from a mail program that drops In-Reply-To."""
    base = subject.strip() or "Su solicitud"
    while base[:3].lower() == "re:":
        base = base[3:].strip()
    tag = f"[Solicitud {ticket_number}]"
    if tag not in base:
        base = f"{base} {tag}"
    return f"Re: {base}"[:300]


class ThreadedEmailResponder:
    """The "email" responder: SMTP replies that stay in the citizen's thread.

    A ticket with no email thread (opened by phone, say) gets a plain message
    from the default sender, still recorded so that an answer to it lands on
    the ticket.
    """

    channel = "email"

    def __init__(
        self,
        smtp: SmtpResponder,
        threads: MailThreads,
        *,
        contacts: ContactAttentions | None = None,
        mailbox_addresses: dict[str, str] | None = None,
        default_mailbox: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._smtp = smtp
        self._threads = threads
        self._contacts = contacts
        self._clock = clock
        self._addresses = dict(mailbox_addresses or {})
        self._default = default_mailbox

    def send(self, message: OutgoingMessage) -> None:
        thread = self._threads.thread(message.reference)
        mailbox = self._default if thread is None else thread.mailbox
        sender = self._addresses.get(mailbox) or self._smtp.sender
        domain = sender.rpartition("@")[2] or None
        outgoing = replace(
            message,
            sender=sender,
            message_id=make_msgid(idstring=message.reference.replace("-", "."), domain=domain),
        )
        if thread is not None:
            answered = thread.last_in
            outgoing = replace(
                outgoing,
                subject=reply_subject(thread.subject, thread.ticket_number),
                in_reply_to=answered,
                references=tuple(references_for(thread.message_ids)),
            )
        self._smtp.send(outgoing)
        assert outgoing.message_id is not None
        try:
            self._threads.claim(
                outgoing.message_id,
                mailbox=mailbox,
                kind=REPLY,
                address=message.destination,
                subject=outgoing.subject,
                body=message.body,
                direction=OUT,
                ticket_number=message.reference,
            )
        except NotFoundError:
            return  # not about a ticket (a notice): nothing to thread
        if thread is not None and thread.attention is not None and self._contacts is not None:
            # The email contact is attended when the centre first answers it:
            # its wait is the time to that first reply (closing twice is a no-op).
            now = self._clock()
            self._contacts.answer(thread.attention, agent=f"correo:{mailbox}", at=now)
            self._contacts.close(thread.attention, at=now)
