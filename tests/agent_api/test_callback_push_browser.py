"""The callback offer pushed over the workspace's socket, in headless Chromium
at 1366x768 (axe-core clean), with two agents of one queue in two browser
contexts.

A callback asked for in the IVR reaches both free agents' panels in well
under the 60 s safety poll (one refresh each, no poll in between); when Rita
takes it, it leaves Tomás's panel at once. A reload shows Rita the call she
holds. Tomás paused is offered nothing; back to available (AMI's agent
state) he is offered what was scheduled meanwhile through the worklist, and
a callback scheduled two seconds ahead appears when it comes due. After his
socket drops, the reconnect redraws the panel with what changed while it
was down."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

from agent_api.audit import AuditLog
from agent_api.callbacks import CallbackDesk
from agent_api.pop_lookup import StorePopLookup
from agent_api.testing import RecordingControls
from agent_api.users import UserStore
from agent_api.ws import PopHub
from atiende.panel_app import panel_app
from crm_bridge.callback_rules import CallbackPolicy
from crm_bridge.callbacks import CallbackQueue, CallbackStatus
from crm_bridge.db import make_engine
from crm_bridge.history import PersonHistory
from crm_bridge.ivr_services import StoreIvrServices
from crm_bridge.organisms import Role
from crm_bridge.persons import PersonRegistry
from telephony.agents import AgentSnapshot
from telephony.domain import AgentState, AgentStateChanged, CallKey
from tests.agent_api.conftest import PASSWORD, SECRET, fast_passwords, served
from tests.agent_api.test_callbacks_browser import Dialer
from tests.support.browser import VIEWPORT, axe_violations, launch, log_in_page, require_chromium
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres

# Far below the page's 60 s safety poll: only the socket can be this fast.
PUSHED = 2.0
NOTHING = "No hay devoluciones para ofrecerle"


class Offers:
    """Counts one page's reads of /agente/devolucion (to show no poll ran)."""

    def __init__(self, page: Any) -> None:
        self.reads = 0
        page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        if request.method == "GET" and request.url.endswith("/agente/devolucion"):
            self.reads += 1


async def settled(reads: Offers, limit: float = 10.0) -> None:
    """Until the page has read its offer and then read nothing for a while
    (the load's read and the connected socket's may be one or two)."""
    deadline = time.monotonic() + limit
    seen = -1
    while reads.reads < 1 or reads.reads != seen:
        assert time.monotonic() < deadline, "the page never read its offer"
        seen = reads.reads
        await asyncio.sleep(0.7)


async def within(seconds: float, check: Callable[[], Any]) -> float:
    """Await `check` (a Playwright expectation); how long it took."""
    start = time.monotonic()
    await check()
    took = time.monotonic() - start
    assert took < seconds, f"took {took:.2f} s"
    return took


