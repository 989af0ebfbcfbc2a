"""Authentication and authorisation of the panel: passwords, sessions, CSRF, roles.

Design: a cookie session. The cookie holds only a random session id signed
with the app's secret (itsdangerous), HttpOnly and SameSite=Strict; the
session itself (user, CSRF token, expiry) lives server-side here, so logout
and a role change end it at once, sockets included. State-changing requests
must repeat the session's CSRF token in the `X-CSRF-Token` header (double
submit: the token is also in a readable cookie the page copies). Passwords
are hashed with Argon2id (argon2-cffi). Failed logins are limited per
username and client address.

Roles and what they may do are one table (`ROLE_PERMISSIONS`) so tests can
walk every endpoint for every role.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from agent_api.exceptions import TooManyAttempts
from crm_bridge.organisms import Role

SESSION_COOKIE = "atiende_session"
CSRF_COOKIE = "atiende_csrf"
CSRF_HEADER = "X-CSRF-Token"


class Permission(StrEnum):
    RECEIVE_POPS = "receive_pops"  # own pops over the socket
    WATCH_POPS = "watch_pops"  # every agent's pops (supervision)
    WRAP_UP = "wrap_up"
    OWN_CALLS = "own_calls"
    ALL_CALLS = "all_calls"
    CONTROL_SELF = "control_self"  # pause, queues, click-to-call for oneself
    CONTROL_OTHERS = "control_others"
    READ_PERSONS = "read_persons"
    WRITE_PERSONS = "write_persons"
    READ_CATALOG = "read_catalog"
    MANAGE_CATALOG = "manage_catalog"
    # The knowledge base read during a call or at the desk (requisitos, pasos...).
    READ_KNOWLEDGE = "read_knowledge"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"
    # Tickets have no permission here: ticket_access.may decides per action and ticket.
    OWN_SLA_ALERTS = "own_sla_alerts"  # alerts of the referent's tickets and units
    ALL_SLA_ALERTS = "all_sla_alerts"
    MANAGE_CRM_SYNC = "manage_crm_sync"  # failed CRM jobs and their retry
    PERSON_RIGHTS = "person_rights"  # Ley 18.331: export, rectification, erasure


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.EJECUTIVO: frozenset(
        {
            _P.RECEIVE_POPS,
            _P.WRAP_UP,
            _P.OWN_CALLS,
            _P.CONTROL_SELF,
            _P.READ_PERSONS,
            _P.WRITE_PERSONS,
            _P.READ_CATALOG,
            _P.READ_KNOWLEDGE,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            _P.WATCH_POPS,
            _P.OWN_CALLS,
            _P.ALL_CALLS,
            _P.CONTROL_SELF,
            _P.CONTROL_OTHERS,
            _P.READ_PERSONS,
            _P.WRITE_PERSONS,
            _P.READ_CATALOG,
            _P.READ_KNOWLEDGE,
            _P.MANAGE_CATALOG,
            _P.ALL_SLA_ALERTS,
        }
    ),
    # Performance and policy: figures, not people's records.
    Role.GERENTE: frozenset({_P.OWN_CALLS, _P.ALL_CALLS, _P.READ_CATALOG}),
    # Answers derived requests: needs the person, not the live calls.
    Role.REFERENTE: frozenset({_P.READ_PERSONS, _P.READ_CATALOG, _P.OWN_SLA_ALERTS}),
    # Rights requests hand over or destroy a whole record: the data custodian's
    # job, audited, and not the gerente's (figures, not people's records).
    Role.ADMIN: frozenset(
        {
            _P.MANAGE_USERS,
            _P.READ_AUDIT,
            _P.READ_CATALOG,
            _P.MANAGE_CATALOG,
            _P.ALL_SLA_ALERTS,
            _P.MANAGE_CRM_SYNC,
            _P.PERSON_RIGHTS,
        }
    ),
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request or socket."""

    user_id: int
    username: str
    display_name: str
    role: Role
    interfaces: tuple[str, ...]
    session_id: str
    csrf_token: str

    def can(self, permission: Permission) -> bool:
        return allowed(self.role, permission)


# ------------------------------------------------------------------ usernames

MAX_USERNAME_LENGTH = 64


def normalize_username(username: str) -> str:
    """The form usernames are compared and stored in: NFKC, case-folded, trimmed.

    "ADMIN", "admin" and "ａｄｍｉｎ" (fullwidth) are one name.
    """
    return unicodedata.normalize("NFKC", username).casefold().strip()


def username_problem(username: str) -> str | None:
    """Why a new username is refused (English, for logs), or None.

    Invisible and control characters (U+200B, bidi overrides...) would make
    two names look the same on screen.
    """
    name = normalize_username(username)
    if not name or len(name) > MAX_USERNAME_LENGTH:
        return "empty or too long"
    for char in name:
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES or char.isspace():
            return f"has the invisible or control character U+{ord(char):04X}"
    return None


# Control, format (zero-width, bidi), surrogate, private use, unassigned,
# and the separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


# ------------------------------------------------------------------ passwords


