"""Batched, off-loop writes of CallRecords and agent intervals.

The tracker must never wait for the database: `submit_record` and
`submit_interval` only put the value on a queue. One dedicated writer thread
drains it, collapses snapshots of the same call and writes batches through the
repository.

Why a dedicated thread fed by a `queue.SimpleQueue` rather than
`asyncio.to_thread` per batch: SimpleQueue.put is O(1), never blocks and is
safe from any thread; a single consumer keeps the writes to one call in
submission order (two concurrent batches could otherwise land an older
snapshot last); the retry back-off sleeps in that thread, not in the shared
default executor other components use; and the thread keeps absorbing (and
collapsing) new submissions while the database is down.

Nothing submitted is dropped because the database is down: records stay in
memory, collapsed to one per call, and are written once it is back. Memory is
therefore bounded by the number of distinct calls and spans awaiting a write.
`max_pending` (default 50,000) is an alarm, not a cap: a call with one leg
takes about 0.8 KB in memory, so the default stands for roughly 40-100 MB
depending on legs and variables; crossing it logs an error and sets
`backlogged` so that the operator (and the metrics) see the store falling
behind.

Values the database refuses outright (RecordRejectedError) are isolated,
logged without caller data and counted as `rejected`; retrying them could
never succeed and would block every other call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

from crm_bridge.attentions import interval_key, merge_record
from crm_bridge.exceptions import RecordRejectedError, StoreError, WriterClosedError
from crm_bridge.phones import mask_number
from telephony.domain import AgentInterval, CallKey, CallRecord

log = logging.getLogger(__name__)

_IntervalKey = tuple[str, str, str, str, float]


class AttentionSink(Protocol):
    """Where batches go (AttentionRepository; a seam for tests and other stores)."""

    def upsert_records(self, records: Sequence[CallRecord]) -> int: ...

    def add_intervals(self, intervals: Sequence[AgentInterval]) -> None: ...


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since start. `written` counts rows sent in committed batches,
    `collapsed` submissions superseded by a later one of the same call (or a
    duplicate span), `pending` submissions not yet settled."""

    written: int
    batches: int
    failures: int
    pending: int
    collapsed: int
    rejected: int
    backlogged: bool


@dataclass(frozen=True, slots=True)
class _Flush:
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class _Stop:
    flush: _Flush


