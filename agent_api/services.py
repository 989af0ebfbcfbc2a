"""What the routes need: built by the composition root (atiende.panel_app) for create_app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_api.audit import AuditLog
from agent_api.auth import LoginRateLimiter, SessionStore
from agent_api.callback_push import CallbackPush
from agent_api.callbacks import CallbackDesk
from agent_api.calls import CallLog
from agent_api.catalog import Catalog
from agent_api.controls import AgentControls
from agent_api.need_to_know import NeedToKnow
from agent_api.pop_lookup import PersonCards
from agent_api.quota import SocketQuota
from agent_api.users import UserStore
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from crm_bridge.knowledge import KnowledgeBase
from crm_bridge.knowledge_send import Disseminator
from crm_bridge.persons import PersonRegistry
from telephony.agents import AgentSnapshot


@dataclass
class PanelServices:
    users: UserStore
    sessions: SessionStore
    limiter: LoginRateLimiter
    hub: PopHub
    controls: AgentControls
    agents: Callable[[], list[AgentSnapshot]]
    persons: PersonRegistry
    audit: AuditLog
    catalog: Catalog
    wrapups: WrapupStore
    calls: CallLog
    pause_reasons: tuple[str, ...]
    allowed_origins: frozenset[str]
    cookie_secure: bool
    # Ley 18.331: who may see whose data, for which reason (one rule, one module).
    need: NeedToKnow
    cards: PersonCards
    # What the agent reads to the citizen about a trámite (search by relevance).
    knowledge: KnowledgeBase
    # Sends a trámite's information to the person from the wrap-up ("difundir").
    disseminator: Disseminator
    # Open WebSockets per session and per user, across the socket routes.
    sockets: SocketQuota = field(default_factory=SocketQuota)
    # The clock that stamped the agents' `since` (the bridge's: the demo's
    # simulated one runs faster): time in state is measured with it, not time.time.
    state_clock: Callable[[], float] = time.time
    # The callback worklist at the agent's desk (None: callbacks are off).
    callbacks: CallbackDesk | None = None
    # Its changes pushed to the free agents' sockets (started with the app).
    callback_push: CallbackPush | None = None
