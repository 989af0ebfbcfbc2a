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


def test_the_menu_topic_is_shown_in_words() -> None:
    from agent_api.web.labels import menu_topic

    assert menu_topic("estado_solicitud") == "Estado de una solicitud"
    assert menu_topic("renovacion_cedula") == "Renovacion cedula"
    assert menu_topic(None) == "" and menu_topic("") == ""


def test_the_history_shows_topics_in_words_never_codes() -> None:
    """Seen in the demo: 'Atención: estado_solicitud' (a call's menu topic) and
    'Atención: T001' (a web request's catalogue code) in a person's history."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from agent_api.web.agente import _history_rows
    from crm_bridge.history import EntryKind, HistoryEntry, HistoryPage

    at = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    entries = (
        HistoryEntry(
            EntryKind.ATTENTION,
            at,
            "a1",
            "telefonico",
            "abandoned",
            "abandoned",
            {"topic": "estado_solicitud"},
        ),
        HistoryEntry(
            EntryKind.ATTENTION, at, "a2", "web", "answered", "answered", {"topic": "T001"}
        ),
    )
    history = SimpleNamespace(
        page=lambda person_id, page, page_size: HistoryPage(person_id, 1, 5, entries, False)
    )
    topic = SimpleNamespace(code="T001", name="Cédula de identidad: renovación")
    services = SimpleNamespace(
        wrapups=SimpleNamespace(details_of=lambda ids: {}),
        catalog=SimpleNamespace(topics=lambda include_inactive=False: [topic]),
    )
    rows, _ = _history_rows(services, history, 1, 1, None)  # type: ignore[arg-type]
    assert [r["topic"] for r in rows] == [
        "Estado de una solicitud",
        "Cédula de identidad: renovación",
    ]


def test_a_public_page_says_how_long_to_wait_in_minutes() -> None:
    """Seen on /seguimiento: "Intente de nuevo en 3597 segundos"."""
    from agent_api.web.publico import wait_words

    assert wait_words(3597) == "60 minutos"
    assert wait_words(61) == "2 minutos" and wait_words(60) == "1 minuto"
    assert wait_words(45) == "45 segundos" and wait_words(1) == "1 segundo"


def test_a_free_desk_sees_new_turns_without_a_reload() -> None:
    """Seen in the demo: the desk said 'Nadie espera.' 20 s after reception gave
    two turns, until the ejecutivo reloaded the page."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from agent_api.workspace import Workspace

    desk = SimpleNamespace(id=1, name="Puesto 1", point_id=1, topic_ids=())
    context = {
        "desk": desk,
        "point": SimpleNamespace(id=1, name="Centro"),
        "waiting": [],
        "current": None,
        "current_topic": "",
        "status_labels": {},
        "message": None,
        "now": datetime.now(UTC),
        "ws": Workspace(),
        "evaluation_offered": None,
        "link_contacts": [],
    }
    html = PAGES.fragment("presencial/_puesto_trabajo.html", context)
    assert 'hx-get="/puesto/panel"' in html and "every 10s" in html


def test_reception_sees_the_waiting_list_change_without_a_reload() -> None:
    """Seen in the demo: after giving A-001, reception still said 'Nadie espera.'."""
    from types import SimpleNamespace

    context = {
        "request": SimpleNamespace(url=SimpleNamespace(path="/recepcion")),
        "user": None,
        "csrf": None,
        "nav": [],
        "home": None,
        "current_path": "/recepcion",
        "points": [],
        "point": SimpleNamespace(id=7, name="Centro"),
        "topics": [],
        "priorities": [],
        "waiting": [],
    }
    html = PAGES.fragment("presencial/recepcion.html", context)
    assert 'hx-get="/recepcion?punto=7"' in html and 'hx-select="#espera-recepcion"' in html


def test_the_history_says_request_types_means_and_agents_in_words() -> None:
    """Seen by QA: 'Solicitud: consulta: …', Canal 'Otro' on a response sent by
    e-mail, and 'referente' / 'correo:buzon' in the Agente column."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from agent_api.web.agente import _history_rows
    from crm_bridge.history import EntryKind, HistoryEntry, HistoryPage

    at = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    entries = (
        HistoryEntry(
            EntryKind.TICKET,
            at,
            "2026-000001",
            "web",
            "consulta: Cédula",
            "abierta",
            {"request_type": "consulta", "topic": "Cédula"},
        ),
        HistoryEntry(EntryKind.RESPONSE, at, "2026-000001", "email", "Hola", "entregada"),
        HistoryEntry(EntryKind.RESPONSE, at, "2026-000001", "log", "Hola", "entregada"),
        HistoryEntry(
            EntryKind.ATTENTION, at, "a1", "web", "answered", "answered", {"agent": "referente"}
        ),
        HistoryEntry(
            EntryKind.ATTENTION,
            at,
            "a2",
            "correo",
            "answered",
            "answered",
            {"agent": "correo:buzon"},
        ),
    )
    history = SimpleNamespace(
        page=lambda person_id, page, page_size: HistoryPage(person_id, 1, 10, entries, False)
    )
    asked: list[set[str]] = []

    def display_names(names: set[str]) -> dict[str, str]:
        asked.append(set(names))
        return {"referente": "Ana Pérez"}

    services = SimpleNamespace(
        wrapups=SimpleNamespace(details_of=lambda ids: {}),
        catalog=SimpleNamespace(topics=lambda include_inactive=False: []),
        users=SimpleNamespace(display_names=display_names),
    )
    rows, _ = _history_rows(services, history, 1, 1, None)  # type: ignore[arg-type]
    assert rows[0]["topic"] == "Consulta: Cédula"
    assert rows[1]["means"] == "Correo electrónico"
    assert rows[2]["means"] == "Registro interno (sin envío)"
    assert rows[3]["agent"] == "Ana Pérez"
    assert rows[4]["agent"] == "Buzón de correo buzon"
    assert len(asked) == 1  # one look-up for the whole page
    html = PAGES.fragment(
        "agente/_historial.html",
        {"entries": rows, "page": 1, "has_more": False, "base_url": "/x?llamada="},
    )
    assert "Otro" not in html and "consulta:" not in html and "referente" not in html
    assert "Correo electrónico" in html and "Registro interno" in html


def test_the_first_history_page_holds_ten_rows() -> None:
    """A busy person's walk-in or web request fell on page 2 with 5 rows."""
    from agent_api.pop_lookup import HISTORY_ENTRIES
    from agent_api.web.agente import HISTORY_PAGE

    assert HISTORY_PAGE == 10 and HISTORY_ENTRIES == 10


def test_a_derived_ticket_refreshes_the_open_requests_on_the_desk() -> None:
    """Seen by QA: a walk-in wrapped up as derivada at /puesto, and the ficha's
    'Solicitudes abiertas' still did not list the ticket just made."""
    from agent_api.web.agente import REQUESTS_CHANGED, wrapup_saved_headers

    assert wrapup_saved_headers("2026-000003") == {"HX-Trigger": REQUESTS_CHANGED}
    assert wrapup_saved_headers(None) is None
    html = PAGES.fragment(
        "agente/_persona_ficha.html",
        {
            "person": {"id": 7, "given_names": "Ana", "family_names": "Pérez"},
            "open_requests": [],
            "open_count": 0,
            "call_ref": "atiende:presencial|abc",
        },
    )
    assert f'hx-trigger="{REQUESTS_CHANGED} from:body"' in html
    assert 'hx-get="/agente/personas/7?llamada=atiende%3Apresencial%7Cabc"' in html
    assert 'hx-target="closest article"' in html