async def test_offer_arrives_and_leaves_by_push(panel_db: str) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    engine = make_engine(panel_db)
    users = UserStore(engine, fast_passwords())
    rita_id = users.create("rita", "Rita Núñez", Role.EJECUTIVO, PASSWORD, ["PJSIP/4002"]).id
    tomas_id = users.create("tomas", "Tomás Pérez", Role.EJECUTIVO, PASSWORD, ["PJSIP/4003"]).id
    registry = PersonRegistry(engine)
    now = time.time()
    snapshots = {
        "PJSIP/4002": AgentSnapshot(
            "PJSIP/4002", "Rita Núñez", ("consultas",), AgentState.AVAILABLE, now, None
        ),
        "PJSIP/4003": AgentSnapshot(
            "PJSIP/4003", "Tomás Pérez", ("consultas",), AgentState.AVAILABLE, now, None
        ),
    }

    def agents() -> list[AgentSnapshot]:
        return list(snapshots.values())

    worklist = CallbackQueue(engine, policy=CallbackPolicy())
    audit = AuditLog(engine)
    hub = PopHub(StorePopLookup(engine, registry, PersonHistory(engine), audit))
    port = free_port()
    app = panel_app(
        engine=engine,
        hub=hub,
        controls=RecordingControls(),
        agents_snapshot=agents,
        secret_key=SECRET,
        allowed_origins=[f"http://127.0.0.1:{port}"],
        cookie_secure=False,
        passwords=fast_passwords(),
        queue_names=["consultas"],
        callbacks=lambda audit: CallbackDesk(worklist, Dialer(), agents, engine, audit),
    )
    # The IVR as `atiende serve` builds it: what it stores is announced on the worklist.
    ivr = StoreIvrServices(engine, system="pbx", on_callback=worklist.announce)

    def set_state(interface: str, state: AgentState, reason: str | None = None) -> None:
        """What the bridge does on AMI's QueueMemberPause: snapshot, then the event."""
        old = snapshots[interface]
        snapshots[interface] = AgentSnapshot(
            interface, old.member_name, old.queues, state, time.time(), reason
        )
        hub.publish(
            [
                AgentStateChanged(
                    time.time(), "pbx", interface, old.member_name, state, reason, None, None
                )
            ]
        )

    async with served(app, port) as base, playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            pages, counters = [], []
            for name in ("rita", "tomas"):
                context = await browser.new_context(viewport=VIEWPORT, locale="es-UY")
                page = await context.new_page()
                reads = Offers(page)
                await log_in_page(page, base, name, PASSWORD)
                await page.wait_for_url("**/agente")
                await expect(page.locator("body")).to_have_attribute("data-socket", "open")
                await expect(page.locator("#devolucion-cuerpo")).to_contain_text(NOTHING)
                # The page's first reads over, then counted anew.
                await settled(reads)
                reads.reads = 0
                pages.append(page)
                counters.append(reads)
            rita, tomas = pages
            rita_reads, tomas_reads = counters

            # A caller asks for a callback in the IVR: both free agents see it at once.
            await ivr.request_callback("1795400000.7", "099123456", "consultas")
            for page in (rita, tomas):
                offer = page.locator("#devolucion-cuerpo")
                await within(
                    PUSHED,
                    lambda offer=offer: expect(offer).to_contain_text(
                        "Llamar ahora", timeout=PUSHED * 1000
                    ),
                )
                await expect(offer).to_contain_text("Pedida en el menú telefónico")
                await expect(offer).not_to_contain_text("099123456")
            assert (rita_reads.reads, tomas_reads.reads) == (1, 1)  # one push each, no poll
            assert await axe_violations(rita) == []

            # Rita takes it: it leaves Tomás's panel at once (no double offer).
            await (
                rita.locator("#devolucion-cuerpo")
                .get_by_role("button", name="Llamar ahora")
                .click()
            )
            await expect(rita.locator("#devolucion-cuerpo")).to_contain_text("Llamando")
            await within(
                PUSHED,
                lambda: expect(tomas.locator("#devolucion-cuerpo")).to_contain_text(
                    NOTHING, timeout=PUSHED * 1000
                ),
            )
            await expect(tomas.get_by_role("button", name="Llamar ahora")).to_have_count(0)
            assert await axe_violations(tomas) == []
            # Tomás cannot take it either, even with a stale page.
            held = await asyncio.to_thread(worklist.held_by, rita_id)
            assert held is not None
            assert await asyncio.to_thread(worklist.claim, held.id, tomas_id) is None

            # A reload shows Rita the callback she holds, not a new offer.
            await rita.reload()
            await expect(rita.locator("#devolucion-cuerpo")).to_contain_text("Llamando")
            await expect(rita.locator("#devolucion-cuerpo")).to_contain_text("099 123 456")

            # Tomás paused: nothing offered. Scheduled meanwhile, it waits for him.
            set_state("PJSIP/4003", AgentState.PAUSED, "Almuerzo")
            await asyncio.sleep(0.5)
            scheduled = await asyncio.to_thread(
                worklist.schedule,
                call=CallKey("pbx", "1795400000.9"),
                number="098765432",
                queue="consultas",
                reason="Confirmar la fecha del trámite",
            )
            await asyncio.sleep(0.5)
            await expect(tomas.locator("#devolucion-cuerpo")).to_contain_text(NOTHING)
            # Available again (AMI's agent state): the offer comes with it.
            set_state("PJSIP/4003", AgentState.AVAILABLE)
            await within(
                PUSHED,
                lambda: expect(tomas.locator("#devolucion-cuerpo")).to_contain_text(
                    "Confirmar la fecha del trámite", timeout=PUSHED * 1000
                ),
            )
            await expect(tomas.locator("#devolucion-cuerpo")).to_contain_text(
                "Agendada en un cierre"
            )

            # His socket drops; meanwhile the offer is cancelled. The reconnect
            # (the page retries after 2 s) redraws the panel without it.
            tomas_reads.reads = 0
            hub.close_user(tomas_id, code=4008)
            await expect(tomas.locator("body")).to_have_attribute("data-socket", "closed")
            assert await asyncio.to_thread(worklist.finish, scheduled.id, CallbackStatus.CANCELLED)
            await expect(tomas.locator("body")).to_have_attribute(
                "data-socket", "open", timeout=10_000
            )
            await within(
                PUSHED,
                lambda: expect(tomas.locator("#devolucion-cuerpo")).to_contain_text(
                    NOTHING, timeout=PUSHED * 1000
                ),
            )
            assert tomas_reads.reads == 1

            # Scheduled two seconds ahead: offered when it comes due, by the
            # watch on the worklist's next due time (no poll, no other change).
            tomas_reads.reads = 0
            asked = time.monotonic()
            await asyncio.to_thread(
                worklist.schedule,
                call=CallKey("pbx", "1795400000.11"),
                number="097111222",
                queue="consultas",
                at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2),
                reason="Llamar cuando abra la oficina",
            )
            await expect(tomas.locator("#devolucion-cuerpo")).to_contain_text(
                "Llamar cuando abra la oficina", timeout=(2 + PUSHED) * 1000
            )
            assert 1.9 <= time.monotonic() - asked < 2 + PUSHED
            # One read when it was scheduled (not due yet) and one when it came due.
            assert tomas_reads.reads == 2
            assert await axe_violations(tomas) == []
        finally:
            await browser.close()
    engine.dispose()
