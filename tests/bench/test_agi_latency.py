"""A small run of bench.agi_latency, so the benchmark cannot rot: every call
is served through the default flow and each latency line is printed.
Figures are not checked (speed is measured, never asserted in tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_small_run_serves_every_call_and_prints_the_latencies() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.agi_latency",
            "--sessions",
            "12",
            "--rate",
            "20",
            "--think-ms",
            "5-20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    ok = re.search(r"^sessions ok (\d+) of (\d+); commands ([\d,]+)", out, re.MULTILINE)
    assert ok, out
    assert ok.group(1) == ok.group(2) == "12"
    # The default flow sends more than ten commands per call.
    assert int(ok.group(3).replace(",", "")) > 12 * 10
    for label in ("per command", "first command", "server own time", "server loop lag"):
        line = re.search(
            rf"^\s+{label}\s+median\s+([\d.]+)\s+p95\s+[\d.]+\s+p99\s+([\d.]+)", out, re.M
        )
        assert line, (label, out)
        assert float(line.group(1)) <= float(line.group(2))
    assert re.search(r"^goal per-command p99 <= 5 ms .*: (met|NOT met)", out, re.MULTILINE), out
