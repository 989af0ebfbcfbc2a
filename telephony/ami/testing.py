"""A small AMI server for tests: it replays real Asterisk captures to a client.

Shipped beside the AMI boundary (like httpx ships its mock transport) so every
test of the bridge talks to a real socket that speaks AMI the way Asterisk 22
did in the recordings, with failures injected on demand:

    async with AmiTestServer(capture=(recordings / "answered.ami").read_bytes()) as server:
        connection = AmiConnection(host="127.0.0.1", port=server.port, ...)

What it does, per connection:

- sends the banner, answers Login (wrong secret: `Authentication failed` and
  close), then FullyBooted (the capture's own on the first connection, a fresh
  one with a larger Uptime on later ones, `Uptime: 0` after a restart);
- once call events are on (Login `Events: on`, or an `Events` action), replays the
  capture's events from where the previous connection stopped, through the
  session's Filter regexes like Asterisk does, in chunks of `chunk_size`
  bytes that freely split messages and UTF-8 characters;
- answers Ping, Filter, Events, Logoff and the list actions CoreShowChannels,
  QueueStatus, QueueSummary and Status with the client's ActionID: from
  `actions_capture` (the shape of status_snapshot.actions.ami) when given,
  otherwise from `AsteriskState`, the channels, waiting callers and queue
  members that the capture replayed so far (missed bytes included) left
  behind, like a live Asterisk; any other action gets a plain Success;
- never writes a reply in the middle of a replayed message.

The capture's first message (the Login response of the recording session) and
any other top-level Response are skipped: they answered the recorder's actions.
What the client sends is split, and lists are answered, by
telephony.ami.asterisk_side, which the PBX simulator shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

from telephony.ami.asterisk_side import (
    BANNER,
    LIST_ACTIONS,
    MESSAGE_END,
    AsteriskState,
    list_replies,
    parse_message,
    replays_to_lists,
    reply,
    split_messages,
    with_action_id,
)
from telephony.ami.stream import Headers


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    events_on: bool = False
    filters: list[re.Pattern[str]] = field(default_factory=list)
    excludes: list[re.Pattern[str]] = field(default_factory=list)
    replies: deque[bytes] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def passes(self, raw: bytes) -> bool:
        """Asterisk's legacy filter rules: with include filters an event must
        match one of them; it must match no exclude filter."""
        text = raw.decode("utf-8", "replace").removesuffix("\r\n\r\n")
        if self.filters and not any(f.search(text) for f in self.filters):
            return False
        return not any(f.search(text) for f in self.excludes)

    def queue(self, data: bytes) -> None:
        self.replies.append(data)
        self.wake.set()


class AmiTestServer:
    """One capture, replayed once across however many connections the client
    makes (each resumes where the previous one stopped).

    `apply_filters` runs the session's Filter actions over the replay with
    Python's `re` (DOTALL, no MULTILINE: the POSIX regexec semantics Asterisk
    uses for these simple patterns). Failure injection: `drop_after`,
    `stop_answering_pings`, `swallow`, `fail`, `simulate_restart`, `inject`,
    `disconnect`; inspection: `received`, `actions()`, `wait_for_action()`,
    `replayed()`, `connections`, `state`.
    """

    def __init__(
        self,
        capture: bytes = b"",
        *,
        actions_capture: bytes | None = None,
        username: str = "atiende",
        secret: str = "lab-secret",
        chunk_size: int = 4096,
        pace: float = 0.0,
        apply_filters: bool = True,
    ) -> None:
        self.username = username
        self.secret = secret
        self.chunk_size = chunk_size
        self.pace = pace
        self.apply_filters = apply_filters
        self.received: list[Headers] = []
        self.connections = 0
        self._lists = list_replies(actions_capture) if actions_capture else {}
        self._capture_size = len(capture)
        self._messages = [
            (offset, raw)
            for offset, raw in split_messages(capture)
            if not raw.startswith(b"Response:")
        ]
        self._booted: bytes | None = None
        self._booted_sent = False
        if self._messages and self._messages[0][1].startswith(b"Event: FullyBooted\r\n"):
            self._booted = self._messages.pop(0)[1]
        self._parsed = [parse_message(raw) for _, raw in self._messages]
        self._next = 0  # index in _messages of the next message to replay
        self.state = AsteriskState()
        self._drop_at: int | None = None
        self._lose = 0
        self._swallowed: set[str] = set()
        self._failures: dict[str, str] = {}
        self._restarted = False
        # Booting: logins are accepted, FullyBooted waits for finish_boot().
        self._booting = False
        self._boot_waiting: list[_Session] = []
        self._started_at = time.monotonic()
        self._replayed = asyncio.Event()
        self._action_seen = asyncio.Condition()
        self._session: _Session | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        if not self._messages:
            self._replayed.set()

    # ------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> AmiTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.disconnect()
        if self._tasks:
            # Closed sessions end their write loops; cancel only what hangs.
            _, hanging = await asyncio.wait(self._tasks, timeout=1.0)
            for task in hanging:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    # ----------------------------------------------------- failure injection

    def drop_after(self, n_bytes: int, *, lose_bytes: int = 0) -> None:
        """Close the connection once the capture has been replayed up to byte
        `n_bytes` of the capture file (possibly in the middle of a message).
        The next connection resumes at the first message that starts at or
        after `n_bytes + lose_bytes`: the events in between are what a live
        Asterisk sent while the bridge was away."""
        self._drop_at = n_bytes
        self._lose = lose_bytes

    def stop_answering_pings(self) -> None:
        """Half-open connection: actions are read, pings never answered."""
        self.swallow("Ping")

    def answer_pings(self) -> None:
        self.answer("Ping")

    def answer(self, action: str) -> None:
        """Undo `swallow` and `fail`: answer `action` normally again."""
        self._swallowed.discard(action.lower())
        self._failures.pop(action.lower(), None)

    def swallow(self, action: str) -> None:
        """Read `action` but never answer it."""
        self._swallowed.add(action.lower())

    def fail(self, action: str, message: str) -> None:
        """Answer `action` with `Response: Error` and `message`."""
        self._failures[action.lower()] = message

    def start_booting(self) -> None:
        """Asterisk is loading its modules: manager takes logins but sends
        FullyBooted only when `finish_boot` is called (combine with `fail` of
        QueueStatus, "Invalid/unknown command", for app_queue not loaded yet)."""
        self._booting = True

    def finish_boot(self) -> None:
        self._booting = False
        waiting, self._boot_waiting = self._boot_waiting, []
        for session in waiting:
            if not session.closed:
                session.queue(self._fully_booted())
                session.wake.set()

    def simulate_restart(self) -> None:
        """Asterisk restarts: Shutdown event, connection closed, and the next
        session's FullyBooted says `Uptime: 0`."""
        self._restarted = True
        # A restart ends every call; queue members come back from config.
        self.state.channels.clear()
        self.state.waiting.clear()
        session = self._session
        if session is not None:
            session.queue(
                b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n"
                b"Restart: True\r\n\r\n"
            )
            session.wake.set()
        self.disconnect(after_replies=True)

    def inject(self, raw: bytes) -> None:
        """Write raw bytes to the current session, between two messages."""
        if self._session is not None:
            self._session.queue(raw)

    def disconnect(self, *, after_replies: bool = False) -> None:
        """Close the current connection (without losing capture bytes)."""
        session = self._session
        if session is None:
            return
        if after_replies:
            session.closed = True
            session.wake.set()
        else:
            self._close_session(session)

    # ------------------------------------------------------------- inspection

    @property
    def position(self) -> int:
        """Byte offset in the capture of the next message to replay (its
        length once everything was replayed)."""
        if self._next < len(self._messages):
            return self._messages[self._next][0]
        return self._capture_size

    def actions(self, name: str) -> list[Headers]:
        return [a for a in self.received if a.get("Action", "").lower() == name.lower()]

    async def replayed(self) -> None:
        """Wait until every byte of the capture has been written."""
        await self._replayed.wait()

    async def wait_for_action(self, name: str, count: int = 1) -> None:
        async with self._action_seen:
            await self._action_seen.wait_for(lambda: len(self.actions(name)) >= count)

    # ------------------------------------------------------------- internals

    def _close_session(self, session: _Session) -> None:
        session.closed = True
        session.wake.set()
        if not session.writer.is_closing():
            session.writer.close()
        if self._session is session:
            self._session = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._session is not None:
            self._close_session(self._session)
        session = _Session(writer)
        self._session = session
        write_task = asyncio.create_task(self._write_loop(session))
        self._tasks.add(write_task)
        write_task.add_done_callback(self._tasks.discard)
        writer.write(BANNER)
        buffer = b""
        try:
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    break
                buffer += data
                *complete, buffer = buffer.split(MESSAGE_END)
                for raw in complete:
                    if raw.strip():
                        await self._on_action(session, parse_message(raw))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            # Let the writer flush what is queued (a login refusal, Goodbye).
            session.closed = True
            session.wake.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(write_task), 1.0)
            self._close_session(session)

    async def _on_action(self, session: _Session, action: Headers) -> None:
        self.received.append(action)
        async with self._action_seen:
            self._action_seen.notify_all()
        name = action.get("Action", "")
        key = name.lower()
        action_id = action.get("ActionID")
        if key in self._swallowed:
            return
        if key == "login":
            self._on_login(session, action)
            return
        if not session.logged_in:
            session.queue(reply(action_id, "Response: Error", "Message: Permission denied"))
            return
        if key in self._failures:
            session.queue(reply(action_id, "Response: Error", f"Message: {self._failures[key]}"))
            return
        if key == "ping":
            stamp = f"Timestamp: {time.time():.6f}"
            session.queue(reply(action_id, "Response: Success", "Ping: Pong", stamp))
        elif key == "filter":
            self._add_filter(session, action.get("Filter", ""))
            session.queue(reply(action_id, "Response: Success", "Message: Success"))
        elif key == "events":
            session.events_on = replays_to_lists(action.get("EventMask", "off"))
            state = "On" if session.events_on else "Off"
            session.queue(reply(action_id, "Response: Success", f"Events: {state}"))
        elif key == "logoff":
            session.queue(
                reply(action_id, "Response: Goodbye", "Message: Thanks for all the fish.")
            )
            session.closed = True
        elif key in {a.lower() for a in LIST_ACTIONS}:
            self._answer_list(session, name, action_id)
        elif key == "originate":
            session.queue(
                reply(action_id, "Response: Success", "Message: Originate successfully queued")
            )
        else:
            session.queue(reply(action_id, "Response: Success", f"Message: {name} done"))
        session.wake.set()

    def _on_login(self, session: _Session, action: Headers) -> None:
        action_id = action.get("ActionID")
        if action.get("Username") != self.username or action.get("Secret") != self.secret:
            session.queue(reply(action_id, "Response: Error", "Message: Authentication failed"))
            session.closed = True
            return
        session.logged_in = True
        mask = action.get("Events", "on")
        session.events_on = replays_to_lists(mask)
        session.queue(reply(action_id, "Response: Success", "Message: Authentication accepted"))
        # Asterisk sends FullyBooted only to sessions that get system events.
        if session.events_on or "system" in mask.lower().split(","):
            if self._booting:
                self._boot_waiting.append(session)
            else:
                session.queue(self._fully_booted())

    def _fully_booted(self) -> bytes:
        if not self._booted_sent and self._booted is not None and not self._restarted:
            self._booted_sent = True
            return self._booted
        self._booted_sent = True
        uptime = 0 if self._restarted else int(time.monotonic() - self._started_at) + 1
        self._restarted = False
        return (
            "Event: FullyBooted\r\nPrivilege: system,all\r\n"
            f"Uptime: {uptime}\r\nLastReload: {uptime}\r\nStatus: Fully Booted\r\n\r\n"
        ).encode()

    def _add_filter(self, session: _Session, expression: str) -> None:
        if not self.apply_filters or not expression:
            return
        exclude = expression.startswith("!")
        # POSIX regexec without REG_NEWLINE: '.' matches newlines, '^' only
        # the start of the event text.
        pattern = re.compile(expression.removeprefix("!"), re.DOTALL)
        (session.excludes if exclude else session.filters).append(pattern)

    def _answer_list(self, session: _Session, name: str, action_id: str | None) -> None:
        captured = self._lists.get(name)
        if captured is not None:
            for raw in captured:
                session.queue(with_action_id(raw, action_id or ""))
            return
        # No capture of this list: answer from what the replay made happen.
        items = self.state.list_items(name)
        what = {"CoreShowChannels": "Channels", "QueueStatus": "Queue status"}.get(name, name)
        session.queue(
            reply(
                action_id, "Response: Success", "EventList: start", f"Message: {what} will follow"
            )
        )
        for lines in items:
            session.queue(reply(None, lines[0], f"ActionID: {action_id}", *lines[1:]))
        session.queue(
            reply(
                None,
                f"Event: {name}Complete",
                f"ActionID: {action_id}",
                "EventList: Complete",
                f"ListItems: {len(items)}",
            )
        )

    async def _write_loop(self, session: _Session) -> None:
        pending = b""
        writer = session.writer
        try:
            while True:
                if session.replies:
                    # Pending replay bytes always end on a message boundary.
                    writer.write(pending + b"".join(session.replies))
                    pending = b""
                    session.replies.clear()
                    await writer.drain()
                    continue
                if session.closed:
                    writer.write(pending)
                    await writer.drain()
                    break
                raw = self._next_event(session) if session.events_on else None
                if raw is None:
                    if pending:
                        writer.write(pending)
                        pending = b""
                        await writer.drain()
                    if self._next >= len(self._messages):
                        self._replayed.set()
                    session.wake.clear()
                    await session.wake.wait()
                    continue
                offset, message = raw
                passes = not self.apply_filters or session.passes(message)
                if self._drop_at is not None and offset + len(message) > self._drop_at:
                    if passes:
                        pending += message[: max(0, self._drop_at - offset)]
                    writer.write(pending)
                    await writer.drain()
                    self._skip_to(self._drop_at + self._lose)
                    self._drop_at = None
                    break
                self._advance()
                if not passes:
                    continue
                pending += message
                while len(pending) >= self.chunk_size:
                    writer.write(pending[: self.chunk_size])
                    pending = pending[self.chunk_size :]
                    await writer.drain()
                    await asyncio.sleep(self.pace)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            if self._next >= len(self._messages):
                self._replayed.set()
            self._close_session(session)

    def _next_event(self, session: _Session) -> tuple[int, bytes] | None:
        if session.closed or self._next >= len(self._messages):
            return None
        return self._messages[self._next]

    def _skip_to(self, offset: int) -> None:
        while self._next < len(self._messages) and self._messages[self._next][0] < offset:
            self._advance()

    def _advance(self) -> None:
        """The next capture message happened (sent, filtered out or missed)."""
        self.state.apply(self._parsed[self._next])
        self._next += 1
