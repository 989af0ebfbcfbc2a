"""A short, low-volume run of bench.simulated_load: what it prints must show
every call the simulator finished stored with the outcome it intended."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _outcomes(text: str, label: str) -> Counter[str]:
    line = re.search(rf"^{label}\s+(.*)$", text, re.MULTILINE)
    assert line, text
    counts: Counter[str] = Counter()
    for item in line.group(1).split(", "):
        name, _, count = item.rpartition(" ")
        counts[name] = int(count)
    return counts


def _count(text: str, label: str) -> int:
    line = re.search(rf"^{label}\s+(\d+)", text, re.MULTILINE)
    assert line, text
    return int(line.group(1))


def test_short_run_stores_the_intended_outcomes(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.simulated_load",
            "--calls-per-minute",
            "30",
            "--speed",
            "20",
            "--seconds",
            "3",
            "--drain",
            "60",
            "--database-url",
            f"sqlite:///{tmp_path / 'smoke.db'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = done.stdout
    placed = _count(out, "calls placed")
    finished = _count(out, "calls finished")
    intended = _outcomes(out, "intended outcomes")
    stored = _outcomes(out, "stored outcomes")
    assert placed > 0 and finished == placed, out + done.stderr
    assert sum(intended.values()) == finished
    assert stored == intended, out
    assert done.returncode == 0, out + done.stderr
