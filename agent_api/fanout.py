"""Screen-pops for every replica: the leader's domain events through Redis.

With several `atiende serve` replicas behind a load balancer only the leader's
bridge sees Asterisk, yet an agent's browser may be connected to any replica.
`RedisEventRelay` is the bridge sink on every replica (only the leader's bridge
ever feeds it): it publishes the events a panel needs on one Redis channel per
Asterisk system, and every replica, the leader included, subscribes its own
PopHub to that channel. One path for all, so the leader's agents and the
standby's get the same frames in the same order.

`publish` never waits: the events go on a bounded queue that a task drains
into Redis. While Redis is down the queue fills and what does not fit is
dropped (counted, logged once per outage): a pop is only worth something
while the phone rings. The subscriber reconnects by itself; events published
while it was disconnected are not replayed (Redis pub/sub keeps nothing).

The agents' states travel the same way: a standby's own tracker follows no
Asterisk, so the leader (`lead`) publishes its whole agent snapshot before
every batch with an agent's change, and every few seconds besides (a replica
that starts or resubscribes has it at once). Each replica keeps the last one
in `RelayedAgents`, read where its panel lists agents or offers a callback;
one older than a few heartbeats (no leader) counts as none.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agent_api.frames import IVR_PATH_VARIABLE
from telephony.agents import AgentSnapshot
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallbackAttemptEnded,
    CallEnded,
    CallKey,
    CallRecord,
    DomainEvent,
    RingNoAnswer,
)
from telephony.domain_codec import dumps_events, loads_events

log = logging.getLogger(__name__)

# What PopHub.publish acts on; the rest stays on the leader.
PANEL_EVENTS: tuple[type[DomainEvent], ...] = (
    AgentRinging,
    CallAnswered,
    RingNoAnswer,
    CallEnded,
    AgentStateChanged,
    CallbackAttemptEnded,
)


class EventSink(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None: ...


def channel_name(system: str, prefix: str = "atiende:panel-events:") -> str:
    return f"{prefix}{system}"


class RelayedAgents:
    """The leader's agent snapshot as last relayed; empty once stale."""

    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._stale_after = stale_after
        self._clock = clock
        self._agents: list[AgentSnapshot] = []
        self._at: float | None = None

    def update(self, agents: list[AgentSnapshot]) -> None:
        self._agents, self._at = agents, self._clock()

    def snapshot(self) -> list[AgentSnapshot]:
        if self._at is None or self._clock() - self._at > self._stale_after:
            return []
        return list(self._agents)


def dumps_agents(agents: Sequence[AgentSnapshot]) -> str:
    rows = [
        [a.interface, a.member_name, list(a.queues), a.state.value, a.since, a.reason]
        for a in agents
    ]
    return json.dumps({"agents": rows}, separators=(",", ":"))


def loads_agents(text: str | bytes) -> list[AgentSnapshot]:
    """The snapshot `dumps_agents` wrote; ValueError for anything else."""
    data = json.loads(text)
    rows = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ValueError("expected an object with an agents array")
    agents = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 6:
            raise ValueError("expected 6 fields per agent")
        interface, member, queues, state, since, reason = row
        if not (
            isinstance(interface, str)
            and isinstance(member, str)
            and isinstance(queues, list)
            and all(isinstance(q, str) for q in queues)
            and isinstance(since, int | float)
            and (reason is None or isinstance(reason, str))
        ):
            raise ValueError("malformed agent")
        agents.append(
            AgentSnapshot(interface, member, tuple(queues), AgentState(state), float(since), reason)
        )
    return agents


