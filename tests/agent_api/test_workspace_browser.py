"""The agent's workspace (/agente) in headless Chromium, at 1366×768 and 1920×1080.

The pop hub gets the domain events the bridge would publish (ring, answer,
hang-up, agent state), so the page goes through the real hub, socket,
templates, routes and store (PostgreSQL). Controls go through the real
AmiAgentControls over a `send` that answers as Asterisk does: one of the
agent's two interfaces refuses with "Interface not found" (it is in no queue,
so pauses skip it unless QueueStatus lists it). axe-core checks every state.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from agent_api.after_call import ACW_REASON, AfterCallWork
from agent_api.catalog import Catalog, TopicInput
from agent_api.controls import AmiAgentControls
from agent_api.users import UserStore
from agent_api.wrapups import WrapupStore
from agent_api.ws import PopHub
from crm_bridge.db import make_engine, session_factory
from crm_bridge.models import Attention, AttentionWrapup
from crm_bridge.organisms import Role
from crm_bridge.persons import ConsentCategory, PersonRegistry
from telephony.agents import AgentSnapshot
from telephony.ami.actions import AmiAction
from telephony.ami.exceptions import AmiActionFailed
from telephony.domain import (
    AgentRinging,
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallKey,
    CallRecord,
    HangupSide,
    Outcome,
    QueueLeg,
)
from tests.agent_api.conftest import PASSWORD, fast_passwords, served
from tests.support.browser import axe_violations, launch, require_chromium
from tests.support.panel import allow_origin, local_panel, pop_hub

pytestmark = pytest.mark.postgres

SYSTEM = "pbx-ws"
# Each test's agent gets its own pair (the database is shared by the module).
IFACES: dict[str, str] = {"desk": "PJSIP/4001", "soft": "Local/4001@agents/n"}
SIZES = [(1366, 768), (1920, 1080)]
SHOTS = Path(os.environ.get("ATIENDE_SCREENSHOTS", "/tmp/atiende-workspace-shots"))


class Asterisk:
    """`send` for AmiAgentControls: the desk phone is a member, the softphone is not."""

    def __init__(self) -> None:
        self.sent: list[AmiAction] = []

    async def send(self, action: AmiAction) -> Any:
        self.sent.append(action)
        if getattr(action, "interface", None) == IFACES["soft"]:
            raise AmiActionFailed(action.name, "Interface not found")
        return {"Response": "Success"}

    def pauses(self) -> list[tuple[str, bool, str]]:
        return [
            (a.interface, a.paused, a.reason)  # type: ignore[attr-defined]
            for a in self.sent
            if a.name == "QueuePause"
        ]


@dataclass
class World:
    base: str
    hub: PopHub
    engine: Any
    asterisk: Asterisk
    acw: AfterCallWork
    ana_id: int
    maria_id: int
    registry: PersonRegistry
    # What QueueStatus lists (a test may add a member).
    members: list[AgentSnapshot]


def _ring(key: CallKey, number: str, at: float) -> AgentRinging:
    return AgentRinging(
        at,
        key,
        "consultas",
        IFACES["desk"],
        "Ana Gómez",
        number,
        "",
        {"ATIENDE_TOPIC": "cedula"},
        12.0,
    )


def _answer(key: CallKey, at: float) -> CallAnswered:
    return CallAnswered(at, key, "consultas", IFACES["desk"], "Ana Gómez", 12.0)


def _end(key: CallKey, number: str, answered_at: float, at: float) -> CallEnded:
    leg = QueueLeg(
        "consultas",
        answered_at - 12,
        1,
        left_at=answered_at,
        outcome=Outcome.ANSWERED,
        agent="Ana Gómez",
        agent_interface=IFACES["desk"],
        answered_at=answered_at,
    )
    record = CallRecord(
        key=key,
        caller_number=number,
        caller_name="",
        arrived_at=answered_at - 30,
        outcome=Outcome.ANSWERED,
        hangup_side=HangupSide.CALLER,
        answered_at=answered_at,
        ended_at=at,
        legs=(leg,),
        wait_seconds=12.0,
        talk_seconds=at - answered_at,
    )
    return CallEnded(at, record)


def _state(state: AgentState, reason: str | None = None) -> AgentStateChanged:
    return AgentStateChanged(
        time.time(), SYSTEM, IFACES["desk"], "Ana Gómez", state, reason, None, None
    )


@pytest.fixture
async def world(panel_db: str) -> AsyncIterator[World]:
    require_chromium()
    engine = make_engine(panel_db)
    suffix = str(int(time.time() * 1000))[-6:]
    users = UserStore(engine, fast_passwords())
    IFACES["desk"], IFACES["soft"] = f"PJSIP/4{suffix}", f"Local/4{suffix}@agents/n"
    ana = users.create(
        f"ana{suffix}", "Ana Gómez", Role.EJECUTIVO, PASSWORD, [IFACES["desk"], IFACES["soft"]]
    )
    Catalog(engine).import_topics([TopicInput(f"ced-{suffix}", "Cédula de identidad")])
    registry = PersonRegistry(engine)
    maria = registry.register(
        given_names="María",
        family_names="Pérez",
        consents=["identificacion", "contacto"],
        document_type="ci",
        document_number=_cedula(int(suffix)),
        phones=["099" + suffix],
    )
    _seed_history(engine, maria.id, suffix)
    hub = pop_hub(engine, wrapups=True)
    asterisk = Asterisk()
    members = [
        AgentSnapshot(
            IFACES["desk"], "Ana Gómez", ("consultas",), AgentState.AVAILABLE, time.time(), None
        )
    ]
    controls = AmiAgentControls(asterisk.send)
    # The PBX's clock an hour ahead and x5, as the demo's simulator: the page
    # must still say when the pause ends on the wall (600 / 5 = 120 s from now).
    acw = AfterCallWork(
        controls,
        per_queue={"consultas": 0.0},
        default_seconds=600.0,
        clock=lambda: time.time() + 3600.0,
        speed=5.0,
    )
    port_holder: dict[str, str] = {}
    app = local_panel(
        engine,
        hub,
        controls=controls,
        # QueueStatus knows the desk phone, a member of consultas.
        agents_snapshot=lambda: list(members),
        after_call=acw,
        queue_names=["consultas", "tramites"],
    )
    async with served(app) as base:
        port_holder["base"] = base
        allow_origin(app, base)
        hub.set_interfaces(users.interface_map())
        yield World(base, hub, engine, asterisk, acw, ana.id, maria.id, registry, members)
    acw.close()
    await hub.close()
    engine.dispose()


def _seed_history(engine: Any, person_id: int, suffix: str) -> None:
    """Seven earlier calls of María; the newest closed as a complaint with notes."""
    with session_factory(engine).begin() as session:
        for i in range(7):
            linkedid = f"hist-{suffix}-{i}"
            at = datetime(2026, 11, 20 + i, 14, 5, tzinfo=UTC)
            session.add(
                Attention(
                    system="pbx-hist",
                    linkedid=linkedid,
                    channel="telefonico",
                    caller_number_raw="099",
                    caller_number=None,
                    caller_name="",
                    arrived_at=at,
                    ivr_path=[],
                    queues=["consultas"],
                    queue="consultas",
                    agent="Bruno Núñez",
                    agents=["Bruno Núñez"],
                    legs=[],
                    wait_seconds=10.0,
                    talk_seconds=90.0,
                    outcome="answered" if i != 3 else "abandoned",
                    hangup_side="caller",
                    variables={},
                    person_id=person_id,
                )
            )
        session.add(
            AttentionWrapup(
                system="pbx-hist",
                linkedid=f"hist-{suffix}-6",
                attention_type="queja",
                notes="Reclamó por la demora en la agenda de cédula, pidió un supervisor",
                resolution="resuelta",
                wrapup_started_at=datetime(2026, 11, 26, 14, 10, tzinfo=UTC),
                wrapup_ended_at=datetime(2026, 11, 26, 14, 12, tzinfo=UTC),
            )
        )


def _cedula(seed: int) -> str:
    """A valid Uruguayan cédula (check digit by the 2987634 rule) from a seed."""
    body = f"{(seed % 9_000_000) + 1_000_000:07d}"
    total = sum(int(d) * w for d, w in zip(body, (2, 9, 8, 7, 6, 3, 4), strict=True))
    return body + str((10 - total % 10) % 10)


async def _login(page: Any, base: str, username: str) -> None:
    await page.goto(f"http://{base}/")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await page.wait_for_url("**/agente")
    await page.wait_for_selector("body[data-socket=open]")


async def _no_axe(page: Any, name: str) -> None:
    found = await axe_violations(page, impacts=None)  # this page: none of any impact
    if found:
        await page.screenshot(path=str(SHOTS / f"axe-{name}.png"), full_page=True)
    assert found == [], name


def _in_viewport(box: dict[str, float] | None, height: int) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


@pytest.mark.parametrize(("width", "height"), SIZES)
async def test_race_pending_and_after_call_pause(world: World, width: int, height: int) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    username = UserStore(world.engine, fast_passwords()).get(world.ana_id).username  # type: ignore[union-attr]
    maria = world.registry.get(world.maria_id)
    assert maria is not None
    known_number = maria.phones[0].number
    tag = f"{width}x{height}"
    a = CallKey(SYSTEM, f"{tag}-A.1")
    b = CallKey(SYSTEM, f"{tag}-B.1")
    async with playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(
                viewport={"width": width, "height": height}, locale="es-UY"
            )
            await _login(page, world.base, username)
            await _no_axe(page, f"empty-{tag}")

            # Call A from a known person: the card, then the whole person at answer.
            now = time.time()
            world.hub.publish([_ring(a, known_number, now)])
            await expect(page.locator("#llamada")).to_contain_text("Sonando")
            await expect(page.locator("#persona")).to_contain_text("María Pérez")
            assert (await page.title()).startswith("☎")
            # Ringing: the history is read with the answered call as reason, so
            # the pop says when it comes instead of asking (and showing a refusal).
            await expect(page.locator("#historial")).to_contain_text(
                "El historial se muestra al atender."
            )
            await expect(page.locator("#persona")).not_to_contain_text("no existe")
            world.hub.publish([_answer(a, now + 2)])
            await expect(page.locator("#llamada")).to_contain_text("En llamada")
            await expect(page.locator("#persona")).to_contain_text(maria.document_number or "")
            # History in Spanish, newest first, ten a page (all seven here); dates
            # as Uruguay writes them.
            history = page.locator("#historial")
            await expect(history.locator("tbody tr")).to_have_count(7)
            first_row = history.locator("tbody tr").first
            await expect(first_row).to_contain_text("26/11/2026 11:05")
            await expect(first_row).to_contain_text("Teléfono")
            await expect(first_row).to_contain_text("Atención: Queja")
            await expect(first_row).to_contain_text("Bruno Núñez")
            await expect(first_row).to_contain_text("Atendida · Resuelta en el primer contacto")
            await expect(first_row).to_contain_text("Reclamó por la demora")
            await expect(history).to_contain_text("Abandonada")
            assert "answered" not in await history.inner_text()
            await expect(history.get_by_role("button", name="Siguientes")).to_have_count(0)
            # At 1366×768 the card, the person and the wrap-up's main fields are on screen.
            form_a = page.locator(f"#cierre-{_dom(a)}")
            await expect(form_a).to_be_visible()
            for selector in ("#llamada", "#ficha-nombre", f"#tipo-{_dom(a)}", f"#notas-{_dom(a)}"):
                box = await page.locator(selector).bounding_box()
                assert _in_viewport(box, height), (selector, box)
            await page.screenshot(path=str(SHOTS / f"a-answered-{tag}.png"))
            await _no_axe(page, f"a-answered-{tag}")

            # A ends: after-call pause "Cierre" on the interface Asterisk has in a
            # queue (the softphone is in none: nothing to pause, no warning),
            # focus to A's wrap-up.
            world.hub.publish([_end(a, known_number, now + 2, now + 40)])
            await expect(page.locator(f"#tipo-{_dom(a)}")).to_be_focused()
            await expect(page.locator("#estado")).to_contain_text("Cierre")
            banner = await page.locator("#estado .badge-warn").inner_text()
            ends = time.time() + 120.0
            on_the_wall = {
                datetime.fromtimestamp(ends + d, ZoneInfo("America/Montevideo")).strftime(
                    "%H:%M:%S"
                )
                for d in range(-8, 3)
            }
            assert any(f"a las {hhmmss}" in banner for hhmmss in on_the_wall), banner
            # And a countdown of wall seconds, counted down in the page.
            countdown = page.locator("#estado .countdown")
            left = await countdown.inner_text()
            minutes, seconds = (int(x) for x in left.split(":"))
            assert 100 <= minutes * 60 + seconds <= 121, left
            await expect(countdown).not_to_have_text(left, timeout=5000)
            assert (IFACES["desk"], True, ACW_REASON) in world.asterisk.pauses()
            assert (IFACES["soft"], True, ACW_REASON) not in world.asterisk.pauses()
            await expect(page.locator("#estado")).not_to_contain_text("La pausa de cierre no llegó")
            world.hub.publish([_state(AgentState.PAUSED, ACW_REASON)])
            await expect(page.locator("#estado .state")).to_contain_text("En pausa")

            # Half of A's wrap-up typed, then B rings (unknown number).
            await page.select_option(f"#tipo-{_dom(a)}", "queja")
            await page.fill(f"#notas-{_dom(a)}", "Queja por demora en la agenda")
            world.hub.publish([_ring(b, "098765432", time.time())])
            await expect(page.locator("#llamada")).to_contain_text("098 765 432")
            await expect(page.locator("#persona")).to_contain_text("Persona no registrada")
            # One person on screen: nothing of María survives in the DOM.
            html = await page.content()
            assert "María" not in html.split('id="cierre-formularios"')[0]
            assert (maria.document_number or "xx") not in html
            assert await page.locator(f"#notas-{_dom(a)}").input_value() == (
                "Queja por demora en la agenda"
            )
            await page.screenshot(path=str(SHOTS / f"b-ringing-{tag}.png"))
            await _no_axe(page, f"b-ringing-{tag}")

            # B answered: B gets its own form; A's stays the one on screen with its draft.
            world.hub.publish([_answer(b, time.time())])
            form_b = page.locator(f"#cierre-{_dom(b)}")
            await expect(form_b).to_have_count(1)
            await expect(form_a).to_be_visible()
            await expect(page.locator(f"#cierre-titulo-{_dom(a)}")).to_contain_text(
                _national(known_number)
            )
            await page.check(f"#cierre-{_dom(a)} input[name=resolution][value=resuelta]")
            await page.keyboard.press("Control+s")
            await expect(page.locator(f"#cierre-{_dom(a)}.saved")).to_contain_text(
                "Cierre registrado"
            )
            # Saving A ends its after-call pause on both interfaces.
            await _until(lambda: (IFACES["desk"], False, "") in world.asterisk.pauses())
            await expect(form_b).to_be_visible()

            # B's wrap-up in its own form, then B ends and is saved.
            world.hub.publish([_end(b, "098765432", time.time() - 20, time.time())])
            await expect(page.locator(f"#tipo-{_dom(b)}")).to_be_focused()
            await page.select_option(f"#tipo-{_dom(b)}", "consulta")
            await page.fill(f"#notas-{_dom(b)}", "Consulta de horarios")
            await page.check(f"#cierre-{_dom(b)} input[name=resolution][value=resuelta]")
            await page.click(f"#cierre-{_dom(b)} button[type=submit]")
            await expect(page.locator(f"#cierre-{_dom(b)}.saved")).to_be_visible()
            await _no_axe(page, f"saved-{tag}")
        finally:
            await browser.close()

    with session_factory(world.engine)() as session:
        rows = {
            w.linkedid: w
            for w in session.scalars(
                select(AttentionWrapup).where(
                    AttentionWrapup.linkedid.in_([a.linkedid, b.linkedid])
                )
            )
        }
    assert (rows[a.linkedid].attention_type, rows[a.linkedid].notes) == (
        "queja",
        "Queja por demora en la agenda",
    )
    assert (rows[b.linkedid].attention_type, rows[b.linkedid].notes) == (
        "consulta",
        "Consulta de horarios",
    )
    assert rows[a.linkedid].wrapup_ended_at is not None


def _dom(key: CallKey) -> str:
    from agent_api.workspace import CallId

    return CallId(key.system, key.linkedid).dom_id


def _national(number: str) -> str:
    from agent_api.web.formatting import phone

    return phone(number)


async def _until(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def _formatted_cedula(number: str) -> str:
    body, check = number[:-1], number[-1]
    return f"{body[0]}.{body[1:4]}.{body[4:]}-{check}"


@pytest.mark.parametrize(("width", "height"), SIZES)
async def test_controls_pending_person_search_edit_and_duplicate(
    world: World, width: int, height: int
) -> None:
    playwright_api = require_chromium()
    expect = playwright_api.expect
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    users = UserStore(world.engine, fast_passwords())
    username = users.get(world.ana_id).username  # type: ignore[union-attr]
    maria = world.registry.get(world.maria_id)
    assert maria is not None and maria.document_number is not None
    tag = f"{width}x{height}"
    # A call of yesterday answered and never closed: on the pending list.
    old = CallKey(SYSTEM, f"{tag}-old.1")
    WrapupStore(world.engine).start(old, world.ana_id, datetime.now(UTC) - timedelta(days=1))
    async with playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(
                viewport={"width": width, "height": height}, locale="es-UY"
            )
            await _login(page, world.base, username)

            # Pause goes only where QueueStatus lists the agent: the
            # softphone (in no queue) is not asked, so nothing is refused.
            await page.select_option("#pausa-motivo", "Almuerzo")
            await page.click("#pausar")
            result = page.locator("#control-resultado")
            await expect(page.locator("#estado")).to_contain_text(
                "Pausa: pendiente de confirmación"
            )
            await _until(lambda: (IFACES["desk"], True, "Almuerzo") in world.asterisk.pauses())
            assert (IFACES["soft"], True, "Almuerzo") not in world.asterisk.pauses()
            await expect(result).not_to_contain_text("Falló")
            # A real partial failure: QueueStatus lists the softphone in a
            # queue, Asterisk refuses it; the refused one is named, in Spanish.
            softphone = replace(world.members[0], interface=IFACES["soft"])
            world.members.append(softphone)
            await page.click("#pausar")
            await expect(result).to_contain_text("Falló en parte")
            await expect(result).to_contain_text(IFACES["soft"])
            await expect(result).to_contain_text("no está en ninguna cola")
            assert (IFACES["soft"], True, "Almuerzo") in world.asterisk.pauses()
            world.members.remove(softphone)
            await _no_axe(page, f"pause-requested-{tag}")
            world.hub.publish([_state(AgentState.PAUSED, "Almuerzo")])
            await expect(page.locator("#estado .state")).to_contain_text("En pausa (Almuerzo)")
            await expect(page.locator("#estado")).not_to_contain_text("pendiente de confirmación")
            # Queues come from a list, never free text.
            assert await page.locator("select#cola option").all_text_contents() == [
                "consultas (en la cola)",
                "tramites",
            ]

            # Joining a queue: one interface asked, pending until AMI confirms;
            # no confirmation in 5 s gives a warning.
            await page.select_option("select#cola", "tramites")
            await page.get_by_role("button", name="Ingresar").click()
            await expect(page.locator("#estado")).to_contain_text(
                "Ingreso a la cola (tramites): pendiente de confirmación"
            )
            adds = [a for a in world.asterisk.sent if a.name == "QueueAdd"]
            assert [(a.queue, a.interface) for a in adds] == [  # type: ignore[attr-defined]
                ("tramites", IFACES["desk"])
            ]
            await expect(page.locator("#estado")).to_contain_text(
                "La central no confirmó «Ingreso a la cola»", timeout=10_000
            )
            await _no_axe(page, f"unconfirmed-{tag}")

            # The pending list (yesterday's call): open it, close it.
            pending = page.locator("#pendientes")
            await expect(pending).to_contain_text("Pendientes de cierre (1)")
            await pending.get_by_role("button", name="Cerrar").click()
            await expect(page.locator(f"#tipo-{_dom(old)}")).to_be_focused()
            await page.select_option(f"#tipo-{_dom(old)}", "consulta")
            await page.check(f"#cierre-{_dom(old)} input[name=resolution][value=pendiente]")
            await page.fill(f"#seguimiento-fecha-{_dom(old)}", "31/12/2030")
            await page.fill(f"#seguimiento-hora-{_dom(old)}", "14:30")
            # A reload keeps the draft (this tab's sessionStorage) in the call's own form.
            await page.reload()
            await page.wait_for_selector("body[data-socket=open]")
            await expect(page.locator(f"#seguimiento-fecha-{_dom(old)}")).to_have_value(
                "31/12/2030"
            )
            await expect(page.locator(f"#tipo-{_dom(old)}")).to_have_value("consulta")
            await expect(
                page.locator(f"#cierre-{_dom(old)} input[name=resolution][value=pendiente]")
            ).to_be_checked()
            await _no_axe(page, f"pending-open-{tag}")
            # Pending needs the person and their phone or email (none linked here).
            await page.click(f"#cierre-{_dom(old)} button[type=submit]")
            await expect(page.locator(f"#cierre-{_dom(old)} .error-summary")).to_contain_text(
                "necesita la persona vinculada"
            )
            await page.check(f"#cierre-{_dom(old)} input[name=resolution][value=resuelta]")
            await page.click(f"#cierre-{_dom(old)} button[type=submit]")
            await expect(page.locator(f"#cierre-{_dom(old)}.saved")).to_be_visible()
            await expect(pending).to_contain_text("Pendientes de cierre (0)")

            # A call from an unknown number: search María by her formatted cédula.
            c = CallKey(SYSTEM, f"{tag}-C.1")
            now = time.time()
            world.hub.publish([_ring(c, "091000000", now), _answer(c, now + 1)])
            await expect(page.locator("#persona")).to_contain_text("Persona no registrada")
            await page.fill("#buscar-persona", _formatted_cedula(maria.document_number))
            await page.press("#buscar-persona", "Enter")
            found = page.locator("#persona-detalle .candidates button")
            await expect(found).to_have_count(1)
            await expect(found).to_contain_text("María Pérez")
            await _no_axe(page, f"search-{tag}")
            await found.click()
            await expect(page.locator("#ficha-nombre")).to_have_text("María Pérez")

            # Edit: an e-mail (contact consent given) and the address consent.
            await page.get_by_role("button", name="Editar datos y consentimientos").click()
            await page.fill("#editar-correo", f"maria{tag}@example.com")
            await page.check("input[name=consents][value=domicilio]")
            await _no_axe(page, f"edit-{tag}")
            await page.get_by_role("button", name="Guardar cambios").click()
            await expect(page.locator("#ficha-nombre")).to_have_text("María Pérez")
            await expect(page.locator("#persona-detalle")).to_contain_text(
                f"maria{tag}@example.com"
            )
            edited = world.registry.get(world.maria_id)
            assert edited is not None
            assert f"maria{tag}@example.com" in [e.address for e in edited.emails]
            assert edited.consents_to(ConsentCategory.ADDRESS)

            # Registering her document again: 409 with a link that opens her.
            await page.get_by_role("button", name="Registrar persona").click()
            await page.fill("#nueva-nombres", "Otra")
            await page.fill("#nueva-cedula", _formatted_cedula(maria.document_number))
            await page.get_by_role("button", name="Registrar", exact=True).click()
            await expect(page.locator("#persona-detalle")).to_contain_text(
                "Ya existe una persona con ese documento"
            )
            await _no_axe(page, f"duplicate-{tag}")
            await page.click("#abrir-existente")
            await expect(page.locator("#ficha-nombre")).to_have_text("María Pérez")
            await expect(page.locator("#historial")).to_contain_text("Bruno Núñez")
            await page.screenshot(path=str(SHOTS / f"person-{tag}.png"))
        finally:
            await browser.close()
    closed = WrapupStore(world.engine).get(old)
    assert closed is not None and closed.resolution == "resuelta"
    assert closed.follow_up_at is not None
    assert (
        closed.follow_up_at.astimezone(ZoneInfo("America/Montevideo")).strftime("%d/%m/%Y %H:%M")
        == "31/12/2030 14:30"
    )


async def test_a_reload_during_the_cierre_pause_keeps_its_banner(world: World) -> None:
    """The "Cierre" banner comes back from the server's after-call book when the
    page is reloaded (or a tab restored), not only from the socket frame that
    started the pause; a person link opened as a page (middle click) lands on
    /agente with that person in the person area, read for the call."""
    playwright_api = require_chromium()
    expect = playwright_api.expect
    username = UserStore(world.engine, fast_passwords()).get(world.ana_id).username  # type: ignore[union-attr]
    maria = world.registry.get(world.maria_id)
    assert maria is not None and maria.document_number
    call = CallKey(SYSTEM, f"reload-{time.time_ns()}.1")
    async with playwright_api.async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768}, locale="es-UY")
            await _login(page, world.base, username)
            now = time.time()
            world.hub.publish([_ring(call, maria.phones[0].number, now)])
            await expect(page.locator("#persona")).to_contain_text("María Pérez")
            world.hub.publish([_answer(call, now + 1)])
            await expect(page.locator("#persona")).to_contain_text(maria.document_number)
            world.hub.publish([_end(call, maria.phones[0].number, now + 1, now + 30)])
            await expect(page.locator("#estado .badge-warn")).to_contain_text("Cierre")
            first = await page.locator("#estado .badge-warn").inner_text()

            # Reloaded: the same banner (same wall-clock end), drawn with the page.
            await page.reload()
            await page.wait_for_selector("body[data-socket=open]")
            banner = page.locator("#estado .badge-warn")
            await expect(banner).to_have_count(1)
            assert (await banner.inner_text()).split(" (en ")[0] == first.split(" (en ")[0]
            countdown = page.locator("#estado .countdown")
            left = await countdown.inner_text()
            minutes, seconds = (int(x) for x in left.split(":"))
            assert 90 <= minutes * 60 + seconds <= 121, left
            await expect(countdown).not_to_have_text(left, timeout=5000)
            later = await countdown.inner_text()
            assert _seconds(later) < _seconds(left), (left, later)
            await _no_axe(page, "reload-cierre")

            # Her record opened in a new tab: the fragment's URL as a navigation.
            linked = f"{call.system}%7C{call.linkedid}"
            await page.goto(f"http://{world.base}/agente/personas/{maria.id}?llamada={linked}")
            assert page.url == f"http://{world.base}/agente?persona={maria.id}&llamada={linked}"
            await page.wait_for_selector("body[data-socket=open]")
            await expect(page.locator("#ficha-nombre")).to_have_text("María Pérez")
            await expect(page.locator("#persona-detalle")).to_contain_text(maria.document_number)
            await expect(page.locator("#estado .badge-warn")).to_contain_text("Cierre")
            await _no_axe(page, "new-tab-person")

            # The wrap-up saved: the pause ends, and a reload shows no banner.
            form = page.locator(f"#cierre-{_dom(call)}")
            await page.select_option(f"#tipo-{_dom(call)}", "consulta")
            await form.locator("input[name=resolution][value=resuelta]").check()
            await form.get_by_role("button", name="Registrar cierre").click()
            await expect(page.locator(f"#cierre-{_dom(call)}.saved")).to_contain_text(
                "Cierre registrado"
            )
            await expect(page.locator("#estado .badge-warn")).to_have_count(0)
            await page.reload()
            await page.wait_for_selector("body[data-socket=open]")
            await expect(page.locator("#estado")).to_be_visible()
            await expect(page.locator("#estado .badge-warn")).to_have_count(0)
            await _no_axe(page, "reload-after-save")
        finally:
            await browser.close()


def _seconds(text: str) -> int:
    minutes, seconds = (int(x) for x in text.split(":"))
    return minutes * 60 + seconds
