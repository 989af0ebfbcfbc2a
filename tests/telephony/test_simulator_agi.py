"""The simulator's FastAGI side against the recorded sessions (*.agi): a
scripted FastAGI server replays the lab IVR's commands and records what the
simulator, playing Asterisk, sent back over TCP."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from telephony.simulator.calls import Pbx
from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile

LAB_QUEUES = {"consultas": [("4001", "Ana Gómez")], "reclamos": [("4003", "Carla Pérez")]}
# Differ per run: Asterisk's thread id, the port of the IVR, and the uniqueid
# (the simulated clock starts now, not when the lab ran).
RUN_DEPENDENT = {"agi_threadid", "agi_request", "agi_uniqueid"}


@dataclass
class Session:
    environment: list[tuple[str, str]] = field(default_factory=list)
    exchange: list[tuple[str, list[str]]] = field(default_factory=list)


def recorded_sessions(path: Path) -> list[Session]:
    sessions: list[Session] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line == "=== session":
            sessions.append(Session())
            continue
        current = sessions[-1]
        if line.startswith("< agi_"):
            name, _, value = line[2:].partition(": ")
            current.environment.append((name, value))
        elif line.startswith("> "):
            current.exchange.append((line[2:], []))
        elif line.startswith("< ") and current.exchange:
            current.exchange[-1][1].append(line[2:])
    return sessions


class ScriptedIvr:
    """A FastAGI server that sends the recorded commands, one per reply."""

    def __init__(self, commands: list[str]) -> None:
        self.commands = commands
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session()
        self.sessions.append(session)
        while (line := (await reader.readline()).decode("utf-8").rstrip("\n")) != "":
            name, _, value = line.partition(": ")
            session.environment.append((name, value))
        for command in self.commands:
            writer.write(f"{command}\n".encode())
            await writer.drain()
            replies: list[str] = []
            while True:
                reply = (await reader.readline()).decode("utf-8").rstrip("\n")
                replies.append(reply)
                if reply != "HANGUP":
                    break
            session.exchange.append((command, replies))
        writer.close()


@pytest.mark.parametrize(
    ("scenario", "style", "spec"),
    [
        ("answered", "local", CallerSpec("099100001", "Ciudadana Pérez 1", ("1",), 2, 120, 4)),
        ("ivr_hangup", "local", CallerSpec("099100003", "Ciudadana Pérez 3", ("",), 2, 1, 4)),
        ("sip_mixed", "pjsip", CallerSpec("099123456", "María Pérez", ("1",), 2, 30, 4)),
    ],
)
async def test_session_matches_the_recording(
    recordings: Path, scenario: str, style: str, spec: CallerSpec
) -> None:
    recorded = recorded_sessions(recordings / f"{scenario}.agi")[0]
    ivr = ScriptedIvr([command for command, _ in recorded.exchange])
    port = await ivr.start()
    simulator = Simulator(
        SimulatorConfig(
            speed=50,
            style="local" if style == "local" else "pjsip",
            agi=("127.0.0.1", port),
            queues=LAB_QUEUES,
            profile=TrafficProfile(calls_per_minute=0),
            wait_for_subscriber=False,
            survey=False,
        )
    )
    await simulator.start()
    simulator.pbx.place_call(spec)
    try:
        async with asyncio.timeout(30):
            while not ivr.sessions or len(ivr.sessions[0].exchange) < len(recorded.exchange):
                await asyncio.sleep(0.02)
    finally:
        await simulator.stop()
        await ivr.stop()
    session = ivr.sessions[0]
    assert [name for name, _ in session.environment] == [n for n, _ in recorded.environment]
    got, want = dict(session.environment), dict(recorded.environment)
    for name, value in want.items():
        if name not in RUN_DEPENDENT:
            assert got[name] == value, name
    # The lab's stub stopped reading at HANGUP (ivr_hangup.agi); Asterisk then
    # sends the command's result line, as agi_tour.agi shows.
    assert len(session.exchange) == len(recorded.exchange)
    for (command, replies), (recorded_command, recorded_replies) in zip(
        session.exchange, recorded.exchange, strict=True
    ):
        assert command == recorded_command
        assert replies[: len(recorded_replies)] == recorded_replies, command
        if recorded_replies == ["HANGUP"]:
            assert replies[1].startswith("200 result="), command


def test_reply_formats_of_the_agi_tour(recordings: Path) -> None:
    """The commands of agi_tour.agi that a caller-facing IVR uses, answered
    by the core as the real Asterisk answered them (same caller, same keys)."""
    recorded = recorded_sessions(recordings / "agi_tour.agi")[0]
    replies = dict(recorded.exchange)
    pbx = Pbx(start=1795345027.0, style="local", queues=LAB_QUEUES, external_ivr=True)
    pbx.place_call(CallerSpec("099700001", "Tour Pérez", ("234",), 60, 120, 4), 1795345027.0)
    pbx.advance(1795345027.01)
    (call_id,) = pbx.agi_sessions()
    for command in (
        "ANSWER",
        "GET VARIABLE CALLERID(name)",
        "GET FULL VARIABLE ${CALLERID(num)}",
        'STREAM FILE beep "#"',
        'SAY DIGITS 123 ""',
        "FOO BAR",
    ):
        reply, due = pbx.agi_command(call_id, command)
        pbx.advance(due)
        assert reply == replies[command], command
