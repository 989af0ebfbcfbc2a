"""Ticket SLA compliance: of the tickets opened in a span, how many were answered
within their due date.

One rule (`outcome`), counted once per ticket:

- `on_time`: answered (first response) at or before its due date;
- `late`: answered after it;
- `overdue`: not answered and its due date has passed;
- `pending`: not answered and still within its due date (not judged yet);
- `no_due`: no due date (not judged).

Compliance is on_time / (on_time + late + overdue): the share of tickets
already judged that met their due date; None when none is judged yet. A
ticket closed without a response counts by the same rule on its closing time
(closing is the answer the centre gave).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select

from crm_bridge.models import Organism, Ticket, Unit
from dashboards.report_queries import ReportSpan


class Outcome(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    OVERDUE = "overdue"
    PENDING = "pending"
    NO_DUE = "no_due"


def outcome(due_at: datetime | None, answered_at: datetime | None, now: datetime) -> Outcome:
    """How one ticket stands against its due date at `now`."""
    if due_at is None:
        return Outcome.NO_DUE
    if answered_at is not None:
        return Outcome.ON_TIME if answered_at <= due_at else Outcome.LATE
    return Outcome.OVERDUE if now > due_at else Outcome.PENDING


@dataclass(slots=True)
class SlaCounts:
    opened: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0
    no_due: int = 0

    def add(self, result: Outcome) -> None:
        self.opened += 1
        setattr(self, result.value, getattr(self, result.value) + 1)

    @property
    def judged(self) -> int:
        return self.on_time + self.late + self.overdue

    @property
    def compliance(self) -> float | None:
        return None if self.judged == 0 else self.on_time / self.judged


@dataclass(frozen=True, slots=True)
class TicketSlaRow:
    group: str  # organism code, "<organism code>/<unit code>", channel or request type
    label: str
    counts: SlaCounts = field(default_factory=SlaCounts)


GROUPS = ("organismo", "unidad", "canal", "tipo")


def tally(
    tickets: Iterable[tuple[str, str, datetime | None, datetime | None]], now: datetime
) -> list[TicketSlaRow]:
    """(group, label, due_at, answered_at) per ticket → one row per group, by group."""
    rows: dict[str, TicketSlaRow] = {}
    for group, label, due_at, answered_at in tickets:
        row = rows.setdefault(group, TicketSlaRow(group, label))
        row.counts.add(outcome(due_at, answered_at, now))
    return [rows[key] for key in sorted(rows)]


def total(rows: Iterable[TicketSlaRow]) -> SlaCounts:
    counts = SlaCounts()
    for row in rows:
        for name in ("opened", "on_time", "late", "overdue", "pending", "no_due"):
            setattr(counts, name, getattr(counts, name) + getattr(row.counts, name))
    return counts


def ticket_sla_report(
    engine: Engine, span: ReportSpan, now: datetime, *, by: str = "organismo"
) -> list[TicketSlaRow]:
    """Tickets created in the span, grouped `by` organism, unit, channel or request type.

    By unit, a ticket with no unit counts in "<organism code>/" (its
    organism, no unit), so the units of an organism add up to the organism."""
    if by not in GROUPS:
        raise ValueError(f"group by one of {GROUPS}")
    answered = Ticket.responded_at
    query = (
        select(
            Organism.code,
            Organism.name,
            Unit.code,
            Unit.name,
            Ticket.channel,
            Ticket.request_type,
            Ticket.due_at,
            answered,
            Ticket.closed_at,
        )
        .join(Organism, Organism.id == Ticket.organism_id)
        .outerjoin(Unit, Unit.id == Ticket.unit_id)
        .where(Ticket.created_at >= span.start, Ticket.created_at < span.end)
    )
    with engine.connect() as conn:
        found = conn.execute(query).all()

    def key(
        code: str, name: str, unit: str | None, unit_name: str | None, channel: str, kind: str
    ) -> tuple[str, str]:
        if by == "unidad":
            return f"{code}/{unit or ''}", unit_name or f"{name} (sin unidad)"
        if by == "canal":
            return channel, channel
        if by == "tipo":
            return kind, kind
        return code, name

    return tally(
        (
            (
                *key(code, name, unit, unit_name, channel, kind),
                _aware(due),
                _aware(responded or closed),
            )
            for code, name, unit, unit_name, channel, kind, due, responded, closed in found
        ),
        now,
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
