"""AttentionWriter against real databases, including a PostgreSQL that goes away."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from crm_bridge.attention_writer import AttentionWriter
from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine
from crm_bridge.exceptions import WriterClosedError
from crm_bridge.models import Base
from telephony.domain import AgentInterval, AgentState, CallRecord, Outcome
from tests.support.ports import free_port
from tests.support.tcp import TcpRelay

RecordFactory = Callable[..., CallRecord]
# Generous ceiling for waits that should end far sooner; a hang fails instead of blocking CI.
PATIENCE = 60.0


def _interval(n: int, queue: str | None = None) -> AgentInterval:
    start = 1_763_971_200.0 + 600 * n
    return AgentInterval(
        system="pbx-montevideo",
        interface=f"PJSIP/{1000 + n % 7}",
        member_name=f"Agente {n % 7}",
        state=AgentState.ON_CALL if n % 2 else AgentState.PAUSED,
        started_at=start,
        ended_at=start + 42.5,
        reason=None if n % 2 else "capacitación",
        queue=queue,
    )


async def _eventually(condition: Callable[[], bool]) -> None:
    # The condition is set by the writer thread; there is no event to await.
    async with asyncio.timeout(PATIENCE):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_burst_of_ten_thousand_records_lands_exactly_once(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo, batch_size=500, flush_interval=0.2)
    for n in range(10_000):
        writer.submit_record(new_record(f"1763971200.{n}", caller_number=f"0991{n:05d}"))
    async with asyncio.timeout(PATIENCE):
        await writer.flush()
    assert repo.count() == 10_000
    stats = writer.stats()
    assert (stats.written, stats.pending, stats.failures) == (10_000, 0, 0)
    assert stats.batches >= 10_000 // 500
    await writer.close()


async def test_snapshots_of_one_call_collapse_to_its_final_record(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    # Only flush() triggers a write here, so every submission shares one buffer.
    writer = AttentionWriter(repo, batch_size=10_000, flush_interval=3600)
    finals = {}
    for n in range(100):
        linkedid = f"1763971300.{n}"
        writer.submit_record(new_record(linkedid, Outcome.IN_PROGRESS))
        writer.submit_record(new_record(linkedid, Outcome.IN_PROGRESS, caller_name="otra"))
        finals[linkedid] = new_record(linkedid, Outcome.ABANDONED)
        writer.submit_record(finals[linkedid])
        writer.submit_record(new_record(linkedid, Outcome.IN_PROGRESS))  # late snapshot
    await writer.flush()
    stats = writer.stats()
    assert (stats.written, stats.collapsed, stats.pending) == (100, 300, 0)
    assert repo.count() == 100
    for record in finals.values():
        assert repo.get_record(record.key) == record
    await writer.close()


async def test_agent_intervals_are_written_once(engine: Engine) -> None:
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo, batch_size=7, flush_interval=0.05)
    intervals = [_interval(n) for n in range(20)] + [_interval(n, "consultas") for n in range(5)]
    for interval in intervals:
        writer.submit_interval(interval)
    await writer.flush()
    for interval in [*intervals, *intervals[:10]]:  # replayed after a restart
        writer.submit_interval(interval)
    await writer.flush()
    await writer.close()
    assert repo.count_intervals() == 25
    assert writer.pending == 0


async def test_calls_in_progress_round_trip_through_the_writer(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo)
    up = [
        new_record(f"1763971400.{n}", Outcome.IN_PROGRESS, arrived_at=1_763_971_400.0 + n)
        for n in range(3)
    ]
    for record in up:
        writer.submit_record(record)
    writer.submit_record(new_record("1763971400.9", Outcome.ANSWERED))
    await writer.close()
    assert repo.in_progress("pbx-montevideo") == up


async def test_a_refused_record_is_dropped_alone(
    engine: Engine, new_record: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo, batch_size=50, flush_interval=3600)
    for n in range(10):
        writer.submit_record(new_record(f"1763971500.{n}"))
    writer.submit_record(
        new_record("1763971500.99", arrived_at=float("inf"), caller_number="099765432")
    )
    await writer.flush()
    await writer.close()
    assert repo.count() == 10
    assert writer.stats().rejected == 1
    assert "1763971500.99" in caplog.text
    assert "765432" not in caplog.text


async def test_values_postgresql_refuses_are_dropped_alone_without_leaking_caller_data(
    pg_engine: Engine, new_record: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    repo = AttentionRepository(pg_engine)
    writer = AttentionWriter(repo, batch_size=50, flush_interval=3600)
    for n in range(5):
        writer.submit_record(new_record(f"1763972100.{n}"))
    # An agent name longer than its column (128): PostgreSQL raises a data error.
    too_long_agent = dataclasses.replace(
        new_record("1763972100.98", caller_number="099765432", caller_name="Florencia Secreta"),
        legs=(dataclasses.replace(new_record("z").legs[0], agent="y" * 300),),
    )
    writer.submit_record(too_long_agent)
    await writer.close()
    assert repo.count() == 5
    assert writer.stats().rejected == 1
    assert "1763972100.98" in caplog.text
    assert "StringDataRightTruncation" in caplog.text
    for secret in ("765432", "Florencia", "Secreta", "99123456"):
        assert secret not in caplog.text


async def test_submitting_after_close_is_an_error(
    engine: Engine, new_record: RecordFactory
) -> None:
    writer = AttentionWriter(AttentionRepository(engine))
    await writer.close()
    assert not writer.running
    with pytest.raises(WriterClosedError):
        writer.submit_record(new_record("1"))


async def test_a_lone_record_is_written_without_a_flush(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo, batch_size=500, flush_interval=0.05)
    writer.submit_record(new_record("1763971900.1"))
    await _eventually(lambda: repo.count() == 1)
    assert writer.stats().batches == 1
    await writer.close()


async def test_submissions_from_several_threads_all_land(
    engine: Engine, new_record: RecordFactory
) -> None:
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo, batch_size=100, flush_interval=0.01)

    def produce(thread: int) -> None:
        for n in range(500):
            writer.submit_record(new_record(f"1763972000.{thread}.{n}"))
            writer.submit_interval(_interval(thread * 1000 + n))

    producers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    await writer.close()
    assert (repo.count(), repo.count_intervals()) == (2000, 2000)
    assert writer.stats().written == 4000


async def test_an_in_memory_sqlite_database_is_shared_with_the_writer_thread(
    new_record: RecordFactory,
) -> None:
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    repo = AttentionRepository(engine)
    writer = AttentionWriter(repo)
    writer.submit_record(new_record("1763971800.1"))
    await writer.close()
    assert repo.count() == 1
    engine.dispose()


# ---------------------------------------------------------------- database outages


@pytest.fixture
def relay(migrated_postgres_url: str) -> Iterator[TcpRelay]:
    target = make_url(migrated_postgres_url)
    relay = TcpRelay(free_port(), (target.host or "127.0.0.1", target.port or 5432))
    yield relay
    relay.stop()


@pytest.fixture
def relayed_engine(relay: TcpRelay, migrated_postgres_url: str) -> Iterator[Engine]:
    """An engine that reaches PostgreSQL only while the relay runs."""
    url = make_url(migrated_postgres_url).set(host="127.0.0.1", port=relay.port)
    engine = make_engine(url.render_as_string(hide_password=False), pool_timeout=2)
    yield engine
    engine.dispose()


async def test_records_wait_for_the_database_and_land_once(
    pg_engine: Engine,
    relay: TcpRelay,
    relayed_engine: Engine,
    new_record: RecordFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="crm_bridge")
    direct = AttentionRepository(pg_engine)  # sees the truth, relay or not
    writer = AttentionWriter(
        AttentionRepository(relayed_engine),
        batch_size=20,
        flush_interval=0.05,
        retry_initial=0.05,
        retry_max=0.2,
    )
    # Nothing listens on the relay's port yet: the database is down.
    for n in range(50):
        writer.submit_record(new_record(f"1763971600.{n}", Outcome.IN_PROGRESS))
        writer.submit_record(new_record(f"1763971600.{n}", caller_name="Sofía Núñez"))
    for n in range(5):
        writer.submit_interval(_interval(n))
    await _eventually(lambda: writer.failures >= 3)
    assert direct.count() == 0
    assert writer.pending == 55  # 50 calls (snapshots collapsed) + 5 intervals
    assert "attention store write failed" in caplog.text
    assert "retrying in" in caplog.text

    relay.start()
    async with asyncio.timeout(PATIENCE):
        await writer.flush()
    assert direct.count() == 50
    assert direct.count_intervals() == 5
    assert direct.in_progress("pbx-montevideo") == []
    assert "writes resumed" in caplog.text

    # The server goes away under open pooled connections, then comes back.
    failures_before = writer.failures
    relay.stop()
    for n in range(50, 80):
        writer.submit_record(new_record(f"1763971600.{n}"))
    await _eventually(lambda: writer.failures > failures_before)
    relay.start()
    async with asyncio.timeout(PATIENCE):
        await writer.close()
    assert direct.count() == 80
    stats = writer.stats()
    assert (stats.pending, stats.rejected, stats.written) == (0, 0, 85)
    for secret in ("99123456", "Sofía", "María"):
        assert secret not in caplog.text


async def test_a_growing_backlog_raises_the_alarm_but_keeps_everything(
    relayed_engine: Engine, new_record: RecordFactory, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AttentionWriter(
        AttentionRepository(relayed_engine), max_pending=10, retry_initial=0.05, retry_max=0.1
    )
    for n in range(11):
        writer.submit_record(new_record(f"1763971700.{n}"))
    assert writer.backlogged
    assert writer.pending == 11
    assert "falling behind" in caplog.text
    await writer.close(give_up_after=0.3)
    assert "11 submissions unwritten" in caplog.text
    with pytest.raises(WriterClosedError):
        await writer.flush()
