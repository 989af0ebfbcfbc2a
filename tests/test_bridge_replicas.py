"""Several `atiende serve` replicas for one Asterisk: one records, the others stand by.

Real Redis holds the lease; two replicas run as processes against one AMI
stream; the leader is killed without warning in the middle of `burst`, the
standby takes over, and every call is recorded exactly once, as Asterisk's
queue_log says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from telephony.ami.testing import AmiTestServer
from telephony.leadership import RedisLease, lead
from tests.support.queue_log import parse_queue_log
from tests.support.redis import redis_test_url
from tests.test_bridge_end_to_end import attentions, linkedids
from tests.test_bridge_outages import hung_up_in

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    url = redis_test_url()
    client = Redis.from_url(url)
    await client.flushdb()
    try:
        yield url
    finally:
        await client.flushdb()
        await client.aclose()


async def test_lease_is_held_by_one_replica_at_a_time(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        first = RedisLease(client, "atiende:test-lease", ttl=0.3)
        second = RedisLease(client, "atiende:test-lease", ttl=0.3)
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.renew()
        await asyncio.sleep(0.4)  # not renewed: the lease runs out
        assert await second.acquire()
        assert not await first.renew()  # it belongs to the other replica now
        await first.release()  # and a stale holder cannot release it
        assert await client.get("atiende:test-lease") == second.token.encode()
        await second.release()
        assert await client.get("atiende:test-lease") is None
    finally:
        await client.aclose()


async def test_lead_starts_only_with_the_lease_and_reports_its_loss(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        await client.set("atiende:taken", "someone-else", px=300)
        started: list[float] = []

        async def start() -> None:
            started.append(asyncio.get_running_loop().time())

        stopping = asyncio.Event()
        lease = RedisLease(client, "atiende:taken", ttl=0.3)
        task = asyncio.create_task(lead(lease, start, interval=0.05, stopping=stopping))
        await asyncio.sleep(0.15)
        assert started == []  # standing by while the other replica holds it
        await asyncio.sleep(0.4)
        assert len(started) == 1  # took over once it ran out
        await client.set("atiende:taken", "thief")  # the lease is taken away
        assert await asyncio.wait_for(task, timeout=2) is True
    finally:
        await client.aclose()


def _serve(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return asyncio.create_subprocess_exec(  # type: ignore[return-value]
        sys.executable, "-m", "atiende.cli", "serve",
        env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_standby_takes_over_when_the_leader_dies(
    recordings: Path, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    from atiende.settings import Settings
    from atiende.wiring import migrate

    migrate(Settings(database_url=postgres_url))
    system = "replicas"
    burst = (recordings / "burst.ami").read_bytes()
    async with AmiTestServer(burst, secret="replica-secret", pace=0.006) as server:
        env = {
            **os.environ,
            "ATIENDE_DATABASE_URL": postgres_url,
            "ATIENDE_REDIS_URL": redis_url,
            "ATIENDE_BRIDGE_LEASE_SECONDS": "0.6",
            "ATIENDE_AMI__PORT": str(server.port),
            "ATIENDE_AMI__SECRET": "replica-secret",
            "ATIENDE_AMI__SYSTEM_NAME": system,
            "ATIENDE_AMI__RECONNECT_MIN": "0.05",
            "ATIENDE_IVR__ENABLED": "false",
            "ATIENDE_METRICS_PORT": "0",
            "ATIENDE_API__PORT": "0",  # never 8080: `make demo` may hold it
        }
        leader = await _serve(env, tmp_path)
        await asyncio.wait_for(server.wait_for_action("Login"), timeout=30)
        standby = await _serve(env, tmp_path)
        try:
            # Some calls recorded, the burst not over: the leader dies.
            while len(attentions(postgres_url, system)) < 3:
                await asyncio.sleep(0.05)
            assert server.connections == 1, "the standby must not connect while standing by"
            final_before_kill = _final(postgres_url, system)
            leader.send_signal(signal.SIGKILL)
            await leader.wait()
            killed_at = server.position
            await asyncio.wait_for(server.replayed(), timeout=60)
            await asyncio.wait_for(_until_all_ended(postgres_url, system, burst), timeout=30)
        finally:
            for process in (leader, standby):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            _, standby_err = await asyncio.wait_for(standby.communicate(), timeout=30)
        assert standby.returncode == 0, standby_err.decode()
        assert server.connections == 2  # the leader's session, then the standby's

    rows = attentions(postgres_url, system)
    assert Counter(row.linkedid for row in rows).most_common(1)[0][1] == 1
    outcomes = {row.linkedid: row.outcome for row in rows}
    assert set(outcomes) == linkedids(burst)
    # A call the store had as over before the kill keeps its outcome. A call
    # that ended before the kill but whose end was still in flight (socket,
    # queue, the writer's last batch) when the leader died cannot be known:
    # it is closed as lost, or right if its answer was on record. A call that
    # ended after the standby took over is exactly as Asterisk logged it.
    ended_before_kill = hung_up_in(burst[:killed_at])
    queue_log = parse_queue_log(recordings / "burst.queue_log").calls
    assert set(queue_log) - ended_before_kill, "the takeover must happen mid-burst"
    for uniqueid, call in queue_log.items():
        if uniqueid in final_before_kill:
            assert outcomes[uniqueid] == final_before_kill[uniqueid] == call.outcome, uniqueid
        elif uniqueid in ended_before_kill:
            assert outcomes[uniqueid] in (call.outcome, "lost_during_outage"), uniqueid
        else:
            assert outcomes[uniqueid] == call.outcome, uniqueid


def _final(database_url: str, system: str) -> dict[str, str]:
    rows = attentions(database_url, system)
    return {row.linkedid: row.outcome for row in rows if row.outcome != "in_progress"}


async def _until_all_ended(database_url: str, system: str, capture: bytes) -> None:
    expected = len(linkedids(capture))
    while True:
        rows = attentions(database_url, system)
        if len(rows) == expected and all(row.outcome != "in_progress" for row in rows):
            return
        await asyncio.sleep(0.1)
