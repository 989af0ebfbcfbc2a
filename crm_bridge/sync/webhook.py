"""A generic webhook CRM: signed JSON POSTs for each contact, call and erasure.

Each request carries:

- ``X-Atiende-Timestamp``: Unix seconds when it was signed;
- ``X-Atiende-Signature``: ``sha256=`` + hex HMAC-SHA256 with the shared
  secret over ``f"{timestamp}.".encode() + body`` (the raw bytes received);
- ``Idempotency-Key``: the entity's external key and event; the same key may
  arrive more than once (delivery is at least once) and must be applied as
  an upsert.

A receiver verifies with :func:`verify_signature`: recompute the HMAC over
the raw body, compare in constant time, and refuse timestamps older than a
few minutes so that a captured request cannot be replayed later. A 2xx answer
is success; the JSON answer may carry ``{"id": "..."}``, the receiver's id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from http.client import HTTPException
from typing import Any

from crm_bridge.sync.adapter import (
    AttentionData,
    ContactData,
    CrmProtocolError,
    CrmRejectedError,
    CrmUnavailableError,
    TicketData,
    WrapupData,
)

SIGNATURE_HEADER = "X-Atiende-Signature"
TIMESTAMP_HEADER = "X-Atiende-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `body` was signed with `secret` less than `tolerance` seconds ago."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        timestamp = int(lowered.get(TIMESTAMP_HEADER.lower(), ""))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookAdapter:
    """A CrmAdapter posting signed JSON events to one URL."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        self._url = url
        self._secret = secret.encode()
        self._timeout = timeout
        self._clock = clock

    @property
    def name(self) -> str:
        return "webhook"

    def sync_contact(self, contact: ContactData, known_id: str | None) -> str:
        data = {
            "given_names": contact.given_names,
            "family_names": contact.family_names,
            "document_type": contact.document_type,
            "document_number": contact.document_number,
            "phones": list(contact.phones),
            "emails": list(contact.emails),
        }
        return self._post("contact.upsert", contact.external_key, data, known_id)

    def sync_attention(self, attention: AttentionData, known_id: str | None) -> str:
        data = {
            "channel": attention.channel,
            "caller_number": attention.caller_number,
            "arrived_at": attention.arrived_at.isoformat(),
            "answered_at": None
            if attention.answered_at is None
            else attention.answered_at.isoformat(),
            "ended_at": None if attention.ended_at is None else attention.ended_at.isoformat(),
            "queue": attention.queue,
            "agent": attention.agent,
            "outcome": attention.outcome,
            "wait_seconds": attention.wait_seconds,
            "talk_seconds": attention.talk_seconds,
            "contact_id": attention.contact_crm_id,
        }
        return self._post("attention.upsert", attention.external_key, data, known_id)

    def sync_wrapup(self, wrapup: WrapupData, known_id: str | None) -> str:
        data = {
            "call_id": wrapup.call_crm_id,
            "attention_type": wrapup.attention_type,
            "resolution": wrapup.resolution,
            "topic": wrapup.topic,
            "notes": wrapup.notes,
            "ticket_number": wrapup.ticket_number,
            "follow_up_at": None
            if wrapup.follow_up_at is None
            else wrapup.follow_up_at.isoformat(),
            "agent": wrapup.agent,
            "wrapped_up_at": wrapup.wrapped_up_at.isoformat(),
            "contact_id": wrapup.contact_crm_id,
        }
        return self._post("wrapup.upsert", wrapup.external_key, data, known_id)

    def sync_ticket(self, ticket: TicketData, known_id: str | None) -> str:
        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        data = {
            "number": ticket.number,
            "request_type": ticket.request_type,
            "status": ticket.status,
            "channel": ticket.channel,
            "topic": ticket.topic,
            "description": ticket.description,
            "organism": ticket.organism,
            "unit": ticket.unit,
            "created_at": iso(ticket.created_at),
            "due_at": iso(ticket.due_at),
            "responded_at": iso(ticket.responded_at),
            "closed_at": iso(ticket.closed_at),
            "call_id": ticket.call_crm_id,
            "contact_id": ticket.contact_crm_id,
        }
        return self._post("ticket.upsert", ticket.external_key, data, known_id)

    def erase_contact(self, external_key: str, known_id: str | None) -> None:
        self._post("contact.erase", external_key, {}, known_id)

    def find_contact_by_phone(self, phone: str) -> list[str]:
        # A one-way webhook cannot be asked; lookups belong to CRMs with an API.
        return []

    def close(self) -> None:
        return None

    def _post(self, event: str, key: str, data: dict[str, Any], known_id: str | None) -> str:
        body = json.dumps(
            {"event": event, "key": key, "crm_id": known_id, "data": data},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp = int(self._clock())
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
                IDEMPOTENCY_HEADER: f"{event}:{key}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer = response.read()
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500 and err.code not in (408, 429):
                raise CrmRejectedError(f"HTTP {err.code}: webhook refused {event}") from err
            raise CrmUnavailableError(f"webhook {event}: HTTP {err.code}") from err
        except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise CrmUnavailableError(f"webhook {event}: {reason}") from err
        if not answer.strip():
            return known_id or key
        try:
            parsed = json.loads(answer)
        except (ValueError, UnicodeDecodeError) as err:
            raise CrmProtocolError(f"webhook {event}: the answer is not JSON") from err
        if isinstance(parsed, dict) and isinstance(parsed.get("id"), str | int):
            return str(parsed["id"])
        return known_id or key
