"""The vTiger adapter against a local server speaking vTiger's webservice format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_bridge.sync.adapter import (
    AttentionData,
    ContactData,
    CrmProtocolError,
    CrmRejectedError,
    CrmUnavailableError,
    attention_key,
)
from crm_bridge.sync.testing import FakeVtiger
from crm_bridge.sync.vtiger import VtigerAdapter

MARIA = ContactData(
    external_key="atiende-person-7",
    given_names="María",
    family_names="Pérez Olivera",
    phones=("+59899123456", "+59824001234"),
    emails=("maria@example.com.uy",),
)


def _call(key: str = "pbx/1763971200.15", contact: str | None = None) -> AttentionData:
    return AttentionData(
        external_key=attention_key("pbx", key),
        channel="telefonico",
        caller_number="+59899123456",
        arrived_at=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        answered_at=datetime(2026, 11, 24, 8, 0, 30, tzinfo=UTC),
        ended_at=datetime(2026, 11, 24, 8, 2, 5, tzinfo=UTC),
        queue="consultas",
        agent="Ana Gómez",
        outcome="answered",
        wait_seconds=30.0,
        talk_seconds=95.0,
        contact_crm_id=contact,
    )


def test_login_uses_the_challenge_token_and_the_session_is_reused(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    contact_id = vtiger.sync_contact(MARIA, None)
    vtiger.sync_attention(_call(contact=contact_id), None)
    vtiger.find_contact_by_phone("+59899123456")
    assert crm.logins == 1
    assert vtiger.logins == 1


def test_a_wrong_access_key_is_refused_with_vtigers_code(crm: FakeVtiger) -> None:
    adapter = VtigerAdapter(crm.url, "admin", "not-the-key", timeout=1.5)
    with pytest.raises(CrmRejectedError, match="INVALID_AUTH_TOKEN"):
        adapter.sync_contact(MARIA, None)
    assert crm.creates["Contacts"] == 0


def test_an_expired_session_logs_in_again_once(crm: FakeVtiger, vtiger: VtigerAdapter) -> None:
    vtiger.sync_contact(MARIA, None)
    crm.expire_sessions()
    assert vtiger.find_contact_by_phone("+59899123456") != []
    assert crm.logins == 2


def test_contact_fields_follow_vtigers_contacts_module(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    crm_id = vtiger.sync_contact(MARIA, None)
    record = crm.records["Contacts"][crm_id]
    assert crm_id.startswith("12x")
    assert (record["firstname"], record["lastname"]) == ("María", "Pérez Olivera")
    assert (record["phone"], record["mobile"]) == ("+59899123456", "+59824001234")
    assert record["email"] == "maria@example.com.uy"
    assert record["assigned_user_id"] == crm.user_id
    assert record["cf_atiende_key"] == "atiende-person-7"


def test_without_a_known_id_the_external_key_finds_the_record_instead_of_a_new_one(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    first = vtiger.sync_contact(MARIA, None)
    renamed = ContactData(MARIA.external_key, "María José", MARIA.family_names, phones=MARIA.phones)
    again = vtiger.sync_contact(renamed, None)
    assert again == first
    assert crm.creates["Contacts"] == 1
    assert crm.records["Contacts"][first]["firstname"] == "María José"


def test_a_known_id_deleted_in_the_crm_is_created_again(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    first = vtiger.sync_contact(MARIA, None)
    with crm.lock:
        crm.records["Contacts"].clear()
    second = vtiger.sync_contact(MARIA, first)
    assert second != first
    assert list(crm.records["Contacts"]) == [second]


def test_calls_go_to_pbxmanager_keyed_by_sourceuuid_and_linked_to_the_contact(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    contact = vtiger.sync_contact(MARIA, None)
    call_id = vtiger.sync_attention(_call(contact=contact), None)
    assert vtiger.sync_attention(_call(contact=contact), None) == call_id
    record = crm.records["PBXManager"][call_id]
    assert record["sourceuuid"] == attention_key("pbx", "pbx/1763971200.15")
    assert record["customer"] == contact
    assert record["starttime"] == "2026-11-24 08:00:00"
    assert record["totalduration"] == 125  # 08:00:00 to 08:02:05
    assert crm.creates["PBXManager"] == 1


def test_lookup_by_phone_matches_phone_or_mobile(crm: FakeVtiger, vtiger: VtigerAdapter) -> None:
    crm_id = vtiger.sync_contact(MARIA, None)
    assert vtiger.find_contact_by_phone("+59824001234") == [crm_id]
    assert vtiger.find_contact_by_phone("+59891000000") == []


def test_erase_deletes_the_contact_found_by_key(crm: FakeVtiger, vtiger: VtigerAdapter) -> None:
    vtiger.sync_contact(MARIA, None)
    vtiger.erase_contact(MARIA.external_key, None)
    assert crm.records["Contacts"] == {}
    vtiger.erase_contact(MARIA.external_key, "12x999")  # gone already: not an error


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ("garbage", CrmProtocolError),
        ("http500", CrmUnavailableError),
        ("error", CrmRejectedError),
        ("slow", CrmUnavailableError),
    ],
)
def test_failures_are_clear_errors(
    crm: FakeVtiger, vtiger: VtigerAdapter, failure: str, error: type[Exception]
) -> None:
    vtiger.sync_contact(MARIA, None)  # logged in
    crm.inject(failure)
    with pytest.raises(error):
        vtiger.find_contact_by_phone("+59899123456")


def test_a_crm_down_is_unavailable_and_works_again_when_back(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    crm.down()
    with pytest.raises(CrmUnavailableError):
        vtiger.sync_contact(MARIA, None)
    crm.up()
    assert vtiger.sync_contact(MARIA, None).startswith("12x")


def test_a_create_answered_too_late_is_not_duplicated_by_the_retry(
    crm: FakeVtiger, vtiger: VtigerAdapter
) -> None:
    crm.hold("create", seconds=3.0)
    with pytest.raises(CrmUnavailableError):
        vtiger.sync_contact(MARIA, None)
    crm.release()
    vtiger.sync_contact(MARIA, None)
    assert crm.creates["Contacts"] == 1
