"""Two API replicas both deliver pops.

Two `atiende serve` processes share PostgreSQL and Redis; only the one holding
the bridge lease connects to Asterisk (here AmiTestServer replaying
answered.ami). Ana Gómez is logged in on both replicas, one browser socket on
each: both sockets get the screen-pop of the call, as Asterisk's queue_log
says it reached her (caller 099100001, queue consultas).

The same two processes count a guess at a ticket's document on
/seguimiento together, and a restarted one finds the count where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from telephony.ami.testing import AmiTestServer
from telephony.replay import replay_records
from tests.support.ports import free_port
from tests.support.postgres import fresh_database
from tests.support.queue_log import parse_queue_log
from tests.support.redis import redis_test_url
from tests.support.web import session_cookie

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

INTERFACE = "Local/4001@agents/n"
PASSWORD = "contraseña-de-ana-1"


@pytest.fixture
def redis_url() -> str:
    # Keys and channels carry the test's own system name: nothing to flush.
    return redis_test_url()


@pytest.fixture
def own_db(postgres_url: str) -> Iterator[str]:
    """A database of its own: the user's interface is unique per database."""
    with fresh_database(postgres_url, "replicas") as db:
        yield db


def with_ivr_path(capture: bytes, path: str) -> bytes:
    """The capture with ATIENDE_IVR_PATH set right after ATIENDE_QUEUE, as the IVR does."""
    out: list[bytes] = []
    for message in capture.split(b"\r\n\r\n"):
        out.append(message)
        if b"Event: VarSet\r\n" in message and b"Variable: ATIENDE_QUEUE\r\n" in message:
            head = message.split(b"Variable: ", 1)[0]
            out.append(head + b"Variable: ATIENDE_IVR_PATH\r\nValue: " + path.encode())
    return b"\r\n\r\n".join(out)


@contextlib.asynccontextmanager
async def gate(listen_port: int, target_port: int) -> AsyncIterator[None]:
    """Asterisk "comes up" only now: a TCP relay to the test server, so the
    replay starts once both browsers are connected."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        for task in (pipe(reader, up_writer), pipe(up_reader, writer)):
            running = asyncio.create_task(task)
            tasks.add(running)
            running.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def _wait_http(base: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            if process.returncode is not None:
                raise AssertionError("a replica exited while starting")
            try:
                await client.get("/api/session")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)


async def _log_in(base: str, username: str) -> str:
    cookie, _csrf = await session_cookie(base, username, PASSWORD)
    return cookie


async def _open_socket(port: int, cookie: str) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{port}/ws",
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws


async def _pops(ws: ClientConnection) -> list[dict[str, Any]]:
    """Frames until the call's end reaches this socket; the pops among them."""
    pops: list[dict[str, Any]] = []
    while True:
        frame: dict[str, Any] = json.loads(await ws.recv())
        if frame["type"] == "pop":
            pops.append(frame)
        if frame["type"] == "call.ended":
            return pops


