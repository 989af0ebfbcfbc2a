"""Spanish words for the values the store and Asterisk use (no enum value reaches a page)."""

from __future__ import annotations

from citizen.channels import CHANNEL_LABELS

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
    "cancelled": "Cancelada en recepción",
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
CHANNEL = {channel.value: label for channel, label in CHANNEL_LABELS.items()}
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
    "avisos_correo": "Avisos de sus solicitudes por correo electrónico",
    "avisos_sms": "Avisos de sus solicitudes por SMS",
}
DELIVERY = {"entregada": "Entregada", "fallida": "No entregada"}
# Topics and options the IVR flows set (ivr/flows/default.yaml): what the caller chose.
IVR_TOPIC = {
    "consultas": "Consultas",
    "reclamos": "Reclamos",
    "estado": "Estado de una solicitud",
    "estado_solicitud": "Estado de una solicitud",
    "ejecutivo": "Hablar con un ejecutivo",
}


def menu_topic(code: object) -> str:
    """What the caller chose in the menu, in words: a flow's own topic that has
    no words here is shown readable ("renovacion_cedula" → "Renovacion cedula")."""
    text = "" if code is None else str(code)
    if not text:
        return ""
    return IVR_TOPIC.get(text) or text.replace("_", " ").capitalize()


# How a ticket's response went out (crm_bridge.responders' means).
MEANS = {"email": "Correo electrónico", "sms": "SMS", "log": "Registro interno (sin envío)"}
TICKET_ACTION = {
    "crear": "Creada",
    "derivar": "Derivada",
    "tomar": "Tomada",
    "responder": "Respondida",
    "cerrar": "Cerrada",
    "reabrir": "Reabierta",
    "nota": "Nota",
}
# crm_bridge.tickets notes a response's means as "via <means>" (kept as stored).
_SENT_VIA = {
    "email": "Enviada por correo electrónico",
    "sms": "Enviada por SMS",
    "log": "Registrada sin envío",
}


def ticket_note(text: object) -> str:
    """A ticket event's note in words: "via email" becomes "Enviada por correo
    electrónico"; a note a person wrote is shown as written."""
    note = "" if text is None else str(text)
    if note.startswith("via "):
        return _SENT_VIA.get(note[4:], note)
    return note


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
    "medio": MEANS,
    "accion_solicitud": TICKET_ACTION,
}


AUDIT_DETAIL_KEY = {
    "reason": "Motivo",
    "via": "Vía",
    "criterion": "Criterio",
    "calls": "Llamadas",
    "tickets": "Solicitudes",
    "ticket": "Solicitud",
    "scope": "Alcance",
    "masked": "Números enmascarados",
    "disclosed": "Datos mostrados",
    "history_page": "Página del historial",
    "event": "Evento",
    "link_id": "Enlace",
    "label": "Nombre",
    "kind": "Tipo",
    "alert_id": "Alerta",
    "ack_id": "Atención de alerta",
    "note": "Nota",
    "queue": "Cola",
    "resource": "Recurso",
    "op": "Operación",
    "agent_id": "Agente",
    "action": "Acción",
    "user_id": "Usuario",
    "organism_id": "Organismo",
    "unit_id": "Unidad",
    "topic_id": "Tema",
    "code": "Código",
    "role": "Rol",
    "fields": "Campos",
    "interfaces": "Interfaces",
    "created": "Creados",
    "updated": "Actualizados",
    "unchanged": "Sin cambios",
    "format": "Formato",
    "means": "Medio",
    "to": "Destino",
    "delivered": "Entregado",
    "purpose": "Para qué",
}
AUDIT_DETAIL_VALUE = {
    "call": "llamada en curso",
    "contacts to send a trámite's information": "contactos para enviar información de un trámite",
    "email": "correo electrónico",
    "sms": "SMS",
    "log": "solo registro (sin envío)",
    "ticket": "solicitud",
    "ticket list": "lista de solicitudes",
    "own wrap-up": "cierre propio",
    "own wrap-ups pending": "cierres propios pendientes",
    "own calls pending wrap-up": "llamadas propias pendientes de cierre",
    "answered call": "llamada atendida",
    "caller number": "número del llamante",
    "candidates": "posibles personas",
    "name, masked document, open count": "nombre, documento enmascarado, casos abiertos",
    "all": "todas",
    "own": "propias",
    "created": "creado",
    "opened": "abierto",
    "revoked": "revocado",
    "ticket_sla": "plazo de solicitud",
    "sl_under_target": "nivel de servicio bajo el objetivo",
    "wait_over_limit": "espera sobre el límite",
    "organism": "organismo",
    "unit": "unidad",
    "referent": "referente",
    "service_level": "nivel de servicio",
    "topic": "tema",
    "user": "usuario",
    "create": "alta",
    "rename": "cambio de nombre",
    "update": "cambio",
    "add": "agregado",
    "remove": "quitado",
    "set": "fijado",
    "import": "importación",
    "pausar": "pausar",
    "reanudar": "reanudar",
    "quitar": "quitar de una cola",
    "desconectar": "sacar de todas las colas",
    "listen": "escuchar",
    "whisper": "susurrar",
    "barge": "intervenir",
}


def _detail_value(value: object) -> str:
    if isinstance(value, bool):
        return "sí" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_detail_value(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{_detail_key(k)}: {_detail_value(v)}" for k, v in value.items())
    if value is None:
        return "—"
    return AUDIT_DETAIL_VALUE.get(str(value), str(value))


def _detail_key(key: object) -> str:
    # An unknown key is shown readable rather than dropped: the audit must not hide data.
    return AUDIT_DETAIL_KEY.get(str(key), str(key).replace("_", " ").capitalize())


def audit_details(details: dict[str, object]) -> str:
    """An audit row's details as Spanish "Clave: valor" text, sorted by key as stored."""
    return "; ".join(f"{_detail_key(k)}: {_detail_value(details[k])}" for k in sorted(details))
