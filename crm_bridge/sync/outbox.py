"""The transactional outbox: rows written with each change, relayed to the job queue.

A change and its outbox row commit together, so no change can be lost
between the database and Redis: the relay hands every pending row to the
dispatcher (marking it enqueued) and hands it again when the queue no longer
knows its job (Redis flushed, restarted without persistence, a worker killed
mid-job). Delivery is therefore at least once; the jobs are idempotent.

`enqueued_at` is "last handed to, or last seen alive in, the queue": the
relay refreshes it on every row it checks, so its scan of stale rows walks
through all of them instead of re-reading the same first batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import (
    CTE,
    Connection,
    Engine,
    Insert,
    Subquery,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from crm_bridge.db import session_factory
from crm_bridge.exceptions import CrmBridgeError
from crm_bridge.models import (
    Attention,
    AttentionWrapup,
    CrmOutbox,
    Person,
    PersonAddress,
    PersonConsent,
    PersonDocument,
    PersonEmail,
    PersonPhone,
    Ticket,
)
from crm_bridge.store_access import translated
from crm_bridge.sync.exceptions import DispatchError
from telephony.domain import Outcome

log = logging.getLogger(__name__)

_KEY_CHUNK = 500  # linkedids per statement
_ERROR_LENGTH = 500


class Entity(StrEnum):
    ATTENTION = "attention"
    PERSON = "person"
    WRAPUP = "wrapup"  # attention_wrapups.id: a finished wrap-up, a note on the call
    TICKET = "ticket"  # tickets.id


class Action(StrEnum):
    UPSERT = "upsert"
    ERASE = "erase"


class Dispatcher(Protocol):
    """Where outbox rows become jobs: RQ on Redis, or the in-process runner."""

    def dispatch(self, outbox_id: int) -> None:
        """Queue the job of this row (again, if it was queued before)."""
        ...

    def is_alive(self, outbox_id: int) -> bool:
        """True while the queue still holds this row's job (waiting, scheduled or running)."""
        ...


# ---------------------------------------------------- writes inside a change


def add_rows(
    target: Connection | Session,
    entity: Entity,
    entity_ids: Iterable[int],
    action: Action = Action.UPSERT,
    *,
    now: datetime | None = None,
) -> None:
    """Outbox rows for `entity_ids`, in the caller's transaction."""
    moment = now or datetime.now(UTC)
    rows = [
        {
            "entity": entity.value,
            "entity_id": entity_id,
            "action": action.value,
            "created_at": moment,
            "attempts": 0,
        }
        for entity_id in dict.fromkeys(entity_ids)
    ]
    if rows:
        target.execute(insert(CrmOutbox), rows)


def add_attention_rows(
    conn: Connection, keys: Sequence[tuple[str, str]], *, now: datetime | None = None
) -> None:
    """Outbox rows for the attentions stored under these (system, linkedid) keys."""
    moment = now or datetime.now(UTC)
    created = CrmOutbox.__table__.c.created_at.type
    by_system: dict[str, list[str]] = {}
    for system, linkedid in keys:
        by_system.setdefault(system, []).append(linkedid)
    for system, linkedids in by_system.items():
        unique = list(dict.fromkeys(linkedids))
        for start in range(0, len(unique), _KEY_CHUNK):
            # system = ... AND linkedid IN (...): an index range scan, where a
            # row-value IN would not use the unique index as well.
            source = select(
                literal(Entity.ATTENTION.value),
                Attention.id,
                literal(Action.UPSERT.value),
                literal(moment, type_=created),
                literal(0),
            ).where(
                Attention.system == system,
                Attention.linkedid.in_(unique[start : start + _KEY_CHUNK]),
            )
            conn.execute(
                insert(CrmOutbox).from_select(
                    ["entity", "entity_id", "action", "created_at", "attempts"], source
                )
            )


def attention_rows_from(written: Subquery | CTE) -> Insert:
    """The insert of an outbox row for every final attention in `written`
    (columns id and outcome: what the store's upsert returns, given to this
    as a CTE so the upsert and its outbox rows are one statement, one round
    trip, and no lookup by key whatever the planner thinks of a table that
    grew since its last ANALYZE). Its `:outbox_now` parameter is created_at."""
    created = CrmOutbox.__table__.c.created_at.type
    source = select(
        literal(Entity.ATTENTION.value),
        written.c.id,
        literal(Action.UPSERT.value),
        bindparam("outbox_now", type_=created),
        literal(0),
    ).where(written.c.outcome != Outcome.IN_PROGRESS.value)
    return insert(CrmOutbox).from_select(
        ["entity", "entity_id", "action", "created_at", "attempts"], source
    )


