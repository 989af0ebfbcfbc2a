"""The webhook adapter: HMAC-SHA256 signed JSON, verified by a local receiver."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from crm_bridge.sync.adapter import ContactData, CrmRejectedError, CrmUnavailableError
from crm_bridge.sync.testing import WebhookReceiver
from crm_bridge.sync.webhook import WebhookAdapter, verify_signature

from .conftest import WEBHOOK_SECRET

ANA = ContactData("atiende-person-3", "Ana", "Suárez", phones=("+59899000111",))


def test_deliveries_are_signed_and_applied_as_upserts(receiver: WebhookReceiver) -> None:
    adapter = WebhookAdapter(receiver.url, WEBHOOK_SECRET, timeout=1.5)
    first = adapter.sync_contact(ANA, None)
    again = adapter.sync_contact(ANA, first)
    assert first == again
    assert receiver.deliveries == 2 and receiver.bad_signatures == 0
    assert receiver.contacts == {
        "atiende-person-3": {
            "given_names": "Ana",
            "family_names": "Suárez",
            "document_type": None,
            "document_number": None,
            "phones": ["+59899000111"],
            "emails": [],
        }
    }
    assert receiver.idempotency_keys == ["contact.upsert:atiende-person-3"] * 2
    adapter.erase_contact(ANA.external_key, first)
    assert receiver.contacts == {}


def test_a_wrong_secret_is_refused_by_the_receiver(receiver: WebhookReceiver) -> None:
    adapter = WebhookAdapter(receiver.url, "some-other-secret", timeout=1.5)
    with pytest.raises(CrmRejectedError, match="401"):
        adapter.sync_contact(ANA, None)
    assert receiver.bad_signatures == 1 and receiver.contacts == {}


def test_a_receiver_verifies_by_recomputing_the_hmac() -> None:
    body = b'{"event":"contact.upsert"}'
    now = 1_790_000_000
    # Independent computation of the documented scheme.
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256)
    headers = {"X-Atiende-Timestamp": str(now), "X-Atiende-Signature": f"sha256={mac.hexdigest()}"}
    assert verify_signature(WEBHOOK_SECRET.encode(), headers, body, now=now + 10)
    assert not verify_signature(WEBHOOK_SECRET.encode(), headers, body + b" ", now=now)
    assert not verify_signature(WEBHOOK_SECRET.encode(), headers, body, now=now + 3600)
    assert not verify_signature(b"other", headers, body, now=now)


def test_server_errors_and_outages_are_unavailable(receiver: WebhookReceiver) -> None:
    adapter = WebhookAdapter(receiver.url, WEBHOOK_SECRET, timeout=1.5)
    receiver.inject("http500")
    with pytest.raises(CrmUnavailableError):
        adapter.sync_contact(ANA, None)
    receiver.down()
    with pytest.raises(CrmUnavailableError):
        adapter.sync_contact(ANA, None)
    receiver.up()
    adapter.sync_contact(ANA, None)
    assert ANA.external_key in receiver.contacts
