"""Channel adapters that carry a ticket's response to the person.

One small interface (Responder.send) with a log adapter (the default: nothing
leaves the machine, the fact is logged without the message or the address)
and an SMTP adapter. Adapters are synchronous: the ticket service runs in a
worker thread (the API hands it off with asyncio.to_thread).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from crm_bridge.exceptions import DeliveryError
from crm_bridge.phones import mask_number

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    destination: str  # an email address, a phone number... as the channel expects
    subject: str
    body: str
    reference: str  # the ticket number, for threading and for the logs


class Responder(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> None:
        """Deliver `message`; DeliveryError when the channel refused or failed."""
        ...


class LogResponder:
    """Records that a response was due; delivers nothing (the embedded default)."""

    channel = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message)
        self._log.info(
            "response to ticket %s logged for %s (%d characters)",
            message.reference,
            mask_number(message.destination),
            len(message.body),
        )


class SmtpResponder:
    """Sends responses as plain-text email through an SMTP relay."""

    channel = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
        local_hostname: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout
        self._local_hostname = local_hostname

    def build(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.destination
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(idstring=message.reference.replace("-", "."))
        email["X-Atiende-Ticket"] = message.reference
        email.set_content(message.body)
        return email

    def send(self, message: OutgoingMessage) -> None:
        try:
            email = self.build(message)
        except (ValueError, TypeError) as err:
            # A header with a newline, an address the policy refuses.
            raise DeliveryError(f"ticket {message.reference}: unusable message ({err})") from err
        try:
            with smtplib.SMTP(
                self._host, self._port, timeout=self._timeout, local_hostname=self._local_hostname
            ) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(email)
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(
                f"ticket {message.reference}: SMTP delivery failed ({type(err).__name__})"
            ) from err
        if refused:
            raise DeliveryError(f"ticket {message.reference}: recipient refused by the relay")