_QUEUED_PERSONS = "crm_outbox_persons"
_IN_PROGRESS = Outcome.IN_PROGRESS.value
_PERSON_PARTS = (PersonPhone, PersonEmail, PersonConsent, PersonAddress, PersonDocument)


def track_person_changes(engine: Engine) -> Callable[[], None]:
    """Outbox rows for every person written through an ORM session bound to `engine`.

    The person services (crm_bridge.persons, the agent panel) need no change:
    a flush that inserts or changes a person, or adds, changes or deletes one
    of their phones, emails, consents, addresses or documents, adds a person
    upsert row in the same transaction. Bulk statements (session.execute of
    an update or delete) are not seen: they bypass the unit of work. Returns
    the function that stops the tracking.
    """

    def after_flush(session: Session, _context: object) -> None:
        if session.bind is not engine:
            return
        ids: set[int] = set()
        for obj in (*session.new, *session.dirty):
            if isinstance(obj, Person) and session.is_modified(obj):
                ids.add(obj.id)
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, _PERSON_PARTS):
                ids.add(obj.person_id)
        ids -= {obj.id for obj in session.deleted if isinstance(obj, Person)}
        # One row per person per transaction, however many flushes it takes.
        queued: set[int] = session.info.setdefault(_QUEUED_PERSONS, set())
        if ids - queued:
            # Core insert on the flush's connection: an ORM statement here would flush again.
            add_rows(session.connection(), Entity.PERSON, sorted(ids - queued))
            queued |= ids

    return _on_flushes(after_flush, _QUEUED_PERSONS)


