"""What the IVR needs from the rest of the product, as a small typed Protocol.

The database-backed implementation lives with the attention store; the IVR
only knows this interface. Implementations raise ivr.exceptions.ServicesUnavailable
when they cannot answer (database down); the IVR treats any exception from
them the same way: apology prompt, then an agent.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Protocol

# How many trailing document digits a caller may key to prove who they are.
VERIFY_DIGITS = (3, 4)


@dataclass(frozen=True, slots=True)
class Person:
    """A person known to the attention store."""

    id: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class RequestStatus:
    """The state of a request (solicitud) identified by its number YYYY-NNNNNN.

    `status` is a code among: recibida, en_proceso, derivada, resuelta, cerrada
    (others are read out as an unknown state).
    """

    number: str
    status: str


class IvrServices(Protocol):
    async def find_person_by_cedula(self, cedula: str) -> Person | None:
        """Look a person up by cédula (canonical: 7-digit body + check digit)."""
        ...

    async def find_person_by_phone(self, phone: str) -> Person | None:
        """Look a person up by the number they call from (as Asterisk presents it)."""
        ...

    async def request_status(
        self,
        number: str,
        *,
        caller_phone: str | None = None,
        document_digits: str | None = None,
    ) -> RequestStatus | None:
        """Status of request `number` (YYYY-NNNNNN) for a verified caller only:
        `caller_phone` (as Asterisk presents it) is a phone on record of the
        request's person, or `document_digits` are the last digits of that
        person's document (`document_ends_with`). None otherwise — no such
        request, no person, not verified: the caller is never told which."""
        ...

    async def expected_wait(self, queue: str) -> float:
        """Expected wait in seconds for a caller entering `queue` now."""
        ...

    async def request_callback(self, linkedid: str, number: str, queue: str) -> None:
        """Store a pending attention: call `number` back for `queue` (call `linkedid`)."""
        ...

    async def record_survey(self, linkedid: str, score: int) -> None:
        """Store the caller's 1..5 rating on the attention of call `linkedid`."""
        ...


def document_ends_with(document: str | None, digits: str | None) -> bool:
    """`digits` (3 or 4 keyed digits) are the last digits of `document`'s digits.

    Compared in constant time: the answer must not leak how many matched."""
    if not document or not digits or not digits.isascii() or not digits.isdigit():
        return False
    if len(digits) not in VERIFY_DIGITS:
        return False
    plain = "".join(c for c in document if c.isascii() and c.isdigit())
    if len(plain) < len(digits):
        return False
    return hmac.compare_digest(plain[-len(digits) :], digits)
