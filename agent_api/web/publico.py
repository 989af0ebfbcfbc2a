"""The citizens' public pages, without login: /solicitud (open a request) and
/seguimiento (follow it with its number and the document or email it was
opened with).

Against abuse: attempts per client address (and per ticket number on the
tracking page) in a window (agent_api.public_limits: in Redis when replicas
share one, so they share the counts; when it cannot count, both pages refuse
with 503 rather than let guesses through uncounted); a signed form token
bound to a cookie (a form posted from another site, or replayed without the cookie, is
refused) that also carries when the form was served, so a form sent faster
than a person can fill it is refused; a honeypot field people never see.
Nothing personal goes in a URL: both pages post their forms. The tracking
page says the same whether the number or the document was wrong, and every
lookup is audited with its reason.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from starlette.concurrency import run_in_threadpool

from agent_api.audit import AuditAction, AuditLog
from agent_api.centre_setup import REQUEST_TYPE_LABELS
from agent_api.public_limits import LimitsUnavailable, PublicLimits
from agent_api.services import PanelServices
from agent_api.web.auth import pages_of
from agent_api.web.login import same_site
from agent_api.web.screens import Errors, FormTooLarge, first, form_of
from agent_api.web.solicitudes import STATUS_LABELS
from crm_bridge.citizen_requests import (
    MAX_DESCRIPTION,
    MAX_EMAIL,
    MAX_NAME,
    CitizenRequest,
    CitizenRequests,
    normal_cedula,
    normal_email,
)
from crm_bridge.exceptions import StoreError
from crm_bridge.ticket_rules import RequestType, parse_number

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

FORM_COOKIE = "atiende_formulario"
NOTICE_VERSION = "web-2026-12"
# A public form is a few KiB: the description's 4,000 characters, escaped.
MAX_PUBLIC_FORM_BYTES = 24 * 1024
TOKEN_MAX_AGE = 2 * 3600
HONEYPOT = "sitio_web"
TRACKING_REASON = "seguimiento público: número de solicitud con documento o correo"

UNAVAILABLE = (
    "Este servicio no está disponible en este momento. Intente más tarde o llame al centro."
)
NOT_FOUND = (
    "No encontramos una solicitud con ese número y ese documento o correo. "
    "Revise los datos e intente de nuevo."
)


@dataclass
class PublicPages:
    """What the public pages need, built by atiende.panel_app."""

    requests: CitizenRequests | None
    audit: AuditLog
    secret_key: str
    limits: PublicLimits
    # People take longer than this to fill the form; scripts do not.
    min_fill_seconds: float = 3.0
    clock: Any = time.time

    @property
    def signer(self) -> TimestampSigner:
        return TimestampSigner(self.secret_key, salt="atiende-public-form")


def wait_words(seconds: int) -> str:
    """How long to wait, as a citizen reads it: "3597 segundos" is "60 minutos"."""
    if seconds < 60:
        return "1 segundo" if seconds == 1 else f"{max(seconds, 0)} segundos"
    minutes = -(-seconds // 60)
    return "1 minuto" if minutes == 1 else f"{minutes} minutos"


def _public(request: Request) -> PublicPages | None:
    found: PublicPages | None = getattr(request.app.state, "public", None)
    return found


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _issue(public: PublicPages) -> tuple[str, str]:
    """(form token, cookie nonce): the token signs the nonce and the time."""
    nonce = secrets.token_urlsafe(16)
    return public.signer.sign(nonce).decode("ascii"), nonce


def _token_problem(request: Request, public: PublicPages, token: str, *, timed: bool) -> str | None:
    """Why the posted form is refused (Spanish), or None."""
    services: PanelServices = request.app.state.services
    if not same_site(request, services):
        return "El formulario debe enviarse desde esta página."
    try:
        nonce, issued = public.signer.unsign(token, max_age=TOKEN_MAX_AGE, return_timestamp=True)
    except SignatureExpired:
        return "El formulario venció. Revise los datos y envíelo de nuevo."
    except BadSignature:
        return "El formulario no es válido. Recargue la página e intente de nuevo."
    cookie = request.cookies.get(FORM_COOKIE, "")
    if not hmac.compare_digest(nonce.decode("ascii", "replace"), cookie):
        return "El formulario no es válido. Recargue la página e intente de nuevo."
    if timed and public.clock() - issued.timestamp() < public.min_fill_seconds:
        return "El formulario se envió demasiado rápido. Revise los datos y envíelo de nuevo."
    return None


def _render(
    request: Request,
    public: PublicPages | None,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    token, nonce = ("", "") if public is None else _issue(public)
    response = pages_of(request).render(
        request,
        template,
        {"form_token": token, "honeypot": HONEYPOT, **context},
        status_code=status_code,
        headers=headers,
    )
    if nonce:
        services: PanelServices = request.app.state.services
        response.set_cookie(
            FORM_COOKIE,
            nonce,
            max_age=TOKEN_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=services.cookie_secure,
            path="/",
        )
    return response


# ------------------------------------------------------------------ /solicitud

_TYPES = [(t.value, REQUEST_TYPE_LABELS[t]) for t in RequestType]


async def _solicitud_page(
    request: Request,
    public: PublicPages | None,
    values: dict[str, str],
    errors: Errors,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    topics = []
    if public is not None and public.requests is not None:
        try:
            topics = await run_in_threadpool(public.requests.topics)
        except StoreError:
            errors = [*errors, (None, UNAVAILABLE)]
            status_code = 503
    return _render(
        request,
        public,
        "publico/solicitud.html",
        {
            "topics": topics,
            "types": _TYPES,
            "values": values,
            "errors": errors,
            "error_of": dict(errors),
            "available": public is not None and public.requests is not None,
            "receipt": None,
            "limits": {"description": MAX_DESCRIPTION, "name": MAX_NAME, "email": MAX_EMAIL},
        },
        status_code=status_code if public is not None and public.requests else 503,
        headers=headers,
    )


@router.get("/solicitud")
async def solicitud_form(request: Request) -> HTMLResponse:
    return await _solicitud_page(request, _public(request), {}, [])


def _validate(
    requests: CitizenRequests, values: dict[str, str], ticks: set[str]
) -> tuple[CitizenRequest | None, Errors]:
    errors: Errors = []
    topic = values["tema"]
    if not topic.isdigit() or len(topic) > 12:
        errors.append(("tema", "Elija el trámite o servicio sobre el que escribe."))
    kind = values["tipo"]
    if kind not in {t.value for t in RequestType}:
        errors.append(("tipo", "Elija si es una consulta, una sugerencia, una queja o un reclamo."))
    description = values["descripcion"]
    if not description:
        errors.append(("descripcion", "Escriba su consulta o lo que quiere plantear."))
    elif len(description) > MAX_DESCRIPTION:
        errors.append(("descripcion", f"Escriba como máximo {MAX_DESCRIPTION} caracteres."))
    given = values["nombre"]
    if not given:
        errors.append(("nombre", "Escriba su nombre."))
    elif len(given) > MAX_NAME or len(values["apellido"]) > MAX_NAME:
        errors.append(("nombre", f"El nombre y el apellido tienen como máximo {MAX_NAME} letras."))
    cedula = None
    if values["documento"]:
        cedula = normal_cedula(values["documento"])
        if cedula is None:
            errors.append(
                (
                    "documento",
                    "Escriba la cédula con su dígito verificador, por ejemplo 1.234.567-2.",
                )
            )
    email = None
    if values["correo"]:
        email = normal_email(values["correo"])
        if email is None:
            errors.append(("correo", "Escriba un correo electrónico como nombre@ejemplo.com."))
    phone = None
    if values["telefono"]:
        phone = requests.phone(values["telefono"])
        if phone is None:
            errors.append(("telefono", "Escriba un teléfono de Uruguay, por ejemplo 099 123 456."))
    if not values["documento"] and not values["correo"]:
        errors.append(
            (
                "documento",
                "Indique su cédula o su correo electrónico: "
                "los necesitará para seguir la solicitud.",
            )
        )
    if "responder_correo" in ticks and not values["correo"]:
        errors.append(("correo", "Escriba el correo al que quiere recibir la respuesta."))
    if "responder_sms" in ticks and not values["telefono"]:
        errors.append(("telefono", "Escriba el celular al que quiere recibir la respuesta."))
    if "guardar" in ticks and not values["documento"]:
        errors.append(("documento", "Para guardar sus datos en el centro indique su cédula."))
    if "acepto" not in ticks:
        errors.append(
            (
                "acepto",
                "Para enviar la solicitud debe aceptar el uso de sus datos para responderla.",
            )
        )
    if errors:
        return None, errors
    return (
        CitizenRequest(
            topic_id=int(topic),
            request_type=RequestType(kind),
            description=description,
            given_names=given,
            family_names=values["apellido"],
            cedula=cedula,
            email=email,
            phone=phone,
            answer_by_email="responder_correo" in ticks,
            answer_by_sms="responder_sms" in ticks,
            keep_record="guardar" in ticks,
            notice_version=NOTICE_VERSION,
        ),
        [],
    )


_FIELDS = ("tema", "tipo", "descripcion", "nombre", "apellido", "documento", "correo", "telefono")
_TICKS = ("responder_correo", "responder_sms", "guardar", "acepto")


@router.post("/solicitud")
async def solicitud_submit(request: Request) -> HTMLResponse:
    public = _public(request)
    if public is None or public.requests is None:
        return await _solicitud_page(request, public, {}, [(None, UNAVAILABLE)], status_code=503)
    requests = public.requests
    try:
        form = await form_of(request, MAX_PUBLIC_FORM_BYTES)
    except FormTooLarge:
        return await _solicitud_page(
            request, public, {}, [("descripcion", "El texto es demasiado largo.")], status_code=413
        )
    values = {name: first(form, name).replace("\x00", "") for name in _FIELDS}
    values["descripcion"] = (form.get("descripcion") or [""])[0].replace("\x00", "").strip()
    ticks = {name for name in _TICKS if first(form, name)}
    shown = {**values, **{name: "on" for name in ticks}}
    try:
        wait = await run_in_threadpool(public.limits.submission, _address(request))
    except LimitsUnavailable as err:
        # Fail closed: uncounted posts would let a script flood the tickets.
        # The form comes back filled in, so the citizen loses nothing typed.
        log.warning("public request refused: attempt limits unavailable (%s)", err)
        return await _solicitud_page(request, public, shown, [(None, UNAVAILABLE)], status_code=503)
    if wait is not None:
        log.info("public request refused: too many from one address")
        return await _solicitud_page(
            request,
            public,
            shown,
            [
                (
                    None,
                    "Recibimos muchas solicitudes desde su conexión. "
                    f"Intente en {wait_words(wait)}.",
                )
            ],
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    problem = _token_problem(request, public, first(form, "token"), timed=True)
    if problem is None and first(form, HONEYPOT):
        # Filled by a script: the same words as any refused form, nothing stored.
        problem = "No pudimos recibir la solicitud. Revise los datos y envíela de nuevo."
    if problem is not None:
        log.info("public request refused: form check failed")
        return await _solicitud_page(request, public, shown, [(None, problem)], status_code=400)
    valid, errors = _validate(requests, values, ticks)
    if valid is None:
        return await _solicitud_page(request, public, shown, errors, status_code=422)
    try:
        receipt = await run_in_threadpool(requests.submit, valid)
    except StoreError as err:
        log.info("public request not stored: %s", type(err).__name__)
        errors = [("tema", "Elija un trámite o servicio de la lista.")]
        return await _solicitud_page(request, public, shown, errors, status_code=422)
    if receipt.person_id is not None:
        await run_in_threadpool(
            public.audit.record,
            AuditAction.PERSON_CREATE,
            actor_id=None,
            person_ids=[receipt.person_id],
            call=receipt.attention,
            details={
                "reason": "solicitud web: la persona pidió que el centro guarde sus datos",
                "ticket": receipt.number,
            },
        )
    log.info("public request %s opened", receipt.number)
    return _render(
        request,
        public,
        "publico/solicitud.html",
        {
            "receipt": receipt,
            "sent_by": [
                {"email": "correo electrónico", "sms": "SMS"}[m] for m in receipt.acknowledged_by
            ],
            "available": True,
            "errors": [],
            "error_of": {},
            "values": {},
            "topics": [],
            "types": _TYPES,
            "limits": {},
        },
        status_code=201,
    )


# ---------------------------------------------------------------- /seguimiento


def _tracking(
    request: Request,
    public: PublicPages | None,
    errors: Errors,
    *,
    number: str = "",
    ticket: Any = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        request,
        public,
        "publico/seguimiento.html",
        {
            "errors": errors,
            "error_of": dict(errors),
            "number": number,
            "ticket": ticket,
            "status_labels": STATUS_LABELS,
            "type_labels": REQUEST_TYPE_LABELS,
            "available": public is not None and public.requests is not None,
        },
        status_code=status_code,
        headers=headers,
    )


@router.get("/seguimiento")
async def tracking_form(request: Request) -> HTMLResponse:
    public = _public(request)
    status = 200 if public is not None and public.requests is not None else 503
    return _tracking(request, public, [], status_code=status)


@router.post("/seguimiento")
async def tracking_lookup(request: Request) -> HTMLResponse:
    public = _public(request)
    if public is None or public.requests is None:
        return _tracking(request, public, [(None, UNAVAILABLE)], status_code=503)
    requests = public.requests
    try:
        form = await form_of(request, 4096)
    except FormTooLarge:
        return _tracking(
            request, public, [(None, "Los datos son demasiado largos.")], status_code=413
        )
    number = first(form, "numero")[:32]
    identifier = first(form, "identificacion")[:MAX_EMAIL]
    problem = _token_problem(request, public, first(form, "token"), timed=False)
    if problem is not None:
        return _tracking(request, public, [(None, problem)], number=number, status_code=400)
    try:
        wait = await run_in_threadpool(
            public.limits.lookup,
            _address(request),
            number if parse_number(number) is not None else None,
        )
    except LimitsUnavailable as err:
        # Fail closed: an uncounted lookup is a free guess at a ticket's document.
        log.warning("public tracking refused: attempt limits unavailable (%s)", err)
        return _tracking(request, public, [(None, UNAVAILABLE)], number=number, status_code=503)
    if wait is not None:
        log.info("public tracking refused: too many attempts")
        await run_in_threadpool(
            public.audit.record,
            AuditAction.PUBLIC_TRACKING,
            actor_id=None,
            person_ids=[None],
            details={"reason": TRACKING_REASON, "ticket": number, "result": "limitado"},
        )
        return _tracking(
            request,
            public,
            [(None, f"Hubo demasiados intentos. Intente de nuevo en {wait_words(wait)}.")],
            number=number,
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    errors: Errors = []
    if parse_number(number) is None:
        errors.append(("numero", "Escriba el número de solicitud como 2026-000123."))
    if not identifier:
        errors.append(
            ("identificacion", "Escriba la cédula o el correo con que abrió la solicitud.")
        )
    if errors:
        return _tracking(request, public, errors, number=number, status_code=422)
    try:
        found = await run_in_threadpool(requests.track, number, identifier)
    except StoreError:
        return _tracking(request, public, [(None, UNAVAILABLE)], number=number, status_code=503)
    await run_in_threadpool(
        public.audit.record,
        AuditAction.PUBLIC_TRACKING,
        actor_id=None,
        person_ids=[None if found is None else found.person_id],
        call=None if found is None else found.attention,
        details={
            "reason": TRACKING_REASON,
            "ticket": number,
            "result": "mostrada" if found is not None else "rechazada",
        },
    )
    if found is None:
        log.info("public tracking: no match")
        return _tracking(request, public, [("numero", NOT_FOUND)], number=number, status_code=404)
    return _tracking(request, public, [], number=number, ticket=found)
