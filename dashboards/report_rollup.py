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
  (migration 0011) mark the hour of every row inserted, updated or deleted,
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
from datetime import UTC, date, datetime, tzinfo
from operator import add
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)

from crm_bridge.models import Attention, QueueHourCounted, QueueHourTally, ReportDirtyHour
from dashboards import kpi

# pg_advisory_xact_lock key: "atiende report rollup".
_ADVISORY_KEY = 0x61746E_7270
_SQLITE_LOCK = threading.Lock()
_COUNT_FIELDS = tuple(f.name for f in fields(kpi.QueueCounts))
_TALLIES = Table(QueueHourTally.__tablename__, QueueHourTally.metadata)
_COUNTED = Table(QueueHourCounted.__tablename__, QueueHourCounted.metadata)
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


def _values(counts: kpi.QueueCounts) -> dict[str, Any]:
    return {name: getattr(counts, name) for name in _COUNT_FIELDS}


def _moment(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


# Each leg of the calls that arrived in [first, end), flattened to the fields
# the rule reads: hour, queue, answered?, outcome, wait, talk. The database
# only unpacks the stored JSON (crm_bridge.attentions.leg_to_json); what
# counts is decided by kpi.QueueTally in Python.
_LEGS_SQL = {
    "postgresql": """
SELECT CAST(floor(EXTRACT(epoch FROM a.arrived_at) / 3600.0) AS INTEGER),
       l.queue, l.answered_at IS NOT NULL, l.outcome, l.wait_seconds, l.talk_seconds
FROM attentions AS a
CROSS JOIN LATERAL jsonb_to_recordset(a.legs) AS l(
    queue text, outcome text, answered_at text, wait_seconds float8, talk_seconds float8)
WHERE a.arrived_at >= :first AND a.arrived_at < :end
""",
    "sqlite": """
SELECT CAST(strftime('%s', a.arrived_at) AS INTEGER) / 3600,
       json_extract(l.value, '$.queue'),
       json_extract(l.value, '$.answered_at') IS NOT NULL,
       json_extract(l.value, '$.outcome'),
       json_extract(l.value, '$.wait_seconds'),
       json_extract(l.value, '$.talk_seconds')
FROM attentions AS a, json_each(a.legs) AS l
WHERE a.arrived_at >= :first AND a.arrived_at < :end
""",
}


def count_hours(
    conn: Connection,
    hours: Iterable[int],
    definitions: Mapping[str, kpi.QueueKpiDefinition],
    default: kpi.QueueKpiDefinition,
) -> dict[tuple[str, int], kpi.QueueCounts]:
    """QueueCounts per (queue, hour) of the calls that arrived in `hours`."""
    moment = Attention.arrived_at.type
    stmt = text(_LEGS_SQL[conn.dialect.name]).bindparams(
        bindparam("first", type_=moment), bindparam("end", type_=moment)
    )
    tallies: dict[tuple[str, int], kpi.QueueTally] = {}
    for first, end in _runs(hours):
        rows = conn.execute(stmt, {"first": _moment(first), "end": _moment(end)}).all()
        for hour, queue, answered, outcome, wait, talk in rows:
            tally = tallies.get((queue, hour))
            if tally is None:
                tally = tallies[(queue, hour)] = kpi.QueueTally()
            tally.add(
                bool(answered),
                outcome or "",
                None if wait is None else float(wait),
                None if talk is None else float(talk),
                definitions.get(queue, default),
            )
    return {(str(queue), int(hour)): t.freeze() for (queue, hour), t in tallies.items()}


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
    rows = [
        {"fingerprint": key, "queue": queue, "hour": hour, **_values(c)}
        for (queue, hour), c in counts.items()
    ]
    # Core tables, not the ORM classes: a plain executemany.
    if rows:
        conn.execute(insert(_TALLIES), rows)
    conn.execute(insert(_COUNTED), [{"fingerprint": key, "hour": h} for h in todo])
    return key


def prepare(
    engine: Engine,
    first_hour: int,
    end_hour: int,
    definitions: Mapping[str, kpi.QueueKpiDefinition],
    default: kpi.QueueKpiDefinition,
) -> None:
    """Count hours [first_hour, end_hour) into the rollup ahead of any report
    (`atiende serve` does it for recent weeks at start, a day per call, so
    the first report of a fresh deploy or of new thresholds is not the one
    that waits for a month to be counted)."""
    lock = _SQLITE_LOCK if engine.dialect.name == "sqlite" else None
    if lock is not None:
        lock.acquire()
    try:
        with engine.begin() as conn:
            refresh(conn, first_hour, end_hour, definitions, default)
    finally:
        if lock is not None:
            lock.release()


Period = tuple[date, int | None]  # local day, and local hour or None


def queue_period_counts(
    engine: Engine,
    first_hour: int,
    end_hour: int,
    definitions: Mapping[str, kpi.QueueKpiDefinition],
    default: kpi.QueueKpiDefinition,
    *,
    timezone: tzinfo,
    by_hour: bool,
    queues: list[str] | None = None,
) -> dict[tuple[str, date, int | None], kpi.QueueCounts]:
    """QueueCounts per queue and local day (or local day and hour) of the
    hours [first_hour, end_hour), recounting first what changed.

    The hourly tallies are summed into periods by PostgreSQL when it knows the
    time zone (`AT TIME ZONE`, DST included), else in Python; sums of counts,
    no rule involved."""
    lock = _SQLITE_LOCK if engine.dialect.name == "sqlite" else None
    if lock is not None:
        lock.acquire()
    try:
        with engine.begin() as conn:
            zone = getattr(timezone, "key", None)
            if conn.dialect.name == "postgresql":
                # One-pass reads: JIT compiling costs more than it saves.
                conn.execute(text("SET LOCAL jit = off"))
            key = refresh(conn, first_hour, end_hour, definitions, default)
            table = _TALLIES
            where = [
                table.c.fingerprint == key,
                table.c.hour >= first_hour,
                table.c.hour < end_hour,
            ]
            if queues:
                where.append(table.c.queue.in_(queues))
            sums = [func.sum(table.c[name]) for name in _COUNT_FIELDS]
            # Rows come ordered by queue (code point order, as Python sorts
            # strings) and period, so the report needs no sort and a period's
            # hours arrive one after the other.
            by_queue: Any = table.c.queue
            if conn.dialect.name == "postgresql":
                by_queue = by_queue.collate("C")
            # By day PostgreSQL folds 24 rows into one; by hour nothing folds
            # (whole-hour offsets), so the rows come as they are stored.
            if conn.dialect.name == "postgresql" and zone is not None and not by_hour:
                local = func.timezone(zone, func.to_timestamp(table.c.hour * 3600))
                day = func.date(local)
                stmt = (
                    select(table.c.queue, day, *sums)
                    .where(*where)
                    .group_by(table.c.queue, day)
                    .order_by(by_queue, day)
                )
                # sum() of int4 is int8 and of float8 float8: the driver
                # hands back ints and floats, in QueueCounts' field order.
                return {
                    (row[0], row[1], None): kpi.QueueCounts(*row[2:])
                    for row in conn.execute(stmt).all()
                }
            stmt = (
                select(table.c.queue, table.c.hour, *(table.c[n] for n in _COUNT_FIELDS))
                .where(*where)
                .order_by(by_queue, table.c.hour)
            )
            rows = conn.execute(stmt).all()
    finally:
        if lock is not None:
            lock.release()
    return _fold(rows, timezone, by_hour)


def _fold(
    rows: Iterable[Any], timezone: tzinfo, by_hour: bool
) -> dict[tuple[str, date, int | None], kpi.QueueCounts]:
    """Rows (queue, UTC hour index, *counts), ordered by queue and hour, summed
    into local days (or local hours: two only when a DST change repeats one),
    in the same order."""
    periods: dict[int, Period] = {}
    counted: dict[tuple[str, date, int | None], kpi.QueueCounts] = {}
    group: tuple[str, date, int | None] | None = None
    total: list[Any] = []
    for row in rows:
        hour_index = row[1]
        period = periods.get(hour_index)
        if period is None:
            moment = datetime.fromtimestamp(hour_index * 3600, timezone)
            period = periods[hour_index] = (moment.date(), moment.hour if by_hour else None)
        key = (row[0], *period)
        if key == group:
            total = list(map(add, total, row[2:]))
            continue
        if group is not None:
            counted[group] = kpi.QueueCounts(*total)
        group, total = key, row[2:]
    if group is not None:
        counted[group] = kpi.QueueCounts(*total)
    return counted
