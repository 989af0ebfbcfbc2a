"""AmiConnection against AmiTestServer over real sockets.

Expected events come from the recordings themselves (parsed with the
project's AmiParser), never from the code under test.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telephony.ami.actions import Originate, Ping, QueuePause, QueueSummary
from telephony.ami.connection import AmiConnection, backoff_delay, event_filters
from telephony.ami.exceptions import (
    ActionOutcomeUnknown,
    AmiActionFailed,
    AmiNotConnected,
    AmiTimeout,
)
from telephony.ami.parser import iter_capture
from telephony.ami.stream import (
    Connected,
    Disconnected,
    Headers,
    ResyncFinished,
    ResyncStarted,
    StreamItem,
)
from telephony.ami.testing import AmiTestServer
from telephony.events import READ_VARIABLES, USED_EVENTS

GUARD = 10.0  # seconds before a test that waits for the stream gives up (a hang guard)


def capture_events(path: Path) -> list[Headers]:
    """Every event of a recording, as the bridge should receive them."""
    return [m for m in iter_capture(path.read_bytes()) if "Event" in m]


def is_resync_reply(item: StreamItem) -> bool:
    return isinstance(item, dict) and item.get("ActionID", "").startswith("atiende-")


def live_events(items: list[StreamItem]) -> list[Headers]:
    return [i for i in items if isinstance(i, dict) and not is_resync_reply(i)]


class Recorder:
    """Reads a connection's stream in the background."""

    def __init__(self, connection: AmiConnection, delay_every: int = 0) -> None:
        self.connection = connection
        self.items: list[StreamItem] = []
        self.changed = asyncio.Event()
        self.delay_every = delay_every
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.connection.stream():
            self.items.append(item)
            self.changed.set()
            if self.delay_every and len(self.items) % self.delay_every == 0:
                await asyncio.sleep(0.005)  # a slow tracker

    async def until(self, predicate: Callable[[list[StreamItem]], bool]) -> list[StreamItem]:
        async with asyncio.timeout(GUARD):
            while not predicate(self.items):
                self.changed.clear()
                await self.changed.wait()
        return self.items

    async def until_count(self, kind: type, count: int) -> list[StreamItem]:
        return await self.until(lambda items: sum(isinstance(i, kind) for i in items) >= count)


def connect(
    server: AmiTestServer, protocol_factory: Callable[[], Any], **overrides: Any
) -> AmiConnection:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": "atiende",
        "secret": "lab-secret",
        "system_name": "lab",
        "ping_interval": 5.0,
        "ping_timeout": 2.0,
        "reconnect_min": 0.01,
        "reconnect_max": 0.05,
        "queue_size": 10_000,
        "connect_timeout": 2.0,
        "action_timeout": 2.0,
        "resync_timeout": 2.0,
        "protocol_factory": protocol_factory,
    }
    settings.update(overrides)
    return AmiConnection(**settings)


def markers(items: list[StreamItem]) -> list[str]:
    return [type(i).__name__ for i in items if not isinstance(i, dict)]


SESSION = re.compile(r"(C (S (F )?)?D )*(C (S (F )?)?(D )?)?")


def assert_well_formed(items: list[StreamItem]) -> None:
    """Each session: Connected, ResyncStarted, then ResyncFinished unless the
    session ended first, and Disconnected when it ends; never a half resync
    followed by another Connected."""
    letters = "".join(
        f"{type(i).__name__[0] if not isinstance(i, ResyncStarted) else 'S'} "
        for i in items
        if not isinstance(i, dict)
    )
    letters = letters.replace("R ", "F ")  # ResyncFinished
    assert SESSION.fullmatch(letters), markers(items)


def sessions(items: list[StreamItem]) -> list[list[StreamItem]]:
    """The items split at each Connected marker (the first part holds none)."""
    parts: list[list[StreamItem]] = [[]]
    for item in items:
        if isinstance(item, Connected):
            parts.append([])
        parts[-1].append(item)
    return parts[1:]


# --------------------------------------------------------------- pure parts


