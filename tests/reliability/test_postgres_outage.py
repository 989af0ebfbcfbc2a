"""PostgreSQL unavailable for 60 s in the middle of a burst: no attention lost.

The real bridge (atiende.wiring.build_bridge: AMI connection, tracker,
attention writer) reads burst.ami from the test AMI server and reaches
PostgreSQL only through a TCP relay the test controls, so the server keeps
running for every other test while, for this bridge, it is gone: the
listener closed and every open connection cut, as a crash or a broken
network would. While it is away the writer keeps the calls in memory
(collapsed to one entry per call: bounded by the calls, not the events),
retries, and says so in its metrics; once it is back every call lands once,
as Asterisk's own queue_log for the same burst says it ended.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from atiende.wiring import build_bridge, metrics_registry
from dashboards import metric_names as names
from telephony.ami.testing import AmiTestServer
from tests.support.queue_log import parse_queue_log
from tests.support.tcp import TcpRelay
from tests.test_bridge_end_to_end import SECRET, attentions, linkedids, settings_for

pytestmark = pytest.mark.postgres

OUTAGE_SECONDS = 60.0


def sample(exposition: bytes, name: str) -> float:
    """The value of a metric (any labels) in a /metrics exposition."""
    for family in text_string_to_metric_families(exposition.decode()):
        for found in family.samples:
            if found.name in (name, name + "_total"):
                return float(found.value)
    raise AssertionError(f"{name} not exposed")


async def test_postgresql_away_for_a_minute_mid_burst_loses_nothing(
    recordings: Path, new_database: Callable[..., str]
) -> None:
    database = new_database("pgout", migrate=True)
    target = make_url(database)
    relay = TcpRelay(None, (target.host or "127.0.0.1", target.port or 5432))
    relayed = target.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    burst = (recordings / "burst.ami").read_bytes()
    calls = linkedids(burst)
    expected = {
        uniqueid: call.outcome
        for uniqueid, call in parse_queue_log(recordings / "burst.queue_log").calls.items()
    }
    system = "pg-outage"
    relay.start()
    # Paced so that most of the burst arrives while the database is away.
    async with AmiTestServer(burst, secret=SECRET, pace=0.004) as server:
        service = build_bridge(settings_for(relayed, server.port, system))
        registry = metrics_registry(service)
        await service.start()
        try:
            async with asyncio.timeout(60):
                while len(await asyncio.to_thread(attentions, database, system)) < 2:
                    await asyncio.sleep(0.05)
            relay.stop()
            cut_at = time.monotonic()
            most_pending = 0
            while time.monotonic() - cut_at < OUTAGE_SECONDS:
                most_pending = max(most_pending, service.writer.pending)
                await asyncio.sleep(0.25)
            during = generate_latest(registry)
            # The whole burst has been read meanwhile; nothing could be written.
            await asyncio.wait_for(server.replayed(), timeout=30)
            assert service.writer.failures >= 2, "the writer did not retry"
            assert sample(during, names.STORE_WRITE_FAILURES) >= 2
            assert sample(during, names.STORE_PENDING) > 0
            # Bounded: one entry per call (and agent interval), not per event.
            assert 0 < most_pending <= len(calls) + 200
            assert service.writer.pending <= len(calls) + 200

            relay.start()
            async with asyncio.timeout(90):  # the writer's back-off is at most 30 s
                await service.caught_up()
                await service.writer.flush()
            after = generate_latest(registry)
            assert sample(after, names.STORE_PENDING) == 0
        finally:
            await service.stop()
            relay.stop()

    rows = await asyncio.to_thread(attentions, database, system)
    assert Counter(row.linkedid for row in rows).most_common(1)[0][1] == 1, "an attention doubled"
    outcomes = {row.linkedid: row.outcome for row in rows}
    assert set(outcomes) == calls, "an attention was lost"
    for uniqueid, outcome in expected.items():
        assert outcomes[uniqueid] == outcome, uniqueid
