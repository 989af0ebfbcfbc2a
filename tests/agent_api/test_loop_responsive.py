"""The loop the panel shares with the AMI bridge stays responsive while the API
is hammered: concurrent requests (calls of the day, users, agent state, agent
controls) and bodies of 150 MB. Measured in the server's loop: the lag of a
10 ms ticker stays under 50 ms (p95; see the bound below) and a live AMI
connection's Pings are all answered (no reconnect).

The load comes from another process, so that the client's own work does not
count as the server's lag.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import pytest

from crm_bridge.organisms import Role
from telephony.ami.actions import Ping
from telephony.ami.connection import AmiConnection
from telephony.ami.testing import AmiTestServer
from tests.agent_api.conftest import ORIGIN, PASSWORD, Panel, served

pytestmark = pytest.mark.postgres

LOAD_SECONDS = 4.0
HEAVY_CLIENTS = 8  # each: calls of the day, users, agent state, pause and unpause, in a loop
OVERSIZED_CLIENTS = 2  # each: 150 MB bodies, one after another

# The load generator: threads of plain sockets and urllib, no event loop.
LOAD = r"""
import http.client, json, socket, sys, threading, time
host, port = sys.argv[1], int(sys.argv[2])
supervisor, agent_id, password, origin = sys.argv[3:7]
seconds = float(sys.argv[7])
stop = time.monotonic() + seconds
counts = {"ok": 0, "413": 0, "other": 0, "errors": 0}
lock = threading.Lock()

def count(key):
    with lock:
        counts[key] += 1

def session():
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("POST", "/api/session", json.dumps({"username": supervisor, "password": password}),
              {"Content-Type": "application/json", "Origin": origin})
    r = c.getresponse(); body = json.loads(r.read())
    cookies = "; ".join(h.split(";")[0] for k, h in r.getheaders() if k.lower() == "set-cookie")
    return c, {"Cookie": cookies, "X-CSRF-Token": body["csrf_token"], "Origin": origin,
               "Content-Type": "application/json"}

def heavy():
    c, headers = session()
    while time.monotonic() < stop:
        for method, path, body in (
            ("GET", "/api/calls/today", None),
            ("GET", "/api/users", None),
            ("GET", f"/api/agents/{agent_id}/state", None),
            ("POST", f"/api/agents/{agent_id}/pause", json.dumps({"reason": "almuerzo"})),
            ("DELETE", f"/api/agents/{agent_id}/pause", None),
        ):
            try:
                c.request(method, path, body, headers); r = c.getresponse(); r.read()
                count("ok" if r.status < 500 else "other")
            except Exception:
                count("errors"); c, headers = session()

def oversized():
    chunk = b"x" * (1024 * 1024)
    while time.monotonic() < stop:
        s = socket.create_connection((host, port))
        try:
            s.sendall(b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 150000000\r\n\r\n")
            for _ in range(150):
                s.sendall(chunk)
        except OSError:
            pass
        try:
            s.settimeout(5)
            answer = s.recv(200)
            count("413" if b" 413 " in answer else "other")
        except OSError:
            count("errors")
        finally:
            s.close()

threads = [threading.Thread(target=heavy) for _ in range(int(sys.argv[8]))]
threads += [threading.Thread(target=oversized) for _ in range(int(sys.argv[9]))]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(counts))
"""


async def test_the_loop_stays_responsive_under_load(panel: Panel) -> None:
    lags: list[float] = []
    pings: list[float] = []
    stopping = asyncio.Event()

    async def ticker() -> None:
        while not stopping.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    async def pinger(connection: AmiConnection) -> None:
        while not stopping.is_set():
            before = time.perf_counter()
            await connection.send(Ping(), reply_timeout=2.0)
            pings.append(time.perf_counter() - before)
            await asyncio.sleep(0.05)

    agent = panel.usernames[Role.EJECUTIVO]
    async with AmiTestServer() as ami, served(panel.app) as address:
        connection = AmiConnection(
            host="127.0.0.1",
            port=ami.port,
            username="atiende",
            secret="lab-secret",
            system_name="lab",
            ping_interval=0.2,
            ping_timeout=0.5,
            reconnect_min=0.05,
            reconnect_max=0.1,
            queue_size=10_000,
            connect_timeout=2.0,
        )
        await connection.start()
        try:
            async with asyncio.timeout(10):
                while not connection.connected:
                    await asyncio.sleep(0.01)
            reconnects = connection.reconnects
            host, port = address.split(":")
            load = await asyncio.create_subprocess_exec(
                # The load is the test's, not the server's: on a shared
                # machine the scheduler should not bill its CPU to the loop.
                "nice",
                "-n",
                "10",
                sys.executable,
                "-c",
                LOAD,
                host,
                port,
                panel.usernames[Role.SUPERVISOR],
                str(panel.users[agent]),
                PASSWORD,
                ORIGIN,
                str(LOAD_SECONDS),
                str(HEAVY_CLIENTS),
                str(OVERSIZED_CLIENTS),
                stdout=subprocess.PIPE,
            )
            tasks = [asyncio.create_task(ticker()), asyncio.create_task(pinger(connection))]
            out, _ = await asyncio.wait_for(load.communicate(), timeout=120)
            stopping.set()
            await asyncio.gather(*tasks)
            assert connection.connected and connection.reconnects == reconnects
        finally:
            await connection.stop()
    counts = out.decode().strip()
    lags.sort()
    p99 = lags[int(len(lags) * 0.99)]
    print(
        f"load {counts}; loop lag max {lags[-1] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"p95 {lags[int(len(lags) * 0.95)] * 1000:.1f} ms, "
        f"median {statistics.median(lags) * 1000:.1f} ms over {len(lags)} ticks; "
        f"{len(pings)} pings, slowest {max(pings) * 1000:.1f} ms"
    )
    assert '"413": 0' not in counts and '"ok": 0' not in counts, counts
    assert len(pings) > LOAD_SECONDS * 5
    # p95, not the maximum: on a shared 2-core CI machine the OS alone
    # deschedules an idle loop for 20 ms now and then, and under this load
    # (server threads, PostgreSQL and the load generator on the same cores)
    # single ticks of 60-160 ms were seen with nothing blocking the loop.
    # A blocked loop (a 150 MB body parsed on it froze it 1.9 s) fails both.
    p95 = lags[int(len(lags) * 0.95)]
    assert p95 < 0.050, f"loop lag p95 {p95 * 1000:.0f} ms"
    assert lags[-1] < 0.5, f"loop lag max {lags[-1] * 1000:.0f} ms"
    # Every Ping answered well within the bridge's ping timeout.
    assert max(pings) < 0.5
