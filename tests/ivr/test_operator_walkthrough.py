"""The operator guide's first steps (deploy/README.md, "Try it first"), run as
written on a clean folder with the simulator in place of Asterisk: prompts
built and checked, an admin created, the simulated Asterisk and `atiende
serve` started. The first call reaches an agent and is stored as answered.

The lines are read from the guide itself; the test only swaps the fixed ports
for free ones, and gives serve a free panel port, no /metrics port and flows
that keep the office open (the guide says how, for trying at night)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "deploy" / "README.md"
LIMIT = 120.0  # bound on waiting for the first answered call (not a timing assertion)


def guide_lines() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    marker = text.index("<!-- walk-through:")
    block = re.search(r"```sh\n(.*?)```", text[marker:], re.S)
    assert block is not None, "the guide's walk-through block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def always_open_flows(folder: Path) -> Path:
    """As the guide says for trying outside office hours."""
    shutil.copytree(REPO / "ivr" / "calendars", folder / "calendars")
    flows = folder / "flows"
    shutil.copytree(REPO / "ivr" / "flows", flows)
    default = flows / "default.yaml"
    text = default.read_text(encoding="utf-8")
    assert "closed: fuera_de_horario" in text
    default.write_text(text.replace("closed: fuera_de_horario", "closed: aviso_privacidad"))
    return flows


def answered(database: Path) -> list[tuple[str, str]]:
    if not database.exists():
        return []
    try:
        with sqlite3.connect(database) as db:
            rows = db.execute(
                "SELECT agent, ivr_path FROM attentions WHERE outcome = 'answered'"
            ).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []
    return [(str(agent), str(path)) for agent, path in rows]


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="the guide's first step needs Debian's espeak-ng and sox",
)
def test_the_guides_first_steps_give_a_call_that_reaches_an_agent(tmp_path: Path) -> None:
    lines = guide_lines()
    assert [line.split()[0] for line in lines][:2] == ["atiende", "atiende"]
    ami_port, agi_port = free_port(), free_port()
    script = "\n".join(lines).replace("5038", str(ami_port)).replace("4573", str(agi_port))
    bin_dir = Path(sys.executable).parent  # the venv's atiende and python
    env = {key: value for key, value in os.environ.items() if not key.startswith("ATIENDE_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        ATIENDE_API__PORT=str(free_port()),
        ATIENDE_METRICS_PORT="0",
        ATIENDE_IVR__FLOWS_DIR=str(always_open_flows(tmp_path / "mine")),
    )
    work = tmp_path / "clean"
    work.mkdir()
    process = subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: the simulator in the background too
    )
    database = work / "atiende.db"
    try:
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline and not answered(database):
            assert process.poll() is None, process.communicate()[0][-3000:]
            time.sleep(0.3)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    calls = answered(database)
    assert calls, output[-3000:]
    agent, path = calls[0]
    assert agent in {"Ana Gómez", "Bruno Núñez", "Carla Pérez", "Diego Rodríguez", "Elena Muñoz"}
    assert path != "[]"  # the IVR's choices
    # The guide's steps did what they say on the way.
    assert "prompts ready in sounds" in output
    assert "user 'admin' (admin) created" in output
    assert not [
        p for p in (work / "sounds" / "es" / "atiende").glob("*.wav") if not p.stat().st_size
    ]