def test_backoff_doubles_up_to_the_maximum_and_never_below_the_minimum() -> None:
    low = [backoff_delay(n, 0.5, 30.0, 0.0) for n in range(10)]
    high = [backoff_delay(n, 0.5, 30.0, 0.999) for n in range(10)]
    assert low[0] == 0.5
    assert all(0.5 <= a <= b <= 30.0 for a, b in zip(low, high, strict=True))
    assert high[3] == pytest.approx(4.0 * 0.999, rel=1e-3) or high[3] <= 4.0
    assert low[-1] == 15.0 and high[-1] <= 30.0


def test_filters_let_through_used_events_and_wanted_varsets(recordings: Path) -> None:
    prefixes = READ_VARIABLES
    filters = [re.compile(f, re.DOTALL) for f in event_filters(USED_EVENTS, prefixes)]
    assert all(len(f.pattern) <= 900 for f in filters)
    raw = (recordings / "answered.ami").read_bytes().decode()
    seen_varsets = 0
    for text in raw.split("\r\n\r\n"):
        if not text.startswith("Event: "):
            continue
        name = text.split("\r\n", 1)[0].removeprefix("Event: ")
        passes = any(f.search(text) for f in filters)
        if name == "VarSet":
            variable = re.search(r"\r\nVariable: (\S+)", text)
            assert variable is not None
            wanted = variable.group(1).startswith(prefixes)
            seen_varsets += wanted
            assert passes == wanted, variable.group(1)
        else:
            assert passes == (
                name in USED_EVENTS or name in {"FullyBooted", "Shutdown", "OriginateResponse"}
            ), name
    assert seen_varsets > 0
    with pytest.raises(ValueError):
        event_filters(["Hangup|.*"], [])


# -------------------------------------------------------------- over sockets


