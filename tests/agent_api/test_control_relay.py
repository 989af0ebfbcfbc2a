"""Agent controls from a standby, carried out on the leader's session, over real Redis."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from agent_api.control_relay import ControlRelay
from agent_api.controls import AmiAgentControls
from agent_api.exceptions import ControlRefused, TelephonyUnavailable
from telephony.ami.actions import AmiAction, QueuePause
from telephony.ami.exceptions import AmiActionFailed, AmiTimeout
from telephony.ami.stream import Headers
from tests.support.redis import redis_test_url

pytestmark = pytest.mark.redis


class Asterisk:
    """The leader's AMI session: records what it is given, refuses on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []
        self.refuse: str | None = None

    async def send(self, action: AmiAction) -> Headers:
        self.sent.append(tuple(f"{k}: {v}" for k, v in action.to_headers()))
        if self.refuse is not None:
            raise AmiActionFailed(action.name, self.refuse)
        return {"Response": "Success", "Message": "Interface paused successfully"}


@pytest.fixture
async def clients() -> AsyncIterator[list[Redis]]:
    made = [Redis.from_url(redis_test_url(), socket_connect_timeout=1) for _ in range(3)]
    yield made
    for client in made:
        await client.aclose()


async def test_a_standbys_pause_is_sent_by_the_leader_and_its_refusal_comes_back(
    clients: list[Redis],
) -> None:
    system = f"controls-{os.getpid()}"
    leader, standby = ControlRelay(clients[0], system), ControlRelay(clients[1], system)
    asterisk = Asterisk()
    try:
        controls = AmiAgentControls(standby.send)
        # Nobody leads: nothing sent, and the agent is told so.
        with pytest.raises(TelephonyUnavailable):
            await controls.pause("PJSIP/4001", "Baño")
        await leader.serve(asterisk.send)
        await asyncio.wait_for(leader.subscribed.wait(), 5)

        pause = QueuePause(interface="PJSIP/4001", paused=True, reason="Baño")
        assert (await standby.send(pause))["Response"] == "Success"
        assert asterisk.sent == [tuple(f"{k}: {v}" for k, v in pause.to_headers())]

        asterisk.refuse = "Interface not found"
        with pytest.raises(ControlRefused) as refused:
            await controls.pause("PJSIP/4009", "Baño")
        assert "no" in refused.value.detalle.lower()
        assert len(asterisk.sent) == 2
    finally:
        await leader.close()


async def test_the_leader_carries_out_only_agent_controls(clients: list[Redis]) -> None:
    system = f"controls-only-{os.getpid()}"
    leader = ControlRelay(clients[0], system)
    asterisk = Asterisk()
    try:
        await leader.serve(asterisk.send)
        await asyncio.wait_for(leader.subscribed.wait(), 5)
        reply = "atiende:agent-control-reply:crafted"
        crafted = [
            {"reply": reply, "name": "Command", "action_id": "x1",
             "headers": [["Command", "core stop now"]]},
            {"reply": reply, "name": "QueuePause", "action_id": "x2",
             "headers": [["Interface", "PJSIP/4001\r\nAction: Command"]]},
            {"reply": "somebody:else", "name": "QueuePause", "action_id": "x3", "headers": []},
        ]  # fmt: skip
        for request in crafted:
            assert await clients[2].publish(leader.channel, json.dumps(request)) == 1
        await clients[2].publish(leader.channel, "not json")
        await asyncio.sleep(0.5)
        assert asterisk.sent == []
        assert await clients[2].exists(reply) == 0
        # No reply in time: a timeout, not a hang.
        standby = ControlRelay(clients[1], system, reply_timeout=0.5)
        slow = asyncio.Event()

        async def never(action: AmiAction) -> Headers:
            await slow.wait()
            return {}

        await leader.close()
        await leader.serve(never)
        await asyncio.wait_for(leader.subscribed.wait(), 5)
        with pytest.raises(AmiTimeout):
            await standby.send(QueuePause(interface="PJSIP/4001", paused=False))
    finally:
        await leader.close()
