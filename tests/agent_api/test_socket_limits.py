"""WebSockets per session and per user are capped; a client that vanishes or
falls behind ends its socket quietly (no "Task exception was never retrieved")."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

import pytest
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from agent_api.routes.figures import wallboard_router
from agent_api.sockets import run_pumps
from crm_bridge.organisms import Role
from dashboards.kiosk import KioskLinks
from dashboards.wallboard import Wallboard
from telephony.domain import AgentState, AgentStateChanged
from tests.agent_api.conftest import ORIGIN, Panel, build_panel, served
from tests.agent_api.test_pop_socket import open_socket, session_cookie
from tests.dashboards.test_wallboard import AGENTS, Clock, busy_metrics

pytestmark = pytest.mark.postgres


async def _try_open(base: str, cookie: str, path: str = "/ws") -> object | None:
    try:
        return await connect(
            f"ws://{base}{path}",
            origin=ORIGIN,
            additional_headers={"Cookie": cookie},  # type: ignore[arg-type]
        )
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return None


async def test_sockets_are_capped_per_session_and_per_user(panel: Panel) -> None:
    quota = panel.app.state.services.sockets
    supervisor = panel.usernames[Role.SUPERVISOR]
    async with served(panel.app) as base:
        first, _ = await session_cookie(base, supervisor)
        # Fifty at once for one session: the check and the count are one step.
        opened = await asyncio.gather(*(_try_open(base, first) for _ in range(50)))
        sockets = [ws for ws in opened if ws is not None]
        assert len(sockets) == quota.per_session
        # The wallboard's socket counts in the same quota.
        assert await _try_open(base, first, "/ws/wallboard") is None
        # More sessions of the same user: up to the per-user cap in all.
        second, _ = await session_cookie(base, supervisor)
        third, _ = await session_cookie(base, supervisor)
        more = [await _try_open(base, c) for c in [second] * 8 + [third] * 8]
        assert sum(ws is not None for ws in more) == quota.per_user - quota.per_session
        sockets += [ws for ws in more if ws is not None]
        assert panel.hub.socket_count == quota.per_user
        # A closed socket gives its place back.
        await sockets.pop().close()  # type: ignore[attr-defined]
        for _ in range(100):
            if panel.hub.socket_count < quota.per_user:
                break
            await asyncio.sleep(0.01)
        again = await _try_open(base, third)
        assert again is not None
        for ws in [*sockets, again]:
            await ws.close()  # type: ignore[attr-defined]


async def test_a_vanished_client_leaves_no_unretrieved_task_exception(
    panel: Panel, caplog: pytest.LogCaptureFixture
) -> None:
    agent = panel.usernames[Role.EJECUTIVO]
    caplog.set_level(logging.ERROR, logger="asyncio")
    async with served(panel.app) as base:
        cookie, _ = await session_cookie(base, agent)
        for _ in range(3):
            ws = await open_socket(base, cookie)
            ws.transport.abort()  # the client is gone without a close frame
            for n in range(300):
                event = AgentStateChanged(
                    at=time.time(),
                    system="pbx",
                    interface=panel.interfaces[agent],
                    member_name="Agente",
                    state=AgentState.PAUSED,
                    reason="x" * 2000 + str(n),
                    queue=None,
                    closed=None,
                )
                panel.hub.publish([event])
                await asyncio.sleep(0)
        for _ in range(200):
            if panel.hub.socket_count == 0:
                break
            await asyncio.sleep(0.01)
        assert panel.hub.socket_count == 0
    gc.collect()
    await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_run_pumps_retrieves_every_outcome(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")

    async def send() -> None:
        raise ConnectionResetError("client gone")

    async def drain() -> None:
        await asyncio.sleep(0)

    for _ in range(20):
        await run_pumps(send(), drain())
    gc.collect()
    await asyncio.sleep(0.05)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_a_kiosk_link_opens_a_bounded_number_of_sockets(panel_db: str) -> None:
    built = build_panel(panel_db)
    try:
        links = KioskLinks(built.engine)
        board = Wallboard(busy_metrics(Clock()), lambda: AGENTS)
        built.app.include_router(wallboard_router(board, links, kiosk_check_seconds=60))
        _link, token = links.create("TV", built.users[built.usernames[Role.SUPERVISOR]])
        quota = built.app.state.services.sockets
        tv = built.client()
        with contextlib.ExitStack() as sockets:
            for _ in range(quota.per_session):
                ws = sockets.enter_context(
                    tv.websocket_connect(f"/ws/kiosco/{token}", headers={"origin": ORIGIN})
                )
                assert ws.receive_json()["type"] == "wallboard"
            with tv.websocket_connect(f"/ws/kiosco/{token}", headers={"origin": ORIGIN}) as extra:
                with pytest.raises(WebSocketDisconnect) as refused:
                    extra.receive_json()
                assert refused.value.code == 1008
    finally:
        built.engine.dispose()
