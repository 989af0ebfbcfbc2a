"""The wallboard: tiles and SLA alerts from the live QueueMetrics state, the
push rule (only on change, new alerts once), and its page and WebSocket in
the panel app with the panel's roles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agent_api.routes.figures import add_wallboard
from crm_bridge.organisms import Role
from dashboards.kpi import QueueKpiDefinition
from dashboards.queue_metrics import QueueMetrics
from dashboards.wallboard import Wallboard, level
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState, CallAnswered, CallKey, CallQueued
from tests.agent_api.conftest import build_panel
from tests.support.postgres import fresh_database


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(n: int) -> CallKey:
    return CallKey("lab", f"100.{n}")


T0 = 1_000_000.0
CONSULTAS = QueueKpiDefinition(service_level_seconds=20, sl_target=0.8)


def busy_metrics(clock: Clock) -> QueueMetrics:
    """consultas: three callers from T0; the first answered after 5 s, the
    second after 30 s (late), the third still waiting; reclamos: idle."""
    metrics = QueueMetrics(
        {"consultas": CONSULTAS, "reclamos": QueueKpiDefinition()},
        window_seconds=900,
        clock=clock,
    )
    metrics.publish([CallQueued(T0, key(n), "consultas", n, "099", "") for n in (1, 2, 3)])
    metrics.publish([CallAnswered(T0 + 5, key(1), "consultas", "PJSIP/a", "Ana", 5.0)])
    metrics.publish([CallAnswered(T0 + 30, key(2), "consultas", "PJSIP/b", "Bruno", 30.0)])
    clock.now = T0 + 40
    return metrics


AGENTS = [
    AgentSnapshot("PJSIP/a", "Ana", ("consultas",), AgentState.ON_CALL, T0, None),
    AgentSnapshot("PJSIP/b", "Bruno", ("consultas", "reclamos"), AgentState.ON_CALL, T0, None),
    AgentSnapshot("PJSIP/c", "Carla", ("reclamos",), AgentState.PAUSED, T0, "almuerzo"),
    AgentSnapshot("PJSIP/d", "Diego", (), AgentState.LOGGED_OUT, T0, None),
]


def busy_board() -> tuple[Wallboard, Clock]:
    """A board over busy_metrics, on a clock the test moves."""
    clock = Clock()
    return Wallboard(busy_metrics(clock), lambda: AGENTS, clock=clock), clock


def test_levels_at_target_thresholds() -> None:
    assert level(None, 0.8) == "none"
    assert level(0.8, 0.8) == "ok"
    assert level(0.75, 0.8) == "warn"
    assert level(0.69, 0.8) == "bad"


def test_frame_tiles_and_alerts() -> None:
    clock = Clock()
    board = Wallboard(busy_metrics(clock), lambda: AGENTS, clock=clock)
    frame = board.frame()
    tiles = {t["queue"]: t for t in frame["queues"]}
    c = tiles["consultas"]
    assert (c["waiting"], c["longest_wait"]) == (1, 40)  # caller 3 since T0
    assert c["service_level"] == 0.5  # 1 of 2 answered within 20 s
    assert c["level"] == "bad" and c["wait_level"] == "bad"  # 40 s over the 20 s limit
    # Offered counts a leg when it joins (as QueueMetrics does): the waiting one too.
    assert (c["offered"], c["answered"], c["abandoned"]) == (3, 2, 0)
    assert c["agents"] == {"on_call": 2}
    assert c["agents_needed"] is None  # no talk time known yet
    r = tiles["reclamos"]
    assert (r["waiting"], r["service_level"], r["level"]) == (0, None, "none")
    assert r["agents"] == {"on_call": 1, "paused": 1}
    assert frame["agents"]["logged_out"] == 1 and frame["agents"]["on_call"] == 2
    kinds = sorted((a["kind"], a["queue"]) for a in frame["alerts"])
    assert kinds == [("sl_under_target", "consultas"), ("wait_over_limit", "consultas")]
    assert any("40 s" in a["message"] for a in frame["alerts"])


def test_wait_limit_per_queue_overrides_threshold() -> None:
    clock = Clock()
    board = Wallboard(busy_metrics(clock), wait_limits={"consultas": 60}, clock=clock)
    frame = board.frame()
    assert [a["kind"] for a in frame["alerts"]] == ["sl_under_target"]
    assert frame["queues"][0]["wait_level"] == "ok"


async def test_pushes_only_changes_and_new_alerts_once() -> None:
    clock = Clock()
    board = Wallboard(busy_metrics(clock), clock=clock)
    queue = board.subscribe()
    first = board.tick()
    assert [f["type"] for f in first] == ["wallboard", "alert", "alert"]
    assert board.tick() == []  # nothing changed
    clock.now += 1  # the longest wait grows a second
    again = board.tick()
    assert [f["type"] for f in again] == ["wallboard"]
    assert again[0]["queues"][0]["longest_wait"] == 41
    await _settle()
    received = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [f["type"] for f in received] == ["wallboard", "alert", "alert", "wallboard"]
    board.unsubscribe(queue)


async def _settle() -> None:
    await asyncio.sleep(0)


def test_max_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Wallboard(QueueMetrics(), max_rate=0)


# ------------------------------------------------------------ page and socket


@pytest.fixture(scope="module")
def wall_db(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, "wall", migrate=True) as db:
        yield db


@pytest.fixture
def wall(wall_db: str) -> Iterator[tuple[Any, Wallboard, Clock]]:
    panel = build_panel(wall_db)
    board, clock = busy_board()
    add_wallboard(panel.app, board)
    yield panel, board, clock
    panel.engine.dispose()


def test_page_and_assets_are_served(wall: tuple[Any, Wallboard, Clock]) -> None:
    panel, _board, _clock = wall
    client: TestClient = panel.client()
    page = client.get("/wallboard")
    assert page.status_code == 200 and 'lang="es-UY"' in page.text
    for asset in ("wallboard.js", "wallboard.css"):
        assert client.get(f"/wallboard/static/{asset}").status_code == 200


def test_socket_refuses_agents_and_strangers(wall: tuple[Any, Wallboard, Clock]) -> None:
    panel, _board, _clock = wall
    for client in (panel.client(), panel.client(panel.usernames[Role.EJECUTIVO])):
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/wallboard") as ws:
            ws.receive_json()
    assert panel.client(panel.usernames[Role.EJECUTIVO]).get("/api/wallboard").status_code == 403


def test_socket_sends_the_board_and_pushes_changes(wall: tuple[Any, Wallboard, Clock]) -> None:
    panel, board, clock = wall
    client = panel.client(panel.usernames[Role.SUPERVISOR])
    with client.websocket_connect("/ws/wallboard") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "wallboard"
        assert hello["queues"][0]["longest_wait"] == 40
        board.tick()
        assert ws.receive_json()["type"] == "wallboard"
        assert {ws.receive_json()["kind"], ws.receive_json()["kind"]} == {
            "sl_under_target",
            "wait_over_limit",
        }
        clock.now += 5
        board.tick()
        assert ws.receive_json()["queues"][0]["longest_wait"] == 45
    snapshot = panel.client(panel.usernames[Role.GERENTE]).get("/api/wallboard")
    assert snapshot.status_code == 200 and snapshot.json()["type"] == "wallboard"


async def test_run_pushes_until_cancelled() -> None:
    clock = Clock()
    board = Wallboard(busy_metrics(clock), clock=clock, max_rate=50)
    queue = board.subscribe()
    task = asyncio.create_task(board.run())
    try:
        frame = await asyncio.wait_for(queue.get(), timeout=5)
        assert frame["type"] == "wallboard"
        clock.now += 3
        while (frame := await asyncio.wait_for(queue.get(), timeout=5))["type"] != "wallboard":
            pass
        assert frame["queues"][0]["longest_wait"] == 43
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_a_failing_tick_does_not_stop_the_board(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    calls = {"n": 0}

    def flaky() -> list[AgentSnapshot]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("snapshot broke")
        return AGENTS

    board = Wallboard(busy_metrics(clock), flaky, clock=clock, max_rate=50)
    queue = board.subscribe()
    task = asyncio.create_task(board.run())
    try:
        frame = await asyncio.wait_for(queue.get(), timeout=5)
        assert frame["type"] == "wallboard" and frame["agents"]["on_call"] == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert "wallboard frame failed" in caplog.text


def test_frame_v2_lists_agents_and_waiting_calls_without_callers() -> None:
    clock = Clock()
    metrics = busy_metrics(clock)
    metrics.publish([CallQueued(T0 + 25, key(9), "reclamos", 1, "099123456", "Ana Pérez")])
    board = Wallboard(metrics, lambda: AGENTS, clock=clock)
    frame = board.frame()
    assert frame["generated_at"] == int(T0 + 40)
    names = [(a["name"], a["state_label"], a["seconds_in_state"]) for a in frame["agent_list"]]
    # Logged-out Diego is not on the floor; the others in name order with their time.
    assert names == [
        ("Ana", "En llamada", 40),
        ("Bruno", "En llamada", 40),
        ("Carla", "En pausa", 40),
    ]
    assert frame["agent_list"][2]["reason"] == "almuerzo"
    assert frame["waiting_calls"] == [
        {"queue": "consultas", "wait": 40},
        {"queue": "reclamos", "wait": 15},
    ]
    # A TV shows the frame to anyone in the room: no caller number or name.
    text = repr(frame)
    assert "099123456" not in text and "Pérez" not in text


def test_only_the_clock_moving_pushes_nothing() -> None:
    clock = Clock()
    metrics = QueueMetrics({"consultas": CONSULTAS}, window_seconds=900, clock=clock)
    board = Wallboard(metrics, list, clock=clock)
    assert board.tick()[0]["type"] == "wallboard"
    clock.now += 0.4  # same second: the frame is unchanged, the stamp too
    assert board.tick() == []
    clock.now += 5  # a new stamp alone is no news
    assert board.tick() == []
