"""The `atiende` process as an unlucky operator meets it: bad settings,
database files, the demo against production."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_bridge.db import make_engine, upgrade


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


def test_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "atiende.db"
    upgrade(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        conn.execute(text("INSERT INTO probe VALUES (1)"))
        files = [database, *tmp_path.glob("atiende.db-*")]
        assert len(files) >= 2  # the WAL too, while a connection is open
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    engine.dispose()
    # A file an older version created 0644 is tightened on the next start.
    older = tmp_path / "older.db"
    older.touch(mode=0o644)
    older.chmod(0o644)
    engine = make_engine(f"sqlite:///{older}")
    assert stat.S_IMODE(older.stat().st_mode) == 0o644  # building an engine touches nothing
    with engine.connect():
        pass
    engine.dispose()
    assert stat.S_IMODE(older.stat().st_mode) == 0o600


def test_the_demo_refuses_a_configured_database(tmp_path: Path) -> None:
    production = tmp_path / "produccion.db"
    env = {"ATIENDE_DATABASE_URL": f"sqlite:///{production}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "atiende.cli", "demo", "--duration", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "ATIENDE_DATABASE_URL" in done.stderr and "--use-configured-database" in done.stderr
    assert not production.exists()
