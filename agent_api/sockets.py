"""What every WebSocket of the panel shares: the handshake, a quota, the pumps.

The handshake reads the session's user from the store, so it runs in the
thread pool (the loop is the AMI bridge's and the IVR's too). A user's
sockets are capped per session and per user: a page opens one or two, a
script opening a thousand is refused at the handshake (HTTP 403). A socket
runs two tasks, one sending and one noticing the close; when one ends the
other is cancelled and both are awaited, so a dropped or vanished client
never leaves a "Task exception was never retrieved" behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool

from agent_api.auth import SESSION_COOKIE, Principal, origin_allowed
from agent_api.deps import principal_from_cookie
from agent_api.quota import SocketQuota, TooManySockets
from agent_api.services import PanelServices

__all__ = ["REFUSED", "SocketQuota", "TooManySockets", "run_pumps", "socket_user"]

log = logging.getLogger(__name__)

# Policy violation: the handshake is refused (HTTP 403) since nothing was accepted.
REFUSED = 1008


async def socket_user(websocket: WebSocket, services: PanelServices) -> Principal | None:
    """The handshake's user if its Origin is allowed and its session valid (off the loop)."""
    if not origin_allowed(websocket.headers.get("origin"), services.allowed_origins):
        log.warning("socket refused: origin not allowed")
        return None
    return await run_in_threadpool(
        principal_from_cookie, services, websocket.cookies.get(SESSION_COOKIE)
    )


async def run_pumps(*work: Coroutine[Any, Any, None]) -> None:
    """Run the socket's tasks until the first ends, then cancel the rest.

    Every task's outcome is retrieved by a done callback, also when this
    coroutine is itself cancelled (server shutdown): a client that vanished
    mid-send is an ordinary end of a socket, logged at debug level.
    """
    tasks = [asyncio.create_task(w) for w in work]
    for task in tasks:
        task.add_done_callback(_retrieve)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    await asyncio.wait(tasks)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.debug("socket ended: %r", error)
