"""Redis down and back: the panel fan-out and the CRM jobs recover.

Redis is reached through a TCP relay the test controls, so the real server
keeps running for every other test while, for these clients, it goes away
(listener closed, open connections cut) and comes back on the same address.

- Fan-out: two replicas' RedisEventRelays (the leader publishing, a standby
  subscribed with its panel's hub). While Redis is away the leader never
  waits (a bounded queue, drops counted) and the standby loses its
  subscription; once Redis is back the standby resubscribes by itself and
  the next screen-pop reaches it.
- Jobs: the CRM outbox relay hands rows to RQ. While Redis is away it says so
  and keeps the rows; once Redis is back the same rows are enqueued, each
  exactly once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq import Queue
from sqlalchemy.engine import make_url

from agent_api.fanout import PANEL_EVENTS, RedisEventRelay
from crm_bridge.attentions import AttentionRepository
from crm_bridge.db import make_engine
from crm_bridge.sync.outbox import OutboxRelay, OutboxStore, RelayResult
from crm_bridge.sync.worker import RqDispatcher, job_id
from tests.agent_api.test_fanout import RecordingSink, batches_of, until
from tests.crm_bridge.conftest import make_record
from tests.support.redis import redis_test_url
from tests.support.tcp import TcpRelay

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def relayed_redis() -> tuple[TcpRelay, str]:
    real = make_url(redis_test_url().replace("redis://", "postgresql://", 1))
    relay = TcpRelay(None, (real.host or "127.0.0.1", real.port or 6379))
    database = (real.database or "0").strip("/")
    return relay, f"redis://127.0.0.1:{relay.port}/{database}"


async def test_panel_fanout_recovers_when_redis_comes_back(recordings: Path) -> None:
    relay, url = relayed_redis()
    system = f"redis-out-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    batches = batches_of(recordings / "answered.ami", system)
    panel = [
        b for b in ([e for e in batch if isinstance(e, PANEL_EVENTS)] for batch in batches) if b
    ]
    sink = RecordingSink()
    clients = [AsyncRedis.from_url(url, socket_connect_timeout=1) for _ in range(2)]
    relay.start()
    leader = RedisEventRelay(clients[0], system, None, queue_size=8, retry_seconds=0.05)
    standby = RedisEventRelay(clients[1], system, sink, queue_size=8, retry_seconds=0.05)
    try:
        await leader.start()
        await standby.start()
        leader.publish(panel[0])
        await until(lambda: sink.events == panel[0])

        relay.stop()  # Redis goes away for these clients
        await until(lambda: not standby.subscribed.is_set())
        for batch in batches * 3:
            leader.publish(batch)  # returns at once: never waits for Redis
        assert leader.pending <= 8
        assert leader.dropped > 0

        relay.start()  # and comes back
        await until(lambda: standby.subscribed.is_set(), limit=30)
        await until(lambda: leader.pending == 0, limit=30)
        before = len(sink.events)
        leader.publish(panel[-1])
        await until(lambda: sink.events[before:][-len(panel[-1]) :] == panel[-1], limit=30)
        assert relay.connections > 2, "the clients did not reconnect"
    finally:
        await leader.close()
        await standby.close()
        for client in clients:
            await client.aclose()
        relay.stop()


def test_crm_jobs_are_enqueued_once_when_redis_comes_back(
    new_database: Callable[..., str],
) -> None:
    relay, url = relayed_redis()
    engine = make_engine(new_database("redisjobs", migrate=True))
    queue_name = f"crm-redis-out-{uuid.uuid4().hex[:8]}"
    direct = Redis.from_url(redis_test_url())
    relayed = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        AttentionRepository(engine, outbox=True).upsert_records(
            [make_record(f"1763971200.{n}", arrived_at=1_763_971_200.0 + n) for n in range(3)]
        )
        outbox = OutboxRelay(engine, RqDispatcher(relayed, queue_name=queue_name), stale_after=0)
        store = OutboxStore(engine)
        ids = sorted(row.id for row in store.rows())
        assert len(ids) == 3

        # Redis away: the relay says so and keeps every row for later.
        result = outbox.relay_once()
        assert result.failed_dispatch and result.enqueued == 0
        assert store.pending() == 3

        relay.start()  # Redis back
        assert outbox.relay_once() == RelayResult(enqueued=3)
        assert outbox.relay_once() == RelayResult()  # alive in the queue: not again
        queued = Queue(queue_name, connection=direct).job_ids
        assert sorted(queued) == sorted(job_id(i) for i in ids)

        relay.stop()  # away again, with the jobs safe in Redis
        assert outbox.relay_once().failed_dispatch
        relay.start()
        assert outbox.relay_once() == RelayResult()
        assert sorted(Queue(queue_name, connection=direct).job_ids) == sorted(queued)
    finally:
        Queue(queue_name, connection=direct).empty()
        relayed.close()
        direct.close()
        relay.stop()
        engine.dispose()
