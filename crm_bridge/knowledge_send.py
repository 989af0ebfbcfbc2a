"""Sending a trámite's information to the person of an attention ("difundir").

The Modelo de Atención a la Ciudadanía asks the executive to "difundir
herramientas disponibles": pass the citizen what they need to do the trámite
(on line when it can be). From the wrap-up the agent sends the topic's
requisitos, pasos, plazos, costo, dónde/cómo and link by email or SMS:

- only to an address or number the person has on record, and only while the
  person consents to keeping contact data (Ley 18.331: the contact category);
- through crm_bridge.responders (the same adapters ticket responses use);
  a means with no adapter configured goes to the log responder, recorded as
  "log": nothing left the machine, and the agent is told so;
- recorded on the attention (topic_disseminations, keyed by call like the
  wrap-up), with the destination masked, delivered or not.

Blocking (database and network): the panel runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from crm_bridge.db import session_factory
from crm_bridge.exceptions import ConsentRequiredError, DeliveryError, InvalidValueError
from crm_bridge.knowledge import KnowledgeBase, TopicDetail
from crm_bridge.models import CatalogTopic, TopicDissemination
from crm_bridge.persons import ConsentCategory, PersonRegistry, PersonView
from crm_bridge.phones import mask_number
from crm_bridge.responders import LogResponder, OutgoingMessage, Responder
from telephony.domain import CallKey

MEANS = ("email", "sms")
SMS_MAX_CHARS = 459  # three concatenated SMS: the name, the link and the first requisitos
SENDS_PER_CALL = 10  # a wrap-up is not a mailing list


def mask_email(address: str) -> str:
    """j***@example.com: enough for the agent and the record to tell which one."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else mask_number(address)


@dataclass(frozen=True, slots=True)
class Contact:
    """One way to reach the person: `key` is what the form posts ("email:0")."""

    key: str
    means: str
    masked: str
    destination: str


@dataclass(frozen=True, slots=True)
class Sent:
    means: str  # the responder's channel that carried it: email, sms or log
    destination_masked: str
    sent_at: datetime
    delivered: bool
    topic_name: str | None
    error: str | None = None


def contacts_of(person: PersonView) -> list[Contact]:
    """The person's addresses and numbers, none without the contact consent."""
    if not person.consents_to(ConsentCategory.CONTACT):
        return []
    found = [
        Contact(f"email:{i}", "email", mask_email(e.address), e.address)
        for i, e in enumerate(person.emails)
    ]
    found += [
        Contact(f"sms:{i}", "sms", mask_number(p.number), p.number)
        for i, p in enumerate(person.phones)
    ]
    return found


def message_text(topic: TopicDetail, *, short: bool) -> str:
    """The information as the person receives it (plain text, Spanish)."""
    parts = [topic.name]
    if topic.organism:
        parts.append(topic.organism)
    sections = [
        ("Qué es", topic.description),
        ("Requisitos", topic.requirements),
        ("Pasos", topic.steps),
        ("Plazos", topic.deadlines),
        ("Costo", topic.cost),
        ("Dónde y cómo", topic.where_how),
    ]
    if short:
        body = f"{topic.name}: " + (
            f"más información en {topic.online_url}" if topic.online_url else ""
        )
        if topic.requirements:
            body += " Requisitos: " + "; ".join(topic.requirements.splitlines())
        if len(body) > SMS_MAX_CHARS:
            body = body[: SMS_MAX_CHARS - 1] + "…"
        return body
    for label, value in sections:
        if value:
            parts.append(f"\n{label}:\n{value}")
    if topic.online_url:
        parts.append(f"\nMás información y trámite en línea: {topic.online_url}")
    parts.append("\nLe enviamos esta información a pedido suyo durante su consulta.")
    return "\n".join(parts)


class Disseminator:
    def __init__(
        self,
        engine: Engine,
        persons: PersonRegistry,
        knowledge: KnowledgeBase,
        *,
        responders: Iterable[Responder] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = session_factory(engine)
        self._persons = persons
        self._knowledge = knowledge
        self._log = LogResponder()
        self._responders = {r.channel: r for r in responders if r.channel in MEANS}
        self._clock = clock

    def configured(self, means: str) -> bool:
        """Whether `means` really leaves the machine (else it is only logged)."""
        return means in self._responders

    def contacts(self, person_id: int) -> list[Contact]:
        person = self._persons.get(person_id)
        return [] if person is None else contacts_of(person)

    def sent_for(self, call: CallKey) -> list[Sent]:
        with self._sessions() as session:
            rows = session.execute(
                select(TopicDissemination, CatalogTopic.name)
                .outerjoin(CatalogTopic, CatalogTopic.id == TopicDissemination.topic_id)
                .where(
                    TopicDissemination.system == call.system,
                    TopicDissemination.linkedid == call.linkedid,
                )
                .order_by(TopicDissemination.id)
            ).all()
            return [
                Sent(r.means, r.destination_masked, r.sent_at, r.delivered, name, r.error)
                for r, name in rows
            ]

    def send(
        self,
        call: CallKey,
        *,
        topic_id: int,
        person_id: int,
        contact_key: str,
        actor_id: int | None,
    ) -> Sent:
        """Send the topic's information to one of the person's contacts; recorded either way.

        InvalidValueError: no such topic or contact; ConsentRequiredError: the
        person does not consent to contact data. A failed delivery is recorded
        and returned (delivered False), not raised.
        """
        topic = self._knowledge.get(topic_id)
        if topic is None:
            raise InvalidValueError("unknown topic")
        person = self._persons.get(person_id)
        if person is None:
            raise InvalidValueError("unknown person")
        if not person.consents_to(ConsentCategory.CONTACT):
            raise ConsentRequiredError("the person does not consent to contact data")
        contact = next((c for c in contacts_of(person) if c.key == contact_key), None)
        if contact is None:
            raise InvalidValueError("not one of the person's contacts")
        if len(self.sent_for(call)) >= SENDS_PER_CALL:
            raise InvalidValueError("too many messages for one attention")
        responder = self._responders.get(contact.means, self._log)
        message = OutgoingMessage(
            destination=contact.destination,
            subject=f"Información sobre {topic.name}",
            body=message_text(topic, short=contact.means == "sms"),
            reference=f"atencion-{call.linkedid[:40]}",
        )
        error = None
        try:
            responder.send(message)
        except DeliveryError as err:
            error = str(err)[:200]
        now = self._clock()
        with self._sessions.begin() as session:
            session.add(
                TopicDissemination(
                    system=call.system,
                    linkedid=call.linkedid,
                    topic_id=topic.id,
                    person_id=person.id,
                    means=responder.channel,
                    destination_masked=contact.masked[:64],
                    sent_at=now,
                    actor_id=actor_id,
                    delivered=error is None,
                    error=error,
                )
            )
        return Sent(responder.channel, contact.masked, now, error is None, topic.name, error)
