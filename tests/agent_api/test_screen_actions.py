"""The screens' actions over HTTP (htmx posts): what the browser tests do not walk.

Admin: roles, interfaces, deactivation and password resets of users; a
catalog import pasted in; failed CRM jobs retried; a person erased under
Ley 18.331. Referente: filters, taking, deriving and escalating a ticket.
Every action needs the session's CSRF token, and another role's page is refused.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agent_api.audit import AuditAction, AuditLog
from crm_bridge.organisms import Directory, Role
from tests.agent_api import test_tickets_api
from tests.agent_api.conftest import PASSWORD
from tests.agent_api.test_tickets_api import World, _failed_rows
from tests.agent_api.test_web_pages import form_login

pytestmark = pytest.mark.postgres

world = test_tickets_api.world  # the same fixture: organism, units, referente, tickets

HTMX = {"HX-Request": "true"}


def _browser(world: World, role: Role) -> TestClient:
    client = world.panel.client()
    form_login(client, world.panel.usernames[role])
    client.headers.update({**HTMX, "X-CSRF-Token": client.cookies.get("atiende_csrf") or ""})
    return client


def test_admin_manages_users_from_the_page(world: World) -> None:
    admin = _browser(world, Role.ADMIN)
    other = world.panel.users[world.panel.second_agent]
    page = admin.post(f"/admin/usuarios/{other}", data={"accion": "rol", "rol": "referente"})
    assert "Cambios guardados." in page.text
    assert world.panel.app.state.services.users.get(other).role is Role.REFERENTE
    page = admin.post(
        f"/admin/usuarios/{other}", data={"accion": "interfaces", "interfaces": "PJSIP/7777"}
    )
    assert world.panel.app.state.services.users.get(other).interfaces == ("PJSIP/7777",)
    page = admin.post(f"/admin/usuarios/{other}", data={"accion": "clave", "clave": "corta"})
    assert "al menos 10" in page.text and 'class="error-summary"' in page.text
    page = admin.post(
        f"/admin/usuarios/{other}", data={"accion": "clave", "clave": "otra-clave-larga-9"}
    )
    assert "Contraseña restablecida." in page.text
    page = admin.post(f"/admin/usuarios/{other}", data={"accion": "desactivar"})
    assert "Usuario desactivado." in page.text
    assert not world.panel.app.state.services.users.get(other).active
    # Without the session's token nothing changes.
    bare = world.panel.client()
    form_login(bare, world.panel.usernames[Role.ADMIN])
    refused = bare.post(f"/admin/usuarios/{other}", data={"accion": "activar"})
    assert refused.status_code == 403
    assert not world.panel.app.state.services.users.get(other).active


def test_admin_imports_a_catalog_and_sees_it_audited(world: World) -> None:
    admin = _browser(world, Role.ADMIN)
    code = Directory(world.panel.engine).get_organism(world.organism).code  # type: ignore[union-attr]
    text = f'code,name,organism\nT-IMP-1,=HYPERLINK("x"),{code}\nT-IMP-2,Pasaporte,{code}\n'
    page = admin.post("/admin/catalogo/importar", data={"contenido": text})
    assert "2 creados, 0 actualizados." in page.text or "actualizados." in page.text
    assert "=HYPERLINK(&#34;x&#34;)" in page.text  # shown as text, escaped
    bad = admin.post("/admin/catalogo/importar", data={"contenido": "name\nx\n"})
    assert "encabezado" in bad.text
    audit = admin.get("/admin/auditoria?accion=admin_change")
    assert "Cambio de configuración" in audit.text
    assert admin.get("/admin/auditoria?desde=ayer").status_code == 200  # told, not crashed
    assert "aaaa-mm-dd" in admin.get("/admin/auditoria?desde=ayer").text


def test_admin_writes_what_the_agent_reads_about_a_topic(world: World) -> None:
    admin = _browser(world, Role.ADMIN)
    form = {
        "codigo": "T-KB-1",
        "nombre": "Constancia de domicilio",
        "tipo": "tramite",
        "requisitos": "Cédula de identidad vigente.\nFactura de un servicio a su nombre.",
        "pasos": "Agendarse.\nConcurrir a la seccional.",
        "costo": "Sin costo.",
        "enlace": "ftp://no-sirve",
    }
    bad = admin.post("/admin/catalogo", data=form)
    assert "El enlace debe empezar con https://." in bad.text
    assert "Factura de un servicio a su nombre." in bad.text  # the form comes back as typed
    page = admin.post("/admin/catalogo", data={**form, "enlace": "https://www.gub.uy/tramites"})
    assert "Trámite T-KB-1 guardado." in page.text
    found = world.panel.app.state.services.knowledge.search("constancia domicilio")
    assert [t.code for t in found] == ["T-KB-1"]
    assert found[0].requirements.splitlines() == [
        "Cédula de identidad vigente.",
        "Factura de un servicio a su nombre.",
    ]
    edit = admin.get(f"/admin/catalogo?editar={found[0].id}")
    assert "Editar Constancia de domicilio" in edit.text
    assert "Agendarse.\nConcurrir a la seccional.</textarea>" in edit.text
    # A catalog import without the knowledge columns leaves the information alone.
    admin.post("/admin/catalogo/importar", data={"contenido": "code,name\nT-KB-1,Constancia\n"})
    again = world.panel.app.state.services.knowledge.get(found[0].id)
    assert again.name == "Constancia" and again.cost == "Sin costo."


def test_the_audit_page_speaks_spanish(world: World) -> None:
    """Every action the store records has its Spanish name in the filter and the table,
    and the details read as Spanish key/value text, never the stored English JSON."""
    log = AuditLog(world.panel.engine)
    log.record(
        AuditAction.PENDING_READ,
        actor_id=None,
        person_ids=[None],
        details={"reason": "own calls pending wrap-up", "calls": 2},
    )
    log.record(
        AuditAction.POP_DISCLOSURE,
        actor_id=None,
        person_ids=[None],
        details={"reason": "call", "via": "answered call", "masked": True},
    )
    admin = _browser(world, Role.ADMIN)
    pending = admin.get("/admin/auditoria?accion=pending_read").text
    assert '<option value="pending_read" selected>' in pending
    assert '<option value="wrapup_read">Cierre de atención releído</option>' in pending
    assert "<td>Llamadas pendientes de cierre listadas</td>" in pending
    assert "Llamadas: 2; Motivo: llamadas propias pendientes de cierre" in pending
    shown = admin.get("/admin/auditoria?accion=pop_disclosure").text
    assert "Números enmascarados: sí; Motivo: llamada en curso; Vía: llamada atendida" in shown
    for raw in ("pending_read", "&#34;reason&#34;", "answered call", "own calls"):
        assert f">{raw}" not in shown + pending and f"{raw}<" not in shown + pending


def test_admin_retries_crm_jobs_and_erases_a_person(world: World) -> None:
    admin = _browser(world, Role.ADMIN)
    failed = _failed_rows(world, 2)
    page = admin.get("/admin/crm")
    assert all(f">{row}<" in page.text for row in failed)
    assert "099123456" not in page.text
    retried = admin.post("/admin/crm/reintentar", data={"envio": str(failed[0])})
    assert "Envío reintentado." in retried.text
    assert world.dispatcher.dispatched == [failed[0]]
    assert "reintentados" in admin.post("/admin/crm/reintentar", data={}).text

    person = world.person
    wrong = admin.post(
        "/admin/derechos/suprimir", data={"persona": str(person), "confirmacion": "1"}
    )
    assert "Repita el número" in wrong.text
    done = admin.post(
        "/admin/derechos/suprimir", data={"persona": str(person), "confirmacion": str(person)}
    )
    assert f"Persona {person} suprimida" in done.text
    history = admin.get(f"/admin/derechos?persona={person}")
    assert "supresion" in history.text


def test_referente_filters_takes_and_derives(world: World) -> None:
    mine = world.ticket("derivada")
    other = world.ticket("derivada", unit=world.other_unit)
    referente = _browser(world, Role.REFERENTE)
    inbox = referente.get("/solicitudes")
    assert mine in inbox.text and other not in inbox.text
    assert mine not in referente.get("/solicitudes?estado=cerrada").text
    assert mine in referente.get(f"/solicitudes?unidad={world.unit}&tipo=reclamo").text
    assert mine not in referente.get("/solicitudes?plazo=vencidas").text
    # Another unit's ticket is not reachable by URL either.
    assert referente.get(f"/solicitudes/{other}").status_code == 404
    detail = referente.get(f"/solicitudes/{mine}").text
    assert "<dt>Canal</dt><dd>Presencial</dd>" in detail
    taken = referente.post(f"/solicitudes/{mine}/tomar", data={})
    assert "en proceso" in taken.text
    derived = referente.post(
        f"/solicitudes/{mine}/derivar", data={"unidad": str(world.other_unit), "notas": "No es mío"}
    )
    assert derived.status_code == 204 and derived.headers["HX-Redirect"] == "/solicitudes"
    assert mine not in referente.get("/solicitudes").text
    reads = AuditLog(world.panel.engine).query(action="ticket_read")
    assert any(r.details.get("ticket") == mine for r in reads)


def test_each_screen_refuses_the_other_roles(world: World) -> None:
    for role, path in (
        (Role.EJECUTIVO, "/admin"),
        (Role.GERENTE, "/solicitudes"),
        (Role.REFERENTE, "/reportes"),
        (Role.ADMIN, "/supervision"),
        (Role.SUPERVISOR, "/admin/auditoria"),
    ):
        client = _browser(world, role)
        assert client.get(path).status_code == 403, (role, path)
    assert PASSWORD
