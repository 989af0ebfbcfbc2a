"""The panel's WebSocket: authenticated, Origin-checked and counted before it is accepted."""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from agent_api.auth import Permission
from agent_api.services import PanelServices
from agent_api.sockets import REFUSED, TooManySockets, run_pumps, socket_user
from agent_api.ws import Subscriber

log = logging.getLogger(__name__)
router = APIRouter(tags=["tiempo real"])


@router.websocket("/ws")
async def panel_socket(websocket: WebSocket) -> None:
    services: PanelServices = websocket.app.state.services
    user = await socket_user(websocket, services)
    if user is None or not (user.can(Permission.RECEIVE_POPS) or user.can(Permission.WATCH_POPS)):
        await websocket.close(code=REFUSED)
        return
    try:
        with services.sockets.hold(user.user_id, user.session_id):
            await websocket.accept()
            sub = services.hub.subscribe(
                user.user_id, user.session_id, watch_all=user.can(Permission.WATCH_POPS)
            )
            try:
                await websocket.send_json({"type": "hello", "user_id": user.user_id})
                await run_pumps(_pump(websocket, sub), _drain(websocket))
            finally:
                services.hub.unsubscribe(sub)
    except TooManySockets as err:
        log.warning("socket refused: %s", err)
        await websocket.close(code=REFUSED)


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
