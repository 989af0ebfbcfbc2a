"""AmiTestServer, driven by a bare socket client: it must talk like the recordings."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from telephony.ami.asterisk_side import parse_message, split_messages
from telephony.ami.parser import AmiParser
from telephony.ami.testing import AmiTestServer

GUARD = 10.0


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: AmiTestServer) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = cls(reader, writer)
        assert await reader.readline() == b"Asterisk Call Manager/9.0.0\r\n"
        return client

    def send(self, **headers: str) -> None:
        text = "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        self.writer.write(text.encode())

    async def message(self) -> dict[str, str]:
        async with asyncio.timeout(GUARD):
            return parse_message(await self.reader.readuntil(b"\r\n\r\n"))

    async def login(self, events: str = "on", secret: str = "lab-secret") -> dict[str, str]:
        self.send(Action="Login", ActionID="L1", Username="atiende", Secret=secret, Events=events)
        return await self.message()

    async def until_closed(self) -> bytes:
        async with asyncio.timeout(GUARD):
            return await self.reader.read()

    def close(self) -> None:
        self.writer.close()


def first_message_end(capture: bytes) -> int:
    return capture.index(b"\r\n\r\n") + 4


async def test_wrong_secret_is_refused_and_closed() -> None:
    async with AmiTestServer() as server:
        client = await RawClient.open(server)
        reply = await client.login(secret="nope")
        assert reply == {
            "Response": "Error",
            "ActionID": "L1",
            "Message": "Authentication failed",
        }
        assert await client.until_closed() == b""
        assert server.received[0]["Secret"] == "nope"


async def test_replay_is_the_capture_byte_for_byte(recordings: Path) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    async with AmiTestServer(capture, chunk_size=5, apply_filters=False) as server:
        client = await RawClient.open(server)
        assert (await client.login())["Message"] == "Authentication accepted"
        await server.replayed()
        rest = capture[first_message_end(capture) :]
        async with asyncio.timeout(GUARD):
            got = await client.reader.readexactly(len(rest))
        assert got == rest  # starts with the capture's own FullyBooted
        client.close()


async def test_later_sessions_get_a_fresh_fully_booted_and_zero_after_restart(
    recordings: Path,
) -> None:
    capture = (recordings / "ivr_hangup.ami").read_bytes()
    async with AmiTestServer(capture) as server:
        first = await RawClient.open(server)
        await first.login(events="system")
        captured = await first.message()
        assert captured["Event"] == "FullyBooted" and captured["Uptime"] == "0"
        server.disconnect()
        second = await RawClient.open(server)
        await second.login(events="system")
        booted = await second.message()
        assert booted["Event"] == "FullyBooted" and int(booted["Uptime"]) > 0
        server.simulate_restart()
        shutdown = await second.message()
        assert shutdown["Event"] == "Shutdown"
        assert await second.until_closed() == b""
        third = await RawClient.open(server)
        await third.login(events="system")
        assert (await third.message())["Uptime"] == "0"
        quiet = await RawClient.open(server)
        await quiet.login(events="off")
        quiet.send(Action="Ping", ActionID="P1")
        # Events off: no FullyBooted, the next message is the Ping reply.
        assert (await quiet.message())["ActionID"] == "P1"


async def test_list_actions_come_from_the_actions_capture(recordings: Path) -> None:
    actions = (recordings / "status_snapshot.actions.ami").read_bytes()
    channels = actions.count(b"Event: CoreShowChannel\r\n")
    async with AmiTestServer(actions_capture=actions) as server:
        client = await RawClient.open(server)
        await client.login(events="off")
        client.send(Action="CoreShowChannels", ActionID="mine-7")
        start = await client.message()
        assert start["Response"] == "Success" and start["EventList"] == "start"
        events = []
        while True:
            message = await client.message()
            events.append(message)
            if message["Event"].endswith("Complete"):
                break
        assert all(e["ActionID"] == "mine-7" for e in [start, *events])
        assert sum(e["Event"] == "CoreShowChannel" for e in events) == channels
        assert events[-1]["ListItems"] == str(channels)
        client.send(Action="Status", ActionID="mine-8")
        await client.message()
        status = [await client.message() for _ in range(actions.count(b"Event: Status\r\n") + 1)]
        assert status[-1]["Event"] == "StatusComplete"
        assert {e["ActionID"] for e in status} == {"mine-8"}


async def test_list_actions_without_a_capture_are_empty() -> None:
    async with AmiTestServer() as server:
        client = await RawClient.open(server)
        await client.login(events="off")
        client.send(Action="QueueStatus", ActionID="q1")
        start = await client.message()
        complete = await client.message()
        assert start["EventList"] == "start"
        assert complete == {
            "Event": "QueueStatusComplete",
            "ActionID": "q1",
            "EventList": "Complete",
            "ListItems": "0",
        }


async def test_filters_apply_to_the_replay(recordings: Path) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    hangups = capture.count(b"Event: Hangup\r\n")
    async with AmiTestServer(capture) as server:
        client = await RawClient.open(server)
        await client.login(events="off")
        client.send(Action="Filter", ActionID="F1", Operation="Add", Filter="^Event: Hangup\r")
        assert (await client.message())["Response"] == "Success"
        client.send(Action="Events", ActionID="E1", EventMask="on")
        assert (await client.message())["Events"] == "On"
        await server.replayed()
        client.send(Action="Ping", ActionID="P1")
        got = []
        while (message := await client.message()).get("ActionID") != "P1":
            got.append(message["Event"])
        assert got == ["Hangup"] * hangups


async def test_drop_after_closes_mid_message_and_resumes_at_the_next_one(
    recordings: Path,
) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    start = first_message_end(capture)
    cut = capture.index(b"Event: Hangup") + 10
    async with AmiTestServer(capture, apply_filters=False) as server:
        server.drop_after(cut)
        client = await RawClient.open(server)
        assert (await client.login())["Response"] == "Success"
        assert await client.until_closed() == capture[start:cut]
        again = await RawClient.open(server)
        await again.login()
        booted = await again.message()
        assert booted["Event"] == "FullyBooted"
        resumed = await again.message()
        following = next(raw for offset, raw in split_messages(capture) if offset > cut)
        assert resumed == parse_message(following)


async def test_swallow_fail_and_recorded_actions() -> None:
    async with AmiTestServer() as server:
        client = await RawClient.open(server)
        await client.login(events="off")
        server.swallow("Originate")
        server.fail("QueuePause", "Interface not found")
        client.send(Action="Originate", ActionID="O1", Channel="PJSIP/4001")
        client.send(Action="QueuePause", ActionID="Q1", Interface="PJSIP/9")
        client.send(Action="Ping", ActionID="P1")
        refused = await client.message()
        assert refused == {"Response": "Error", "ActionID": "Q1", "Message": "Interface not found"}
        pong = await client.message()
        assert pong["ActionID"] == "P1" and pong["Ping"] == "Pong"
        assert [a["Action"] for a in server.received] == [
            "Login",
            "Originate",
            "QueuePause",
            "Ping",
        ]
        server.stop_answering_pings()
        client.send(Action="Ping", ActionID="P2")
        client.send(Action="Logoff", ActionID="X")
        goodbye = await client.message()
        assert goodbye["Response"] == "Goodbye" and goodbye["ActionID"] == "X"
        assert await client.until_closed() == b""


@pytest.mark.parametrize("chunk_size", [1, 3, 4096])
async def test_replies_never_land_inside_a_replayed_message(
    recordings: Path, chunk_size: int
) -> None:
    capture = (recordings / "ivr_hangup.ami").read_bytes()
    async with AmiTestServer(capture, chunk_size=chunk_size, apply_filters=False) as server:
        client = await RawClient.open(server)
        await client.login()
        parser = AmiParser()
        messages = []
        for n in range(20):
            client.send(Action="Ping", ActionID=f"P{n}")
            messages += parser.feed(await client.reader.read(200))
        await server.replayed()
        client.send(Action="Ping", ActionID="last")
        while not any(m.get("ActionID") == "last" for m in messages):
            async with asyncio.timeout(GUARD):
                messages += parser.feed(await client.reader.read(65536))
        assert parser.malformed == 0
        pongs = [m["ActionID"] for m in messages if m.get("Ping") == "Pong"]
        assert pongs == [f"P{n}" for n in range(20)] + ["last"]
        events = [m["Event"] for m in messages if "Event" in m]
        expected = [parse_message(raw)["Event"] for _, raw in split_messages(capture)[1:]]
        assert events == expected


def alive_at(capture: bytes, cut: int) -> set[str]:
    """Uniqueids created and not hung up before byte `cut` of the capture."""
    head = capture[:cut]
    created = re.findall(rb"Event: Newchannel\r\n(?:[^\r\n]+\r\n)*?Uniqueid: ([^\r\n]+)", head)
    gone = re.findall(rb"Event: Hangup\r\n(?:[^\r\n]+\r\n)*?Uniqueid: ([^\r\n]+)", head)
    return {u.decode() for u in created} - {u.decode() for u in gone}


async def list_events(client: RawClient, action: str, action_id: str) -> list[dict[str, str]]:
    client.send(Action=action, ActionID=action_id)
    events = []
    while True:
        message = await client.message()
        if message.get("ActionID") != action_id:
            continue  # a replayed event
        if "Event" in message:
            events.append(message)
            if message["Event"] == f"{action}Complete":
                return events


async def test_lists_without_a_capture_tell_what_the_replay_left_up(recordings: Path) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    # While the caller waits in the queue: joined, an agent rings (Asterisk
    # sends QueueCallerLeave when the agent answers, before AgentConnect).
    join = capture.index(b"Event: QueueCallerJoin")
    cut = capture.index(b"Event: AgentCalled")
    caller = re.search(rb"Uniqueid: ([^\r\n]+)", capture[join:])
    assert caller is not None
    async with AmiTestServer(capture, apply_filters=False) as server:
        server.drop_after(cut)
        client = await RawClient.open(server)
        await client.login()
        await client.until_closed()
        again = await RawClient.open(server)
        await again.login(events="off")
        channels = await list_events(again, "CoreShowChannels", "c1")
        listed = {e["Uniqueid"] for e in channels if e["Event"] == "CoreShowChannel"}
        assert listed == alive_at(capture, cut) and listed
        assert channels[-1]["ListItems"] == str(len(listed))
        status = await list_events(again, "QueueStatus", "q1")
        entries = [e for e in status if e["Event"] == "QueueEntry"]
        assert [(e["Queue"], e["Uniqueid"], e["Position"]) for e in entries] == [
            ("consultas", caller.group(1).decode(), "1")
        ]
        members = {e["Name"] for e in status if e["Event"] == "QueueMember"}
        assert members <= {"Ana Gómez", "Bruno Núñez"}
        # After the whole capture, every call is over: nothing is listed.
        again.send(Action="Events", ActionID="e1", EventMask="on")
        await server.replayed()
        done = await list_events(again, "CoreShowChannels", "c2")
        assert [e["Event"] for e in done] == ["CoreShowChannelsComplete"]
        assert alive_at(capture, len(capture)) == set()
