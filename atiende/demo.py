"""`atiende demo`: the product working on embedded defaults, with no Asterisk.

A PBX simulator (telephony.simulator) speaks real AMI to the real bridge built
by the composition root, and drives the real FastAGI IVR (ivr.server) over
real TCP as Asterisk would; attentions land in the settings' database (a
SQLite file by default). The console shows the calls as the tracker sees them;
Ctrl-C (or --duration) stops everything and prints what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from atiende.demo_data import seed_demo_data, seed_walkin_demo
from atiende.settings import AmiSettings, Settings
from atiende.wiring import (
    build_bridge,
    build_panel,
    callback_collector,
    callback_worklist,
    ivr_flows,
    mail_collectors,
    mail_intake,
    migrate,
    start_ivr,
    start_mail_intake,
    start_metrics_part,
    start_panel,
    stop_on_signals,
)
from crm_bridge.db import make_engine, session_factory
from crm_bridge.exceptions import RecordRejectedError
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.models import Attention
from crm_bridge.persons import PersonRegistry
from crm_bridge.phones import mask_number
from dashboards.indicator_metrics import IndicatorCollector
from ivr.server import FastAgiServer
from ivr.services import IvrServices
from ivr.sounds import check, registry_prompts
from telephony.bridge import DomainEventSink
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallQueued,
    CallRecord,
    DomainEvent,
    IvrLeft,
    RingNoAnswer,
)
from telephony.queue_config import QueueConfig
from telephony.simulator.runner import Simulator, SimulatorConfig
from telephony.simulator.traffic import KnownPerson, TrafficProfile, sample_persons

DEMO_SECRET = "demo"
DEMO_SYSTEM = "demo-sim"
# The simulated queues' wrapuptime (queues.conf), for the PBX and the tracker,
# in simulated seconds: at least this, and at least DEMO_PAUSE_LANDS_SECONDS of
# the wall (see demo_wrapup_seconds).
DEMO_WRAPUP_SECONDS = 5.0
# Wall seconds the "Cierre" pause may take to land after the agent hangs up
# (AgentComplete to the tracker, the hub, the user's interfaces read from the
# database, QueuePause back over AMI). wrapuptime keeps Asterisk from offering
# the member a call until then; 5 simulated seconds were 1 s of the wall at
# x5 (0.8 s with app_queue's whole seconds), and on a loaded machine an agent
# got a new call during "En cierre", then the pause in the middle of it.
DEMO_PAUSE_LANDS_SECONDS = 3.0
# The longest "Cierre" (after-call) pause in the demo, in simulated seconds:
# its agents are simulated and nobody saves their wrap-ups, so the default
# (120 s of the wall, 600 simulated at x5) kept every agent paused and most
# calls were abandoned. A human agent's form stays open past it (pending).
DEMO_AFTER_CALL_SECONDS = 15.0
# The default flow checks office hours (Montevideo); the demo's IVR lives on
# a Tuesday morning so calls reach the queues whatever the time here.
OFFICE_HOURS = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)


def demo_wrapup_seconds(speed: float) -> float:
    """The demo queues' wrapuptime in simulated seconds at `speed`: whole
    seconds (app_queue reads an integer) covering DEMO_PAUSE_LANDS_SECONDS of the wall."""
    return float(max(DEMO_WRAPUP_SECONDS, math.ceil(DEMO_PAUSE_LANDS_SECONDS * speed)))


def _clock(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S")


class ConsoleSink:
    """Prints what the tracker reports, one line per step of a call."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            line = self._line(event)
            if line:
                print(f"{_clock(event.at)}  {line}", file=self._out, flush=True)

    def calls_in_progress(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            print(f"          still up at the end: {record.key.linkedid}", file=self._out)

    @staticmethod
    def _line(event: DomainEvent) -> str | None:
        if isinstance(event, CallArrived):
            caller = f"{event.caller_name or '(sin nombre)'} {mask_number(event.caller_number)}"
            return f"{'':<10} arrived     {caller}"
        if isinstance(event, IvrLeft):
            path = event.variables.get("ATIENDE_IVR_PATH") or ",".join(event.choices) or "-"
            return f"{'(ivr)':<10} left IVR    path {path}"
        if isinstance(event, AgentStateChanged):
            if event.state is AgentState.PAUSED:
                return f"{'(agent)':<10} paused      {event.member_name}: {event.reason or '-'}"
            closed = event.closed
            if closed is not None and closed.state is AgentState.PAUSED:
                return f"{'(agent)':<10} back        {event.member_name}"
            return None
        if isinstance(event, CallQueued):
            caller = f"{event.caller_name or '(sin nombre)'} {mask_number(event.caller_number)}"
            return f"{event.queue:<10} queued      {caller} at position {event.position}"
        if isinstance(event, AgentRinging):
            return f"{event.queue:<10} ringing     {event.member_name}"
        if isinstance(event, RingNoAnswer):
            return (
                f"{event.queue:<10} no answer   {event.member_name}"
                f" after {event.ring_seconds:.0f} s"
            )
        if isinstance(event, CallAnswered):
            return (
                f"{event.queue:<10} answered    by {event.member_name}"
                f" after {event.wait_seconds:.0f} s"
            )
        if isinstance(event, CallAbandoned):
            return f"{event.queue:<10} abandoned   after {event.wait_seconds:.0f} s"
        if isinstance(event, CallEnded):
            record = event.record
            return f"{record.queue or '(ivr)':<10} ended       {record.outcome.value}"
        return None


def _ivr_services(
    engine: Engine,
    settings: Settings,
    persons: Sequence[KnownPerson],
    on_callback: Callable[[list[str]], None] | None = None,
) -> IvrServices:
    """The store's IVR services, with the simulator's known callers registered."""
    registry = PersonRegistry(engine, phone_region=settings.phone_region)
    for person in persons:
        given, _, family = person.name.partition(" ")
        with contextlib.suppress(RecordRejectedError):  # registered by an earlier run
            registry.register(
                given_names=given,
                family_names=family,
                consents=["identificacion", "contacto"],
                document_type="ci",
                document_number=person.cedula,
                phones=[person.number],
            )
    return StoreIvrServices(
        engine,
        system=settings.ami.system_name,
        phone_region=settings.phone_region,
        on_callback=on_callback,
    )


def _report(engine: Engine, settings: Settings, intended: Counter[str], out: TextIO) -> None:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(Attention.queue, Attention.outcome, func.count())
            .where(Attention.system == settings.ami.system_name)
            .group_by(Attention.queue, Attention.outcome)
            .order_by(Attention.queue, Attention.outcome)
        ).all()
    print("\nAttentions stored in", settings.database_url, file=out)
    for queue, outcome, count in rows:
        print(f"  {queue or '(ivr)':<10} {outcome:<20} {count:>4}", file=out)
    finished = ", ".join(f"{k} {v}" for k, v in sorted(intended.items())) or "none"
    print(f"Calls the simulator finished: {finished}", file=out)


