"""The audit log of personal data: who saw or changed whose data, when, for which call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select

from crm_bridge.db import session_factory
from crm_bridge.models import AuditEntry
from telephony.domain import CallKey


class AuditAction(StrEnum):
    POP_DISCLOSURE = "pop_disclosure"  # a screen-pop delivered the person's data
    PERSON_READ = "person_read"
    PERSON_SEARCH = "person_search"
    PERSON_CREATE = "person_create"
    PERSON_UPDATE = "person_update"
    CONSENT_CHANGE = "consent_change"
    CALLS_READ = "calls_read"  # the calls of the day (numbers, names) were listed
    PENDING_READ = "pending_read"  # the agent's calls pending wrap-up were listed
    FOLLOWUPS_READ = "followups_read"  # the agent's pending cases (person, contact) were listed
    WRAPUP_READ = "wrapup_read"  # an agent reread a wrap-up (its notes may name someone)
    TICKET_READ = "ticket_read"  # a ticket (description, notes, responses) was read
    TICKETS_LISTED = "tickets_listed"  # a list of tickets was shown
    # A trámite's information sent to the person's email or phone ("difundir").
    KNOWLEDGE_SENT = "knowledge_sent"
    # Not about a person: who changed the centre's set-up or looked at its screens.
    ADMIN_CHANGE = "admin_change"  # users, organisms, units, referents, SLA, catalog
    KIOSK_LINK = "kiosk_link"  # a wallboard kiosk link created, revoked or opened
    ALERT_ACK = "alert_ack"  # a queue or ticket SLA alert acknowledged with a note
    AGENT_ACTION = "agent_action"  # a supervisor paused, removed, logged off or spied an agent
    CALLBACK_OFFER = "callback_offer"  # a callback offered to an agent named its person
    # Someone on the public tracking page asked for a ticket with its number and
    # a document or email (shown or refused: both are recorded).
    PUBLIC_TRACKING = "public_tracking"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor_id: int | None
    action: str
    person_id: int | None
    call: CallKey | None
    details: dict[str, Any]


class AuditLog:
    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def record(
        self,
        action: AuditAction,
        *,
        actor_id: int | None,
        person_ids: Iterable[int | None],
        call: CallKey | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """One row per person (a search that shows three people audits three reads)."""
        now = self._clock()
        rows = [
            {
                "at": now,
                "actor_id": actor_id,
                "action": action.value,
                "person_id": person_id,
                "call_system": None if call is None else call.system,
                "call_linkedid": None if call is None else call.linkedid,
                "details": details or {},
            }
            for person_id in dict.fromkeys(person_ids)
        ]
        if not rows:
            return
        with self._sessions.begin() as session:
            session.execute(insert(AuditEntry), rows)

    def query(
        self,
        *,
        person_id: int | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[AuditRecord]:
        stmt = select(AuditEntry)
        if person_id is not None:
            stmt = stmt.where(AuditEntry.person_id == person_id)
        if actor_id is not None:
            stmt = stmt.where(AuditEntry.actor_id == actor_id)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        if since is not None:
            stmt = stmt.where(AuditEntry.at >= since)
        if until is not None:
            stmt = stmt.where(AuditEntry.at < until)
        stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        with self._sessions() as session:
            return [
                AuditRecord(
                    id=row.id,
                    at=row.at,
                    actor_id=row.actor_id,
                    action=row.action,
                    person_id=row.person_id,
                    call=(
                        CallKey(row.call_system, row.call_linkedid)
                        if row.call_system is not None and row.call_linkedid is not None
                        else None
                    ),
                    details=dict(row.details),
                )
                for row in session.scalars(stmt).all()
            ]
