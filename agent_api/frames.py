"""The JSON frames the panel's socket carries (pure: domain values in, dicts out).

Every value is plain data for the page to put in `textContent`; nothing here
is markup. Keys are English, values as the store holds them; the page labels
them in Spanish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from agent_api.masking import mask_document, mask_number
from crm_bridge.history import HistoryEntry
from crm_bridge.persons import PersonView
from telephony.domain import (
    AgentRinging,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallKey,
    RingNoAnswer,
)

TOPIC_VARIABLE = "ATIENDE_TOPIC"
PERSON_VARIABLE = "ATIENDE_PERSON_ID"
IVR_PATH_VARIABLE = "ATIENDE_IVR_PATH"


def call_ref(key: CallKey) -> dict[str, str]:
    return {"system": key.system, "linkedid": key.linkedid}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def ivr_path(variables: Mapping[str, str], path: Iterable[str] = ()) -> list[str]:
    steps = list(path)
    if steps:
        return steps
    # The IVR writes its path comma-separated (as telephony.calls reads it).
    raw = variables.get(IVR_PATH_VARIABLE, "")
    return [step.strip() for step in raw.split(",") if step.strip()]


def pop_frame(event: AgentRinging, path: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "type": "pop",
        "call": call_ref(event.key),
        "at": event.at,
        "interface": event.interface,
        "member_name": event.member_name,
        "queue": event.queue,
        "wait_seconds": round(event.wait_seconds, 1),
        "caller": {"number": event.caller_number, "name": event.caller_name},
        "ivr": {
            "path": ivr_path(event.variables, path),
            "topic": event.variables.get(TOPIC_VARIABLE),
        },
        "person_status": "buscando",
    }


def watched_pop_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """The pop as a supervisor watching the queues gets it: the caller's number
    masked and no name (they oversee calls; people are read through the API,
    with a reason, audited)."""
    number = str((frame.get("caller") or {}).get("number") or "")
    return {
        **frame,
        "caller": {"number": mask_number(number) if number else "", "name": ""},
        "person_status": None,
    }


def answered_frame(event: CallAnswered) -> dict[str, Any]:
    return {
        "type": "call.answered",
        "call": call_ref(event.key),
        "at": event.at,
        "interface": event.interface,
        "member_name": event.member_name,
        "wait_seconds": round(event.wait_seconds, 1),
    }


def ring_no_answer_frame(event: RingNoAnswer) -> dict[str, Any]:
    return {
        "type": "call.ring_no_answer",
        "call": call_ref(event.key),
        "at": event.at,
        "interface": event.interface,
    }


def taken_frame(key: CallKey, by: str) -> dict[str, Any]:
    """Another agent answered a call this one was rung for."""
    return {"type": "call.taken", "call": call_ref(key), "member_name": by}


def ended_frame(event: CallEnded, *, wrap_up: bool) -> dict[str, Any]:
    record = event.record
    return {
        "type": "call.ended",
        "call": call_ref(record.key),
        "at": event.at,
        "outcome": record.outcome.value,
        "hangup_side": record.hangup_side.value,
        "talk_seconds": record.talk_seconds,
        "wait_seconds": record.wait_seconds,
        "agent": record.agent,
        "wrap_up": wrap_up,
    }


def agent_state_frame(event: AgentStateChanged) -> dict[str, Any]:
    return {
        "type": "agent.state",
        "at": event.at,
        "interface": event.interface,
        "member_name": event.member_name,
        "state": event.state.value,
        "reason": event.reason,
        "queue": event.queue,
    }


def masked_document(person: PersonView) -> str | None:
    """The last two characters of the document (enough to tell two people apart)."""
    if not person.document_number:
        return None
    return mask_document(person.document_number)


def person_summary(person: PersonView) -> dict[str, Any]:
    """What is shown before the agent answers or picks: names and a masked document."""
    return {
        "id": person.id,
        "given_names": person.given_names,
        "family_names": person.family_names,
        "document_type": None if person.document_type is None else person.document_type.value,
        "document_masked": masked_document(person),
    }


def person_payload(person: PersonView) -> dict[str, Any]:
    """Only what the person consented to keep (PersonView holds nothing else)."""
    return {
        "id": person.id,
        "given_names": person.given_names,
        "family_names": person.family_names,
        "document_type": None if person.document_type is None else person.document_type.value,
        "document_number": person.document_number,
        "consents": {str(k): v for k, v in person.consents.items()},
        "phones": [{"number": p.number, "label": p.label} for p in person.phones],
        "emails": [{"address": e.address, "label": e.label} for e in person.emails],
        "addresses": [
            {
                "street": a.street,
                "locality": a.locality,
                "department": a.department,
                "postal_code": a.postal_code,
                "label": a.label,
            }
            for a in person.addresses
        ],
        "documents": [
            {"kind": d.kind, "reference": d.reference, "notes": d.notes} for d in person.documents
        ],
    }


def history_payload(
    entries: Iterable[HistoryEntry], resolutions: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """Timeline entries; attentions carry the wrap-up's resolution when there is one."""
    out = []
    for entry in entries:
        item: dict[str, Any] = {
            "kind": entry.kind.value,
            "at": _iso(entry.at),
            "reference": entry.reference,
            "channel": entry.channel,
            "summary": entry.summary,
            "status": entry.status,
        }
        if entry.kind.value == "atencion":
            item["resolution"] = resolutions.get(entry.reference)
            item["topic"] = entry.details.get("topic")
        out.append(item)
    return out