async def run_demo(
    settings: Settings,
    *,
    recordings: Path | None = None,
    speed: float = 5.0,
    out: TextIO = sys.stdout,
    duration: float | None = None,
    calls_per_minute: float = 6.0,
    style: str = "pjsip",
    seed: int = 1,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the simulator, the IVR and the bridge until Ctrl-C or `duration`
    real seconds. `recordings` is accepted for compatibility and unused: the
    simulator generates the traffic the recordings used to provide."""
    del recordings
    # One line per IVR session would drown the calls on the console.
    logging.getLogger("ivr.server").setLevel(logging.WARNING)
    if settings.ami.system_name == AmiSettings().system_name:
        settings = settings.model_copy(
            update={"ami": settings.ami.model_copy(update={"system_name": DEMO_SYSTEM})}
        )
    await asyncio.to_thread(migrate, settings)
    engine = make_engine(settings.database_url)
    # serve's exit stack and start helpers (atiende.wiring): a part that fails
    # to start stops the ones already running, and the order is serve's.
    async with contextlib.AsyncExitStack() as parts:
        parts.callback(engine.dispose)
        await _run(
            parts, engine, settings, speed, out, duration, calls_per_minute, style, seed, stop
        )


async def _run(
    parts: contextlib.AsyncExitStack,
    engine: Engine,
    settings: Settings,
    speed: float,
    out: TextIO,
    duration: float | None,
    calls_per_minute: float,
    style: str,
    seed: int,
    stop: asyncio.Event | None,
) -> None:
    persons = sample_persons(25)
    # One worklist for the IVR's requests, the calls' results and the panel:
    # its changes reach the free agents at once (agent_api.callback_push).
    worklist = callback_worklist(settings, engine) if settings.callbacks.enabled else None
    announce = None if worklist is None else worklist.announce
    services = await asyncio.to_thread(_ivr_services, engine, settings, persons, announce)
    users = await asyncio.to_thread(seed_demo_data, engine)
    walkin = await asyncio.to_thread(seed_walkin_demo, engine, settings.api.timezone)
    started = dt.datetime.now(dt.UTC)
    flows = ivr_flows(settings)
    # With a sounds folder, the simulated Asterisk lacks what is missing there
    # (and the IVR plays on with a beep, counting it): the demo shows what
    # `atiende prompts build` leaves for the studio.
    prompts = registry_prompts(flows)
    sounds_dir = settings.ivr.sounds_dir
    missing = [p.prompt.name for p in check(sounds_dir, prompts)] if sounds_dir else []
    ivr = FastAgiServer(
        flows,
        services,
        port=0,
        clock=lambda: OFFICE_HOURS + (dt.datetime.now(dt.UTC) - started),
    )
    await start_ivr(parts, ivr, settings)
    simulator = Simulator(
        SimulatorConfig(
            speed=speed,
            style="local" if style == "local" else "pjsip",
            secret=DEMO_SECRET,
            agi=("127.0.0.1", ivr.port),
            profile=TrafficProfile(calls_per_minute=calls_per_minute),
            seed=seed,
            wrapup_seconds=demo_wrapup_seconds(speed),
            missing_prompts=tuple(missing),
        ),
        known=persons,
    )
    await simulator.start()
    parts.push_async_callback(simulator.stop)
    ami = settings.ami.model_copy(
        update={"host": "127.0.0.1", "port": simulator.port, "secret": SecretStr(DEMO_SECRET)}
    )
    settings = settings.model_copy(update={"ami": ami})
    panel = build_panel(settings, engine) if settings.api.enabled else None
    if panel is not None:
        panel.worklist = worklist
    sinks: list[DomainEventSink] = [ConsoleSink(out)]
    if panel is not None:
        sinks.append(panel.hub)
    # One clock: the simulator's time runs `speed` times faster than the
    # wall's, and its events carry it, so the live figures' windows, the
    # longest wait and the wrap-up ticks must read the same clock. The queues
    # are the simulator's, with its wrap-up time.
    queues = {
        name: QueueConfig(name, wrapup_seconds=demo_wrapup_seconds(speed))
        for name in simulator.pbx.waiting
    }
    if panel is not None:
        panel.acw_queues = {
            name: QueueConfig(name, wrapup_seconds=DEMO_AFTER_CALL_SECONDS) for name in queues
        }
        panel.acw_clock = simulator.clock.now
        panel.acw_speed = simulator.clock.speed
    service = build_bridge(
        settings, sinks, engine=engine, clock=simulator.clock.now, queues=queues, worklist=worklist
    )
    report_settings = settings

    async def report() -> None:
        await asyncio.to_thread(_report, engine, report_settings, simulator.outcomes(), out)

    parts.push_async_callback(report)
    parts.push_async_callback(service.stop)
    if panel is not None:
        await start_panel(parts, panel, service)
    await service.start()
    indicators = IndicatorCollector(engine, window_days=settings.kpi.indicator_window_days)
    callbacks = callback_collector(settings, engine)
    # Only a mailbox the operator configured (ATIENDE_MAIL__MAILBOXES, e.g. a
    # local Dovecot): the demo never reaches for a mail server of its own.
    intake = mail_intake(settings, engine)
    metrics = start_metrics_part(
        parts, settings, service, [indicators, *callbacks, *mail_collectors(intake)]
    )

    async def drain() -> None:
        # The calls in progress end before the bridge stops: no new arrivals,
        # the simulated PBX frozen, the IVR closed, every event tracked.
        simulator.stop_arrivals()
        await simulator.freeze()
        await ivr.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service.caught_up(), 5.0)

    parts.push_async_callback(drain)
    print("Atiende demo: a simulated Asterisk (PBX simulator) feeding the real bridge", file=out)
    print(f"  database       {settings.database_url}", file=out)
    print(f"  simulated AMI  127.0.0.1:{simulator.port} ({style} channels, x{speed:g})", file=out)
    print(
        f"  FastAGI IVR    agi://127.0.0.1:{ivr.port}/ivr (services on the attention store)",
        file=out,
    )
    if sounds_dir is None:
        print(
            f"  IVR prompts    {len(prompts)} assumed recorded; `atiende prompts build --sounds"
            " sounds` and ATIENDE_IVR__SOUNDS_DIR=sounds use real files",
            file=out,
        )
    else:
        ready = len(prompts) - len(missing)
        print(f"  IVR prompts    {ready} of {len(prompts)} in {sounds_dir}", file=out)
    start_mail_intake(parts, settings, intake)
    if intake is not None:
        print(
            f"  mail intake    {len(intake.mailboxes)} mailbox(es) every"
            f" {settings.mail.poll_interval:g}s",
            file=out,
        )
    if metrics is not None:
        print(
            f"  metrics        http://{settings.metrics_host}:{settings.metrics_port}/metrics",
            file=out,
        )
    if panel is not None:
        print(f"  agent panel    {panel.url}", file=out)
        print(f"  wallboard      {panel.url}wallboard (as supervisora)", file=out)
        print(f"  API docs       {panel.url}api/docs", file=out)
        print(f"  citizen form   {panel.url}solicitud (tracking: {panel.url}seguimiento)", file=out)
        print("  users (user / password / role):", file=out)
        for user in users:
            print(f"    {user.username:<12} {user.password:<24} {user.role.value}", file=out)
        print(
            "  walk-in (reception: recepcion at /recepcion; desks: any ejecutivo at /puesto):",
            file=out,
        )
        print(f"    waiting room {panel.url}{walkin.room}", file=out)
        for desk, path in walkin.tablets:
            print(f"    tablet {desk:<10} {panel.url}{path}", file=out)
    print("Ctrl-C stops.\n", file=out, flush=True)
    stop = stop or asyncio.Event()
    with stop_on_signals(stop), contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)
