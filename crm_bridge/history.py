"""One timeline per person: attentions (any channel), tickets and responses, newest first.

Pages are read by merging the newest rows of each source: page n reads at most
n * page_size + 1 rows from each, which keeps the first pages (what the
screen-pop and the panel show) cheap and stays correct deeper down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select

from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError
from crm_bridge.models import Attention, Ticket, TicketResponse
from crm_bridge.store_access import translated

MAX_PAGE_SIZE = 100


class EntryKind(StrEnum):
    ATTENTION = "atencion"
    TICKET = "solicitud"
    RESPONSE = "respuesta"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    kind: EntryKind
    at: datetime
    reference: str  # linkedid of the call, or ticket number
    channel: str
    summary: str  # outcome of an attention, type and topic of a ticket
    status: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple[datetime, str, str]:
        return (self.at, self.kind.value, self.reference)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    person_id: int
    page: int
    page_size: int
    entries: tuple[HistoryEntry, ...]
    has_more: bool


class PersonHistory:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def page(self, person_id: int, *, page: int = 1, page_size: int = 20) -> HistoryPage:
        """Page `page` (1-based) of the person's timeline, newest first."""
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidValueError(f"page from 1, page size 1 to {MAX_PAGE_SIZE}")
        depth = page * page_size + 1
        with translated("reading a person's history"), self._sessions() as session:
            attentions = session.scalars(
                select(Attention)
                .where(Attention.person_id == person_id)
                .order_by(Attention.arrived_at.desc(), Attention.id.desc())
                .limit(depth)
            ).all()
            tickets = session.scalars(
                select(Ticket)
                .where(Ticket.person_id == person_id)
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                .limit(depth)
            ).all()
            responses = session.execute(
                select(TicketResponse, Ticket.number)
                .join(Ticket, Ticket.id == TicketResponse.ticket_id)
                .where(Ticket.person_id == person_id)
                .order_by(TicketResponse.sent_at.desc(), TicketResponse.id.desc())
                .limit(depth)
            ).all()
            entries = [_attention(row) for row in attentions]
            entries += [_ticket(row) for row in tickets]
            entries += [_response(row, str(number)) for row, number in responses]
        entries.sort(key=lambda e: e.sort_key, reverse=True)
        start = (page - 1) * page_size
        chunk = entries[start : start + page_size]
        return HistoryPage(
            person_id=person_id,
            page=page,
            page_size=page_size,
            entries=tuple(chunk),
            has_more=len(entries) > start + page_size,
        )


def _attention(row: Attention) -> HistoryEntry:
    return HistoryEntry(
        kind=EntryKind.ATTENTION,
        at=row.arrived_at,
        reference=row.linkedid,
        channel=row.channel,
        summary=row.outcome,
        status=row.outcome,
        details={
            "queue": row.queue,
            "agent": row.agent,
            "topic": row.variables.get("ATIENDE_TOPIC"),
            "wait_seconds": row.wait_seconds,
            "talk_seconds": row.talk_seconds,
            "survey_score": row.survey_score,
        },
    )


def _ticket(row: Ticket) -> HistoryEntry:
    return HistoryEntry(
        kind=EntryKind.TICKET,
        at=row.created_at,
        reference=row.number,
        channel=row.channel,
        summary=f"{row.request_type}: {row.topic}",
        status=row.status,
        details={
            "due_at": row.due_at,
            "closed_at": row.closed_at,
            "unit_id": row.unit_id,
            "request_type": row.request_type,
            "topic": row.topic,
        },
    )


def _response(row: TicketResponse, number: str) -> HistoryEntry:
    return HistoryEntry(
        kind=EntryKind.RESPONSE,
        at=row.sent_at,
        reference=number,
        channel=row.channel,
        summary=row.body[:200],
        status="entregada" if row.delivered else "fallida",
    )