class Passwords:
    """Argon2id hashing; verifying an unknown user costs as much as a known one."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


MIN_PASSWORD_LENGTH = 10


# ------------------------------------------------------------------- sessions


@dataclass(slots=True)
class Session:
    session_id: str
    user_id: int
    csrf_token: str
    created_at: float
    expires_at: float


class SessionStore:
    """Server-side sessions; the cookie carries only the signed id."""

    def __init__(
        self,
        secret_key: str,
        *,
        lifetime_seconds: float = 10 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret_key) < 32:
            raise ValueError("the session secret must be at least 32 characters")
        self._signer = URLSafeTimedSerializer(secret_key, salt="atiende-session")
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    @property
    def lifetime_seconds(self) -> float:
        return self._lifetime

    def create(self, user_id: int) -> tuple[Session, str]:
        """A new session and the cookie value that names it."""
        now = self._clock()
        session = Session(
            session_id=secrets.token_urlsafe(32),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self._lifetime,
        )
        self._sessions[session.session_id] = session
        return session, self._signer.dumps(session.session_id)

    def resolve(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            session_id = self._signer.loads(cookie, max_age=int(self._lifetime))
        except BadSignature:
            return None
        session = self._sessions.get(str(session_id))
        if session is None:
            return None
        if session.expires_at <= self._clock():
            self._sessions.pop(session.session_id, None)
            return None
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def end_user(self, user_id: int) -> list[str]:
        """End every session of a user (role change, deactivation); their ids."""
        ended = [s.session_id for s in self._sessions.values() if s.user_id == user_id]
        for session_id in ended:
            self._sessions.pop(session_id, None)
        return ended


def csrf_matches(session: Session, header: str | None, cookie: str | None) -> bool:
    """Double submit: the header must equal both the cookie and the session's token."""
    if not header or not cookie:
        return False
    return hmac.compare_digest(header, cookie) and hmac.compare_digest(header, session.csrf_token)


# ---------------------------------------------------------------- rate limits


@dataclass(slots=True)
class _Failures:
    times: deque[float] = field(default_factory=deque)


class LoginRateLimiter:
    """Failed logins in the last `window_seconds`: at most `max_failures` per
    (username, address) and `max_failures_per_address` per address, whoever
    the usernames are (password spraying).

    Never per username alone: that would let anyone lock an agent out. The
    address is the client's as the app sees it; behind a reverse proxy, list
    the proxy in ATIENDE_API__TRUSTED_PROXIES so that it is the forwarded one.

    `begin` checks and counts the attempt as a failure in one step under a
    lock (login runs in the thread pool: a check then a later count let
    parallel guesses all pass the check); `succeeded` takes it back. In
    memory: one process serves the panel.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        max_failures_per_address: int = 20,
        window_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._max_address = max_failures_per_address
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._by_address: dict[str, _Failures] = {}

    def begin(self, username: str, address: str) -> None:
        """Raise TooManyAttempts if locked out, else count this attempt as failed
        until `succeeded` says otherwise."""
        with self._lock:
            now = self._clock()
            pair = self._failures.setdefault(self._key(username, address), _Failures())
            spread = self._by_address.setdefault(address, _Failures())
            self._refuse_if_over(pair, self._max, now)
            self._refuse_if_over(spread, self._max_address, now)
            pair.times.append(now)
            spread.times.append(now)
            if len(self._failures) + len(self._by_address) > 100_000:
                self._prune(now)

    def check(self, username: str, address: str) -> None:
        """Raise TooManyAttempts when this pair or this address is locked out."""
        with self._lock:
            now = self._clock()
            pair = self._failures.get(self._key(username, address))
            if pair is not None:
                self._refuse_if_over(pair, self._max, now)
            spread = self._by_address.get(address)
            if spread is not None:
                self._refuse_if_over(spread, self._max_address, now)

    def failed(self, username: str, address: str) -> None:
        """Count a failure (for callers that did not `begin`)."""
        with self._lock:
            now = self._clock()
            self._failures.setdefault(self._key(username, address), _Failures()).times.append(now)
            self._by_address.setdefault(address, _Failures()).times.append(now)

    def succeeded(self, username: str, address: str) -> None:
        """The pair's count is cleared; the address keeps its other failures."""
        with self._lock:
            self._failures.pop(self._key(username, address), None)
            spread = self._by_address.get(address)
            if spread is not None and spread.times:
                spread.times.pop()

    def _refuse_if_over(self, entry: _Failures, limit: int, now: float) -> None:
        self._expire(entry, now)
        if len(entry.times) >= limit:
            raise TooManyAttempts(retry_after=max(1, int(entry.times[0] + self._window - now)))

    def _expire(self, entry: _Failures, now: float) -> None:
        while entry.times and entry.times[0] <= now - self._window:
            entry.times.popleft()

    def _prune(self, now: float) -> None:
        for pair in [k for k, e in self._failures.items() if not self._live(e, now)]:
            del self._failures[pair]
        for address in [k for k, e in self._by_address.items() if not self._live(e, now)]:
            del self._by_address[address]

    def _live(self, entry: _Failures, now: float) -> bool:
        self._expire(entry, now)
        return bool(entry.times)

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return (normalize_username(username), address)


def origin_allowed(origin: str | None, allowed_origins: Iterable[str]) -> bool:
    """Browsers always send Origin on a WebSocket handshake; no Origin, no socket."""
    return origin is not None and origin in set(allowed_origins)
