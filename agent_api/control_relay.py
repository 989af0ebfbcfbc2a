"""Agent controls from a standby replica, carried out by the leader's AMI session.

Only the replica holding the bridge lease has an AMI session; a standby's
panel still takes an agent's pause, queue log-in or call. Rather than a
second AMI login per replica (another session Asterisk must permit, and one
more thing that can be down), the standby hands the action to the leader
through Redis: it publishes the action's headers on one channel per Asterisk
system, to which only the leader is subscribed (`serve`, started when it
takes the lease), and waits for the reply on a list of its own. The leader
sends it on its session and pushes back the reply or the error, which the
standby raises as its own connection would have: the panel's messages are
the same on every replica.

Nobody subscribed (no leader right now): AmiNotConnected, nothing was sent.
No reply in time: AmiTimeout. Only the agent controls' actions are carried,
and no header may hold a line break (anyone who can write to the channel
could otherwise make the leader send any AMI action).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agent_api.fanout import listen_forever, stop_tasks
from telephony.ami.actions import AmiAction, Header
from telephony.ami.exceptions import (
    ActionOutcomeUnknown,
    AmiActionFailed,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
)
from telephony.ami.stream import Headers

log = logging.getLogger(__name__)

# What AmiAgentControls sends (pause, queues, click-to-call, callbacks, spying).
CONTROL_ACTIONS = frozenset({"QueuePause", "QueueAdd", "QueueRemove", "Originate"})
REPLY_TTL_SECONDS = 60
_BREAKS = frozenset("\r\n")

Send = Callable[[AmiAction], Awaitable[Headers]]


@dataclass(frozen=True, kw_only=True)
class _Forwarded(AmiAction):
    """An action another replica built, sent with the headers it listed."""

    headers: tuple[Header, ...] = ()

    def fields(self) -> list[Header]:
        return list(self.headers)


@functools.cache
def _forwarded_class(name: str, idempotent: bool) -> type[_Forwarded]:
    # name and idempotent are class-level in AmiAction: one subclass per pair.
    return type(f"Forwarded{name}", (_Forwarded,), {"name": name, "idempotent": idempotent})


def _action(request: dict[str, Any]) -> AmiAction:
    """The action a request carries; ValueError if it is not an agent control."""
    name, headers = request.get("name"), request.get("headers")
    if name not in CONTROL_ACTIONS or not isinstance(headers, list):
        raise ValueError(f"not an agent control: {name!r}")
    pairs: list[Header] = []
    for pair in headers:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(
                isinstance(part, str) and "\r" not in part and "\n" not in part for part in pair
            )
        ):
            raise ValueError("malformed header")
        pairs.append((pair[0], pair[1]))
    cls = _forwarded_class(str(name), bool(request.get("idempotent")))
    return cls(action_id=str(request.get("action_id")), headers=tuple(pairs))


def _error(err: AmiError) -> dict[str, str]:
    if isinstance(err, AmiActionFailed):
        return {"error": "failed", "message": err.message}
    if isinstance(err, ActionOutcomeUnknown):
        return {"error": "unknown"}
    if isinstance(err, AmiTimeout):
        return {"error": "timeout", "message": str(err)}
    return {"error": "not_connected", "message": str(err)}


class ControlRelay:
    """`send` on a standby; `serve` on the leader."""

    def __init__(
        self, redis: Redis, system: str, *, reply_timeout: float = 10.0, retry: float = 0.5
    ) -> None:
        self._redis = redis
        self.channel = f"atiende:agent-controls:{system}"
        self._timeout = reply_timeout
        self._retry = retry
        self._tasks: list[asyncio.Task[None]] = []
        self._handling: set[asyncio.Task[None]] = set()
        self.subscribed = asyncio.Event()

    # ------------------------------------------------------------- a standby

    async def send(self, action: AmiAction) -> Headers:
        reply_key = f"atiende:agent-control-reply:{uuid.uuid4().hex}"
        request = {
            "reply": reply_key,
            "name": action.name,
            "idempotent": action.idempotent,
            "action_id": action.action_id,
            "headers": [list(pair) for pair in action.fields()],
        }
        try:
            listeners = await self._redis.publish(self.channel, json.dumps(request))
        except (RedisError, OSError) as err:
            raise AmiNotConnected(f"Redis unreachable ({err}); {action.name} not sent") from err
        if not listeners:
            raise AmiNotConnected(f"no replica holds the AMI session; {action.name} not sent")
        try:
            answer = await self._redis.blpop([reply_key], timeout=self._timeout)
        except (RedisError, OSError) as err:
            raise ActionOutcomeUnknown(action.name, action.action_id) from err
        if answer is None:
            raise AmiTimeout(f"no reply from the leader to {action.name} in {self._timeout:g}s")
        return _reply(action, answer[1])

    # ------------------------------------------------------------- the leader

    async def serve(self, send: Send) -> None:
        """Carry out, on `send`, the controls the other replicas hand over."""
        self._tasks.append(
            asyncio.get_running_loop().create_task(
                listen_forever(
                    self._redis,
                    self.channel,
                    lambda data: self._spawn(send, data),
                    subscribed=self.subscribed,
                    retry=self._retry,
                ),
                name="agent-control-relay",
            )
        )

    def _spawn(self, send: Send, data: bytes | str) -> None:
        task = asyncio.get_running_loop().create_task(self._carry_out(send, data))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _carry_out(self, send: Send, data: bytes | str) -> None:
        try:
            request = json.loads(data)
            if not isinstance(request, dict) or not isinstance(request.get("reply"), str):
                raise ValueError("no reply key")
            reply_key: str = request["reply"]
            if not reply_key.startswith("atiende:agent-control-reply:"):
                raise ValueError("foreign reply key")
            action = _action(request)
        except ValueError as err:
            log.warning("agent control request refused on %s: %s", self.channel, err)
            return
        outcome: dict[str, Any]
        try:
            outcome = {"headers": await send(action)}
        except AmiError as err:
            outcome = _error(err)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(reply_key, json.dumps(outcome))
                pipe.expire(reply_key, REPLY_TTL_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as err:
            log.warning("cannot reply to a forwarded %s (%s)", action.name, err)

    async def close(self) -> None:
        await stop_tasks(self._tasks)
        self.subscribed.clear()
        await stop_tasks(list(self._handling))


def _reply(action: AmiAction, raw: bytes | str) -> Headers:
    try:
        outcome = json.loads(raw)
    except ValueError as err:
        raise ActionOutcomeUnknown(action.name, action.action_id) from err
    if not isinstance(outcome, dict):
        raise ActionOutcomeUnknown(action.name, action.action_id)
    error = outcome.get("error")
    if error is None:
        headers = outcome.get("headers")
        return {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    message = str(outcome.get("message", ""))
    if error == "failed":
        raise AmiActionFailed(action.name, message)
    if error == "timeout":
        raise AmiTimeout(message)
    if error == "not_connected":
        raise AmiNotConnected(message)
    raise ActionOutcomeUnknown(action.name, action.action_id)
