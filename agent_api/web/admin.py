"""The admin's screens, /admin: the centre's structure (organisms, units, referents,
SLA hours), users, the catalog, the audit log, failed CRM jobs and Ley 18.331
requests (the walk-in set-up is agent_api.web.admin_presencial's). Every change
goes through agent_api.centre_setup, as the admin API and `atiende admin` do
(same checks, same audit)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.catalog import TopicInput, parse_catalog
from agent_api.centre_setup import REQUEST_TYPE_LABELS, CentreSetup
from agent_api.followup import FollowUpServices
from agent_api.routes.crm import _masked as masked_error
from agent_api.services import PanelServices
from agent_api.web.auth import page_for, pages_of
from agent_api.web.labels import audit_details
from agent_api.web.nav import ROLE_LABELS
from agent_api.web.screens import (
    BIG_FORM_BYTES,
    Errors,
    action_for,
    attempt,
    first,
    form_of,
    is_htmx,
    number,
)
from crm_bridge.knowledge import CONTENT_LIMITS
from crm_bridge.organisms import Role
from crm_bridge.ticket_rules import RequestType

router = APIRouter(include_in_schema=False)

AdminPage = Annotated[Principal, Depends(page_for(Role.ADMIN))]
AdminAction = Annotated[Principal, Depends(action_for(Role.ADMIN))]

SECTIONS = (
    ("/admin", "Estructura"),
    ("/admin/usuarios", "Usuarios"),
    ("/admin/catalogo", "Catálogo"),
    ("/admin/presencial", "Atención presencial"),
    ("/admin/auditoria", "Auditoría"),
    ("/admin/crm", "Envíos al CRM"),
    ("/admin/derechos", "Derechos (Ley 18.331)"),
)


def _setup(request: Request) -> CentreSetup:
    services: PanelServices = request.app.state.services
    followup: FollowUpServices = request.app.state.followup
    return CentreSetup(followup.directory, services.catalog, services.users, services.audit)


def render_admin(
    request: Request,
    user: Principal,
    template: str,
    context: Mapping[str, Any],
) -> HTMLResponse:
    values = {"sections": SECTIONS, **context}
    # htmx swaps only 2xx answers: it takes #contenido out of the whole page
    # (hx-select), errors included; a plain form post gets the status.
    status = 422 if context.get("errors") and not is_htmx(request) else 200
    return pages_of(request).render(
        request, f"admin/{template}", values, user=user, status_code=status
    )


# ---------------------------------------------------------------- structure


@dataclass(frozen=True, slots=True)
class _OrganismRow:
    id: int
    code: str
    name: str
    units: list[dict[str, Any]]


def _structure(setup: CentreSetup) -> dict[str, Any]:
    organisms = []
    for org in setup.directory.organisms():
        units = [
            {
                "id": u.id,
                "code": u.code,
                "name": u.name,
                "depth": u.depth,
                "referents": setup.directory.referents(u.id),
            }
            for u in setup.directory.units(org.id)
        ]
        organisms.append(_OrganismRow(org.id, org.code, org.name, units))
    names = {o.id: o.code for o in organisms}
    unit_names = {u["id"]: u["code"] for o in organisms for u in o.units}
    levels = [
        {
            "organism": names.get(s.organism_id, s.organism_id),
            "unit": "Todo el organismo" if s.unit_id is None else unit_names.get(s.unit_id, ""),
            "type": REQUEST_TYPE_LABELS[s.request_type],
            "hours": s.business_hours,
        }
        for s in setup.directory.service_levels()
    ]
    referentes = [u for u in setup.users.all() if u.role is Role.REFERENTE and u.active]
    return {
        "organisms": organisms,
        "levels": levels,
        "referentes": referentes,
        "request_types": [(t.value, REQUEST_TYPE_LABELS[t]) for t in RequestType],
    }


@router.get("/admin")
async def structure(request: Request, user: AdminPage) -> HTMLResponse:
    data = await run_in_threadpool(_structure, _setup(request))
    return render_admin(request, user, "estructura.html", {**data, "errors": [], "message": None})


async def _structure_after(
    request: Request, user: Principal, errors: Errors, message: str
) -> HTMLResponse:
    data = await run_in_threadpool(_structure, _setup(request))
    return render_admin(
        request,
        user,
        "estructura.html",
        {**data, "errors": errors, "message": None if errors else message},
    )


@router.post("/admin/organismos")
async def create_organism(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    code, name = first(form, "codigo"), first(form, "nombre")
    errors: Errors = []
    if not code:
        errors.append(("org-codigo", "Escriba el código del organismo (por ejemplo DNIC)."))
    if not name:
        errors.append(("org-nombre", "Escriba el nombre del organismo."))
    setup = _setup(request)
    if not errors:
        await attempt(
            lambda: setup.create_organism(code, name, actor_id=user.user_id), errors, "org-codigo"
        )
    return await _structure_after(request, user, errors, f"Organismo {code} creado.")


@router.post("/admin/unidades")
async def create_unit(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    organism = number(first(form, "organismo"))
    parent = number(first(form, "padre"))
    code, name = first(form, "codigo"), first(form, "nombre")
    errors: Errors = []
    if organism is None:
        errors.append(("unidad-organismo", "Elija el organismo de la unidad."))
    if not code:
        errors.append(("unidad-codigo", "Escriba el código de la unidad."))
    if not name:
        errors.append(("unidad-nombre", "Escriba el nombre de la unidad."))
    setup = _setup(request)
    if organism is not None and not errors:
        org_id = organism
        await attempt(
            lambda: setup.create_unit(org_id, code, name, parent=parent, actor_id=user.user_id),
            errors,
            "unidad-codigo",
        )
    return await _structure_after(request, user, errors, f"Unidad {code} creada.")


@router.post("/admin/referentes")
async def add_referent(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    unit, person = number(first(form, "unidad")), number(first(form, "usuario"))
    errors: Errors = []
    if unit is None:
        errors.append(("ref-unidad", "Elija la unidad."))
    if person is None:
        errors.append(("ref-usuario", "Elija el usuario referente."))
    setup = _setup(request)
    if unit is not None and person is not None:
        unit_id, user_id = unit, person
        await attempt(
            lambda: setup.add_referent(unit_id, user_id, actor_id=user.user_id),
            errors,
            "ref-usuario",
        )
    return await _structure_after(request, user, errors, "Referente asignado.")


@router.post("/admin/referentes/quitar")
async def remove_referent(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    unit, person = number(first(form, "unidad")), number(first(form, "usuario"))
    errors: Errors = []
    setup = _setup(request)
    if unit is None or person is None:
        errors.append((None, "Falta la unidad o el usuario."))
    else:
        unit_id, user_id = unit, person
        await attempt(
            lambda: setup.remove_referent(unit_id, user_id, actor_id=user.user_id), errors
        )
    return await _structure_after(request, user, errors, "Referente quitado de la unidad.")


@router.post("/admin/niveles")
async def set_level(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    organism = number(first(form, "organismo"))
    unit = number(first(form, "unidad"))
    kind = first(form, "tipo")
    hours_text = first(form, "horas").replace(",", ".")
    errors: Errors = []
    try:
        hours = float(hours_text)
    except ValueError:
        hours = 0.0
    if organism is None:
        errors.append(("nivel-organismo", "Elija el organismo."))
    if kind not in {t.value for t in RequestType}:
        errors.append(("nivel-tipo", "Elija el tipo de solicitud."))
    if not 0 < hours <= 24 * 365:
        errors.append(("nivel-horas", "Escriba las horas hábiles, un número mayor que 0."))
    setup = _setup(request)
    if not errors and organism is not None:
        org_id = organism
        await attempt(
            lambda: setup.set_service_level(org_id, kind, hours, unit=unit, actor_id=user.user_id),
            errors,
            "nivel-unidad",
        )
    return await _structure_after(request, user, errors, "Nivel de servicio guardado.")


# -------------------------------------------------------------------- users


def _users(setup: CentreSetup) -> dict[str, Any]:
    return {
        "users": setup.users.all(),
        "roles": [(r.value, ROLE_LABELS[r]) for r in Role],
        "role_labels": {r: ROLE_LABELS[r] for r in Role},
    }


async def _users_after(
    request: Request, user: Principal, errors: Errors, message: str
) -> HTMLResponse:
    data = await run_in_threadpool(_users, _setup(request))
    return render_admin(
        request,
        user,
        "usuarios.html",
        {**data, "errors": errors, "message": None if errors else message},
    )


@router.get("/admin/usuarios")
async def users_page(request: Request, user: AdminPage) -> HTMLResponse:
    return await _users_after(request, user, [], "")


@router.post("/admin/usuarios")
async def create_user(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    username, name = first(form, "usuario"), first(form, "nombre")
    role, password = first(form, "rol"), (form.get("clave") or [""])[0]
    interfaces = [i for i in first(form, "interfaces").replace(",", " ").split() if i]
    errors: Errors = []
    if not username:
        errors.append(("nuevo-usuario", "Escriba el nombre de usuario."))
    if not name:
        errors.append(("nuevo-nombre", "Escriba el nombre que verán los demás."))
    if role not in {r.value for r in Role}:
        errors.append(("nuevo-rol", "Elija el rol."))
    if not password:
        errors.append(("nuevo-clave", "Escriba una contraseña inicial."))
    setup = _setup(request)
    services: PanelServices = request.app.state.services
    if not errors:
        made = await attempt(
            lambda: setup.create_user(
                username, name, Role(role), password, interfaces, actor_id=user.user_id
            ),
            errors,
            "nuevo-usuario",
        )
        if made is not None:
            services.hub.set_interfaces(await run_in_threadpool(services.users.interface_map))
    return await _users_after(request, user, errors, f"Usuario {username} creado.")


@router.post("/admin/usuarios/{user_id}")
async def update_user(request: Request, user_id: int, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    action = first(form, "accion")
    setup = _setup(request)
    services: PanelServices = request.app.state.services
    errors: Errors = []
    message = "Cambios guardados."
    if action == "rol" and first(form, "rol") in {r.value for r in Role}:
        role = Role(first(form, "rol"))
        await attempt(lambda: setup.update_user(user_id, role=role, actor_id=user.user_id), errors)
    elif action in ("activar", "desactivar"):
        active = action == "activar"
        await attempt(
            lambda: setup.update_user(user_id, active=active, actor_id=user.user_id), errors
        )
        message = "Usuario activado." if active else "Usuario desactivado."
    elif action == "clave":
        password = (form.get("clave") or [""])[0]
        await attempt(
            lambda: setup.update_user(user_id, password=password, actor_id=user.user_id),
            errors,
            f"clave-{user_id}",
        )
        message = "Contraseña restablecida."
    elif action == "interfaces":
        interfaces = [i for i in first(form, "interfaces").replace(",", " ").split() if i]
        await attempt(
            lambda: setup.set_interfaces(user_id, interfaces, actor_id=user.user_id),
            errors,
            f"interfaces-{user_id}",
        )
    else:
        errors.append((None, "Acción desconocida."))
    if not errors and action in ("rol", "desactivar", "clave"):
        # What the old role or password opened ends now (as the API does).
        for session_id in services.sessions.end_user(user_id):
            services.hub.close_session(session_id)
        services.hub.close_user(user_id)
    services.hub.set_interfaces(await run_in_threadpool(services.users.interface_map))
    return await _users_after(request, user, errors, message)


# ------------------------------------------------------------------ catalog


def _catalog(setup: CentreSetup) -> dict[str, Any]:
    organisms = {o.id: o for o in setup.directory.organisms()}
    units = {u.id: u for o in organisms for u in setup.directory.units(o)}
    topics = [
        {
            "id": t.id,
            "code": t.code,
            "name": t.name,
            "kind": t.kind,
            "active": t.active,
            "organism": "" if t.organism_id is None else organisms[t.organism_id].code,
            "unit": "" if t.unit_id is None else units[t.unit_id].code,
            "content": {k: getattr(t, k) or "" for k in TOPIC_CONTENT},
            "has_content": bool(t.requirements or t.steps or t.online_url),
        }
        for t in setup.catalog.topics(include_inactive=True)
    ]
    return {"topics": topics, "organisms": list(organisms.values())}


# The knowledge base's fields on the topic form: (form name, topic field, label, rows).
TOPIC_CONTENT_FIELDS = (
    ("descripcion", "description", "Qué es", 2),
    ("requisitos", "requirements", "Requisitos (uno por línea)", 4),
    ("pasos", "steps", "Pasos (uno por línea)", 4),
    ("plazos", "deadlines", "Plazos", 1),
    ("costo", "cost", "Costo", 1),
    ("donde_como", "where_how", "Dónde y cómo", 3),
    ("enlace", "online_url", "Enlace en línea (https://…)", 0),
    ("palabras_clave", "keywords", "Palabras clave (cómo lo nombra la gente)", 1),
)
TOPIC_CONTENT = tuple(field for _, field, _, _ in TOPIC_CONTENT_FIELDS)


async def _catalog_after(
    request: Request,
    user: Principal,
    errors: Errors,
    message: str,
    editing: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    data = await run_in_threadpool(_catalog, _setup(request))
    if editing is None and request.method == "GET":
        wanted = request.query_params.get("editar", "")
        editing = next((t for t in data["topics"] if str(t["id"]) == wanted), None)
    return render_admin(
        request,
        user,
        "catalogo.html",
        {
            **data,
            "errors": errors,
            "message": None if errors else message,
            "editing": editing,
            "content_fields": TOPIC_CONTENT_FIELDS,
        },
    )


@router.get("/admin/catalogo")
async def catalog_page(request: Request, user: AdminPage) -> HTMLResponse:
    return await _catalog_after(request, user, [], "")


@router.post("/admin/catalogo")
async def save_topic(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request, BIG_FORM_BYTES)
    code, name = first(form, "codigo"), " ".join(first(form, "nombre").split())
    kind = first(form, "tipo") or "tramite"
    errors: Errors = []
    if not code or len(code) > 64:
        errors.append(("tema-codigo", "Escriba el código del trámite o servicio."))
    if not name or len(name) > 200:
        errors.append(("tema-nombre", "Escriba el nombre del trámite o servicio."))
    if kind not in ("tramite", "servicio"):
        errors.append(("tema-tipo", "Elija trámite o servicio."))
    content: dict[str, str] = {}
    for form_name, field_name, label, _ in TOPIC_CONTENT_FIELDS:
        value = (form.get(form_name) or [""])[0]
        if len(value) > CONTENT_LIMITS[field_name]:
            errors.append((f"tema-{form_name}", f"{label}: el texto es demasiado largo."))
        content[field_name] = value
    link = content["online_url"].strip()
    if link and not link.startswith(("https://", "http://")):
        errors.append(("tema-enlace", "El enlace debe empezar con https://."))
    topic = TopicInput(
        code=code,
        name=name,
        kind=kind,
        organism=first(form, "organismo") or None,
        unit=first(form, "unidad") or None,
        active=first(form, "oculto") != "si",
        **content,
    )
    setup = _setup(request)
    if not errors:
        await attempt(lambda: setup.save_topic(topic, actor_id=user.user_id), errors, "tema-codigo")
    editing = None
    if errors:  # the form comes back as it was typed
        editing = {
            "id": None,
            "code": code,
            "name": name,
            "kind": kind,
            "organism": first(form, "organismo"),
            "unit": first(form, "unidad"),
            "active": first(form, "oculto") != "si",
            "content": content,
        }
    return await _catalog_after(request, user, errors, f"Trámite {code} guardado.", editing)


@router.post("/admin/catalogo/importar")
async def import_topics(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request, BIG_FORM_BYTES)
    text = (form.get("contenido") or [""])[0]
    kind = "application/json" if text.lstrip().startswith("[") else "text/csv"
    errors: Errors = []
    setup = _setup(request)
    result = None
    if not text.strip():
        errors.append(("importar-contenido", "Elija un archivo o pegue su contenido."))
    else:
        topics = await attempt(
            lambda: parse_catalog(text.encode("utf-8"), kind), errors, "importar-contenido"
        )
        if topics is not None:
            parsed = topics
            result = await attempt(
                lambda: setup.import_topics(parsed, actor_id=user.user_id),
                errors,
                "importar-contenido",
            )
    message = "" if result is None else f"{result[0]} creados, {result[1]} actualizados."
    return await _catalog_after(request, user, errors, message)


# -------------------------------------------------------------------- audit

AUDIT_ACTIONS = (
    ("", "Todas"),
    ("person_read", "Lectura de persona"),
    ("person_search", "Búsqueda de personas"),
    ("person_create", "Alta de persona"),
    ("person_update", "Cambio de persona"),
    ("consent_change", "Consentimiento"),
    ("pop_disclosure", "Datos mostrados en una llamada"),
    ("calls_read", "Llamadas del día listadas"),
    ("pending_read", "Llamadas pendientes de cierre listadas"),
    ("followups_read", "Casos pendientes de seguimiento listados"),
    ("wrapup_read", "Cierre de atención releído"),
    ("ticket_read", "Solicitud leída"),
    ("tickets_listed", "Solicitudes listadas"),
    ("knowledge_sent", "Información de trámite enviada"),
    ("admin_change", "Cambio de configuración"),
    ("kiosk_link", "Enlace de pizarra"),
    ("alert_ack", "Alerta atendida"),
    ("agent_action", "Acción sobre un agente"),
    ("callback_offer", "Devolución de llamada ofrecida"),
    ("public_tracking", "Seguimiento público de una solicitud"),
)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/admin/auditoria")
async def audit_page(
    request: Request,
    user: AdminPage,
    accion: str = "",
    usuario: str = "",
    persona: str = "",
    desde: str = "",
    hasta: str = "",
) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    zone: ZoneInfo = pages_of(request).zone
    errors: Errors = []
    since, until = _day(desde), _day(hasta)
    if desde and since is None:
        errors.append(("aud-desde", "Escriba la fecha como aaaa-mm-dd."))
    if hasta and until is None:
        errors.append(("aud-hasta", "Escriba la fecha como aaaa-mm-dd."))
    actor = number(usuario)
    person = number(persona)
    known = {a for a, _ in AUDIT_ACTIONS}
    action = accion if accion in known and accion else None
    users = await run_in_threadpool(services.users.all)

    def query() -> list[Any]:
        return services.audit.query(
            actor_id=actor,
            person_id=person,
            action=action,
            since=None if since is None else datetime.combine(since, time(), zone),
            until=None
            if until is None
            else datetime.combine(until + timedelta(days=1), time(), zone),
            limit=300,
        )

    rows = [] if errors else await run_in_threadpool(query)
    names = {u.id: u.display_name for u in users}
    labels = dict(AUDIT_ACTIONS)
    entries = [
        {
            "at": r.at,
            "actor": names.get(r.actor_id, "—") if r.actor_id is not None else "Sistema",
            "action": labels.get(r.action, r.action),
            "person": r.person_id,
            "details": audit_details(r.details)[:300],
        }
        for r in rows
    ]
    return render_admin(
        request,
        user,
        "auditoria.html",
        {
            "entries": entries,
            "actions": AUDIT_ACTIONS,
            "users": users,
            "filters": {
                "accion": accion,
                "usuario": usuario,
                "persona": persona,
                "desde": desde,
                "hasta": hasta,
            },
            "errors": errors,
            "message": None,
        },
    )


# ---------------------------------------------------------------------- CRM


async def _crm_after(
    request: Request, user: Principal, errors: Errors, message: str | None
) -> HTMLResponse:
    followup: FollowUpServices = request.app.state.followup
    failures = followup.crm_failures
    rows = [] if failures is None else await run_in_threadpool(failures.list, limit=200)
    # A CRM may echo the payload in its error: masked as the API masks it.
    jobs = [
        {
            "id": r.id,
            "what": f"{r.entity.value} {r.entity_id} ({r.action.value})",
            "created_at": r.created_at,
            "failed_at": r.failed_at,
            "attempts": r.attempts,
            "error": "" if r.last_error is None else masked_error(r.last_error)[:200],
        }
        for r in rows
    ]
    return render_admin(
        request,
        user,
        "crm.html",
        {
            "enabled": failures is not None,
            "jobs": jobs,
            "errors": errors,
            "message": None if errors else message,
        },
    )


@router.get("/admin/crm")
async def crm_page(request: Request, user: AdminPage) -> HTMLResponse:
    return await _crm_after(request, user, [], None)


@router.post("/admin/crm/reintentar")
async def crm_retry(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    followup: FollowUpServices = request.app.state.followup
    failures = followup.crm_failures
    errors: Errors = []
    message = None
    if failures is None:
        errors.append((None, "La sincronización con el CRM no está activada en este servidor."))
    else:
        outbox = number(first(form, "envio"))
        if outbox is None:
            count = await run_in_threadpool(failures.retry_all)
            message = f"{count} envíos reintentados."
        elif await run_in_threadpool(failures.retry, outbox):
            message = "Envío reintentado."
        else:
            errors.append((None, "Ese envío ya no está entre los fallidos."))
    return await _crm_after(request, user, errors, message)


# ------------------------------------------------------------ rights (18.331)


def _history(rights: Any, person: int) -> list[dict[str, Any]]:
    """The person's rights requests, their times as datetimes (the export gives ISO text)."""
    rows = []
    for r in rights.requests(person):
        at = r.get("at")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at)
            except ValueError:
                at = None
        rows.append({**r, "at": at})
    return rows


