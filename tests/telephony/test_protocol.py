"""AmiProtocol inside panoramisk's Manager, over a real TCP socket."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from telephony.ami.protocol import AmiProtocol
from telephony.ami.stream import Headers

CHUNK = 7


class RecordingManager(Manager):  # type: ignore[misc]
    """What the bridge's manager provides: a `feed_event` for every event."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.events: list[Headers] = []
        self.disconnected = asyncio.Event()

    def feed_event(self, headers: Headers) -> None:
        self.events.append(headers)

    def connection_lost(self, exc: Any) -> None:
        self.disconnected.set()


def _boundaries(data: bytes) -> list[int]:
    """Chunk ends: the first inside the first "ó" of the data, then every 7 bytes."""
    first = data.find("ó".encode()) + 1 or CHUNK
    return [0, *range(first, len(data), CHUNK), len(data)]


def _chunks(data: bytes) -> list[bytes]:
    ends = _boundaries(data)
    return [data[a:b] for a, b in itertools.pairwise(ends)]


def _splits_a_character(chunk: bytes) -> bool:
    """True when the next chunk starts inside a UTF-8 character."""
    lead = [b for b in chunk[-3:] if b >= 0xC0]
    return bool(lead) and not chunk.endswith(b"\r\n")


async def _read_action(reader: asyncio.StreamReader) -> dict[str, str]:
    raw = await reader.readuntil(b"\r\n\r\n")
    fields = {}
    for line in raw.decode().split("\r\n"):
        if ": " in line:
            key, _, value = line.partition(": ")
            fields[key] = value
    return fields


async def _write_slowly(writer: asyncio.StreamWriter, data: bytes) -> None:
    for chunk in _chunks(data):
        writer.write(chunk)
        await writer.drain()
        if _splits_a_character(chunk):
            # Give the client a chance to read the half character on its own.
            await asyncio.sleep(0.002)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_asterisk(script: Script) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            with contextlib.suppress(Exception):
                await reader.read()  # wait for the client to go away
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


def _login_reply(capture: bytes, action: dict[str, str]) -> tuple[bytes, bytes]:
    """The capture's first message (the Login reply) answering this Login."""
    first, _, rest = capture.partition(b"\r\n\r\n")
    assert first.startswith(b"Response: Success")
    reply = first + b"\r\nActionID: " + action["ActionID"].encode() + b"\r\n\r\n"
    return reply, rest


def _manager(port: int, cls: type[Manager] = RecordingManager) -> Any:
    return cls(
        host="127.0.0.1",
        port=port,
        username="atiende",
        secret="x",
        protocol_factory=AmiProtocol,
        loop=asyncio.get_running_loop(),
        ping_delay=3600,
        reconnect_timeout=3600,
    )


async def _logged_in(manager: Any) -> None:
    await manager.connect()
    for _ in range(200):
        if manager.authenticated_future is not None:
            break
        await asyncio.sleep(0.01)
    ok = await asyncio.wait_for(manager.authenticated_future, 5)
    assert ok.success


def _raw_event_names(data: bytes) -> list[str]:
    return [
        line[len(b"Event: ") :].decode()
        for line in data.split(b"\r\n")
        if line.startswith(b"Event: ")
    ]


def _raw_values(data: bytes, key: str) -> list[str]:
    prefix = key.encode() + b": "
    return [line[len(prefix) :].decode() for line in data.split(b"\r\n") if line.startswith(prefix)]


async def test_events_arrive_in_order_intact_and_actions_resolve(recordings: Path) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    assert _chunks(capture)[0].endswith(b"MemberName: Ana G\xc3")
    done = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        reply, rest = _login_reply(capture, await _read_action(reader))
        await _write_slowly(writer, reply + rest + b"\r\n\r\n")
        ping = await _read_action(reader)
        assert ping["Action"] == "Ping"
        pong = f"Response: Success\r\nActionID: {ping['ActionID']}\r\nPing: Pong\r\n"
        await _write_slowly(writer, pong.encode() + b"Timestamp: 1.5\r\n\r\n")
        done.set()

    async with fake_asterisk(script) as port:
        manager = _manager(port)
        await _logged_in(manager)
        answer = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 10)
        await asyncio.wait_for(done.wait(), 5)
        manager.close()

    assert answer.ping == "Pong"
    assert answer.success
    events = manager.events
    assert [h["Event"] for h in events] == _raw_event_names(capture)
    received_members = [h["MemberName"] for h in events if "MemberName" in h]
    assert received_members == _raw_values(capture, "MemberName")
    assert "Ana Gómez" in received_members
    received_callers = [h["CallerIDName"] for h in events if "CallerIDName" in h]
    assert received_callers == _raw_values(capture, "CallerIDName")
    assert manager.protocol.version == "9.0.0"
    assert manager.protocol.parser.malformed == 0


