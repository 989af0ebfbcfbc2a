"""`atiende demo`: the product working on embedded defaults, with no Asterisk.

Recorded Asterisk traffic (../shared/asterisk-recordings, or --recordings) is
served over real AMI by the test AMI server, paced, to the real bridge built
by the composition root; attentions land in the SQLite database of the
settings. The console shows the calls as the tracker sees them, then the
attentions stored per queue and outcome.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr
from sqlalchemy import func, select

from atiende.settings import AmiSettings, Settings
from atiende.wiring import build_bridge, migrate
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from crm_bridge.phones import mask_number
from telephony.ami.testing import AmiTestServer
from telephony.domain import (
    AgentRinging,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallQueued,
    CallRecord,
    DomainEvent,
)

DEMO_CAPTURES = ("answered", "abandoned", "ivr_hangup", "tricky_caller_id", "burst", "sip_mixed")
DEMO_SECRET = "demo"


def default_recordings() -> Path:
    configured = os.environ.get("ATIENDE_RECORDINGS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "asterisk-recordings"


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


class ConsoleSink:
    """Prints what the tracker reports, one line per step of a call."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            line = self._line(event)
            if line:
                print(f"{_clock(event.at)}  {line}", file=self._out)

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            print(f"          still up at the end: {record.key.linkedid}", file=self._out)

    @staticmethod
    def _line(event: DomainEvent) -> str | None:
        if isinstance(event, CallQueued):
            caller = f"{event.caller_name or '(sin nombre)'} {mask_number(event.caller_number)}"
            return f"{event.queue:<10} queued      {caller} at position {event.position}"
        if isinstance(event, AgentRinging):
            return f"{event.queue:<10} ringing     {event.member_name}"
        if isinstance(event, CallAnswered):
            return (
                f"{event.queue:<10} answered    by {event.member_name}"
                f" after {event.wait_seconds:.0f} s"
            )
        if isinstance(event, CallAbandoned):
            return f"{event.queue:<10} abandoned   after {event.wait_seconds:.0f} s"
        if isinstance(event, CallEnded):
            record = event.record
            return f"{record.queue or '(ivr)':<10} ended       {record.outcome.value}"
        return None


async def _replay(settings: Settings, capture: bytes, pace: float, out: TextIO) -> None:
    async with AmiTestServer(capture, secret=DEMO_SECRET, pace=pace) as server:
        ami = settings.ami.model_copy(
            update={"host": "127.0.0.1", "port": server.port, "secret": SecretStr(DEMO_SECRET)}
        )
        service = build_bridge(settings.model_copy(update={"ami": ami}), [ConsoleSink(out)])
        await service.start()
        try:
            await server.replayed()
            await service.caught_up()
        finally:
            await service.stop()


def _report(settings: Settings, out: TextIO) -> None:
    engine = make_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Attention.queue, Attention.outcome, func.count())
                .where(Attention.system == settings.ami.system_name)
                .group_by(Attention.queue, Attention.outcome)
                .order_by(Attention.queue, Attention.outcome)
            ).all()
    finally:
        engine.dispose()
    print("\nAttentions stored in", settings.database_url, file=out)
    for queue, outcome, count in rows:
        print(f"  {queue or '(ivr)':<10} {outcome:<20} {count:>4}", file=out)


async def run_demo(
    settings: Settings,
    *,
    recordings: Path | None = None,
    speed: float = 20.0,
    out: TextIO = sys.stdout,
) -> None:
    folder = recordings or default_recordings()
    captures = [folder / f"{name}.ami" for name in DEMO_CAPTURES]
    missing = [str(path) for path in captures if not path.is_file()]
    if missing:
        raise SystemExit(f"atiende demo: recordings not found: {', '.join(missing)}")
    if settings.ami.system_name == AmiSettings().system_name:
        settings = settings.model_copy(
            update={"ami": settings.ami.model_copy(update={"system_name": "demo-lab"})}
        )
    await asyncio.to_thread(migrate, settings)
    pace = 0.05 / max(speed, 0.1)
    for path in captures:
        print(f"\n=== {path.stem}: replaying recorded Asterisk traffic over AMI", file=out)
        await _replay(settings, path.read_bytes(), pace, out)
    _report(settings, out)
