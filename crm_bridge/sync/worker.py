"""Running sync jobs: RQ on Redis (`atiende worker`), or in-process without Redis.

With Redis, `RqDispatcher` enqueues `jobs.sync_outbox_row(outbox_id)` with
RQ's Retry (exponential intervals; the worker's scheduler re-enqueues them),
and `run_worker` runs a SimpleWorker (jobs in the worker's own process, which
keeps the CRM session and the database pool across jobs) plus the outbox relay.

Without Redis (the embedded default) `InProcessRunner` runs the same
`CrmSync.process` in a thread with the same backoff. The trade-off: its queue
lives in memory, so a restart forgets jobs waiting or backing off, and there
is no failed-job registry but the outbox's own `failed_at`. Nothing is lost
for that: the outbox rows are still in the database, and the relay re-reads
them at start (rows enqueued by a previous process are not alive in this
one, so they are handed over again). Jobs simply wait for the process that
writes attentions, and CRM calls share its machine.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType

from redis import Redis
from redis.exceptions import LockError, RedisError
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from sqlalchemy import Engine

from crm_bridge.notifications import CitizenNotices, send_citizen_notices
from crm_bridge.notifications import install as install_notices
from crm_bridge.sync.adapter import CrmAdapter
from crm_bridge.sync.exceptions import DispatchError
from crm_bridge.sync.jobs import CrmSync, LockFactory, install, sync_outbox_row
from crm_bridge.sync.outbox import OutboxRelay
from crm_bridge.sync.sla_alerts import PeriodicScan, SlaAlerts, scan_sla_alerts
from crm_bridge.sync.sla_alerts import install as install_sla

log = logging.getLogger(__name__)

QUEUE_NAME = "atiende-crm"
# Seconds before retry n (RQ repeats the last one if there are more retries).
DEFAULT_RETRY_INTERVALS = (10, 30, 90, 270, 810, 2430, 3600, 3600)
DEFAULT_JOB_TIMEOUT = 120
_FAILURE_TTL = 30 * 24 * 3600  # failed jobs stay listed in RQ for a month
_RESULT_TTL = 3600
# How long a stopping worker waits for its scheduler process before killing it.
SCHEDULER_STOP_SECONDS = 5.0


def job_id(outbox_id: int) -> str:
    return f"crm-outbox-{outbox_id}"


class RqDispatcher:
    """Outbox rows to RQ jobs; `is_alive` tells the relay whether Redis still has one."""

    def __init__(
        self,
        redis: Redis,
        *,
        queue_name: str = QUEUE_NAME,
        retry_intervals: Sequence[int] = DEFAULT_RETRY_INTERVALS,
        job_timeout: int = DEFAULT_JOB_TIMEOUT,
    ) -> None:
        if not retry_intervals:
            raise ValueError("at least one retry interval")
        self._redis = redis
        self.queue = Queue(queue_name, connection=redis)
        self._intervals = list(retry_intervals)
        self._job_timeout = job_timeout

    def dispatch(self, outbox_id: int) -> None:
        identifier = job_id(outbox_id)
        try:
            # A manual retry reuses the id: the old failure leaves the failed list.
            FailedJobRegistry(queue=self.queue).remove(identifier)
            self.queue.enqueue(
                sync_outbox_row,
                outbox_id,
                job_id=identifier,
                retry=Retry(max=len(self._intervals), interval=self._intervals),
                job_timeout=self._job_timeout,
                result_ttl=_RESULT_TTL,
                failure_ttl=_FAILURE_TTL,
                description=f"CRM sync of outbox row {outbox_id}",
            )
        except RedisError as err:
            raise DispatchError(f"Redis refused the job of outbox row {outbox_id}: {err}") from err

    def is_alive(self, outbox_id: int) -> bool:
        try:
            job = Job.fetch(job_id(outbox_id), connection=self._redis)
            status = job.get_status()
        except NoSuchJobError:
            return False
        except RedisError as err:
            raise DispatchError(f"Redis could not be asked about a job: {err}") from err
        if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
            return True
        if status == JobStatus.STARTED and job.started_at is not None:
            # Longer than its timeout (plus slack) means its worker died mid-job.
            running = (datetime.now(UTC) - job.started_at.replace(tzinfo=UTC)).total_seconds()
            return running < self._job_timeout + 5
        return False

    def failed_job_ids(self) -> list[str]:
        return list(FailedJobRegistry(queue=self.queue).get_job_ids())


def redis_locks(redis: Redis, *, timeout: int, wait: float) -> LockFactory:
    """Per-entity locks in Redis; one held by a killed worker expires after `timeout`."""

    @contextmanager
    def lock(name: str) -> Iterator[bool]:
        held = redis.lock(f"atiende:crm:lock:{name}", timeout=timeout, blocking_timeout=wait)
        acquired = bool(held.acquire())
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    held.release()
                except LockError:
                    log.warning("CRM sync lock %s expired while held", name)

    return lock


class _SyncWorker(SimpleWorker):
    """RQ's SimpleWorker, plus a stop requested while it was still starting."""

    _early_stop = False

    def stop_early(self, _signum: int, _frame: FrameType | None) -> None:
        self._early_stop = True

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()  # type: ignore[no-untyped-call]
        if self._early_stop:
            self._stop_requested = True

    def stop_scheduler(self) -> None:
        """RQ's, with a bound: SIGTERM the scheduler process, wait at most
        SCHEDULER_STOP_SECONDS, then kill it.

        RQ joins its scheduler with no timeout, and a scheduler stopped before
        it has installed its own handlers (a stop right after start, on a
        loaded machine) may never exit, so the worker hung with it. The
        scheduler only moves due jobs into their queues, each move one Redis
        transaction, so killing it loses nothing: the next worker's scheduler
        moves them."""
        scheduler = self.scheduler
        process = None if scheduler is None else scheduler._process
        if process is None or not process.pid:
            return
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)
        process.join(SCHEDULER_STOP_SECONDS)
        if process.is_alive():
            log.warning("RQ scheduler process did not stop in %ss; killed", SCHEDULER_STOP_SECONDS)
            process.kill()
            process.join()


