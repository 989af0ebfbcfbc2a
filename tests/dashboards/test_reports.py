"""The queue report (SQL store + rollup) against Asterisk's queue_log, and the
rollup's recount when attentions change.

The report counts queue legs (dashboards.kpi's rule): what queue_log's
ENTERQUEUE, CONNECT and ABANDON lines count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select, text
from sqlalchemy.engine import make_url

from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine, upgrade
from crm_bridge.models import Attention, QueueHourTally, ReportDirtyHour
from dashboards import kpi
from dashboards.kpi import QueueKpiDefinition
from dashboards.report_queries import Granularity, ReportSpan, queue_report
from telephony.ami.parser import iter_capture
from telephony.domain import CallEnded, CallKey, CallRecord, Outcome, QueueLeg
from telephony.tracker import CallTracker
from tests.support.queue_log import parse_queue_log

MONTEVIDEO = ZoneInfo("America/Montevideo")
DEFAULT = QueueKpiDefinition(service_level_seconds=20)


def run(path: Path) -> list[CallRecord]:
    tracker = CallTracker("lab", wrapup_seconds={"consultas": 0.0, "reclamos": 0.0})
    records: list[CallRecord] = []
    for item in iter_capture(path.read_bytes()):
        for event in tracker.feed(item):
            if isinstance(event, CallEnded):
                records.append(event.record)
    return records + tracker.finish()


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> Iterator[str]:
    url = make_url(postgres_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"{url.database}_rollup_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = url.set(database=name).render_as_string(hide_password=False)
        upgrade(db)
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
    built = make_engine(url)
    if request.param == "postgresql":
        with built.begin() as conn:
            conn.execute(
                text(
                    "TRUNCATE attentions, report_dirty_hours, queue_hours_counted, "
                    "queue_hour_tallies CASCADE"
                )
            )
    yield built
    built.dispose()


def span_of(records: list[CallRecord]) -> ReportSpan:
    first = min(r.arrived_at for r in records)
    day = datetime.fromtimestamp(first, MONTEVIDEO).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return ReportSpan(day, day + timedelta(days=2), MONTEVIDEO)


@pytest.mark.parametrize("scenario", ["burst", "sip_mixed", "abandoned"])
@pytest.mark.parametrize("granularity", list(Granularity))
def test_queue_rows_match_queue_log(
    recordings: Path, engine: Engine, scenario: str, granularity: Granularity
) -> None:
    records = run(recordings / f"{scenario}.ami")
    AttentionRepository(engine).upsert_records(records)
    rows = queue_report(engine, span_of(records), granularity=granularity, default=DEFAULT)
    expected: dict[tuple[str, object, object], dict[str, int]] = {}
    for call in parse_queue_log(recordings / f"{scenario}.queue_log").calls.values():
        # A leg belongs to its call's arrival; these calls join their first
        # queue within the hour they arrive.
        local = datetime.fromtimestamp(call.legs[0].entered_at, MONTEVIDEO)
        hour = local.hour if granularity is Granularity.HOUR else None
        for leg in call.legs:
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


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=MONTEVIDEO).timestamp()


def record(linkedid: str, *legs: QueueLeg, at: float = T0) -> CallRecord:
    last = legs[-1]
    return CallRecord(
        CallKey("pbx", linkedid),
        "099000000",
        "X",
        at,
        last.outcome,
        queue_joined_at=last.joined_at,
        answered_at=last.answered_at,
        wait_seconds=last.wait_seconds,
        talk_seconds=last.talk_seconds,
        legs=legs,
        ended_at=at + 300,
    )


def answered(queue: str, at: float, wait: float, outcome: Outcome = Outcome.ANSWERED) -> QueueLeg:
    return QueueLeg(queue, at, 1, at + wait, outcome, "Ana", None, at + wait, wait, 60.0)


def abandoned(queue: str, at: float, wait: float) -> QueueLeg:
    return QueueLeg(queue, at, 1, at + wait, Outcome.ABANDONED, wait_seconds=wait)


DAY = ReportSpan(
    datetime(2026, 3, 2, tzinfo=MONTEVIDEO), datetime(2026, 3, 3, tzinfo=MONTEVIDEO), MONTEVIDEO
)


def counts(engine: Engine, **definitions: QueueKpiDefinition) -> dict[str, kpi.QueueCounts]:
    rows = queue_report(engine, DAY, definitions=definitions, default=DEFAULT)
    return {row.queue: row.counts for row in rows}


def test_a_transferred_call_counts_in_each_queue(engine: Engine) -> None:
    moved = record(
        "1",
        answered("consultas", T0, 5, Outcome.TRANSFERRED),
        abandoned("reclamos", T0 + 70, 25),
    )
    AttentionRepository(engine).upsert_records([moved])
    got = counts(engine)
    assert (got["consultas"].offered, got["consultas"].answered) == (1, 1)
    assert (got["reclamos"].offered, got["reclamos"].abandoned) == (1, 1)
    # The same figures as the replay summary and the live metrics' rule.
    assert kpi.count_legs([moved], default=DEFAULT) == got


def test_the_rollup_recounts_what_changed(engine: Engine) -> None:
    repository = AttentionRepository(engine)
    waiting = QueueLeg("consultas", T0, 1)
    repository.upsert_records([record("1", waiting), record("2", abandoned("consultas", T0, 3))])
    first = counts(engine)["consultas"]
    assert (first.offered, first.in_progress, first.abandoned) == (2, 1, 1)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ReportDirtyHour)) == 0
    # The call in progress ends, answered; another arrives hours later.
    repository.upsert_records(
        [record("1", answered("consultas", T0, 12)), record("3", abandoned("consultas", T0, 40))]
    )
    later = T0 + 5 * 3600
    repository.upsert_records([record("4", answered("consultas", later, 30), at=later)])
    second = counts(engine)["consultas"]
    assert (second.offered, second.in_progress, second.answered, second.abandoned) == (4, 0, 2, 2)
    assert second.answered_within == 1  # waits 12 and 30 against 20 s
    # Deleting an attention (an erasure) is recounted too.
    with engine.begin() as conn:
        conn.execute(delete(Attention).where(Attention.linkedid == "3"))
    assert counts(engine)["consultas"].abandoned == 1


def test_other_thresholds_count_apart(engine: Engine) -> None:
    AttentionRepository(engine).upsert_records(
        [record("1", answered("consultas", T0, 12)), record("2", abandoned("consultas", T0, 4))]
    )
    assert counts(engine)["consultas"].answered_within == 1
    strict = QueueKpiDefinition(service_level_seconds=10, short_abandon_seconds=5)
    got = counts(engine, consultas=strict)["consultas"]
    assert (got.answered_within, got.short_abandoned) == (0, 1)
    assert counts(engine)["consultas"].answered_within == 1
    with engine.connect() as conn:
        fingerprints = conn.scalar(select(func.count(func.distinct(QueueHourTally.fingerprint))))
    assert fingerprints == 2


def test_bounds_off_the_hour_are_refused(engine: Engine) -> None:
    start = datetime(2026, 3, 2, 0, 30, tzinfo=MONTEVIDEO)
    with pytest.raises(ValueError, match="on the hour"):
        queue_report(engine, ReportSpan(start, start + timedelta(hours=3), MONTEVIDEO))


def test_recent_days_are_counted_ahead_at_start(engine: Engine) -> None:
    # `atiende serve` counts recent days into the rollup when it starts
    # (atiende.wiring._count_recent_reports), so a first report does not.
    import asyncio

    from atiende.wiring import REPORT_DAYS_AHEAD, _count_recent_reports
    from crm_bridge.models import QueueHourCounted
    from dashboards.queue_metrics import QueueMetrics

    AttentionRepository(engine).upsert_records([record("1", answered("consultas", T0, 12))])
    metrics = QueueMetrics(default=DEFAULT)
    asyncio.run(_count_recent_reports(engine, metrics, T0 + 3600))
    with engine.connect() as conn:
        hours = conn.scalar(select(func.count()).select_from(QueueHourCounted))
        tallied = conn.execute(select(QueueHourTally.queue, QueueHourTally.answered)).all()
    assert hours == REPORT_DAYS_AHEAD * 24
    assert tallied == [("consultas", 1)]
    # The report reads what was counted ahead, and agrees.
    assert counts(engine)["consultas"].answered_within == 1
