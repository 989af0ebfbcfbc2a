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
    "attention_key",
    "person_key",
]


def person_key(person_id: int) -> str:
    """The external key of a person in every CRM."""
    return f"atiende-person-{person_id}"


def attention_key(system: str, linkedid: str) -> str:
    """The external key of a call: hashed so any system name or linkedid is query-safe."""
    digest = hashlib.sha256(f"{system}\x00{linkedid}".encode()).hexdigest()[:32]
    return f"atiende-call-{digest}"


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

    def erase_contact(self, external_key: str, known_id: str | None) -> None:
        """Delete the contact (a deletion request); absent is fine."""
        ...

    def find_contact_by_phone(self, phone: str) -> list[str]:
        """CRM ids of the contacts holding this E.164 number."""
        ...

    def close(self) -> None: ...
