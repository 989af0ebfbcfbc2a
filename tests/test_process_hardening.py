"""The `atiende` process as an unlucky operator meets it: bad settings,
database files, the demo against production."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", ["migrate", "serve", "worker", "demo", "replay x.ami"])
def test_a_bad_setting_exits_2_naming_the_variable(command: str) -> None:
    env = {"ATIENDE_AMI__PORT": "abc", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "atiende.cli", *command.split()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "ATIENDE_AMI__PORT" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
