"""deploy/systemd: `systemd-analyze verify` and the hardening score, where
systemd-analyze exists (skipped cleanly otherwise)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "atiende-serve.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def local_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's `atiende` (verify
    checks that the executables exist)."""
    atiende = Path(sys.executable).parent / "atiende"
    text = UNIT.read_text(encoding="utf-8").replace("/opt/atiende/venv/bin/atiende", str(atiende))
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    return copy


def test_unit_runs_serve_as_an_unprivileged_user_with_env_file() -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=\S+/atiende serve$", text, re.M)
    assert re.search(r"^ExecStartPre=\S+/atiende migrate$", text, re.M)
    assert "User=atiende" in text
    assert "EnvironmentFile=/etc/atiende/atiende.env" in text
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet="):
        assert option in text


@needs_analyze
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", str(local_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr  # no warning about the unit


@needs_analyze
def test_hardening_exposure_is_low(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--no-pager", str(local_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    if match is None:
        pytest.skip(f"systemd-analyze security --offline unsupported: {result.stderr[:200]}")
    assert float(match.group(1)) <= 2.0