async def _serve(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atiende.cli", "serve",
        env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _cli(env: dict[str, str], cwd: Path, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atiende.cli", *args,
        env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()


async def _stop(replicas: list[asyncio.subprocess.Process]) -> list[str]:
    """SIGTERM to every replica still running; what each wrote to stderr."""
    for process in replicas:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    errors = []
    for process in replicas:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        errors.append(stderr.decode())
    return errors


async def migrate_with_ana(env: dict[str, str], cwd: Path) -> None:
    """The shared database migrated, with Ana's account on INTERFACE."""
    await _cli(env, cwd, "migrate")
    await _cli(
        {**env, "ATIENDE_USER_PASSWORD": PASSWORD}, cwd,
        "user", "add", "ana", "--role", "ejecutivo", "--name", "Ana Gómez",
        "--interface", INTERFACE,
    )  # fmt: skip


def replicas_env(database: str, redis_url: str, system: str, ami_port: int) -> dict[str, str]:
    """The environment the replicas of one Asterisk share (Ana's account too)."""
    return {
        **os.environ,
        "ATIENDE_DATABASE_URL": database,
        "ATIENDE_REDIS_URL": redis_url,
        "ATIENDE_BRIDGE_LEASE_SECONDS": "3",
        "ATIENDE_AMI__PORT": str(ami_port),
        "ATIENDE_AMI__SECRET": "replica-secret",
        "ATIENDE_AMI__SYSTEM_NAME": system,
        "ATIENDE_AMI__RECONNECT_MIN": "0.05",
        "ATIENDE_AMI__RECONNECT_MAX": "0.2",
        "ATIENDE_IVR__ENABLED": "false",
        "ATIENDE_METRICS_PORT": "0",
        "ATIENDE_API__SECRET_KEY": "replicas-share-this-secret-key-0123456789",
    }


async def test_two_api_replicas_both_deliver_pops(
    recordings: Path, own_db: str, redis_url: str, tmp_path: Path
) -> None:
    # What Asterisk logged: the call that reached Ana's interface.
    queue_log = parse_queue_log(recordings / "answered.queue_log").calls
    assert len(queue_log) == 1
    ((linkedid, call),) = queue_log.items()
    assert (call.caller_number, call.legs[0].queue) == ("099100001", "consultas")
    # The lab's stub IVR set only ATIENDE_QUEUE; Atiende's IVR sets its path too
    # (keys pressed are never taken for one).
    capture = with_ivr_path((recordings / "answered.ami").read_bytes(), "consultas")
    (record,) = replay_records(capture)
    ivr_path = record.ivr_path

    system = f"api-replicas-{uuid.uuid4().hex[:6]}"
    ami_port = free_port()
    ports = [free_port(), free_port()]
    base_env = replicas_env(own_db, redis_url, system, ami_port)
    await migrate_with_ana(base_env, tmp_path)

    replicas = []
    for port in ports:
        env = {
            **base_env,
            "ATIENDE_API__PORT": str(port),
            "ATIENDE_API__ALLOWED_ORIGINS": json.dumps([f"http://127.0.0.1:{port}"]),
        }
        replicas.append(await _serve(env, tmp_path))
    sockets: list[ClientConnection] = []
    try:
        async with asyncio.timeout(60):
            for port, process in zip(ports, replicas, strict=True):
                await _wait_http(f"http://127.0.0.1:{port}", process)
            for port in ports:
                cookie = await _log_in(f"http://127.0.0.1:{port}", "ana")
                sockets.append(await _open_socket(port, cookie))

        async with AmiTestServer(capture, secret="replica-secret") as server:
            async with gate(ami_port, server.port):
                async with asyncio.timeout(60):
                    pops = await asyncio.gather(*(_pops(ws) for ws in sockets))
                    await server.replayed()
            # One bridge for the two replicas: the standby never connected.
            assert server.connections == 1
    finally:
        for ws in sockets:
            await ws.close()
        errors = await _stop(replicas)
    for process, err in zip(replicas, errors, strict=True):
        assert process.returncode == 0, err

    leader_pops, standby_pops = pops
    for replica_pops in pops:
        assert len(replica_pops) == 1, replica_pops
        (pop,) = replica_pops
        assert pop["call"] == {"system": system, "linkedid": linkedid}
        assert pop["caller"]["number"] == call.caller_number
        assert pop["queue"] == call.legs[0].queue
        assert pop["interface"] == INTERFACE
        # The IVR path the leader's tracker saw, though no standby tracker knows the call.
        assert pop["ivr"]["path"] == list(ivr_path) != []
    # The same pop on both replicas.
    assert leader_pops == standby_pops


async def _track(base: str, number: str, identifier: str) -> int:
    """One lookup on /seguimiento as a browser makes it: the form, then its post."""
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/seguimiento")
        found = re.search(r'name="token" value="([^"]+)"', page.text)
        assert found is not None, page.text
        data = {"token": found.group(1), "numero": number, "identificacion": identifier}
        answer = await client.post("/seguimiento", data=data)
        return answer.status_code


async def test_replicas_share_the_tracking_limit_and_a_restart_keeps_it(
    own_db: str, redis_url: str, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    base_env = {
        **os.environ,
        "ATIENDE_DATABASE_URL": own_db,
        "ATIENDE_REDIS_URL": redis_url,
        "ATIENDE_AMI__PORT": str(free_port()),  # no Asterisk: the pages need none
        "ATIENDE_AMI__SYSTEM_NAME": f"public-limits-{uuid.uuid4().hex[:6]}",
        "ATIENDE_IVR__ENABLED": "false",
        "ATIENDE_METRICS_PORT": "0",
        # A secret of this test's own: the replicas share it, so they share the
        # counts' keys, which no other test's panel ever meets.
        "ATIENDE_API__SECRET_KEY": f"public-limits-{uuid.uuid4().hex}-0123456789",
    }
    await _cli(base_env, tmp_path, "migrate")
    envs = [{**base_env, "ATIENDE_API__PORT": str(port)} for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    replicas = [await _serve(env, tmp_path) for env in envs]
    # A well-formed number nobody opened: every lookup counts, and is a 404.
    number, wrong = f"2026-{uuid.uuid4().int % 900000 + 100000}", "1.111.111-1"
    try:
        async with asyncio.timeout(240):  # three serve starts on a loaded 2-core machine
            for base, process in zip(bases, replicas, strict=True):
                await _wait_http(base, process)
            # 3 wrong lookups on one replica, then a restart of it.
            for _ in range(3):
                assert await _track(bases[0], number, wrong) == 404
            replicas[0].send_signal(signal.SIGTERM)
            _, err = await replicas[0].communicate()
            assert replicas[0].returncode == 0, err.decode()
            replicas[0] = await _serve(envs[0], tmp_path)
            await _wait_http(bases[0], replicas[0])
            # The per-(address, number) limit is 5: 2 more, on either replica, then none.
            assert await _track(bases[1], number, wrong) == 404
            assert await _track(bases[0], number, wrong) == 404
            assert await _track(bases[1], number, wrong) == 429
            assert await _track(bases[0], number, wrong) == 429
    finally:
        errors = await _stop(replicas)
    for process, err in zip(replicas, errors, strict=True):
        assert process.returncode == 0, err
