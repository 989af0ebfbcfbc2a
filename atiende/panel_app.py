"""The agent panel's app, composed from an engine: part of the composition root.

agent_api.app.create_app takes ready-made services; this builds them (every
store on the one engine `atiende serve` made) and hands them in. Tests and
benchmarks build their panel through here too, the same way serve does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import Engine

from agent_api.after_call import AfterCallWork
from agent_api.app import create_app
from agent_api.audit import AuditLog
from agent_api.auth import LoginRateLimiter, Passwords, SessionStore
from agent_api.callback_push import CallbackPush
from agent_api.callbacks import CallbackDesk
from agent_api.calls import CallLog
from agent_api.catalog import Catalog
from agent_api.controls import DEFAULT_PAUSE_REASONS, AgentControls
from agent_api.followup import FollowUpServices, TicketScope
from agent_api.middleware import DEFAULT_MAX_BODY_BYTES
from agent_api.need_to_know import NeedToKnow
from agent_api.pending_cases import PendingCases
from agent_api.pop_lookup import PersonCards
from agent_api.public_limits import AttemptCounter, MemoryCounter, PublicLimits
from agent_api.services import PanelServices
from agent_api.users import UserStore
from agent_api.web.publico import PublicPages
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from crm_bridge.citizen_requests import CitizenRequests
from crm_bridge.contacts import ContactAttentions
from crm_bridge.evaluation_send import EvaluationSender
from crm_bridge.history import PersonHistory
from crm_bridge.knowledge import KnowledgeBase
from crm_bridge.knowledge_send import Disseminator
from crm_bridge.mail_store import MailThreads
from crm_bridge.organisms import Directory
from crm_bridge.persons import PersonRegistry
from crm_bridge.responders import Responder
from crm_bridge.sync.outbox import SyncFailures
from crm_bridge.sync.rights import PersonRights
from crm_bridge.sync.sla_alerts import SlaAlerts
from crm_bridge.tickets import TicketService
from crm_bridge.turns import TurnService
from dashboards.kiosk import KioskLinks
from telephony.agents import AgentSnapshot


def panel_app(
    *,
    engine: Engine,
    hub: PopHub,
    controls: AgentControls,
    agents_snapshot: Callable[[], list[AgentSnapshot]],
    secret_key: str,
    allowed_origins: Iterable[str],
    pause_reasons: Iterable[str] = DEFAULT_PAUSE_REASONS,
    tickets: TicketService | None = None,
    pending_cases: PendingCases | None = None,
    sla_alerts: SlaAlerts | None = None,
    crm_failures: SyncFailures | None = None,
    rights: PersonRights | None = None,
    phone_region: str = "UY",
    timezone: str = "America/Montevideo",
    cookie_secure: bool = True,
    session_lifetime_seconds: float = 10 * 3600,
    login_limiter: LoginRateLimiter | None = None,
    passwords: Passwords | None = None,
    after_call: AfterCallWork | None = None,
    queue_names: Iterable[str] = (),
    clock: Callable[[], datetime] | None = None,
    state_clock: Callable[[], float] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limits: Mapping[str, int] | None = None,
    trusted_proxies: Sequence[str] = (),
    responders: Sequence[Responder] = (),
    walkin_outbox: bool = False,
    callbacks: Callable[[AuditLog], CallbackDesk] | None = None,
    callback_redis: Redis | None = None,
    system: str = "",
    public_min_fill_seconds: float = 3.0,
    public_counter: AttemptCounter | None = None,
) -> FastAPI:
    """The panel app and its services, built from the engine (the composition
        root's part of agent_api.app.create_app). `clock` decides what "today" is
        for the calls of the day (tests replaying old recordings set it to the
        recording's day); `state_clock` is the one that stamped the agents' snapshots
    (the bridge's); `responders` carry a trámite's information to the citizen
    (email, sms; without them it is only logged); `callbacks` builds the
    callback desk on the app's audit log, whose changes reach the free agents
    of the queue through `callback_redis` (replicas: the channel of Asterisk
    `system`) or, without it, in this process; `public_min_fill_seconds` is how long
    the public form must have been open before it is sent
    (agent_api.web.publico); `public_counter` counts the public pages'
    attempts (agent_api.redis_limits.RedisCounter when replicas share a Redis;
    None: in this process); the other arguments are create_app's and the services'.
    """
    registry = PersonRegistry(engine, phone_region=phone_region)
    history = PersonHistory(engine)
    if pending_cases is None:
        pending_cases = PendingCases(engine)
    knowledge = KnowledgeBase(engine)
    services = PanelServices(
        users=UserStore(engine, passwords or Passwords()),
        sessions=SessionStore(secret_key, lifetime_seconds=session_lifetime_seconds),
        limiter=login_limiter or LoginRateLimiter(),
        hub=hub,
        controls=controls,
        agents=agents_snapshot,
        persons=registry,
        audit=AuditLog(engine),
        catalog=Catalog(engine),
        wrapups=WrapupStore(engine, tickets=tickets, phone_region=phone_region),
        calls=(
            CallLog(engine, timezone=timezone)
            if clock is None
            else CallLog(engine, timezone=timezone, clock=clock)
        ),
        pause_reasons=tuple(pause_reasons),
        allowed_origins=frozenset(allowed_origins),
        cookie_secure=cookie_secure,
        need=NeedToKnow(engine, hub, phone_region=phone_region),
        cards=PersonCards(engine, registry, history),
        knowledge=knowledge,
        disseminator=Disseminator(engine, registry, knowledge, responders=responders),
    )
    if state_clock is not None:
        services.state_clock = state_clock
    if callbacks is not None:
        desk = callbacks(services.audit)
        services.callbacks = desk
        push = CallbackPush(
            hub, desk.worklist, agents_snapshot, redis=callback_redis, system=system
        )
        desk.worklist.on_change = push.changed
        services.callback_push = push
    requests = (
        None
        if tickets is None
        else CitizenRequests(
            engine,
            tickets,
            phone_region=phone_region,
        )
    )
    followup = FollowUpServices(
        tickets=tickets,
        scope=TicketScope(engine),
        directory=Directory(engine),
        sla_alerts=sla_alerts,
        crm_failures=crm_failures,
        rights=rights,
        requests=requests,
        mail=MailThreads(engine),
    )
    app = create_app(
        services=services,
        followup=followup,
        person_history=history,
        timezone=timezone,
        phone_region=phone_region,
        after_call=after_call,
        queue_names=queue_names,
        max_body_bytes=max_body_bytes,
        body_limits=body_limits,
        trusted_proxies=trusted_proxies,
    )
    # Walk-in attention (agent_api.web.presencial): turns over the same store,
    # the room display's and tablets' kiosk links. `walkin_outbox`: closed
    # walk-ins reach the CRM as calls do.
    contacts = ContactAttentions(engine, phone_region=phone_region, outbox=walkin_outbox)
    app.state.walkin_contacts = contacts
    app.state.turns = (
        TurnService(engine, contacts, timezone=timezone)
        if clock is None
        else TurnService(engine, contacts, timezone=timezone, clock=clock)
    )
    app.state.walkin_kiosk = KioskLinks(engine)
    # One-time evaluation links by SMS or email, through the same responders.
    app.state.evaluation_sender = EvaluationSender(app.state.turns, registry, responders=responders)
    app.state.pending_cases = pending_cases
    app.state.public = PublicPages(
        requests=requests,
        audit=services.audit,
        secret_key=secret_key,
        # Keyed by the secret every replica shares, so they count under the same keys.
        limits=PublicLimits(
            counter=MemoryCounter() if public_counter is None else public_counter,
            secret=secret_key,
        ),
        min_fill_seconds=public_min_fill_seconds,
    )
    return app
