"""Historical reports read from the attention store (PostgreSQL or SQLite).

The heavy lifting is one grouped scan per report: the database returns
tallies per queue and UTC hour (or per agent, per topic...), and the KPIs
are computed from those tallies by dashboards.kpi, so a report and the live
metrics never disagree on what a figure means.

Conventions:
- The queue report counts queue legs (the counting rule of dashboards.kpi,
  "per queue leg"): each leg of a call counts once in its own queue, so a
  call transferred from one queue to another is offered in both, exactly as
  Asterisk's queue_log and the live metrics count it. A leg belongs to the
  hour its call arrived (`arrived_at`). The tallies per queue and UTC hour
  come from the rollup (dashboards.report_rollup), recounted by the same
  rule when attentions change, and are folded into the centre's local day
  or hour in Python; exact for time zones with whole-hour offsets (Uruguay:
  UTC-3, no DST since 2015).
- Agents: handled calls and talk from the phone attentions (channel
  telefonico) they answered in the span (the last answering member),
  wrap-up from the panel's `attention_wrapups` of those same calls, pause
  by reason and occupancy from `agent_state_intervals` clipped to the
  report's span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Double,
    Engine,
    Float,
    Integer,
    and_,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)

from citizen.channels import Channel
from crm_bridge.models import (
    AgentStateInterval,
    Attention,
    AttentionWrapup,
    CatalogTopic,
    Organism,
    Ticket,
)
from dashboards import kpi, report_rollup
from telephony.domain import AgentState, Outcome

_EXITS = (
    Outcome.EXIT_TIMEOUT.value,
    Outcome.EXIT_KEY.value,
    Outcome.EXIT_EMPTY.value,
    Outcome.JOIN_EMPTY.value,
)


class Granularity(StrEnum):
    DAY = "day"
    HOUR = "hour"


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue's counts and KPIs over one local day (or hour)."""

    queue: str
    day: date
    hour: int | None  # local hour 0-23; None in a daily report
    counts: kpi.QueueCounts
    service_level: float | None
    abandon_rate: float | None
    asa_seconds: float | None
    mean_talk_seconds: float | None


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent: str  # member name
    handled: int
    talk_seconds: float
    wrapup_seconds: float
    pause_seconds: Mapping[str, float]  # by reason; "" for a pause without one
    occupancy: float | None
    aht_seconds: float | None


