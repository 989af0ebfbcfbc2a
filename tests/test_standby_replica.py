"""An agent whose browser is on a standby replica is served as on the leader.

Two `atiende serve` processes share PostgreSQL and Redis; the first takes the
bridge lease and connects to Asterisk (AmiTestServer replaying answered.ami,
after which Ana Gómez is a free member of the queue consultas), the second
stands by and never connects. On the standby Ana sees her state as the
leader's tracker has it (and her supervisor sees her on the floor), her pause
reaches Asterisk (on the leader's AMI session: still one connection), and she
is offered the callback waiting in her queue, whose "Llamar ahora" is an
Originate that reaches Asterisk too.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm_bridge.callbacks import CallbackQueue
from crm_bridge.db import make_engine
from telephony.ami.testing import AmiTestServer
from telephony.domain import CallKey
from tests import test_api_replicas as replicas
from tests.support.ports import free_port
from tests.support.web import session_cookie
from tests.test_api_replicas import (
    INTERFACE,
    PASSWORD,
    _cli,
    _serve,
    _stop,
    _wait_http,
    gate,
    migrate_with_ana,
    replicas_env,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# The two-replica set-up's fixtures: a database of its own, the test Redis.
own_db, redis_url = replicas.own_db, replicas.redis_url


async def _state(client: httpx.AsyncClient, user_id: int) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/agents/{user_id}/state")
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


async def test_an_agent_on_the_standby_sees_her_state_pauses_and_is_offered_a_callback(
    recordings: Path, own_db: str, redis_url: str, tmp_path: Path
) -> None:
    capture = (recordings / "answered.ami").read_bytes()
    system = f"standby-{uuid.uuid4().hex[:6]}"
    ami_port = free_port()
    ports = [free_port(), free_port()]
    base_env = replicas_env(own_db, redis_url, system, ami_port)
    await migrate_with_ana(base_env, tmp_path)
    await _cli(
        {**base_env, "ATIENDE_USER_PASSWORD": PASSWORD}, tmp_path,
        "user", "add", "sofia", "--role", "supervisor", "--name", "Sofía Pérez",
    )  # fmt: skip
    replicas = []
    async with (
        AmiTestServer(capture, secret="replica-secret") as server,
        gate(ami_port, server.port),
    ):
        try:
            # The first replica leads (it is connected before the second starts).
            for port in ports:
                env = {
                    **base_env,
                    "ATIENDE_API__PORT": str(port),
                    "ATIENDE_API__ALLOWED_ORIGINS": json.dumps([f"http://127.0.0.1:{port}"]),
                }
                replicas.append(await _serve(env, tmp_path))
                async with asyncio.timeout(120):
                    await _wait_http(f"http://127.0.0.1:{port}", replicas[-1])
                    while server.connections < 1:
                        await asyncio.sleep(0.05)
            async with asyncio.timeout(60):
                await server.replayed()
            leader, standby = (f"http://127.0.0.1:{port}" for port in ports)
            cookie, csrf = await session_cookie(standby, "ana", PASSWORD)
            headers = {"Cookie": cookie, "X-CSRF-Token": csrf}
            leader_cookie, _ = await session_cookie(leader, "ana", PASSWORD)
            async with (
                httpx.AsyncClient(base_url=standby, headers=headers) as client,
                httpx.AsyncClient(base_url=leader, headers={"Cookie": leader_cookie}) as led,
            ):
                user_id = (await client.get("/api/session")).json()["user_id"]

                # Her state: the leader's tracker's, relayed.
                async with asyncio.timeout(30):
                    while (on_leader := await _state(led, user_id)) != (
                        on_standby := await _state(client, user_id)
                    ) or not on_standby:
                        await asyncio.sleep(0.2)
                (row,) = on_standby
                assert (row["interface"], row["member_name"]) == (INTERFACE, "Ana Gómez")
                assert (row["state"], row["queues"]) == ("available", ["consultas"])
                assert on_leader == on_standby

                # The supervisor on the standby sees her on the floor.
                sofia, _ = await session_cookie(standby, "sofia", PASSWORD)
                floor = await client.get("/supervision", headers={"Cookie": sofia})
                assert floor.status_code == 200, floor.text
                assert f'<tr data-interface="{INTERFACE}">' in floor.text, floor.text

                # Her pause reaches Asterisk on the leader's session.
                pauses = len(server.actions("QueuePause"))
                answer = await client.post(f"/api/agents/{user_id}/pause", json={"reason": "Baño"})
                assert answer.status_code == 202, answer.text
                sent = server.actions("QueuePause")[pauses:]
                assert [(a["Interface"], a["Paused"], a["Reason"]) for a in sent] == [
                    (INTERFACE, "true", "Baño")
                ]

                # The callback waiting in her queue is offered to her.
                engine = make_engine(own_db)
                try:
                    callback = await asyncio.to_thread(
                        CallbackQueue(engine).schedule,
                        call=CallKey(system, "1700000000.42"),
                        number="099 123 456",
                        queue="consultas",
                        reason="Consulta por su trámite",
                    )
                finally:
                    engine.dispose()
                offer = await client.get("/agente/devolucion", headers={"HX-Request": "true"})
                assert offer.status_code == 200, offer.text
                assert "Consulta por su trámite" in offer.text, offer.text
                assert f"/agente/devolucion/{callback.id}/aceptar" in offer.text

                # "Llamar ahora": the Originate reaches Asterisk on the leader's session.
                originates = len(server.actions("Originate"))
                taken = await client.post(
                    f"/agente/devolucion/{callback.id}/aceptar", headers={"HX-Request": "true"}
                )
                assert taken.status_code == 200, taken.text
                assert "Llamando" in taken.text, taken.text
                (originate,) = server.actions("Originate")[originates:]
                assert originate["Channel"] == INTERFACE
            # Still one AMI session: the standby never connected.
            assert server.connections == 1
        finally:
            errors = await _stop(replicas)
    for process, err in zip(replicas, errors, strict=True):
        assert process.returncode == 0, err
