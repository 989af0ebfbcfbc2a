"""Walk-in attention pages: reception (/recepcion), the desk (/puesto), the
waiting-room display (/sala/<token>) and the farewell evaluation (/evaluacion/<token>).

Who receives: ejecutivos. Any ejecutivo may receive at a service point's
reception or take one of its desks (a small centre rotates the same people
through both); the attention records who received (ATIENDE_RECEIVED_BY) and
who served (ATIENDE_SERVED_BY), and need to know (agent_api.need_to_know)
treats them as a phone agent who answered the call.

Person search, registration, the person card, history, the wrap-up and its
derivation to a ticket are the phone workspace's own routes and partials
(agent_api.web.agente, templates/agente/): these pages hand them the walk-in's
attention key ("system|linkedid") where the phone hands the call's.

The display and the tablet are kiosk links (dashboards.kiosk, kinds "sala"
and "evaluacion"): no login, only turn numbers, desks and topics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from agent_api.audit import AuditAction
from agent_api.auth import Principal
from agent_api.exceptions import AgentApiError
from agent_api.need_to_know import Reason
from agent_api.routes import persons as person_routes
from agent_api.services import PanelServices
from agent_api.web.agente import workspace_context
from agent_api.web.auth import page_for, pages_of
from agent_api.web.forms import read_form
from agent_api.web.fragments import fragment_of
from agent_api.workspace import Call, CallId, PersonArea, Phase, Workspace, Wrapup
from crm_bridge.exceptions import NotFoundError, StoreError
from crm_bridge.organisms import Role
from crm_bridge.turn_rules import STATUS_LABELS, TurnRuleError, TurnStatus, wait_label
from crm_bridge.turns import PRESENCIAL_SYSTEM, DeskView, PointView, TurnService, TurnView
from dashboards.kiosk import DESK_TABLET, ROOM_DISPLAY, KioskLinks, looks_like_token
from telephony.domain import CallKey

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

Ejecutivo = Annotated[Principal, Depends(page_for(Role.EJECUTIVO))]
# Kiosk pages: a key in the URL must never leave in a Referer; nothing is cached.
KIOSK_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _turns(request: Request) -> TurnService:
    turns: TurnService = request.app.state.turns
    return turns


def _kiosk(request: Request) -> KioskLinks:
    links: KioskLinks = request.app.state.walkin_kiosk
    return links


def _ref(key: CallKey) -> str:
    return f"{key.system}|{key.linkedid}"


def _key_of(raw: str | None) -> CallKey | None:
    """A walk-in attention's "system|linkedid" from a form (only presencial ones)."""
    if not raw or "|" not in raw:
        return None
    system, linkedid = raw.split("|", 1)
    if system != PRESENCIAL_SYSTEM or not linkedid.isalnum() or len(linkedid) > 64:
        return None
    return CallKey(system, linkedid)


def _error(text: str) -> HTMLResponse:
    from html import escape

    return HTMLResponse(f'<p class="error" role="alert">{escape(text)}</p>')


