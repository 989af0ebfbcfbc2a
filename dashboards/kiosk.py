"""Kiosk links: a TV shows the wallboard with no login, until a supervisor revokes the link.

The link carries a long random token (256 bits, URL-safe); the store keeps
only its SHA-256, so a copy of the database opens no board. A link opens one
thing: the wallboard frame, a service point's waiting-room display or a desk's
evaluation tablet (`kind`), and nothing else (figures, agent display names and states,
waits: no caller number or name). Creating, revoking and opening a link are
audited by the routes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from crm_bridge.db import session_factory
from crm_bridge.exceptions import InvalidValueError, NotFoundError
from crm_bridge.models import KioskLink
from crm_bridge.store_access import translated

TOKEN_BYTES = 32
MAX_LABEL = 100
# What a link opens.
WALLBOARD = "pizarra"
ROOM_DISPLAY = "sala"  # a service point's waiting-room display (/sala/<token>)
DESK_TABLET = "evaluacion"  # a desk's farewell evaluation tablet (/evaluacion/<token>)
KINDS = frozenset({WALLBOARD, ROOM_DISPLAY, DESK_TABLET})
# Writing last_used_at at every socket open of a TV that reloads would be noise.
_TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class KioskView:
    id: int
    label: str
    created_at: datetime
    created_by: int | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    kind: str = "pizarra"
    service_point_id: int | None = None
    desk_id: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str) -> bool:
    """Cheap shape check before touching the database (43 URL-safe characters)."""
    return len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)


def _view(row: KioskLink) -> KioskView:
    return KioskView(
        row.id,
        row.label,
        row.created_at,
        row.created_by,
        row.revoked_at,
        row.last_used_at,
        row.kind,
        row.service_point_id,
        row.desk_id,
    )


class KioskLinks:
    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def create(
        self,
        label: str,
        actor_id: int | None,
        *,
        kind: str = WALLBOARD,
        service_point_id: int | None = None,
        desk_id: int | None = None,
    ) -> tuple[KioskView, str]:
        """A new link; the token is returned once and never stored.

        `kind`: the wallboard, a service point's waiting-room display (with
        `service_point_id`) or a desk's evaluation tablet (with `desk_id`)."""
        text = " ".join(label.split())
        if not text or len(text) > MAX_LABEL:
            raise InvalidValueError(f"a kiosk label is 1 to {MAX_LABEL} characters")
        if kind not in KINDS:
            raise InvalidValueError(f"unknown kiosk kind {kind!r}")
        if (kind == ROOM_DISPLAY) != (service_point_id is not None) or (kind == DESK_TABLET) != (
            desk_id is not None
        ):
            raise InvalidValueError("a room display names its point, a tablet its desk")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        row = KioskLink(
            token_hash=token_hash(token),
            label=text,
            created_at=self._clock(),
            created_by=actor_id,
            kind=kind,
            service_point_id=service_point_id,
            desk_id=desk_id,
        )
        with translated("creating a kiosk link"), self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return _view(row), token

    def revoke(self, link_id: int, actor_id: int | None) -> KioskView:
        with translated("revoking a kiosk link"), self._sessions.begin() as session:
            row = session.get(KioskLink, link_id)
            if row is None:
                raise NotFoundError(f"no kiosk link {link_id}")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = self._clock(), actor_id
            return _view(row)

    def all(self) -> list[KioskView]:
        query = select(KioskLink).order_by(KioskLink.created_at.desc(), KioskLink.id.desc())
        with translated("reading kiosk links"), self._sessions() as session:
            return [_view(row) for row in session.scalars(query).all()]

    def resolve(self, token: str, kind: str = WALLBOARD) -> KioskView | None:
        """The active link of `token` for `kind`, or None (unknown, malformed,
        revoked, or a link for something else: a room display's link opens no
        wallboard)."""
        if not looks_like_token(token):
            return None
        wanted = token_hash(token)
        with translated("reading a kiosk link"), self._sessions.begin() as session:
            row = session.scalars(select(KioskLink).where(KioskLink.token_hash == wanted)).first()
            # The lookup is by hash; compare again in constant time all the same.
            if row is None or not hmac.compare_digest(row.token_hash, wanted):
                return None
            if row.revoked_at is not None or row.kind != kind:
                return None
            now = self._clock()
            if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
                row.last_used_at = now
            return _view(row)

    def is_active(self, link_id: int) -> bool:
        with translated("reading a kiosk link"), self._sessions() as session:
            row = session.get(KioskLink, link_id)
            return row is not None and row.revoked_at is None
