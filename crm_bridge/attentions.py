"""The attention repository: CallRecords in and out of the `attentions` table.

Writes are idempotent on the call key (system, linkedid) so that replays, the
start-up resync and retried batches can send the same record again. A call
that ended is never reopened by a late `in_progress` snapshot; an
`in_progress` row is completed by the final record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, bindparam, case, column, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    SQLAlchemyError,
)
from sqlalchemy.sql import ColumnElement, Executable
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import KeyedColumnElement

from crm_bridge.db import session_factory
from crm_bridge.exceptions import RecordRejectedError, StoreError
from crm_bridge.models import AgentStateInterval, Attention
from crm_bridge.phones import normalise_number
from crm_bridge.store_access import translate_error
from crm_bridge.sync.outbox import add_attention_rows, attention_rows_from
from telephony.domain import (
    AgentInterval,
    CallKey,
    CallRecord,
    HangupSide,
    Outcome,
    QueueLeg,
)

_IN_PROGRESS = Outcome.IN_PROGRESS.value
# crm_bridge.sync.outbox.add_attention_rows: outbox rows for (system, linkedid) keys.
_OutboxWriter = Callable[..., None]
_Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]
# Columns a later record may rewrite; identity and created_at stay, and so do
# the columns other services own (the person linked, the caller's survey).
_UPDATABLE = tuple(
    column.name
    for column in Attention.__table__.columns
    if column.name
    not in {"id", "system", "linkedid", "created_at", "person_id", "survey_score", "erased_at"}
)
# What an erasure anonymised; a later record of the call must not restore it.
_ERASABLE = frozenset({"caller_number_raw", "caller_number", "caller_name", "variables"})
# The channel variable the IVR sets to the privacy notice version the caller heard.
NOTICE_VERSION_VARIABLE = "ATIENDE_NOTICE_VERSION"
_NOTICE_VERSION_LENGTH = 32


# ---------------------------------------------------------------- conversions


def _clean(text: str) -> str:
    # PostgreSQL text and JSONB cannot hold NUL; it is never meaningful in a
    # caller ID or a channel variable, and one such value must not block a batch.
    return text.replace("\x00", "")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def to_datetime(timestamp: float | None) -> datetime | None:
    """POSIX seconds (Asterisk's clock) to an aware UTC datetime."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def to_timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _iso(timestamp: float | None) -> str | None:
    moment = to_datetime(_finite(timestamp))
    return None if moment is None else moment.isoformat()


def _from_iso(text: Any) -> float | None:
    return None if text is None else datetime.fromisoformat(str(text)).timestamp()


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def leg_to_json(leg: QueueLeg) -> dict[str, Any]:
    """A queue leg as stored in `attentions.legs` (times as ISO 8601 UTC)."""
    return {
        "queue": _clean(leg.queue),
        "joined_at": _iso(leg.joined_at),
        "left_at": _iso(leg.left_at),
        "position": leg.position,
        "outcome": leg.outcome.value,
        "agent": None if leg.agent is None else _clean(leg.agent),
        "interface": None if leg.agent_interface is None else _clean(leg.agent_interface),
        "answered_at": _iso(leg.answered_at),
        "wait_seconds": _finite(leg.wait_seconds),
        "talk_seconds": _finite(leg.talk_seconds),
        "abandon_position": leg.abandon_position,
    }


def leg_from_json(data: Mapping[str, Any]) -> QueueLeg:
    joined_at = _from_iso(data["joined_at"])
    abandon_position = data.get("abandon_position")
    return QueueLeg(
        queue=str(data["queue"]),
        joined_at=0.0 if joined_at is None else joined_at,
        position=int(data.get("position") or 0),
        left_at=_from_iso(data.get("left_at")),
        outcome=Outcome(data.get("outcome", _IN_PROGRESS)),
        agent=_optional_str(data.get("agent")),
        agent_interface=_optional_str(data.get("interface")),
        answered_at=_from_iso(data.get("answered_at")),
        wait_seconds=_optional_float(data.get("wait_seconds")),
        talk_seconds=_optional_float(data.get("talk_seconds")),
        abandon_position=None if abandon_position is None else int(abandon_position),
    )


def attention_values(record: CallRecord, *, phone_region: str, now: datetime) -> dict[str, Any]:
    """The `attentions` row of `record`; RecordRejectedError if it has no usable arrival."""
    arrived_at = _finite(record.arrived_at)
    if arrived_at is None:
        raise RecordRejectedError(f"call {record.key.linkedid!r} has no arrival time")
    try:
        return {
            "system": _clean(record.key.system),
            "linkedid": _clean(record.key.linkedid),
            "channel": _clean(record.channel),
            "caller_number_raw": _clean(record.caller_number),
            "caller_number": normalise_number(record.caller_number, phone_region),
            "caller_name": _clean(record.caller_name),
            "arrived_at": to_datetime(arrived_at),
            "queue_joined_at": to_datetime(_finite(record.queue_joined_at)),
            "answered_at": to_datetime(_finite(record.answered_at)),
            "ended_at": to_datetime(_finite(record.ended_at)),
            "ivr_path": [_clean(step) for step in record.ivr_path],
            "queues": [_clean(queue) for queue in record.queues],
            "queue": None if record.queue is None else _clean(record.queue),
            "agent": None if record.agent is None else _clean(record.agent),
            "agents": [_clean(agent) for agent in record.agents],
            "legs": [leg_to_json(leg) for leg in record.legs],
            "wait_seconds": _finite(record.wait_seconds),
            "talk_seconds": _finite(record.talk_seconds),
            "outcome": record.outcome.value,
            "hangup_side": record.hangup_side.value,
            "variables": {_clean(k): _clean(v) for k, v in record.variables.items()},
            "notice_version": _notice_version(record.variables),
            "created_at": now,
            "updated_at": now,
        }
    except (OverflowError, OSError, ValueError) as err:
        raise RecordRejectedError(f"call {record.key.linkedid!r}: {err}") from err


def _notice_version(variables: Mapping[str, str]) -> str | None:
    # A channel variable is caller-reachable text: cut it to the column's size
    # rather than let one value fail a batch.
    value = _clean(variables.get(NOTICE_VERSION_VARIABLE, "")).strip()
    return value[:_NOTICE_VERSION_LENGTH] or None


def record_from_row(row: Attention) -> CallRecord:
    """The CallRecord an `attentions` row was written from."""
    arrived_at = to_timestamp(row.arrived_at)
    return CallRecord(
        key=CallKey(system=row.system, linkedid=row.linkedid),
        caller_number=row.caller_number_raw,
        caller_name=row.caller_name,
        arrived_at=0.0 if arrived_at is None else arrived_at,
        outcome=Outcome(row.outcome),
        hangup_side=HangupSide(row.hangup_side),
        queue_joined_at=to_timestamp(row.queue_joined_at),
        answered_at=to_timestamp(row.answered_at),
        ended_at=to_timestamp(row.ended_at),
        ivr_path=tuple(str(step) for step in row.ivr_path),
        legs=tuple(leg_from_json(leg) for leg in row.legs),
        wait_seconds=row.wait_seconds,
        talk_seconds=row.talk_seconds,
        variables={str(k): str(v) for k, v in row.variables.items()},
        channel=row.channel,
    )


def interval_values(interval: AgentInterval) -> dict[str, Any]:
    started_at, ended_at = _finite(interval.started_at), _finite(interval.ended_at)
    if started_at is None or ended_at is None:
        raise RecordRejectedError(f"agent interval of {interval.interface!r} has no bounds")
    try:
        return {
            "system": _clean(interval.system),
            "interface": _clean(interval.interface),
            "member_name": _clean(interval.member_name),
            "state": interval.state.value,
            "reason": None if interval.reason is None else _clean(interval.reason),
            "queue": None if interval.queue is None else _clean(interval.queue),
            "started_at": to_datetime(started_at),
            "ended_at": to_datetime(ended_at),
            "duration_seconds": max(0.0, ended_at - started_at),
        }
    except (OverflowError, OSError, ValueError) as err:
        raise RecordRejectedError(f"agent interval of {interval.interface!r}: {err}") from err


def collapse(records: Iterable[CallRecord]) -> dict[CallKey, CallRecord]:
    """The last record of each call, except that a final record is never
    replaced by a later `in_progress` one (the same rule the upsert applies)."""
    latest: dict[CallKey, CallRecord] = {}
    for record in records:
        merge_record(latest, record)
    return latest


def merge_record(latest: dict[CallKey, CallRecord], record: CallRecord) -> bool:
    """Put `record` into `latest`; True when it replaced or lost to another."""
    previous = latest.get(record.key)
    if previous is None:
        latest[record.key] = record
        return False
    if previous.outcome is Outcome.IN_PROGRESS or record.outcome is not Outcome.IN_PROGRESS:
        latest[record.key] = record
    return True


def interval_key(interval: AgentInterval) -> tuple[str, str, str, str, float]:
    """What makes two intervals the same row (the unique index of the table)."""
    return (
        interval.system,
        interval.interface,
        interval.state.value,
        interval.queue or "",
        interval.started_at,
    )


# ---------------------------------------------------------------- repository


class AttentionRepository:
    """Reads and idempotent writes of attentions and agent state intervals."""

    def __init__(self, engine: Engine, *, phone_region: str = "UY", outbox: bool = False) -> None:
        """`outbox`: every final attention written also gets a CRM outbox row in
        the same transaction (crm_bridge.sync.outbox), for the CRM sync."""
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise StoreError(f"unsupported database {engine.dialect.name!r}")
        self._engine = engine
        self._sessions = session_factory(engine)
        self._phone_region = phone_region
        self._outbox_rows: _OutboxWriter | None = None
        if outbox:
            self._outbox_rows = add_attention_rows

    @property
    def engine(self) -> Engine:
        return self._engine

    def upsert_records(self, records: Sequence[CallRecord]) -> int:
        """Write `records` in one transaction; returns how many rows were sent.

        Several records of one call are collapsed first (a statement may not
        touch a row twice).
        """
        if not records:
            return 0
        now = datetime.now(UTC)
        rows = [
            attention_values(record, phone_region=self._phone_region, now=now)
            for record in collapse(records).values()
        ]
        dialect = self._engine.dialect.name
        stmt = _attention_upsert(dialect)
        final = [(row["system"], row["linkedid"]) for row in rows if row["outcome"] != _IN_PROGRESS]
        try:
            with self._engine.begin() as conn:
                if dialect == "postgresql":
                    # The whole batch as one JSON parameter of one statement
                    # (see _pg_bulk_upsert), with the outbox rows of the
                    # final attentions it wrote in the same statement.
                    batch = {"rows": [_jsonable(row) for row in rows]}
                    if self._outbox_rows is not None:
                        conn.execute(_PG_BULK_UPSERT_WITH_OUTBOX, {**batch, "outbox_now": now})
                    else:
                        conn.execute(_PG_BULK_UPSERT, batch)
                else:
                    conn.execute(stmt, rows)
                    if self._outbox_rows is not None and final:
                        self._outbox_rows(conn, final, now=now)
        except SQLAlchemyError as err:
            raise translate_error(err, f"writing {len(rows)} attentions") from err
        return len(rows)

    def add_intervals(self, intervals: Sequence[AgentInterval]) -> None:
        """Write agent state spans; one already stored is left as it is."""
        if not intervals:
            return
        unique = {interval_key(i): i for i in intervals}
        rows = [interval_values(interval) for interval in unique.values()]
        stmt = _interval_insert(self._engine.dialect.name)
        try:
            with self._engine.begin() as conn:
                conn.execute(stmt, rows)
        except SQLAlchemyError as err:
            raise translate_error(err, f"writing {len(rows)} agent intervals") from err

    def get(self, system: str, linkedid: str) -> Attention | None:
        """The stored attention of a call, detached (readable after return)."""
        query = select(Attention).where(Attention.system == system, Attention.linkedid == linkedid)
        try:
            with self._sessions() as session:
                return session.scalars(query).first()
        except SQLAlchemyError as err:
            raise translate_error(err, "reading an attention") from err

    def get_record(self, key: CallKey) -> CallRecord | None:
        row = self.get(key.system, key.linkedid)
        return None if row is None else record_from_row(row)

    def in_progress(self, system: str) -> list[CallRecord]:
        """Calls of `system` that were up when their last snapshot was written,
        oldest first (what the tracker resumes from at start-up)."""
        try:
            with self._sessions() as session:
                rows = session.scalars(_in_progress_query(system)).all()
        except SQLAlchemyError as err:
            raise translate_error(err, "reading calls in progress") from err
        return [record_from_row(row) for row in rows]

    def seen_until(self, system: str) -> tuple[float | None, list[str]]:
        """The newest moment the store recorded for `system` (an arrival or an
        end), and the calls it has as over from the second before it on.

        What a restarted bridge needs to tell a call queue_log has that began
        while no bridge ran from one already stored.
        """
        try:
            with self._sessions() as session:
                newest = session.execute(
                    select(func.max(Attention.arrived_at), func.max(Attention.ended_at)).where(
                        Attention.system == system
                    )
                ).one()
                moments = [to_timestamp(value) for value in newest if value is not None]
                if not moments:
                    return None, []
                until = max(m for m in moments if m is not None)
                recent = session.scalars(
                    select(Attention.linkedid).where(
                        Attention.system == system,
                        Attention.outcome != "in_progress",
                        Attention.ended_at >= to_datetime(float(int(until)) - 1.0),
                    )
                ).all()
        except SQLAlchemyError as err:
            raise translate_error(err, "reading the newest attention") from err
        return until, list(recent)

    def close_lost(
        self, system: str, keys_still_up: Iterable[CallKey], at: float
    ) -> list[CallRecord]:
        """Mark the `in_progress` calls of `system` not in `keys_still_up` as
        lost during an outage, ended at `at`; returns them as closed.

        The safety net for calls that ended while nobody was listening: their
        queue legs still open are closed the same way.
        """
        still_up = {key.linkedid for key in keys_still_up if key.system == system}
        ended_at = to_datetime(at)
        now = datetime.now(UTC)
        closed: list[CallRecord] = []
        try:
            with self._sessions.begin() as session:
                conn = session.connection()
                for row in session.scalars(_in_progress_query(system)).all():
                    if row.linkedid in still_up:
                        continue
                    legs = [_close_leg(leg, at) for leg in row.legs]
                    # Only while still in progress: a final record written
                    # since the select wins.
                    result = conn.execute(
                        update(Attention)
                        .where(and_(Attention.id == row.id, Attention.outcome == _IN_PROGRESS))
                        .values(
                            outcome=Outcome.LOST_DURING_OUTAGE.value,
                            ended_at=ended_at,
                            legs=legs,
                            updated_at=now,
                        )
                    )
                    if result.rowcount:
                        session.expunge(row)
                        row.outcome = Outcome.LOST_DURING_OUTAGE.value
                        row.ended_at = ended_at
                        row.legs = legs
                        closed.append(record_from_row(row))
                if self._outbox_rows is not None and closed:
                    keys = [(r.key.system, r.key.linkedid) for r in closed]
                    self._outbox_rows(conn, keys, now=now)
        except SQLAlchemyError as err:
            raise translate_error(err, "closing calls lost during an outage") from err
        return closed

    def count(self) -> int:
        return self._count(Attention)

    def count_intervals(self) -> int:
        return self._count(AgentStateInterval)

    def _count(self, model: type[Attention] | type[AgentStateInterval]) -> int:
        try:
            with self._engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
        except SQLAlchemyError as err:
            raise translate_error(err, "counting rows") from err


def _update_set(excluded: _Excluded) -> dict[str, ColumnElement[Any]]:
    table = Attention.__table__.c
    return {
        name: (
            case((table.erased_at.is_(None), excluded[name]), else_=table[name])
            if name in _ERASABLE
            else excluded[name]
        )
        for name in _UPDATABLE
    }


def _keep_final(excluded: _Excluded) -> ColumnElement[bool]:
    # A late in_progress snapshot must not reopen a call that ended.
    return or_(Attention.outcome == _IN_PROGRESS, excluded.outcome != _IN_PROGRESS)


_ROW_COLUMNS = (
    "system",
    "linkedid",
    "channel",
    "caller_number_raw",
    "caller_number",
    "caller_name",
    "arrived_at",
    "queue_joined_at",
    "answered_at",
    "ended_at",
    "ivr_path",
    "queues",
    "queue",
    "agent",
    "agents",
    "legs",
    "wait_seconds",
    "talk_seconds",
    "outcome",
    "hangup_side",
    "variables",
    "notice_version",
    "created_at",
    "updated_at",
)


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    # Aware UTC datetimes as ISO 8601: PostgreSQL reads them back as
    # timestamptz from the record definition.
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _pg_bulk_upsert() -> ReturningInsert[int, str]:
    """The upsert of a whole batch in one statement, rows from one JSON array
    (`jsonb_to_recordset`): one round trip and one run of the statement
    triggers per batch, where executemany sends a statement per row. Same
    conflict rule and updated columns as _attention_upsert."""
    table = Attention.__table__.c
    source = (
        func.jsonb_to_recordset(bindparam("rows", type_=postgresql.JSONB))
        .table_valued(*(column(name, table[name].type) for name in _ROW_COLUMNS))
        .render_derived(with_types=True)
    )
    pg = postgresql.insert(Attention).from_select(
        list(_ROW_COLUMNS), select(*(source.c[name] for name in _ROW_COLUMNS))
    )
    return pg.on_conflict_do_update(
        index_elements=[Attention.system, Attention.linkedid],
        set_=_update_set(pg.excluded),
        where=_keep_final(pg.excluded),
    ).returning(Attention.id, Attention.outcome)


def _attention_upsert(dialect: str) -> Executable:
    key = [Attention.system, Attention.linkedid]
    if dialect == "postgresql":
        pg = postgresql.insert(Attention)
        return pg.on_conflict_do_update(
            index_elements=key, set_=_update_set(pg.excluded), where=_keep_final(pg.excluded)
        )
    lite = sqlite.insert(Attention)
    return lite.on_conflict_do_update(
        index_elements=key, set_=_update_set(lite.excluded), where=_keep_final(lite.excluded)
    )


def _interval_insert(dialect: str) -> Executable:
    # No conflict target: the unique index is on an expression (coalesce(queue, '')).
    if dialect == "postgresql":
        return postgresql.insert(AgentStateInterval).on_conflict_do_nothing()
    return sqlite.insert(AgentStateInterval).on_conflict_do_nothing()


def _in_progress_query(system: str) -> Select[Attention]:
    return (
        select(Attention)
        .where(Attention.system == system, Attention.outcome == _IN_PROGRESS)
        .order_by(Attention.arrived_at, Attention.id)
    )


def _close_leg(leg: Mapping[str, Any], at: float) -> dict[str, Any]:
    if leg.get("outcome", _IN_PROGRESS) != _IN_PROGRESS:
        return dict(leg)
    return {**leg, "outcome": Outcome.LOST_DURING_OUTAGE.value, "left_at": _iso(at)}


_PG_BULK_UPSERT = _pg_bulk_upsert()
# WITH written AS (the upsert ... RETURNING id, outcome) INSERT INTO crm_outbox ...
_PG_BULK_UPSERT_WITH_OUTBOX = attention_rows_from(_PG_BULK_UPSERT.cte("written"))
