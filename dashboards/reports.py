"""Historical report rows as pure aggregations of call records and agent
intervals (no database: the reports API feeds these from the store).

- `queue_report`: per queue and local day or hour (the period of a leg is
  when it joined the queue, in the centre's time zone), with the counts and
  the KPIs of dashboards.kpi.
- `agent_report`: per agent (member name): calls handled and talk time from
  the queue legs the agent answered; wrap-up, pause (by reason), occupancy
  and AHT from the agent's state intervals, clipped to the report's span.

Everything is computed by dashboards.kpi, so a report and the live metrics
never disagree on what a figure means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum

from dashboards import kpi
from telephony.domain import AgentInterval, AgentState, CallRecord, QueueLeg


class Granularity(StrEnum):
    DAY = "day"
    HOUR = "hour"


@dataclass(frozen=True, slots=True)
class QueueRow:
    queue: str
    day: date
    hour: int | None  # local hour 0-23; None in a daily report
    counts: kpi.QueueCounts
    service_level: float | None
    abandon_rate: float | None
    asa_seconds: float | None
    mean_talk_seconds: float | None


def queue_report(
    records: Iterable[CallRecord],
    *,
    timezone: tzinfo,
    granularity: Granularity = Granularity.DAY,
    definitions: Mapping[str, kpi.QueueKpiDefinition] | None = None,
    default: kpi.QueueKpiDefinition | None = None,
) -> list[QueueRow]:
    """One row per queue and period with at least one leg, sorted by queue, then period."""
    definitions = definitions or {}
    default = default or kpi.QueueKpiDefinition()

    def period(leg: QueueLeg) -> tuple[str, date, int | None]:
        local = datetime.fromtimestamp(leg.joined_at, timezone)
        return leg.queue, local.date(), local.hour if granularity is Granularity.HOUR else None

    counts = kpi.count_legs_by(records, period, definitions, default)
    rows = []
    for (queue, day, hour), tally in counts.items():
        treatment = definitions.get(queue, default).treatment
        rows.append(
            QueueRow(
                queue,
                day,
                hour,
                tally,
                kpi.service_level(tally, treatment),
                kpi.abandon_rate(tally),
                kpi.asa(tally),
                kpi.mean_talk(tally),
            )
        )
    rows.sort(key=lambda row: (row.queue, row.day, -1 if row.hour is None else row.hour))
    return rows


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent: str  # member name
    handled: int
    talk_seconds: float
    wrapup_seconds: float
    pause_seconds: Mapping[str, float]  # by reason; "" for a pause without one
    occupancy: float | None
    aht_seconds: float | None


def agent_report(
    records: Iterable[CallRecord],
    intervals: Iterable[AgentInterval],
    *,
    start: float | None = None,
    end: float | None = None,
) -> list[AgentRow]:
    """One row per agent seen in the legs or the intervals, sorted by name.

    A leg counts when it was answered inside [start, end); intervals are
    clipped to that span. AHT is (talk + wrap-up) / handled, talk being
    Asterisk's TalkTime (hold included).
    """
    handled: dict[str, int] = {}
    talk: dict[str, float] = {}
    for record in records:
        for leg in record.legs:
            if leg.agent is None or leg.answered_at is None:
                continue
            if (start is not None and leg.answered_at < start) or (
                end is not None and leg.answered_at >= end
            ):
                continue
            handled[leg.agent] = handled.get(leg.agent, 0) + 1
            talk[leg.agent] = talk.get(leg.agent, 0.0) + (leg.talk_seconds or 0.0)
    spans: dict[str, list[AgentInterval]] = {}
    for interval in intervals:
        spans.setdefault(interval.member_name, []).append(interval)
    rows = []
    for agent in sorted(set(handled) | set(spans)):
        mine = spans.get(agent, [])
        times = kpi.state_times(mine, start=start, end=end)
        pauses: dict[str, float] = {}
        for interval in mine:
            if interval.state is AgentState.PAUSED:
                clipped = kpi.state_times([interval], start=start, end=end)[AgentState.PAUSED]
                if clipped:
                    reason = interval.reason or ""
                    pauses[reason] = pauses.get(reason, 0.0) + clipped
        wrapup = times[AgentState.WRAP_UP]
        calls = handled.get(agent, 0)
        rows.append(
            AgentRow(
                agent,
                calls,
                talk.get(agent, 0.0),
                wrapup,
                pauses,
                kpi.occupancy(times),
                kpi.aht(talk_seconds=talk.get(agent, 0.0), wrapup_seconds=wrapup, handled=calls),
            )
        )
    return rows
