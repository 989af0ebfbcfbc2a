"""Who is calling: the person behind a ringing call, their history and open requests.

Runs in a worker thread on behalf of the pop hub (it reads the store). The
IVR's ATIENDE_PERSON_ID wins; otherwise the caller number is looked up. What
is delivered is recorded as a disclosure in the audit log, one row per
recipient and person. Before answer only a summary goes out (Ley 18.331:
need to know — every phone that rings is not a need); see agent_api.need_to_know.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Engine, func, select

from agent_api.audit import AuditAction, AuditLog
from agent_api.frames import (
    PERSON_VARIABLE,
    call_ref,
    history_payload,
    person_payload,
    person_summary,
)
from agent_api.masking import mask_number
from crm_bridge.db import session_factory
from crm_bridge.history import PersonHistory
from crm_bridge.models import AttentionWrapup, Ticket
from crm_bridge.persons import PersonRegistry, PersonView
from crm_bridge.ticket_rules import OPEN_STATUSES
from telephony.domain import CallKey

log = logging.getLogger(__name__)

HISTORY_ENTRIES = 10
MAX_CANDIDATES = 10


class PopLookup(Protocol):
    def lookup(
        self,
        key: CallKey,
        caller_number: str,
        variables: Mapping[str, str],
        recipients: Sequence[int],
    ) -> dict[str, Any]:
        """The `pop.person` frame for this call (blocking; run off the loop)."""


class PersonCards:
    """Who a call is from, and the person's card: shared by the pop (before
    answer: a summary) and the route the answering agent's page calls (the
    whole record, history and open requests)."""

    def __init__(
        self,
        engine: Engine,
        registry: PersonRegistry,
        history: PersonHistory,
        *,
        history_entries: int = HISTORY_ENTRIES,
    ) -> None:
        self._sessions = session_factory(engine)
        self._registry = registry
        self._history = history
        self._entries = history_entries

    def identify(
        self, caller_number: str, variables: Mapping[str, str]
    ) -> tuple[PersonView | None, list[PersonView]]:
        """The IVR's ATIENDE_PERSON_ID wins; else the one person holding the number,
        or the several candidates that hold it."""
        person = self._by_ivr(variables)
        if person is not None:
            return person, []
        candidates = self._registry.find_by_phone(caller_number) if caller_number else []
        if len(candidates) == 1:
            return candidates[0], []
        return None, candidates[:MAX_CANDIDATES]

    def get(self, person_id: int) -> PersonView | None:
        return self._registry.get(person_id)

    def card(self, person: PersonView) -> dict[str, Any]:
        """The whole record, the latest history entries and the open requests."""
        page = self._history.page(person.id, page=1, page_size=self._entries)
        return {
            "person": person_payload(person),
            "history": history_payload(page.entries, self._resolutions(page.entries)),
            "open_requests": self._open_requests(person.id),
        }

    def history(self, person_id: int, *, page: int, page_size: int) -> dict[str, Any]:
        """One page of the person's timeline (newest first), with resolutions."""
        found = self._history.page(person_id, page=page, page_size=page_size)
        return {
            "person_id": person_id,
            "page": found.page,
            "page_size": found.page_size,
            "has_more": found.has_more,
            "entries": history_payload(found.entries, self._resolutions(found.entries)),
        }

    def open_count(self, person_id: int) -> int:
        query = select(func.count(Ticket.id)).where(
            Ticket.person_id == person_id,
            Ticket.status.in_([s.value for s in OPEN_STATUSES]),
        )
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

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


class StorePopLookup:
    """Before anyone answers, the pop carries only names, a masked document and
    the count of open requests; the whole record is read by the answering
    agent through `GET /api/calls/{system}/{linkedid}/person`."""

    def __init__(
        self,
        engine: Engine,
        registry: PersonRegistry,
        history: PersonHistory,
        audit: AuditLog,
        *,
        history_entries: int = HISTORY_ENTRIES,
    ) -> None:
        self._cards = PersonCards(engine, registry, history, history_entries=history_entries)
        self._audit = audit

    def lookup(
        self,
        key: CallKey,
        caller_number: str,
        variables: Mapping[str, str],
        recipients: Sequence[int],
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "pop.person", "call": call_ref(key)}
        person, candidates = self._cards.identify(caller_number, variables)
        if person is None and not candidates:
            log.info("pop for %s: caller not registered", mask_number(caller_number))
            frame["person_status"] = "desconocida"
            return frame
        if person is None:
            frame["person_status"] = "varias"
            frame["candidates"] = [person_summary(c) for c in candidates]
            self._disclose(key, [c.id for c in candidates], recipients, "candidates")
            return frame
        frame["person_status"] = "identificada"
        frame["person"] = person_summary(person)
        frame["open_requests_count"] = self._cards.open_count(person.id)
        self._disclose(key, [person.id], recipients, "name, masked document, open count")
        return frame

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
