"""vTiger CRM through its REST webservice (webservice.php).

Login is the two-step challenge: `getchallenge` gives a token, `login` sends
md5(token + access key) and returns a session name used by later calls. The
session is reused until vTiger answers INVALID_SESSIONID, then the adapter
logs in again once and repeats the call.

Contacts carry Atiende's external key in a custom field (`contact_key_field`,
e.g. `cf_853` created by the administrator with the label "Atiende key");
calls go to the PBXManager module with the key in `sourceuuid`, the field
vTiger's own telephony integrations key calls by.

Wrap-ups are notes on the call's record. vTiger's webservice offers two
places, chosen by `wrapup_mode`:

- ``comment`` (default): a ModComments record whose `related_to` is the
  call's record (comments must be enabled on the call module, as they are
  on Contacts, HelpDesk and Calendar); the note ends with its external key,
  which is how a retry without the stored id finds it (ModComments has no
  custom fields to hold a key);
- ``description``: the call record's own `description` field, revised
  (for a call module that has one, e.g. Calendar's Calls).

Tickets are HelpDesk trouble tickets carrying the key in the custom field
`ticket_key_field` (created by the administrator, like the contacts' one).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from http.client import HTTPException
from typing import Any, Literal

from crm_bridge.sync.adapter import (
    AttentionData,
    ContactData,
    CrmProtocolError,
    CrmRejectedError,
    CrmUnavailableError,
    TicketData,
    WrapupData,
)

INVALID_SESSION = "INVALID_SESSIONID"
# Codes vTiger gives for an id that no longer exists (deleted in the CRM).
_GONE = {"RECORD_NOT_FOUND", "ACCESS_DENIED"}
# Values interpolated into VTQL: keys and E.164 numbers never need quoting.
_QUERY_SAFE = re.compile(r"[A-Za-z0-9+_.\-]{1,128}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

WrapupMode = Literal["comment", "description"]

# What a person reads in the CRM (Spanish); unknown values are shown as stored.
_TYPE_LABELS = {
    "consulta": "Consulta",
    "tramite": "Trámite",
    "sugerencia": "Sugerencia",
    "queja": "Queja",
    "reclamo": "Reclamo",
}
_RESOLUTION_LABELS = {
    "resuelta": "Resuelta en el primer contacto",
    "derivada": "Derivada a una solicitud",
    "pendiente": "Pendiente de seguimiento",
}
# HelpDesk's stock ticketstatus picklist.
_TICKET_STATUS = {
    "abierta": "Open",
    "derivada": "In Progress",
    "en_proceso": "In Progress",
    "respondida": "Wait For Response",
    "cerrada": "Closed",
}
_TITLE_LENGTH = 255


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def wrapup_note(wrapup: WrapupData) -> str:
    """The wrap-up as the text of the note (ends with its external key)."""
    resolution = _RESOLUTION_LABELS.get(wrapup.resolution, wrapup.resolution)
    lines = [
        "Cierre de la atención (Atiende)",
        f"Tipo: {_TYPE_LABELS.get(wrapup.attention_type, wrapup.attention_type)}",
        f"Tema: {wrapup.topic or 'sin tema'}",
        f"Resolución: {resolution}",
    ]
    if wrapup.ticket_number:
        lines.append(f"Solicitud: {wrapup.ticket_number}")
    if wrapup.follow_up_at is not None:
        lines.append(f"Seguimiento: {_when(wrapup.follow_up_at)} (UTC)")
    if wrapup.agent:
        lines.append(f"Agente: {wrapup.agent}")
    lines.append(f"Cerrada: {_when(wrapup.wrapped_up_at)} (UTC)")
    if wrapup.notes:
        lines += ["", wrapup.notes]
    lines += ["", f"Ref.: {wrapup.external_key}"]
    return "\n".join(lines)


def ticket_description(ticket: TicketData) -> str:
    lines = [
        f"Solicitud {ticket.number} (Atiende)",
        f"Tipo: {_TYPE_LABELS.get(ticket.request_type, ticket.request_type)}",
        f"Canal: {ticket.channel}",
        f"Organismo: {ticket.organism}",
    ]
    if ticket.unit:
        lines.append(f"Unidad: {ticket.unit}")
    lines.append(f"Creada: {_when(ticket.created_at)} (UTC)")
    if ticket.due_at is not None:
        lines.append(f"Plazo: {_when(ticket.due_at)} (UTC)")
    if ticket.responded_at is not None:
        lines.append(f"Respondida: {_when(ticket.responded_at)} (UTC)")
    if ticket.closed_at is not None:
        lines.append(f"Cerrada: {_when(ticket.closed_at)} (UTC)")
    return "\n".join([*lines, "", ticket.description])


def _safe(value: str) -> str:
    if not _QUERY_SAFE.fullmatch(value):
        raise CrmRejectedError("value not usable in a vTiger query")
    return value


class VtigerAdapter:
    """A CrmAdapter for vTiger 6/7/8 (and coreBOS) webservices."""

    def __init__(
        self,
        url: str,
        username: str,
        access_key: str,
        *,
        contact_key_field: str = "cf_atiende_key",
        attention_module: str = "PBXManager",
        ticket_key_field: str = "cf_atiende_key",
        wrapup_mode: WrapupMode = "comment",
        timeout: float = 10.0,
    ) -> None:
        names = (contact_key_field, attention_module, ticket_key_field)
        if not all(_FIELD.fullmatch(name) for name in names):
            raise ValueError("vTiger field and module names are identifiers")
        if wrapup_mode not in ("comment", "description"):
            raise ValueError("wrapup_mode is comment or description")
        base = url.rstrip("/")
        self._endpoint = base if base.endswith("webservice.php") else f"{base}/webservice.php"
        self._username = username
        self._access_key = access_key
        self._key_field = contact_key_field
        self._attention_module = attention_module
        self._ticket_key_field = ticket_key_field
        self._wrapup_mode: WrapupMode = wrapup_mode
        self._timeout = timeout
        self._lock = threading.Lock()
        self._session: str | None = None
        self._user_id: str | None = None
        self.logins = 0  # how many times a session was opened (observability, tests)

    @property
    def name(self) -> str:
        return "vtiger"

    # ------------------------------------------------------------ adapter

    def sync_contact(self, contact: ContactData, known_id: str | None) -> str:
        phones = list(contact.phones)
        fields: dict[str, Any] = {
            "firstname": contact.given_names,
            "lastname": contact.family_names or contact.given_names,
            "phone": phones[0] if phones else "",
            "mobile": phones[1] if len(phones) > 1 else "",
            "email": contact.emails[0] if contact.emails else "",
            self._key_field: contact.external_key,
        }
        return self._upsert("Contacts", self._key_field, contact.external_key, fields, known_id)

    def sync_attention(self, attention: AttentionData, known_id: str | None) -> str:
        duration = int(
            (attention.wait_seconds or 0) + (attention.talk_seconds or 0)
            if attention.ended_at is None
            else (attention.ended_at - attention.arrived_at).total_seconds()
        )
        fields: dict[str, Any] = {
            "direction": "inbound",
            "callstatus": attention.outcome,
            "starttime": attention.arrived_at.strftime("%Y-%m-%d %H:%M:%S"),
            "endtime": ""
            if attention.ended_at is None
            else attention.ended_at.strftime("%Y-%m-%d %H:%M:%S"),
            "totalduration": max(duration, 0),
            "billduration": int(attention.talk_seconds or 0),
            "sourceuuid": attention.external_key,
            "gateway": attention.queue or "",
            "user": attention.agent or "",
            "customernumber": attention.caller_number or "",
            "customer": attention.contact_crm_id or "",
            "customertype": "Contacts" if attention.contact_crm_id else "",
        }
        return self._upsert(
            self._attention_module, "sourceuuid", attention.external_key, fields, known_id
        )

    def sync_wrapup(self, wrapup: WrapupData, known_id: str | None) -> str:
        text = wrapup_note(wrapup)
        if self._wrapup_mode == "description":
            return self._revise(wrapup.call_crm_id, {"description": text})
        fields = {"commentcontent": text, "related_to": wrapup.call_crm_id}
        if known_id:
            try:
                return self._revise(known_id, fields)
            except CrmRejectedError as err:
                if not _is_gone(err):
                    raise
        # No stored id (a job killed after the create): the note is found by
        # the key at its end, among the call's comments.
        call = _safe(wrapup.call_crm_id)
        rows = self._query(
            f"SELECT id, commentcontent FROM ModComments WHERE related_to = '{call}';"
        )
        marker = f"Ref.: {wrapup.external_key}"
        for row in rows:
            if marker in str(row.get("commentcontent") or "") and "id" in row:
                return self._revise(str(row["id"]), fields)
        element = {**fields, "assigned_user_id": self._assigned_user()}
        result = self._call(
            "POST",
            {"operation": "create", "elementType": "ModComments", "element": json.dumps(element)},
        )
        return _record_id(result)

    def sync_ticket(self, ticket: TicketData, known_id: str | None) -> str:
        fields: dict[str, Any] = {
            "ticket_title": f"{ticket.number} · {ticket.topic}"[:_TITLE_LENGTH],
            "ticketstatus": _TICKET_STATUS.get(ticket.status, "Open"),
            "ticketpriorities": "Normal",
            "description": ticket_description(ticket),
            "contact_id": ticket.contact_crm_id or "",
            self._ticket_key_field: ticket.external_key,
        }
        return self._upsert(
            "HelpDesk", self._ticket_key_field, ticket.external_key, fields, known_id
        )

    def erase_contact(self, external_key: str, known_id: str | None) -> None:
        ids = [known_id] if known_id else []
        ids += [
            i for i in self._ids_where("Contacts", self._key_field, external_key) if i not in ids
        ]
        for crm_id in ids:
            try:
                self._call("POST", {"operation": "delete", "id": crm_id})
            except CrmRejectedError as err:
                if not _is_gone(err):
                    raise

    def find_contact_by_phone(self, phone: str) -> list[str]:
        number = _safe(phone)
        rows = self._query(
            f"SELECT id FROM Contacts WHERE phone = '{number}' OR mobile = '{number}';"
        )
        return [str(row["id"]) for row in rows if "id" in row]

    def close(self) -> None:
        self._session = None

    # ----------------------------------------------------------- internals

    def _upsert(
        self, module: str, key_field: str, key: str, fields: dict[str, Any], known_id: str | None
    ) -> str:
        if known_id:
            try:
                return self._revise(known_id, fields)
            except CrmRejectedError as err:
                if not _is_gone(err):
                    raise
        found = self._ids_where(module, key_field, key)
        if found:
            return self._revise(found[0], fields)
        element = {**fields, "assigned_user_id": self._assigned_user()}
        result = self._call(
            "POST",
            {"operation": "create", "elementType": module, "element": json.dumps(element)},
        )
        return _record_id(result)

    def _revise(self, crm_id: str, fields: dict[str, Any]) -> str:
        # revise changes the fields given and leaves the others (update wants all).
        result = self._call(
            "POST", {"operation": "revise", "element": json.dumps({**fields, "id": crm_id})}
        )
        return _record_id(result)

    def _ids_where(self, module: str, field: str, value: str) -> list[str]:
        rows = self._query(f"SELECT id FROM {module} WHERE {field} = '{_safe(value)}';")
        return [str(row["id"]) for row in rows if "id" in row]

    def _query(self, vtql: str) -> list[dict[str, Any]]:
        result = self._call("GET", {"operation": "query", "query": vtql})
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
            raise CrmProtocolError("vTiger query result is not a list of records")
        return result

    def _assigned_user(self) -> str:
        self._ensure_session()
        assert self._user_id is not None
        return self._user_id

    def _ensure_session(self) -> str:
        with self._lock:
            if self._session is None:
                self._login()
            assert self._session is not None
            return self._session

    def _login(self) -> None:
        challenge = self._request("GET", {"operation": "getchallenge", "username": self._username})
        token = challenge.get("token") if isinstance(challenge, dict) else None
        if not isinstance(token, str):
            raise CrmProtocolError("vTiger challenge without a token")
        digest = hashlib.md5((token + self._access_key).encode(), usedforsecurity=False)
        result = self._request(
            "POST",
            {"operation": "login", "username": self._username, "accessKey": digest.hexdigest()},
        )
        if not isinstance(result, dict) or not isinstance(result.get("sessionName"), str):
            raise CrmProtocolError("vTiger login answer without a sessionName")
        self._session = result["sessionName"]
        self._user_id = str(result.get("userId") or "")
        self.logins += 1

    def _call(self, method: str, params: dict[str, str]) -> Any:
        session = self._ensure_session()
        try:
            return self._request(method, {**params, "sessionName": session})
        except CrmRejectedError as err:
            if err.args[0].split(":", 1)[0] != INVALID_SESSION:
                raise
        with self._lock:
            if self._session == session:
                self._login()
            session = self._session or ""
        return self._request(method, {**params, "sessionName": session})

    def _request(self, method: str, params: dict[str, str]) -> Any:
        encoded = urllib.parse.urlencode(params)
        if method == "GET":
            request = urllib.request.Request(f"{self._endpoint}?{encoded}", method="GET")
        else:
            request = urllib.request.Request(
                self._endpoint,
                data=encoded.encode(),
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        operation = params.get("operation", "?")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise CrmUnavailableError(f"vTiger {operation}: HTTP {err.code}") from err
        except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise CrmUnavailableError(f"vTiger {operation}: {reason}") from err
        try:
            answer = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise CrmProtocolError(f"vTiger {operation}: the answer is not JSON") from err
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            raise CrmProtocolError(f"vTiger {operation}: the answer has no success flag")
        if not answer["success"]:
            error = answer.get("error")
            code = str(error.get("code", "UNKNOWN")) if isinstance(error, dict) else "UNKNOWN"
            message = str(error.get("message", "")) if isinstance(error, dict) else ""
            raise CrmRejectedError(f"{code}: vTiger {operation} refused ({message[:200]})")
        return answer.get("result")


def _record_id(result: Any) -> str:
    if not isinstance(result, dict) or not isinstance(result.get("id"), str):
        raise CrmProtocolError("vTiger answer without a record id")
    return str(result["id"])


def _is_gone(err: CrmRejectedError) -> bool:
    return err.args[0].split(":", 1)[0] in _GONE
