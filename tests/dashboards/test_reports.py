"""Report aggregations against Asterisk's queue_log and hand-made intervals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dashboards.kpi import QueueKpiDefinition
from dashboards.reports import Granularity, agent_report, queue_report
from telephony.ami.parser import iter_capture
from telephony.domain import AgentInterval, AgentState, AgentStateChanged, CallEnded, CallRecord
from telephony.tracker import CallTracker
from tests.support.queue_log import parse_queue_log

MONTEVIDEO = ZoneInfo("America/Montevideo")


def run(path: Path, wrapup: float = 0.0) -> tuple[list[CallRecord], list[AgentInterval]]:
    tracker = CallTracker("lab", wrapup_seconds={"consultas": wrapup, "reclamos": wrapup})
    records: list[CallRecord] = []
    intervals: list[AgentInterval] = []
    for item in iter_capture(path.read_bytes()):
        for event in tracker.feed(item):
            if isinstance(event, CallEnded):
                records.append(event.record)
            elif isinstance(event, AgentStateChanged) and event.closed is not None:
                intervals.append(event.closed)
    return records + tracker.finish(), intervals


@pytest.mark.parametrize("scenario", ["burst", "sip_mixed", "abandoned"])
@pytest.mark.parametrize("granularity", list(Granularity))
def test_queue_rows_match_queue_log(
    recordings: Path, scenario: str, granularity: Granularity
) -> None:
    records, _ = run(recordings / f"{scenario}.ami")
    rows = queue_report(
        records,
        timezone=MONTEVIDEO,
        granularity=granularity,
        default=QueueKpiDefinition(service_level_seconds=20),
    )
    expected: dict[tuple[str, object, object], dict[str, int]] = {}
    for call in parse_queue_log(recordings / f"{scenario}.queue_log").calls.values():
        for leg in call.legs:
            local = datetime.fromtimestamp(leg.entered_at, MONTEVIDEO)
            hour = local.hour if granularity is Granularity.HOUR else None
            row = expected.setdefault(
                (leg.queue, local.date(), hour), {"offered": 0, "answered": 0, "abandoned": 0}
            )
            row["offered"] += 1
            row["answered"] += leg.outcome in ("answered", "transferred")
            row["abandoned"] += leg.outcome == "abandoned"
    got = {
        (row.queue, row.day, row.hour): {
            "offered": row.counts.offered,
            "answered": row.counts.answered,
            "abandoned": row.counts.abandoned,
        }
        for row in rows
    }
    assert got == expected
    for row in rows:
        if row.counts.answered:
            assert row.service_level == row.counts.answered_within / row.counts.answered


def test_agent_rows_match_queue_log(recordings: Path) -> None:
    records, intervals = run(recordings / "burst.ami", wrapup=3.0)
    rows = {row.agent: row for row in agent_report(records, intervals)}
    handled: dict[str, int] = {}
    talk: dict[str, float] = {}
    for call in parse_queue_log(recordings / "burst.queue_log").calls.values():
        for leg in call.legs:
            if leg.agent is not None:
                handled[leg.agent] = handled.get(leg.agent, 0) + 1
                talk[leg.agent] = talk.get(leg.agent, 0.0) + (leg.talk or 0.0)
    assert handled
    for agent, calls in handled.items():
        assert rows[agent].handled == calls
        assert rows[agent].talk_seconds == pytest.approx(talk[agent], abs=1.0 * calls)
        # queues.conf wrapuptime = 3 s after each call, cut short by nothing here.
        assert 0 < rows[agent].wrapup_seconds <= 3.0 * calls + 1e-6
        assert rows[agent].aht_seconds == pytest.approx(
            (rows[agent].talk_seconds + rows[agent].wrapup_seconds) / calls
        )
        occupancy = rows[agent].occupancy
        assert occupancy is not None and 0 < occupancy <= 1


def interval(
    state: AgentState, start: float, end: float, reason: str | None = None
) -> AgentInterval:
    return AgentInterval("t", "PJSIP/1", "Ana", state, start, end, reason)


def test_pauses_by_reason_and_clipping() -> None:
    day = datetime(2026, 11, 24, tzinfo=UTC).timestamp()
    spans = [
        interval(AgentState.PAUSED, day - 600, day + 600, "Almuerzo"),
        interval(AgentState.AVAILABLE, day + 600, day + 1200),
        interval(AgentState.PAUSED, day + 1200, day + 1500, None),
        interval(AgentState.ON_CALL, day + 1500, day + 1800),
        interval(AgentState.WRAP_UP, day + 1800, day + 1830),
    ]
    (row,) = agent_report([], spans, start=day, end=day + 3600)
    assert row.pause_seconds == {"Almuerzo": 600.0, "": 300.0}
    assert row.wrapup_seconds == 30.0 and row.handled == 0 and row.aht_seconds is None
    assert row.occupancy == pytest.approx(330 / (330 + 600))
