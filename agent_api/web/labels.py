"""Spanish words for the values the store and Asterisk use (no enum value reaches a page)."""

from __future__ import annotations

AGENT_STATE = {
    "logged_out": "Fuera de las colas",
    "available": "Disponible",
    "paused": "En pausa",
    "ringing": "Sonando",
    "on_call": "En llamada",
    "wrap_up": "En cierre",
    "unavailable": "No disponible",
    "desconocido": "Sin datos de la central",
}
OUTCOME = {
    "answered": "Atendida",
    "abandoned": "Abandonada",
    "in_progress": "En curso",
    "exit_timeout": "Tiempo de espera agotado",
    "exit_key": "Salió con una tecla",
    "exit_empty": "Cola sin agentes",
    "join_empty": "Cola sin agentes",
    "transferred": "Transferida",
    "ivr_hangup": "Colgó en el menú",
    "ivr_completed": "Resuelta en el menú",
    "lost_during_outage": "Perdida durante un corte",
}
PHASE = {
    "sonando": "Sonando",
    "en_llamada": "En llamada",
    "finalizada": "Llamada finalizada",
    "atendida_por_otro": "Atendida por otro agente",
    "no_atendida": "No atendida",
}
RESOLUTION = {
    "resuelta": "Resuelta en el primer contacto",
    "derivada": "Derivada",
    "pendiente": "Pendiente con seguimiento",
}
ATTENTION_TYPE = {
    "consulta": "Consulta",
    "tramite": "Trámite",
    "sugerencia": "Sugerencia",
    "queja": "Queja",
    "reclamo": "Reclamo",
}
CHANNEL = {
    "phone": "Teléfono",
    "telefonico": "Teléfono",
    "presencial": "Presencial",
    "web": "Web",
    "whatsapp": "WhatsApp",
    "email": "Correo electrónico",
}
TICKET_STATUS = {
    "abierta": "Abierta",
    "derivada": "Derivada",
    "en_proceso": "En proceso",
    "respondida": "Respondida",
    "cerrada": "Cerrada",
}
HISTORY_KIND = {"atencion": "Atención", "solicitud": "Solicitud", "respuesta": "Respuesta"}
CONSENT = {
    "identificacion": "Identificación (nombre y documento)",
    "contacto": "Contacto (teléfonos y correos)",
    "domicilio": "Domicilio",
    "documentacion": "Documentación",
}
DELIVERY = {"entregada": "Entregada", "fallida": "No entregada"}


def label(table: dict[str, str], value: object) -> str:
    """The Spanish word; an unknown value is shown as "Otro" (never the raw code)."""
    if value is None or value == "":
        return ""
    return table.get(str(value), "Otro")


ALL = {
    "estado_agente": AGENT_STATE,
    "resultado": OUTCOME,
    "fase": PHASE,
    "resolucion": RESOLUTION,
    "tipo_atencion": ATTENTION_TYPE,
    "canal": CHANNEL,
    "estado_solicitud": TICKET_STATUS,
    "tipo_historial": HISTORY_KIND,
    "consentimiento": CONSENT,
    "entrega": DELIVERY,
}
