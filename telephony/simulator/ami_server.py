"""The simulator's AMI server: Asterisk's Manager interface over TCP.

Per session, like Asterisk 22: the banner, Login (a wrong secret is refused
and the connection closed), FullyBooted for sessions that get system events,
Filter (legacy regex include/exclude filters applied to every event), Events,
Ping, Logoff, and the list actions CoreShowChannels, QueueStatus, QueueSummary
and Status answered from `AsteriskState` (telephony.ami.asterisk_side), which is fed
every event the simulator emits, so a bridge's resync sees the live calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telephony.ami.asterisk_side import BANNER, LIST_ACTIONS, AsteriskState, parse_message
from telephony.ami.stream import Headers

_END = b"\r\n\r\n"
# An action the PBX itself carries out: (Success or Error, Message).
ActionHandler = Callable[[Headers], tuple[str, str]]
_CALL_CLASSES = frozenset({"on", "all", "yes", "true", "call", "agent", "dialplan"})


def _reply(action_id: str | None, *lines: str) -> bytes:
    head = [lines[0]]
    if action_id is not None:
        head.append(f"ActionID: {action_id}")
    return ("\r\n".join([*head, *lines[1:]]) + "\r\n\r\n").encode("utf-8")


@dataclass
class AmiSession:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    events_on: bool = False
    system_events: bool = False
    filters: list[re.Pattern[str]] = field(default_factory=list)
    excludes: list[re.Pattern[str]] = field(default_factory=list)

    def passes(self, text: str) -> bool:
        if self.filters and not any(f.search(text) for f in self.filters):
            return False
        return not any(f.search(text) for f in self.excludes)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)


class AmiServer:
    """Serves AMI sessions; `publish` sends events to every subscribed session."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "atiende",
        secret: str = "atiende",
        state: AsteriskState | None = None,
        handlers: dict[str, ActionHandler] | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.username = username
        self.secret = secret
        self.state = state or AsteriskState()
        # By lower-case action name; any other action gets a plain Success.
        self.handlers = dict(handlers or {})
        self.sessions: list[AmiSession] = []
        self.received: list[Headers] = []
        # (action, simulated time, items) of every list answered: what a
        # resyncing client was told, for tests.
        self.lists_answered: list[tuple[str, float, list[list[str]]]] = []
        self._server: asyncio.Server | None = None
        self._started = time.monotonic()
        # Set once a session gets call events (a bridge that finished subscribing).
        self.subscribed = asyncio.Event()

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self._port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def publish(self, raw: bytes, headers: Headers) -> None:
        """One event: into the state, then to every session whose filters pass it."""
        self.state.apply(headers)
        text = raw.decode("utf-8").removesuffix("\r\n\r\n")
        for session in self.sessions:
            if session.logged_in and session.events_on and session.passes(text):
                session.send(raw)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(writer)
        self.sessions.append(session)
        writer.write(BANNER)
        buffer = b""
        try:
            while not writer.is_closing():
                data = await reader.read(65536)
                if not data:
                    break
                buffer += data
                *complete, buffer = buffer.split(_END)
                for raw in complete:
                    if raw.strip():
                        self._on_action(session, parse_message(raw))
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.sessions.remove(session)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _on_action(self, session: AmiSession, action: Headers) -> None:
        self.received.append(action)
        name = action.get("Action", "")
        key = name.lower()
        action_id = action.get("ActionID")
        if key == "login":
            if action.get("Username") != self.username or action.get("Secret") != self.secret:
                session.send(_reply(action_id, "Response: Error", "Message: Authentication failed"))
                session.writer.close()
                return
            session.logged_in = True
            self._set_mask(session, action.get("Events", "on"))
            if session.events_on:
                self.subscribed.set()
            session.send(_reply(action_id, "Response: Success", "Message: Authentication accepted"))
            if session.system_events:
                uptime = int(time.monotonic() - self._started)
                booted = (
                    "Event: FullyBooted\r\nPrivilege: system,all\r\n"
                    f"Uptime: {uptime}\r\nLastReload: {uptime}\r\nStatus: Fully Booted\r\n\r\n"
                )
                session.send(booted.encode())
            return
        if not session.logged_in:
            session.send(_reply(action_id, "Response: Error", "Message: Permission denied"))
            return
        if key == "ping":
            session.send(
                _reply(
                    action_id, "Response: Success", "Ping: Pong", f"Timestamp: {time.time():.6f}"
                )
            )
        elif key == "filter":
            expression = action.get("Filter", "")
            if expression:
                # POSIX regexec without REG_NEWLINE, as Asterisk runs them.
                pattern = re.compile(expression.removeprefix("!"), re.DOTALL)
                target = session.excludes if expression.startswith("!") else session.filters
                target.append(pattern)
            session.send(_reply(action_id, "Response: Success", "Message: Success"))
        elif key == "events":
            self._set_mask(session, action.get("EventMask", "off"))
            if session.events_on:
                self.subscribed.set()
            state = "On" if session.events_on else "Off"
            session.send(_reply(action_id, "Response: Success", f"Events: {state}"))
        elif key == "logoff":
            session.send(
                _reply(action_id, "Response: Goodbye", "Message: Thanks for all the fish.")
            )
            session.writer.close()
        elif name in LIST_ACTIONS:
            self._answer_list(session, name, action_id)
        elif key in self.handlers:
            response, message = self.handlers[key](action)
            session.send(_reply(action_id, f"Response: {response}", f"Message: {message}"))
        else:
            session.send(_reply(action_id, "Response: Success", f"Message: {name} done"))

    @staticmethod
    def _set_mask(session: AmiSession, mask: str) -> None:
        classes = set(mask.lower().replace(" ", "").split(","))
        session.events_on = bool(_CALL_CLASSES & classes)
        session.system_events = bool({"on", "all", "yes", "true", "system"} & classes)

    def _answer_list(self, session: AmiSession, name: str, action_id: str | None) -> None:
        items = self.state.list_items(name)
        self.lists_answered.append((name, self.state.now, items))
        what = {"CoreShowChannels": "Channels", "QueueStatus": "Queue status"}.get(name, name)
        parts = [
            _reply(
                action_id, "Response: Success", "EventList: start", f"Message: {what} will follow"
            )
        ]
        parts.extend(
            _reply(None, lines[0], f"ActionID: {action_id}", *lines[1:]) for lines in items
        )
        parts.append(
            _reply(
                None,
                f"Event: {name}Complete",
                f"ActionID: {action_id}",
                "EventList: Complete",
                f"ListItems: {len(items)}",
            )
        )
        session.send(b"".join(parts))
