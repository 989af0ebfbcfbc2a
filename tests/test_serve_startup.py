"""`atiende serve` starts and stops its parts through one exit stack: when one
cannot start (a port taken), the parts already running are stopped, and the
command says which variable to fix, with a code of its own."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from atiende.settings import AmiSettings, ApiSettings, IvrSettings, Settings
from atiende.wiring import StartupError, serve
from telephony.ami.testing import AmiTestServer
from tests.support.ports import free_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_a_part_that_cannot_start_stops_the_ones_already_started(
    tmp_path: Path, taken_port: int
) -> None:
    api_port = free_port()
    async with AmiTestServer(secret="s") as ami:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'serve.db'}",
            metrics_port=0,
            ami=AmiSettings(port=ami.port, secret="s"),
            api=ApiSettings(port=api_port),
            # The IVR starts after the panel: its port is taken.
            ivr=IvrSettings(port=taken_port),
        )
        before = {t for t in asyncio.all_tasks() if not t.done()}
        with pytest.raises(StartupError, match="ATIENDE_IVR__PORT") as failed:
            await asyncio.wait_for(serve(settings), timeout=30)
        assert str(taken_port) in str(failed.value)
        # The panel had started; it is stopped again, its port closed.
        assert _refused(api_port)
        await asyncio.sleep(0.05)
        left = {t for t in asyncio.all_tasks() if not t.done()} - before
        left.discard(asyncio.current_task())  # type: ignore[arg-type]
        assert not left, left
        assert ami.connections == 0  # the bridge never led


def test_the_command_exits_4_naming_the_variable(tmp_path: Path, taken_port: int) -> None:
    env = {
        **os.environ,
        "ATIENDE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "ATIENDE_API__PORT": str(free_port()),
        "ATIENDE_IVR__PORT": str(free_port()),
        "ATIENDE_AMI__PORT": str(free_port()),
        "ATIENDE_METRICS_PORT": str(taken_port),
    }
    done = subprocess.run(
        [sys.executable, "-m", "atiende.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4, done.stderr[-2000:]
    assert "ATIENDE_METRICS_PORT" in done.stderr
    assert "Traceback" not in done.stderr


async def test_once_started_serve_freezes_what_start_built(tmp_path: Path) -> None:
    # A full collection then no longer walks the start-up objects (issue 12:
    # one held the FastAGI loop 36 ms). Unfrozen after, for the other tests.
    gc.unfreeze()
    stop = asyncio.Event()
    async with AmiTestServer(secret="s") as ami:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'serve.db'}",
            metrics_port=0,
            ami=AmiSettings(port=ami.port, secret="s"),
            api=ApiSettings(port=free_port()),
            ivr=IvrSettings(port=free_port()),
        )
        running = asyncio.create_task(serve(settings, stop))
        try:
            async with asyncio.timeout(30):
                while not gc.get_freeze_count():
                    assert not running.done(), running
                    await asyncio.sleep(0.02)
            frozen = gc.get_freeze_count()
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=30)
            gc.unfreeze()
    assert frozen > 10_000
