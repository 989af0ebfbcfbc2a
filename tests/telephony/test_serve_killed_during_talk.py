"""`atiende serve` killed (SIGKILL) while an agent talks, then started again.

The simulated Asterisk runs on in the test process and writes its queue_log;
`atiende serve` runs as a process. The call is answered, serve is killed,
the agent hangs up while nothing listens, serve comes back: the stored
attention must say what queue_log says (answer, wait, talk, agent; with the
file readable also who hung up), and its end must not be its answer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from telephony.simulator.model import CallerSpec
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import TrafficProfile
from tests.support.queue_log import parse_queue_log

LIMIT = 60.0  # bound on waiting (not a timing assertion)


def _row(database: Path) -> dict[str, Any] | None:
    if not database.exists():
        return None
    try:
        with sqlite3.connect(database) as db:
            db.row_factory = sqlite3.Row
            row = db.execute(
                "SELECT linkedid, outcome, answered_at, ended_at, wait_seconds, talk_seconds, "
                "agent, hangup_side FROM attentions"
            ).fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return None
    return dict(row) if row is not None else None


async def _until(predicate: Any, what: str) -> Any:
    async with asyncio.timeout(LIMIT):
        while True:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.1)
    raise AssertionError(what)


def _serve(env: dict[str, str]) -> Any:
    return asyncio.create_subprocess_exec(
        sys.executable, "-m", "atiende.cli", "serve",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.parametrize("queue_log_readable", [True, False])
async def test_talk_survives_a_kill_of_serve(tmp_path: Path, queue_log_readable: bool) -> None:
    queue_log = tmp_path / "queue_log"
    database = tmp_path / "serve.db"
    simulator = Simulator(
        SimulatorConfig(
            speed=5.0,
            queues={"consultas": [("4001", "Ana Gómez")]},
            profile=TrafficProfile(mean_seconds_between_pauses=0),
            max_calls=0,
            no_answer_share=0.0,
            queue_log=queue_log,
        )
    )
    await simulator.start()
    env = {
        **os.environ,
        "ATIENDE_DATABASE_URL": f"sqlite:///{database}",
        "ATIENDE_METRICS_PORT": "0",
        "ATIENDE_API__PORT": "0",
        "ATIENDE_IVR__ENABLED": "false",
        "ATIENDE_AMI__PORT": str(simulator.port),
        "ATIENDE_AMI__SYSTEM_NAME": "killed",
        "ATIENDE_AMI__RECONNECT_MIN": "0.1",
    }
    if queue_log_readable:
        env["ATIENDE_AMI__QUEUE_LOG"] = str(queue_log)
    serve = await _serve(env)
    second = None
    try:
        await _until(simulator.ami.subscribed.is_set, "serve subscribed")
        simulator.sync()
        simulator.pbx.place_call(
            CallerSpec("099100001", "Ana Pérez", ("1",), 1, 600, 25, "consultas"),
            simulator.clock.now(),
        )
        await _until(
            lambda: (r := _row(database)) is not None and r["answered_at"] is not None,
            "the answer stored",
        )
        serve.send_signal(signal.SIGKILL)
        await serve.wait()
        # The talk ends while nothing listens.
        await _until(lambda: simulator.pbx.finished, "the call over")
        second = await _serve(env)
        await _until(
            lambda: (r := _row(database)) is not None and r["outcome"] != "in_progress",
            "the attention closed",
        )
    finally:
        for process in (serve, second):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        await simulator.stop()
    row = _row(database)
    assert row is not None
    (expected,) = parse_queue_log(queue_log).calls.values()
    assert row["linkedid"] == expected.uniqueid
    assert row["outcome"] == "answered"
    assert row["agent"] == expected.agent == "Ana Gómez"
    assert row["wait_seconds"] == expected.wait
    assert row["ended_at"] != row["answered_at"]
    assert expected.talk is not None and row["talk_seconds"] is not None
    if queue_log_readable:
        assert row["talk_seconds"] == expected.talk
        assert row["hangup_side"] == "agent"
    else:
        # The agent's LastCall, whole seconds.
        assert abs(row["talk_seconds"] - expected.talk) <= 1.0