@dataclass(frozen=True, slots=True)
class ReportSpan:
    """[start, end) in aware datetimes; the report's time zone for local periods."""

    start: datetime
    end: datetime
    timezone: tzinfo = UTC

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("report bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("report end must be after its start")


@dataclass(frozen=True, slots=True)
class TopicRow:
    attention_type: str | None
    topic_code: str | None
    topic_name: str | None
    attentions: int
    wrapup_seconds: float


@dataclass(frozen=True, slots=True)
class OrganismRow:
    organism_code: str | None
    organism_name: str | None
    attentions: int  # wrapped-up attentions whose topic belongs to the organism
    tickets: int  # tickets created in the span


# ------------------------------------------------------------ dialect helpers


def _epoch(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", column)
    # SQLite keeps UTC text. Whole seconds plus the millisecond fraction of
    # %f ("SS.SSS"): julianday's float would turn 40 s into 39.99998 s.
    whole = cast(func.strftime("%s", column), Integer)
    fraction = cast(func.strftime("%f", column), Float) - cast(func.strftime("%S", column), Integer)
    return whole + fraction


def _hour_index(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # Inline, and the very expression of the statistics that migration
        # 0007_dashboards_report_stats declares, so the planner knows how
        # few groups there are.
        hour = literal_column("3600.0", Double)
        return cast(func.floor(_epoch(column, dialect) / hour), Integer)
    # Whole seconds, then integer division: julianday's float would put an
    # arrival at exactly 13:00:00 in the 12 o'clock hour.
    return cast(func.strftime("%s", column), Integer) // 3600


def _greatest(a: Any, b: Any, dialect: str) -> Any:
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def _least(a: Any, b: Any, dialect: str) -> Any:
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)


def _tune(conn: Connection) -> None:
    """Per report transaction: JIT compiling costs more (about 0.15 s) than
    it saves on these one-pass aggregations."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


def _bound(moment: datetime) -> Any:
    return literal(moment, Attention.arrived_at.type)


# ------------------------------------------------------------ queue report


def queue_report(
    engine: Engine,
    span: ReportSpan,
    *,
    granularity: Granularity = Granularity.DAY,
    definitions: Mapping[str, kpi.QueueKpiDefinition] | None = None,
    default: kpi.QueueKpiDefinition | None = None,
    queues: list[str] | None = None,
) -> list[QueueRow]:
    """One row per queue and local day (or hour) with calls, sorted by queue, then period."""
    definitions = definitions or {}
    default = default or kpi.QueueKpiDefinition()
    first, end = span.start.timestamp(), span.end.timestamp()
    if first % 3600 or end % 3600:
        raise ValueError("the queue report counts whole hours: bounds must fall on the hour")
    folded = report_rollup.queue_period_counts(
        engine,
        int(first // 3600),
        int(end // 3600),
        definitions,
        default,
        timezone=span.timezone,
        by_hour=granularity is Granularity.HOUR,
        queues=queues,
    )
    # A month by hour is some 15,000 rows: the loop stays lean (names bound
    # once, a queue's treatment looked up once).
    treatments: dict[str, kpi.SlTreatment] = {}
    service_level, abandon_rate, asa, mean_talk = (
        kpi.service_level,
        kpi.abandon_rate,
        kpi.asa,
        kpi.mean_talk,
    )
    rows: list[QueueRow] = []
    append = rows.append
    for (queue, day, hour), counts in folded.items():
        treatment = treatments.get(queue)
        if treatment is None:
            treatment = treatments[queue] = definitions.get(queue, default).treatment
        append(
            QueueRow(
                queue,
                day,
                hour,
                counts,
                service_level(counts, treatment),
                abandon_rate(counts),
                asa(counts),
                mean_talk(counts),
            )
        )
    # Already in order: queue_period_counts returns queue, then period.
    return rows


# ------------------------------------------------------------ agent report


def agent_report(engine: Engine, span: ReportSpan) -> list[AgentRow]:
    """One row per agent with answered calls, wrap-ups or state time in the span."""
    dialect = engine.dialect.name
    start, end = _bound(span.start), _bound(span.end)
    wrap_seconds = _epoch(AttentionWrapup.wrapup_ended_at, dialect) - _epoch(
        AttentionWrapup.wrapup_started_at, dialect
    )
    # One pass over the answered calls, each with its wrap-up (one per call):
    # AHT's talk and wrap-up then cover the same calls.
    handled_stmt = (
        select(
            Attention.agent,
            func.count(),
            func.sum(func.coalesce(Attention.talk_seconds, 0.0)),
            func.sum(wrap_seconds),
        )
        .select_from(Attention)
        .outerjoin(
            AttentionWrapup,
            and_(
                AttentionWrapup.system == Attention.system,
                AttentionWrapup.linkedid == Attention.linkedid,
            ),
        )
        .where(
            # Calls only: an agent's attentions on other channels (walk-in,
            # mail...) are no handled calls and have no talk time.
            Attention.channel == Channel.TELEFONICO.value,
            Attention.agent.is_not(None),
            Attention.answered_at.is_not(None),
            Attention.answered_at >= start,
            Attention.answered_at < end,
        )
        .group_by(Attention.agent)
    )
    interval = AgentStateInterval
    clipped = _epoch(_least(interval.ended_at, end, dialect), dialect) - _epoch(
        _greatest(interval.started_at, start, dialect), dialect
    )
    state_stmt = (
        select(interval.member_name, interval.state, interval.reason, func.sum(clipped))
        .where(interval.started_at < end, interval.ended_at > start)
        .group_by(interval.member_name, interval.state, interval.reason)
    )
    handled: dict[str, tuple[int, float]] = {}
    wrapups: dict[str, float] = {}
    states: dict[str, dict[AgentState, float]] = {}
    pauses: dict[str, dict[str, float]] = {}
    with engine.connect() as conn:
        _tune(conn)
        for agent, count, talk, wrapped in conn.execute(handled_stmt):
            handled[str(agent)] = (int(count), float(talk or 0.0))
            wrapups[str(agent)] = float(wrapped or 0.0)
        for member, state, reason, seconds in conn.execute(state_stmt):
            name, value = str(member), float(seconds or 0.0)
            try:
                known = AgentState(state)
            except ValueError:
                continue
            totals = states.setdefault(name, {})
            totals[known] = totals.get(known, 0.0) + value
            if known is AgentState.PAUSED:
                by_reason = pauses.setdefault(name, {})
                by_reason[reason or ""] = by_reason.get(reason or "", 0.0) + value
    rows = []
    for agent in sorted(set(handled) | set(wrapups) | set(states)):
        calls, talk = handled.get(agent, (0, 0.0))
        wrapup = wrapups.get(agent, 0.0)
        rows.append(
            AgentRow(
                agent,
                calls,
                talk,
                wrapup,
                pauses.get(agent, {}),
                kpi.occupancy(kpi.StateTimes(states.get(agent, {}))),
                kpi.aht(talk_seconds=talk, wrapup_seconds=wrapup, handled=calls),
            )
        )
    return rows


# ------------------------------------------------------------ topics and organisms


def topic_report(engine: Engine, span: ReportSpan) -> list[TopicRow]:
    """Wrapped-up attentions per attention type and topic, by wrap-up start."""
    dialect = engine.dialect.name
    seconds = _epoch(AttentionWrapup.wrapup_ended_at, dialect) - _epoch(
        AttentionWrapup.wrapup_started_at, dialect
    )
    stmt = (
        select(
            AttentionWrapup.attention_type,
            CatalogTopic.code,
            CatalogTopic.name,
            func.count(),
            func.sum(func.coalesce(seconds, 0.0)),
        )
        .select_from(AttentionWrapup)
        .outerjoin(CatalogTopic, CatalogTopic.id == AttentionWrapup.topic_id)
        .where(
            AttentionWrapup.wrapup_started_at >= _bound(span.start),
            AttentionWrapup.wrapup_started_at < _bound(span.end),
        )
        .group_by(AttentionWrapup.attention_type, CatalogTopic.code, CatalogTopic.name)
    )
    with engine.connect() as conn:
        _tune(conn)
        rows = [
            TopicRow(kind, code, name, int(count), float(total or 0.0))
            for kind, code, name, count, total in conn.execute(stmt)
        ]
    rows.sort(key=lambda r: (r.attention_type or "", r.topic_code or "", r.topic_name or ""))
    return rows


def organism_report(engine: Engine, span: ReportSpan) -> list[OrganismRow]:
    """Per organism: wrapped-up attentions on its topics and tickets opened for it."""
    start, end = _bound(span.start), _bound(span.end)
    attention_stmt = (
        select(Organism.code, Organism.name, func.count())
        .select_from(AttentionWrapup)
        .join(CatalogTopic, CatalogTopic.id == AttentionWrapup.topic_id)
        .join(Organism, Organism.id == CatalogTopic.organism_id)
        .where(AttentionWrapup.wrapup_started_at >= start, AttentionWrapup.wrapup_started_at < end)
        .group_by(Organism.code, Organism.name)
    )
    ticket_stmt = (
        select(Organism.code, Organism.name, func.count())
        .select_from(Ticket)
        .join(Organism, Organism.id == Ticket.organism_id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(Organism.code, Organism.name)
    )
    found: dict[tuple[str, str], list[int]] = {}
    with engine.connect() as conn:
        _tune(conn)
        for code, name, count in conn.execute(attention_stmt):
            found.setdefault((code, name), [0, 0])[0] = int(count)
        for code, name, count in conn.execute(ticket_stmt):
            found.setdefault((code, name), [0, 0])[1] = int(count)
    return [OrganismRow(code, name, a, t) for (code, name), (a, t) in sorted(found.items())]
