"""One FastAGI session over a stream: write a command, read its reply (I/O adapter)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from ivr.agi import AgiCommand, AgiEnvironment, AgiReply, ReplyAssembler, decode_line
from ivr.exceptions import AgiHangup, AgiProtocolError, AgiTimeout


@dataclass
class CommandLatency:
    """The server's own time per command: from a reply received to the next command written.

    Kept in memory for the benchmark and diagnostics; bounded so a long-running
    server does not grow it without end.
    """

    max_samples: int = 2_000_000
    samples: list[float] = field(default_factory=list)

    def record(self, seconds: float) -> None:
        if len(self.samples) < self.max_samples:
            self.samples.append(seconds)

    def percentile(self, p: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[index]

    def reset(self) -> None:
        self.samples.clear()


class AgiSession:
    """Commands and replies of one call. Not shared between tasks.

    The reply timeout is one timer per session, not one per command: each
    command only moves the session's deadline, and the timer, when it fires
    before the deadline, re-arms itself (at most one reply_timeout ahead).
    With a 60 s timeout and replies within a second it almost never fires,
    where `asyncio.timeout` per command pushed and cancelled a timer on the
    loop's heap every time (about 10 % of the server's CPU in a cProfile of
    bench.agi_latency).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: AgiEnvironment,
        *,
        reply_timeout: float,
        latency: CommandLatency | None = None,
    ) -> None:
        self.env = env
        self.hung_up = False
        self.commands_sent = 0
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._reply_timeout = reply_timeout
        self._latency = latency
        self._reply_at: float | None = None
        self._loop = asyncio.get_running_loop()
        # Loop time by which the awaited reply must have come; 0.0 while none is awaited.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: asyncio.Task[object] | None = None
        self._timed_out = False

    async def send(self, command: AgiCommand, extra_timeout: float = 0.0) -> AgiReply:
        """Send `command` and return its final reply.

        Raises AgiHangup when the channel is gone (511, socket closed),
        AgiTimeout when Asterisk stays silent, AgiProtocolError on non-AGI text.
        A reply preceded by a HANGUP line is returned (it is a real reply) and
        marks the session hung up, so the caller stops after it.
        """
        if self.hung_up:
            raise AgiHangup("the channel already hung up")
        data = command.encode()
        self._transport.write(data)
        if self._latency is not None and self._reply_at is not None:
            self._latency.record(time.perf_counter() - self._reply_at)
        self.commands_sent += 1
        task = asyncio.current_task()
        assert task is not None, "AgiSession.send runs in a task"
        cancelling = task.cancelling()
        self._waiting = task
        now = self._loop.time()
        self._deadline = now + self._reply_timeout + extra_timeout
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._reply_timeout, self._check_deadline)
        try:
            # drain() only waits while the transport holds unsent bytes; a
            # command fits the socket buffer, so this is nearly always skipped.
            if self._transport.get_write_buffer_size():
                await self._writer.drain()
            reply = await self._read_reply()
        except asyncio.CancelledError:
            # Our own cancellation (the deadline passed) becomes AgiTimeout;
            # anyone else's (server.stop) goes on as a cancellation.
            if self._timed_out and task.uncancel() <= cancelling:
                self._timed_out = False
                raise AgiTimeout(f"no reply to {command.line.split(' ', 2)[:2]}") from None
            raise
        except ConnectionError as err:
            self.hung_up = True
            raise AgiHangup("connection lost") from err
        finally:
            self._deadline = 0.0
            self._waiting = None
        self._reply_at = time.perf_counter()
        if reply.hangup_notified:
            self.hung_up = True
        if reply.code == 511:
            self.hung_up = True
            raise AgiHangup(reply.text)
        return reply

    def _check_deadline(self) -> None:
        # The timer never fires later than any deadline: it is armed at most
        # one reply_timeout ahead, and a command sent later has a deadline at
        # least one reply_timeout after it was sent.
        self._timer = None
        if not self._deadline or self._waiting is None:
            return  # no reply awaited: the next send arms the timer again
        now = self._loop.time()
        if now < self._deadline:
            fire_at = min(self._deadline, now + self._reply_timeout)
            self._timer = self._loop.call_at(fire_at, self._check_deadline)
            return
        self._timed_out = True
        self._waiting.cancel()

    def end(self) -> None:
        """The session is over: drop its timer (which holds the session)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = 0.0

    async def _read_reply(self) -> AgiReply:
        assembler = ReplyAssembler()
        while True:
            try:
                raw = await self._reader.readline()
            except ValueError as err:  # a line over the stream limit
                raise AgiProtocolError("reply line too long") from err
            if not raw or not raw.endswith(b"\n"):
                self.hung_up = True
                raise AgiHangup("Asterisk closed the connection")
            reply = assembler.feed(decode_line(raw))
            if reply is not None:
                return reply

    async def close(self) -> None:
        self.end()
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
