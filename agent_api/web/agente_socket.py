"""/ws/agente: the workspace's socket. The server decides, the page places.

Each frame the pop hub sends this user goes through the pure workspace
(agent_api.workspace.apply); the regions it says changed are rendered here
from the same templates as the page and pushed as one `swap` message:

    {"type": "swap", "regions": {"llamada": "<section id=llamada>…"},
     "add": ["<form id=cierre-…>"], "remove": ["cierre-…"],
     "focus": "cierre-…" | null, "ring": {"title": "…"} | null}

Wrap-up forms are only ever added or removed, never redrawn, so what the
agent typed in one stays there whatever call comes next. A tick every second
lets the workspace warn about controls the PBX has not confirmed.

Panels the page reads by htmx are told to read themselves again with
`{"type": "refresh", "panels": ["devolucion"]}` (no data in it): the
callback offer, when the socket connects (a reconnect may have missed
changes), when the agent's state changes and when the callbacks of one of
their queues change (`callback.changed`, agent_api.callback_push).

Only ejecutivos open it (the role that receives pops); the handshake is
refused (HTTP 403) for anyone else, before accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from agent_api.auth import SESSION_COOKIE, Permission, Principal, origin_allowed
from agent_api.deps import principal_from_cookie
from agent_api.exceptions import AgentApiError
from agent_api.pending_cases import agent_cases, pending_cases_of
from agent_api.routes import calls as call_routes
from agent_api.services import PanelServices
from agent_api.web.agente import (
    acw_now,
    load_pending,
    load_workspace,
    queue_names,
    workspace_context,
)
from agent_api.web.templating import Pages
from agent_api.workspace import Changes, Phase, Region, Workspace, apply
from crm_bridge.organisms import Role

log = logging.getLogger(__name__)
router = APIRouter()

REFUSED = 1008
TICK_SECONDS = 1.0
# The offer depends on the agent's state and on the worklist; the server
# renders it (need to know) when the page asks again.
REFRESH_OFFER: dict[str, Any] = {"type": "refresh", "panels": ["devolucion"]}

_REGION_TEMPLATES = {
    Region.STATUS: "agente/_estado.html",
    Region.CALL: "agente/_llamada.html",
    Region.PERSON: "agente/_persona.html",
    Region.WRAPUP_TABS: "agente/_cierres.html",
    Region.PENDING: "agente/_pendientes.html",
}


class Screen:
    """One socket's workspace and how to draw it."""

    def __init__(
        self, pages: Pages, services: PanelServices, user: Principal, queues: tuple[str, ...]
    ) -> None:
        self.pages = pages
        self.services = services
        self.user = user
        self.queues = queues
        self.ws = Workspace()
        self.topics: list[Any] = []
        self.pending: list[Any] = []
        # The page's first socket after /agente?persona= or ?solicitud=: the
        # person area holds what that link opened (agente.js asks for it).
        self.keep_person = False
        # The app's state (for the pending cases' store).
        self.pages_state: Any = None

    def context(self) -> dict[str, Any]:
        return {
            **workspace_context(
                self.ws,
                services=self.services,
                topics=self.topics,
                queues=self.queues,
                pending=self.pending,
            ),
            "user": self.user,
            "csrf": self.user.csrf_token,
        }

    def render(self, changes: Changes, *, everything: bool = False) -> dict[str, Any] | None:
        regions = set(_REGION_TEMPLATES) if everything else set(changes.regions)
        if everything and self.keep_person and self.ws.current_call is None:
            # The person area stays as the page drew it, with what the link
            # opened. Any other connect (a reconnect after a drop included)
            # redraws it, so no earlier caller is left on screen.
            regions.discard(Region.PERSON)
        added = [w.id for w in self.ws.wrapups] if everything else list(changes.added_wrapups)
        if not (
            regions or added or changes.removed_wrapups or changes.focus_wrapup or changes.ring
        ):
            return None
        context = self.context()
        message: dict[str, Any] = {
            "type": "swap",
            "regions": {
                region.value: self.pages.fragment(_REGION_TEMPLATES[region], context)
                for region in sorted(regions)
            },
            "add": [
                self.pages.fragment("agente/_cierre_form.html", {**context, "form": form})
                for form in (self.ws.wrapup(call_id) for call_id in added)
                if form is not None
            ],
            "remove": ["cierre-" + c.dom_id for c in changes.removed_wrapups],
            "active": None if self.ws.active_wrapup is None else self.ws.active_wrapup.dom_id,
            "focus": None
            if changes.focus_wrapup is None
            else "cierre-" + changes.focus_wrapup.dom_id,
            "ring": None,
        }
        call = self.ws.current_call
        if changes.ring and call is not None and call.phase is Phase.RINGING:
            # No personal data in a desktop notification: the queue only.
            message["ring"] = {"title": f"Llamada entrante · {call.queue or 'cola'}"}
        return message


