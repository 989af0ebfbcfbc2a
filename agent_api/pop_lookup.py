"""Who is calling: the person behind a ringing call, their history and open requests.

Runs in a worker thread on behalf of the pop hub (it reads the store). The
IVR's ATIENDE_PERSON_ID wins; otherwise the caller number is looked up. What
is delivered is recorded as a disclosure in the audit log, one row per
recipient and person.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Engine, select

from agent_api.audit import AuditAction, AuditLog
from agent_api.frames import PERSON_VARIABLE, call_ref, history_payload, person_payload
from agent_api.masking import mask_number
from crm_bridge.db import session_factory
from crm_bridge.history import PersonHistory
from crm_bridge.models import AttentionWrapup, Ticket
from crm_bridge.persons import PersonRegistry, PersonView
from crm_bridge.ticket_rules import OPEN_STATUSES
from telephony.domain import CallKey

log = logging.getLogger(__name__)

HISTORY_ENTRIES = 5


class PopLookup(Protocol):
    def lookup(
        self,
        key: CallKey,
        caller_number: str,
        variables: Mapping[str, str],
        recipients: Sequence[int],
    ) -> dict[str, Any]:
        """The `pop.person` frame for this call (blocking; run off the loop)."""


class StorePopLookup:
    def __init__(
        self,
        engine: Engine,
        registry: PersonRegistry,
        history: PersonHistory,
        audit: AuditLog,
        *,
        history_entries: int = HISTORY_ENTRIES,
    ) -> None:
        self._sessions = session_factory(engine)
        self._registry = registry
        self._history = history
        self._audit = audit
        self._entries = history_entries

    def lookup(
        self,
        key: CallKey,
        caller_number: str,
        variables: Mapping[str, str],
        recipients: Sequence[int],
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "pop.person", "call": call_ref(key)}
        person = self._by_ivr(variables)
        candidates: list[PersonView] = []
        if person is None:
            candidates = self._registry.find_by_phone(caller_number) if caller_number else []
            if len(candidates) == 1:
                person, candidates = candidates[0], []
        if person is None and not candidates:
            log.info("pop for %s: caller not registered", mask_number(caller_number))
            frame["person_status"] = "desconocida"
            return frame
        if person is None:
            frame["person_status"] = "varias"
            frame["candidates"] = [
                {"id": c.id, "given_names": c.given_names, "family_names": c.family_names}
                for c in candidates[:10]
            ]
            self._disclose(key, [c.id for c in candidates[:10]], recipients, "candidates")
            return frame
        frame["person_status"] = "identificada"
        frame["person"] = person_payload(person)
        page = self._history.page(person.id, page=1, page_size=self._entries)
        frame["history"] = history_payload(page.entries, self._resolutions(page.entries))
        frame["open_requests"] = self._open_requests(person.id)
        self._disclose(key, [person.id], recipients, "person, history, open requests")
        return frame

    def _by_ivr(self, variables: Mapping[str, str]) -> PersonView | None:
        raw = variables.get(PERSON_VARIABLE, "").strip()
        if not raw.isdigit():
            return None
        return self._registry.get(int(raw))

    def _resolutions(self, entries: Sequence[Any]) -> dict[str, str | None]:
        linkedids = [e.reference for e in entries if e.kind.value == "atencion"]
        if not linkedids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(AttentionWrapup.linkedid, AttentionWrapup.resolution).where(
                    AttentionWrapup.linkedid.in_(linkedids)
                )
            ).all()
        return {str(linkedid): resolution for linkedid, resolution in rows}

    def _open_requests(self, person_id: int) -> list[dict[str, Any]]:
        query = (
            select(Ticket)
            .where(
                Ticket.person_id == person_id,
                Ticket.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .order_by(Ticket.created_at.desc())
            .limit(10)
        )
        with self._sessions() as session:
            return [
                {
                    "number": t.number,
                    "request_type": t.request_type,
                    "topic": t.topic,
                    "status": t.status,
                    "due_at": None if t.due_at is None else t.due_at.isoformat(),
                }
                for t in session.scalars(query).all()
            ]

    def _disclose(
        self, key: CallKey, person_ids: Sequence[int], recipients: Sequence[int], what: str
    ) -> None:
        for user_id in dict.fromkeys(recipients):
            self._audit.record(
                AuditAction.POP_DISCLOSURE,
                actor_id=user_id,
                person_ids=person_ids,
                call=key,
                details={"disclosed": what},
            )
