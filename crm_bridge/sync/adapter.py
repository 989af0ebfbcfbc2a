"""What every CRM adapter offers, the values it receives, and the errors it raises.

Adapters make each call idempotent on a deterministic external key: given the
CRM id from an earlier success they update; without it they look the key up
before creating. A job that dies after the CRM created a record but before
its id was stored therefore finds that record instead of creating another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crm_bridge.sync.exceptions import (
    CrmError,
    CrmProtocolError,
    CrmRejectedError,
    CrmUnavailableError,
    SyncBusyError,
)

__all__ = [
    "AttentionData",
    "ContactData",
    "CrmAdapter",
    "CrmError",
    "CrmProtocolError",
    "CrmRejectedError",
    "CrmUnavailableError",
    "SyncBusyError",
    "TicketData",
    "WrapupData",
    "attention_key",
    "person_key",
    "ticket_key",
    "wrapup_key",
]


def person_key(person_id: int) -> str:
    """The external key of a person in every CRM."""
    return f"atiende-person-{person_id}"


def attention_key(system: str, linkedid: str) -> str:
    """The external key of a call: hashed so any system name or linkedid is query-safe."""
    digest = hashlib.sha256(f"{system}\x00{linkedid}".encode()).hexdigest()[:32]
    return f"atiende-call-{digest}"


def wrapup_key(system: str, linkedid: str) -> str:
    """The external key of a call's wrap-up (one per call)."""
    digest = hashlib.sha256(f"{system}\x00{linkedid}".encode()).hexdigest()[:32]
    return f"atiende-wrapup-{digest}"


def ticket_key(number: str) -> str:
    """The external key of a ticket: its number (YYYY-NNNNNN) is unique and query-safe."""
    return f"atiende-ticket-{number}"


@dataclass(frozen=True, slots=True)
class ContactData:
    """A person as sent to the CRM (only what the person consented to keep)."""

    external_key: str
    given_names: str
    family_names: str
    document_type: str | None = None
    document_number: str | None = None
    phones: tuple[str, ...] = ()  # E.164
    emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttentionData:
    """One call as sent to the CRM."""

    external_key: str
    channel: str
    caller_number: str | None  # E.164, or None (withheld or anonymised)
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    queue: str | None
    agent: str | None
    outcome: str
    wait_seconds: float | None
    talk_seconds: float | None
    contact_crm_id: str | None = None  # the person's record in this CRM, if known


@dataclass(frozen=True, slots=True)
class WrapupData:
    """A call's finished wrap-up, sent as a note on the call's CRM record."""

    external_key: str
    call_crm_id: str  # the call's record in this CRM (synced first)
    attention_type: str  # consulta, tramite, sugerencia, queja, reclamo
    resolution: str  # resuelta, derivada, pendiente
    topic: str | None  # the catalogue topic's name
    notes: str
    ticket_number: str | None
    follow_up_at: datetime | None
    agent: str | None  # the agent's display name
    wrapped_up_at: datetime
    contact_crm_id: str | None = None


@dataclass(frozen=True, slots=True)
class TicketData:
    """A ticket (solicitud), sent as the CRM's trouble ticket."""

    external_key: str
    number: str
    request_type: str
    status: str  # crm_bridge.ticket_rules.TicketStatus values
    channel: str
    topic: str
    description: str
    organism: str  # "CODE Name"
    unit: str | None
    created_at: datetime
    due_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    call_crm_id: str | None = None  # the call it came from, if synced
    contact_crm_id: str | None = None


class CrmAdapter(Protocol):
    """One CRM. Methods block (jobs run in worker threads or processes)."""

    @property
    def name(self) -> str:
        """Short stable name: the key of the stored CRM ids (crm_links.adapter)."""
        ...

    def sync_contact(self, contact: ContactData, known_id: str | None) -> str:
        """Create or update the contact; returns its CRM id."""
        ...

    def sync_attention(self, attention: AttentionData, known_id: str | None) -> str:
        """Create or update the call record; returns its CRM id."""
        ...

    def sync_wrapup(self, wrapup: WrapupData, known_id: str | None) -> str:
        """Create or update the wrap-up's note on the call; returns the note's CRM id."""
        ...

    def sync_ticket(self, ticket: TicketData, known_id: str | None) -> str:
        """Create or update the ticket; returns its CRM id."""
        ...

    def erase_contact(self, external_key: str, known_id: str | None) -> None:
        """Delete the contact (a deletion request); absent is fine."""
        ...

    def find_contact_by_phone(self, phone: str) -> list[str]:
        """CRM ids of the contacts holding this E.164 number."""
        ...

    def close(self) -> None: ...