def run_worker(
    redis: Redis,
    engine: Engine,
    adapter: CrmAdapter,
    *,
    queue_name: str = QUEUE_NAME,
    retry_intervals: Sequence[int] = DEFAULT_RETRY_INTERVALS,
    job_timeout: int = DEFAULT_JOB_TIMEOUT,
    relay_interval: float = 5.0,
    stale_after: float = 600.0,
    phone_region: str = "UY",
    burst: bool = False,
    sla_alerts: SlaAlerts | None = None,
    sla_interval: float = 60.0,
    notices: CitizenNotices | None = None,
    notices_interval: float = 30.0,
) -> int:
    """`atiende worker`: run sync jobs (and the outbox relay) until SIGINT/SIGTERM.

    Blocks in the calling (main) thread: RQ installs its signal handlers there
    and finishes the job in progress on the first SIGTERM. Returns an exit code.
    With `sla_alerts`, an SLA scan job is enqueued every `sla_interval`
    seconds (once across all workers) and run by whichever worker takes it;
    with `notices`, the citizen notices' job likewise every `notices_interval`.
    `redis` and `engine` are the composition root's: it closes them.
    """
    sync = CrmSync(
        engine,
        adapter,
        locks=redis_locks(redis, timeout=job_timeout, wait=max(1.0, job_timeout / 4)),
        phone_region=phone_region,
    )
    install(sync)
    dispatcher = RqDispatcher(
        redis, queue_name=queue_name, retry_intervals=retry_intervals, job_timeout=job_timeout
    )
    relay = OutboxRelay(engine, dispatcher, stale_after=stale_after)
    if relay_interval > 0:
        relay.start(relay_interval)
    scans: PeriodicScan | None = None
    if sla_alerts is not None:
        install_sla(sla_alerts)
        scans = PeriodicScan(
            lambda: enqueue_sla_scan(redis, dispatcher.queue, sla_interval), sla_interval
        )
        scans.start()
    notice_scans: PeriodicScan | None = None
    if notices is not None:
        install_notices(notices)
        notice_scans = PeriodicScan(
            lambda: enqueue_notices(redis, dispatcher.queue, notices_interval), notices_interval
        )
        notice_scans.start()
    worker = _SyncWorker([dispatcher.queue], connection=redis)
    # RQ installs its handlers only once it has registered: a stop asked for
    # before that is kept and honoured when they are installed.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, worker.stop_early)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        if scans is not None:
            scans.stop()
        if notice_scans is not None:
            notice_scans.stop()
        relay.stop()
        adapter.close()
    return 0


def enqueue_sla_scan(redis: Redis, queue: Queue, interval: float) -> bool:
    """Enqueue the SLA scan unless another worker did within `interval`; True if enqueued."""
    if not redis.set("atiende:sla:tick", "1", nx=True, ex=max(1, int(interval))):
        return False
    queue.enqueue(scan_sla_alerts, job_id="sla-scan", result_ttl=_RESULT_TTL, failure_ttl=3600)
    return True


def enqueue_notices(redis: Redis, queue: Queue, interval: float) -> bool:
    """Enqueue the citizen notices' job unless another worker did within `interval`."""
    if not redis.set("atiende:notices:tick", "1", nx=True, ex=max(1, int(interval))):
        return False
    queue.enqueue(
        send_citizen_notices, job_id="citizen-notices", result_ttl=_RESULT_TTL, failure_ttl=3600
    )
    return True


class InProcessRunner:
    """The same jobs in a thread of this process, with the same backoff (no Redis)."""

    def __init__(
        self, sync: CrmSync, *, retry_intervals: Sequence[float] = DEFAULT_RETRY_INTERVALS
    ) -> None:
        self._sync = sync
        self._intervals = list(retry_intervals)
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int, int]] = []  # (due, seq, outbox_id, attempt)
        self._alive: set[int] = set()
        self._seq = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.processed = 0

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="crm-sync", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def dispatch(self, outbox_id: int) -> None:
        self._schedule(outbox_id, 0, 0.0)

    def is_alive(self, outbox_id: int) -> bool:
        with self._cond:
            return outbox_id in self._alive

    def idle(self) -> bool:
        with self._cond:
            return not self._alive

    def _schedule(self, outbox_id: int, attempt: int, delay: float) -> None:
        with self._cond:
            self._alive.add(outbox_id)
            entry = (time.monotonic() + delay, next(self._seq), outbox_id, attempt)
            heapq.heappush(self._heap, entry)
            self._cond.notify_all()

    def _next(self) -> tuple[int, int] | None:
        with self._cond:
            while not self._stopping:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        _, _, outbox_id, attempt = heapq.heappop(self._heap)
                        return outbox_id, attempt
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        while (item := self._next()) is not None:
            outbox_id, attempt = item
            final = attempt >= len(self._intervals)
            try:
                self._sync.process(outbox_id, final_attempt=final)
            except Exception:  # recorded on the row by process; retried here
                if not final:
                    self._schedule(outbox_id, attempt + 1, float(self._intervals[attempt]))
                    continue
            self.processed += 1
            with self._cond:
                if not any(entry[2] == outbox_id for entry in self._heap):
                    self._alive.discard(outbox_id)
