"""Channel adapters that carry a ticket's response to the person.

One small interface (Responder.send) with a log adapter (the default: nothing
leaves the machine, the fact is logged without the message or the address),
an SMTP adapter and an SMS adapter for HTTP gateways. Adapters are
synchronous: the ticket service runs in a worker thread (the API hands it off
with asyncio.to_thread).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from crm_bridge.exceptions import DeliveryError
from crm_bridge.phones import mask_number, normalise_number

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    destination: str  # an email address, a phone number... as the channel expects
    subject: str
    body: str
    reference: str  # the ticket number, for threading and for the logs
    # Email only (ThreadedEmailResponder fills them): the mailbox it goes out
    # from, its own Message-ID, and the ids that keep the citizen's thread.
    sender: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


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

    @property
    def sender(self) -> str:
        return self._sender

    def build(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = message.sender or self._sender
        email["To"] = message.destination
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = message.message_id or make_msgid(
            idstring=message.reference.replace("-", ".")
        )
        if message.in_reply_to:
            email["In-Reply-To"] = message.in_reply_to
        if message.references:
            email["References"] = " ".join(message.references)
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


class SmsHttpResponder:
    """Sends responses as SMS through an HTTP gateway.

    POSTs JSON {"to": E.164 number, "from": sender, "text": body, "reference":
    ticket number} to `url`, with a bearer token when given. Any 2xx is a
    delivery; anything else, or no answer, is a DeliveryError. Gateways that
    want another body shape get a small subclass overriding `payload`.
    """

    channel = "sms"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        sender: str | None = None,
        phone_region: str = "UY",
        timeout: float = 10.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the SMS gateway URL must be http:// or https://")
        self._url = url
        self._token = token
        self._sender = sender
        self._region = phone_region
        self._timeout = timeout

    def payload(self, number: str, message: OutgoingMessage) -> dict[str, str]:
        body = {"to": number, "text": message.body, "reference": message.reference}
        if self._sender:
            body["from"] = self._sender
        return body

    def send(self, message: OutgoingMessage) -> None:
        number = normalise_number(message.destination, self._region)
        if number is None:
            raise DeliveryError(f"ticket {message.reference}: not a phone number")
        data = json.dumps(self.payload(number, message)).encode("utf-8")
        request = urllib.request.Request(
            self._url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as err:
            raise DeliveryError(
                f"ticket {message.reference}: SMS gateway answered HTTP {err.code}"
            ) from err
        except (urllib.error.URLError, OSError) as err:
            raise DeliveryError(
                f"ticket {message.reference}: SMS gateway unreachable ({type(err).__name__})"
            ) from err
        if not 200 <= status < 300:
            raise DeliveryError(f"ticket {message.reference}: SMS gateway answered HTTP {status}")