def _on_flushes(after_flush: Callable[[Session, object], None], queued: str) -> Callable[[], None]:
    """Runs `after_flush` after every session's flush; what it noted in
    `session.info[queued]` (one row per entity per transaction) is forgotten
    when the transaction ends. Returns the function that stops it."""

    def forget(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # flushes end subtransactions of their own
            session.info.pop(queued, None)

    event.listen(Session, "after_flush", after_flush)
    event.listen(Session, "after_transaction_end", forget)

    def stop() -> None:
        event.remove(Session, "after_flush", after_flush)
        event.remove(Session, "after_transaction_end", forget)

    return stop


def track_attention_updates(engine: Engine) -> Callable[[], None]:
    """Outbox rows for ended attentions changed by an ORM UPDATE in a session on `engine`.

    What links a call to its person (PersonRegistry.link_attention), records a
    survey score or anonymises a call is an UPDATE statement on `attentions`;
    the rows it matches (calls still in progress excepted: their final record
    brings them) get an upsert row in the same transaction. Returns the
    function that stops the tracking.
    """

    def before_update(state: ORMExecuteState) -> None:
        if not state.is_update or state.session.bind is not engine:
            return
        mapper = state.bind_mapper
        if mapper is None or mapper.class_ is not Attention:
            return
        where = getattr(state.statement, "whereclause", None)
        query = select(Attention.id).where(Attention.outcome != _IN_PROGRESS)
        if where is not None:
            query = query.where(where)
        conn = state.session.connection()
        add_rows(conn, Entity.ATTENTION, conn.execute(query).scalars().all())

    event.listen(Session, "do_orm_execute", before_update)
    return lambda: event.remove(Session, "do_orm_execute", before_update)


_QUEUED_FOLLOWUPS = "crm_outbox_followups"


def track_followup_changes(engine: Engine) -> Callable[[], None]:
    """Outbox rows for wrap-ups finished and tickets written through an ORM
    session bound to `engine` (agent_api.wrapups, crm_bridge.tickets and
    crm_bridge.contacts need no change).

    A wrap-up counts once it is finished (a resolution and its end time): an
    open one is not news for the CRM. A ticket counts when inserted or when
    any of its columns changes (status, unit, response...). One row per
    entity per transaction, as for persons. Returns the function that stops it.
    """

    def after_flush(session: Session, _context: object) -> None:
        if session.bind is not engine:
            return
        wrapups: set[int] = set()
        tickets: set[int] = set()
        for obj in (*session.new, *session.dirty):
            if (
                isinstance(obj, AttentionWrapup)
                and obj.resolution is not None
                and obj.wrapup_ended_at is not None
                and (obj in session.new or session.is_modified(obj))
            ):
                wrapups.add(obj.id)
            elif isinstance(obj, Ticket) and (obj in session.new or session.is_modified(obj)):
                tickets.add(obj.id)
        queued: set[tuple[str, int]] = session.info.setdefault(_QUEUED_FOLLOWUPS, set())
        conn = session.connection()
        for entity, ids in ((Entity.WRAPUP, wrapups), (Entity.TICKET, tickets)):
            fresh = sorted(i for i in ids if (entity.value, i) not in queued)
            if fresh:
                add_rows(conn, entity, fresh)
                queued.update((entity.value, i) for i in fresh)

    return _on_flushes(after_flush, _QUEUED_FOLLOWUPS)


def track_changes(engine: Engine) -> Callable[[], None]:
    """Every tracker (persons, attention updates, wrap-ups and tickets);
    returns the function that stops them."""
    stops = [
        track_person_changes(engine),
        track_attention_updates(engine),
        track_followup_changes(engine),
    ]

    def stop() -> None:
        for undo in stops:
            undo()

    return stop


# ----------------------------------------------------------------- the relay


@dataclass(frozen=True, slots=True)
class RelayResult:
    enqueued: int = 0  # rows handed to the queue for the first time
    reenqueued: int = 0  # rows whose job the queue had lost
    failed_dispatch: bool = False  # the queue refused; the rest waits for the next pass


class OutboxRelay:
    """Moves outbox rows to a dispatcher; run `relay_once` periodically or `start` a thread."""

    def __init__(
        self,
        engine: Engine,
        dispatcher: Dispatcher,
        *,
        batch_size: int = 500,
        stale_after: float = 600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._dispatcher = dispatcher
        self._batch_size = batch_size
        self._stale_after = timedelta(seconds=stale_after)
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def relay_once(self) -> RelayResult:
        """One pass: new rows first, then rows enqueued earlier than `stale_after`."""
        enqueued, failed = self._relay_new()
        if failed:
            return RelayResult(enqueued, 0, True)
        reenqueued, failed = self._relay_stale()
        return RelayResult(enqueued, reenqueued, failed)

    def _relay_new(self) -> tuple[int, bool]:
        query = (
            select(CrmOutbox)
            .where(
                CrmOutbox.enqueued_at.is_(None),
                CrmOutbox.done_at.is_(None),
                CrmOutbox.failed_at.is_(None),
            )
            .order_by(CrmOutbox.id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        count = 0
        with translated("relaying the CRM outbox"), self._sessions.begin() as session:
            for row in session.scalars(query).all():
                try:
                    self._dispatcher.dispatch(row.id)
                except DispatchError as err:
                    log.warning("CRM outbox relay: %s; %d row(s) handed over so far", err, count)
                    return count, True
                row.enqueued_at = self._clock()
                count += 1
        return count, False

    def _relay_stale(self) -> tuple[int, bool]:
        now = self._clock()
        query = (
            select(CrmOutbox)
            .where(
                CrmOutbox.enqueued_at <= now - self._stale_after,
                CrmOutbox.done_at.is_(None),
                CrmOutbox.failed_at.is_(None),
            )
            .order_by(CrmOutbox.enqueued_at, CrmOutbox.id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        count = 0
        with translated("re-relaying the CRM outbox"), self._sessions.begin() as session:
            for row in session.scalars(query).all():
                try:
                    if not self._dispatcher.is_alive(row.id):
                        self._dispatcher.dispatch(row.id)
                        count += 1
                except DispatchError as err:
                    log.warning("CRM outbox relay: %s", err)
                    return count, True
                row.enqueued_at = now
        if count:
            log.warning("CRM outbox relay: %d job(s) lost by the queue were enqueued again", count)
        return count, False

    def start(self, interval: float = 5.0) -> None:
        """Relay every `interval` seconds in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="crm-outbox-relay", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.relay_once()
            except CrmBridgeError as err:
                # The database is away: the rows wait there for the next pass.
                log.warning("CRM outbox relay pass failed: %s", err)
            self._stop.wait(interval)


# ------------------------------------------------------------ job bookkeeping


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    entity: Entity
    entity_id: int
    action: Action
    created_at: datetime
    enqueued_at: datetime | None
    done_at: datetime | None
    failed_at: datetime | None
    attempts: int
    last_error: str | None


def _row(row: CrmOutbox) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        entity=Entity(row.entity),
        entity_id=row.entity_id,
        action=Action(row.action),
        created_at=row.created_at,
        enqueued_at=row.enqueued_at,
        done_at=row.done_at,
        failed_at=row.failed_at,
        attempts=row.attempts,
        last_error=row.last_error,
    )


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int  # not synced yet, still being tried
    failed: int  # retries exhausted: in the failed list
    oldest_pending_seconds: float  # how far behind the CRM is


class OutboxStore:
    """What jobs and the failed-jobs API read and write on outbox rows."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def get(self, outbox_id: int) -> OutboxRow | None:
        with translated("reading the CRM outbox"), self._sessions() as session:
            row = session.get(CrmOutbox, outbox_id)
            return None if row is None else _row(row)

    def mark_done(self, row: OutboxRow) -> None:
        """Done, with every older row of the same change: the job sent the current values."""
        with translated("marking a CRM sync done"), self._sessions.begin() as session:
            session.execute(
                update(CrmOutbox)
                .where(
                    CrmOutbox.entity == row.entity.value,
                    CrmOutbox.entity_id == row.entity_id,
                    CrmOutbox.action == row.action.value,
                    CrmOutbox.id <= row.id,
                    CrmOutbox.done_at.is_(None),
                )
                .values(done_at=self._clock(), failed_at=None)
            )

    def record_failure(self, outbox_id: int, error: str, *, final: bool) -> None:
        with translated("recording a CRM sync failure"), self._sessions.begin() as session:
            row = session.get(CrmOutbox, outbox_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error[:_ERROR_LENGTH]
            if final:
                row.failed_at = self._clock()

    def failed(self, *, limit: int = 200) -> list[OutboxRow]:
        """Rows whose last retry failed, newest failure first."""
        query = (
            select(CrmOutbox)
            .where(CrmOutbox.failed_at.is_not(None), CrmOutbox.done_at.is_(None))
            .order_by(CrmOutbox.failed_at.desc(), CrmOutbox.id.desc())
            .limit(limit)
        )
        with translated("listing failed CRM syncs"), self._sessions() as session:
            return [_row(row) for row in session.scalars(query).all()]

    def pending(self) -> int:
        """Rows not done yet (failed ones included)."""
        query = select(func.count()).select_from(CrmOutbox).where(CrmOutbox.done_at.is_(None))
        with translated("counting the CRM outbox"), self._sessions() as session:
            return int(session.execute(query).scalar_one())

    def stats(self) -> OutboxStats:
        """Backlog figures for the metrics: rows waiting, rows failed, age of the oldest."""
        waiting = CrmOutbox.done_at.is_(None) & CrmOutbox.failed_at.is_(None)
        failed = CrmOutbox.done_at.is_(None) & CrmOutbox.failed_at.is_not(None)
        with translated("measuring the CRM outbox"), self._sessions() as session:
            pending = int(session.execute(select(func.count()).where(waiting)).scalar_one())
            failures = int(session.execute(select(func.count()).where(failed)).scalar_one())
            oldest = session.execute(select(func.min(CrmOutbox.created_at)).where(waiting))
            first: datetime | None = oldest.scalar_one()
        age = 0.0 if first is None else max(0.0, (self._clock() - first).total_seconds())
        return OutboxStats(pending=pending, failed=failures, oldest_pending_seconds=age)

    def rows(self) -> list[OutboxRow]:
        with translated("reading the CRM outbox"), self._sessions() as session:
            return [_row(r) for r in session.scalars(select(CrmOutbox).order_by(CrmOutbox.id))]

    def _reset(self, ids: Sequence[int]) -> list[int]:
        with translated("retrying CRM syncs"), self._sessions.begin() as session:
            rows = session.scalars(
                select(CrmOutbox).where(
                    CrmOutbox.id.in_(ids),
                    CrmOutbox.failed_at.is_not(None),
                    CrmOutbox.done_at.is_(None),
                )
            ).all()
            for row in rows:
                row.failed_at = None
                row.attempts = 0
                row.enqueued_at = self._clock()
            return [row.id for row in rows]


class SyncFailures:
    """The failed-jobs list and its retry action (what the API exposes)."""

    def __init__(self, store: OutboxStore, dispatcher: Dispatcher) -> None:
        self._store = store
        self._dispatcher = dispatcher

    def list(self, *, limit: int = 200) -> list[OutboxRow]:
        return self._store.failed(limit=limit)

    def retry(self, outbox_id: int) -> bool:
        """Queue a failed row again with a fresh retry budget; False if it is not failed."""
        return bool(self._retry([outbox_id]))

    def retry_all(self) -> int:
        return self._retry([row.id for row in self._store.failed(limit=100_000)])

    def _retry(self, ids: Sequence[int]) -> int:
        reset = self._store._reset(ids)
        for outbox_id in reset:
            # If this raises, the row is not failed any more and not done:
            # the relay hands it over again once it is stale.
            self._dispatcher.dispatch(outbox_id)
        return len(reset)
