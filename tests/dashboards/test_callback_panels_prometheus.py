"""The callback backlog on the Grafana board `atiende-supervisor`: a real
Prometheus scrapes the callback collector over a worklist built through
`CallbackQueue`, and every panel of the "Devoluciones de llamada" row, asked
of that Prometheus, gives the worklist's own backlog (the figures /supervision
shows) and the hand-counted figures below."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from crm_bridge.callback_rules import AttemptResult, CallbackPolicy, CallbackStatus
from crm_bridge.callbacks import BacklogFigures, CallbackQueue
from crm_bridge.db import make_engine, upgrade
from dashboards.callback_metrics import CallbackCollector
from telephony.domain import CallKey
from tests.dashboards.test_grafana import load, panels
from tests.dashboards.test_real_prometheus import query, scraping

NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
ROW = "Devoluciones de llamada"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def worklist(work: CallbackQueue, clock: Clock) -> None:
    """consultas: A asked 3 h ago (due, past its 1 h target), B 30 min ago
    (due, within target), C for in 2 h (not due), D completed within target,
    E with no number to call (failed at once); reclamos: F asked 10 min ago."""

    def ask_for(
        linkedid: str,
        queue: str,
        ago: dt.timedelta,
        number: str = "099123456",
        at: dt.datetime | None = None,
    ) -> int:
        clock.now = NOW - ago
        view = work.schedule(call=CallKey("pbx", linkedid), number=number, queue=queue, at=at)
        return view.id

    ask_for("A", "consultas", dt.timedelta(hours=3))
    ask_for("B", "consultas", dt.timedelta(minutes=30))
    ask_for("C", "consultas", dt.timedelta(0), at=NOW + dt.timedelta(hours=2))
    done = ask_for("D", "consultas", dt.timedelta(hours=1))
    clock.now = NOW - dt.timedelta(minutes=50)
    answered = work.attempt_ended(done, AttemptResult.ANSWERED, at=clock.now)
    assert answered is not None and answered.status is CallbackStatus.DONE
    ask_for("E", "consultas", dt.timedelta(minutes=20), number="anonymous")
    ask_for("F", "reclamos", dt.timedelta(minutes=10))
    clock.now = NOW


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[str, list[BacklogFigures]]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    clock = Clock(NOW)
    work = CallbackQueue(engine, policy=CallbackPolicy(target_seconds=3600), clock=clock)
    worklist(work, clock)
    registry = CollectorRegistry()
    registry.register(CallbackCollector(lambda: work.backlog()))
    try:
        with scraping(tmp_path, registry) as base:
            yield base, work.backlog()
    finally:
        engine.dispose()


def ask(base: str, expr: str) -> dict[str, float]:
    """Each series of the answer by its queue ("" for a sum over every queue)."""
    result = query(base, expr)
    assert result["status"] == "success", (expr, result)
    return {r["metric"].get("queue", ""): float(r["value"][1]) for r in result["data"]["result"]}


def callback_panels() -> dict[str, list[str]]:
    """The row's panels, title -> the queries of its targets ($queue: every queue)."""
    board = load("atiende-supervisor.json")
    found: dict[str, list[str]] = {}
    inside = False
    for panel in panels(board):
        if panel["type"] == "row":
            inside = panel["title"] == ROW
            continue
        if inside:
            found[panel["title"]] = [t["expr"].replace("$queue", ".*") for t in panel["targets"]]
    return found


def test_every_callback_panel_gives_the_worklist_backlog(
    scraped: tuple[str, list[BacklogFigures]],
) -> None:
    base, backlog = scraped
    by_queue = {row.queue: row for row in backlog}
    # The hand count (see worklist()), then the same from the worklist itself.
    assert {
        q: (r.pending, r.due, r.overdue, r.oldest_wait_seconds) for q, r in by_queue.items()
    } == {
        "consultas": (3, 2, 1, 3 * 3600.0),
        "reclamos": (1, 1, 0, 600.0),
    }
    deadline = time.monotonic() + 30
    while not ask(base, "atiende_callbacks_pending"):
        assert time.monotonic() < deadline, "no scrape of the callback collector"
        time.sleep(0.5)

    exprs = callback_panels()
    assert set(exprs) == {
        "Devoluciones pendientes",
        "Devoluciones para llamar ahora",
        "Devoluciones fuera de objetivo",
        "Devolución pendiente más antigua",
        "Devoluciones por cola",
        "Espera de la devolución pendiente más antigua",
    }
    (pending,) = exprs["Devoluciones pendientes"]
    assert ask(base, pending) == {"": sum(r.pending for r in backlog)} == {"": 4.0}
    (due,) = exprs["Devoluciones para llamar ahora"]
    assert ask(base, due) == {"": sum(r.due for r in backlog)} == {"": 3.0}
    (overdue,) = exprs["Devoluciones fuera de objetivo"]
    assert ask(base, overdue) == {"": sum(r.overdue for r in backlog)} == {"": 1.0}
    (oldest,) = exprs["Devolución pendiente más antigua"]
    assert ask(base, oldest) == {"": max(r.oldest_wait_seconds for r in backlog)}

    per_queue_pending, per_queue_due, per_queue_overdue = exprs["Devoluciones por cola"]
    assert ask(base, per_queue_pending) == {q: r.pending for q, r in by_queue.items()}
    assert ask(base, per_queue_due) == {q: r.due for q, r in by_queue.items()}
    assert ask(base, per_queue_overdue) == {q: r.overdue for q, r in by_queue.items()}
    (oldest_by_queue,) = exprs["Espera de la devolución pendiente más antigua"]
    assert ask(base, oldest_by_queue) == {q: r.oldest_wait_seconds for q, r in by_queue.items()}
