"""Fixtures of the IVR tests: the recorded FastAGI sessions, split into exchanges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ivr.recorded import RecordedSession, read_sessions


@pytest.fixture(scope="session")
def agi_sessions(recordings: Path) -> dict[str, list[RecordedSession]]:
    return {p.stem: read_sessions(p) for p in sorted(recordings.glob("*.agi"))}
