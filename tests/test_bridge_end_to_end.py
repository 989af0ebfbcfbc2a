"""The real bridge, end to end: recorded AMI bytes over TCP → attentions in PostgreSQL.

For every recording, the test AMI server replays the `.ami` capture to the
bridge built by the composition root (real AmiConnection, parser, tracker,
writer, PostgreSQL), and the attentions are checked against the `.queue_log`
that Asterisk itself wrote for the same calls.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from crm_bridge.models import Attention
from telephony.ami.testing import AmiTestServer
from tests.conftest import SCENARIOS
from tests.support.queue_log import parse_queue_log

pytestmark = pytest.mark.postgres

SECRET = "e2e-secret"


def settings_for(database_url: str, port: int, system: str) -> Settings:
    return Settings(
        database_url=database_url,
        ami=AmiSettings(
            host="127.0.0.1",
            port=port,
            username="atiende",
            secret=SECRET,
            system_name=system,
            ping_interval=1.0,
            ping_timeout=1.0,
            reconnect_min=0.05,
            reconnect_max=0.2,
        ),
    )


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    migrate(Settings(database_url=postgres_url))
    return postgres_url


def linkedids(capture: bytes) -> set[str]:
    """Every call in a capture: one Linkedid per call, whatever its channels."""
    return {value.decode() for value in re.findall(rb"\r\nLinkedid: ([^\r\n]+)\r\n", capture)}


async def run_capture(
    capture: bytes, database_url: str, system: str, **server_options: object
) -> list[Attention]:
    async with AmiTestServer(capture, secret=SECRET, **server_options) as server:  # type: ignore[arg-type]
        await bridge_through(server, database_url, system)
    return attentions(database_url, system)


async def bridge_through(server: AmiTestServer, database_url: str, system: str) -> None:
    """Run a bridge against `server` until the whole capture has been tracked."""
    service = build_bridge(settings_for(database_url, server.port, system))
    await service.start()
    try:
        await asyncio.wait_for(server.replayed(), timeout=60)
        await asyncio.wait_for(service.caught_up(), timeout=30)
    finally:
        await service.stop()


def attentions(database_url: str, system: str) -> list[Attention]:
    from crm_bridge.db import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(
                select(Attention).where(Attention.system == system).order_by(Attention.id)
            ).all()
            session.expunge_all()
            return list(rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_every_call_recorded_as_queue_log_says(
    recordings: Path, database_url: str, scenario: str
) -> None:
    capture = (recordings / f"{scenario}.ami").read_bytes()
    # Small chunks split messages and UTF-8 characters all along the way.
    rows = await run_capture(capture, database_url, f"e2e-{scenario}", chunk_size=1021)

    by_linkedid = {row.linkedid: row for row in rows}
    assert len(by_linkedid) == len(rows), "one attention per call"
    assert set(by_linkedid) == linkedids(capture)

    log_path = recordings / f"{scenario}.queue_log"
    queued = parse_queue_log(log_path).calls if log_path.exists() else {}
    for uniqueid, expected in queued.items():
        row = by_linkedid[uniqueid]
        assert row.queues == expected.queues, uniqueid
        assert row.queue == expected.queues[-1]
        assert row.agent == expected.agent, uniqueid
        # queue_log has no line for the end of a call still waiting, and no
        # COMPLETE* for one still talking when the capture ends.
        ended = expected.outcome != "in_progress" and (
            expected.outcome != "answered" or expected.talk is not None
        )
        assert row.outcome == (expected.outcome if ended else "in_progress"), uniqueid
        assert (row.ended_at is not None) == ended
        if expected.wait is not None:
            assert row.wait_seconds == pytest.approx(expected.wait, abs=1), uniqueid
        if expected.talk is not None:
            assert row.talk_seconds == pytest.approx(expected.talk, abs=1), uniqueid
        assert row.caller_number_raw == expected.caller_number
        assert row.caller_number == "+598" + expected.caller_number.lstrip("0")
    for linkedid, row in by_linkedid.items():
        if linkedid not in queued:
            assert row.outcome in {"ivr_hangup", "ivr_completed"}, linkedid
            assert row.queues == []


async def test_names_arrive_intact(recordings: Path, database_url: str) -> None:
    capture = (recordings / "tricky_caller_id.ami").read_bytes()
    rows = await run_capture(capture, database_url, "e2e-names", chunk_size=7)
    names = sorted(row.caller_name for row in rows)
    assert names == ["", 'Zoë "Niña" Ñandú; EXEC System(touch /tmp/pwned)']
    assert {row.agent for row in rows} == {"Ana Gómez", "Bruno Núñez"}


async def test_replaying_twice_never_doubles(recordings: Path, database_url: str) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    first = await run_capture(capture, database_url, "e2e-twice")
    second = await run_capture(capture, database_url, "e2e-twice")
    assert len(first) == len(second) == 1
    assert first[0].id == second[0].id
    assert second[0].outcome == "answered"
