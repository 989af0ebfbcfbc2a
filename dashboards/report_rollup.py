"""The queue report's hourly rollup, recounted incrementally and exactly.

The queue report needs, per queue and hour, dashboards.kpi's QueueCounts of
the legs of the calls that arrived in that hour. Recounting a month of
attentions for every report costs a scan of a million rows; instead the
counts of each (queue, UTC hour) are kept in `queue_hour_tallies`, for one
set of thresholds (`fingerprint`: the service-level and short-abandon
seconds of every queue, which decide within/short), and an hour is counted
again only when it has to be:

- an hour never counted for this fingerprint (first report, new thresholds);
- an hour marked in `report_dirty_hours`: triggers on `attentions`
  (migration 0009) mark the hour of every row inserted, updated or deleted,
  whoever writes it, in the writer's own transaction.

Recounting reads the hour's attentions and tallies their legs with
`kpi.QueueTally.add_leg`, the very rule of the live metrics and of `atiende
replay --summary`: the SQL only selects rows, it never decides what counts.

Exactness under concurrent writes: the recount deletes the marks it
consumes with DELETE ... RETURNING before reading the attentions. A writer's
trigger upserts its mark (taking the row's lock until it commits), so the
DELETE either waits for that writer and then sees its rows, or does not see
the mark at all, which then stays for the next report. Recounts take a
transaction-scoped advisory lock (PostgreSQL) or a process lock (SQLite,
one process) so two reports never interleave their reads and writes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, insert, select, text

from crm_bridge.attentions import leg_from_json
from crm_bridge.models import Attention, QueueHourCounted, QueueHourTally, ReportDirtyHour
from dashboards import kpi

# pg_advisory_xact_lock key: "atiende report rollup".
_ADVISORY_KEY = 0x61746E_7270
_SQLITE_LOCK = threading.Lock()
_COUNT_FIELDS = tuple(f.name for f in fields(kpi.QueueCounts))
# Hours per recount query: a first report over a year reads it in slices.
_SLICE_HOURS = 24 * 7


def fingerprint(
    definitions: Mapping[str, kpi.QueueKpiDefinition], default: kpi.QueueKpiDefinition
) -> str:
    """The thresholds that decide how a leg counts, as a short stable key.

    Targets and the service-level treatment are applied to the counts
    afterwards, so they are not part of it."""
    thresholds = {
        queue: [d.service_level_seconds, d.short_abandon_seconds]
        for queue, d in sorted(definitions.items())
        if (d.service_level_seconds, d.short_abandon_seconds)
        != (default.service_level_seconds, default.short_abandon_seconds)
    }
    thresholds["*"] = [default.service_level_seconds, default.short_abandon_seconds]
    encoded = json.dumps(thresholds, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _runs(hours: Iterable[int]) -> Iterator[tuple[int, int]]:
    """[first, last) runs of consecutive hours, at most _SLICE_HOURS long."""
    ordered = sorted(set(hours))
    start = previous = None
    for hour in ordered:
        if start is not None and previous is not None:
            if hour == previous + 1 and hour - start < _SLICE_HOURS:
                previous = hour
                continue
            yield start, previous + 1
        start = previous = hour
    if start is not None and previous is not None:
        yield start, previous + 1


def _moment(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def count_hours(
    conn: Connection,
    hours: Iterable[int],
    definitions: Mapping[str, kpi.QueueKpiDefinition],
    default: kpi.QueueKpiDefinition,
) -> dict[tuple[str, int], kpi.QueueCounts]:
    """QueueCounts per (queue, hour) of the calls that arrived in `hours`."""
    tallies: dict[tuple[str, int], kpi.QueueTally] = {}
    for first, end in _runs(hours):
        stmt = select(Attention.arrived_at, Attention.legs).where(
            Attention.arrived_at >= _moment(first), Attention.arrived_at < _moment(end)
        )
        for arrived_at, legs in conn.execute(stmt):
            hour = int(arrived_at.timestamp() // 3600)
            for data in legs or ():
                leg = leg_from_json(data)
                tally = tallies.get((leg.queue, hour))
                if tally is None:
                    tally = tallies[(leg.queue, hour)] = kpi.QueueTally()
                tally.add_leg(leg, definitions.get(leg.queue, default))
    return {key: tally.freeze() for key, tally in tallies.items()}


def refresh(
    conn: Connection,
    first_hour: int,
    end_hour: int,
    definitions: Mapping[str, kpi.QueueKpiDefinition],
    default: kpi.QueueKpiDefinition,
) -> str:
    """Bring the rollup of hours [first_hour, end_hour) up to date for these
    thresholds, inside the caller's transaction; returns the fingerprint."""
    key = fingerprint(definitions, default)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
    dirty = set(
        conn.execute(
            delete(ReportDirtyHour)
            .where(ReportDirtyHour.hour >= first_hour, ReportDirtyHour.hour < end_hour)
            .returning(ReportDirtyHour.hour)
        ).scalars()
    )
    if dirty:
        # Stale for every set of thresholds, not only this one.
        conn.execute(delete(QueueHourCounted).where(QueueHourCounted.hour.in_(dirty)))
        conn.execute(delete(QueueHourTally).where(QueueHourTally.hour.in_(dirty)))
    counted = set(
        conn.execute(
            select(QueueHourCounted.hour).where(
                QueueHourCounted.fingerprint == key,
                QueueHourCounted.hour >= first_hour,
                QueueHourCounted.hour < end_hour,
            )
        ).scalars()
    )
    todo = [hour for hour in range(first_hour, end_hour) if hour not in counted]
    if not todo:
        return key
    # Rows of other fingerprints may remain for hours not dirty; ours for
    # `todo` cannot exist (no marker), except after a marker was lost to a
    # crash between statements, which the transaction rules out.
    counts = count_hours(conn, todo, definitions, default)
    if counts:
        conn.execute(
            insert(QueueHourTally),
            [
                {
                    "fingerprint": key,
                    "queue": queue,
                    "hour": hour,
                    **{name: getattr(c, name) for name in _COUNT_FIELDS},
                }
                for (queue, hour), c in counts.items()
            ],
        )
    conn.execute(insert(QueueHourCounted), [{"fingerprint": key, "hour": hour} for hour in todo])
    return key


def queue_hour_counts(
    engine: Engine,
    first_hour: int,
    end_hour: int,
    definitions: Mapping[str, kpi.QueueKpiDefinition],
    default: kpi.QueueKpiDefinition,
    queues: list[str] | None = None,
) -> dict[tuple[str, int], kpi.QueueCounts]:
    """QueueCounts per (queue, UTC hour index) for hours [first_hour, end_hour),
    recounting first what changed."""
    lock = _SQLITE_LOCK if engine.dialect.name == "sqlite" else None
    if lock is not None:
        lock.acquire()
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One-pass reads: JIT compiling costs more than it saves.
                conn.execute(text("SET LOCAL jit = off"))
            key = refresh(conn, first_hour, end_hour, definitions, default)
            table = QueueHourTally.__table__
            stmt = select(table).where(
                table.c.fingerprint == key, table.c.hour >= first_hour, table.c.hour < end_hour
            )
            if queues:
                stmt = stmt.where(table.c.queue.in_(queues))
            rows = conn.execute(stmt).mappings()
            return {
                (str(row["queue"]), int(row["hour"])): kpi.QueueCounts(
                    *(row[name] for name in _COUNT_FIELDS)
                )
                for row in rows
            }
    finally:
        if lock is not None:
            lock.release()