class RedisEventRelay:
    """Bridge sink publishing to Redis, and subscriber feeding a local sink."""

    def __init__(
        self,
        redis: Redis,
        system: str,
        local: EventSink | None,
        *,
        queue_size: int = 10_000,
        retry_seconds: float = 0.5,
        kinds: tuple[type[DomainEvent], ...] = PANEL_EVENTS,
        record_of: Callable[[CallKey], CallRecord | None] | None = None,
        agents_every: float = 2.0,
    ) -> None:
        self._redis = redis
        self.channel = channel_name(system)
        self._local = local
        # (payload, events in it): encoded when published, in order.
        self._queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue(queue_size)
        self._retry = retry_seconds
        self._kinds = kinds
        # The leader's tracker: the IVR path it saw travels with the ringing
        # event, since no other replica's tracker knows the call.
        self.record_of = record_of
        # The leader's tracker's agents, once this replica leads (`lead`).
        self._agents_of: Callable[[], list[AgentSnapshot]] | None = None
        self._agents_every = agents_every
        self.agents = RelayedAgents(stale_after=3 * agents_every + 1)
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher_down = False
        self._dropping = False  # logged once per outage
        self.subscribed = asyncio.Event()
        self.published = 0  # events handed to Redis
        self.received = 0  # events given to the local sink
        self.dropped = 0  # events lost because Redis was down (queue full or send failed)
        self.undecodable = 0

    # ------------------------------------------------------------ bridge sink

    def publish(self, events: Sequence[DomainEvent]) -> None:
        wanted = tuple(self._with_path(e) for e in events if isinstance(e, self._kinds))
        if not wanted:
            return
        # The snapshot first: a replica reacting to the change (a callback
        # offer to a now free agent) reads the agents as they are after it.
        if self._agents_of is not None and any(isinstance(e, AgentStateChanged) for e in wanted):
            self._put(dumps_agents(self._agents_of()), 0)
        self._put(dumps_events(wanted), len(wanted))

    def _put(self, payload: str, events: int) -> None:
        try:
            self._queue.put_nowait((payload, events))
        except asyncio.QueueFull:
            if not self._dropping:
                log.warning("panel events relay full (Redis down?): dropping events")
                self._dropping = True
            self.dropped += events

    def lead(self, agents_of: Callable[[], list[AgentSnapshot]]) -> None:
        """This replica's tracker now follows Asterisk: relay its agents."""
        self._agents_of = agents_of
        self._tasks.append(
            asyncio.get_running_loop().create_task(self._agents_loop(), name="panel-relay-agents")
        )

    async def _agents_loop(self) -> None:
        assert self._agents_of is not None
        while True:
            self._put(dumps_agents(self._agents_of()), 0)
            await asyncio.sleep(self._agents_every)

    def _with_path(self, event: DomainEvent) -> DomainEvent:
        if (
            not isinstance(event, AgentRinging)
            or self.record_of is None
            or IVR_PATH_VARIABLE in event.variables
        ):
            return event
        record = self.record_of(event.key)
        if record is None or not record.ivr_path:
            return event
        variables = {**event.variables, IVR_PATH_VARIABLE: ",".join(record.ivr_path)}
        return dataclasses.replace(event, variables=variables)

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        """Live pops end with the call; nothing to hand over."""

    # -------------------------------------------------------------- lifecycle

    async def start(self, subscribe_wait: float = 5.0) -> None:
        """Start both tasks; wait (a bounded time) until subscribed, so the
        leader's own first events are not published before anyone listens."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._publish_loop(), name="panel-relay-out"))
        if self._local is None:
            return
        self._tasks.append(loop.create_task(self._subscribe_loop(), name="panel-relay-in"))
        try:
            await asyncio.wait_for(self.subscribed.wait(), subscribe_wait)
        except TimeoutError:
            log.warning("not subscribed to %s yet (Redis down?); pops will follow", self.channel)

    async def close(self) -> None:
        await stop_tasks(self._tasks)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -------------------------------------------------------------- publisher

    async def _publish_loop(self) -> None:
        while True:
            payload, events = await self._queue.get()
            while True:
                try:
                    await self._redis.publish(self.channel, payload)
                except (RedisError, OSError) as err:
                    if not self._publisher_down:
                        log.warning("cannot publish panel events to Redis (%s); retrying", err)
                        self._publisher_down = True
                    await asyncio.sleep(self._retry)
                    continue
                break
            if self._publisher_down:
                log.info("panel events reach Redis again (%d dropped meanwhile)", self.dropped)
                self._publisher_down = False
                self._dropping = False
            self.published += events

    # ------------------------------------------------------------- subscriber

    async def _subscribe_loop(self) -> None:
        assert self._local is not None
        await listen_forever(
            self._redis, self.channel, self._deliver, subscribed=self.subscribed, retry=self._retry
        )

    def _deliver(self, data: bytes | str) -> None:
        assert self._local is not None
        if data[:1] in (b"{", "{"):
            try:
                self.agents.update(loads_agents(data))
            except (ValueError, TypeError):
                self.undecodable += 1
                log.warning("undecodable agents message on %s", self.channel)
            return
        try:
            events = loads_events(data)
        except ValueError:
            self.undecodable += 1
            log.warning("undecodable panel event message on %s", self.channel)
            return
        self.received += len(events)
        try:
            self._local.publish(events)
        except Exception:
            log.exception("panel sink failed on relayed events")


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks`, wait for each to end, and empty the list."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()


async def listen_forever(
    redis: Redis,
    channel: str,
    deliver: Callable[[bytes | str], None],
    *,
    subscribed: asyncio.Event,
    retry: float,
) -> None:
    """Hand each message of `channel` to `deliver`, resubscribing after every
    loss (`subscribed` is set while subscribed); runs until cancelled."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            subscribed.set()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    deliver(message["data"])
        except (RedisError, OSError) as err:
            if subscribed.is_set():
                log.warning("subscription to %s lost (%s); resubscribing", channel, err)
            subscribed.clear()
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        await asyncio.sleep(retry)
