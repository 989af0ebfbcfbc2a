"""The admin's walk-in set-up screen, /admin/presencial: service points, their
topics and desks, the priority list, and the waiting-room display and desk
tablet links. Every change goes through agent_api.walkin_setup, as
`atiende presencial` does (same checks, same audit); a refusal comes back
next to the field it is about."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from agent_api.auth import Principal
from agent_api.exceptions import AgentApiError
from agent_api.services import PanelServices
from agent_api.walkin_setup import (
    CODE,
    LABEL,
    NAME,
    PREFIX,
    RANK,
    RECALLS,
    TOPICS,
    WAIT,
    WalkinInvalid,
    WalkinSetup,
)
from agent_api.web.admin import AdminAction, AdminPage, render_admin
from agent_api.web.screens import Errors, first, form_of, number
from crm_bridge.exceptions import StoreError
from dashboards.kiosk import ROOM_DISPLAY

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
PAGE = "/admin/presencial"


def _setup(request: Request) -> WalkinSetup:
    services: PanelServices = request.app.state.services
    return WalkinSetup(request.app.state.turns, request.app.state.walkin_kiosk, services.audit)


async def _attempt(
    work: Callable[[], T], errors: Errors, prefix: str, default: str | None = None
) -> T | None:
    """Run the set-up off the loop; a refusal becomes an error on its field
    (`prefix`-`field`, the form's element id)."""
    try:
        return await run_in_threadpool(work)
    except WalkinInvalid as err:
        errors.append((f"{prefix}-{err.field}" if err.field else None, err.detalle))
    except AgentApiError as err:
        errors.append((f"{prefix}-{default}" if default else None, err.detalle))
    except StoreError:
        errors.append((None, "No se pudo guardar. Intente de nuevo en unos segundos."))
    return None


def _page_data(setup: WalkinSetup, catalog: Any) -> dict[str, Any]:
    points = setup.overview()
    desk_names = {d.id: d.name for p in points for d in p.desks}
    return {
        "points": points,
        "priorities": setup.turns.priorities(),
        "catalog": [t for t in catalog.topics() if t.active],
        "desk_names": desk_names,
        "room_kind": ROOM_DISPLAY,
    }


async def _answer(
    request: Request,
    user: Principal,
    errors: Errors,
    message: str,
    *,
    typed: Mapping[str, str] | None = None,
    created: str | None = None,
) -> HTMLResponse:
    services: PanelServices = request.app.state.services
    data = await run_in_threadpool(_page_data, _setup(request), services.catalog)
    return render_admin(
        request,
        user,
        "presencial.html",
        {
            **data,
            "errors": errors,
            "field_errors": {target: text for target, text in errors if target},
            "typed": typed if errors and typed else {},
            "message": None if errors else message,
            "created": None if errors else created,
        },
    )


def _typed(form: Mapping[str, list[str]], prefix: str) -> dict[str, str]:
    """What the admin typed, by element id, for the form to come back as it was."""
    return {f"{prefix}-{name}": first(form, name) for name in form}


def _flag(action: str) -> bool | None:
    return {"activar": True, "desactivar": False}.get(action)


@router.get(PAGE)
async def walkin_page(request: Request, user: AdminPage) -> HTMLResponse:
    return await _answer(request, user, [], "")


@router.post(f"{PAGE}/puntos")
async def create_point(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    code, name = first(form, CODE), first(form, NAME)
    wait, recalls = number(first(form, WAIT) or "15"), first(form, RECALLS) or "2"
    errors: Errors = []
    if wait is None:
        errors.append((f"p-{WAIT}", "Escriba la espera objetivo en minutos (un número)."))
    if not recalls.isdigit() or len(recalls) > 3:
        errors.append((f"p-{RECALLS}", "Escriba cuántos rellamados (un número, 0 o más)."))
    if not errors and wait is not None:
        minutes, times = wait, int(recalls)
        await _attempt(
            lambda: _setup(request).create_point(
                code, name, target_wait_minutes=minutes, max_recalls=times, actor_id=user.user_id
            ),
            errors,
            "p",
            CODE,
        )
    return await _answer(request, user, errors, f"Punto {code} creado.", typed=_typed(form, "p"))


@router.post(f"{PAGE}/puntos/{{point_id}}")
async def change_point(request: Request, point_id: int, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    action = first(form, "accion")
    setup = _setup(request)
    errors: Errors = []
    message = "Cambios guardados."
    active = _flag(action)
    if action == "renombrar":
        name = first(form, NAME)
        await _attempt(
            lambda: setup.rename_point(point_id, name, actor_id=user.user_id),
            errors,
            f"p{point_id}",
        )
        message = "Punto renombrado."
    elif active is not None:
        await _attempt(
            lambda: setup.set_point_active(point_id, active, actor_id=user.user_id), errors, "p"
        )
        message = "Punto activado." if active else "Punto desactivado."
    else:
        errors.append((None, "Acción desconocida."))
    return await _answer(request, user, errors, message)


@router.post(f"{PAGE}/puntos/{{point_id}}/temas")
async def add_topic(request: Request, point_id: int, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    code, name, letter = first(form, CODE), first(form, NAME), first(form, PREFIX)
    catalog_id = number(first(form, "catalogo"))
    prefix = f"t{point_id}"
    errors: Errors = []
    await _attempt(
        lambda: _setup(request).add_topic(
            point_id, code, name, letter, catalog_topic_id=catalog_id, actor_id=user.user_id
        ),
        errors,
        prefix,
        CODE,
    )
    return await _answer(
        request,
        user,
        errors,
        f"Tema {letter.upper()} · {name} agregado.",
        typed=_typed(form, prefix),
    )


@router.post(f"{PAGE}/temas/{{topic_id}}")
async def change_topic(request: Request, topic_id: int, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    active = _flag(first(form, "accion"))
    errors: Errors = []
    if active is None:
        errors.append((None, "Acción desconocida."))
    else:
        flag = active
        await _attempt(
            lambda: _setup(request).set_topic_active(topic_id, flag, actor_id=user.user_id),
            errors,
            "tema",
        )
    return await _answer(request, user, errors, "Tema activado." if active else "Tema desactivado.")


def _topic_ids(form: Mapping[str, list[str]]) -> list[int] | None:
    """The checked topics; None when one is not an id."""
    ids = [number(v.strip()) for v in form.get(TOPICS) or []]
    return None if any(i is None for i in ids) else [i for i in ids if i is not None]


@router.post(f"{PAGE}/puntos/{{point_id}}/puestos")
async def add_desk(request: Request, point_id: int, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    code, name = first(form, CODE), first(form, NAME)
    topic_ids = _topic_ids(form)
    prefix = f"d{point_id}"
    errors: Errors = []
    if topic_ids is None:
        errors.append((f"{prefix}-{TOPICS}", "Elija los temas de la lista."))
    else:
        chosen = topic_ids
        await _attempt(
            lambda: _setup(request).add_desk(point_id, code, name, chosen, actor_id=user.user_id),
            errors,
            prefix,
            CODE,
        )
    return await _answer(
        request, user, errors, f"Puesto {name} agregado.", typed=_typed(form, prefix)
    )


@router.post(f"{PAGE}/puestos/{{desk_id}}")
async def change_desk(request: Request, desk_id: int, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    action = first(form, "accion")
    setup = _setup(request)
    prefix = f"pu{desk_id}"
    errors: Errors = []
    message = "Cambios guardados."
    active = _flag(action)
    if action == "renombrar":
        name = first(form, NAME)
        await _attempt(
            lambda: setup.update_desk(desk_id, name=name, actor_id=user.user_id), errors, prefix
        )
        message = "Puesto renombrado."
    elif action == "temas":
        topic_ids = _topic_ids(form)
        if topic_ids is None:
            errors.append((f"{prefix}-{TOPICS}", "Elija los temas de la lista."))
        else:
            chosen = topic_ids
            await _attempt(
                lambda: setup.update_desk(desk_id, topic_ids=chosen, actor_id=user.user_id),
                errors,
                prefix,
                TOPICS,
            )
        message = "Temas del puesto guardados."
    elif active is not None:
        flag = active
        await _attempt(
            lambda: setup.update_desk(desk_id, active=flag, actor_id=user.user_id), errors, prefix
        )
        message = "Puesto activado." if active else "Puesto desactivado."
    else:
        errors.append((None, "Acción desconocida."))
    return await _answer(request, user, errors, message)


@router.post(f"{PAGE}/prioridades")
async def set_priority(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    code, label, rank_text = first(form, CODE), first(form, NAME), first(form, RANK)
    rank = int(rank_text) if rank_text.isdigit() and len(rank_text) <= 3 else None
    errors: Errors = []
    await _attempt(
        lambda: _setup(request).set_priority(code, label, rank, actor_id=user.user_id),
        errors,
        "pr",
        CODE,
    )
    return await _answer(
        request, user, errors, f"Prioridad «{label}» guardada.", typed=_typed(form, "pr")
    )


@router.post(f"{PAGE}/prioridades/quitar")
async def remove_priority(request: Request, user: AdminAction) -> HTMLResponse:
    form = await form_of(request)
    code = first(form, CODE)
    errors: Errors = []
    await _attempt(
        lambda: _setup(request).remove_priority(code, actor_id=user.user_id), errors, "pr"
    )
    return await _answer(request, user, errors, "Prioridad quitada de la lista.")


@router.post(f"{PAGE}/puntos/{{point_id}}/enlaces")
async def issue_link(request: Request, point_id: int, user: AdminAction) -> HTMLResponse:
    """A display's or a tablet's link: its address is shown once, here (only its hash is kept)."""
    form = await form_of(request)
    target, label = first(form, "destino"), first(form, LABEL)
    setup = _setup(request)
    prefix = f"e{point_id}"
    errors: Errors = []
    made: tuple[Any, str] | None = None
    if target == "sala":
        made = await _attempt(
            lambda: setup.issue_room_link(point_id, label, actor_id=user.user_id), errors, prefix
        )
    elif target.startswith("puesto-") and number(target.removeprefix("puesto-")) is not None:
        desk_id = int(target.removeprefix("puesto-"))
        desks = await run_in_threadpool(setup.turns.all_desks, point_id)
        if all(d.id != desk_id for d in desks):
            errors.append((f"{prefix}-destino", "Elija un puesto de este punto."))
        else:
            made = await _attempt(
                lambda: setup.issue_tablet_link(desk_id, label, actor_id=user.user_id),
                errors,
                prefix,
            )
    else:
        errors.append((f"{prefix}-destino", "Elija la pantalla de la sala o un puesto."))
    created = None if made is None else f"{str(request.base_url).rstrip('/')}{made[1]}"
    return await _answer(
        request,
        user,
        errors,
        f"Enlace «{label}» creado.",
        typed=_typed(form, prefix),
        created=created,
    )


@router.post(f"{PAGE}/enlaces/{{link_id}}/revocar")
async def revoke_link(request: Request, link_id: int, user: AdminAction) -> HTMLResponse:
    errors: Errors = []
    await form_of(request)
    await _attempt(
        lambda: _setup(request).revoke_link(link_id, actor_id=user.user_id), errors, "enlace"
    )
    return await _answer(request, user, errors, "Enlace revocado: ya no abre nada.")
