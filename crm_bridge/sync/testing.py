"""Local stand-ins for the CRMs, shipped beside the adapters (like a mock transport).

`FakeVtiger` answers in vTiger's webservice format (getchallenge, login with
md5(token + access key), create, revise, update, retrieve, delete, and a VTQL
subset for query) on a real socket; `WebhookReceiver` verifies signatures and
applies events as upserts. Both inject failures: `down()` / `up()` close and
reopen the port (connection refused), `inject("garbage" | "http500" | "error"
| "slow", ...)` makes the next requests fail that way, and `delay` answers
every request late after doing the work, the hardest case for idempotency
(the record exists, the client never heard).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from crm_bridge.sync.webhook import IDEMPOTENCY_HEADER, verify_signature

FAILURES = ("garbage", "http500", "error", "slow")
_QUERY = re.compile(
    r"\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<module>\w+)(?:\s+WHERE\s+(?P<where>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"\s*(\w+)\s*=\s*'([^']*)'\s*")


class _FakeServer:
    """A threaded HTTP server that can go down, come back and misbehave on demand."""

    def __init__(self, *, slow_seconds: float = 2.0) -> None:
        self.lock = threading.RLock()
        self.slow_seconds = slow_seconds
        self.delay = 0.0
        self._failures: deque[str] = deque()
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner._dispatch(self, "GET")

            def do_POST(self) -> None:
                owner._dispatch(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def down(self) -> None:
        """Close the port: clients get connection refused."""
        self.stop()

    def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self.start()

    def inject(self, *failures: str) -> None:
        """The next requests fail in these ways, one each, in order."""
        unknown = set(failures) - set(FAILURES)
        if unknown:
            raise ValueError(f"unknown failures {sorted(unknown)}")
        with self.lock:
            self._failures.extend(failures)

    def __enter__(self) -> _FakeServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            self.requests += 1
            failure = self._failures.popleft() if self._failures else None
        if failure == "garbage":
            self._send(handler, 200, b"<html><body>Fatal error: out of memory</body></html>")
            return
        if failure == "http500":
            self._send(handler, 500, b"Internal Server Error")
            return
        if failure == "error":
            self._send(handler, 200, _error("INTERNAL_SERVER_ERROR", "database error"))
            return
        status, answer = self.handle(handler, method, body)
        delay = self.delay + (self.slow_seconds if failure == "slow" else 0.0)
        if delay:
            time.sleep(delay)
        self._send(handler, status, answer)

    def handle(
        self, handler: BaseHTTPRequestHandler, method: str, body: bytes
    ) -> tuple[int, bytes]:
        raise NotImplementedError

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting


def _ok(result: Any) -> bytes:
    return json.dumps({"success": True, "result": result}).encode()


def _error(code: str, message: str) -> bytes:
    return json.dumps({"success": False, "error": {"code": code, "message": message}}).encode()


class FakeVtiger(_FakeServer):
    """vTiger's webservice.php with Contacts, PBXManager, HelpDesk and
    ModComments records kept in memory."""

    MODULE_PREFIX: ClassVar[dict[str, str]] = {
        "Users": "19",
        "Contacts": "12",
        "PBXManager": "44",
        "Calendar": "9",
        "HelpDesk": "17",
        "ModComments": "31",
    }
    MANDATORY: ClassVar[dict[str, tuple[str, ...]]] = {
        "Contacts": ("lastname", "assigned_user_id"),
        "PBXManager": ("assigned_user_id",),
        "HelpDesk": ("ticket_title", "ticketstatus", "assigned_user_id"),
        "ModComments": ("commentcontent", "related_to", "assigned_user_id"),
    }
    # Reference fields that must name an existing record (uitype 10).
    REFERENCES: ClassVar[dict[str, tuple[str, ...]]] = {
        "ModComments": ("related_to",),
        "HelpDesk": ("contact_id",),
    }

    def __init__(
        self, username: str = "admin", access_key: str = "k3yK3yK3y", **options: Any
    ) -> None:
        super().__init__(**options)
        self.username = username
        self.access_key = access_key
        self.user_id = "19x1"
        self.records: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in self.MODULE_PREFIX}
        self.creates: dict[str, int] = {m: 0 for m in self.MODULE_PREFIX}
        self.logins = 0
        self._tokens: set[str] = set()
        self._sessions: set[str] = set()
        self._next_id = 100
        self.hold_operations: frozenset[str] = frozenset()
        self.hold_seconds = 0.0
        self.held = threading.Event()  # set once a held operation was done
        self._release = threading.Event()

    def expire_sessions(self) -> None:
        with self.lock:
            self._sessions.clear()

    def handle(
        self, handler: BaseHTTPRequestHandler, method: str, body: bytes
    ) -> tuple[int, bytes]:
        path, _, query = handler.path.partition("?")
        if not path.endswith("/webservice.php"):
            return 404, b"not found"
        source = query if method == "GET" else body.decode()
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(source).items()}
        operation = params.get("operation", "")
        with self.lock:
            answer = self._operate(method, operation, params)
        if operation in self.hold_operations:
            # Done, but the answer waits: what a client sees when the CRM stalls.
            self.held.set()
            self._release.wait(self.hold_seconds)
        return 200, answer

    def hold(self, *operations: str, seconds: float = 60.0) -> None:
        """Answer these operations only after `seconds` (or `release()`), after doing them."""
        self.hold_operations = frozenset(operations)
        self.hold_seconds = seconds
        self.held.clear()
        self._release.clear()

    def release(self) -> None:
        self.hold_operations = frozenset()
        self._release.set()

    def _operate(self, method: str, operation: str, params: dict[str, str]) -> bytes:
        if operation == "getchallenge":
            token = secrets.token_hex(8)
            self._tokens.add(token)
            return _ok({"token": token, "serverTime": int(time.time()), "expireTime": 0})
        if operation == "login":
            if method != "POST":
                return _error("INVALID_METHOD", "login is a POST")
            return self._login(params)
        if params.get("sessionName") not in self._sessions:
            return _error("INVALID_SESSIONID", "Session Identifier provided is Invalid")
        if operation == "query" and method == "GET":
            return self._query(params.get("query", ""))
        if operation == "retrieve" and method == "GET":
            record = self._find(params.get("id", ""))
            return _ok(record) if record else _error("RECORD_NOT_FOUND", "Record not found")
        if method != "POST":
            return _error("INVALID_METHOD", f"{operation} needs POST")
        if operation == "create":
            return self._create(params.get("elementType", ""), params.get("element", ""))
        if operation in ("revise", "update"):
            return self._revise(params.get("element", ""), full=operation == "update")
        if operation == "delete":
            return self._delete(params.get("id", ""))
        return _error("UNKNOWN_OPERATION", f"{operation} is not a webservice operation")

    def _login(self, params: dict[str, str]) -> bytes:
        if params.get("username") != self.username:
            return _error("INVALID_USER_CREDENTIALS", "Invalid username or password")
        for token in list(self._tokens):
            expected = hashlib.md5((token + self.access_key).encode(), usedforsecurity=False)
            if params.get("accessKey") == expected.hexdigest():
                self._tokens.discard(token)
                session = secrets.token_hex(12)
                self._sessions.add(session)
                self.logins += 1
                return _ok(
                    {
                        "sessionName": session,
                        "userId": self.user_id,
                        "version": "0.22",
                        "vtigerVersion": "7.5.0",
                    }
                )
        return _error("INVALID_AUTH_TOKEN", "Specified token is invalid or expired")

    def _module_of(self, crm_id: str) -> str | None:
        prefix = crm_id.partition("x")[0]
        return next((m for m, p in self.MODULE_PREFIX.items() if p == prefix), None)

    def _find(self, crm_id: str) -> dict[str, Any] | None:
        module = self._module_of(crm_id)
        return None if module is None else self.records[module].get(crm_id)

    def _create(self, module: str, element: str) -> bytes:
        if module not in self.records or module == "Users":
            return _error(
                "ACCESS_DENIED", f"Permission to perform the operation is denied for {module}"
            )
        try:
            values = json.loads(element)
        except ValueError:
            return _error("INVALID_PARAMETER", "element is not JSON")
        missing = [f for f in self.MANDATORY.get(module, ()) if not values.get(f)]
        if missing:
            return _error("MANDATORY_FIELDS_MISSING", f"{missing[0]} does not have a value")
        for name in self.REFERENCES.get(module, ()):
            if values.get(name) and self._find(str(values[name])) is None:
                return _error("INVALID_PARAMETER", f"{name} does not name a record")
        self._next_id += 1
        crm_id = f"{self.MODULE_PREFIX[module]}x{self._next_id}"
        record = {**values, "id": crm_id}
        self.records[module][crm_id] = record
        self.creates[module] += 1
        return _ok(record)

    def _revise(self, element: str, *, full: bool) -> bytes:
        try:
            values = json.loads(element)
        except ValueError:
            return _error("INVALID_PARAMETER", "element is not JSON")
        record = self._find(str(values.get("id", "")))
        if record is None:
            return _error("ACCESS_DENIED", "Permission to perform the operation is denied for id")
        if full:
            record.clear()
        record.update(values)
        return _ok(record)

    def _delete(self, crm_id: str) -> bytes:
        module = self._module_of(crm_id)
        if module is None or self.records[module].pop(crm_id, None) is None:
            return _error("ACCESS_DENIED", "Permission to perform the operation is denied for id")
        return _ok({"status": "successful"})

    def _query(self, vtql: str) -> bytes:
        match = _QUERY.match(vtql)
        if match is None or match["module"] not in self.records:
            return _error("QUERY_SYNTAX_ERROR", "Syntax Error on line 1")
        conditions: list[tuple[str, str]] = []
        if match["where"]:
            for part in re.split(r"\s+OR\s+", match["where"], flags=re.IGNORECASE):
                condition = _CONDITION.fullmatch(part)
                if condition is None:
                    return _error("QUERY_SYNTAX_ERROR", "Syntax Error on line 1")
                conditions.append((condition[1], condition[2]))
        fields = [f.strip() for f in match["fields"].split(",")]
        rows = []
        for record in self.records[match["module"]].values():
            if conditions and not any(str(record.get(f)) == v for f, v in conditions):
                continue
            rows.append(dict(record) if fields == ["*"] else {f: record.get(f) for f in fields})
        return _ok(rows)

    def records_where(self, module: str, field: str, value: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.records[module].values() if r.get(field) == value]


class WebhookReceiver(_FakeServer):
    """A receiver that checks signatures and applies events as upserts by key."""

    def __init__(self, secret: str, **options: Any) -> None:
        super().__init__(**options)
        self.secret = secret.encode()
        self.contacts: dict[str, dict[str, Any]] = {}
        self.attentions: dict[str, dict[str, Any]] = {}
        self.wrapups: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, str] = {}
        self.deliveries = 0
        self.bad_signatures = 0
        self.idempotency_keys: list[str] = []

    def handle(
        self, handler: BaseHTTPRequestHandler, method: str, body: bytes
    ) -> tuple[int, bytes]:
        if method != "POST":
            return 405, b""
        headers = {k: v for k, v in handler.headers.items()}
        with self.lock:
            if not verify_signature(self.secret, headers, body):
                self.bad_signatures += 1
                return 401, b'{"error":"bad signature"}'
            event = json.loads(body)
            self.deliveries += 1
            self.idempotency_keys.append(headers.get(IDEMPOTENCY_HEADER, ""))
            key = str(event["key"])
            kind = str(event["event"])
            if kind == "contact.upsert":
                self.contacts[key] = event["data"]
            elif kind == "attention.upsert":
                self.attentions[key] = event["data"]
            elif kind == "wrapup.upsert":
                self.wrapups[key] = event["data"]
            elif kind == "ticket.upsert":
                self.tickets[key] = event["data"]
            elif kind == "contact.erase":
                self.contacts.pop(key, None)
            else:
                return 400, b'{"error":"unknown event"}'
            crm_id = self.ids.setdefault(key, f"wh-{len(self.ids) + 1}")
            return 200, json.dumps({"id": crm_id}).encode()


@contextmanager
def running(server: _FakeServer) -> Iterator[_FakeServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
