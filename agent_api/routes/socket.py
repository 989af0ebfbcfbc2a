"""The panel's WebSocket: authenticated and Origin-checked before it is accepted."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from agent_api.auth import SESSION_COOKIE, Permission, origin_allowed
from agent_api.deps import principal_from_cookie
from agent_api.services import PanelServices
from agent_api.ws import Subscriber

log = logging.getLogger(__name__)
router = APIRouter(tags=["tiempo real"])

# Policy violation: the handshake is refused (HTTP 403) since nothing was accepted.
REFUSED = 1008


@router.websocket("/ws")
async def panel_socket(websocket: WebSocket) -> None:
    services: PanelServices = websocket.app.state.services
    if not origin_allowed(websocket.headers.get("origin"), services.allowed_origins):
        log.warning("socket refused: origin not allowed")
        await websocket.close(code=REFUSED)
        return
    user = principal_from_cookie(services, websocket.cookies.get(SESSION_COOKIE))
    if user is None or not (user.can(Permission.RECEIVE_POPS) or user.can(Permission.WATCH_POPS)):
        await websocket.close(code=REFUSED)
        return
    await websocket.accept()
    sub = services.hub.subscribe(
        user.user_id, user.session_id, watch_all=user.can(Permission.WATCH_POPS)
    )
    try:
        await websocket.send_json({"type": "hello", "user_id": user.user_id})
        writer = asyncio.create_task(_pump(websocket, sub))
        reader = asyncio.create_task(_drain(websocket))
        _done, pending = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    finally:
        services.hub.unsubscribe(sub)


async def _pump(websocket: WebSocket, sub: Subscriber) -> None:
    while True:
        frame = await sub.queue.get()
        if frame is None:
            await websocket.close(code=sub.close_code)
            return
        await websocket.send_text(frame)


async def _drain(websocket: WebSocket) -> None:
    """The page sends nothing that matters; reading notices the close."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
