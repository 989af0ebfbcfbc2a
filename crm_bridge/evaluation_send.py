"""The farewell evaluation by a one-time link, sent by SMS or email (the person consents).

The link (crm_bridge.turns.TurnService.issue_evaluation_link: a random token,
only its hash kept, single use, expiring) goes through the same responders as
ticket responses and knowledge sends (crm_bridge.responders); a means with no
adapter configured is only logged. Only to the person's own contacts and only
with the contact consent (Ley 18.331); logs carry no address nor the link.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from crm_bridge.exceptions import ConsentRequiredError, DeliveryError, NotFoundError
from crm_bridge.knowledge_send import Contact, contacts_of
from crm_bridge.persons import PersonRegistry
from crm_bridge.responders import LogResponder, OutgoingMessage, Responder
from crm_bridge.turns import TurnService
from telephony.domain import CallKey

log = logging.getLogger(__name__)
MEANS = ("email", "sms")


@dataclass(frozen=True, slots=True)
class LinkSent:
    means: str  # the responder that carried it: email, sms or log
    destination_masked: str
    delivered: bool


class EvaluationSender:
    def __init__(
        self,
        turns: TurnService,
        persons: PersonRegistry,
        *,
        responders: Iterable[Responder] = (),
    ) -> None:
        self._turns = turns
        self._persons = persons
        self._log = LogResponder()
        self._responders = {r.channel: r for r in responders if r.channel in MEANS}

    def contacts(self, person_id: int) -> list[Contact]:
        person = self._persons.get(person_id)
        return [] if person is None else contacts_of(person)

    def send(self, key: CallKey, person_id: int, contact_key: str, base_url: str) -> LinkSent:
        """A new one-time link for the attention `key`, to the contact `contact_key`."""
        person = self._persons.get(person_id)
        if person is None:
            raise NotFoundError(f"no person {person_id}")
        found = contacts_of(person)
        if not found:
            raise ConsentRequiredError("the person does not consent to contact data")
        contact = next((c for c in found if c.key == contact_key), None)
        if contact is None:
            raise NotFoundError("no such contact of the person")
        token = self._turns.issue_evaluation_link(key)
        url = f"{base_url.rstrip('/')}/evaluacion/{token}"
        text = (
            "Gracias por su visita. ¿Cómo lo atendimos? Evalúe la atención (una vez, "
            f"vence en 3 días): {url}"
        )
        responder = self._responders.get(contact.means, self._log)
        message = OutgoingMessage(
            destination=contact.destination,
            subject="Evalúe la atención recibida",
            body=text,
            reference=key.linkedid[:12],
        )
        try:
            responder.send(message)
        except DeliveryError as err:
            log.warning("evaluation link not delivered by %s: %s", responder.channel, err)
            return LinkSent(responder.channel, contact.masked, False)
        return LinkSent(responder.channel, contact.masked, True)
