"""The workspace's knowledge panel and "difundir" from the wrap-up (forms, over TestClient).

The information goes out through a crm_bridge.responders adapter (here one
that keeps what it was given), only to a contact of the person identified
for the agent's own call, only with the contact consent; every send is
recorded on the attention and audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from crm_bridge.db import session_factory
from crm_bridge.exceptions import DeliveryError
from crm_bridge.models import AuditEntry, CatalogTopic, TopicDissemination
from crm_bridge.organisms import Role
from crm_bridge.persons import ConsentCategory, PersonRegistry
from crm_bridge.responders import OutgoingMessage
from telephony.domain import AgentRinging, CallAnswered, CallKey
from tests.agent_api.conftest import Panel, build_panel
from tests.agent_api.test_knowledge_api import load_catalog

pytestmark = pytest.mark.postgres

SYSTEM = "pbx-kb"


class KeptResponder:
    """An email adapter that keeps the messages (or refuses, when told to)."""

    def __init__(self, channel: str = "email") -> None:
        self.channel = channel
        self.sent: list[OutgoingMessage] = []
        self.fail = False

    def send(self, message: OutgoingMessage) -> None:
        if self.fail:
            raise DeliveryError("relay refused")
        self.sent.append(message)


@pytest.fixture
def mail() -> KeptResponder:
    return KeptResponder()


@pytest.fixture
def kb_panel(panel_db: str, mail: KeptResponder) -> Iterator[Panel]:
    built = build_panel(panel_db, responders=[mail])
    try:
        load_catalog(built)
        yield built
    finally:
        built.engine.dispose()


def _call(
    panel: Panel, number: str, username: str | None = None, person_id: int | None = None
) -> CallKey:
    """A call from `number` rung and answered by the ejecutivo (or `username`);
    `person_id`: the IVR identified the caller (ATIENDE_PERSON_ID)."""
    username = username or panel.usernames[Role.EJECUTIVO]
    key = CallKey(SYSTEM, uuid.uuid4().hex)
    iface = panel.interfaces[username]
    variables = {} if person_id is None else {"ATIENDE_PERSON_ID": str(person_id)}
    panel.hub.publish(
        [
            AgentRinging(1.0, key, "consultas", iface, "x", number, "", variables, 1.0),
            CallAnswered(2.0, key, "consultas", iface, "x", 1.0),
        ]
    )
    return key


def _person(panel: Panel, *, contact: bool = True) -> tuple[int, str]:
    number = "099" + f"{uuid.uuid4().int % 1_000_000:06d}"
    consents = ["identificacion", "contacto"] if contact else ["identificacion"]
    person = PersonRegistry(panel.engine).register(
        given_names="Lucía",
        family_names="Rodríguez",
        consents=consents,
        phones=[number] if contact else [],
        emails=["lucia.rodriguez@example.com.uy"] if contact else [],
    )
    return person.id, number


def _topic_id(panel: Panel, code: str) -> int:
    with session_factory(panel.engine)() as session:
        return int(session.scalars(select(CatalogTopic.id).where(CatalogTopic.code == code)).one())


def test_the_panel_finds_cedula_as_the_agent_types(kb_panel: Panel) -> None:
    client = kb_panel.client(kb_panel.usernames[Role.EJECUTIVO])
    page = client.get("/agente")
    assert 'id="buscar-tramite"' in page.text
    answer = client.post("/agente/conocimiento", data={"q": "cedula"})
    assert answer.status_code == 200
    html = answer.text
    assert html.index("Cédula de identidad") < html.index("Solicitud de Pasaporte")
    assert "Partida de nacimiento si es la primera vez." in html
    assert 'href="https://www.gub.uy/tramites/cedula-identidad"' in html
    assert "Escriba entre 2 y 100" in client.post("/agente/conocimiento", data={"q": "x"}).text
    assert "No se encontró" in client.post("/agente/conocimiento", data={"q": "zzzz"}).text
    assert client.post("/agente/conocimiento", data={"q": "   "}).text == ""
    # Markup in the catalogue is text on the page.
    assert "<script>" not in client.post("/agente/conocimiento", data={"q": "<script>"}).text


def test_difundir_sends_to_a_consented_contact_records_and_audits(
    kb_panel: Panel, mail: KeptResponder
) -> None:
    person_id, number = _person(kb_panel)
    key = _call(kb_panel, number)
    topic = _topic_id(kb_panel, "gub-606")
    client = kb_panel.client(kb_panel.usernames[Role.EJECUTIVO])
    base = f"/agente/cierres/{key.system}/{key.linkedid}/difundir"
    form = {"topic_id": str(topic), "person_id": str(person_id)}

    options = client.post(f"{base}/opciones", data=form)
    assert options.status_code == 200
    assert "l***@example.com.uy" in options.text  # masked, and both contacts offered
    assert 'value="email:0"' in options.text and 'value="sms:0"' in options.text
    assert "lucia.rodriguez" not in options.text

    sent = client.post(base, data={**form, "contacto": "email:0"})
    assert "enviada por correo electrónico a l***@example.com.uy" in sent.text
    (message,) = mail.sent
    assert message.destination == "lucia.rodriguez@example.com.uy"
    assert message.subject == "Información sobre Solicitud de Pasaporte"
    assert "Cédula de identidad vigente." in message.body
    assert "https://www.gub.uy/tramites/solicitud-pasaporte" in message.body

    # No SMS adapter configured: recorded as logged, and the agent is told so.
    logged = client.post(base, data={**form, "contacto": "sms:0"})
    assert "sin envío" in logged.text

    mail.fail = True
    failed = client.post(base, data={**form, "contacto": "email:0"})
    assert "No se pudo entregar" in failed.text

    with session_factory(kb_panel.engine)() as session:
        rows = session.scalars(
            select(TopicDissemination)
            .where(TopicDissemination.linkedid == key.linkedid)
            .order_by(TopicDissemination.id)
        ).all()
        assert [(r.means, r.delivered, r.topic_id, r.person_id) for r in rows] == [
            ("email", True, topic, person_id),
            ("log", True, topic, person_id),
            ("email", False, topic, person_id),
        ]
        assert rows[0].destination_masked == "l***@example.com.uy"
        assert rows[1].destination_masked.endswith(number[-3:])
        assert number not in rows[1].destination_masked
        audited = session.scalars(
            select(AuditEntry).where(
                AuditEntry.call_linkedid == key.linkedid, AuditEntry.action == "knowledge_sent"
            )
        ).all()
        assert len(audited) == 3
        assert {a.person_id for a in audited} == {person_id}
        assert "lucia" not in str([a.details for a in audited])


def test_difundir_refuses_without_consent_or_for_someone_else(
    kb_panel: Panel, mail: KeptResponder
) -> None:
    topic = _topic_id(kb_panel, "gub-628")
    client = kb_panel.client(kb_panel.usernames[Role.EJECUTIVO])

    # No contact consent: nothing to offer, nothing sent.
    quiet_id, _ = _person(kb_panel, contact=False)
    key = _call(kb_panel, "099000111")
    base = f"/agente/cierres/{key.system}/{key.linkedid}/difundir"
    form = {"topic_id": str(topic), "person_id": str(quiet_id)}
    # Not identified for this call (another number): the need-to-know rule refuses.
    refused = client.post(f"{base}/opciones", data=form)
    assert 'role="alert"' in refused.text
    assert client.post(base, data={**form, "contacto": "email:0"}).status_code == 200
    assert mail.sent == []

    # The person of the call (identified in the IVR), who withdrew the contact consent.
    person_id, number = _person(kb_panel)
    key = _call(kb_panel, number, person_id=person_id)
    base = f"/agente/cierres/{key.system}/{key.linkedid}/difundir"
    form = {"topic_id": str(topic), "person_id": str(person_id)}
    PersonRegistry(kb_panel.engine).set_consent(person_id, ConsentCategory.CONTACT, False)
    none = client.post(f"{base}/opciones", data=form)
    assert "con su consentimiento" in none.text
    after = client.post(base, data={**form, "contacto": "email:0"})
    assert "consintió" in after.text or "No se pudo enviar" in after.text
    assert mail.sent == []

    # Another agent's call: refused too.
    other = kb_panel.second_agent
    person_id, number = _person(kb_panel)
    key = _call(kb_panel, number, username=other)
    base = f"/agente/cierres/{key.system}/{key.linkedid}/difundir"
    form = {"topic_id": str(topic), "person_id": str(person_id)}
    answer = client.post(base, data={**form, "contacto": "email:0"})
    assert 'role="alert"' in answer.text
    assert mail.sent == []

    # Missing choices get a plain answer.
    assert "Elija primero el trámite" in client.post(f"{base}/opciones", data={}).text
    with session_factory(kb_panel.engine)() as session:
        assert (
            session.scalars(
                select(TopicDissemination).where(TopicDissemination.topic_id == topic)
            ).all()
            == []
        )
