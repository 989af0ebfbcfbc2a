"""The built-in wallboard: tiles and SLA alerts as JSON frames.

A reader of `QueueMetrics` (the live per-queue state the bridge sink keeps)
and of the agents' snapshot: the figures are the ones `/metrics` renders,
computed by the same functions (dashboards.kpi and the collector's Erlang C
advice), never re-derived here.

`frame()` is pure given the metrics' state. `run()` polls it at most
`max_rate` times a second and pushes a frame to the subscribers only when
something shown changed (wait times are shown in whole seconds, so a queue
with callers changes once a second). New alerts are also pushed as their
own `{"type": "alert"}` frames so a page can sound or flash them once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dashboards import kpi
from dashboards.queue_metrics import QueueMetrics, QueueView, _erlang_advice, _read_agents
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState

log = logging.getLogger(__name__)

Frame = dict[str, Any]
AgentsProvider = Callable[[], Iterable[AgentSnapshot]]

# Below target by less than this share: amber; more: red.
WARN_MARGIN = 0.1

# What a TV shows for each state (words with the colours, never colour alone).
STATE_LABELS: dict[AgentState, str] = {
    AgentState.AVAILABLE: "Disponible",
    AgentState.PAUSED: "En pausa",
    AgentState.RINGING: "Sonando",
    AgentState.ON_CALL: "En llamada",
    AgentState.WRAP_UP: "Poscierre",
    AgentState.UNAVAILABLE: "No disponible",
    AgentState.LOGGED_OUT: "Desconectado",
}


def level(service_level: float | None, target: float) -> str:
    """ "ok", "warn" or "bad" for a service level against its target; "none" with no calls."""
    if service_level is None:
        return "none"
    if service_level >= target:
        return "ok"
    if service_level >= target - WARN_MARGIN:
        return "warn"
    return "bad"


class Wallboard:
    def __init__(
        self,
        metrics: QueueMetrics,
        agents: AgentsProvider | None = None,
        *,
        wait_limits: Mapping[str, float] | None = None,
        default_wait_limit: float | None = None,
        max_rate: float = 2.0,
        clock: Callable[[], float] = time.time,
        walkin: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        """`wait_limits`: seconds a caller may wait per queue before an alert;
        a queue without one uses `default_wait_limit`, else its SL threshold."""
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self._metrics = metrics
        self._agents = agents
        self._wait_limits = dict(wait_limits or {})
        self._default_wait_limit = default_wait_limit
        self._interval = 1.0 / max_rate
        self._clock = clock
        self._subscribers: dict[asyncio.Queue[Frame], asyncio.AbstractEventLoop] = {}
        self._last: Frame | None = None
        self._alert_keys: set[tuple[str, str]] = set()
        # Walk-in rows already read (dashboards.walkin_metrics.WalkinBoardRows): no I/O here.
        self._walkin = walkin

    # ------------------------------------------------------------ frames

    def _wait_limit(self, view: QueueView) -> float:
        limit = self._wait_limits.get(view.name, self._default_wait_limit)
        return view.definition.service_level_seconds if limit is None else limit

    def _agent_counts(self) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        per_queue: dict[str, dict[str, int]] = {}
        floor = {state.value: 0 for state in AgentState}
        if self._agents is None:
            return per_queue, floor
        for agent in _read_agents(self._agents) or []:
            floor[agent.state.value] += 1
            if agent.state is AgentState.LOGGED_OUT:
                continue
            for queue in agent.queues:
                row = per_queue.setdefault(queue, {})
                row[agent.state.value] = row.get(agent.state.value, 0) + 1
        return per_queue, floor

    def _agent_list(self, now: float) -> list[dict[str, Any]]:
        """Every logged-in agent: display name, state, whole seconds in it, queues."""
        if self._agents is None:
            return []
        rows = [
            {
                "name": agent.member_name or agent.interface,
                "state": agent.state.value,
                "state_label": STATE_LABELS[agent.state],
                "seconds_in_state": int(max(0.0, now - agent.since)),
                "queues": sorted(agent.queues),
                "reason": agent.reason,
            }
            for agent in _read_agents(self._agents) or []
            if agent.state is not AgentState.LOGGED_OUT
        ]
        return sorted(rows, key=lambda row: (str(row["name"]).casefold(), row["queues"]))

    def frame(self) -> Frame:
        """Tiles for every queue, the agents, the callers waiting and the alerts standing.

        No caller's number or name is in a frame: kiosk links show it to anyone
        in front of the TV.
        """
        now = self._clock()
        views = self._metrics.views()
        waits = self._metrics.waits()
        per_queue, floor = self._agent_counts()
        window = self._metrics.window_seconds
        tiles: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for view in views:
            definition = view.definition
            sl = kpi.service_level(view.window, definition.treatment)
            abandon = kpi.abandon_rate(view.window)
            limit = self._wait_limit(view)
            longest = int(view.longest_wait)
            agents = per_queue.get(view.name, {})
            tiles.append(
                {
                    "queue": view.name,
                    "waiting": view.waiting,
                    "longest_wait": longest,
                    "service_level": None if sl is None else round(sl, 3),
                    "sl_target": definition.sl_target,
                    "sl_seconds": definition.service_level_seconds,
                    "abandon_rate": None if abandon is None else round(abandon, 3),
                    "offered": view.window.offered,
                    "answered": view.window.answered,
                    "abandoned": view.window.counted_abandons,
                    "agents": agents,
                    "agents_needed": _erlang_advice(view, window),
                    "level": level(sl, definition.sl_target),
                    "wait_limit": limit,
                    "wait_level": "bad" if view.waiting and longest > limit else "ok",
                }
            )
            if sl is not None and sl < definition.sl_target:
                alerts.append(
                    {
                        "kind": "sl_under_target",
                        "queue": view.name,
                        "value": round(sl, 3),
                        "target": definition.sl_target,
                        "message": (
                            f"Cola {view.name}: nivel de servicio {round(sl * 100)} % "
                            f"bajo el objetivo de {round(definition.sl_target * 100)} %"
                        ),
                    }
                )
            if view.waiting and longest > limit:
                alerts.append(
                    {
                        "kind": "wait_over_limit",
                        "queue": view.name,
                        "value": longest,
                        "target": limit,
                        "message": (
                            f"Cola {view.name}: una persona espera hace {longest} s "
                            f"(límite {round(limit)} s)"
                        ),
                    }
                )
        longest_first = sorted(
            ((int(wait), queue) for queue, seconds in waits.items() for wait in seconds),
            key=lambda pair: (-pair[0], pair[1]),
        )
        waiting_calls = [{"queue": queue, "wait": wait} for wait, queue in longest_first]
        return {
            "type": "wallboard",
            "generated_at": int(now),
            "window_seconds": window,
            # Every figure below is counted by kpi.QueueTally (per queue leg).
            "counting": kpi.COUNTING_RULE,
            "queues": tiles,
            "agents": floor,
            "agent_list": self._agent_list(now),
            "waiting_calls": waiting_calls,
            "alerts": alerts,
            # Walk-ins today per point and topic, counted by dashboards.walkin_kpi.
            "walkin": [] if self._walkin is None else self._walkin(),
        }

    # ------------------------------------------------------------ pushing

    def subscribe(self) -> asyncio.Queue[Frame]:
        """A queue of frames for one socket; call it in the socket's event loop."""
        queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=16)
        self._subscribers[queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Frame]) -> None:
        self._subscribers.pop(queue, None)

    @staticmethod
    def _offer(queue: asyncio.Queue[Frame], frame: Frame) -> None:
        if queue.full():
            # A slow screen gets the newest state, not a backlog.
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(frame)

    def _send(self, frame: Frame) -> None:
        # The pushing loop and a socket's loop may differ (uvicorn in another
        # thread, tests): hand each frame over thread-safely.
        for queue, loop in list(self._subscribers.items()):
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(self._offer, queue, frame)

    def tick(self) -> list[Frame]:
        """Compute the frame; push it (and new alerts) if it changed. Returns what was pushed."""
        frame = self.frame()
        pushed: list[Frame] = []
        keys = {(a["kind"], a["queue"]) for a in frame["alerts"]}
        for alert in frame["alerts"]:
            if (alert["kind"], alert["queue"]) not in self._alert_keys:
                pushed.append({"type": "alert", "at": self._clock(), **alert})
        self._alert_keys = keys
        # The time stamp alone changing is no news: the page runs its own clock.
        if self._last is None or _content(frame) != _content(self._last):
            self._last = frame
            pushed.insert(0, frame)
        for item in pushed:
            self._send(item)
        return pushed

    async def run(self) -> None:
        """Push changes until cancelled, at most `max_rate` frames a second.
        A failing tick is logged and the board keeps going."""
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("wallboard frame failed")
            await asyncio.sleep(self._interval)


def _content(frame: Frame) -> Frame:
    return {key: value for key, value in frame.items() if key != "generated_at"}