@router.websocket("/ws/agente")
async def agent_socket(websocket: WebSocket) -> None:
    services: PanelServices = websocket.app.state.services
    if not origin_allowed(websocket.headers.get("origin"), services.allowed_origins):
        await websocket.close(code=REFUSED)
        return
    user = await run_in_threadpool(
        principal_from_cookie, services, websocket.cookies.get(SESSION_COOKIE)
    )
    if user is None or user.role is not Role.EJECUTIVO or not user.can(Permission.RECEIVE_POPS):
        await websocket.close(code=REFUSED)
        return
    await websocket.accept()
    screen = Screen(
        websocket.app.state.pages, services, user, queue_names(websocket.app.state, services)
    )
    screen.pages_state = websocket.app.state
    screen.keep_person = websocket.query_params.get("conservar") == "persona"
    # A (re)connect during the "Cierre" pause redraws its banner from the
    # after-call book: the acw.started frame may have gone to a closed page.
    screen.ws, screen.pending = await run_in_threadpool(
        load_workspace, services, user, acw_now(websocket.app.state, user)
    )
    screen.topics = await run_in_threadpool(services.catalog.topics)
    sub = services.hub.subscribe(user.user_id, user.session_id, watch_all=False)
    try:
        first = screen.render(Changes(), everything=True)
        if first is not None:
            await websocket.send_text(json.dumps(first))
        await websocket.send_text(json.dumps(REFRESH_OFFER))
        reader = asyncio.create_task(_drain(websocket))
        writer = asyncio.create_task(_pump(websocket, sub, screen))
        _done, pending = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    finally:
        services.hub.unsubscribe(sub)


async def _pump(websocket: WebSocket, sub: Any, screen: Screen) -> None:
    while True:
        try:
            text = await asyncio.wait_for(sub.queue.get(), TICK_SECONDS)
        except TimeoutError:
            frame: dict[str, Any] = {"type": "tick", "at": time.time()}
        else:
            if text is None:
                await websocket.close(code=sub.close_code)
                return
            try:
                frame = json.loads(text)
            except ValueError:
                continue
            frame["received_at"] = time.time()
        message = await _step(screen, frame)
        if message is not None:
            await websocket.send_text(json.dumps(message))
        if frame.get("type") == "agent.state":
            await websocket.send_text(json.dumps(REFRESH_OFFER))


async def _step(screen: Screen, frame: dict[str, Any]) -> dict[str, Any] | None:
    if frame.get("type") == "followup.due":
        return await _followups(screen)
    if frame.get("type") == "callback.changed":
        return REFRESH_OFFER
    screen.ws, changes = apply(screen.ws, frame)
    if Region.PENDING in changes.regions:
        screen.pending = await run_in_threadpool(load_pending, screen.services, screen.user)
    if frame.get("type") == "call.answered":
        more = await _full_person(screen, frame)
        if more is not None:
            changes = changes | more
    return screen.render(changes)


async def _followups(screen: Screen) -> dict[str, Any]:
    """A reminder: the worklist redrawn (its "para retomar" notice is a status region)."""
    state = screen.pages_state
    cases = await run_in_threadpool(
        agent_cases, screen.services.audit, pending_cases_of(state), screen.user
    )
    html = screen.pages.fragment(
        "agente/_seguimientos.html", {**screen.context(), "cases": cases, "reminder": True}
    )
    return {"type": "swap", "regions": {"seguimientos": html}, "add": [], "remove": []}


async def _full_person(screen: Screen, frame: dict[str, Any]) -> Changes | None:
    """At answer the pop's summary becomes the whole record (the need-to-know
    route, audited with this call as the reason)."""
    call = frame.get("call") or {}
    try:
        answer = await run_in_threadpool(
            call_routes.person_of_call,
            str(call.get("system")),
            str(call.get("linkedid")),
            screen.user,
            screen.services,
            None,
        )
    except AgentApiError as err:
        log.info("full record at answer not read: %s", err)
        return None
    data = answer.model_dump()
    person_frame = {
        "type": "pop.person",
        "call": data["call"],
        "person_status": data["person_status"],
        "person": data["person"],
        "candidates": data["candidates"],
        "history": data["history"],
        "open_requests": data["open_requests"],
    }
    screen.ws, changes = apply(screen.ws, person_frame)
    return changes


async def _drain(websocket: WebSocket) -> None:
    """The page sends nothing that matters; reading notices the close."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
