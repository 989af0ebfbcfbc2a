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
    """Commands and replies of one call. Not shared between tasks."""

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
        self._reply_timeout = reply_timeout
        self._latency = latency
        self._reply_at: float | None = None

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
        self._writer.write(data)
        if self._latency is not None and self._reply_at is not None:
            self._latency.record(time.perf_counter() - self._reply_at)
        self.commands_sent += 1
        try:
            async with asyncio.timeout(self._reply_timeout + extra_timeout):
                await self._writer.drain()
                reply = await self._read_reply()
        except TimeoutError as err:
            raise AgiTimeout(f"no reply to {command.line.split(' ', 2)[:2]}") from err
        except ConnectionError as err:
            self.hung_up = True
            raise AgiHangup("connection lost") from err
        self._reply_at = time.perf_counter()
        if reply.hangup_notified:
            self.hung_up = True
        if reply.code == 511:
            self.hung_up = True
            raise AgiHangup(reply.text)
        return reply

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
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
