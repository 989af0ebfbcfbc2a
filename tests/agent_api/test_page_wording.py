"""What the pages say, rendered from their templates: words for people, never
phone wording on a walk-in nor a raw code (checked by a person walking the demo)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from agent_api.web.templating import Pages

PAGES = Pages(ZoneInfo("America/Montevideo"))


def test_a_walk_in_wrap_up_is_not_called_a_phone_call() -> None:
    html = PAGES.fragment(
        "agente/_cierre_ok.html",
        {"dom_id": "x", "caller": "", "ticket": "2026-000001", "system": "atiende:presencial"},
    )
    assert "llamada" not in html and "número desconocido" not in html
    assert "atención presencial" in html and "2026-000001" in html


def test_a_phone_wrap_up_names_the_caller() -> None:
    html = PAGES.fragment(
        "agente/_cierre_ok.html",
        {"dom_id": "x", "caller": "099123456", "ticket": None, "system": "pbx1"},
    )
    assert "Cierre registrado para la llamada de 099 123 456." in html


def test_a_ticket_response_names_its_means_in_words() -> None:
    """Agent's view of a ticket: "Respondida: via log" showed the means' raw code."""
    ticket = {
        "number": "2026-000002",
        "status": "respondida",
        "overdue": False,
        "request_type": "consulta",
        "topic": "Cédula de identidad",
        "channel": "web",
        "created_at": None,
        "due_at": None,
        "description": "",
        "timeline": [
            {"at": None, "to_status": "respondida", "action": "responder", "notes": "via log"},
            {"at": None, "to_status": None, "action": "nota", "notes": "via email"},
            {"at": None, "to_status": None, "action": "nota", "notes": "Llamó de nuevo"},
        ],
    }
    html = PAGES.fragment("agente/_solicitud.html", {"t": ticket})
    assert "via " not in html and ": nota" not in html
    assert "Respondida: Registrada sin envío" in html
    assert "Nota: Enviada por correo electrónico" in html
    assert "Nota: Llamó de nuevo" in html
