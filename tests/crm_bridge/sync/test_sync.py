"""CRM sync end to end: outbox in the attention's transaction, relay, RQ workers, failures.

Real PostgreSQL, real Redis, worker processes started like `atiende worker`,
and the fake vTiger on a real socket. "Exactly once" is checked where it
matters: the number of records the CRM created, per external key.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import Engine, select

from crm_bridge.attentions import AttentionRepository
from crm_bridge.exceptions import RecordRejectedError
from crm_bridge.models import Attention, CrmLink, CrmOutbox
from crm_bridge.sync.adapter import attention_key
from crm_bridge.sync.jobs import CrmSync
from crm_bridge.sync.outbox import OutboxRelay, OutboxStore, RelayResult, SyncFailures
from crm_bridge.sync.testing import FakeVtiger
from crm_bridge.sync.vtiger import VtigerAdapter
from crm_bridge.sync.worker import InProcessRunner, RqDispatcher
from telephony.domain import Outcome
from tests.crm_bridge.conftest import SYSTEM, make_record

from .conftest import WorkerFactory, wait_for


def _write_calls(engine: Engine, count: int, *, start: int = 0) -> list[str]:
    repository = AttentionRepository(engine, outbox=True)
    linkedids = [f"1763971200.{n}" for n in range(start, start + count)]
    repository.upsert_records(
        [
            make_record(linkedid, arrived_at=1_763_971_200.0 + n)
            for n, linkedid in enumerate(linkedids)
        ]
    )
    return linkedids


def _crm_keys(crm: FakeVtiger) -> Counter[str]:
    with crm.lock:
        return Counter(str(r["sourceuuid"]) for r in crm.records["PBXManager"].values())


def _expected_keys(linkedids: list[str]) -> Counter[str]:
    return Counter(attention_key(SYSTEM, linkedid) for linkedid in linkedids)


def test_final_attentions_get_an_outbox_row_in_their_transaction(engine: Engine) -> None:
    repository = AttentionRepository(engine, outbox=True)
    repository.upsert_records(
        [make_record("a", Outcome.IN_PROGRESS), make_record("b"), make_record("c")]
    )
    store = OutboxStore(engine)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Attention.linkedid, Attention.id)).all())
    assert sorted(r.entity_id for r in store.rows()) == sorted([ids["b"], ids["c"]])
    repository.upsert_records([make_record("a")])  # the call ends
    assert sorted(r.entity_id for r in store.rows()) == sorted(ids.values())
    # A batch the database refuses writes neither attentions nor outbox rows.
    with pytest.raises(RecordRejectedError):
        repository.upsert_records([make_record("d"), make_record("e", channel="c" * 40)])
    assert repository.get(SYSTEM, "d") is None
    assert len(store.rows()) == 3


def test_without_the_outbox_option_nothing_is_queued(engine: Engine) -> None:
    AttentionRepository(engine).upsert_records([make_record("x")])
    assert OutboxStore(engine).rows() == []


def test_in_process_runner_crm_down_for_a_while_then_every_call_synced_once(
    engine: Engine, crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    crm.down()
    linkedids = _write_calls(engine, 6)
    runner = InProcessRunner(CrmSync(engine, vtiger), retry_intervals=[0.2] * 50)
    relay = OutboxRelay(engine, runner, stale_after=0)
    store = OutboxStore(engine)
    runner.start()
    try:
        assert relay.relay_once() == RelayResult(enqueued=6)
        assert store.stats().pending == 6
        wait_for(lambda: all(r.attempts >= 2 for r in store.rows()), what="failed attempts")
        crm.up()
        wait_for(lambda: store.pending() == 0, what="every row synced")
        assert relay.relay_once() == RelayResult()
    finally:
        runner.stop()
    assert _crm_keys(crm) == _expected_keys(linkedids)
    assert store.failed() == []


def test_rq_worker_crm_down_for_a_while_then_every_call_synced_once(
    engine: Engine, crm: FakeVtiger, start_worker: WorkerFactory
) -> None:
    crm.down()
    linkedids = _write_calls(engine, 5)
    store = OutboxStore(engine)
    start_worker()
    wait_for(lambda: all(r.attempts >= 1 for r in store.rows()), what="failed attempts")
    crm.up()
    wait_for(lambda: store.pending() == 0, what="every row synced")
    assert _crm_keys(crm) == _expected_keys(linkedids)
    with engine.connect() as conn:
        links = conn.execute(select(CrmLink.crm_id)).scalars().all()
    assert sorted(links) == sorted(crm.records["PBXManager"])


def test_a_worker_killed_mid_job_is_replaced_and_nothing_doubles(
    engine: Engine, crm: FakeVtiger, start_worker: WorkerFactory
) -> None:
    crm.hold("create", seconds=120)
    linkedids = _write_calls(engine, 1)
    store = OutboxStore(engine)
    first = start_worker(job_timeout=4, stale_after=1.0, http_timeout=60)
    wait_for(crm.held.is_set, what="the worker's create to reach the CRM")
    os.killpg(first.pid, signal.SIGKILL)  # the job was in progress: created, not answered
    first.wait()
    crm.release()
    assert crm.creates["PBXManager"] == 1
    assert store.pending() == 1
    start_worker(job_timeout=4, stale_after=1.0)
    wait_for(lambda: store.pending() == 0, timeout=60, what="the job to run again")
    assert crm.creates["PBXManager"] == 1
    assert _crm_keys(crm) == _expected_keys(linkedids)


def test_garbage_errors_and_slowness_fail_clearly_are_retried_and_listed(
    engine: Engine, crm: FakeVtiger, redis: Redis, queue_name: str, start_worker: WorkerFactory
) -> None:
    # One failure per attempt: the first request of each attempt is the login challenge.
    crm.inject("garbage", "http500", "error", "slow")
    _write_calls(engine, 1)
    store = OutboxStore(engine)
    dispatcher = RqDispatcher(redis, queue_name=queue_name, retry_intervals=[1, 1, 1])
    failures = SyncFailures(store, dispatcher)
    worker = start_worker()
    wait_for(lambda: failures.list() != [], what="the failed list")
    [failed] = failures.list()
    assert failed.attempts == 4  # the first run and three retries
    assert failed.last_error is not None and failed.last_error.startswith("CrmUnavailableError")
    assert f"crm-outbox-{failed.id}" in dispatcher.failed_job_ids()
    assert crm.creates["PBXManager"] == 0
    stats = store.stats()
    assert (stats.pending, stats.failed) == (0, 1)
    assert failures.retry(failed.id)
    wait_for(lambda: store.pending() == 0, what="the retried job")
    assert failures.list() == [] and dispatcher.failed_job_ids() == []
    assert crm.creates["PBXManager"] == 1
    assert worker.poll() is None


def test_the_relay_enqueues_again_what_redis_lost(
    engine: Engine, crm: FakeVtiger, redis: Redis, queue_name: str, start_worker: WorkerFactory
) -> None:
    linkedids = _write_calls(engine, 3)
    relay = OutboxRelay(engine, RqDispatcher(redis, queue_name=queue_name), stale_after=0)
    assert relay.relay_once() == RelayResult(enqueued=3)
    assert relay.relay_once() == RelayResult()  # queued: alive, nothing to do
    redis.flushdb()
    assert relay.relay_once() == RelayResult(reenqueued=3)
    start_worker()
    store = OutboxStore(engine)
    wait_for(lambda: store.pending() == 0, what="the re-enqueued jobs")
    assert _crm_keys(crm) == _expected_keys(linkedids)


def test_job_payloads_carry_ids_only(engine: Engine, redis: Redis, queue_name: str) -> None:
    _write_calls(engine, 1)
    dispatcher = RqDispatcher(redis, queue_name=queue_name)
    OutboxRelay(engine, dispatcher).relay_once()
    with engine.connect() as conn:
        outbox_id = conn.execute(select(CrmOutbox.id)).scalar_one()
    [job] = dispatcher.queue.get_jobs()
    assert job.args == (outbox_id,) and job.kwargs == {}
    stored = b"".join(v for v in redis.hgetall(f"rq:job:{job.id}").values())
    assert b"099123456" not in stored and "Pérez".encode() not in stored


def test_worker_process_stops_on_sigterm(
    redis: Redis, queue_name: str, start_worker: WorkerFactory
) -> None:
    worker = _idle_worker(redis, queue_name, start_worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def _idle_worker(
    redis: Redis, queue_name: str, start_worker: WorkerFactory
) -> subprocess.Popen[bytes]:
    worker = start_worker()
    queue = RqDispatcher(redis, queue_name=queue_name).queue
    # Idle: started, its signal handlers in place, waiting for jobs (RQ
    # registers a worker before it forks the scheduler and installs them).
    wait_for(
        lambda: [w.get_state() for w in Worker.all(queue=queue)] == ["idle"],
        what="the worker to be idle",
    )
    return worker


def test_worker_stops_even_when_its_scheduler_does_not(
    redis: Redis, queue_name: str, start_worker: WorkerFactory
) -> None:
    # A scheduler that cannot act on SIGTERM (here: stopped; in CI once: hit
    # before it had installed its handlers) must not hold the worker forever.
    worker = _idle_worker(redis, queue_name, start_worker)
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    wait_for(lambda: children.read_text().split() != [], what="the scheduler process")
    [scheduler] = [int(pid) for pid in children.read_text().split()]
    os.kill(scheduler, signal.SIGSTOP)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert not Path(f"/proc/{scheduler}").exists() or "Z" in _proc_state(scheduler)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (OSError, IndexError):
        return "gone"
