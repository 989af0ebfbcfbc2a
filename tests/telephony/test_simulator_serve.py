"""`atiende serve` (bridge and its own FastAGI IVR) against the simulated
Asterisk of `python -m telephony.simulator`, both as processes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.support.ports import free_port

LIMIT = 90.0  # bound on waiting for the calls (not a timing assertion)
IVR = Path(__file__).resolve().parents[2] / "ivr"


def always_open_flows(folder: Path) -> Path:
    """The shipped flows, with the office closed never: the test must not
    depend on the hour in Montevideo."""
    shutil.copytree(IVR / "calendars", folder / "calendars")
    flows = folder / "flows"
    shutil.copytree(IVR / "flows", flows)
    default = flows / "default.yaml"
    text = default.read_text(encoding="utf-8")
    assert "closed: fuera_de_horario" in text
    default.write_text(
        text.replace("closed: fuera_de_horario", "closed: aviso_privacidad"), encoding="utf-8"
    )
    return flows


def ended_attentions(database: Path) -> Counter[str]:
    if not database.exists():
        return Counter()
    try:
        with sqlite3.connect(database) as db:
            rows = db.execute(
                "SELECT outcome, count(*) FROM attentions WHERE outcome != 'in_progress' "
                "GROUP BY outcome"
            ).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return Counter()
    return Counter(dict(rows))


def test_serve_tracks_the_simulated_asterisk(tmp_path: Path) -> None:
    ami_port, agi_port = free_port(), free_port()
    database = tmp_path / "serve.db"
    simulator = subprocess.Popen(
        [
            sys.executable, "-m", "telephony.simulator", "--port", str(ami_port),
            "--agi", f"127.0.0.1:{agi_port}", "--speed", "30", "--calls-per-minute", "30",
            "--secret", "sim-secret",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    env = {
        **os.environ,
        "ATIENDE_DATABASE_URL": f"sqlite:///{database}",
        "ATIENDE_METRICS_PORT": "0",
        "ATIENDE_API__PORT": "0",  # never 8080: `make demo` may hold it
        "ATIENDE_AMI__PORT": str(ami_port),
        "ATIENDE_AMI__SECRET": "sim-secret",
        "ATIENDE_AMI__SYSTEM_NAME": "sim",
        "ATIENDE_IVR__PORT": str(agi_port),
        "ATIENDE_IVR__FLOWS_DIR": str(always_open_flows(tmp_path)),
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "atiende.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            ended = ended_attentions(database)
            if sum(ended.values()) >= 6 and ended["answered"] > 0:
                break
            assert serve.poll() is None, serve.communicate()[1][-2000:]
            time.sleep(0.2)
    finally:
        simulator.send_signal(signal.SIGINT)
        sim_out, _ = simulator.communicate(timeout=30)
        serve.send_signal(signal.SIGTERM)
        _, serve_err = serve.communicate(timeout=60)
    assert serve.returncode == 0, serve_err[-2000:]
    assert simulator.returncode == 0
    finished = re.search(r"calls finished: (.*)", sim_out)
    assert finished is not None, sim_out
    intended = Counter(
        {k: int(v) for k, v in (item.split(" ") for item in finished.group(1).split(", "))}
    )
    assert sum(intended.values()) >= 6
    stored = ended_attentions(database)
    for outcome in ("answered", "abandoned"):
        assert stored[outcome] == intended[outcome], outcome
    # A caller who leaves during a prompt and then gets the IVR's own HANGUP
    # is stored as ivr_completed (the tracker credits the IVR's HANGUP), while
    # the simulator meant ivr_hangup: compare the IVR endings together.
    ivr_endings = ("ivr_hangup", "ivr_completed")
    assert sum(stored[o] for o in ivr_endings) == sum(intended[o] for o in ivr_endings)
    assert sum(stored.values()) == sum(intended.values())
    assert stored["answered"] > 0
    assert "IVR (FastAGI) on" in serve_err
