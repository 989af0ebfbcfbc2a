"""Errors of the agent API, each with the HTTP status and the Spanish text users read.

`detalle` is what the panel shows; the English message (str(err)) is what the
logs get. Neither ever carries a phone number, document or name.
"""

from __future__ import annotations


class AgentApiError(Exception):
    status_code = 500
    detalle = "Ocurrió un error inesperado. Intente nuevamente."

    def __init__(self, message: str = "", *, detalle: str | None = None) -> None:
        super().__init__(message or type(self).__name__)
        if detalle is not None:
            self.detalle = detalle


class NotAuthenticated(AgentApiError):
    status_code = 401
    detalle = "Debe iniciar sesión."


class Forbidden(AgentApiError):
    status_code = 403
    detalle = "No tiene permiso para realizar esta acción."


class CsrfRejected(AgentApiError):
    status_code = 403
    detalle = "La solicitud no tiene un token de seguridad válido. Recargue la página."


class TooManyAttempts(AgentApiError):
    status_code = 429
    detalle = "Demasiados intentos de ingreso. Espere unos minutos e intente de nuevo."

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"login rate limit, retry after {retry_after}s")
        self.retry_after = retry_after


class NotFound(AgentApiError):
    status_code = 404
    detalle = "No se encontró lo solicitado."


class InvalidInput(AgentApiError):
    status_code = 422
    detalle = "Los datos ingresados no son válidos."


class Conflict(AgentApiError):
    status_code = 409
    detalle = "La operación no es posible en el estado actual."


class ControlRefused(AgentApiError):
    """Asterisk answered the action with an error."""

    status_code = 409
    detalle = "La central telefónica rechazó la acción."


class ControlOutcomeUnknown(AgentApiError):
    status_code = 409
    detalle = (
        "Se perdió la conexión con la central antes de confirmar la acción. "
        "Verifique su estado antes de reintentar."
    )


class TelephonyUnavailable(AgentApiError):
    status_code = 503
    detalle = "No hay conexión con la central telefónica. Intente en unos segundos."


class TelephonyTimeout(AgentApiError):
    status_code = 504
    detalle = "La central telefónica no respondió a tiempo."