_WAKE = object()  # unblocks the writer thread so that it notices an abandon


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class AttentionWriter:
    """Feeds an AttentionSink from any thread without ever blocking it."""

    def __init__(
        self,
        sink: AttentionSink,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        max_pending: int = 50_000,
        name: str = "attention-writer",
    ) -> None:
        if batch_size < 1 or flush_interval <= 0 or retry_initial <= 0 or max_pending < 1:
            raise ValueError(
                "batch_size, flush_interval, retry_initial and max_pending must be > 0"
            )
        self._sink = sink
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_initial = retry_initial
        self._retry_max = max(retry_max, retry_initial)
        self._max_pending = max_pending

        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._submitted = 0
        self._settled = 0
        self._written = 0
        self._batches = 0
        self._failures = 0
        self._collapsed = 0
        self._rejected = 0
        self._backlogged = False
        self._closed = False
        self._abandon = threading.Event()

        # Owned by the writer thread alone.
        self._records: dict[CallKey, CallRecord] = {}
        self._intervals: dict[_IntervalKey, AgentInterval] = {}
        self._waiters: list[_Flush] = []
        self._stopping = False

        # Daemon: a forgotten close() must not hang interpreter exit. The
        # composition root awaits close() on shutdown, which is what flushes.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ producer side

    def submit_record(self, record: CallRecord) -> None:
        self._submit(record)

    def submit_interval(self, interval: AgentInterval) -> None:
        self._submit(interval)

    def _submit(self, item: CallRecord | AgentInterval) -> None:
        if self._closed or not self._thread.is_alive():
            raise WriterClosedError("the attention writer is closed")
        with self._lock:
            self._submitted += 1
            pending = self._submitted - self._settled
            crossed = pending > self._max_pending and not self._backlogged
            if crossed:
                self._backlogged = True
        self._queue.put(item)
        if crossed:
            log.error(
                "attention store is falling behind: %d submissions not yet written "
                "(alarm threshold %d); they are kept in memory until the database accepts them",
                pending,
                self._max_pending,
            )

    async def flush(self) -> None:
        """Return once everything submitted before this call is committed.

        While the database is down this waits for it; wrap it in a timeout
        where that matters.
        """
        if not self._thread.is_alive():
            if self.pending:
                raise WriterClosedError(f"writer stopped with {self.pending} submissions unwritten")
            return
        loop = asyncio.get_running_loop()
        marker = _Flush(loop, loop.create_future())
        self._queue.put(marker)
        await marker.done

    async def close(self, give_up_after: float | None = None) -> None:
        """Flush, then stop the writer thread.

        With `give_up_after` (seconds), a database that stays unreachable that
        long makes the writer give up: what is still pending is logged as lost.
        """
        if self._closed:
            await asyncio.to_thread(self._thread.join)
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        marker = _Flush(loop, loop.create_future())
        self._queue.put(_Stop(marker))
        try:
            await asyncio.wait_for(asyncio.shield(marker.done), give_up_after)
        except TimeoutError:
            log.error(
                "attention writer stopped after %.1fs with %d submissions unwritten: "
                "the database stayed unreachable; those calls are lost from the store",
                give_up_after,
                self.pending,
            )
            self._abandon.set()
            self._queue.put(_WAKE)
        await asyncio.to_thread(self._thread.join)

    # ------------------------------------------------------------ counters

    def stats(self) -> WriterStats:
        with self._lock:
            return WriterStats(
                written=self._written,
                batches=self._batches,
                failures=self._failures,
                pending=self._submitted - self._settled,
                collapsed=self._collapsed,
                rejected=self._rejected,
                backlogged=self._backlogged,
            )

    @property
    def written(self) -> int:
        return self._written

    @property
    def batches(self) -> int:
        return self._batches

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def pending(self) -> int:
        with self._lock:
            return self._submitted - self._settled

    @property
    def backlogged(self) -> bool:
        return self._backlogged

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive (for health checks)."""
        return self._thread.is_alive()

    def _settle(self, *, written: int = 0, collapsed: int = 0, rejected: int = 0) -> None:
        with self._lock:
            self._settled += written + collapsed + rejected
            self._written += written
            self._collapsed += collapsed
            self._rejected += rejected
            if written:
                self._batches += 1
            # Hysteresis: the alarm may fire again only after a real recovery.
            if self._backlogged and self._submitted - self._settled < self._max_pending // 2:
                self._backlogged = False

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException:
            log.critical(
                "attention writer thread died with %d submissions unwritten",
                self.pending,
                exc_info=True,
            )
            self._fail_waiters()
            raise

    def _serve(self) -> None:
        due_at: float | None = None
        while True:
            timeout = None if due_at is None else max(0.0, due_at - time.monotonic())
            self._absorb_available(timeout)
            if self._abandon.is_set():
                self._fail_waiters()
                return
            buffered = len(self._records) + len(self._intervals)
            if buffered and due_at is None:
                due_at = time.monotonic() + self._flush_interval
            if (
                buffered >= self._batch_size
                or self._waiters
                or self._stopping
                or (due_at is not None and time.monotonic() >= due_at)
            ):
                self._write_all()
                due_at = None
                if self._abandon.is_set():
                    self._fail_waiters()
                    return
                for waiter in self._waiters:
                    self._notify(waiter, None)
                self._waiters.clear()
                if self._stopping:
                    return

    def _absorb_available(self, timeout: float | None) -> None:
        """Take one item (waiting up to `timeout`), then whatever else is
        already queued, up to a batch."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return
        self._absorb(item)
        while len(self._records) + len(self._intervals) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            self._absorb(item)

    def _absorb(self, item: object) -> None:
        if isinstance(item, CallRecord):
            if merge_record(self._records, item):
                self._settle(collapsed=1)
        elif isinstance(item, AgentInterval):
            key = interval_key(item)
            if key in self._intervals:
                self._settle(collapsed=1)
            self._intervals[key] = item
        elif isinstance(item, _Flush):
            self._waiters.append(item)
        elif isinstance(item, _Stop):
            self._stopping = True
            self._waiters.append(item.flush)

    def _write_all(self) -> None:
        """Write everything buffered, batch by batch, retrying while the
        database is unavailable (absorbing new submissions meanwhile)."""
        attempt = 0
        while (self._records or self._intervals) and not self._abandon.is_set():
            try:
                if self._records:
                    self._write_records(list(islice(self._records.values(), self._batch_size)))
                else:
                    self._write_intervals(list(islice(self._intervals.values(), self._batch_size)))
            except Exception as err:
                attempt += 1
                with self._lock:
                    self._failures += 1
                delay = min(self._retry_max, self._retry_initial * 2 ** min(attempt - 1, 30))
                log.warning(
                    "attention store write failed (attempt %d): %s; keeping %d calls and "
                    "%d agent intervals in memory, retrying in %.1fs",
                    attempt,
                    err,
                    len(self._records),
                    len(self._intervals),
                    delay,
                    # Store errors carry a clear message; anything else is a bug: trace it.
                    exc_info=not isinstance(err, StoreError),
                )
                self._pause(delay)
                continue
            if attempt:
                log.info("attention store writes resumed after %d failed attempts", attempt)
                attempt = 0

    def _write_records(self, records: list[CallRecord]) -> None:
        try:
            written = self._sink.upsert_records(records)
        except RecordRejectedError as err:
            if len(records) > 1:
                for record in records:
                    self._write_records([record])
                return
            record = records[0]
            log.error(
                "attention of call %s/%s (caller %s) refused by the store and dropped: %s",
                record.key.system,
                record.key.linkedid,
                mask_number(record.caller_number),
                err,
            )
            del self._records[record.key]
            self._settle(rejected=1)
            return
        for record in records:
            del self._records[record.key]
        self._settle(written=written)

    def _write_intervals(self, intervals: list[AgentInterval]) -> None:
        try:
            self._sink.add_intervals(intervals)
        except RecordRejectedError as err:
            if len(intervals) > 1:
                for interval in intervals:
                    self._write_intervals([interval])
                return
            log.error(
                "agent interval of %s refused by the store and dropped: %s",
                intervals[0].interface,
                err,
            )
            del self._intervals[interval_key(intervals[0])]
            self._settle(rejected=1)
            return
        for interval in intervals:
            del self._intervals[interval_key(interval)]
        self._settle(written=len(intervals))

    def _pause(self, seconds: float) -> None:
        """Back off for `seconds`, still absorbing submissions and flush requests."""
        deadline = time.monotonic() + seconds
        while not self._abandon.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return
            self._absorb(item)

    def _fail_waiters(self) -> None:
        error = WriterClosedError("the attention writer gave up before writing everything")
        for waiter in self._waiters:
            self._notify(waiter, error)
        self._waiters.clear()

    @staticmethod
    def _notify(waiter: _Flush, error: BaseException | None) -> None:
        # RuntimeError: the loop that asked is closed; nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            waiter.loop.call_soon_threadsafe(_resolve, waiter.done, error)