@router.get("/admin/derechos")
async def rights_page(request: Request, user: AdminPage, persona: str = "") -> HTMLResponse:
    followup: FollowUpServices = request.app.state.followup
    rights = followup.rights
    person = number(persona)
    errors: Errors = []
    if persona and person is None:
        errors.append(("der-persona", "Escriba el número de la persona (solo dígitos)."))
    history: list[dict[str, Any]] = []
    if rights is not None and person is not None:
        history = await run_in_threadpool(_history, rights, person)
    return render_admin(
        request,
        user,
        "derechos.html",
        {
            "enabled": rights is not None,
            "persona": persona,
            "person": person,
            "history": history,
            "errors": errors,
            "message": None,
            "now": datetime.now(UTC),
        },
    )


@router.post("/admin/derechos/suprimir")
async def erase_person(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    followup: FollowUpServices = request.app.state.followup
    rights = followup.rights
    person, confirm = number(first(form, "persona")), number(first(form, "confirmacion"))
    errors: Errors = []
    message = None
    if rights is None:
        errors.append((None, "La gestión de derechos no está configurada en este servidor."))
    elif person is None or confirm != person:
        errors.append(("der-confirmacion", "Repita el número de la persona para confirmar."))
    else:
        target = person
        done = await attempt(lambda: rights.erase(target, actor_id=user.user_id), errors)
        if done is not None:
            message = (
                f"Persona {target} suprimida: {done.attentions_anonymised} atenciones "
                f"anonimizadas, {done.tickets_unlinked} solicitudes desvinculadas."
            )
    history = (
        []
        if rights is None or person is None
        else await run_in_threadpool(_history, rights, person)
    )
    return render_admin(
        request,
        user,
        "derechos.html",
        {
            "enabled": rights is not None,
            "persona": "" if person is None else str(person),
            "person": person,
            "history": history,
            "errors": errors,
            "message": message,
            "now": datetime.now(UTC),
        },
    )
