"""The citizens' public pages (/solicitud, /seguimiento) over a real PostgreSQL panel."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import select

from agent_api.audit import AuditAction, AuditLog
from agent_api.catalog import Catalog, TopicInput
from agent_api.public_limits import MemoryCounter, Rule
from agent_api.redis_limits import RedisCounter
from agent_api.testing import RecordingControls
from agent_api.web.publico import FORM_COOKIE, NOT_FOUND, PublicPages
from crm_bridge.models import Attention, Ticket
from crm_bridge.notifications import CitizenNotices
from crm_bridge.organisms import Directory, Role
from crm_bridge.persons import PersonRegistry
from crm_bridge.responders import OutgoingMessage
from crm_bridge.tickets import TicketService
from tests.agent_api.conftest import ORIGIN, Panel, build_panel, log_in
from tests.agent_api.test_tickets_api import ALWAYS_OPEN
from tests.support.redis import redis_test_url

pytestmark = pytest.mark.postgres

CEDULA = "1.234.567-2"


class Recorder:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message)


@dataclass
class Public:
    panel: Panel
    email: Recorder
    sms: Recorder
    topic_id: int
    unit_id: int

    @property
    def pages(self) -> PublicPages:
        pages: PublicPages = self.panel.app.state.public
        return pages

    def client(self) -> TestClient:
        return TestClient(self.panel.app, headers={"origin": ORIGIN})

    def notices(self) -> CitizenNotices:
        return CitizenNotices(self.panel.engine, responders=[self.email, self.sms])


@pytest.fixture
def public(panel_db: str) -> Iterator[Public]:
    email, sms = Recorder("email"), Recorder("sms")
    built = build_panel(
        panel_db,
        tickets=lambda engine: TicketService(
            engine, business_hours=ALWAYS_OPEN, responders=[email, sms]
        ),
    )
    suffix = uuid.uuid4().hex[:6]
    directory = Directory(built.engine)
    organism = directory.create_organism(f"O{suffix}", "Identificación Civil")
    unit = directory.create_unit(organism.id, f"U{suffix}", "Cédulas")
    directory.add_referent(unit.id, built.users[built.usernames[Role.REFERENTE]])
    Catalog(built.engine).import_topics(
        [TopicInput(f"T{suffix}", f"Renovación de cédula {suffix}", organism=organism.code,
                    unit=unit.code)]
    )  # fmt: skip
    topic = next(t for t in Catalog(built.engine).topics() if t.code == f"T{suffix}")
    pages: PublicPages = built.app.state.public
    pages.min_fill_seconds = 2.0
    pages.clock = lambda: time.time() + 5  # as if the person took 5 s to fill it
    try:
        yield Public(built, email, sms, topic.id, unit.id)
    finally:
        built.engine.dispose()


def token_of(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def fill(public: Public, client: TestClient, **fields: str) -> dict[str, str]:
    page = client.get("/solicitud")
    assert page.status_code == 200, page.text
    data = {
        "token": token_of(page.text),
        "tipo": "consulta",
        "tema": str(public.topic_id),
        "descripcion": "¿Puedo renovar la cédula antes de que venza?",
        "nombre": "Ana",
        "apellido": "Pérez",
        "documento": CEDULA,
        "correo": "ana@example.org",
        "telefono": "099 123 456",
        "responder_correo": "on",
        "acepto": "on",
        "sitio_web": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def submit(public: Public, client: TestClient, **fields: str) -> tuple[int, str]:
    answer = client.post("/solicitud", data=fill(public, client, **fields))
    return answer.status_code, answer.text


def number_in(html: str) -> str:
    found = re.search(r'id="numero-solicitud">(\d{4}-\d{6})<', html)
    assert found is not None, html
    return found.group(1)


def test_the_form_is_public_posts_and_carries_the_notice(public: Public) -> None:
    client = public.client()
    page = client.get("/solicitud")
    assert page.status_code == 200
    assert FORM_COOKIE in page.cookies
    assert '<form method="post" action="/solicitud"' in page.text
    assert "Ley N.º 18.331" in page.text and "Renovación de cédula" in page.text
    assert 'name="sitio_web"' in page.text and 'tabindex="-1"' in page.text
    tracking = client.get("/seguimiento")
    assert tracking.status_code == 200
    assert '<form method="post" action="/seguimiento"' in tracking.text


def test_a_request_opens_a_web_attention_and_ticket_and_is_acknowledged(public: Public) -> None:
    status, html = submit(public, public.client())
    assert status == 201, html
    number = number_in(html)
    assert "le enviaremos el número por correo electrónico" in html
    public.notices().send_due()
    assert [m.destination for m in public.email.sent] == ["ana@example.org"]
    assert number in public.email.sent[0].body
    assert public.sms.sent == []  # SMS not asked for
    with public.panel.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number)).one()
        attention = conn.execute(
            select(Attention).where(Attention.linkedid == ticket.attention_linkedid)
        ).one()
    assert ticket.channel == "web" and ticket.person_id is None
    assert ticket.unit_id == public.unit_id
    assert attention.channel == "web" and attention.system == "atiende:web"
    assert attention.outcome == "in_progress" and attention.person_id is None
    stored = str(attention.variables)
    # The cédula is kept only as a verifier; the email only because it may be answered to.
    assert "1234567" not in stored and "ATIENDE_DOCUMENT_VERIFIER" in stored
    assert attention.variables["ATIENDE_CONTACT_EMAIL"] == "ana@example.org"
    assert attention.caller_number is None  # no SMS consent: the phone is not kept


def test_keeping_the_record_registers_the_person_once(public: Public) -> None:
    client = public.client()
    status, html = submit(public, client, guardar="on", responder_sms="on")
    assert status == 201, html
    person = PersonRegistry(public.panel.engine).find_by_cedula(CEDULA)
    assert person is not None and person.phones[0].number == "+59899123456"
    assert person.emails[0].address == "ana@example.org"
    public.notices().send_due()
    assert [m.destination for m in public.sms.sent] == ["+59899123456"]
    # A second request with the same cédula proves nobody's identity: it is
    # neither linked to that person nor changes her; tracking still works.
    status, html = submit(public, client, guardar="on", correo="otra@example.org",
                          nombre="Otra", apellido="Persona")  # fmt: skip
    assert status == 201, html
    again = PersonRegistry(public.panel.engine).find_by_cedula(CEDULA)
    assert again == person
    with public.panel.engine.connect() as conn:
        ticket = conn.execute(select(Ticket).where(Ticket.number == number_in(html))).one()
        attention = conn.execute(
            select(Attention).where(Attention.linkedid == ticket.attention_linkedid)
        ).one()
    assert ticket.person_id is None and attention.person_id is None
    assert _track(client, ticket.number, CEDULA)[0] == 200
    # Nor does her email under another cédula: no link, and no second person.
    status, html = submit(public, client, guardar="on", documento="7.654.321-6")
    assert status == 201, html
    assert PersonRegistry(public.panel.engine).find_by_cedula("7.654.321-6") is None
    with public.panel.engine.connect() as conn:
        linked = conn.execute(
            select(Ticket.person_id).where(Ticket.number == number_in(html))
        ).scalar_one()
    assert linked is None
    audits = AuditLog(public.panel.engine).query(
        person_id=person.id, action=AuditAction.PERSON_CREATE.value
    )
    assert audits and audits[0].details["reason"].startswith("solicitud web")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"documento": "1.234.567-3"}, "documento", "dígito verificador"),
        ({"documento": "", "correo": ""}, "documento", "cédula o su correo"),
        ({"correo": "no-es-correo"}, "correo", "nombre@ejemplo.com"),
        ({"telefono": "12"}, "telefono", "teléfono de Uruguay"),
        ({"acepto": ""}, "acepto", "debe aceptar"),
        ({"tema": ""}, "tema", "trámite o servicio"),
        ({"tema": "999999"}, "tema", "de la lista"),
        ({"descripcion": "x" * 4001}, "descripcion", "como máximo 4000"),
        ({"guardar": "on", "documento": ""}, "documento", "indique su cédula"),
    ],
)
def test_bad_input_is_told_in_spanish_and_stores_nothing(
    public: Public, fields: dict[str, str], field: str, words: str
) -> None:
    before = _tickets(public)
    status, html = submit(public, public.client(), **fields)
    assert status == 422, html
    assert f'href="#{field}"' in html and words.lower() in html.lower()
    assert _tickets(public) == before


def _tickets(public: Public) -> int:
    with public.panel.engine.connect() as conn:
        return len(conn.execute(select(Ticket.id)).all())


def test_bots_and_forged_posts_are_refused(public: Public) -> None:
    before = _tickets(public)
    client = public.client()
    # The honeypot filled.
    status, html = submit(public, client, sitio_web="http://spam.example")
    assert status == 400 and "No pudimos recibir" in html
    # Sent faster than a person fills it.
    public.pages.clock = time.time
    status, html = submit(public, client)
    assert status == 400 and "demasiado rápido" in html
    public.pages.clock = lambda: time.time() + 5
    # A token from another browser (no matching cookie), and a forged token.
    data = fill(public, client)
    other = public.client()
    assert other.post("/solicitud", data=data).status_code == 400
    assert client.post("/solicitud", data={**data, "token": "x.y.z"}).status_code == 400
    # Posted from another site.
    data = fill(public, client)
    cross = client.post("/solicitud", data=data, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 400 and "desde esta página" in cross.text
    assert _tickets(public) == before


def limit(public: Public, store: str, **rules: Rule) -> None:
    """The pages' limits with `rules`, counted in this process or in the test Redis
    (under a secret of the test's own, so no other test's counts meet these)."""
    pages = public.pages
    counter = (
        MemoryCounter() if store == "memory" else RedisCounter(Redis.from_url(redis_test_url()))
    )
    pages.limits = replace(pages.limits, counter=counter, secret=uuid.uuid4().hex, **rules)


STORES = pytest.mark.parametrize(
    "store", ["memory", pytest.param("redis", marks=pytest.mark.redis)]
)


@STORES
def test_submissions_are_limited_per_address(public: Public, store: str) -> None:
    limit(public, store, submissions=Rule("submissions", 2, 600))
    client = public.client()
    assert submit(public, client)[0] == 201
    assert submit(public, client)[0] == 201
    answer = client.post("/solicitud", data=fill(public, client))
    assert answer.status_code == 429 and "Retry-After" in answer.headers
    assert "Intente en" in answer.text


def _track(client: TestClient, number: str, identifier: str) -> tuple[int, str]:
    page = client.get("/seguimiento")
    answer = client.post(
        "/seguimiento",
        data={"token": token_of(page.text), "numero": number, "identificacion": identifier},
    )
    return answer.status_code, answer.text


def test_tracking_needs_the_number_and_the_document_or_email(public: Public) -> None:
    client = public.client()
    status, html = submit(public, client)
    number = number_in(html)
    # The number alone shows nothing.
    status, html = _track(client, number, "")
    assert status == 422 and "Estado" not in html and "la cédula o el correo" in html
    # A wrong document and a wrong number get the same answer.
    wrong_doc = _track(client, number, "1.111.111-1")
    wrong_number = _track(client, "2026-999999", CEDULA)
    assert wrong_doc[0] == wrong_number[0] == 404
    assert NOT_FOUND in wrong_doc[1] and NOT_FOUND in wrong_number[1]
    assert "Renovación" not in wrong_doc[1] + wrong_number[1]
    # Number and cédula (any spelling), or number and email: status and responses.
    status, html = _track(client, number, "12345672")
    assert status == 200 and 'id="estado">Abierta<' in html
    assert "Todavía no hay respuestas" in html
    status, html = _track(client, number, "ANA@example.org")
    assert status == 200 and "Renovación de cédula" in html
    # Every lookup audited with its reason; refusals too.
    records = AuditLog(public.panel.engine).query(action=AuditAction.PUBLIC_TRACKING.value)
    results = [r.details["result"] for r in records if r.details["ticket"] in (number,)]
    assert results.count("mostrada") == 2 and results.count("rechazada") == 1
    assert all(r.details["reason"].startswith("seguimiento público") for r in records)


@STORES
def test_tracking_attempts_are_limited_per_ticket_number(public: Public, store: str) -> None:
    client = public.client()
    number = number_in(submit(public, client)[1])
    limit(public, store, lookups_per_ticket=Rule("lookups_per_ticket", 3, 3600))
    for _ in range(3):
        assert _track(client, number, "1.111.111-1")[0] == 404
    # Even the right document waits now: guessing a ticket's document stops here.
    status, html = _track(client, number, CEDULA)
    assert status == 429 and "demasiados intentos" in html.lower()
    # Other tickets are still followed from this address.
    other = number_in(submit(public, client)[1])
    assert _track(client, other, CEDULA)[0] == 200


def _client_at(public: Public, host: str) -> TestClient:
    return TestClient(public.panel.app, headers={"origin": ORIGIN}, client=(host, 50000))


@STORES
def test_a_strangers_failures_do_not_lock_the_owner_out(public: Public, store: str) -> None:
    limit(public, store)
    owner = _client_at(public, "198.51.100.7")
    number = number_in(submit(public, owner)[1])
    stranger = _client_at(public, "203.0.113.9")
    for _ in range(5):
        assert _track(stranger, number, "1.111.111-1")[0] == 404
    # The per-(address, number) limit still stops the stranger, even with the right cédula.
    assert _track(stranger, number, CEDULA)[0] == 429
    # The owner, from her own address, still follows her request.
    status, html = _track(owner, number, CEDULA)
    assert status == 200 and 'id="estado">Abierta<' in html


@STORES
def test_a_guess_spread_over_addresses_meets_the_per_number_ceiling(
    public: Public, store: str
) -> None:
    owner = _client_at(public, "198.51.100.7")
    number = number_in(submit(public, owner)[1])
    limit(public, store, lookups_per_number=Rule("lookups_per_number", 4, 3600))
    for last in range(4):
        assert _track(_client_at(public, f"203.0.113.{last}"), number, "1.111.111-1")[0] == 404
    assert _track(_client_at(public, "203.0.113.50"), number, CEDULA)[0] == 429


def test_a_body_over_the_limit_gets_a_spanish_page(public: Public) -> None:
    client = public.client()
    page = client.get("/solicitud")
    big = "x" * (1024 * 1024 + 10)
    answer = client.post(
        "/solicitud",
        data={"token": token_of(page.text), "descripcion": big},
        headers={"accept": "text/html"},
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="es">' in answer.text and "demasiado grande" in answer.text
    assert 'href="/solicitud"' in answer.text
    # A form post that does not say it takes HTML still gets the page on a public path.
    answer = client.post("/seguimiento", content=big, headers={"accept": "*/*"})
    assert answer.status_code == 413 and "<h1>No se pudo enviar</h1>" in answer.text
    # The API keeps its JSON.
    answer = client.post("/api/tickets", content=big, headers={"accept": "text/html"})
    assert answer.status_code == 413 and "detalle" in answer.json()


def test_the_referente_answers_a_web_request_to_the_contact_it_gave(public: Public) -> None:
    client = public.client()
    number = number_in(submit(public, client)[1])
    referente = TestClient(public.panel.app, headers={"origin": ORIGIN})
    log_in(referente, public.panel.usernames[Role.REFERENTE])
    inbox = referente.get("/solicitudes")
    assert inbox.status_code == 200 and number in inbox.text
    csrf = referente.cookies.get("atiende_csrf") or ""
    answer = referente.post(
        f"/solicitudes/{number}/responder",
        data={"texto": "Sí, desde 60 días antes.", "canal": "email"},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    assert "Respuesta enviada." in answer.text
    assert public.email.sent[-1].destination == "ana@example.org"
    with public.panel.engine.connect() as conn:
        attention = conn.execute(
            select(Attention)
            .join(Ticket, Ticket.attention_linkedid == Attention.linkedid)
            .where(Ticket.number == number)
        ).one()
    assert attention.outcome == "answered" and attention.wait_seconds is not None
    assert attention.agent == public.panel.usernames[Role.REFERENTE]
    # The citizen sees the answer on the tracking page.
    status, html = _track(client, number, CEDULA)
    assert status == 200 and "Sí, desde 60 días antes." in html
    assert 'id="estado">Respondida<' in html


def test_an_internal_record_is_never_shown_to_the_citizen(public: Public) -> None:
    client = public.client()
    number = number_in(submit(public, client)[1])
    referente = TestClient(public.panel.app, headers={"origin": ORIGIN})
    log_in(referente, public.panel.usernames[Role.REFERENTE])
    csrf = referente.cookies.get("atiende_csrf") or ""
    internal = "Nota interna: la persona ya vino dos veces, revisar expediente."
    answer = referente.post(
        f"/solicitudes/{number}/responder",
        data={"texto": internal, "canal": "log"},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    status, html = _track(client, number, CEDULA)
    assert status == 200 and internal not in html
    assert "Todavía no hay respuestas" in html
    # A later answer sent by email is shown; the internal record still is not.
    answer = referente.post(
        f"/solicitudes/{number}/responder",
        data={"texto": "Puede renovarla desde 60 días antes.", "canal": "email"},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    status, html = _track(client, number, CEDULA)
    assert status == 200 and "Puede renovarla desde 60 días antes." in html
    assert internal not in html
    # Nor does any notice to the person carry the internal text.
    public.notices().send_due()
    sent = public.email.sent + public.sms.sent
    assert sent and all(internal not in m.body for m in sent)


def test_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(panel_db: str) -> None:
    """ATIENDE_API__TRUSTED_PROXIES: the forwarded address is the one limited;
    a forwarded header from anyone else is ignored."""
    from atiende.panel_app import panel_app
    from tests.agent_api.conftest import SECRET, fast_passwords

    engine = built_engine(panel_db)
    try:
        for trusted, expect_second in ((["testclient"], 201), ([], 429)):
            app = panel_app(
                engine=engine,
                hub=public_hub(engine),
                controls=RecordingControls(),
                agents_snapshot=list,
                secret_key=SECRET,
                allowed_origins=[ORIGIN],
                cookie_secure=False,
                passwords=fast_passwords(),
                tickets=TicketService(engine, business_hours=ALWAYS_OPEN),
                trusted_proxies=trusted,
            )
            pages: PublicPages = app.state.public
            pages.clock = lambda: time.time() + 5
            pages.limits = replace(pages.limits, submissions=Rule("submissions", 1, 600))
            topic = next(t for t in Catalog(engine).topics() if t.organism_id is not None)
            client = TestClient(app, headers={"origin": ORIGIN})

            def send(forwarded: str, client: TestClient = client, topic_id: int = topic.id) -> int:
                page = client.get("/solicitud")
                data = {
                    "token": token_of(page.text), "tipo": "consulta", "tema": str(topic_id),
                    "descripcion": "Consulta", "nombre": "Ana", "documento": CEDULA,
                    "acepto": "on",
                }  # fmt: skip
                answer = client.post(
                    "/solicitud", data=data, headers={"x-forwarded-for": forwarded}
                )
                return answer.status_code

            assert send("203.0.113.5") == 201
            assert send("203.0.113.5") == 429
            # Another client behind the same proxy is its own; untrusted, it is the proxy.
            assert send("203.0.113.6") == expect_second
    finally:
        engine.dispose()


def built_engine(url: str) -> Any:
    from crm_bridge.db import make_engine

    engine = make_engine(url)
    suffix = uuid.uuid4().hex[:6]
    directory = Directory(engine)
    organism = directory.create_organism(f"P{suffix}", "Organismo")
    Catalog(engine).import_topics([TopicInput(f"P{suffix}", "Tema", organism=organism.code)])
    return engine


def public_hub(engine: Any) -> Any:
    from agent_api.pop_lookup import StorePopLookup
    from agent_api.ws import PopHub
    from crm_bridge.history import PersonHistory

    return PopHub(
        StorePopLookup(engine, PersonRegistry(engine), PersonHistory(engine), AuditLog(engine))
    )