async def test_login_filters_and_resync_actions_are_sent(
    recordings: Path, protocol_factory: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with AmiTestServer((recordings / "answered.ami").read_bytes()) as server:
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        assert connection.connected
        names = [a["Action"] for a in server.received]
        assert names[0] == "Login"
        login = server.received[0]
        assert login["Username"] == "atiende"
        # Only system events (FullyBooted) until the filters are in.
        assert login["Events"] == "system"
        filters = server.actions("Filter")
        assert filters and all(f["Operation"] == "Add" for f in filters)
        assert names.index("Events") > max(i for i, n in enumerate(names) if n == "Filter")
        assert server.actions("Events")[0]["EventMask"] == "on"
        assert {"CoreShowChannels", "QueueStatus"} <= set(names)
        assert markers(recorder.items)[:3] == ["Connected", "ResyncStarted", "ResyncFinished"]
        # Connected comes before the FullyBooted that followed the login reply.
        assert isinstance(recorder.items[0], Connected)
        first_event = recorder.items[1]
        assert isinstance(first_event, dict) and first_event["Event"] == "FullyBooted"
        await connection.stop()
        assert server.actions("Logoff")
    assert "lab-secret" not in caplog.text


async def test_events_arrive_in_order_with_names_intact(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    path = recordings / "answered.ami"
    expected = capture_events(path)
    # 7-byte writes split every multi-byte character somewhere.
    async with AmiTestServer(path.read_bytes(), chunk_size=7, apply_filters=False) as server:
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        items = await recorder.until(lambda items: len(live_events(items)) >= len(expected))
        got = live_events(items)
        assert [e["Event"] for e in got] == [e["Event"] for e in expected]
        assert [e.get("CallerIDName") for e in got] == [e.get("CallerIDName") for e in expected]
        assert any("Pérez" in e.get("CallerIDName", "") for e in got)
        assert connection.events_received >= len(expected)
        assert connection.malformed == 0
        await connection.stop()


async def test_filters_limit_what_the_server_sends(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    path = recordings / "answered.ami"
    # Besides what the tracker uses, a session always wants these two.
    wanted = (USED_EVENTS | {"OriginateResponse", "Shutdown"}) - {"VarSet"}
    expected = [e for e in capture_events(path) if e["Event"] in wanted]
    async with AmiTestServer(path.read_bytes()) as server:
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        await server.replayed()
        await connection.send(Ping())  # everything replayed before it has been read
        got = [e for e in live_events(recorder.items) if e["Event"] != "FullyBooted"]
        assert [e["Event"] for e in got if e["Event"] != "VarSet"] == [
            e["Event"] for e in expected if e["Event"] != "FullyBooted"
        ]
        assert all(e["Variable"].startswith(READ_VARIABLES) for e in got if e["Event"] == "VarSet")
        await connection.stop()


async def test_resync_after_each_connect(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    actions = (recordings / "status_snapshot.actions.ami").read_bytes()
    channels = actions.count(b"Event: CoreShowChannel\r\n")
    members = actions.count(b"Event: QueueMember\r\n")
    capture = (recordings / "status_snapshot.ami").read_bytes()
    async with AmiTestServer(capture, actions_capture=actions) as server:
        server.drop_after(len(capture) // 2)
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(Disconnected, 1)
        items = await recorder.until(lambda items: isinstance(items[-1], ResyncFinished))
        assert_well_formed(items)
        second = sessions(items)[-1]
        sent = {a["ActionID"] for a in server.actions("CoreShowChannels")[-1:]}
        sent |= {a["ActionID"] for a in server.actions("QueueStatus")[-1:]}
        start = next(n for n, i in enumerate(second) if isinstance(i, ResyncStarted))
        end = next(n for n, i in enumerate(second) if isinstance(i, ResyncFinished))
        window = [i for i in second[start:end] if isinstance(i, dict)]
        listed = [i for i in window if i.get("ActionID") in sent]
        assert sum(i["Event"] == "CoreShowChannel" for i in listed) == channels == 12
        assert sum(i["Event"] == "QueueMember" for i in listed) == members
        # Asterisk forgets a session's filters with the session: sent again.
        assert len(server.actions("Filter")) == 2 * len(connection.filters)
        assert listed[-1]["Event"].endswith("Complete")
        assert connection.reconnects == 1
        await connection.stop()


async def test_drop_mid_capture_resumes_with_markers(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    path = recordings / "answered.ami"
    capture = path.read_bytes()
    cut = capture.index(b"Event: QueueCallerJoin") + 20  # inside that message
    expected = [e for e in capture_events(path) if e["Event"] != "QueueCallerJoin"]
    async with AmiTestServer(capture, apply_filters=False) as server:
        server.drop_after(cut)
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until(lambda items: len(live_events(items)) >= len(expected) + 1)
        items = recorder.items
        # FullyBooted comes again on the new session; the cut message never arrives.
        got = [e for e in live_events(items) if e["Event"] != "FullyBooted"]
        assert [e["Event"] for e in got] == [
            e["Event"] for e in expected if e["Event"] != "FullyBooted"
        ]
        assert_well_formed(items)
        assert markers(items).count("Disconnected") == 1
        assert markers(items)[-3:] == ["Connected", "ResyncStarted", "ResyncFinished"]
        gone = next(n for n, i in enumerate(items) if isinstance(i, Disconnected))
        before = [e["Event"] for e in live_events(items[:gone]) if e["Event"] != "FullyBooted"]
        after = [e["Event"] for e in live_events(items[gone:]) if e["Event"] != "FullyBooted"]
        joined = [e["Event"] for e in capture_events(path)].index("QueueCallerJoin")
        assert before == [e["Event"] for e in capture_events(path)[1:joined]]
        assert after and after[0] == capture_events(path)[joined + 1]["Event"]
        await connection.stop()


async def test_events_missed_during_the_outage_are_not_replayed(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    path = recordings / "answered.ami"
    capture = path.read_bytes()
    cut = capture.index(b"Event: QueueCallerJoin")
    lost_until = capture.index(b"Event: AgentConnect")
    events = capture_events(path)
    join = [e["Event"] for e in events].index("QueueCallerJoin")
    connect_at = [e["Event"] for e in events].index("AgentConnect")
    expected = events[:join] + events[connect_at:]
    async with AmiTestServer(capture, apply_filters=False) as server:
        server.drop_after(cut, lose_bytes=lost_until - cut)
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until(lambda items: len(live_events(items)) >= len(expected) + 1)
        got = [e["Event"] for e in live_events(recorder.items) if e["Event"] != "FullyBooted"]
        assert got == [e["Event"] for e in expected if e["Event"] != "FullyBooted"]
        await connection.stop()


async def test_ping_timeout_closes_the_half_open_session_and_reconnects(
    protocol_factory: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with AmiTestServer() as server:
        server.stop_answering_pings()
        connection = connect(server, protocol_factory, ping_interval=0.05, ping_timeout=0.05)
        await connection.start()
        recorder = Recorder(connection)
        items = await recorder.until_count(Disconnected, 1)
        gone = next(i for i in items if isinstance(i, Disconnected))
        assert gone.reason == "ping timeout"
        server.answer_pings()
        await recorder.until_count(ResyncFinished, 2)
        assert server.connections >= 2
        assert server.actions("Ping")
        assert "did not answer a Ping" in caplog.text
        await connection.stop()


async def test_bad_credentials_retry_with_growing_backoff_then_reset(
    protocol_factory: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.005)

    async with AmiTestServer(secret="other-secret") as server:
        connection = connect(
            server,
            protocol_factory,
            secret="wrong-secret",
            reconnect_min=0.1,
            reconnect_max=1.6,
            sleep=sleep,
            jitter=lambda: 0.0,
        )
        await connection.start()
        recorder = Recorder(connection)
        async with asyncio.timeout(GUARD):
            while len(delays) < 6:
                await asyncio.sleep(0.01)
        refused = len(delays)
        # Doubling ceilings 0.1, 0.2, 0.4, 0.8, 1.6, 1.6; no jitter: the lower half.
        assert delays[:6] == pytest.approx([0.1, 0.1, 0.2, 0.4, 0.8, 0.8])
        assert not recorder.items  # never connected: no markers at all
        assert not connection.connected
        assert "AMI login to lab refused: Authentication failed" in caplog.text
        assert connection.last_error == "login refused: Authentication failed"
        server.secret = "wrong-secret"
        await recorder.until_count(ResyncFinished, 1)
        server.disconnect()
        await recorder.until_count(ResyncFinished, 2)
        assert delays[refused:][-1] == pytest.approx(0.1)  # reset after a good session
        await connection.stop()
    assert "wrong-secret" not in caplog.text


async def test_backpressure_pauses_reading_and_loses_nothing(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    path = recordings / "sip_mixed.ami"
    expected = capture_events(path)
    async with AmiTestServer(path.read_bytes(), apply_filters=False) as server:
        connection = connect(server, protocol_factory, queue_size=16, ping_interval=0.05)
        await connection.start()
        async with asyncio.timeout(GUARD):
            while not connection.reading_paused:
                await asyncio.sleep(0.005)
        depth_while_paused = connection.queue_depth
        recorder = Recorder(connection, delay_every=200)
        items = await recorder.until(lambda items: len(live_events(items)) >= len(expected))
        assert [e["Event"] for e in live_events(items)] == [e["Event"] for e in expected]
        assert connection.read_pauses > 1
        assert depth_while_paused >= 16
        assert "Disconnected" not in markers(items)  # the paused socket is not a dead one
        await recorder.until(lambda _: not connection.reading_paused)
        assert connection.lag_seconds >= 0.0
        await connection.stop()


async def test_originate_is_never_resent(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        server.swallow("Originate")
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        call = Originate(channel="PJSIP/4001", context="agents", exten="4001")
        pending = asyncio.create_task(connection.send(call))
        await server.wait_for_action("Originate")
        server.disconnect()
        with pytest.raises(ActionOutcomeUnknown) as caught:
            await pending
        assert caught.value.action_id == call.action_id
        await recorder.until_count(ResyncFinished, 2)
        await connection.send(Ping())  # the server answers in order: anything resent is in
        assert len(server.actions("Originate")) == 1
        await connection.stop()


async def test_idempotent_action_is_resent_after_reconnect(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        server.swallow("QueuePause")
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        pause = QueuePause(interface="PJSIP/4001", paused=True, reason="Almuerzo")
        pending = asyncio.create_task(connection.send(pause, reply_timeout=GUARD))
        await server.wait_for_action("QueuePause")
        server.answer("QueuePause")
        server.disconnect()
        reply = await pending
        assert reply["Response"] == "Success"
        resent = server.actions("QueuePause")
        assert len(resent) == 2 and resent[1]["ActionID"] == pause.action_id
        await connection.stop()


async def test_send_errors_are_typed(protocol_factory: Callable[[], Any]) -> None:
    async with AmiTestServer() as server:
        connection = connect(server, protocol_factory)
        with pytest.raises(AmiNotConnected):
            await connection.send(Ping())
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        server.fail("QueuePause", "Interface not found")
        with pytest.raises(AmiActionFailed) as failed:
            await connection.send(QueuePause(interface="PJSIP/4009", paused=True))
        assert failed.value.message == "Interface not found"
        server.swallow("QueueSummary")
        with pytest.raises(AmiTimeout):
            await connection.send(QueueSummary(), reply_timeout=0.1)
        assert connection.connected  # an unanswered action is not a dead session
        await connection.stop()


async def test_refused_filter_runs_unfiltered(
    recordings: Path, protocol_factory: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = recordings / "answered.ami"
    async with AmiTestServer(path.read_bytes()) as server:
        server.fail("Filter", "Permission denied")
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        expected = capture_events(path)
        await recorder.until(lambda items: len(live_events(items)) >= len(expected))
        assert "running unfiltered" in caplog.text
        assert len(server.actions("Filter")) == 1  # no use trying the others
        assert "Disconnected" not in markers(recorder.items)
        await connection.stop()


async def test_failed_resync_ends_the_session_with_a_marker(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        server.fail("QueueStatus", "Permission denied")
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        items = await recorder.until_count(Disconnected, 2)
        assert markers(items)[:6] == ["Connected", "ResyncStarted", "Disconnected"] * 2
        assert_well_formed(items)
        gone = next(i for i in items if isinstance(i, Disconnected))
        assert "resync failed" in gone.reason
        server.answer("QueueStatus")
        await recorder.until_count(ResyncFinished, 1)
        await connection.stop()


async def test_malformed_bytes_do_not_kill_the_session(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        server.inject(b"this is not a header\r\nnor: \xff\xfe\x00 this\r\n\r\n")
        server.inject(b"Event: Hangup\r\nChannel: PJSIP/4001-00000001\r\nCause: 16\r\n\r\n")
        items = await recorder.until(
            lambda items: any(isinstance(i, dict) and i.get("Event") == "Hangup" for i in items)
        )
        assert (await connection.send(Ping()))["Ping"] == "Pong"
        assert connection.malformed >= 1
        assert "Disconnected" not in markers(items)
        await connection.stop()


async def test_asterisk_restart_gives_a_fresh_fully_booted(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    async with AmiTestServer((recordings / "ivr_hangup.ami").read_bytes()) as server:
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        server.simulate_restart()
        items = await recorder.until_count(ResyncFinished, 2)
        names = [i["Event"] if isinstance(i, dict) else type(i).__name__ for i in items]
        shutdown = names.index("Shutdown")
        assert names.index("Disconnected", shutdown) < names.index("Connected", shutdown)
        booted = [
            i for i in items[shutdown:] if isinstance(i, dict) and i["Event"] == "FullyBooted"
        ]
        assert booted and booted[0]["Uptime"] == "0"
        await connection.stop()


async def test_stop_ends_the_stream_with_a_disconnected_marker(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        connection = connect(server, protocol_factory, clock=lambda: 1_795_342_622.5)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        await connection.stop()
        async with asyncio.timeout(GUARD):
            await recorder.task  # the stream ends
        # Markers are stamped with the clock the connection was given.
        assert {i.at for i in recorder.items if not isinstance(i, dict)} == {1_795_342_622.5}
        assert connection.last_error is None or connection.last_error == "stopped"
        last = recorder.items[-1]
        assert isinstance(last, Disconnected) and last.reason == "stopped"
        assert isinstance(recorder.items[0], Connected)
        assert not connection.connected


async def test_unanswered_resync_ends_the_session_and_retries(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        server.swallow("CoreShowChannels")
        connection = connect(server, protocol_factory, resync_timeout=0.1)
        await connection.start()
        recorder = Recorder(connection)
        items = await recorder.until_count(Disconnected, 2)
        assert_well_formed(items)
        gone = [i for i in items if isinstance(i, Disconnected)]
        assert all("CoreShowChannels not answered in time" in g.reason for g in gone)
        assert "ResyncFinished" not in markers(items)
        await connection.stop()


async def test_refused_connections_are_retried_with_backoff(
    protocol_factory: Callable[[], Any],
) -> None:
    async with AmiTestServer() as server:
        port = server.port
    # The server is gone: nothing listens on that port any more.
    delays: list[float] = []
    retried = asyncio.Event()

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) >= 4:
            retried.set()
        await asyncio.sleep(0.005)

    connection = AmiConnection(
        host="127.0.0.1",
        port=port,
        username="atiende",
        secret="lab-secret",
        system_name="lab",
        reconnect_min=0.1,
        reconnect_max=10.0,
        protocol_factory=protocol_factory,
        sleep=sleep,
        jitter=lambda: 0.5,
    )
    await connection.start()
    async with asyncio.timeout(GUARD):
        await retried.wait()
    await connection.stop()
    assert delays[:4] == sorted(delays[:4]) and delays[3] > delays[0]
    assert connection.last_error is not None
    assert connection.last_error.startswith("connection failed")
    assert connection.queue_depth == 0  # no session, no markers


async def test_a_list_action_returns_its_first_reply_and_streams_its_events(
    recordings: Path, protocol_factory: Callable[[], Any]
) -> None:
    actions = (recordings / "status_snapshot.actions.ami").read_bytes()
    async with AmiTestServer(actions_capture=actions) as server:
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await recorder.until_count(ResyncFinished, 1)
        summary = QueueSummary()
        reply = await connection.send(summary)
        assert reply["EventList"] == "start" and reply["ActionID"] == summary.action_id
        items = await recorder.until(
            lambda items: any(
                isinstance(i, dict) and i.get("Event") == "QueueSummaryComplete" for i in items
            )
        )
        queues = [i["Queue"] for i in items if isinstance(i, dict) and i["Event"] == "QueueSummary"]
        assert queues == ["consultas", "reclamos"]
        await connection.stop()


async def test_resync_waits_for_fully_booted(protocol_factory: Callable[[], Any]) -> None:
    """Asterisk still booting accepts the login: the lists are asked only
    after FullyBooted, on the same session."""
    async with AmiTestServer() as server:
        server.start_booting()
        connection = connect(server, protocol_factory)
        await connection.start()
        recorder = Recorder(connection)
        await server.wait_for_action("Events")
        await asyncio.sleep(0.3)
        assert server.actions("CoreShowChannels") == []
        assert server.actions("QueueStatus") == []
        server.finish_boot()
        items = await recorder.until_count(ResyncFinished, 1)
        assert markers(items) == ["Connected", "ResyncStarted", "ResyncFinished"]
        assert server.connections == 1
        await connection.stop()


async def test_resync_without_fully_booted_goes_on_after_the_boot_timeout(
    protocol_factory: Callable[[], Any],
) -> None:
    """An AMI user without the system class never gets FullyBooted."""
    async with AmiTestServer() as server:
        server.start_booting()
        connection = connect(server, protocol_factory, boot_timeout=0.2)
        await connection.start()
        recorder = Recorder(connection)
        items = await recorder.until_count(ResyncFinished, 1)
        assert markers(items) == ["Connected", "ResyncStarted", "ResyncFinished"]
        await connection.stop()


async def test_queue_status_before_app_queue_is_loaded_is_asked_again(
    protocol_factory: Callable[[], Any],
) -> None:
    """Asterisk's answer while app_queue is not loaded yet: the same session
    asks again with backoff and finishes its resync once it answers; no
    Disconnected, no second login."""
    async with AmiTestServer() as server:
        server.fail(
            "QueueStatus",
            "Invalid/unknown command: QueueStatus. Use Action: ListCommands to show "
            "available commands.",
        )
        connection = connect(server, protocol_factory, resync_timeout=10.0)
        await connection.start()
        recorder = Recorder(connection)
        await server.wait_for_action("QueueStatus", 3)
        assert "ResyncFinished" not in markers(recorder.items)
        server.answer("QueueStatus")
        items = await recorder.until_count(ResyncFinished, 1)
        assert markers(items) == ["Connected", "ResyncStarted", "ResyncFinished"]
        assert server.connections == 1
        assert connection.resync_retries >= 2
        await connection.stop()
