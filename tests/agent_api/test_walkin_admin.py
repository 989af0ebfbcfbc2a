"""The admin's walk-in set-up screen (/admin/presencial), PostgreSQL.

In headless Chromium at 1366×768, as admin: a service point, its topics, two
desks with their topics, a priority and the waiting-room display's link,
shown once and opened; then a receptionist gives a turn at that point, a desk
calls it and the display shows it. axe-core finds no violation. Over HTTP:
every route of the screen refuses the other roles (403), changes are audited,
and refusals come back in Spanish next to their field.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from agent_api.audit import AuditLog
from crm_bridge.organisms import Role
from tests.agent_api.conftest import PASSWORD, Panel, build_panel
from tests.agent_api.test_walkin_browser import _clean
from tests.agent_api.test_web_pages import form_login
from tests.support.browser import VIEWPORT, launch, log_in_page, require_chromium
from tests.support.web import served

pytestmark = pytest.mark.postgres

HTMX = {"HX-Request": "true"}
PAGE = "/admin/presencial"


@pytest.fixture
def panel(panel_db: str) -> Iterator[Panel]:
    built = build_panel(panel_db)
    yield built
    built.engine.dispose()


def _client(panel: Panel, role: Role) -> TestClient:
    client = panel.client()
    form_login(client, panel.usernames[role])
    client.headers.update({**HTMX, "X-CSRF-Token": client.cookies.get("atiende_csrf") or ""})
    return client


async def test_admin_sets_up_a_point_and_reception_gives_a_turn_the_display_shows(
    panel: Panel,
) -> None:
    api = require_chromium()
    expect = api.expect
    code = f"cac-{uuid.uuid4().hex[:6]}"
    async with served(panel.app) as host:
        object.__setattr__(
            panel.app.state.services, "allowed_origins", frozenset({f"http://{host}"})
        )
        base = f"http://{host}"
        async with api.async_playwright() as pw:
            browser = await launch(pw)
            try:
                admin = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
                await log_in_page(admin, host, panel.usernames[Role.ADMIN], PASSWORD)
                await admin.goto(f"{base}{PAGE}")
                await expect(admin.locator("h2#t-puntos")).to_be_visible()
                await _clean(admin, "presencial vacío")

                # A point: first without a code (the error sits by the field), then right.
                await admin.fill("#p-nombre", "Centro de Atención Ciudadana")
                await admin.click("#crear-punto")
                await expect(admin.locator("#p-codigo-error")).to_have_text(
                    "Escriba el código del punto."
                )
                await expect(admin.locator("#p-nombre")).to_have_value(
                    "Centro de Atención Ciudadana"
                )
                await _clean(admin, "punto con error")
                await admin.fill("#p-codigo", code)
                await admin.click("#crear-punto")
                await expect(admin.locator(".notice")).to_have_text(f"Punto {code} creado.")
                point = next(p for p in panel.app.state.turns.points() if p.code == code)
                section = admin.locator(f"#t-punto-{point.id}").locator("xpath=..")

                # Its topics (what people come for, with the turn letter).
                for name, topic_code, letter in (
                    ("Cédula de identidad", "cedula", "A"),
                    ("Pagos y cobros", "pagos", "B"),
                ):
                    await admin.fill(f"#t{point.id}-nombre", name)
                    await admin.fill(f"#t{point.id}-codigo", topic_code)
                    await admin.fill(f"#t{point.id}-letra", letter)
                    await section.get_by_role("button", name="Agregar tema").click()
                    await expect(admin.locator(".notice")).to_contain_text(name)
                # A taken letter is refused beside the letter field.
                await admin.fill(f"#t{point.id}-nombre", "Otro")
                await admin.fill(f"#t{point.id}-codigo", "otro")
                await admin.fill(f"#t{point.id}-letra", "a")
                await section.get_by_role("button", name="Agregar tema").click()
                await expect(admin.locator(f"#t{point.id}-letra-error")).to_contain_text(
                    "ya es de otro tema"
                )

                # Two desks, each with its topics.
                for desk_name, desk_code, topic in (
                    ("Puesto 1", "1", "A · Cédula de identidad"),
                    ("Puesto 2", "2", "B · Pagos y cobros"),
                ):
                    await admin.fill(f"#d{point.id}-nombre", desk_name)
                    await admin.fill(f"#d{point.id}-codigo", desk_code)
                    await admin.locator(f"#d{point.id}-temas").get_by_label(topic).check()
                    await section.get_by_role("button", name="Agregar puesto").click()
                    await expect(admin.locator(".notice")).to_have_text(
                        f"Puesto {desk_name} agregado."
                    )
                desks = panel.app.state.turns.desks(point.id)
                topics = {t.code: t.id for t in panel.app.state.turns.topics(point.id)}
                assert [(d.name, d.topic_ids) for d in desks] == [
                    ("Puesto 1", (topics["cedula"],)),
                    ("Puesto 2", (topics["pagos"],)),
                ]

                # A priority.
                priority = f"emb{uuid.uuid4().hex[:4]}"
                await admin.fill("#pr-codigo", priority)
                await admin.fill("#pr-nombre", "Embarazo")
                await admin.fill("#pr-orden", "1")
                await admin.click("#guardar-prioridad")
                await expect(admin.locator(".notice")).to_have_text(
                    "Prioridad «Embarazo» guardada."
                )

                # The display's link: shown once, then opened on the TV.
                await admin.select_option(
                    f"#e{point.id}-destino", label="Pantalla de la sala de espera"
                )
                await admin.fill(f"#e{point.id}-etiqueta", "TV sala")
                await section.get_by_role("button", name="Crear enlace").click()
                link = admin.locator("#enlace-nuevo-url")
                await expect(link).to_be_visible()
                url = await link.inner_text()
                assert url.startswith(f"{base}/sala/")
                await _clean(admin, "enlace creado")
                await admin.goto(f"{base}{PAGE}")
                await expect(admin.locator("#enlace-nuevo")).to_have_count(0)  # once only
                await expect(section.locator("table").last).to_contain_text("TV sala")
                assert url.removeprefix(f"{base}") not in await admin.content()

                room = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
                await room.goto(url)
                await expect(room.locator("h1")).to_have_text("Centro de Atención Ciudadana")
                await expect(room.locator("#llamando")).to_contain_text("Aguarde su número")
                await _clean(room, "sala nueva")

                # Reception gives a turn with the new priority at that point ...
                reception = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
                await log_in_page(reception, host, panel.usernames[Role.EJECUTIVO], PASSWORD)
                await reception.goto(f"{base}/recepcion?punto={point.id}")
                await reception.click("#recibir")
                await reception.select_option("#turno-tema", label="A · Cédula de identidad")
                await reception.get_by_label("Embarazo").check()
                await reception.click("#dar-turno")
                await expect(reception.locator("#turno-numero")).to_have_text("A-001")
                await expect(room.locator(".esperas")).to_contain_text("A · Cédula de identidad")

                # ... a desk calls it, and the display shows the number and the desk.
                desk = await browser.new_page(viewport=VIEWPORT, locale="es-UY")
                await log_in_page(desk, host, panel.second_agent, PASSWORD)
                panel.app.state.turns.take_desk(desks[0].id, panel.users[panel.second_agent])
                await desk.goto(f"{base}/puesto")
                await desk.click("#llamar-siguiente")
                await expect(desk.locator("#turno-actual")).to_have_text("A-001")
                await expect(room.locator("#llamando")).to_contain_text("A-001", timeout=10_000)
                await expect(room.locator("#llamando")).to_contain_text("Puesto 1")
                await _clean(room, "sala llamando")
            finally:
                await browser.close()
    audited = AuditLog(panel.engine).query(action="admin_change", limit=50)
    resources = {(r.details.get("resource"), r.details.get("op")) for r in audited}
    assert {
        ("service_point", "create"),
        ("service_point_topic", "create"),
        ("service_desk", "create"),
        ("turn_priority", "set"),
    } <= resources
    links = AuditLog(panel.engine).query(action="kiosk_link", limit=20)
    assert any(r.details.get("label") == "TV sala" for r in links)


def _routes(point: int, topic: int, desk: int, link: int) -> list[tuple[str, str]]:
    return [
        ("GET", PAGE),
        ("POST", f"{PAGE}/puntos"),
        ("POST", f"{PAGE}/puntos/{point}"),
        ("POST", f"{PAGE}/puntos/{point}/temas"),
        ("POST", f"{PAGE}/temas/{topic}"),
        ("POST", f"{PAGE}/puntos/{point}/puestos"),
        ("POST", f"{PAGE}/puestos/{desk}"),
        ("POST", f"{PAGE}/prioridades"),
        ("POST", f"{PAGE}/prioridades/quitar"),
        ("POST", f"{PAGE}/puntos/{point}/enlaces"),
        ("POST", f"{PAGE}/enlaces/{link}/revocar"),
    ]


def test_every_route_of_the_screen_refuses_the_other_roles(panel: Panel) -> None:
    turns = panel.app.state.turns
    point = turns.create_point(f"r-{uuid.uuid4().hex[:6]}", "Punto")
    topic = turns.add_topic(point.id, "t", "Tema", "A")
    desk = turns.add_desk(point.id, "1", "Puesto 1")
    link, _ = panel.app.state.walkin_kiosk.create(
        "TV", None, kind="sala", service_point_id=point.id
    )
    routes = _routes(point.id, topic.id, desk.id, link.id)
    body = {"accion": "desactivar", "codigo": "x", "nombre": "X", "letra": "Z", "orden": "1"}
    for role in Role:
        if role is Role.ADMIN:
            continue
        client = _client(panel, role)
        for method, path in routes:
            answer = client.request(method, path, data=body if method == "POST" else None)
            assert answer.status_code == 403, (role, method, path, answer.status_code)
    # Nothing changed.
    assert turns.point(point.id).active and turns.desk(desk.id).active
    assert panel.app.state.walkin_kiosk.is_active(link.id)
    # And an admin without the session's token is refused too.
    bare = panel.client()
    form_login(bare, panel.usernames[Role.ADMIN])
    assert bare.post(f"{PAGE}/puntos/{point.id}", data={"accion": "desactivar"}).status_code == 403
    assert turns.point(point.id).active


def test_the_screen_changes_points_desks_priorities_and_links(panel: Panel) -> None:
    admin = _client(panel, Role.ADMIN)
    turns = panel.app.state.turns
    code = f"h-{uuid.uuid4().hex[:6]}"
    page = admin.post(f"{PAGE}/puntos", data={"codigo": code, "nombre": "Punto H", "espera": "x"})
    assert 'id="p-espera-error"' in page.text and "minutos" in page.text
    page = admin.post(f"{PAGE}/puntos", data={"codigo": code, "nombre": "Punto H"})
    assert f"Punto {code} creado." in page.text
    page = admin.post(f"{PAGE}/puntos", data={"codigo": code, "nombre": "Otro"})
    assert 'id="p-codigo-error"' in page.text and "Ya existe un punto" in page.text
    point = next(p for p in turns.points() if p.code == code)
    page = admin.post(f"{PAGE}/puntos/{point.id}", data={"accion": "renombrar", "nombre": " "})
    assert f'id="p{point.id}-nombre-error"' in page.text
    admin.post(f"{PAGE}/puntos/{point.id}", data={"accion": "renombrar", "nombre": "Punto Hache"})
    assert turns.point(point.id).name == "Punto Hache"
    admin.post(
        f"{PAGE}/puntos/{point.id}/temas", data={"codigo": "c", "nombre": "Cédula", "letra": "c"}
    )
    admin.post(
        f"{PAGE}/puntos/{point.id}/temas", data={"codigo": "p", "nombre": "Pagos", "letra": "P"}
    )
    topics = {t.code: t.id for t in turns.topics(point.id)}
    assert [t.prefix for t in turns.topics(point.id)] == ["C", "P"]
    page = admin.post(
        f"{PAGE}/puntos/{point.id}/puestos",
        data={"codigo": "1", "nombre": "Puesto 1", "temas": "999999"},
    )
    assert f'id="d{point.id}-temas-error"' in page.text  # not a topic of this point
    admin.post(
        f"{PAGE}/puntos/{point.id}/puestos",
        data={"codigo": "1", "nombre": "Puesto 1", "temas": [str(topics["c"])]},
    )
    desk = turns.desks(point.id)[0]
    assert desk.topic_ids == (topics["c"],)
    admin.post(
        f"{PAGE}/puestos/{desk.id}",
        data={"accion": "temas", "temas": [str(topics["c"]), str(topics["p"])]},
    )
    assert set(turns.desk(desk.id).topic_ids) == {topics["c"], topics["p"]}
    admin.post(f"{PAGE}/puestos/{desk.id}", data={"accion": "renombrar", "nombre": "Ventanilla"})
    assert turns.desk(desk.id).name == "Ventanilla"

    # A point with a turn waiting is not deactivated; once it ends, it is.
    key = turns.receive(point.id, user_id=panel.users[panel.usernames[Role.EJECUTIVO]])
    waiting = turns.give_turn(key, topics["c"], user_id=None)
    page = admin.post(f"{PAGE}/puntos/{point.id}", data={"accion": "desactivar"})
    assert "turnos en espera" in page.text and turns.point(point.id).active
    turns.cancel(waiting.id)
    page = admin.post(f"{PAGE}/temas/{topics['p']}", data={"accion": "desactivar"})
    assert "Tema desactivado." in page.text
    page = admin.post(f"{PAGE}/puestos/{desk.id}", data={"accion": "desactivar"})
    assert "Puesto desactivado." in page.text and turns.desks(point.id) == []

    # Priorities: a bad order beside its field; set; removed.
    prio = f"p{uuid.uuid4().hex[:5]}"
    page = admin.post(f"{PAGE}/prioridades", data={"codigo": prio, "nombre": "Mayor", "orden": "0"})
    assert 'id="pr-orden-error"' in page.text
    admin.post(f"{PAGE}/prioridades", data={"codigo": prio, "nombre": "Mayor", "orden": "3"})
    assert any(p.code == prio for p in turns.priorities())
    admin.post(f"{PAGE}/prioridades/quitar", data={"codigo": prio})
    assert all(p.code != prio for p in turns.priorities())

    # A link: its address once, then revoked; a desk of another point is refused.
    page = admin.post(
        f"{PAGE}/puntos/{point.id}/enlaces", data={"destino": "sala", "etiqueta": "TV"}
    )
    assert 'id="enlace-nuevo-url"' in page.text
    link = next(k for k in panel.app.state.walkin_kiosk.all() if k.service_point_id == point.id)
    page = admin.post(
        f"{PAGE}/puntos/{point.id}/enlaces", data={"destino": "puesto-999999", "etiqueta": "T"}
    )
    assert f'id="e{point.id}-destino-error"' in page.text
    page = admin.post(f"{PAGE}/enlaces/{link.id}/revocar")
    assert "Enlace revocado" in page.text
    assert not panel.app.state.walkin_kiosk.is_active(link.id)
    page = admin.post(
        f"{PAGE}/puntos/{point.id}/enlaces", data={"destino": "sala", "etiqueta": "TV 2"}
    )
    room = page.text.split('id="enlace-nuevo-url"')[1].split(">")[1].split("<")[0]
    path = "/sala/" + room.split("/sala/")[1]
    assert admin.get(path).status_code == 200
    page = admin.post(f"{PAGE}/puntos/{point.id}", data={"accion": "desactivar"})
    assert "Punto desactivado." in page.text
    assert admin.get(path).status_code == 404  # a deactivated point's display shows nothing
    assert all(p.id != point.id for p in turns.points())
    ops = {
        (r.details.get("resource"), r.details.get("op"))
        for r in AuditLog(panel.engine).query(action="admin_change", limit=100)
    }
    assert {
        ("service_point", "rename"),
        ("service_point", "deactivate"),
        ("service_point_topic", "deactivate"),
        ("service_desk", "topics"),
        ("service_desk", "rename"),
        ("service_desk", "deactivate"),
        ("turn_priority", "remove"),
    } <= ops
