"""Ticket (solicitud) rules without I/O: statuses, the actions that move them, numbers.

The lifecycle is abierta → derivada → en proceso → respondida → cerrada, with
the detours a first level and a referent need: a ticket may be answered at the
first level without derivation, re-derived to another unit, taken back into
process after a response the person was not satisfied with. A closed ticket
takes notes only. Every rule lives in TRANSITIONS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from crm_bridge.exceptions import InvalidTransitionError, InvalidValueError

_E = TypeVar("_E", bound=StrEnum)


class TicketStatus(StrEnum):
    ABIERTA = "abierta"
    DERIVADA = "derivada"
    EN_PROCESO = "en_proceso"
    RESPONDIDA = "respondida"
    CERRADA = "cerrada"


class TicketAction(StrEnum):
    CREATE = "crear"
    DERIVE = "derivar"
    START = "tomar"
    RESPOND = "responder"
    CLOSE = "cerrar"
    REOPEN = "reabrir"
    NOTE = "nota"


class RequestType(StrEnum):
    CONSULTA = "consulta"
    SUGERENCIA = "sugerencia"
    QUEJA = "queja"
    RECLAMO = "reclamo"


_S = TicketStatus
_A = TicketAction
TRANSITIONS: Mapping[tuple[TicketStatus, TicketAction], TicketStatus] = {
    (_S.ABIERTA, _A.DERIVE): _S.DERIVADA,
    (_S.ABIERTA, _A.START): _S.EN_PROCESO,
    (_S.ABIERTA, _A.RESPOND): _S.RESPONDIDA,
    (_S.DERIVADA, _A.DERIVE): _S.DERIVADA,
    (_S.DERIVADA, _A.START): _S.EN_PROCESO,
    (_S.DERIVADA, _A.RESPOND): _S.RESPONDIDA,
    (_S.EN_PROCESO, _A.DERIVE): _S.DERIVADA,
    (_S.EN_PROCESO, _A.RESPOND): _S.RESPONDIDA,
    (_S.RESPONDIDA, _A.RESPOND): _S.RESPONDIDA,
    (_S.RESPONDIDA, _A.CLOSE): _S.CERRADA,
    (_S.RESPONDIDA, _A.REOPEN): _S.EN_PROCESO,
}

# How the IVR's RequestStatus names each status (ivr.services.RequestStatus).
IVR_STATUS: Mapping[TicketStatus, str] = {
    _S.ABIERTA: "recibida",
    _S.DERIVADA: "derivada",
    _S.EN_PROCESO: "en_proceso",
    _S.RESPONDIDA: "resuelta",
    _S.CERRADA: "cerrada",
}

OPEN_STATUSES = frozenset({_S.ABIERTA, _S.DERIVADA, _S.EN_PROCESO, _S.RESPONDIDA})

# Business hours to answer when neither the unit nor the organism set a level.
DEFAULT_SLA_HOURS: Mapping[RequestType, float] = {
    RequestType.CONSULTA: 16.0,
    RequestType.SUGERENCIA: 80.0,
    RequestType.QUEJA: 40.0,
    RequestType.RECLAMO: 40.0,
}


def next_status(current: TicketStatus, action: TicketAction) -> TicketStatus:
    """The status after `action`; InvalidTransitionError when not allowed now."""
    if action is TicketAction.NOTE:
        return current
    if action is TicketAction.CREATE:
        raise InvalidTransitionError(f"cannot {action.value} again: a ticket is created once")
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransitionError(
            f"cannot {action.value} a ticket that is {current.value}"
            f" (allowed: {', '.join(allowed_actions(current)) or 'notes only'})"
        )
    return target


def allowed_actions(current: TicketStatus) -> list[str]:
    return [action.value for (status, action) in TRANSITIONS if status is current]


_NUMBER = re.compile(r"(\d{4})-(\d{6})")
MAX_SEQUENCE = 999_999


def format_number(year: int, sequence: int) -> str:
    """The human number of the `sequence`-th ticket of `year`: 2026-000123."""
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise InvalidValueError(f"ticket sequence {sequence} out of range for {year}")
    return f"{year:04d}-{sequence:06d}"


def parse_number(text: str) -> tuple[int, int] | None:
    """(year, sequence) of a ticket number, None if it is not one."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    year, sequence = int(match.group(1)), int(match.group(2))
    return (year, sequence) if sequence >= 1 else None


def parse_enum(kind: type[_E], value: str, what: str) -> _E:
    """`value` as a member of `kind`, or InvalidValueError naming the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidValueError(f"unknown {what} {value!r} (one of: {choices})") from None
