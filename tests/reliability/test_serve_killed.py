"""`atiende serve` killed with SIGKILL in the middle of a burst, then restarted.

The simulated Asterisk (telephony.simulator, in this test's loop) places a
burst of calls and writes its queue_log as Asterisk does; `atiende serve`
runs as a real process against it and PostgreSQL. Once some calls are stored
and others are up, serve is killed without warning (no flush, no goodbye);
calls go on, end and arrive while it is gone; a new serve starts, restores
the calls the store had in progress, resyncs from the PBX and reads the
queue_log's tail (ATIENDE_AMI__QUEUE_LOG, a shared volume in production).

When the burst is over: no call is stored twice, none is left in progress,
every stored call ended as the queue_log says, and every call the bridge
could know of (stored before the kill, up at the kill, up at the restart's
resync, or arriving after it) is stored; so is every call of the queue_log,
those that began and ended entirely while no serve ran included (the restart
rebuilds them from the queue_log's tail, from the newest moment the store
had). Only a call that ended in the IVR while no serve ran may be missing:
neither AMI nor queue_log tells of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile
from tests.support.queue_log import parse_queue_log

pytestmark = pytest.mark.postgres

SYSTEM = "killed"
CALLS = 40
LIMIT = 180.0  # bound on the whole burst (not a timing assertion)


def stored(database: str) -> dict[str, list[str]]:
    engine = make_engine(database)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Attention.linkedid, Attention.outcome).where(Attention.system == SYSTEM)
            ).all()
    finally:
        engine.dispose()
    found: dict[str, list[str]] = {}
    for linkedid, outcome in rows:
        found.setdefault(linkedid, []).append(outcome)
    return found


def ended(database: str) -> int:
    engine = make_engine(database)
    try:
        with session_factory(engine)() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Attention)
                    .where(Attention.system == SYSTEM, Attention.outcome != "in_progress")
                )
                or 0
            )
    finally:
        engine.dispose()


def start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "atiende.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,
        )


async def test_serve_killed_mid_burst_loses_and_doubles_nothing(
    new_database: Callable[..., str], tmp_path: Path
) -> None:
    database = new_database("killed", migrate=True)
    queue_log = tmp_path / "queue_log"
    profile = TrafficProfile(calls_per_minute=40, mean_talk=40, mean_patience=50)
    simulator = Simulator(
        SimulatorConfig(
            speed=3, profile=profile, max_calls=CALLS, seed=23, secret="kill-secret",
            queue_log=queue_log,
        )
    )  # fmt: skip
    await simulator.start()
    env = {
        **os.environ,
        "ATIENDE_DATABASE_URL": database,
        "ATIENDE_AMI__PORT": str(simulator.port),
        "ATIENDE_AMI__SECRET": "kill-secret",
        "ATIENDE_AMI__SYSTEM_NAME": SYSTEM,
        "ATIENDE_AMI__RECONNECT_MIN": "0.05",
        "ATIENDE_AMI__QUEUE_LOG": str(queue_log),
        "ATIENDE_IVR__ENABLED": "false",
        "ATIENDE_API__ENABLED": "false",
        "ATIENDE_METRICS_PORT": "0",
    }
    first = start_serve(env, tmp_path / "serve-1.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        async with asyncio.timeout(LIMIT):
            # Mid-burst: some calls stored, others up in the PBX right now.
            while await asyncio.to_thread(ended, database) < 3 or len(simulator.pbx.calls) < 2:
                assert first.poll() is None, (tmp_path / "serve-1.log").read_text()[-2000:]
                assert simulator.placed < CALLS - 5, "the burst ended before serve stored calls"
                await asyncio.sleep(0.05)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            up_at_kill = {call.channel.linkedid for call in simulator.pbx.calls.values()}
            done_at_kill = {call.channel.linkedid for call in simulator.pbx.finished}
            lists_before = len(simulator.ami.lists_answered)
            placed_at_kill = simulator.placed
            # Calls end and arrive while serve is gone.
            while simulator.placed < placed_at_kill + 3:
                await asyncio.sleep(0.05)
            second = start_serve(env, tmp_path / "serve-2.log")
            while len(simulator.ami.lists_answered) == lists_before:
                await asyncio.sleep(0.01)
            _, resync_at, channels = simulator.ami.lists_answered[lists_before]
            up_at_resync = {
                line.removeprefix("Linkedid: ")
                for item in channels
                for line in item
                if line.startswith("Linkedid: ")
            }
            while not simulator.idle() or simulator.placed < CALLS:
                assert second.poll() is None, (tmp_path / "serve-2.log").read_text()[-2000:]
                await asyncio.sleep(0.1)
        intended = {call.channel.linkedid: call.outcome for call in simulator.pbx.finished}
        arrived = {call.channel.linkedid: call.arrived for call in simulator.pbx.finished}
        # Calls that began and ended while no serve ran: AMI never tells of them;
        # the restart takes the queued ones from the queue_log's tail (those
        # that ended in the IVR never reach queue_log, and stay unknown).
        unseen = {
            k
            for k in intended
            if k not in done_at_kill | up_at_kill | up_at_resync and arrived[k] < resync_at
        }
        with contextlib.suppress(TimeoutError):  # what is missing is told below
            async with asyncio.timeout(60):
                while await asyncio.to_thread(ended, database) < len(intended) - len(unseen):
                    assert second.poll() is None, (tmp_path / "serve-2.log").read_text()[-2000:]
                    await asyncio.sleep(0.1)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        await simulator.stop()
    log_text = (tmp_path / "serve-2.log").read_text()
    assert second is not None and second.returncode == 0, log_text[-3000:]

    rows = stored(database)
    assert [k for k, v in rows.items() if len(v) > 1] == [], "a call stored twice"
    assert len(intended) == CALLS
    assert up_at_kill, "serve was not killed mid-call"
    assert not set(rows) - set(intended), "a call invented"
    lost = set(intended) - set(rows)
    assert lost <= unseen, f"lost calls the bridge could see: {lost - unseen}"
    unfinished = {k: v for k, v in rows.items() if v == ["in_progress"]}
    assert unfinished == {}, f"left in progress: {unfinished}"
    logged = parse_queue_log(queue_log).calls
    assert logged, "the simulator wrote no queue_log"
    mismatched = {
        linkedid: (rows[linkedid][0], call.outcome)
        for linkedid, call in logged.items()
        if linkedid in rows and rows[linkedid][0] != call.outcome
    }
    assert mismatched == {}, f"stored vs queue_log: {mismatched}"
    assert set(logged) - set(rows) == set(), "a queued call of the gap not stored"
    print(
        f"serve killed: {CALLS} calls, {len(up_at_kill)} up at the kill, "
        f"{len(unseen)} began and ended while serve was down ({len(lost)} of them not stored)"
    )
