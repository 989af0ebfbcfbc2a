"""The simulator running: a simulated clock driving the core, its events
served over AMI, its IVR steps run against a FastAGI server.

    simulator = Simulator(SimulatorConfig(speed=10, agi=("127.0.0.1", 4573)))
    await simulator.start()      # AMI on simulator.ami.port
    ...
    await simulator.stop()

Simulated time starts at the wall clock and runs `speed` times faster, so AMI
Timestamps look like a real Asterisk's, only denser.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telephony.ami.stream import Headers
from telephony.simulator.agi_driver import run_session
from telephony.simulator.ami_server import AmiServer
from telephony.simulator.calls import Pbx
from telephony.simulator.model import SimEvent, Style
from telephony.simulator.traffic import (
    DEFAULT_QUEUES,
    KnownPerson,
    PauseChange,
    Traffic,
    TrafficProfile,
)

log = logging.getLogger(__name__)


@dataclass
class SimulatorConfig:
    speed: float = 1.0
    style: Style = "pjsip"
    host: str = "127.0.0.1"
    port: int = 0
    username: str = "atiende"
    secret: str = "atiende"
    # FastAGI server (host, port) of the IVR; None runs the lab's stub IVR.
    agi: tuple[str, int] | None = None
    # With an IVR and PJSIP channels: callers an agent answered take the survey.
    survey: bool = True
    # Share of rings a PJSIP agent lets ring out (AgentRingNoAnswer, retried).
    no_answer_share: float = 0.05
    queues: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: dict(DEFAULT_QUEUES))
    profile: TrafficProfile = field(default_factory=TrafficProfile)
    seed: int = 1
    tick: float = 0.02  # real seconds between clock steps
    max_calls: int | None = None  # stop generating arrivals after this many
    # Hold the clock until a client subscribes to events, so a bridge sees
    # every call from the first one.
    wait_for_subscriber: bool = True
    # queues.conf wrapuptime of every queue (seconds).
    wrapup_seconds: float = 3.0
    # Sound files that do not exist ("*": all but `beep`): AGI answers -1.
    missing_prompts: tuple[str, ...] = ()
    # Where to append Asterisk's queue_log for this run (None: kept in memory).
    queue_log: Path | None = None
    # Each FastAGI session dies after this many commands (None: never).
    agi_drop_after: int | None = None
    # Citizens called back (Originate into atiende-callback): how often they
    # answer or are busy; the rest let it ring out.
    callback_answer_share: float = 0.8
    callback_busy_share: float = 0.1
    callback_ring_seconds: float = 20.0


class SimClock:
    """Simulated seconds since the epoch, `speed` times faster than real time."""

    def __init__(self, speed: float, real: Callable[[], float] = time.monotonic) -> None:
        self.speed = max(speed, 0.001)
        self._real = real
        self._real0 = real()
        self.start = time.time()

    def restart(self) -> None:
        """Simulated time resumes from `start` now."""
        self._real0 = self._real()

    def now(self) -> float:
        return self.start + (self._real() - self._real0) * self.speed

    async def sleep_until(self, when: float) -> None:
        delay = (when - self.now()) / self.speed
        if delay > 0:
            await asyncio.sleep(delay)


class Simulator:
    def __init__(
        self,
        config: SimulatorConfig,
        *,
        known: Sequence[KnownPerson] = (),
        on_events: Callable[[list[SimEvent]], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = SimClock(config.speed)
        self.ami = AmiServer(
            host=config.host, port=config.port, username=config.username, secret=config.secret
        )
        self.traffic = Traffic(
            config.profile, seed=config.seed, with_cedula=config.agi is not None, known=known
        )
        self.pbx = Pbx(
            start=self.clock.start,
            style=config.style,
            queues=config.queues,
            external_ivr=config.agi is not None,
            agi_url=(
                f"agi://{config.agi[0]}:{config.agi[1]}/ivr"
                if config.agi
                else "agi://127.0.0.1:4573/ivr"
            ),
            stub_routes=config.profile.stub_routes,
            survey=config.survey,
            no_answer_share=config.no_answer_share,
            seed=config.seed,
            wrapup_seconds=config.wrapup_seconds,
            missing_prompts=config.missing_prompts,
            callback_answer_share=config.callback_answer_share,
            callback_busy_share=config.callback_busy_share,
            callback_ring_seconds=config.callback_ring_seconds,
        )
        self.ami.handlers["queuepause"] = self._queue_pause
        self.ami.handlers["queueadd"] = self._queue_add
        self.ami.handlers["queueremove"] = self._queue_remove
        self.ami.handlers["originate"] = self._originate
        self.on_events = on_events
        self.placed = 0
        self.emitted = 0
        self._horizon = self.clock.start
        self._task: asyncio.Task[None] | None = None
        self._agi_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._seed_members()

    def _seed_members(self) -> None:
        """Queue members are in QueueStatus from the start, as configured in queues.conf."""
        for member in self.pbx.members.values():
            headers = {"Event": "QueueMemberStatus"}
            headers.update(self.pbx.member_snapshot(member))
            self.ami.state.apply(headers)

    @property
    def port(self) -> int:
        return self.ami.port

    def outcomes(self) -> Counter[str]:
        """What the simulator intended for each finished call."""
        return Counter(call.outcome for call in self.pbx.finished)

    async def start(self) -> None:
        await self.ami.start()
        self._task = asyncio.create_task(self._run(), name="pbx-simulator")

    async def stop(self) -> None:
        await self.freeze()
        await self.ami.close()

    async def freeze(self) -> None:
        """Stop the clock and the IVR sessions; AMI sessions stay open (a
        client can still catch up and resync)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._agi_tasks):
            task.cancel()
        if self._agi_tasks:
            await asyncio.gather(*self._agi_tasks, return_exceptions=True)

    def stop_arrivals(self) -> None:
        self.config.max_calls = self.placed

    def idle(self) -> bool:
        """Every call placed so far has ended."""
        return not self.pbx.calls and len(self.pbx.finished) == self.placed

    def sync(self) -> None:
        """Bring the core up to the simulated now and publish what happened."""
        now = self.clock.now()
        self._plan(now)
        events = self.pbx.advance(now)
        self._write_queue_log()
        for event in events:
            self.ami.publish(event.encode(), event.fields())
        self.emitted += len(events)
        if events and self.on_events is not None:
            self.on_events(events)
        for call_id in self.pbx.agi_sessions():
            task = asyncio.create_task(self._agi(call_id))
            self._agi_tasks.add(task)
            task.add_done_callback(self._agi_tasks.discard)

    def _write_queue_log(self) -> None:
        lines = self.pbx.queue_log_lines()
        if lines and self.config.queue_log is not None:
            with self.config.queue_log.open("a", encoding="utf-8") as out:
                out.write("".join(f"{line}\n" for line in lines))

    def _plan(self, now: float) -> None:
        """Draw arrivals and pauses a little ahead of the clock."""
        if now + 5 < self._horizon:
            return
        start, self._horizon = self._horizon, now + 30
        limit = self.config.max_calls
        for arrival in self.traffic.arrivals(start, self._horizon):
            if limit is not None and self.placed >= limit:
                break
            self.pbx.place_call(arrival.caller, arrival.at)
            self.placed += 1
        extensions = sorted({a.extension for a in self.pbx.agents.values()})
        for change in self.traffic.pauses(extensions, start, self._horizon):
            interface = next(
                a.interface for a in self.pbx.agents.values() if a.extension == change.extension
            )
            self.pbx.at(change.at, functools.partial(self._pause, interface, change))

    def _carry_out(self, run: Callable[[], str | None], done: str) -> tuple[str, str]:
        """An action on the PBX at the simulated now; Asterisk's reply."""
        self.sync()
        error = run()
        self.sync()
        return ("Error", error) if error is not None else ("Success", done)

    def _queue_pause(self, action: Headers) -> tuple[str, str]:
        """QueuePause from a client (the agent panel), as app_queue answers it."""
        interface = action.get("Interface", "")
        paused_text = action.get("Paused", "")
        if not interface or not paused_text:
            return "Error", "Need 'Interface' and 'Paused' parameters."
        paused = paused_text.lower() in ("true", "yes", "1", "on", "y", "t")
        return self._carry_out(
            lambda: self.pbx.queue_pause(
                interface, paused, action.get("Reason", ""), action.get("Queue", "")
            ),
            f"Interface {'paused' if paused else 'unpaused'} successfully",
        )

    def _queue_add(self, action: Headers) -> tuple[str, str]:
        paused = action.get("Paused", "").lower() in ("true", "yes", "1", "on", "y", "t")
        return self._carry_out(
            lambda: self.pbx.queue_add(
                action.get("Queue", ""),
                action.get("Interface", ""),
                action.get("MemberName", ""),
                paused=paused,
                reason=action.get("Reason", ""),
            ),
            "Added interface to queue",
        )

    def _queue_remove(self, action: Headers) -> tuple[str, str]:
        return self._carry_out(
            lambda: self.pbx.queue_remove(action.get("Queue", ""), action.get("Interface", "")),
            "Removed interface from queue",
        )

    def _originate(self, action: Headers) -> tuple[str, str]:
        channel = action.get("Channel", "")
        if not channel:
            return "Error", "Channel not specified"
        context, exten = action.get("Context", ""), action.get("Exten", "")
        return self._carry_out(
            lambda: self.pbx.originate(
                channel,
                context,
                exten,
                caller_id=action.get("CallerID", ""),
                action_id=action.get("ActionID", ""),
                variables=originate_variables(action.get("Variable", "")),
            ),
            "Originate successfully queued",
        )

    def _pause(self, interface: str, change: PauseChange) -> None:
        self.pbx.set_paused(interface, change.paused, change.reason)

    async def _run(self) -> None:
        if self.config.wait_for_subscriber:
            await self.ami.subscribed.wait()
            self.clock.restart()
        while not self._stopping:
            self.sync()
            await asyncio.sleep(self.config.tick)

    async def _agi(self, call_id: int) -> None:
        assert self.config.agi is not None
        host, port = self.config.agi

        async def answer(line: str) -> list[str]:
            self.sync()
            if call_id not in self.pbx.calls:
                return ["511 Command Not Permitted on a dead channel or intercept routine"]
            reply, due = self.pbx.agi_command(call_id, line)
            await self.clock.sleep_until(due)
            self.sync()
            return reply

        reached = True
        try:
            reached = await run_session(
                host,
                port,
                self.pbx.agi_environment(call_id),
                answer,
                drop_after=self.config.agi_drop_after,
            )
        finally:
            # Frozen: calls keep their state, as if Asterisk were still running.
            if call_id in self.pbx.calls and not self._stopping:
                self.sync()
                self.pbx.agi_finished(call_id, "SUCCESS" if reached else "FAILURE")


def originate_variables(text: str) -> dict[str, str]:
    """Originate's Variable headers (repeated headers arrive joined by a
    newline; Asterisk also splits each one on commas), name=value each."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        for item in line.split(","):
            name, sep, value = item.partition("=")
            if sep and name.strip():
                out[name.strip()] = value
    return out
