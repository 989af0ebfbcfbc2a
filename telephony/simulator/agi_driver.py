"""Asterisk's side of one FastAGI session, over a real TCP connection.

Like Asterisk's res_agi: connect to the IVR, send the `agi_*` environment
(one `name: value` line each, then a blank line), then read one command per
line and write its reply; the replies (their text and their timing) come from
the simulator's core through `answer`. The session ends when the IVR closes
the connection, or when it fails to answer in `idle_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

Answer = Callable[[str], Awaitable[list[str]]]


def environment_block(environment: Sequence[tuple[str, str]]) -> bytes:
    return ("".join(f"{name}: {value}\n" for name, value in environment) + "\n").encode("utf-8")


async def run_session(
    host: str,
    port: int,
    environment: Sequence[tuple[str, str]],
    answer: Answer,
    *,
    idle_timeout: float = 30.0,
    connect_timeout: float = 5.0,
    drop_after: int | None = None,
) -> bool:
    """Run one session; False if the IVR could not be reached (AGISTATUS
    FAILURE). `drop_after`: the session dies after that many commands (the
    connection is cut without a reply, as when the network or the IVR's
    process goes away mid-call); res_agi then reads end-of-file and the
    dialplan goes on with AGISTATUS SUCCESS, whatever the IVR had set."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), connect_timeout
        )
    except (OSError, TimeoutError) as err:
        log.warning("FastAGI server %s:%d unreachable: %s", host, port, err)
        return False
    try:
        writer.write(environment_block(environment))
        await writer.drain()
        commands = 0
        while True:
            raw = await asyncio.wait_for(reader.readline(), idle_timeout)
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                continue
            if drop_after is not None and commands >= drop_after:
                break
            commands += 1
            reply = await answer(line)
            writer.write("".join(f"{r}\n" for r in reply).encode("utf-8"))
            await writer.drain()
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return True