def _int(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


def _walk_in_call(key: CallKey, person: PersonArea | None = None) -> Call:
    """The walk-in as the phone workspace's partials expect a call."""
    return Call(
        id=CallId(key.system, key.linkedid),
        caller_number="",
        caller_name="",
        queue=None,
        wait_seconds=None,
        ivr_path=(),
        topic=None,
        rung_at=0.0,
        phase=Phase.TALKING,
        mine=True,
        # "presencial": the person area shows the search, not a caller lookup.
        person=person or PersonArea(status="presencial"),
    )


# ------------------------------------------------------------- reception


def _point_of(points: Sequence[PointView], raw: str | None) -> PointView | None:
    wanted = _int(raw)
    for point in points:
        if wanted is None or point.id == wanted:
            return point
    return None


async def _reception_context(request: Request, point: PointView) -> dict[str, Any]:
    turns = _turns(request)
    topics = await run_in_threadpool(turns.topics, point.id)
    waiting = await run_in_threadpool(turns.waiting, point.id)
    names = {t.id: t.name for t in topics}
    return {
        "point": point,
        "topics": topics,
        "priorities": await run_in_threadpool(turns.priorities),
        "waiting": [(t, names.get(t.topic_id, "")) for t in waiting],
        "now": datetime.now(UTC),
    }


@router.get("/recepcion")
async def reception(request: Request, user: Ejecutivo, punto: str = "") -> HTMLResponse:
    turns = _turns(request)
    points = await run_in_threadpool(turns.points)
    point = _point_of(points, punto)
    context: dict[str, Any] = {"points": points, "point": point}
    if point is not None:
        context.update(await _reception_context(request, point))
    return pages_of(request).render(request, "presencial/recepcion.html", context, user=user)


@router.post("/recepcion/atenciones")
async def receive(request: Request, user: Ejecutivo) -> Response:
    """A person arrives: the attention opens (the reason to identify them)."""
    turns = _turns(request)
    form = await read_form(request)
    points = await run_in_threadpool(turns.points)
    point = _point_of(points, form.get("punto"))
    if point is None:
        return _error("Elija el punto de atención.")
    key = await run_in_threadpool(lambda: turns.receive(point.id, user_id=user.user_id))
    context = await _reception_context(request, point)
    context.update(_identify_context(request, key))
    return pages_of(request).render(
        request, "presencial/_recepcion_persona.html", context, user=user
    )


def _identify_context(request: Request, key: CallKey) -> dict[str, Any]:
    services: PanelServices = request.app.state.services
    call = _walk_in_call(key)
    return {
        "ws": Workspace(calls=(call,), current=call.id),
        "call_ref": _ref(key),
        "pause_reasons": services.pause_reasons,
    }


@router.post("/recepcion/turnos")
async def give_turn(request: Request, user: Ejecutivo) -> Response:
    services: PanelServices = request.app.state.services
    turns = _turns(request)
    form = await read_form(request)
    key = _key_of(form.get("call"))
    topic_id = _int(form.get("topic_id"))
    if key is None:
        return _error("La atención no es válida; reciba a la persona de nuevo.")
    if topic_id is None:
        return _error("Elija el trámite o servicio al que viene la persona.")
    received = await run_in_threadpool(turns.received_by, key)
    if received != user.user_id:
        return _error("Esta atención la recibió otra persona.")
    person_id = _int(form.get("person_id"))
    try:
        if person_id is not None:
            # Linking needs the person identified for this attention (searched
            # or registered here), as for a call.
            await run_in_threadpool(services.need.check_link, user, key, person_id)
            await run_in_threadpool(
                services.persons.link_attention, key.system, key.linkedid, person_id
            )
        turn = await run_in_threadpool(
            lambda: turns.give_turn(
                key, topic_id, priority=form.get("priority") or None, user_id=user.user_id
            )
        )
    except AgentApiError as err:
        return _error(err.detalle)
    except (TurnRuleError, StoreError) as err:
        log.info("turn refused: %s", err)
        return _error("No se pudo dar el turno: revise el trámite y la prioridad elegidos.")
    point = await run_in_threadpool(turns.point, turn.point_id)
    board = await run_in_threadpool(turns.board, point.id)
    wait = next((w for w in board.waits if w.topic_id == turn.topic_id), None)
    topic = next((w.name for w in board.waits if w.topic_id == turn.topic_id), "")
    # The waiting list (with this turn) rides along: no "Nadie espera" until the next poll.
    context = await _reception_context(request, point)
    return pages_of(request).render(
        request,
        "presencial/_turno_dado.html",
        {
            **context,
            "turn": turn,
            "topic": topic,
            "point": point,
            "wait": wait_label(wait.estimate_seconds) if wait else "",
            "ahead": 0 if wait is None else max(0, wait.waiting - 1),
        },
        user=user,
    )


async def _own_reception(
    request: Request, user: Principal, form: dict[str, str]
) -> CallKey | HTMLResponse:
    """The form's walk-in attention if this user received it, else the error to show."""
    key = _key_of(form.get("call"))
    if key is None:
        return _error("La atención no es válida.")
    if await run_in_threadpool(_turns(request).received_by, key) != user.user_id:
        return _error("Esta atención la recibió otra persona.")
    return key


@router.post("/recepcion/orientacion")
async def orientation_only(request: Request, user: Ejecutivo) -> Response:
    """Reception answered it (orientar, informar): the attention ends without a turn."""
    turns = _turns(request)
    form = await read_form(request)
    key = await _own_reception(request, user, form)
    if isinstance(key, HTMLResponse):
        return key
    if await run_in_threadpool(turns.turn_of, key) is not None:
        return _error("Esta persona ya tiene turno.")
    contacts = request.app.state.walkin_contacts
    now = datetime.now(UTC)
    await run_in_threadpool(
        lambda: (
            contacts.answer(key, agent=user.display_name, at=now),
            contacts.close(key, at=now),
        )
    )
    return HTMLResponse(
        '<p class="ok" role="status">Atención registrada como orientación en recepción.</p>'
    )


@router.post("/recepcion/cancelar")
async def cancel_reception(request: Request, user: Ejecutivo) -> Response:
    """Reception gives no turn after all: the attention opened to identify the
    person closes as cancelled (neither served nor abandoned in the figures)."""
    turns = _turns(request)
    form = await read_form(request)
    key = await _own_reception(request, user, form)
    if isinstance(key, HTMLResponse):
        return key
    if not await run_in_threadpool(turns.cancel_reception, key):
        return _error("Esta atención ya tiene turno o ya terminó; no se canceló.")
    points = await run_in_threadpool(turns.points)
    point = _point_of(points, form.get("punto"))
    return pages_of(request).render(
        request,
        "presencial/_recepcion_cancelada.html",
        {"point": point},
        user=user,
    )


# ------------------------------------------------------------------ desk


async def _desk_context(
    request: Request, user: Principal, desk: DeskView, message: str | None = None
) -> dict[str, Any]:
    services: PanelServices = request.app.state.services
    turns = _turns(request)
    point = await run_in_threadpool(turns.point, desk.point_id)
    topics = await run_in_threadpool(turns.topics, desk.point_id)
    names = {t.id: t.name for t in topics}
    waiting = [
        t
        for t in await run_in_threadpool(turns.waiting, desk.point_id)
        if not desk.topic_ids or t.topic_id in desk.topic_ids
    ]
    current = await run_in_threadpool(turns.desk_turn, desk.id)
    context: dict[str, Any] = {
        "desk": desk,
        "point": point,
        "waiting": [(t, names.get(t.topic_id, "")) for t in waiting],
        "current": current,
        "current_topic": "" if current is None else names.get(current.topic_id, ""),
        "status_labels": STATUS_LABELS,
        "message": message,
        "now": datetime.now(UTC),
        "ws": Workspace(),
        "evaluation_offered": None,
    }
    context["link_contacts"] = []
    if current is None:
        offered = await run_in_threadpool(turns.evaluation_for_desk, desk.id)
        context["evaluation_offered"] = offered
        if offered is not None and offered.called_by == user.user_id:
            context["link_contacts"] = await _link_contacts(request, user, offered)
    if current is not None and current.status is TurnStatus.SERVING:
        catalog = await run_in_threadpool(services.catalog.topics)
        area = await _person_area(request, user, current.key)
        call = _walk_in_call(current.key, area)
        form = Wrapup(
            call.id, "", "", None, current.served_at.timestamp() if current.served_at else None
        )
        ws = Workspace(calls=(call,), current=call.id, wrapups=(form,), active_wrapup=call.id)
        context.update(
            workspace_context(ws, services=services, topics=catalog, queues=(), pending=())
        )
        context["form"] = form
        person = area.person or {}
        context["values"] = (
            {
                "person_id": str(person.get("id", "")),
                "person_name": f"{person.get('given_names', '')} {person.get('family_names', '')}",
            }
            if area.person
            else {}
        )
        context["errors"] = []
    return context


async def _link_contacts(request: Request, user: Principal, turn: TurnView) -> list[Any]:
    """The person's consented contacts (masked) to send the evaluation link to;
    a read of their data for this attention, checked and audited."""
    services: PanelServices = request.app.state.services
    person_id = await run_in_threadpool(_turns(request).person_of, turn.key)
    if person_id is None:
        return []
    reason = Reason.of(turn.key.system, turn.key.linkedid)
    try:
        await run_in_threadpool(services.need.check_read, user, person_id, reason)
    except AgentApiError:
        return []
    contacts: list[Any] = await run_in_threadpool(
        request.app.state.evaluation_sender.contacts, person_id
    )
    if contacts:
        await run_in_threadpool(
            lambda: services.audit.record(
                AuditAction.PERSON_READ,
                actor_id=user.user_id,
                person_ids=[person_id],
                call=turn.key,
                details={"reason": "call", "purpose": "evaluation link contacts"},
            )
        )
    return contacts


@router.post("/puesto/evaluacion-enlace")
async def send_evaluation_link(request: Request, user: Ejecutivo) -> Response:
    """The farewell evaluation by a one-time link, to a contact the person consented to."""
    services: PanelServices = request.app.state.services
    turns = _turns(request)
    desk = await _my_desk(request, user)
    if desk is None:
        return Response(status_code=204, headers={"HX-Redirect": "/puesto"})
    form = await read_form(request)
    offered = await run_in_threadpool(turns.evaluation_for_desk, desk.id)
    message = "Esa atención ya no se puede evaluar por enlace."
    if offered is not None and offered.called_by == user.user_id:
        key = offered.key
        person_id = await run_in_threadpool(turns.person_of, key)
        reason = Reason.of(key.system, key.linkedid)
        try:
            if person_id is None:
                raise NotFoundError("no person linked")
            await run_in_threadpool(services.need.check_read, user, person_id, reason)
            sent = await run_in_threadpool(
                request.app.state.evaluation_sender.send,
                key,
                person_id,
                form.get("contact", ""),
                str(request.base_url),
            )
            await run_in_threadpool(
                lambda: services.audit.record(
                    AuditAction.PERSON_READ,
                    actor_id=user.user_id,
                    person_ids=[person_id],
                    call=key,
                    details={"reason": "call", "purpose": "evaluation link sent"},
                )
            )
            means = {"sms": "SMS", "email": "correo", "log": "registro (sin envío)"}
            message = (
                f"Enlace de evaluación enviado por {means.get(sent.means, sent.means)} "
                f"a {sent.destination_masked}."
                if sent.delivered
                else "No se pudo enviar el enlace; la persona puede evaluar en la tableta."
            )
        except (AgentApiError, StoreError) as err:
            log.info("evaluation link refused: %s", err)
            message = "No se puede enviar el enlace a ese contacto."
    return await _render_desk(request, user, desk, message, part=True)


async def _person_area(request: Request, user: Principal, key: CallKey) -> PersonArea:
    """The person reception identified, read for this attention (need to know, audited)."""
    services: PanelServices = request.app.state.services
    found = await run_in_threadpool(services.need.identified_for_call, key, by=None)
    linked = await run_in_threadpool(_turns(request).person_of, key)
    if linked is None or linked not in found:
        return PersonArea(status="presencial")
    try:
        person = await run_in_threadpool(
            person_routes.read,
            linked,
            user,
            services,
            Reason.of(key.system, key.linkedid),
        )
    except AgentApiError:
        return PersonArea(status="presencial")
    requests = await run_in_threadpool(services.cards._open_requests, linked)
    return PersonArea(
        status="identificada",
        person=person.model_dump(),
        open_requests=tuple(requests),
        open_request_count=len(requests),
    )


async def _render_desk(
    request: Request, user: Principal, desk: DeskView, message: str | None = None, *, part: bool
) -> HTMLResponse:
    context = await _desk_context(request, user, desk, message)
    template = "presencial/_puesto_trabajo.html" if part else "presencial/puesto.html"
    return pages_of(request).render(request, template, context, user=user)


@router.get("/puesto")
async def desk_page(request: Request, user: Ejecutivo) -> HTMLResponse:
    turns = _turns(request)
    desk = await run_in_threadpool(turns.desk_of, user.user_id)
    if desk is None:
        points = await run_in_threadpool(turns.points)
        desks = await run_in_threadpool(turns.desks)
        names = {p.id: p.name for p in points}
        return pages_of(request).render(
            request,
            "presencial/puesto_elegir.html",
            {"desks": [(d, names.get(d.point_id, "")) for d in desks]},
            user=user,
        )
    return await _render_desk(request, user, desk, part=False)


@router.post("/puesto/tomar")
async def take_desk(request: Request, user: Ejecutivo) -> Response:
    turns = _turns(request)
    form = await read_form(request)
    desk_id = _int(form.get("desk_id"))
    if desk_id is None:
        return _error("Elija un puesto.")
    try:
        await run_in_threadpool(turns.take_desk, desk_id, user.user_id)
    except NotFoundError:
        return _error("Ese puesto no existe.")
    return Response(status_code=204, headers={"HX-Redirect": "/puesto"})


async def _my_desk(request: Request, user: Principal) -> DeskView | None:
    return await run_in_threadpool(_turns(request).desk_of, user.user_id)


@router.post("/puesto/accion")
async def desk_action(request: Request, user: Ejecutivo) -> Response:
    """Call next, call one, recall, no-show, serve, finish: the desk panel redrawn."""
    turns = _turns(request)
    services: PanelServices = request.app.state.services
    desk = await _my_desk(request, user)
    if desk is None:
        return Response(status_code=204, headers={"HX-Redirect": "/puesto"})
    form = await read_form(request)
    action = form.get("action", "")
    turn_id = _int(form.get("turn_id"))
    message: str | None = None
    try:
        if action == "siguiente":
            called = await run_in_threadpool(lambda: turns.call_next(desk.id, user_id=user.user_id))
            message = "No hay personas esperando para este puesto." if called is None else None
        elif turn_id is None:
            message = "Elija un turno."
        elif action == "llamar":
            await run_in_threadpool(lambda: turns.call_turn(desk.id, turn_id, user_id=user.user_id))
        elif action == "rellamar":
            turn = await run_in_threadpool(lambda: turns.recall(turn_id, desk_id=desk.id))
            if turn.status is TurnStatus.NO_SHOW:
                message = f"El turno {turn.label} no se presentó: se registró como ausente."
        elif action == "ausente":
            turn = await run_in_threadpool(lambda: turns.no_show(turn_id, desk_id=desk.id))
            message = f"El turno {turn.label} se registró como ausente."
        elif action == "atender":
            turn = await run_in_threadpool(
                lambda: turns.serve(
                    turn_id, desk_id=desk.id, user_id=user.user_id, agent=user.display_name
                )
            )
            # The wrap-up opens now: unfinished, it waits in the pending list as a call's does.
            await run_in_threadpool(services.wrapups.start, turn.key, user.user_id)
        elif action == "finalizar":
            turn = await run_in_threadpool(lambda: turns.finish(turn_id, desk_id=desk.id))
            message = f"Atención del turno {turn.label} finalizada."
        else:
            message = "Acción desconocida."
    except (TurnRuleError, NotFoundError) as err:
        log.info("desk action refused: %s", err)
        message = "Ese turno ya no está disponible para esta acción; la lista se actualizó."
    except AgentApiError as err:
        message = err.detalle
    return await _render_desk(request, user, desk, message, part=True)


@router.get("/puesto/panel", dependencies=[fragment_of("/puesto", Ejecutivo)])
async def desk_panel(request: Request, user: Ejecutivo) -> Response:
    desk = await _my_desk(request, user)
    if desk is None:
        return Response(status_code=204, headers={"HX-Redirect": "/puesto"})
    return await _render_desk(request, user, desk, part=True)


# ------------------------------------------------------ waiting-room display


async def _room_board(request: Request, token: str) -> Any:
    """The board of the link's point; None for an unknown or revoked link, or a
    point the admin deactivated."""
    if not looks_like_token(token):
        return None
    link = await run_in_threadpool(_kiosk(request).resolve, token, ROOM_DISPLAY)
    if link is None or link.service_point_id is None:
        return None
    try:
        return await run_in_threadpool(_turns(request).board, link.service_point_id)
    except NotFoundError:
        return None


def _board_context(board: Any) -> dict[str, Any]:
    return {
        "board": board,
        "waits": [(w, wait_label(w.estimate_seconds)) for w in board.waits],
        "version": "|".join(f"{c.label}@{c.desk}@{c.called_at.isoformat()}" for c in board.calling),
    }


@router.get("/sala/{token}")
async def room_display(request: Request, token: str) -> HTMLResponse:
    board = await _room_board(request, token)
    if board is None:
        return pages_of(request).render(
            request,
            "presencial/kiosco_invalido.html",
            {},
            status_code=404,
            headers=KIOSK_HEADERS,
        )
    return pages_of(request).render(
        request,
        "presencial/sala.html",
        {**_board_context(board), "token": token},
        headers=KIOSK_HEADERS,
    )


@router.get("/sala/{token}/tablero", dependencies=[fragment_of("/sala/{token}")])
async def room_board(request: Request, token: str) -> HTMLResponse:
    board = await _room_board(request, token)
    if board is None:
        return HTMLResponse("", status_code=404, headers=KIOSK_HEADERS)
    return pages_of(request).render(
        request, "presencial/_sala_tablero.html", _board_context(board), headers=KIOSK_HEADERS
    )


# ----------------------------------------------------- farewell evaluation


async def _evaluation_target(
    request: Request, token: str
) -> tuple[int | None, CallKey | None, bool]:
    """(desk of a tablet link, attention of a one-time link, valid)."""
    if not looks_like_token(token):
        return None, None, False
    link = await run_in_threadpool(_kiosk(request).resolve, token, DESK_TABLET)
    if link is not None:
        return link.desk_id, None, True
    key = await run_in_threadpool(_turns(request).link_evaluation, token)
    return None, key, key is not None


async def _evaluation_context(
    request: Request, desk_id: int | None, key: CallKey | None
) -> dict[str, Any]:
    turns = _turns(request)
    offered: TurnView | None = None
    if desk_id is not None:
        offered = await run_in_threadpool(turns.evaluation_for_desk, desk_id)
    elif key is not None:
        offered = await run_in_threadpool(turns.turn_of, key)
    return {"offered": offered, "tablet": desk_id is not None, "one_time": key is not None}


@router.get("/evaluacion/{token}")
async def evaluation_page(request: Request, token: str) -> HTMLResponse:
    desk_id, key, valid = await _evaluation_target(request, token)
    if not valid:
        return pages_of(request).render(
            request,
            "presencial/kiosco_invalido.html",
            {},
            status_code=404,
            headers=KIOSK_HEADERS,
        )
    context = await _evaluation_context(request, desk_id, key)
    return pages_of(request).render(
        request,
        "presencial/evaluacion.html",
        {**context, "token": token, "done": False, "error": None},
        headers=KIOSK_HEADERS,
    )


@router.get("/evaluacion/{token}/estado", dependencies=[fragment_of("/evaluacion/{token}")])
async def evaluation_state(request: Request, token: str) -> HTMLResponse:
    desk_id, key, valid = await _evaluation_target(request, token)
    if not valid:
        return HTMLResponse("", status_code=404, headers=KIOSK_HEADERS)
    context = await _evaluation_context(request, desk_id, key)
    return pages_of(request).render(
        request,
        "presencial/_evaluacion_cuerpo.html",
        {**context, "token": token, "done": False, "error": None},
        headers=KIOSK_HEADERS,
    )


@router.post("/evaluacion/{token}")
async def evaluate(request: Request, token: str) -> HTMLResponse:
    turns = _turns(request)
    desk_id, key, valid = await _evaluation_target(request, token)
    if not valid:
        return HTMLResponse(
            '<p class="error" role="alert">El enlace de evaluación no es válido o ya se usó.</p>',
            status_code=404,
            headers=KIOSK_HEADERS,
        )
    form = await read_form(request)
    score = _int(form.get("score"))
    comment = form.get("comment", "")[:1000]
    context = await _evaluation_context(request, desk_id, key)
    context.update({"token": token, "done": False, "error": None})
    if score is None or not 1 <= score <= 5:
        context["error"] = "Elija una puntuación del 1 al 5."
        return pages_of(request).render(
            request, "presencial/_evaluacion_cuerpo.html", context, headers=KIOSK_HEADERS
        )
    try:
        if desk_id is not None:
            turn_id = _int(form.get("turn_id"))
            if turn_id is None:
                raise TurnRuleError("no turn in the form")
            await run_in_threadpool(
                lambda: turns.evaluate_at_desk(desk_id, turn_id, score, comment)
            )
        elif not await run_in_threadpool(lambda: turns.evaluate_by_link(token, score, comment)):
            raise TurnRuleError("link used or expired")
    except (TurnRuleError, StoreError) as err:
        log.info("evaluation refused: %s", err)
        context["error"] = "Esta evaluación ya no está disponible. Gracias de todos modos."
        context["offered"] = None
        return pages_of(request).render(
            request, "presencial/_evaluacion_cuerpo.html", context, headers=KIOSK_HEADERS
        )
    context.update({"done": True, "offered": None})
    return pages_of(request).render(
        request, "presencial/_evaluacion_cuerpo.html", context, headers=KIOSK_HEADERS
    )
