"""Callback changes pushed across API replicas through real Redis (and
PostgreSQL): a callback scheduled on one replica reaches the free agents of
its queue whose sockets are on another, and no one else; with Redis
unreachable the replica still tells its own agents."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_api.callback_push import CallbackPush
from agent_api.ws import PopHub, Subscriber
from crm_bridge.callbacks import CallbackQueue
from crm_bridge.db import make_engine
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState, CallKey
from tests.support.ports import free_port
from tests.support.redis import redis_test_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

INTERFACES = {"PJSIP/4001": 1, "PJSIP/4002": 2, "PJSIP/4003": 3}


def agents() -> list[AgentSnapshot]:
    now = time.time()
    return [
        AgentSnapshot("PJSIP/4001", "Ana", ("consultas",), AgentState.AVAILABLE, now, None),
        AgentSnapshot("PJSIP/4002", "Beto", ("consultas",), AgentState.PAUSED, now, "Almuerzo"),
        AgentSnapshot("PJSIP/4003", "Carla", ("reclamos",), AgentState.AVAILABLE, now, None),
    ]


def hub() -> PopHub:
    made = PopHub(None)
    made.set_interfaces(INTERFACES)
    return made


async def frames(sub: Subscriber, wait: float) -> list[object]:
    got: list[object] = []
    try:
        while True:
            text = await asyncio.wait_for(sub.queue.get(), wait)
            got.append(json.loads(text or "null"))
    except TimeoutError:
        return got


@pytest.fixture
async def redis_clients() -> AsyncIterator[list[Redis]]:
    clients = [Redis.from_url(redis_test_url(), socket_connect_timeout=1) for _ in range(2)]
    yield clients
    for client in clients:
        await client.aclose()


async def test_a_change_on_one_replica_reaches_free_agents_on_another(
    panel_db: str, redis_clients: list[Redis]
) -> None:
    engine = make_engine(panel_db)
    system = "pbx-" + secrets.token_hex(4)  # a channel of this test's own
    hub_a, hub_b = hub(), hub()
    worklist_a = CallbackQueue(engine)
    push_a = CallbackPush(hub_a, worklist_a, agents, redis=redis_clients[0], system=system)
    push_b = CallbackPush(
        hub_b, CallbackQueue(engine), agents, redis=redis_clients[1], system=system
    )
    worklist_a.on_change = push_a.changed
    ana = hub_b.subscribe(1, "s1", watch_all=False)  # free, in the queue, on replica B
    beto = hub_b.subscribe(2, "s2", watch_all=False)  # in the queue, paused
    carla = hub_a.subscribe(3, "s3", watch_all=False)  # free, another queue
    await push_a.start()
    await push_b.start()
    try:
        assert push_a.subscribed.is_set() and push_b.subscribed.is_set()
        await asyncio.to_thread(
            worklist_a.schedule,
            call=CallKey("pbx", "1795400000.21"),
            number="099123456",
            queue="consultas",
        )
        assert await frames(ana, 2.0) == [{"type": "callback.changed"}]  # nothing personal
        assert await frames(beto, 0.2) == []
        assert await frames(carla, 0.2) == []
        # Each replica handed it to its own hub once (A's has no socket of Ana's).
        assert (push_a.frames, push_b.frames) == (1, 1)
    finally:
        await push_a.close()
        await push_b.close()
        engine.dispose()


async def test_redis_down_still_tells_this_replicas_agents(panel_db: str) -> None:
    engine = make_engine(panel_db)
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    local = hub()
    worklist = CallbackQueue(engine)
    push = CallbackPush(local, worklist, agents, redis=dead, system="pbx")
    worklist.on_change = push.changed
    ana = local.subscribe(1, "s1", watch_all=False)
    await push.start(subscribe_wait=0.3)
    try:
        await asyncio.to_thread(
            worklist.schedule,
            call=CallKey("pbx", "1795400000.22"),
            number="099123456",
            queue="consultas",
        )
        assert await frames(ana, 3.0) == [{"type": "callback.changed"}]
    finally:
        await push.close()
        await dead.aclose()
        engine.dispose()
