"""Agent controls as AMI actions on a real AmiConnection to the test AMI server,
and through the API with Asterisk refusing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient

from agent_api.controls import AmiAgentControls
from agent_api.exceptions import (
    ControlOutcomeUnknown,
    ControlRefused,
    InvalidInput,
    TelephonyTimeout,
    TelephonyUnavailable,
)
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from crm_bridge.organisms import Role
from telephony.agents import AgentSnapshot
from telephony.ami.connection import AmiConnection
from telephony.ami.testing import AmiTestServer
from telephony.domain import AgentState
from tests.agent_api.conftest import ORIGIN, Panel, fast_passwords, log_in

SECRET = "controls-secret"


@pytest.fixture
async def ami() -> AsyncIterator[tuple[AmiTestServer, AmiConnection]]:
    async with AmiTestServer(b"", secret=SECRET) as server:
        connection = AmiConnection(
            host="127.0.0.1",
            port=server.port,
            username="atiende",
            secret=SECRET,
            system_name="pbx-controls",
            reconnect_min=0.05,
            reconnect_max=0.2,
        )
        await connection.start()
        for _ in range(500):
            if connection.connected:
                break
            await asyncio.sleep(0.01)
        try:
            yield server, connection
        finally:
            await connection.stop()


async def test_actions_reach_asterisk_as_validated_headers(
    ami: tuple[AmiTestServer, AmiConnection],
) -> None:
    server, connection = ami
    controls = AmiAgentControls(connection.send, originate_context="from-agents")
    await controls.pause("Local/4001@agents/n", "Almuerzo")
    await controls.unpause("Local/4001@agents/n")
    await controls.log_in("PJSIP/4001", "consultas", "Ana Gómez")
    await controls.log_out("PJSIP/4001", "consultas")
    await controls.call("PJSIP/4001", "099 123-456", "Ana Gómez")
    pause, unpause = server.actions("QueuePause")
    assert (pause["Interface"], pause["Paused"], pause["Reason"]) == (
        "Local/4001@agents/n",
        "true",
        "Almuerzo",
    )
    assert unpause["Paused"] == "false" and "Reason" not in unpause
    add = server.actions("QueueAdd")[0]
    assert (add["Queue"], add["Interface"], add["MemberName"]) == (
        "consultas",
        "PJSIP/4001",
        "Ana Gómez",
    )
    assert server.actions("QueueRemove")[0]["Queue"] == "consultas"
    originate = server.actions("Originate")[0]
    assert (originate["Channel"], originate["Context"], originate["Exten"]) == (
        "PJSIP/4001",
        "from-agents",
        "099123456",
    )


async def test_refusals_and_bad_values_become_clear_errors(
    ami: tuple[AmiTestServer, AmiConnection],
) -> None:
    server, connection = ami
    controls = AmiAgentControls(connection.send)
    server.fail("QueuePause", "Interface not found")
    with pytest.raises(ControlRefused) as refused:
        await controls.pause("PJSIP/4001", "Almuerzo")
    # Asterisk's English is translated for the agent.
    assert refused.value.detalle == "El teléfono no está en ninguna cola de la central."
    with pytest.raises(InvalidInput):
        await controls.pause("PJSIP/4001", "Almuerzo\r\nAction: Originate")
    with pytest.raises(InvalidInput):
        await controls.call("PJSIP/4001", "1234;Hangup", "x")
    assert len(server.actions("Originate")) == 0


async def test_no_session_means_telephony_unavailable() -> None:
    connection = AmiConnection(
        host="127.0.0.1", port=9, username="atiende", secret="x", system_name="nowhere"
    )
    with pytest.raises(TelephonyUnavailable) as err:
        await AmiAgentControls(connection.send).unpause("PJSIP/4001")
    assert "central" in err.value.detalle


@pytest.mark.postgres
def test_api_reports_a_refusal_in_spanish_and_changes_no_state(panel: Panel) -> None:
    agent = panel.client(panel.usernames[Role.EJECUTIVO])
    me = panel.users[panel.usernames[Role.EJECUTIVO]]
    panel.controls.refuse = ControlRefused(
        "QueuePause refused", detalle="La central rechazó la acción: Interface not found"
    )
    answer = agent.post(f"/api/agents/{me}/pause", json={"reason": "Almuerzo"})
    assert answer.status_code == 409
    # Every interface tried; each refusal named with its interface.
    iface = panel.interfaces[panel.usernames[Role.EJECUTIVO]]
    assert answer.json() == {
        "detalle": f"{iface}: La central rechazó la acción: Interface not found"
    }
    panel.controls.refuse = None
    assert agent.post(f"/api/agents/{me}/pause", json={"reason": "Inventado"}).status_code == 422
    reasons = agent.get("/api/pause-reasons").json()
    assert "Almuerzo" in reasons
    ok = agent.post(f"/api/agents/{me}/pause", json={"reason": "Almuerzo"})
    assert ok.status_code == 202 and ok.json()["estado"] == "solicitado"


async def test_a_dropped_session_after_queue_add_is_an_unknown_outcome(
    ami: tuple[AmiTestServer, AmiConnection],
) -> None:
    server, connection = ami
    controls = AmiAgentControls(connection.send)
    server.swallow("QueueAdd")
    pending = asyncio.create_task(controls.log_in("PJSIP/4001", "consultas", "Ana"))
    await asyncio.wait_for(server.wait_for_action("QueueAdd"), 5)
    server.disconnect()
    with pytest.raises(ControlOutcomeUnknown) as unknown:
        await asyncio.wait_for(pending, 10)
    assert "Verifique su estado" in unknown.value.detalle
    # Never sent twice behind the agent's back.
    await asyncio.sleep(0.3)
    assert len(server.actions("QueueAdd")) == 1


async def test_an_unanswered_action_times_out_clearly() -> None:
    async with AmiTestServer(b"", secret=SECRET) as server:
        connection = AmiConnection(
            host="127.0.0.1",
            port=server.port,
            username="atiende",
            secret=SECRET,
            system_name="pbx-slow",
            action_timeout=0.3,
        )
        await connection.start()
        try:
            for _ in range(500):
                if connection.connected:
                    break
                await asyncio.sleep(0.01)
            server.swallow("QueuePause")
            with pytest.raises(TelephonyTimeout):
                await AmiAgentControls(connection.send).unpause("PJSIP/4001")
        finally:
            await connection.stop()


class BrokenControls(RecordingControls):
    async def unpause(self, interface: str) -> None:
        raise RuntimeError("bug with caller 099123456")


@pytest.mark.postgres
def test_an_unexpected_error_is_a_spanish_500_without_details(panel: Panel) -> None:
    panel.app.state.services.controls = BrokenControls()
    client = TestClient(panel.app, headers={"origin": ORIGIN}, raise_server_exceptions=False)
    log_in(client, panel.usernames[Role.EJECUTIVO])
    me = panel.users[panel.usernames[Role.EJECUTIVO]]
    answer = client.delete(f"/api/agents/{me}/pause")
    assert answer.status_code == 500
    assert answer.json() == {"detalle": "Ocurrió un error inesperado. Intente nuevamente."}
    assert "099" not in answer.text


@pytest.mark.postgres
def test_pause_goes_to_the_interfaces_asterisk_has_in_queues(panel: Panel) -> None:
    """Demo agents have PJSIP/x and Local/x@agents/n; only one is a queue
    member. Pausing the other would be refused on every click."""
    name = panel.usernames[Role.EJECUTIVO]
    me, desk = panel.users[name], panel.interfaces[name]
    soft = f"Local/{desk.removeprefix('PJSIP/')}@agents/n"
    UserStore(panel.engine, fast_passwords()).set_interfaces(me, [desk, soft])
    agent = panel.client(name)
    # QueueStatus lists none yet: every configured interface is tried.
    assert agent.post(f"/api/agents/{me}/pause", json={"reason": "Almuerzo"}).status_code == 202
    assert {c[1] for c in panel.controls.calls if c[0] == "pause"} == {desk, soft}
    panel.controls.calls.clear()
    panel.agents.append(
        AgentSnapshot(desk, "Ejecutivo Prueba", ("consultas",), AgentState.AVAILABLE, 0.0, None)
    )
    answer = agent.post(f"/api/agents/{me}/pause", json={"reason": "Almuerzo"})
    assert answer.status_code == 202 and "Falló" not in answer.json()["detalle"]
    assert agent.delete(f"/api/agents/{me}/pause").status_code == 202
    assert [c[:2] for c in panel.controls.calls] == [("pause", desk), ("unpause", desk)]