async def test_list_action_resolves_and_its_events_are_fed_too(recordings: Path) -> None:
    answers = (recordings / "status_snapshot.actions.ami").read_bytes()
    # The CoreShowChannels reply of the capture (ActionID lab-4).
    blocks = answers.split(b"\r\n\r\n")
    listing = [b for b in blocks if b"ActionID: lab-4\r\n" in b + b"\r\n"]
    assert listing[0].startswith(b"Response: Success")
    assert listing[-1].startswith(b"Event: CoreShowChannelsComplete")

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        login = await _read_action(reader)
        writer.write(f"Response: Success\r\nActionID: {login['ActionID']}\r\n\r\n".encode())
        action = await _read_action(reader)
        assert action["Action"] == "CoreShowChannels"
        body = b"\r\n\r\n".join(listing) + b"\r\n\r\n"
        await _write_slowly(writer, body.replace(b"lab-4", action["ActionID"].encode()))

    async with fake_asterisk(script) as port:
        manager = _manager(port)
        await _logged_in(manager)
        result = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}), 10)
        manager.close()

    expected_events = sum(1 for b in listing if b.startswith(b"Event: "))
    assert isinstance(result, list)
    assert len(result) == len(listing)
    assert [h["Event"] for h in manager.events] == [m.event for m in result if "event" in m]
    assert len(manager.events) == expected_events
    assert manager.events[-1]["Event"] == "CoreShowChannelsComplete"


async def test_old_style_command_reply_keeps_its_output() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        login = await _read_action(reader)
        writer.write(f"Response: Success\r\nActionID: {login['ActionID']}\r\n\r\n".encode())
        command = await _read_action(reader)
        assert command["Command"] == "core show uptime"
        reply = (
            f"Response: Follows\r\nPrivilege: Command\r\nActionID: {command['ActionID']}\r\n"
            "System uptime: 5 minutes\n\nLast reload: 1 minute\n--END COMMAND--\r\n\r\n"
            "Event: Newstate\r\nChannel: x\r\n\r\n"
        )
        await _write_slowly(writer, reply.encode())

    async with fake_asterisk(script) as port:
        manager = _manager(port)
        await _logged_in(manager)
        result = await asyncio.wait_for(manager.send_command("core show uptime"), 10)
        for _ in range(200):
            if manager.events:
                break
            await asyncio.sleep(0.01)
        manager.close()

    assert result.response == "Follows"
    assert result.content == "System uptime: 5 minutes\n\nLast reload: 1 minute"
    assert [h["Event"] for h in manager.events] == ["Newstate"]


async def test_shutdown_event_ends_the_connection() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        login = await _read_action(reader)
        writer.write(f"Response: Success\r\nActionID: {login['ActionID']}\r\n\r\n".encode())
        writer.write(b"Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n")
        await writer.drain()

    async with fake_asterisk(script) as port:
        manager = _manager(port)
        await _logged_in(manager)
        await asyncio.wait_for(manager.disconnected.wait(), 5)
        assert manager.protocol.closed
        manager.close()
    assert manager.events[-1]["Event"] == "Shutdown"


async def test_a_stock_manager_still_gets_its_events(recordings: Path) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    seen: list[Any] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply, rest = _login_reply(capture, await _read_action(reader))
        await _write_slowly(writer, reply + rest + b"\r\n\r\n")

    async with fake_asterisk(script) as port:
        manager = _manager(port, Manager)
        manager.register_event("*", lambda _manager, message: seen.append(message))
        await _logged_in(manager)
        expected = _raw_event_names(capture)
        for _ in range(500):
            if len(seen) >= len(expected):
                break
            await asyncio.sleep(0.01)
        manager.close()

    assert [m.event for m in seen] == expected
    assert [m.membername for m in seen if "membername" in m] == _raw_values(capture, "MemberName")


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _Factory:
    def __init__(self) -> None:
        self.dispatched: list[Any] = []

    def dispatch(self, message: Any) -> None:
        self.dispatched.append(message)


def test_stock_panoramisk_loses_characters_split_across_reads(recordings: Path) -> None:
    """Why we replace panoramisk's protocol (fails if panoramisk ever fixes it)."""
    capture = (recordings / "answered.ami").read_bytes()
    stock = AMIProtocol()
    stock.connection_made(_Transport())
    factory = _Factory()
    stock.factory = factory
    stock.encoding = "utf8"
    ours = AmiProtocol()
    ours.connection_made(_Transport())
    ours.factory = factory
    for chunk in _chunks(capture):
        stock.data_received(chunk)
    stock_names = [m.membername for m in factory.dispatched if "membername" in m]

    # From first principles: a name whose "ó" straddles a 7-byte boundary
    # loses it (each half is invalid UTF-8 and is ignored); others survive.
    cuts = set(_boundaries(capture))
    expected: list[str] = []
    for match in re.finditer(rb"MemberName: ([^\r]*)\r\n", capture):
        value = match.group(1)
        accent = match.start(1) + value.find("ó".encode())
        split = value.find("ó".encode()) >= 0 and accent + 1 in cuts
        name = value.decode()
        expected.append(name.replace("ó", "") if split else name)
    assert "Ana Gmez" in expected
    assert stock_names == expected

    factory.dispatched.clear()
    for chunk in _chunks(capture):
        ours.data_received(chunk)
    assert [m.membername for m in factory.dispatched if "membername" in m] == _raw_values(
        capture, "MemberName"
    )


@pytest.mark.parametrize("size", [1, 3])
def test_protocol_without_socket_any_chunking(recordings: Path, size: int) -> None:
    capture = (recordings / "tricky_caller_id.ami").read_bytes()
    manager = RecordingManager(loop=None)
    protocol = AmiProtocol()
    protocol.connection_made(_Transport())
    protocol.factory = manager
    for i in range(0, len(capture), size):
        protocol.data_received(capture[i : i + size])
    assert [h["Event"] for h in manager.events] == _raw_event_names(capture)
    assert [h.get("CallerIDName") for h in manager.events if "CallerIDName" in h] == _raw_values(
        capture, "CallerIDName"
    )
